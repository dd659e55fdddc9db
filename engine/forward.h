/* The transformer forward: prefill over a token sequence and cached single-token
 * decode, fp32 throughout, through a backend table (engine/backend.h). Every token
 * keeps its original RoPE position; the KV cache (engine/kvcache.h) records them.
 * E = n_embd, V = n_vocab, T = prompt tokens */
#ifndef KVLAB_ENGINE_FORWARD_H
#define KVLAB_ENGINE_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/backend.h"   // enum kv_dtype
#include "engine/kv_method.h" // struct kv_policy, struct kv_shape

struct model;
struct model_config;
struct kv_cache;
struct backend_ops;
struct attn_kv_view;

/* What prefill did, for introspection (--dump_selection) and statistics. */
struct fwd_trace {
	int n_layer;
	int n_prompt;            /* N: the prompt as given */
	int *n_alive;            /* (L,) tokens that entered each layer (of the final pass) */
	int *n_prop;             /* (L,) tokens propagated after layer l, 0 = no propagation */
	int32_t **prop_pos;      /* (L,) -> (n_prop[l],) original positions propagated */
	int n_restart;           /* tokens kept by a restart (GemFilter), 0 = none */
	int restart_layer;       /* layer that asked for the restart */
	int32_t *restart_pos;    /* (n_restart,) original positions of the re-prefilled tokens */
	bool restart_renumbered; /* the restart ran at positions 0..n_restart-1 (cache positions are those) */
	/* how the top-k cuts behind the above met ties (struct kv_tie; zeros = no cut): */
	int tie_heads;           /* H: row stride of kv_tie */
	struct kv_tie *kv_tie;   /* (L, H) the cache's cut per layer and cache head (of the final pass) */
	struct kv_tie *prop_tie; /* (L,) the cut behind prop_pos[l] */
	struct kv_tie restart_tie; /* the cut behind restart_pos */
};

/* Tie statistics of one kind of cut over a trace. */
struct fwd_tie_stats {
	int n_cuts;      /* cuts made (n_tied > 0) */
	int n_inside;    /* cuts inside a tie group (n_kept < n_tied) */
	long sum_tied;   /* sum of n_tied over the cuts */
};
/* Sums t's cuts: kv over layers and cache heads, prop over layers, restart. */
void fwd_trace_ties(const struct fwd_trace *t, struct fwd_tie_stats *kv, struct fwd_tie_stats *prop,
		    struct fwd_tie_stats *restart);

/* One inference session: a model (borrowed), a backend (borrowed: it runs every op and
 * holds the cache's K/V and the activations), a KV cache (owned), and an optional KV
 * policy (borrowed). */
/* A forward pass's activation buffers for n rows, carved from one allocation by fwd_act_carve. */
struct fwd_act {
	float *x, *xn, *tmp; /* (n, E) each */
	float *q, *att;      /* (n, H*D) */
	float *k, *v;        /* (n, Hkv*D) */
	float *g, *u;        /* (fc, F): fc rows of the feed-forward at a time */
};

/* Floats fwd_act_carve lays out for n rows and fc feed-forward rows of model config c. */
size_t fwd_act_floats(const struct model_config *c, int n, size_t fc);
/* Points a's buffers into buf (fwd_act_floats(c, n, fc) floats, still owned by the caller). */
void fwd_act_carve(float *buf, const struct model_config *c, int n, size_t fc, struct fwd_act *a);

struct fwd_session {
	const struct model *m;           /* borrowed; must outlive the session */
	const struct backend_ops *be;    /* borrowed (a static table) */
	struct kv_policy pol;            /* borrowed; pol.m == NULL means keep everything */
	struct kv_shape shape;
	struct kv_cache *cache;          /* owned */
	int n_threads;
	int reserve;                     /* decode entries to reserve per head after prefill */
	int decode_step;
	int32_t next_pos;                /* position of the next decoded token */
	float *dec;                      /* owned scratch for decode, backend memory */
	struct attn_kv_view *views;      /* (H,) owned: decode's per-head cache views */
	struct fwd_trace trace;          /* owned */
	float *final_hidden;             /* optional (E,) host buffer, borrowed: when set, prefill writes the
					  * last row's final normed hidden state (the LM head's input) there */
};

