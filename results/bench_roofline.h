/* The roofline beside the benchmark rows (results/bench_store.h): per row (invocation,
 * label, n_ctx, phase) the work its phase must do (bytes read per decode step, or
 * prefill FLOPs), the machine calibration the bound was taken against (read bandwidth,
 * GEMM peak, measured by the same invocation), the bound in ms and the achieved
 * fraction bound / median. A table of its own, so databases written before it keep
 * their bench_latency rows as they are. */
#ifndef KVLAB_RESULTS_BENCH_ROOFLINE_H
#define KVLAB_RESULTS_BENCH_ROOFLINE_H

#include <stddef.h>
#include <stdio.h>

struct store;
struct table_list;

struct bench_roof {
	char invocation[40];  /* the bench_latency row's key: invocation, label, n_ctx, phase */
	char label[128];
	int n_ctx;
	char phase[16];
	char kv_dtype[8];     /* the KV cache's element type (f32, f16, bf16) */
	double bytes;         /* decode: bytes one step reads (weights as stored + mean K/V attended); e2e: all steps; else 0 */
	double flops;         /* prefill and e2e: prefill FLOPs; else 0 */
	double read_gbs;      /* calibration: read bandwidth, 1e9 B/s */
	double gemm_gflops;   /* calibration: fp32 GEMM peak, 1e9 FLOP/s */
	double bound_ms;      /* bytes / bandwidth + flops / peak */
	double median_ms;     /* the row's measured median */
	double achieved;      /* bound_ms / median_ms (1 = at the roofline) */
};

/* Creates the bench_roofline table if absent. */
int bench_roofline_schema(struct store *s, char *err, size_t errlen);
/* Writes rows[0..n) in one transaction (all or nothing). */
int bench_roofline_put(struct store *s, const struct bench_roof *rows, int n, char *err, size_t errlen);
/* Reads the rows of one invocation in insertion order; *rows malloc'd (caller frees). */
int bench_roofline_load(struct store *s, const char *invocation, struct bench_roof **rows, int *n, char *err, size_t errlen);
/* Adds the roofline table of one invocation to l (`kvlab report --table bench`), titled with
 * its calibration, with bound_x_fullkv (fullkv's bound over the row's, same length and phase;
 * empty without a fullkv row); nothing when it has no roofline rows. 0, or an error naming
 * the database. */
int bench_roofline_report(struct store *s, const char *invocation, struct table_list *l, char *err, size_t errlen);
/* Prints rows[0..n) (one invocation) as a table: phase, N, label, KV type, work, bound, median,
 * achieved, and fullkv's bound over the row's (the speedup the work alone allows). */
void bench_roofline_print(FILE *out, const struct bench_roof *rows, int n);

#endif
