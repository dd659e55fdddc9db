/* The contract between the engine (mechanism) and KV-compression methods (policy).
 * The engine runs prefill layer by layer; after a layer has computed post-RoPE Q/K/V
 * for the tokens alive in it, it offers the method a view of that layer and gets
 * back decisions, never tensors: which rows each cache head keeps, which tokens
 * propagate to the next layer, or "restart from layer 0 on these tokens". The
 * engine never names a method; methods include engine headers only.
 * L = n_layer, H = n_head, Hkv = n_head_kv, D = head_dim, T = tokens alive in the layer,
 * N = prompt tokens. */
#ifndef KVLAB_ENGINE_KV_METHOD_H
#define KVLAB_ENGINE_KV_METHOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct backend_ops;
struct tokenizer;   /* engine/tokenizer.h */
struct chat_format; /* engine/chat.h */

struct kv_shape {
	int n_layer, n_head, n_head_kv, head_dim, n_embd;
};

/* One layer during prefill, as the method sees it. Everything is borrowed for the
 * duration of the prefill_layer call. */
struct kv_layer_view {
	const struct kv_shape *shape;
	const struct backend_ops *be; /* backend holding q/k/v and running the services; NULL = backend_cpu */
	int layer;              /* 0-based */
	int pass;               /* 0, or 1 in the second pass after a restart */
	int n;                  /* T: tokens alive in this layer */
	int n_prompt;           /* N: prompt tokens at the start of this pass */
	const int32_t *pos;     /* (T,) original positions, ascending */
	const int32_t *ids;     /* (T,) token ids of the alive rows */
	/* q, k, v are backend memory: host-readable only when bk_host_memory(be); read
	 * them through the services below, which run on the backend */
	const float *q;         /* (T, H*D) post-RoPE queries */
	const float *k;         /* (T, Hkv*D) post-RoPE keys */
	const float *v;         /* (T, Hkv*D) values */
	const float *rope_inv_freq; /* (D/2,) host: the model's RoPE inverse frequencies (scaling applied), as
				     * q and k were rotated with; NULL where the caller has none (methods that
				     * need it say so) */
};

/* How a top-k cut met ties: n_tied candidates had the k-th score, n_kept of them were
 * selected; n_tied == 0: no cut was made. The cut falls inside a tie group, so the tie
 * rule decided which entries stay, when n_kept < n_tied. */
struct kv_tie {
	int n_tied, n_kept;
};

/* What a method decides for one layer. The engine fills the defaults (keep all,
 * propagate all, no restart) and owns every array; capacities are as commented. */
struct kv_decision {
	bool keep_all;          /* default true: the cache keeps all T rows of every KV head */
	bool per_query_head;    /* cache heads are the H query heads (K/V repeated), not Hkv */
	int n_cache_heads;      /* set by the engine from per_query_head when keep_all is false */
	int *n_keep;            /* (H,) rows kept per cache head */
	int32_t *keep;          /* (H, T) row indices into the view, row stride T, in cache order */
	int n_prop;             /* 0: all rows go on; else rows propagated after this layer's MLP */
	int32_t *prop;          /* (T,) strictly ascending row indices */
	int n_restart;          /* > 0: restart the forward from layer 0 on these rows' token ids */
	int32_t *restart;       /* (T,) strictly ascending row indices */
	bool restart_renumber;  /* restarted tokens take positions 0..n_restart-1 (GemFilter) */
	/* the top-k cuts behind the lists above (zeros from the engine = no cut): */
	struct kv_tie *keep_tie; /* (H,) per cache head, or NULL where nobody reads them (decode) */
	struct kv_tie prop_tie;  /* the cut that chose prop */
	struct kv_tie restart_tie; /* the cut that chose restart */
};

/* One layer during a decode step, after the new token's K/V were appended and its
 * attention over the layer's cache ran (evictions shape the next steps). */
struct kv_decode_view {
	const struct kv_shape *shape;
	int layer;
	int step;                    /* 0 for the first decoded token */
	int32_t pos;                 /* position of the new token */
	const float *q;              /* (H*D) the new token's post-RoPE query */
	int n_cache_heads;           /* heads held by this layer's cache */
	const int *len;              /* (n_cache_heads,) entries per head */
	int stride;                  /* row stride of d->keep for this call (>= every len[h]) */
	const float *const *k;       /* (n_cache_heads,) -> (len[h], D) keys */
	const int32_t *const *cpos;  /* (n_cache_heads,) -> (len[h],) original positions */
};

