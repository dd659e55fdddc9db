/* Export of RULER runs in RULER's own prediction layout, so NVIDIA/RULER's
 * scripts/eval/evaluate.py can re-score kvlab's predictions: one {task}.jsonl per task
 * (index, pred, input, outputs, others, truncation, length) and summary.csv (pandas'
 * layout: a header of column numbers, then Tasks / Score / Nulls rows), scored here the
 * way evaluate.py scores (post-processing, string_match_all / string_match_part,
 * round(100 * mean, 2)). ../shared/spec/ruler.md section 9. */
#ifndef KVLAB_EVAL_EXPORT_RULER_H
#define KVLAB_EVAL_EXPORT_RULER_H

#include <stddef.h>
#include <stdio.h>

struct store;

struct export_ruler_opts {
	const char *out_dir;   /* created if missing */
	const char *run;       /* run id or prefix (NULL = any) */
	const char *method;    /* method name (NULL = any; several methods is an error) */
};

/* Writes the files; prints one line per task to log (may be NULL). Errors name the run,
 * the method choice or the file. */
int export_ruler(struct store *s, const struct export_ruler_opts *o, FILE *log, char *err, size_t errlen);

/* Python's repr(round(x, 2)) for a score ("100.0", "93.33") into buf. */
void export_ruler_fmt_score(double x, char *buf, size_t len);

#endif
