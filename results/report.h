/* Report tables: pure functions of the results database. */
#ifndef KVLAB_RESULTS_REPORT_H
#define KVLAB_RESULTS_REPORT_H

#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>

struct store;

/* Prints one row per evaluation run (optionally only runs whose task starts with
 * task_prefix): id, task, method and parameters, model, samples, the mean of every
 * metric, mean prefill time and KV bytes. */
int report_runs(struct store *s, FILE *out, const char *task_prefix, char *err, size_t errlen);

/* Prints the top-k tie summary (table sample_ties, written by kvlab run): per method,
 * task filter as report_runs, and kind of cut: runs, samples, cuts, cuts inside a tie group
 * (the tie rule chose which candidates stay) and the mean n_tied per cut. */
int report_selection(struct store *s, FILE *out, const char *task_prefix, char *err, size_t errlen);

/* Prints the LongBench table: runs x datasets (and LongBench-E length buckets), score x 100. */
int report_longbench(struct store *s, FILE *out, char *err, size_t errlen);

/* Which sweep to pivot and how (kvlab report --sweep ID --x AXIS --y AXIS). */
struct sweep_query {
	const char *sweep;  /* id prefix; NULL = the only sweep */
	const char *x, *y;  /* axes; NULL x = the grid's first axis (y: its second, if any) */
	const char *metric; /* NULL = overlap / score when present, else the most frequent */
};

/* One cell: the mean of the metric over the samples of the sweep's runs at (x, y) with the
 * other swept values `other` (the point's JSON without x and y). "-" stands for a value absent. */
struct sweep_cell {
	char other[256], x[64], y[64];
	double mean; /* NAN when n == 0 */
	int n;       /* scores averaged */
};

struct sweep_table {
	char sweep_id[65], task[64], model[256], metric[64], x[64], y[64];
	char axes[512];        /* "tsp_idx, retain_rate" */
	struct sweep_cell *c;  /* (n,) owned: sweep_table_free */
	int n;
};

/* Loads the cells of the sweep q names (errors name --sweep / --x / --y); caller frees with
 * sweep_table_free (also after a failure). */
int sweep_table_load(struct store *s, const struct sweep_query *q, struct sweep_table *t, char *err, size_t errlen);
void sweep_table_free(struct sweep_table *t);
/* The distinct x and y values of the cells with other values `other`, sorted (numbers
 * numerically); caller frees each string and the arrays. */
int sweep_table_axes(const struct sweep_table *t, const char *other, char ***xs, int *nx, char ***ys, int *ny);
/* Borrowed: the cell at (other, x, y), or NULL. */
const struct sweep_cell *sweep_table_cell(const struct sweep_table *t, const char *other, const char *x, const char *y);

/* Prints the sweep pivoted: one y-by-x table per combination of the other swept values,
 * format "md" (markdown, n per cell), "csv" or "json" (every cell). */
int report_sweep(struct store *s, FILE *out, const struct sweep_query *q, const char *format, char *err, size_t errlen);

#endif