/* One layer of the cache during a replay (kv_session_view.replay): the replayed tokens'
 * queries and keys, and the entries the layer held before the replay. All host memory,
 * borrowed for the duration of the callback. R = replayed tokens. */
struct kv_replay_layer {
	const struct kv_shape *shape;
	int layer;
	int n;                       /* R */
	const float *q;              /* (R, H*D) post-RoPE queries of the replayed tokens */
	const float *k;              /* (R, Hkv*D) their post-RoPE keys */
	int n_cache_heads;           /* heads held by this layer's cache */
	const int *len;              /* (n_cache_heads,) entries per head (the replay's own excluded) */
	const float *const *ck;      /* (n_cache_heads,) -> (len[h], D) cached keys */
	const int32_t *const *cpos;  /* (n_cache_heads,) -> (len[h],) their original positions */
};

/* The session after its prefill, as after_prefill sees it; borrowed for that call. */
struct kv_session_view {
	const struct kv_shape *shape;
	const struct tokenizer *tok;     /* the model's tokenizer, NULL for tokenizer-less models */
	const struct chat_format *chat;  /* the model's chat format (CHAT_NONE: no template) */
	const char *bos_text;            /* the BOS token's text, "" when none (chat_render_user's bos) */
	const int32_t *ids;              /* (N,) the prompt as prefilled */
	int n_ids;                       /* N */
	int32_t next_pos;                /* position the first replayed token takes */
	int stride;                      /* row stride of d[l].keep: >= every head's length */
	const int *n_cache_heads;        /* (L,) heads held per layer */
	const int *const *len;           /* (L,) -> (n_cache_heads[l],) entries per head (kept current across replays) */
	const int32_t *const *const *pos; /* (L,) -> (n_cache_heads[l],) -> (len,) original positions (kept current across replays) */
	/* Runs ids[0..n) at positions next_pos.. through the model, each attending to the whole
	 * cache and causally to the replayed tokens before it, and calls on_layer(ctx, ...)
	 * after each layer's keys exist; the replayed tokens are not kept in the cache. */
	int (*replay)(void *eng, const int32_t *ids, int n,
		      int (*on_layer)(void *ctx, const struct kv_replay_layer *l, char *err, size_t errlen), void *ctx,
		      char *err, size_t errlen);
	/* Results the step may share with the other members of a shared prefill whose caches
	 * hold the same entries (points that differ only in budget): memo_find returns the
	 * size-byte result another member stored under key (borrowed for this call) or NULL;
	 * memo_put stores a copy (0 or KV_ENOMEM). The key must name everything the result
	 * depends on besides the cache and the prompt (the method and its scoring flags); the
	 * engine adds the cache's identity. Without other members find returns NULL. */
	const void *(*memo_find)(void *eng, const char *key, size_t size);
	int (*memo_put)(void *eng, const char *key, const void *data, size_t size);
	void *eng;                       /* replay's and the memo's first argument */
};

struct kv_param_def; /* methods/params.h */

