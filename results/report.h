/* Report tables: pure functions of the results database. Each table is built as data
 * (results/table_fmt.h) and printed as Markdown, CSV or JSON. */
#ifndef KVLAB_RESULTS_REPORT_H
#define KVLAB_RESULTS_REPORT_H

#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>

#include "results/run_label.h" // struct run_defaults
#include "results/table_fmt.h" // struct table_list, enum table_format

struct store;

/* The tables kvlab report prints (--table). */
enum report_table {
	REPORT_RUNS,      /* one line per run */
	REPORT_LONGBENCH, /* methods x LongBench datasets + Avg; LongBench-E by length bucket */
	REPORT_RULER,     /* methods x RULER tasks + Avg; methods x context length */
	REPORT_NEEDLE,    /* per method: mean, by context length, by depth */
	REPORT_BENCH,     /* latency and speedups over fullkv per method and context length */
	REPORT_SWEEP,     /* a sweep pivoted on two axes */
	REPORT_SELECTION  /* per-layer kept rows and needle recall, top-k tie summary */
};

/* Parses a --table name (runs, longbench, ruler, needle, bench, sweep, selection). */
int report_table_parse(const char *name, enum report_table *out, char *err, size_t errlen);

/* Which sweep to pivot and how (kvlab report --sweep ID --x AXIS --y AXIS). */
struct sweep_query {
	const char *sweep;  /* id prefix; NULL = the only sweep */
	const char *x, *y;  /* axes; NULL x = the grid's first axis (y: its second, if any) */
	const char *metric; /* NULL = overlap / score when present, else the most frequent */
};

struct report_opts {
	const char *task_prefix;             /* only runs whose task starts with it; NULL = all */
	const struct run_defaults *defaults; /* method defaults for the params columns; NULL = show every parameter */
	struct sweep_query sweep;            /* REPORT_SWEEP */
	enum table_format format;
};

/* Prints table `which` of the database in o->format. Errors name the database or flag. */
int report_print(struct store *s, FILE *out, enum report_table which, const struct report_opts *o, char *err,
		 size_t errlen);

/* The table builders report_print calls: each appends its tables to l (caller frees l). */
/* One row per evaluation run: short id, task, method, non-default parameters, samples, the
 * mean main score ("score", else "overlap", else the first metric) as metric=mean, mean
 * prefill seconds and KV MiB kept. */
int report_runs(struct store *s, const struct report_opts *o, struct table_list *l, char *err, size_t errlen);
/* Layers down, methods (with their non-default parameters) across (table sample_layers): the
 * mean KV rows kept per sample summed over cache heads and the needle-token recall (needle
 * rows kept / needle tokens x heads), each with an "all" row; the same for propagated (TSP,
 * PyramidInfer) and re-prefilled (GemFilter) tokens where runs have them; then per method and
 * kind of top-k cut (table sample_ties): runs, samples, cuts, cuts inside a tie group, their
 * share and the mean n_tied per cut. */
int report_selection(struct store *s, const struct report_opts *o, struct table_list *l, char *err, size_t errlen);
/* LongBench: one row per (model, method and parameters), one column per dataset in
 * LongBench's order, score x 100, Avg over the datasets of the row; LongBench-E buckets. */
int report_longbench(struct store *s, const struct report_opts *o, struct table_list *l, char *err, size_t errlen);
/* RULER: by task (the 13 tasks in the paper's order, + Avg) and by context length. */
int report_ruler(struct store *s, const struct report_opts *o, struct table_list *l, char *err, size_t errlen);
/* Needle: per method, the mean score x 100 overall, by context length and by depth. */
int report_needle(struct store *s, const struct report_opts *o, struct table_list *l, char *err, size_t errlen);

/* "method k=v ..." (the method alone when all defaults) into buf; the row label shared by
 * the paper tables. */
int report_label(struct store *s, const struct report_opts *o, const char *method, const char *method_json, char *buf,
		 size_t len, char *err, size_t errlen);

/* Per-method row groups of a paper table: the mean of metric per (row, column). Rows are
 * (model, method_json); cols are what the caller's SQL calls col. Caller frees with
 * report_grid_free. */
struct report_grid {
	int n_row, n_col;
	char **row_label;   /* (n_row,) "method k=v" (+ " [model]" when several models) */
	char **col;         /* (n_col,) */
	double *sum;        /* (n_row * n_col) sum of the cell's values */
	int *n;             /* (n_row * n_col) values in the cell */
};
/* Fills g from sql, whose result columns are: model_path, method, method_json, col, value
 * (one row per value; ?1 is bound to o->task_prefix). */
int report_grid_load(struct store *s, const struct report_opts *o, const char *sql, struct report_grid *g, char *err,
		     size_t errlen);
/* Releases g's arrays and empties it. */
void report_grid_free(struct report_grid *g);
/* Index of column c in g, or -1. */
int report_grid_col(const struct report_grid *g, const char *c);

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
