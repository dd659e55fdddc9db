/* Benchmark rows in the results database: one row per method x context length x
 * phase of one `kvlab bench` invocation, each carrying its provenance (build commit,
 * backend, threads, CPU, model and its hash or synthetic shape, method parameters,
 * warmups, runs) as llama-bench's SQL rows do; the speedup table and plot are pure
 * functions of those rows. Times in milliseconds. */
#ifndef KVLAB_RESULTS_BENCH_STORE_H
#define KVLAB_RESULTS_BENCH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct store;

/* Median (mean of the two middle values for even n), min, max, mean and sample
 * standard deviation (ddof 1; 0 for n = 1) of a set of timings. */
struct bench_stat {
	double median, min, max, mean, stddev;
};
void bench_stats(const double *x, int n, struct bench_stat *out);

struct bench_row {
	/* the invocation: identical in every row of one kvlab bench call */
	char invocation[40];       /* rows of one invocation are compared with each other */
	char bench[16];            /* "prefill" or "e2e" */
	char created_utc[32];
	char build_commit[48];
	char engine_version[32];
	char backend[16];
	char host_cpu[128];
	int threads;
	char model[512];           /* file path, or "synthetic:NAME" / "synthetic:config.json path" */
	char model_sha256[65];     /* "" for synthetic models */
	char model_shape[384];     /* JSON: layers, heads, dims, vocab, rope */
	char weights[96];          /* "gguf Q4_1", "random F32, shared-layer weights", ... */
	char input[640];           /* "token id 1 repeated" or the prompt file and its sha256 */
	int genlen, warmups, runs;
	char config_json[2048];    /* the resolved bench flags */
	/* the measurement */
	char label[128];           /* the --methods entry */
	char method[32];
	char params_json[1024];    /* the method's resolved parameters */
	int n_ctx;
	char phase[16];            /* "prefill" (time to first token, recon included), "decode" (per token), "e2e",
				    * "recon" (of prefill: a method's second forward, KVzip's reconstruction) */
	struct bench_stat st;      /* over the runs, ms */
	const double *samples;     /* (runs,) ms, borrowed, stored as JSON; NULL in rows read back */
	long long kv_bytes;        /* K+V bytes held after prefill */
};

/* Creates the bench table if absent (every function below calls it). */
int bench_store_schema(struct store *s, char *err, size_t errlen);

/* Writes rows[0..n) in one transaction (all or nothing). A row already present
 * (same invocation, label, n_ctx, phase) is an error. */
int bench_store_put(struct store *s, const struct bench_row *rows, int n, char *err, size_t errlen);

/* Reads the rows of one invocation (NULL: every invocation), oldest invocation first,
 * in insertion order within one; *rows malloc'd (caller frees), *n its length. */
int bench_store_load(struct store *s, const char *invocation, struct bench_row **rows, int *n, char *err, size_t errlen);

/* Id of the newest invocation into inv; KV_EINVAL naming the database when it has none. */
int bench_store_latest(struct store *s, char inv[40], char *err, size_t errlen);

/* Speedup of rows[i] over the fullkv row of the same invocation, context length and
 * phase (the first entry whose method is fullkv): its median over rows[i]'s median.
 * Returns false when there is no such row. */
bool bench_speedup(const struct bench_row *rows, int n, int i, double *out);

/* Prints one invocation's rows (all of the same invocation, as bench_store_load
 * gives them): provenance, then per method and context length the medians [min, max],
 * speedups over fullkv and KV bytes, then method x context length speedup tables. */
void bench_table_print(FILE *out, const struct bench_row *rows, int n);

/* kvlab report --table bench: appends, per invocation in the database, a table of the
 * medians [min, max] and speedups over fullkv per method and context length (provenance in
 * its note) and a method x context length speedup table per phase (prefill; decode for e2e). */
struct table_list;
int bench_report_tables(struct store *s, struct table_list *l, char *err, size_t errlen);

/* kvlab plot bench: draws latency and speedup over fullkv against context length for
 * one invocation (NULL: the newest) into out_png with gnuplot (written atomically);
 * prefill panels, and decode panels for e2e invocations. */
int bench_plot(struct store *s, const char *invocation, const char *out_png, char *err, size_t errlen);

#endif
