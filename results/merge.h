/* Merging results databases (kvlab merge): the shard databases of a Slurm sweep, or any
 * databases, into one. Idempotent: merging a database again adds nothing. Refuses rows
 * that clash (a run id with another configuration, a (run, sample) with other content);
 * the output is written whole or not at all. */
#ifndef KVLAB_RESULTS_MERGE_H
#define KVLAB_RESULTS_MERGE_H

#include <stddef.h>

#define MERGE_N_TABLES 13

struct merge_stats {
	const char *table[MERGE_N_TABLES];   /* names, static */
	long added[MERGE_N_TABLES];          /* rows added to the output per table */
	long present[MERGE_N_TABLES];        /* rows of the inputs the output held already */
};

/* Merges the databases srcs[0..n) (opened read-only, never written) into out: an existing out
 * is kept and added to, else created. Works on a copy beside out and renames it over out
 * only when every input merged, so a failure leaves out as it was. Errors name the input
 * and the clashing row. */
int results_merge(const char *out, const char *const *srcs, int n, struct merge_stats *st, char *err, size_t errlen);

#endif
