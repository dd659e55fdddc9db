/* kvlab: one binary, subcommands. main decides how to die; the library never exits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "info", cmd_info, "print a model's architecture, shapes, tokenizer and chat format" },
	{ "tokenize", cmd_tokenize, "print the token ids of a text" },
	{ "generate", cmd_generate, "greedy generation from a prompt under a KV policy" },
	{ "calibrate", cmd_calibrate, "pyramidinfer: the decay ratio for a target KV fraction; tsp: the TSP layer for this model" },
	{ "run", cmd_run, "evaluate a method on a task; every sample stored in SQLite (resumable)" },
	{ "sweep", cmd_sweep, "one run per point of a grid of method parameters (local, --jobs N, or --slurm)" },
	{ "merge", cmd_merge, "join results databases (Slurm shard databases) into one, refusing clashes" },
	{ "report", cmd_report, "print the runs in a results database with their average scores" },
	{ "plot", cmd_plot, "draw a figure from a results database with gnuplot (needle, sweep, bench, tradeoff)" },
	{ "ruler", cmd_ruler, "generate RULER task data (official generator, any length and tokenizer)" },
	{ "export", cmd_export, "write stored predictions in an official layout (ruler, longbench, kvpress)" },
	{ "bench", cmd_bench, "prefill / end-to-end latency of methods across context lengths (rows in SQLite)" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: kvlab <command> [--flags]   (kvlab <command> --help for its flags)\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
	/* OpenMP threads that spin while waiting stall every parallel region as soon as
	 * another process holds a core (measured here: 20x slower decode), so kvlab waits
	 * passively. Benchmarks assume an otherwise idle machine, where sleeping and waking
	 * the team at each of decode's ~300 parallel regions per token costs more than the
	 * work: kvlab bench spins briefly instead (GOMP_SPINCOUNT 10000, about 10 us; FastKV
	 * decode at 2K, 2 threads: 25 -> 11.5 ms per token). The runtime reads these before
	 * main, so set one and start again; a user's own setting of either is left alone. */
	if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT")) {
		if (argc > 1 && strcmp(argv[1], "bench") == 0)
			setenv("GOMP_SPINCOUNT", "10000", 1);
		else
			setenv("OMP_WAIT_POLICY", "passive", 1);
		execv("/proc/self/exe", argv); /* on failure, go on with the default policy */
	}
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 2, argv + 2);
	fprintf(stderr, "kvlab: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
