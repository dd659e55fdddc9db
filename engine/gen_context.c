/* Greedy generation on a compressed context: see gen_context.h. Mirrors kvpress's
 * KVPressTextGenerationPipeline (pipeline.py): the context alone goes through the
 * compressing prefill, each question (with what follows it) is forwarded over the
 * compressed cache without compression, answers are greedy, and the cache is restored
 * to the compressed context between questions. */
#include "engine/gen_context.h"

#include <stdlib.h>
#include <string.h>

#include "base/clock.h"     // kv_clock_s
#include "base/errors.h"    // kv_errf
#include "engine/after_memo.h"  // kv_after_memo_new
#include "engine/backend.h" // backend_cpu
#include "engine/extend.h"  // fwd_extend
#include "engine/forward.h" // fwd_session_*, fwd_prefill_shared, fwd_decode, fwd_trace_ties
#include "engine/reconstruct.h" // fwd_after_prefill
#include "engine/kvcache.h" // kv_cache_bytes, kv_cache_truncate
#include "engine/model.h"   // struct model

void gen_context_free(struct gen_context *c)
{
	if (!c)
		return;
	for (int i = 0; c->s && i < c->n; i++)
		fwd_session_free(c->s[i]);
	free(c->s);
	free(c->ids);
	free(c->len0);
	free(c->next_pos0);
	free(c->base);
	free(c);
}

/* Cache heads over all layers of session s (the stride of one member in len0 is the max over members). */
static int heads_of(const struct fwd_session *s)
{
	int n = 0;
	for (int l = 0; l < s->cache->n_layer; l++)
		n += s->cache->layers[l].n_head;
	return n;
}

/* Records member i's cache lengths after the context prefill into c->len0 (stride per member). */
static void snapshot(struct gen_context *c, int i, int stride)
{
	const struct kv_cache *kc = c->s[i]->cache;
	int *at = c->len0 + (size_t)i * stride;
	for (int l = 0; l < kc->n_layer; l++)
		for (int h = 0; h < kc->layers[l].n_head; h++)
			*at++ = kc->layers[l].len[h];
	c->next_pos0[i] = c->s[i]->next_pos;
}

/* Rewinds member i's cache and positions to the compressed context. */
static int rewind_member(struct gen_context *c, int i, int stride, char *err, size_t errlen)
{
	struct fwd_session *s = c->s[i];
	const int *at = c->len0 + (size_t)i * stride;
	int rc;
	for (int l = 0; l < s->cache->n_layer; l++)
		for (int h = 0; h < s->cache->layers[l].n_head; h++)
			if ((rc = kv_cache_truncate(s->cache, l, h, *at++, err, errlen)))
				return rc;
	s->next_pos = c->next_pos0[i];
	s->decode_step = 0;
	return 0;
}

/* The widest member's cache heads over all layers: the stride of len0. */
static int len0_stride(const struct gen_context *c)
{
	int w = 0;
	for (int i = 0; i < c->n; i++)
		w = heads_of(c->s[i]) > w ? heads_of(c->s[i]) : w;
	return w;
}

int gen_context_prefill(const struct model *m, const int32_t *ids, int n_ids, const struct gen_opts *const *o, int n_o,
			struct gen_context **out, char *err, size_t errlen)
{
	int rc;
	if (n_o < 1)
		return kv_errf(err, errlen, KV_EINVAL, "generation needs at least one option set");
	struct gen_context *c = calloc(1, sizeof(*c));
	float *logits = malloc(sizeof(float) * (size_t)m->cfg.n_vocab);
	if (!c || !logits) {
		free(logits);
		free(c);
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory for a compressed context");
	}
	c->m = m;
	c->n = n_o;
	c->n_ids = n_ids;
	c->reusable = true;
	c->s = calloc((size_t)n_o, sizeof(*c->s));
	c->ids = malloc(sizeof(int32_t) * (size_t)(n_ids > 0 ? n_ids : 1));
	c->next_pos0 = calloc((size_t)n_o, sizeof(int32_t));
	c->base = calloc((size_t)n_o, sizeof(*c->base));
	if (!c->s || !c->ids || !c->next_pos0 || !c->base) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory for a compressed context");
		goto out_fail;
	}
	if (n_ids > 0)
		memcpy(c->ids, ids, sizeof(int32_t) * (size_t)n_ids);
	for (int i = 0; i < n_o; i++) {
		const struct backend_ops *be = o[i]->backend ? o[i]->backend : &backend_cpu;
		if ((rc = fwd_session_init_on(be, m, o[i]->policy, o[i]->max_new_tokens, o[0]->n_threads, &c->s[i], err, errlen)) ||
		    (rc = fwd_session_set_kv_dtype(c->s[i], o[i]->kv_dtype, err, errlen)))
			goto out_fail;
		if (o[i]->policy && o[i]->policy->m && o[i]->policy->m->decode_layer)
			c->reusable = false;
	}
	double t0 = kv_clock_s();
	if ((rc = fwd_prefill_shared(c->s, n_o, ids, n_ids, false, logits, err, errlen)))
		goto out_fail;
	double dt = kv_clock_s() - t0;
	/* a second look at the filled cache (KVzip) compresses the context too; members on the
	 * same entries share what the step computes (a lone member has no one to share with) */
	struct kv_after_memo *memo = n_o > 1 ? kv_after_memo_new() : NULL;
	if (n_o > 1 && !memo) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory for a compressed context");
		goto out_fail;
	}
	for (int i = 0; i < n_o && !rc; i++)
		rc = fwd_after_prefill(c->s[i], ids, n_ids, memo, &c->base[i].recon_s, err, errlen);
	kv_after_memo_free(memo);
	if (rc)
		goto out_fail;
	int stride = len0_stride(c);
	if (!(c->len0 = malloc(sizeof(int) * (size_t)stride * (size_t)n_o))) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory for a compressed context");
		goto out_fail;
	}
	for (int i = 0; i < n_o; i++) {
		struct gen_stats *b = &c->base[i];
		b->n_prompt = n_ids;
		b->prefill_s = dt + b->recon_s;
		b->kv_bytes_prefill = kv_cache_bytes(c->s[i]->cache);
		fwd_trace_ties(&c->s[i]->trace, &b->ties_kv, &b->ties_prop, &b->ties_restart);
		snapshot(c, i, stride);
		if (o[i]->on_prefill)
			o[i]->on_prefill(o[i]->ctx, c->s[i]);
	}
	free(logits);
	*out = c;
	return 0;
