/* Export of LongBench runs in the layout FastKV's run_longbench.py writes and
 * eval_longbench.py reads (../shared/spec/eval.md 1.7, 2.7), so the official evaluator
 * can re-score kvlab's predictions:
 *   {out}/{dataset}/{method}.json  JSON Lines, keys prompt, input, context, answers, pred,
 *                                  length, dataset, language, all_classes, _id, written as
 *                                  Python's json.dumps (ensure_ascii, ", " and ": ");
 *                                  everything but pred from the record the run stored
 *                                  (table sample_records): a pure function of the database
 *   {out}/{dataset}/metrics.json   {dataset: {method: {"score": round(100 * mean, 2) (LongBench-E:
 *                                  the 0-4k / 4-8k / 8k+ buckets, null when empty), "samples",
 *                                  "run_id", "model", "params": the parameters other than the
 *                                  method's defaults}}} with indent 4: every method named (the
 *                                  official file keeps only the last method's number, unnamed)
 *   {out}/results.csv              rows = methods, columns = datasets (-1 = no samples),
 *                                  with correct row labels (the official file's are shifted). */
#ifndef KVLAB_EVAL_EXPORT_LONGBENCH_H
#define KVLAB_EVAL_EXPORT_LONGBENCH_H

#include <stddef.h>
#include <stdio.h>

struct store;

struct export_longbench_opts {
	const char *out_dir;   /* created if missing */
	const char *run;       /* run id or prefix (NULL = any) */
	const char *method;    /* method name (NULL = every method) */
};

/* Writes the files; prints one line per (dataset, method) to log (may be NULL). Errors
 * name the run, a sample without a stored record or the output file; two runs of one method covering the
 * same dataset is an error (choose with --run), since the official layout has one file
 * per (dataset, method). */
int export_longbench(struct store *s, const struct export_longbench_opts *o, FILE *log, char *err, size_t errlen);

#endif
