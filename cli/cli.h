/* Table-driven command-line flags: every subcommand declares its flags once, and
 * parsing, range checks, defaults and --help all come from that table. A command with
 * a CLI_METHOD flag also takes the method flags: every parameter of every registered
 * method (methods/registry.h), generated from the methods' parameter tables. */
#ifndef KVLAB_CLI_CLI_H
#define KVLAB_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "methods/params.h" // struct kv_args

enum cli_kind {
	CLI_STR,    /* char * (borrowed from argv) */
	CLI_INT,    /* int, range-checked */
	CLI_FLOAT,  /* double, range-checked */
	CLI_SWITCH, /* bool, takes no value */
	CLI_METHOD  /* struct cli_methods: the --method list; the command then takes the method flags */
};

/* What a CLI_METHOD flag fills: the method list and every method flag given (the
 * parameters of the registered methods, --KEY VALUE; a flag given twice keeps the last).
 * Whether the listed methods take them is kv_method_list_parse's check. */
struct cli_methods {
	const char *list;     /* --method as given (borrowed from argv), NULL when not given */
	struct kv_args args;  /* values borrowed from argv; released by cli_methods_free */
};

/* Releases m's flag list. */
void cli_methods_free(struct cli_methods *m);

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
 * was asked (help printed to stdout), or KV_EINVAL with a message naming the flag.
 * With a CLI_METHOD flag, the caller releases its struct cli_methods with
 * cli_methods_free after a 0 return. */
int cli_parse(const struct cli_cmd *cmd, int argc, char **argv, void *cfg, char *err, size_t errlen);

/* Prints the usage of cmd, with defaults read from cfg. */
void cli_help(FILE *f, const struct cli_cmd *cmd, const void *cfg);

/* Prints a "| Parameter | Value |" table of the resolved flags to f. */
void cli_print_config(FILE *f, const struct cli_cmd *cmd, const void *cfg);

/* The bundled model, found from any folder (base/paths.h): a static string. */
const char *cli_default_model(void);

#endif
