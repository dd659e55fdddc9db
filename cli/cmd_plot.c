/* kvlab plot KIND: figures drawn by gnuplot from the results database (results/plot.h).
 * One table row per kind; each kind parses its own flags. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"      // cli_parse
#include "cli/commands.h"
#include "eval/export_params.h" // export_params_defaults: titles name the method's non-default parameters
#include "results/plot.h"  // plot_needle, plot_sweep, plot_selection
#include "results/report.h" // struct sweep_query
#include "results/bench_store.h" // bench_plot
#include "results/store.h"       // store_open

static int fail(const char *msg)
{
	fprintf(stderr, "kvlab: %s\n", msg);
	return 1;
}

// ----------------------------------------------------------------------------
// plot needle

static const struct cli_flag needle_flags[] = {
	{ "--db", CLI_STR, offsetof(struct plot_needle_opts, db_path), 0, 0, "PATH", "SQLite results database", false },
	{ "--method", CLI_STR, offsetof(struct plot_needle_opts, method), 0, 0, "NAME", "only runs of this method", false },
	{ "--run", CLI_STR, offsetof(struct plot_needle_opts, run_prefix), 0, 0, "ID[,ID...]",
	  "only the run whose id starts so; several: one panel each (small multiples, one colour bar)", false },
	{ "--out", CLI_STR, offsetof(struct plot_needle_opts, out), 0, 0, "F.png|F.svg|F.pdf", "picture to write (replaced atomically)", true },
	{ 0 },
};
static const struct cli_cmd needle_cmd = {
	"plot needle",
	"Draws the needle-in-a-haystack heatmap of one needle run, as FastKV's eval/visualize.py does:\n"
	"mean `overlap` per (depth, context length), depth 0 at the top, lengths labelled (L+200)//1000 \"k\"\n"
	"(token counts when those labels would collide or read 0k), colours #F0496E (0) -> #EBB839 (0.5) ->\n"
	"#0CD79F (1), each cell printing its value; the title names the model, the method with its non-default\n"
	"parameters and the sample count over \"Average Score = X\" (mean over all samples of the run). The run must\n"
	"be the only needle run matching --method/--run; otherwise the matching runs are listed. --run A,B,C draws\n"
	"each run (each prefix matching one) as a panel of small multiples with one colour bar fixed at 0..1 (at\n"
	"most 12). Needs gnuplot.",
	needle_flags,
};

static int plot_needle_main(int argc, char **argv)
{
	struct plot_needle_opts o = { .db_path = "results/kvlab.db", .labels = { export_params_defaults() } };
	struct plot_needle_summary s[PLOT_NEEDLE_MAX_RUNS];
	char err[4096];
	int n = 0, rc = cli_parse(&needle_cmd, argc, argv, &o, err, sizeof(err));
	if (rc)
		return rc == 1 ? 0 : fail(err);
	if (plot_needle(&o, s, &n, err, sizeof(err)))
		return fail(err);
	for (int k = 0; k < n; k++) {
		printf("Average Score: %.3f", s[k].average);
		printf(n > 1 ? " (%s, run %.12s)\n" : "\n", s[k].label, s[k].run_id);
	}
	for (int k = 0; k < n; k++)
		fprintf(stderr, "%s%s%s%s run %.12s, %d samples, %d context lengths x %d depths\n", k ? "  " : "wrote ",
			k ? "" : o.out, k ? "" : ": ", s[k].method, s[k].run_id, s[k].n_samples, s[k].n_lengths, s[k].n_depths);
	return 0;
}

// ----------------------------------------------------------------------------
// plot bench

struct plot_bench_cfg {
	const char *db, *invocation, *out;
};

static const struct cli_flag bench_flags[] = {
	{ "--db", CLI_STR, offsetof(struct plot_bench_cfg, db), 0, 0, "PATH", "SQLite results database", false },
	{ "--invocation", CLI_STR, offsetof(struct plot_bench_cfg, invocation), 0, 0, "ID",
	  "the kvlab bench invocation to draw (default: the newest)", false },
	{ "--out", CLI_STR, offsetof(struct plot_bench_cfg, out), 0, 0, "F.png", "picture to write (replaced atomically)", true },
	{ 0 },
};
static const struct cli_cmd bench_cmd = {
	"plot bench",
	"Draws one kvlab bench invocation against context length: prefill latency (median, min..max bars) and\n"
	"prefill speedup over fullkv (median / median), plus decode per-token panels for e2e invocations. Needs gnuplot.",
	bench_flags,
};

static int plot_bench_main(int argc, char **argv)
{
	struct plot_bench_cfg cfg = { .db = "results/kvlab.db" };
	struct store *s = NULL;
	char err[1024];
	int rc = cli_parse(&bench_cmd, argc, argv, &cfg, err, sizeof(err));
	if (rc)
		return rc == 1 ? 0 : fail(err);
	if (store_open_read(cfg.db, &s, err, sizeof(err)) || bench_plot(s, cfg.invocation, cfg.out, err, sizeof(err))) {
		store_close(s);
		return fail(err);
	}
	store_close(s);
	fprintf(stderr, "wrote %s\n", cfg.out);
	return 0;
}

// ----------------------------------------------------------------------------
// plot tradeoff

static const struct cli_flag tradeoff_flags[] = {
	{ "--db", CLI_STR, offsetof(struct plot_tradeoff_opts, db_path), 0, 0, "PATH", "SQLite results database", false },
	{ "--task", CLI_STR, offsetof(struct plot_tradeoff_opts, task), 0, 0, "PREFIX",
	  "the task (a name, or a prefix that selects one)", true },
	{ "--model", CLI_STR, offsetof(struct plot_tradeoff_opts, model), 0, 0, "PATH_PART",
	  "only runs whose model path contains this (needed when the task has runs of several models)", false },
	{ "--metric", CLI_STR, offsetof(struct plot_tradeoff_opts, metric), 0, 0, "NAME",
	  "score averaged per run (default: overlap, else score, else the most frequent)", false },
	{ "--x", CLI_STR, offsetof(struct plot_tradeoff_opts, x), 0, 0, "kv|speedup|both",
	  "against KV kept, prefill speedup, or both side by side", false },
	{ "--out", CLI_STR, offsetof(struct plot_tradeoff_opts, out), 0, 0, "F.png|F.svg|F.pdf",
	  "picture to write (replaced atomically)", true },
	{ 0 },
};
static const struct cli_cmd tradeoff_cmd = {
	"plot tradeoff",
	"Draws the score / cost trade-off of every evaluation run of one task and model: the run's mean score\n"
	"against the fraction of KV cache it kept (its mean kv_bytes over fullkv's) and against its prefill speedup\n"
	"(fullkv's mean prefill_s over its own), both over the samples it shares with the fullkv run of the same\n"
	"backend and threads. One line per method, points labelled with their non-default parameters, the Pareto\n"
	"front over all runs dashed with ringed points. Runs that shared one prefill (kvlab run --method a,b) all\n"
	"carry that prefill's time, so their speedups say nothing. Prints the points as a table. Needs gnuplot.",
	tradeoff_flags,
};

static int plot_tradeoff_main(int argc, char **argv)
{
	struct plot_tradeoff_opts o = { .db_path = "results/kvlab.db", .x = "both", .labels = { export_params_defaults() } };
	struct plot_tradeoff_summary s;
	char err[4096];
	int rc = cli_parse(&tradeoff_cmd, argc, argv, &o, err, sizeof(err));
	if (rc)
		return rc == 1 ? 0 : fail(err);
	if (plot_tradeoff(&o, &s, err, sizeof(err)))
		return fail(err);
	printf("| method | run | samples | mean %s | KV kept | prefill speedup | Pareto (kv, speedup) |\n", s.metric);
	printf("|---|---|---|---|---|---|---|\n");
	for (int i = 0; i < s.n; i++) {
		const struct plot_tradeoff_point *p = &s.p[i];
		printf("| %s | %.12s | %d | %.4f | %.4f | %.3f | %s, %s |\n", p->label, p->run_id, p->n, p->score, p->kv_kept,
		       p->speedup, p->front_kv ? "yes" : "no", p->front_speedup ? "yes" : "no");
	}
	if (s.skipped[0])
		fprintf(stderr, "left out:%s\n", s.skipped);
	fprintf(stderr, "wrote %s: %s, %s, %d runs\n", o.out, s.model, s.task, s.n);
	plot_tradeoff_summary_free(&s);
	return 0;
}

// ----------------------------------------------------------------------------
// plot selection

static const struct cli_flag selection_flags[] = {
	{ "--dump", CLI_STR, offsetof(struct plot_selection_opts, dump), 0, 0, "F",
	  "JSON lines written by kvlab run (or generate) --dump_selection", true },
	{ "--sample", CLI_STR, offsetof(struct plot_selection_opts, sample), 0, 0, "ID|N",
	  "the sample: its id (len_1000_depth_50), or the N-th block from 0 (default: the first)", false },
	{ "--method", CLI_STR, offsetof(struct plot_selection_opts, method), 0, 0, "NAME",
	  "only blocks of this method (a run of several methods dumps one block per method)", false },
	{ "--out", CLI_STR, offsetof(struct plot_selection_opts, out), 0, 0, "F.png|F.svg|F.pdf",
	  "picture to write (replaced atomically; default: the dump's name with .png)", false },
	{ 0 },
};
static const struct cli_cmd selection_cmd = {
	"plot selection",
	"Draws what a method kept for one prompt, from a --dump_selection file: x = token position, y = layer,\n"
	"one panel per cache head (per query head for SnapKV and H2O), a box per run of consecutive kept positions;\n"
	"tokens propagated to the next layer (TSP, PyramidInfer) or re-prefilled (GemFilter) in orange above each\n"
	"layer; the needle's token span shaded when the dump has it (kvlab run --task needle). The title names\n"
	"the model, the method with its non-default parameters and the sample. Needs gnuplot.",
	selection_flags,
};

static int plot_selection_main(int argc, char **argv)
{
	struct plot_selection_opts o = { .labels = { export_params_defaults() } };
	struct plot_selection_summary s;
	char err[2048], out[4096];
	int rc = cli_parse(&selection_cmd, argc, argv, &o, err, sizeof(err));
	if (rc)
		return rc == 1 ? 0 : fail(err);
	if (!o.out) { /* sel.jsonl -> sel.png */
		const char *slash = strrchr(o.dump, '/'), *dot = strrchr(o.dump, '.');
		size_t n = dot && (!slash || dot > slash + 1) ? (size_t)(dot - o.dump) : strlen(o.dump);
		snprintf(out, sizeof(out), "%.*s.png", (int)n, o.dump);
		o.out = out;
	}
	if (plot_selection(&o, &s, err, sizeof(err)))
		return fail(err);
	fprintf(stderr, "wrote %s: %s%s%s, %d layers x %d cache heads, %ld KV rows in %d boxes", o.out, s.label,
		s.sample[0] ? ", sample " : "", s.sample, s.n_layer, s.heads, s.kv_rows, s.n_ranges);
	if (s.needle)
		fprintf(stderr, ", needle tokens [%d, %d)", s.needle_start, s.needle_end);
	fprintf(stderr, "%s\n", s.propagated ? ", propagated tokens marked" : "");
	return 0;
}

