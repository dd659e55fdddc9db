/* Report tables: pure functions of the results database. */
#ifndef KVLAB_RESULTS_REPORT_H
#define KVLAB_RESULTS_REPORT_H

#include <stddef.h>
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

#endif