out_fail:
	free(logits);
	gen_context_free(c);
	return rc;
}

bool gen_context_matches(const struct gen_context *c, const int32_t *ids, int n_ids)
{
	return c && c->reusable && c->n_ids == n_ids && !memcmp(c->ids, ids, sizeof(int32_t) * (size_t)n_ids);
}

/* Member i answers q into *ids (n ids), timing into *st. */
static int answer_member(struct gen_context *c, int i, const int32_t *q, int n_q, const struct gen_opts *o, float *logits,
			 int32_t *ids, int *n, struct gen_stats *st, char *err, size_t errlen)
{
	const struct model *m = c->m;
	struct fwd_session *s = c->s[i];
	int rc;
	*st = c->base[i];
	st->n_prompt = c->n_ids + n_q;
	st->prefill_s = c->n_answered == 0 ? c->base[i].prefill_s : 0.0;
	st->recon_s = c->n_answered == 0 ? c->base[i].recon_s : 0.0; /* KVzip's reconstruction, paid with the context */
	*n = 0;
	if (o->max_new_tokens == 0)
		return 0;
	double t0 = kv_clock_s();
	if ((rc = fwd_extend(s, q, n_q, logits, err, errlen)))
		return rc;
	ids[(*n)++] = gen_first_token(m, o, logits);
	double t1 = kv_clock_s();
	st->prefill_s += t1 - t0;
	while (*n < o->max_new_tokens && !gen_is_stop(m, o, ids[*n - 1])) {
		if ((rc = fwd_decode(s, ids[*n - 1], logits, err, errlen)))
			return rc;
		ids[(*n)++] = gen_argmax(logits, m->cfg.n_vocab);
	}
	st->decode_s = kv_clock_s() - t1;
	st->n_generated = *n;
	return 0;
}

int gen_context_answer(struct gen_context *c, const int32_t *q, int n_q, const struct gen_opts *const *o, int n_o,
		       int32_t **out, int *n_out, struct gen_stats *st, char *err, size_t errlen)
{
	int rc = 0;
	if (n_o != c->n)
		return kv_errf(err, errlen, KV_EINVAL, "a compressed context of %d members asked for %d answers", c->n, n_o);
	if (c->n_answered > 0 && !c->reusable)
		return kv_errf(err, errlen, KV_EINVAL, "this compressed context answers one question (a policy evicts during decode)");
	if (n_q <= 0)
		return kv_errf(err, errlen, KV_EINVAL, "a question needs at least one token");
	if ((rc = gen_check_max_new(o, n_o, err, errlen)))
		return rc;
	int32_t **ids = calloc((size_t)n_o, sizeof(*ids));
	int *n = calloc((size_t)n_o, sizeof(int));
	struct gen_stats *stats = calloc((size_t)n_o, sizeof(*stats));
	float *logits = malloc(sizeof(float) * (size_t)c->m->cfg.n_vocab);
	int stride = len0_stride(c);
	if (!ids || !n || !stats || !logits) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory for generation");
		goto out_free;
	}
	for (int i = 0; i < n_o && !rc; i++) {
		if (!(ids[i] = malloc(sizeof(int32_t) * (size_t)(o[i]->max_new_tokens + 1))))
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory for generation");
		else if (c->n_answered == 0 || !(rc = rewind_member(c, i, stride, err, errlen)))
			rc = answer_member(c, i, q, n_q, o[i], logits, ids[i], &n[i], &stats[i], err, errlen);
	}
	if (rc) {
		c->reusable = false; /* a cache left half-extended */
		goto out_free;
	}
	c->n_answered++;
	gen_hand_over(n_o, ids, n, stats, out, n_out, st);
out_free:
	for (int i = 0; ids && i < n_o; i++)
		free(ids[i]);
	free(ids);
	free(n);
	free(stats);
	free(logits);
	return rc;
}
