/* Greedy generation under the query-agnostic protocol (--protocol context_first, kvpress's
 * pipeline): a context is prefilled once with every member's policy compressing it (one
 * shared forward, fwd_prefill_shared), then each question is run through each member's
 * compressed cache (fwd_extend, no compression) and decoded greedily; the cache goes
 * back to its compressed-context state before the next question, so several questions
 * are answered from one compression. */
#ifndef KVLAB_ENGINE_GEN_CONTEXT_H
#define KVLAB_ENGINE_GEN_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/generate.h" // struct gen_opts, struct gen_stats

struct model;
struct fwd_session;

/* A compressed context held for questions. */
struct gen_context {
	const struct model *m;      /* borrowed */
	int n;                      /* members */
	struct fwd_session **s;     /* (n,) owned: member i's session, its cache the compressed context */
	int32_t *ids;               /* (n_ids,) owned copy of the context ids */
	int n_ids;
	int *len0;                  /* (n, n_layer, heads) owned: entries per cache head after the context prefill */
	int32_t *next_pos0;         /* (n,) each session's next position after the context */
	struct gen_stats *base;     /* (n,) the context prefill's stats: prefill_s, kv bytes, ties */
	bool reusable;              /* no member's policy evicts during decode (its cache can be rewound) */
	int n_answered;             /* questions answered so far */
};

/* Prefills ids[0..n_ids) on one shared forward for the n_o members (o[i]: policy,
 * backend, KV type, threads from o[0], on_prefill called with the session), keeping their
 * compressed caches in *out (caller frees with gen_context_free). The policies must agree
 * on propagation (as gen_greedy_shared). Policies are borrowed and must outlive *out. */
int gen_context_prefill(const struct model *m, const int32_t *ids, int n_ids, const struct gen_opts *const *o, int n_o,
			struct gen_context **out, char *err, size_t errlen);

/* Whether c holds the compressed context of ids[0..n_ids) and can answer another question. */
bool gen_context_matches(const struct gen_context *c, const int32_t *ids, int n_ids);

/* Answers the question q[0..n_q) from c for every member (n_o == c->n, o[i] as given to
 * the prefill, max_new_tokens and stops may differ): extends member i's cache by the
 * question, decodes greedily into out[i] (malloc'd, caller frees each), n_out[i], st[i]
 * (may be NULL; prefill_s = the question's forward, plus the context's prefill for the
 * first question; kv_bytes_prefill = the compressed context's bytes). On error no out[i]
 * is set and c answers no further question. */
int gen_context_answer(struct gen_context *c, const int32_t *q, int n_q, const struct gen_opts *const *o, int n_o,
		       int32_t **out, int *n_out, struct gen_stats *st, char *err, size_t errlen);

/* Frees c and its sessions (NULL is a no-op). */
void gen_context_free(struct gen_context *c);

#endif
