/* Forward a chunk through an existing cache: see extend.h. The same layer as the
 * prefill's (engine/forward.c: transformers' LlamaModel order) with the chunk's
 * attention running over the cache: its K/V are appended first, then query row t reads
 * each cache head up to its own entry (the cache's earlier entries, chunk rows 0..t), so
 * the chunk is causal and sees exactly what a decode step at its position would see.
 * n = chunk tokens, E = n_embd, H = n_head, Hkv = n_head_kv, D = head_dim, F = n_ff, V = n_vocab */
#include "engine/extend.h"

#include <stdlib.h>

#include "base/errors.h"    // kv_errf
#include "engine/backend.h" // bk_*, struct attn_kv_view
#include "engine/forward.h" // struct fwd_session, fwd_decode
#include "engine/kvcache.h" // kv_cache_append, kv_cache_entries
#include "engine/model.h"   // struct model

#define EXT_FFN_CHUNK 256 /* rows per feed-forward step: bounds the (chunk, F) buffers */

/* The chunk's buffers: backend memory for the activations, host for positions and views. */
struct chunk {
	float *buf;
	struct fwd_act a;     /* n rows, min(n, EXT_FFN_CHUNK) feed-forward rows */
	int32_t *pos;         /* (n,) host */
	struct attn_kv_view *views; /* (H,) host: one query row's view of each cache head */
};

static int chunk_alloc(const struct backend_ops *be, const struct model_config *c, int n, struct chunk *ch, char *err,
		       size_t errlen)
{
	size_t fc = n < EXT_FFN_CHUNK ? (size_t)n : EXT_FFN_CHUNK;
	ch->buf = bk_alloc(be, sizeof(float) * fwd_act_floats(c, n, fc));
	ch->pos = malloc(sizeof(int32_t) * (size_t)n);
	ch->views = malloc(sizeof(*ch->views) * (size_t)c->n_head);
	if (!ch->buf || !ch->pos || !ch->views)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory for a %d-token chunk", n);
	fwd_act_carve(ch->buf, c, n, fc, &ch->a);
	return 0;
}

static void chunk_free(const struct backend_ops *be, struct chunk *ch)
{
	bk_free(be, ch->buf);
	free(ch->pos);
	free(ch->views);
}

/* att (n, H*D): row t of q attends over layer l's cache up to the chunk's row t (already appended). */
static void chunk_attn(struct fwd_session *s, int l, struct chunk *ch, int n)
{
	const struct model_config *c = &s->m->cfg;
	const struct kv_layer *L = &s->cache->layers[l];
	int H = c->n_head, D = c->head_dim;
	for (int t = 0; t < n; t++) {
		for (int h = 0; h < L->n_head; h++) {
			ch->views[h] = kv_cache_head_view(s->cache, l, h, L->len[h] - (n - 1 - t));
		}
		bk_attn_cached(s->be, ch->a.att + (size_t)t * H * D, ch->a.q + (size_t)t * H * D, ch->views, L->n_head, H, D);
	}
}

/* The feed-forward block on n rows of xn into tmp, EXT_FFN_CHUNK rows at a time. */
static void chunk_ffn(const struct backend_ops *be, const struct model_config *c, const struct layer_weights *w,
		      struct chunk *ch, int n)
{
	int E = c->n_embd, F = c->n_ff;
	for (int t0 = 0; t0 < n; t0 += EXT_FFN_CHUNK) {
		int tc = n - t0 < EXT_FFN_CHUNK ? n - t0 : EXT_FFN_CHUNK;
		bk_matmul(be, ch->a.g, ch->a.xn + (size_t)t0 * E, w->w_gate, tc, E, F);
		bk_matmul(be, ch->a.u, ch->a.xn + (size_t)t0 * E, w->w_up, tc, E, F);
		bk_swiglu(be, ch->a.g, ch->a.u, tc, F);
		bk_matmul(be, ch->a.tmp + (size_t)t0 * E, ch->a.g, w->w_down, tc, F, E);
	}
}

