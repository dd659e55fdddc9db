/* Internals shared by the LongBench metric files in eval/metrics/: word interning
 * (base/interner.c), difflib's matching (difflib.c) and pltrdy's ROUGE-L (rouge_l.c), over
 * the code point strings of base/pystr.h. Not part of the public API (metrics.h). */
#ifndef KVLAB_EVAL_METRICS_INTERNAL_H
#define KVLAB_EVAL_METRICS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/interner.h" // struct interner, interner_*
#include "base/pystr.h"    // defines: struct pystr, struct spans

// ----------------------------------------------------------------------------
// word interning (base/interner.h, keyed by code point strings)

/* The id of word cp[0..n), adding it when new: id >= 0, or KV_ENOMEM. */
static inline int word_id(struct interner *t, const uint32_t *cp, size_t n)
{
	return interner_id(t, cp, n * sizeof(*cp));
}

/* The id of word cp[0..n), or -1 when absent. */
static inline int word_find(const struct interner *t, const uint32_t *cp, size_t n)
{
	return interner_find(t, cp, n * sizeof(*cp));
}

// ----------------------------------------------------------------------------
// difflib (difflib.c), pltrdy ROUGE-L (rouge_l.c), f1 (qa_f1.c)

/* Sum of the sizes of difflib.SequenceMatcher(None, a, b).get_matching_blocks()
 * (autojunk=True). 0 or KV_ENOMEM. */
int difflib_matched(const uint32_t *a, size_t la, const uint32_t *b, size_t lb, size_t *matched);

/* pltrdy rouge 1.0.1: Rouge().get_scores([hyp], [ref], avg=True)["rouge-l"]["f"].
 * max_frames is how many nested _recon calls CPython allows before RecursionError
 * (see rouge_l.c). Returns 0 and *f, or 1 when the package raises (ValueError on an
 * empty side, RecursionError), or KV_ENOMEM. */
int rouge_l_pltrdy(const struct pystr *hyp, const struct pystr *ref, int max_frames, double *f);

/* How many nested _recon frames CPython 3.11 (default recursion limit 1000) allows under
 * the official call stack: python -m eval.eval_longbench -> scorer -> rouge_score ->
 * Rouge.get_scores -> ... -> _recon_lcs -> _recon. Measured by scripts/ref_metrics.py in
 * a child `python -m` process: identical 987-word sentences (988 frames) score, 988-word
 * ones raise. rouge_zh_score adds a frame (986 tokens score, 987 raise). */
#define ROUGE_MAX_FRAMES 988
#define ROUGE_ZH_MAX_FRAMES (ROUGE_MAX_FRAMES - 1)

/* The share of the re '\d+' runs of p whose text equals want[0..want_n); 0 when p has
 * none (count_score and retrieval_score, count.c). */
double digit_runs_share(const struct pystr *p, const uint32_t *want, size_t want_n);

/* LongBench's f1_score over two token-id lists (multiset overlap; ids < n_ids).
 * 0 and *f, or KV_ENOMEM. */
int f1_ids(const int *pred, size_t np, const int *gt, size_t ng, int n_ids, double *f);

// ----------------------------------------------------------------------------
// answer normalisation (normalize.c)

/* LongBench normalize_answer(s) for English: lower, delete string.punctuation, replace
 * whole words a/an/the by a space, then out's .split() pieces are its tokens. */
int normalize_answer_en(const struct pystr *in, struct pystr *out);
/* LongBench normalize_zh_answer(s): lower, delete ASCII + CJK punctuation, delete all
 * whitespace, on the string in[0..len). */
int normalize_answer_zh(const uint32_t *in, size_t len, struct pystr *out);

// ----------------------------------------------------------------------------
// one metric on one (prediction, ground truth) pair: the metric functions of metrics.py

struct jieba;
/* The process-wide segmenter, loaded on first use from JIEBA_DEFAULT_DIR unless
 * metrics_jieba_init named another dir. *out is borrowed until metrics_jieba_release. */
int metrics_jieba(const struct jieba **out, char *err, size_t errlen);

/* Each returns 0 and *out in [0, 1], or a negative KV_E* code with a message
 * (classification without all_classes, retrieval without "Paragraph N", bad UTF-8). */
int score_qa_f1(const char *pred, const char *gt, const char *const *all_classes, int n_classes,
		double *out, char *err, size_t errlen);
int score_qa_f1_zh(const char *pred, const char *gt, const char *const *all_classes, int n_classes,
		double *out, char *err, size_t errlen);
int score_rouge(const char *pred, const char *gt, const char *const *all_classes, int n_classes,
		double *out, char *err, size_t errlen);
int score_rouge_zh(const char *pred, const char *gt, const char *const *all_classes, int n_classes,
		double *out, char *err, size_t errlen);
int score_classification(const char *pred, const char *gt, const char *const *all_classes, int n_classes,
		double *out, char *err, size_t errlen);
int score_count(const char *pred, const char *gt, const char *const *all_classes, int n_classes,
		double *out, char *err, size_t errlen);
int score_retrieval(const char *pred, const char *gt, const char *const *all_classes, int n_classes,
		double *out, char *err, size_t errlen);
int score_retrieval_zh(const char *pred, const char *gt, const char *const *all_classes, int n_classes,
		double *out, char *err, size_t errlen);
int score_code_sim(const char *pred, const char *gt, const char *const *all_classes, int n_classes,
		double *out, char *err, size_t errlen);

#endif
