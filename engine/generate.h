/* Greedy generation: prefill the prompt, then decode one token at a time from the
 * KV cache until max_new_tokens or one of the model's EOS ids. */
#ifndef KVLAB_ENGINE_GENERATE_H
#define KVLAB_ENGINE_GENERATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/forward.h" // struct fwd_tie_stats

struct model;
struct kv_policy;
struct fwd_session;
struct backend_ops;

struct gen_opts {
	int max_new_tokens;
	int n_threads;                  /* <= 0: all cores */
	const struct kv_policy *policy; /* NULL: full KV */
	const struct backend_ops *backend; /* borrowed; NULL: backend_cpu */
	enum kv_dtype kv_dtype;         /* what the KV cache stores (KV_DTYPE_F32, the zero value: the reference) */
	const int32_t *stop_ids;        /* (n_stop,) extra ids that end generation */
	int n_stop;
	bool no_eos_stop;               /* do not stop on the model's EOS ids */
	bool min_one_token;             /* the first token is the argmax over non-stop ids */
	/* optional: called once after prefill with the session (cache and trace readable) */
	void (*on_prefill)(void *ctx, const struct fwd_session *s);
	void *ctx;
};

struct gen_stats {
	int n_prompt;
	int n_generated;
	double prefill_s;     /* time to first token, then the method's step after the prefill (recon_s) included */
	double recon_s;       /* of prefill_s: the step after the prefill (KVzip's context reconstruction), 0 = none */
	double decode_s;      /* time for the remaining tokens */
	size_t kv_bytes_prefill; /* K+V bytes held right after prefill */
	struct fwd_tie_stats ties_kv, ties_prop, ties_restart; /* the prefill's top-k cuts (fwd_trace_ties) */
};

/* Index of the largest of x[0..n); ties go to the lowest index, as torch.argmax does. */
int32_t gen_argmax(const float *x, int n);

/* Generates greedily after prompt[0..n_prompt). *out (malloc'd, caller frees) holds the
 * generated ids, the stopping EOS included if one was produced; *n_out its length. */
int gen_greedy(const struct model *m, const int32_t *prompt, int n_prompt, const struct gen_opts *o,
	       int32_t **out, int *n_out, struct gen_stats *st, char *err, size_t errlen);

/* gen_greedy for n_o option sets on one shared prefill (fwd_prefill_shared): member i
 * generates under o[i] (its policy, stops, max_new_tokens) into out[i] (malloc'd, caller
 * frees each), n_out[i] and st[i] (st may be NULL). The policies must agree on which
 * tokens propagate; every member's prefill_s is the one shared prefill's time; threads
 * are o[0]'s. On error no out[i] is set. */
int gen_greedy_shared(const struct model *m, const int32_t *prompt, int n_prompt, const struct gen_opts *const *o,
		      int n_o, int32_t **out, int *n_out, struct gen_stats *st, char *err, size_t errlen);

/* 0 when every o[i]->max_new_tokens is >= 0, else KV_EINVAL with a message naming --max_new_tokens. */
int gen_check_max_new(const struct gen_opts *const *o, int n_o, char *err, size_t errlen);

/* Moves member i's ids[i] (ownership passes to out[i], ids[i] becomes NULL), n[i] and stats[i]
 * (into st[i] when st is not NULL) to the caller's arrays, for every i < n_o. */
void gen_hand_over(int n_o, int32_t **ids, const int *n, const struct gen_stats *stats, int32_t **out, int *n_out,
		   struct gen_stats *st);

/* Is id a stop for o: one of the model's EOS ids (unless o->no_eos_stop) or o's extra stop ids? */
bool gen_is_stop(const struct model *m, const struct gen_opts *o, int32_t id);

/* The first generated token from logits (V,): the argmax, over the non-stop ids when o->min_one_token. */
int32_t gen_first_token(const struct model *m, const struct gen_opts *o, const float *logits);

#endif