/* Makes a session on backend be (borrowed; engine/backend.h, backend_by_name) for
 * prompts followed by up to reserve decoded tokens, with an optional policy (NULL = keep
 * everything; borrowed, must outlive the session); caller frees with fwd_session_free.
 * n_threads <= 0 means all cores. KV_EINTERNAL when be lacks a required op. */
int fwd_session_init_on(const struct backend_ops *be, const struct model *m, const struct kv_policy *pol, int reserve,
			int n_threads, struct fwd_session **out, char *err, size_t errlen);
/* fwd_session_init_on on the CPU backend (backend_cpu); caller frees with fwd_session_free. */
int fwd_session_init(const struct model *m, const struct kv_policy *pol, int reserve, int n_threads,
		     struct fwd_session **out, char *err, size_t errlen);
/* Makes s's (empty) KV cache store K/V as t (engine/backend.h: f32, the default, or
 * f16 / bf16); call before the prefill. KV_EUNSUP naming the backend when it keeps f32
 * only, KV_EINVAL when the cache already holds entries. */
int fwd_session_set_kv_dtype(struct fwd_session *s, enum kv_dtype t, char *err, size_t errlen);
/* Frees s, its cache and its scratch (NULL is a no-op). */
void fwd_session_free(struct fwd_session *s);

/* Prefills ids[0..n) at positions 0..n-1 into an empty session cache, letting the
 * policy decide per layer, and writes logits: all rows (n_last, V) when all_rows
 * (n_last = rows alive after the last layer), else only the last row (V,). */
int fwd_prefill(struct fwd_session *s, const int32_t *ids, int n, bool all_rows, float *logits,
		char *err, size_t errlen);

/* fwd_prefill for several sessions on one forward: the layers run once and each session's
 * policy fills its own cache from the same Q/K/V, so methods that differ only in what
 * they keep (Full KV, SnapKV, H2O, StreamingLLM, FastKV at one TSP setting with other
 * budgets) pay for one prefill. Every session must use the same model and start empty;
 * the policies must agree on propagation and restarts at every layer (else KV_EINVAL
 * naming both). logits as in fwd_prefill, shared by all sessions. */
int fwd_prefill_shared(struct fwd_session *const *ss, int ns, const int32_t *ids, int n, bool all_rows, float *logits,
		       char *err, size_t errlen);

/* Runs ids[0..R) at positions s->next_pos.. through s's prefilled cache, each token
 * attending to every cached entry and causally to the replayed tokens before it, and
 * calls on_layer(ctx, ...) per layer once the layer's attention ran (struct
 * kv_replay_layer, host memory, borrowed for the call); the replayed entries are dropped
 * from the cache again and next_pos is unchanged. Stops at on_layer's first error. */
int fwd_replay(struct fwd_session *s, const int32_t *ids, int R,
	       int (*on_layer)(void *ctx, const struct kv_replay_layer *v, char *err, size_t errlen), void *ctx,
	       char *err, size_t errlen);

/* Decodes one token at position s->next_pos (then advances it), appending its K/V
 * to the cache (the policy may evict after each layer); writes logits (V,). */
int fwd_decode(struct fwd_session *s, int32_t id, float *logits, char *err, size_t errlen);

/* Runs a fresh prefill of ids[0..n) with no compression on the CPU backend and returns
 * logits: all rows (n, V) when all_rows, else the last row (1, V). *logits is malloc'd
 * (caller frees). */
int fwd_logits(const struct model *m, const int32_t *ids, int n, bool all_rows, int n_threads,
	       float **logits, char *err, size_t errlen);

#endif
