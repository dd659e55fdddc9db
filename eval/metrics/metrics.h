/* LongBench metrics, scoring exactly as the official scorers do: THUDM/LongBench
 * metrics.py (copied by FastKV as eval/metrics.py) run with jieba 0.42.1, rouge 1.0.1
 * (pltrdy) and fuzzywuzzy 0.18.0 on difflib, on CPython 3.11. Spec:
 * ../shared/spec/eval.md 2.4-2.6 and 6. Strings are UTF-8 and NUL-terminated (so a
 * Python string with U+0000 cannot be passed). Scores are in [0, 1]: the driver
 * multiplies by 100 and rounds (eval.md 2.7).
 *
 * Metric names: qa_f1, qa_f1_zh, rouge, rouge_zh, classification, count, retrieval,
 * retrieval_zh, code_sim (metrics.py's function names without "_score").
 * qa_f1_zh and rouge_zh need the jieba data (make model -> models/jieba/). */
#ifndef KVLAB_EVAL_METRICS_METRICS_H
#define KVLAB_EVAL_METRICS_METRICS_H

#include <stdbool.h>
#include <stddef.h>

/* Scores pred against every answer with metric name and returns the max in *out,
 * starting from 0.0 (the inner loop of eval_longbench.py's scorer; no post-processing
 * of pred). all_classes is used by classification only (NULL there is KV_EINVAL, as the
 * official code raises). Returns 0, or KV_EINVAL (unknown metric, bad UTF-8, retrieval
 * ground truth without "Paragraph N": the official run aborts), KV_EIO (jieba data
 * missing) or KV_ENOMEM, with a message in err; *out is untouched on failure. */
int metric_score(const char *name, const char *pred, const char *const *answers, int n_answers,
		 const char *const *all_classes, int n_classes, double *out, char *err, size_t errlen);

/* Static metric name for a LongBench dataset ("multi_news" -> "rouge"), per eval.md 2.4;
 * LongBench-E names ("qasper_e") map like their base. NULL when unknown. */
const char *metric_for_dataset(const char *dataset);

/* True for the datasets whose prediction eval_longbench.py cuts to its first line
 * (trec, triviaqa, samsum, lsht and their _e forms; eval.md 2.5). */
bool metric_first_line_only(const char *dataset);

/* scorer()'s per-sample score for dataset: the first-line cut where the dataset has it
 * (pred.lstrip('\n').split('\n')[0]), then metric_score with the dataset's metric.
 * Errors as metric_score; KV_EINVAL for an unknown dataset. */
int metric_score_dataset(const char *dataset, const char *pred, const char *const *answers, int n_answers,
			 const char *const *all_classes, int n_classes, double *out, char *err, size_t errlen);

/* NULL-terminated list of the metric names (static). */
extern const char *const metric_names[];

/* Loads the jieba data from dir (NULL = models/jieba) for the zh metrics, if not loaded
 * yet (otherwise does nothing and returns 0). The metrics call this lazily with NULL. */
int metrics_jieba_init(const char *dir, char *err, size_t errlen);
/* Frees the jieba data; the next zh metric loads it again. Not while metrics run. */
void metrics_jieba_release(void);

// ----------------------------------------------------------------------------
// a sample's scores, by the scorer name its task gives (datasets/task.h)

struct metric_value {
	const char *name;       /* static score name ("score", "overlap", ...) */
	double value;
};

#define METRIC_MAX_VALUES 8

/* Scores pred with the scorer named scorer into out[0..*n) (at most METRIC_MAX_VALUES):
 *   "needle"                   overlap (visualize.py) against refs[0], the expected answer, and
 *                              rouge1_x10 (10 x ROUGE-1 F) against refs[1], the needle sentence;
 *   "string_match_all"         "score": RULER's string_match_all on the raw prediction (FastKV);
 *   "ruler:string_match_all",
 *   "ruler:string_match_part"  "score": RULER's evaluate.py (postprocess_pred, then the match);
 *   "longbench:DATASET"        "score": metric_score_dataset(DATASET, ...) over refs, classes.
 * also_as (NULL or "") stores the first value under that name too. Errors: KV_EINVAL for an
 * unknown scorer, and metric_score's. */
int metric_score_named(const char *scorer, const char *also_as, const char *pred, const char *const *refs, int n_refs,
		       const char *const *classes, int n_classes, struct metric_value *out, int *n, char *err,
		       size_t errlen);

// ----------------------------------------------------------------------------
// RULER (eval/metrics/ruler_match.c: scripts/eval of NVIDIA/RULER)

/* In place: Python strip(), every U+0000..U+001F -> '\n', strip() again. Returns pred. */
char *ruler_postprocess(char *pred);
/* Fraction of refs that occur in pred, both lower-cased (Unicode). n = 0 -> 0. */
double ruler_match_all(const char *pred, const char *const *refs, int n);
/* 1 if any ref occurs in pred (lower-cased), else 0. */
double ruler_match_part(const char *pred, const char *const *refs, int n);

// ----------------------------------------------------------------------------
// needle (eval/metrics/needle_score.c)

/* Google rouge_score ROUGE-1 F-measure (RougeScorer(['rouge1'], use_stemmer=True)):
 * Python lower(), runs of non-[a-z0-9] -> one space, NLTK Porter stem (NLTK_EXTENSIONS)
 * for tokens longer than 3, clipped unigram overlap. In [0, 1]; KV_ENOMEM only. */
int needle_rouge1(const char *target, const char *prediction, double *f);

/* visualize.py: |set(response.lower().split()) & E| / |E|, E = set(expected.lower().split());
 * 0 when E is empty. Python's Unicode whitespace splits; lower-casing is exact for the
 * characters that lower-case into ASCII (A-Z, U+212A KELVIN SIGN, U+0130) and leaves every
 * other non-ASCII character as it is, which is exact whenever expected lower-cases to ASCII. */
int needle_overlap(const char *response, const char *expected, double *score);

/* NLTK PorterStemmer().stem(word) (mode NLTK_EXTENSIONS, nltk 3.10) for a lower-case ASCII
 * word: writes the stem into out (at least strlen(word) + 2 bytes). */
void porter_stem(const char *word, char *out);


#endif
