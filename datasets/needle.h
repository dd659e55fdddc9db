/* Needle-in-a-haystack, as FastKV's eval/run_needle_in_haystack.py builds and scores it
 * (../shared/spec/eval.md section 4, strings in Appendix D2); its scores (ROUGE-1 and the
 * set overlap of eval/visualize.py) are in eval/metrics. The task object (needle_task) plugs into the runner through datasets/task.h;
 * the pieces below are public so tests can check them against hand-worked cases.
 *
 * Choices the official code leaves open, fixed here (and recorded in the task's describe JSON):
 * - haystack files are read in strcmp-sorted order (the official glob order is unspecified);
 * - period tokens are the ids whose single-token decode is exactly "." (SmolLM2 {30},
 *   Llama-3 {13}, Mistral-v0.x {842, 28723}: the sets the official code hard-codes);
 * - --chat renders the prompt as one user turn with the model's template, and then adds no
 *   BOS of its own (the official Mistral provider adds a second one). */
#ifndef KVLAB_DATASETS_NEEDLE_H
#define KVLAB_DATASETS_NEEDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "datasets/task.h" // defines: struct kv_task

struct tokenizer;

#define NEEDLE_TEXT "\nThe best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.\n"
#define NEEDLE_QUESTION "The best thing to do in San Francisco is: "
#define NEEDLE_EXPECTED "eat a sandwich and sit in Dolores Park on a sunny day."
#define NEEDLE_BUFFER 200            /* final_context_length_buffer: tokens left for the prompt frame */
#define NEEDLE_MAX_NEW_TOKENS 30
#define NEEDLE_DEFAULT_HAYSTACK "../shared/data/paul_graham_essays"
#define NEEDLE_DEFAULT_LENGTHS "16000,32000,48000,64000,80000,96000,112000,128000"
#define NEEDLE_DEFAULT_DEPTHS "0,11,22,33,44,56,67,78,89,100" /* round(linspace(0, 100, 10)) */

extern const struct kv_task needle_task;

// ----------------------------------------------------------------------------
// grid

/* Parses a comma-separated list of integers in [lo, hi] ("1000,2000"; spaces around
 * numbers allowed), rejecting empty lists, empty items and duplicates with a message naming
 * flag. *out is malloc'd (caller frees), *n its length; both untouched on failure. */
int needle_parse_list(const char *flag, const char *list, int lo, int hi, int **out, int *n, char *err, size_t errlen);

// ----------------------------------------------------------------------------
// haystack and insertion

/* Reads every *.txt file of dir (no hidden files) in strcmp order, as Python's text mode
 * reads them (UTF-8 checked, \r\n and \r turned into \n), concatenated with no separator.
 * *text is malloc'd and NUL-terminated (caller frees); *len excludes the NUL; *n_files set.
 * Errors name dir or the file (missing dir, no .txt files, invalid UTF-8). */
int haystack_read_dir(const char *dir, char **text, size_t *len, int *n_files, char *err, size_t errlen);

/* The token where the needle goes in ctx[0..n_ctx): depth 100 -> n_ctx (appended);
 * otherwise p = (int)(n_ctx * (depth / 100.0)) in doubles as Python computes it, moved back
 * while p > 0 and ctx[p-1] is not one of period[0..n_period) (so 0 when none is found). */
int needle_insert_pos(const int32_t *ctx, int n_ctx, int depth, const int32_t *period, int n_period);

/* Cuts ctx to budget - n_needle tokens when ctx + needle exceed budget, then inserts the
 * needle at needle_insert_pos. *out is malloc'd (caller frees) with *n_out ids; *pos is
 * where the needle starts. KV_EINVAL when the needle alone does not fit the budget. */
int needle_insert(const int32_t *ctx, int n_ctx, const int32_t *needle, int n_needle, int budget, int depth,
		  const int32_t *period, int n_period, int32_t **out, int *n_out, int *pos, char *err, size_t errlen);

/* The ids whose single-token decode (specials kept) is exactly "."; *ids malloc'd (caller
 * frees), *n may be 0. */
int needle_period_ids(const struct tokenizer *t, int32_t **ids, int *n, char *err, size_t errlen);

// ----------------------------------------------------------------------------
// where the needle sits in a prompt

/* The needle's token span in prompt ids[0..n) however the prompt was templated and
 * re-encoded: the shortest [*start, *end) whose decode (specials kept) holds the needle's
 * sentence (NEEDLE_TEXT without its newlines, which may merge with the tokens around it).
 * *found is false (and *start = *end = 0) when the prompt does not hold it (cut away). */
int needle_span(const struct tokenizer *t, const int32_t *ids, int n, bool *found, int *start, int *end, char *err,
		size_t errlen);

#endif
