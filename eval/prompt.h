/* FastKV's prompt protocol, written once (../shared/spec/eval.md 1.2-1.6, 3, 4): a
 * method-agnostic sample (datasets/task.h) becomes prompt token ids for a method: the chat
 * template and BOS rules, the model2maxlen cap with the method's override (h2o and
 * pyramidinfer: 7950) and the task's fallback, middle truncation, and GemFilter's extra
 * token. Each distinct token sequence of a sample is made once for all methods. */
#ifndef KVLAB_EVAL_PROMPT_H
#define KVLAB_EVAL_PROMPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "datasets/task.h"   // struct task_sample, task_protocol, task_cap
#include "engine/kv_method.h" // struct kv_method (prompt_cap, gen_extra_token)

struct model;
struct tokenizer;

#define PROMPT_SET_MAX 16

/* A sample made ready for one method. */
struct prompt {
	const int32_t *ids;     /* (n_ids,) borrowed from the prompt_set that made it */
	int n_ids;
	int max_new_tokens;
	bool min_one_token, strip;
	bool truncated;         /* middle truncation applied */
	int n_full;             /* tokens before truncation */
	char *meta_json;        /* owned by the set: the sample's meta (+ truncation fields when the task records them,
				 * + "n_context" and "split_exact" under context_first) */
	/* context_first only (task_protocol.context_first), else 0 / false: */
	int n_context;          /* ids[0, n_context) is the context part, ids[n_context, n_ids) the question part */
	bool split_exact;       /* the context part encodes alone to exactly ids[0, n_context) */
};

/* The prompts of one sample for up to PROMPT_SET_MAX methods. */
struct prompt_set {
	int n;                              /* methods */
	struct prompt p[PROMPT_SET_MAX];    /* in the methods' order; unwanted ones zeroed */
	int32_t *buf[PROMPT_SET_MAX + 1];   /* owned token buffers: [0] the full encoding, then one per distinct cap */
	int cap_of[PROMPT_SET_MAX + 1];     /* the cap buf[k] was truncated to (0 for the full one) */
	int split_of[PROMPT_SET_MAX + 1];   /* context_first: buf[k]'s context tokens */
	bool exact_of[PROMPT_SET_MAX + 1];  /* context_first: whether that split is exact */
	int n_buf;
	int n_encoded;                      /* templated texts tokenized (0 or 1) */
	int n_truncated;                    /* middle truncations made (one per distinct cap that cuts) */
};

/* Resolves meth's prompt cap under protocol p for model m: --model_max_len, else the
 * method's override, else the last model2maxlen key found in the lower-cased model path,
 * else the protocol's fallback (context - 242, or none). rule is static. */
struct task_cap prompt_cap(const struct task_protocol *p, const struct model *m, const struct kv_method *meth);

/* Builds s's prompt for meths[j] (j < n <= PROMPT_SET_MAX) where want is NULL or want[j]:
 * templates and encodes the text once, truncates once per distinct cap that cuts, and sets
 * each method's generation settings. Under p->context_first each prompt also carries its
 * split (prompt_split; a sample without one is an error naming it). *ps is zeroed first;
 * free with prompt_set_free (also after a failure). */
int prompt_set_build(struct prompt_set *ps, const struct model *m, const struct task_sample *s,
		     const struct task_protocol *p, const struct kv_method *const *meths, const bool *want, int n,
		     char *err, size_t errlen);

/* Releases what the set owns and zeroes it. */
void prompt_set_free(struct prompt_set *ps);

/* The token split of a prompt for --protocol context_first: the sample's text up to
 * s->question_at (moved back over whitespace, so the cut falls where the pre-tokenizer
 * cuts) templated as the full prompt is, encoded alone; *n_ctx = the length of its common
 * prefix with ids[0, n) (today's full encoding), *exact when that is all of it. So the
 * context part ids[0, *n_ctx) and the question part ids[*n_ctx, n) always make up ids.
 * KV_EINVAL naming the sample when it has no split or a part would be empty. */
int prompt_split(const struct model *m, const struct task_sample *s, const int32_t *ids, int n, int *n_ctx, bool *exact,
		 char *err, size_t errlen);

/* meta (a JSON object) with members ("\"k\":v,...") appended inside it (malloc'd, caller
 * frees; a meta that is not an object is copied as is); NULL when out of memory. */
char *prompt_meta_append(const char *meta, const char *members);

/* FastKV's middle truncation (spec eval.md 1.4): when n > cap > 0, decodes the first and last
 * cap/2 ids without specials, joins the strings and re-encodes with specials into *out
 * (malloc'd, caller frees); otherwise *out = NULL. */
int prompt_truncate(const struct tokenizer *t, const int32_t *ids, int n, int cap, int32_t **out, int *n_out, char *err,
		    size_t errlen);

#endif