struct kv_method {
	const char *name;
	const char *summary;  /* one line for --help */
	/* required: parses key=value params (keys as the CLI flags without "--") and the
	 * model shape into a fresh state (*state owned by the method, freed by free_state).
	 * Unknown keys and out-of-range values are errors naming the flag. */
	int (*init)(const char *const *keys, const char *const *vals, int n, const struct kv_shape *shape,
		    void **state, char *err, size_t errlen);
	/* required: releases the state. */
	void (*free_state)(void *state);
	/* optional, NULL = keep everything: decisions for one prefill layer. */
	int (*prefill_layer)(void *state, const struct kv_layer_view *v, struct kv_decision *d, char *err, size_t errlen);
	/* optional, NULL = never evict: after a decode step appended to layer l and attended
	 * over it, returns in d->n_keep / d->keep (row stride v->stride) the entries to keep;
	 * leave keep_all true to keep everything. */
	int (*decode_layer)(void *state, const struct kv_decode_view *v, struct kv_decision *d, char *err, size_t errlen);
	/* optional: writes the resolved parameters as a JSON object (no spaces) into buf. */
	void (*describe)(const void *state, char *buf, size_t len);
	/* prompt-protocol needs (eval/prompt.c; FastKV's drivers force these per method): */
	int prompt_cap;       /* > 0: the prompt cap where a driver applies model2maxlen (h2o, pyramidinfer: 7950); 0 = the model's */
	bool gen_extra_token; /* where the driver says so (LongBench): max_gen + 1 tokens, the first unconditional, prediction stripped */
	/* required: NULL-terminated table of the parameters init takes (methods/params.h). */
	const struct kv_param_def *const *params;
	/* optional, NULL = nothing after the prefill: once the prefill has filled the cache,
	 * may replay tokens through it (v->replay: a second forward, KVzip's context
	 * reconstruction) and returns per layer in d[l] (d[l].keep rows index the layer's
	 * cache heads, row stride v->stride, ascending) the entries each head keeps; leave
	 * d[l].keep_all true to keep the layer. engine/reconstruct.c calls it. */
	int (*after_prefill)(void *state, const struct kv_session_view *v, struct kv_decision *d, char *err, size_t errlen);
};

/* A method instance: interface + opaque state. */
struct kv_policy {
	const struct kv_method *m;
	void *state;
};

/* Dispatch wrappers: the engine calls slots only through these (NULL slots = defaults). */
int kv_policy_prefill_layer(const struct kv_policy *p, const struct kv_layer_view *v, struct kv_decision *d,
			    char *err, size_t errlen);
int kv_policy_decode_layer(const struct kv_policy *p, const struct kv_decode_view *v, struct kv_decision *d,
			   char *err, size_t errlen);
int kv_policy_after_prefill(const struct kv_policy *p, const struct kv_session_view *v, struct kv_decision *d,
			    char *err, size_t errlen);
/* Does p have an after_prefill step (a second look at the filled cache)? */
bool kv_policy_has_after_prefill(const struct kv_policy *p);

// ----------------------------------------------------------------------------
// services the engine offers methods during prefill_layer, run by the view's backend
// (engine/backend.h: attn_probs, attn_colsum, qk_dots); outputs are host memory

/* Attention probabilities of view rows [row0, row0+n_rows) against all T keys, per
 * query head: out (H, n_rows, T). Scores q.k/sqrt(D) in fp32, softmax over all T
 * columns in fp32; rows i >= causal_from get the causal mask (key j > i masked), rows
 * before it are unmasked (H2O's faithful scoring). */
int kv_view_attn_probs(const struct kv_layer_view *v, int row0, int n_rows, int causal_from, float *out,
		       char *err, size_t errlen);
/* Adds to acc (H, ncols; caller's) the attention probabilities that rows [row0,
 * row0+n_rows) give keys [0, ncols), summed over the rows per query head; the
 * probabilities are kv_view_attn_probs' (same masks), each column summed in row order. */
int kv_view_attn_colsum(const struct kv_layer_view *v, int row0, int n_rows, int causal_from, int ncols, float *acc,
			char *err, size_t errlen);
/* Raw dot products q_row . k_j (no scale, no softmax) for every query head and key:
 * out (H, T). */
void kv_view_dots(const struct kv_layer_view *v, int row, float *out);
/* kv_view_dots with q_row and every k first rounded through IEEE fp16 (round to nearest
 * even, as torch's .half(); kv_round_fp16), the products summed in fp32 on the CPU
 * reference (GemFilter's official filter casts q and k to fp16). KV_ENOMEM names itself. */
int kv_view_dots_fp16(const struct kv_layer_view *v, int row, float *out, char *err, size_t errlen);
/* Copies n floats of the view's backend memory starting at src (v->q, v->k, v->v or a
 * row inside them) into host dst (caller's). */
void kv_view_download(const struct kv_layer_view *v, float *dst, const float *src, size_t n);
/* x rounded to the nearest IEEE half (ties to even; overflow to inf), back in fp32. */
float kv_round_fp16(float x);

#endif