// ----------------------------------------------------------------------------
// dispatch

struct plot_kind {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

// ----------------------------------------------------------------------------
// plot sweep

struct plot_sweep_cfg {
	const char *db, *out, *fixed;
	struct sweep_query q;
};

static const struct cli_flag sweep_flags[] = {
	{ "--db", CLI_STR, offsetof(struct plot_sweep_cfg, db), 0, 0, "PATH", "SQLite results database", false },
	{ "--sweep", CLI_STR, offsetof(struct plot_sweep_cfg, q.sweep), 0, 0, "ID", "the sweep (id prefix; default: the only one)", false },
	{ "--x", CLI_STR, offsetof(struct plot_sweep_cfg, q.x), 0, 0, "AXIS", "axis across (default: the grid's first)", false },
	{ "--y", CLI_STR, offsetof(struct plot_sweep_cfg, q.y), 0, 0, "AXIS", "axis up (default: the grid's second)", false },
	{ "--metric", CLI_STR, offsetof(struct plot_sweep_cfg, q.metric), 0, 0, "NAME", "score averaged per cell (default: overlap or score)", false },
	{ "--fixed", CLI_STR, offsetof(struct plot_sweep_cfg, fixed), 0, 0, "JSON",
	  "the other swept values of the cells drawn, as kvlab report --sweep prints them (default: the first)", false },
	{ "--out", CLI_STR, offsetof(struct plot_sweep_cfg, out), 0, 0, "F.png|F.svg", "picture to write (replaced atomically)", true },
	{ 0 },
};
static const struct cli_cmd sweep_cmd = {
	"plot sweep",
	"Draws a sweep's grid as a score heatmap: mean score per (--x, --y) cell, the value printed in each cell;\n"
	"the title names the model, task, method and other swept values, the metric and the samples per cell.\n"
	"Needs gnuplot.",
	sweep_flags,
};

static int plot_sweep_main(int argc, char **argv)
{
	struct plot_sweep_cfg cfg = { .db = "results/kvlab.db" };
	char err[4096];
	int rc = cli_parse(&sweep_cmd, argc, argv, &cfg, err, sizeof(err));
	if (rc)
		return rc == 1 ? 0 : fail(err);
	const struct plot_labeler labels = { export_params_defaults() };
	if (plot_sweep(cfg.db, &cfg.q, cfg.fixed, &labels, cfg.out, err, sizeof(err)))
		return fail(err);
	fprintf(stderr, "wrote %s\n", cfg.out);
	return 0;
}

static const struct plot_kind kinds[] = {
	{ "sweep", plot_sweep_main, "score heatmap of a kvlab sweep's grid on two of its axes" },
	{ "needle", plot_needle_main, "needle-in-a-haystack heatmap (depth x context length) of one run, or several side by side" },
	{ "bench", plot_bench_main, "latency and speedup over fullkv against context length of one kvlab bench run" },
	{ "tradeoff", plot_tradeoff_main, "score against KV kept and prefill speedup, one line per method, Pareto front" },
	{ "selection", plot_selection_main, "kept positions per layer and cache head of one prompt (--dump_selection), needle shaded" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: kvlab plot <kind> [--flags]   (kvlab plot <kind> --help for its flags)\n\nkinds:\n");
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		fprintf(f, "  %-10s %s\n", kinds[i].name, kinds[i].summary);
}

int cmd_plot(int argc, char **argv)
{
	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(argv[0], kinds[i].name) == 0)
			return kinds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "kvlab plot: unknown kind '%s'\n", argv[0]);
	usage(stderr);
	return 2;
}