/* The chunk through every layer, then the LM head on its last row into logits (host). */
static int chunk_forward(struct fwd_session *s, const int32_t *ids, int n, struct chunk *ch, float *logits, char *err,
			 size_t errlen)
{
	const struct model *m = s->m;
	const struct model_config *c = &m->cfg;
	const struct backend_ops *be = s->be;
	int E = c->n_embd, H = c->n_head, Hkv = c->n_head_kv, D = c->head_dim, V = c->n_vocab, rc;
	for (int t = 0; t < n; t++)
		ch->pos[t] = s->next_pos + t;
	bk_embed(be, ch->a.x, m->tok_embd, ids, n, E, V);
	for (int l = 0; l < c->n_layer; l++) {
		const struct layer_weights *w = &m->layers[l];
		bk_rmsnorm(be, ch->a.xn, ch->a.x, w->attn_norm, n, E, c->norm_eps);
		bk_matmul(be, ch->a.q, ch->a.xn, w->wq, n, E, H * D);
		bk_matmul(be, ch->a.k, ch->a.xn, w->wk, n, E, Hkv * D);
		bk_matmul(be, ch->a.v, ch->a.xn, w->wv, n, E, Hkv * D);
		bk_rope(be, ch->a.q, H * D, ch->pos, n, H, D, m->rope_inv_freq);
		bk_rope(be, ch->a.k, Hkv * D, ch->pos, n, Hkv, D, m->rope_inv_freq);
		if ((rc = kv_cache_append(s->cache, l, ch->a.k, ch->a.v, Hkv * D, ch->pos, n, Hkv, err, errlen)))
			return rc;
		chunk_attn(s, l, ch, n);
		bk_matmul(be, ch->a.tmp, ch->a.att, w->wo, n, H * D, E);
		bk_add(be, ch->a.x, ch->a.tmp, (size_t)n * E);
		bk_rmsnorm(be, ch->a.xn, ch->a.x, w->ffn_norm, n, E, c->norm_eps);
		chunk_ffn(be, c, w, ch, n);
		bk_add(be, ch->a.x, ch->a.tmp, (size_t)n * E);
	}
	bk_rmsnorm(be, ch->a.xn, ch->a.x + (size_t)(n - 1) * E, m->out_norm, 1, E, c->norm_eps);
	float *y = bk_host_memory(be) ? logits : bk_alloc(be, sizeof(float) * (size_t)V);
	if (!y)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory for logits");
	bk_matmul(be, y, ch->a.xn, m->output, 1, E, V);
	if (y != logits) {
		bk_download(be, logits, y, sizeof(float) * (size_t)V);
		bk_free(be, y);
	}
	return bk_check(be, err, errlen);
}

int fwd_extend(struct fwd_session *s, const int32_t *ids, int n, float *logits, char *err, size_t errlen)
{
	const struct model_config *c = &s->m->cfg;
	int rc;
	if (n <= 0)
		return kv_errf(err, errlen, KV_EINVAL, "extend needs at least one token");
	if (kv_cache_entries(s->cache, 0) == 0)
		return kv_errf(err, errlen, KV_EINVAL, "extend needs a prefilled session");
	for (int i = 0; i < n; i++)
		if (ids[i] < 0 || ids[i] >= c->n_vocab)
			return kv_errf(err, errlen, KV_EINVAL, "token id %d at index %d is outside the vocabulary (0..%d)", ids[i], i,
				       c->n_vocab - 1);
	if (s->pol.m && s->pol.m->decode_layer) { /* the policy tracks every entry it did not choose */
		for (int i = 0; i < n; i++)
			if ((rc = fwd_decode(s, ids[i], logits, err, errlen)))
				return rc;
		return 0;
	}
	struct chunk ch = { 0 };
	bk_set_threads(s->be, s->n_threads);
	if (!(rc = chunk_alloc(s->be, c, n, &ch, err, errlen)) && !(rc = chunk_forward(s, ids, n, &ch, logits, err, errlen)))
		s->next_pos += n;
	chunk_free(s->be, &ch);
	return rc;
}
