/* Table-driven command-line flags: every subcommand declares its flags once, and
 * parsing, range checks, defaults and --help all come from that table. */
#ifndef KVLAB_CLI_CLI_H
#define KVLAB_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum cli_kind {
	CLI_STR,    /* char * (borrowed from argv) */
	CLI_INT,    /* int, range-checked */
	CLI_FLOAT,  /* double, range-checked */
	CLI_SWITCH  /* bool, takes no value */
};

struct cli_flag {
	const char *name;    /* "--max_new_tokens" */
	enum cli_kind kind;
	size_t offset;       /* offsetof(struct cfg, field) */
	double min, max;     /* inclusive range for CLI_INT / CLI_FLOAT */
	const char *metavar; /* "N", "PATH", ... */
	const char *help;    /* one line; the default is appended from the struct */
	bool required;
};

struct cli_cmd {
	const char *name;
	const char *summary;
	const struct cli_flag *flags;   /* terminated by { 0 } */
};

/* Parses argv[0..argc) into cfg (pre-filled with defaults). Returns 0, 1 when --help
 * was asked (help printed to stdout), or KV_EINVAL with a message naming the flag. */
int cli_parse(const struct cli_cmd *cmd, int argc, char **argv, void *cfg, char *err, size_t errlen);

/* Prints the usage of cmd, with defaults read from cfg. */
void cli_help(FILE *f, const struct cli_cmd *cmd, const void *cfg);

/* Prints a "| Parameter | Value |" table of the resolved flags to f. */
void cli_print_config(FILE *f, const struct cli_cmd *cmd, const void *cfg);

#endif
