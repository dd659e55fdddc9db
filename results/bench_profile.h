/* Where decode's time went, op by op (kvlab bench e2e --profile): per benchmark row
 * (invocation, label, n_ctx) one row per op the timed decode steps called, with its calls,
 * ms and share of a step and, for the memory-bound ops, the bytes a step read and the
 * invocation's read calibration; then one row for the time between the ops. A table of its
 * own beside bench_latency and bench_roofline; `kvlab report --bench` prints it. */
#ifndef KVLAB_RESULTS_BENCH_PROFILE_H
#define KVLAB_RESULTS_BENCH_PROFILE_H

#include <stddef.h>
#include <stdio.h>

struct store;
struct table_list;

#define BENCH_PROF_BETWEEN "(between the ops)" /* the op name of the time outside every op */

struct bench_prof {
	char invocation[40];  /* the bench_latency row's invocation, label and n_ctx (phase decode) */
	char label[128];
	int n_ctx;
	char op[32];          /* a backend op name, "qmatvec (q4_1)" for one block type, or BENCH_PROF_BETWEEN */
	long long steps;      /* decode steps profiled (the timed runs') */
	double calls;         /* calls per step (0 for BENCH_PROF_BETWEEN) */
	double ms;            /* ms per step inside the op */
	double share;         /* of the profiled span, 0..1 */
	double bytes;         /* bytes read per step; 0 where the op's bytes are not counted */
	double read_gbs;      /* the invocation's read calibration, 1e9 B/s; 0 when it has none */
};

/* Creates the bench_profile table if absent. */
int bench_profile_schema(struct store *s, char *err, size_t errlen);
/* Writes rows[0..n) in one transaction (all or nothing). */
int bench_profile_put(struct store *s, const struct bench_prof *rows, int n, char *err, size_t errlen);
/* Reads the rows of one invocation in insertion order; *rows malloc'd (caller frees). */
int bench_profile_load(struct store *s, const char *invocation, struct bench_prof **rows, int *n, char *err, size_t errlen);
/* Adds the profile table of one invocation to l (`kvlab report --bench`); nothing when it has
 * no profile rows. 0, or an error naming the database. */
int bench_profile_report(struct store *s, const char *invocation, struct table_list *l, char *err, size_t errlen);
/* Prints rows[0..n) (one invocation) as a table: method, N, op, calls, ms, share, MB, GB/s
 * and the fraction of the read calibration, per decode step. */
void bench_profile_print(FILE *out, const struct bench_prof *rows, int n);

#endif
