/* After-prefill step: builds the session view a method's after_prefill reads, runs it,
 * checks its decisions and cuts the cache to them (kv_cache_keep per head).
 * L = n_layer, H = n_head, C = the longest head's length. */
#include "engine/reconstruct.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"       // kv_clock_s
#include "base/errors.h"      // kv_errf
#include "base/sha256.h"      // sha256_hex
#include "engine/after_memo.h" // kv_after_memo_find, kv_after_memo_put
#include "engine/forward.h"   // struct fwd_session, fwd_replay
#include "engine/kv_method.h" // struct kv_session_view, kv_policy_after_prefill
#include "engine/kvcache.h"   // struct kv_cache, kv_cache_keep
#include "engine/model.h"     // struct model: tok, chat
#include "engine/tokenizer.h" // tok_bos, tok_piece

/* The session behind a kv_session_view, the length and position pointers it lends and
 * the memo it shares with the other members of its prefill. */
struct after_ctx {
	struct fwd_session *s;
	const int **len;      /* (L,) -> each layer's lengths per head */
	const int32_t **posv; /* (L, H) -> each head's positions in the cache */
	struct kv_after_memo *memo; /* NULL: no other members */
	char cache_id[65];    /* digest of the cache's entries when the step began (memo keys) */
	double t0;            /* when the step began */
	double credit;        /* seconds other members spent making the results this one found */
};

/* Points ac's arrays at the cache's (a replay moves them when it grows a layer). */
static void point_cache(struct after_ctx *ac)
{
	const struct kv_cache *c = ac->s->cache;
	int H = ac->s->shape.n_head;
	for (int l = 0; l < c->n_layer; l++) {
		ac->len[l] = c->layers[l].len;
		for (int h = 0; h < c->layers[l].n_head; h++)
			ac->posv[(size_t)l * H + h] = c->layers[l].pos + (size_t)h * c->layers[l].cap;
	}
}

static int replay(void *eng, const int32_t *ids, int n,
		  int (*on_layer)(void *ctx, const struct kv_replay_layer *l, char *err, size_t errlen), void *ctx,
		  char *err, size_t errlen)
{
	struct after_ctx *ac = eng;
	int rc = fwd_replay(ac->s, ids, n, on_layer, ctx, err, errlen);
	point_cache(ac);
	return rc;
}

/* Digests what identifies the cache among the members of one shared prefill (the same
 * forward): the element type, the next position and every head's positions. */
static int cache_digest(const struct fwd_session *s, char hex[65])
{
	const struct kv_cache *c = s->cache;
	size_t n = 3;
	for (int l = 0; l < c->n_layer; l++) {
		n += 1;
		for (int h = 0; h < c->layers[l].n_head; h++)
			n += 1 + (size_t)c->layers[l].len[h];
	}
	int32_t *buf = malloc(sizeof(int32_t) * n), *p = buf;
	if (!buf)
		return KV_ENOMEM;
	*p++ = (int32_t)c->dtype;
	*p++ = s->next_pos;
	*p++ = c->n_layer;
	for (int l = 0; l < c->n_layer; l++) {
		const struct kv_layer *L = &c->layers[l];
		*p++ = L->n_head;
		for (int h = 0; h < L->n_head; h++) {
			*p++ = L->len[h];
			memcpy(p, L->pos + (size_t)h * L->cap, sizeof(int32_t) * (size_t)L->len[h]);
			p += L->len[h];
		}
	}
	sha256_hex(buf, sizeof(int32_t) * n, hex);
	free(buf);
	return 0;
}

/* The memo's full key: the cache's digest, then the method's key; NULL when out of memory
 * (malloc'd, the caller frees). */
static char *memo_key(const struct after_ctx *ac, const char *key)
{
	size_t n = strlen(ac->cache_id) + 1 + strlen(key) + 1;
	char *k = malloc(n);
	if (k)
		snprintf(k, n, "%s:%s", ac->cache_id, key);
	return k;
}

static const void *memo_find(void *eng, const char *key, size_t size)
{
	struct after_ctx *ac = eng;
	if (!ac->memo)
		return NULL;
	char *k = memo_key(ac, key);
	double secs = 0;
	const void *r = k ? kv_after_memo_find(ac->memo, k, size, &secs) : NULL;
	if (r)
		ac->credit += secs;
	free(k);
	return r;
}

static int memo_put(void *eng, const char *key, const void *data, size_t size)
{
	struct after_ctx *ac = eng;
	if (!ac->memo)
		return 0;
	char *k = memo_key(ac, key);
	int rc = k ? kv_after_memo_put(ac->memo, k, data, size, kv_clock_s() - ac->t0) : KV_ENOMEM;
	free(k);
	return rc;
}

/* Checks layer l's decision d against the cache (rows strictly ascending inside each
 * head) and applies it; records its ties in the trace. */
static int apply_layer(struct fwd_session *s, int l, const struct kv_decision *d, int stride, char *err, size_t errlen)
{
	const struct kv_layer *L = &s->cache->layers[l];
	const char *name = s->pol.m->name;
	int rc;
	if (d->keep_all)
		return 0;
	for (int h = 0; h < L->n_head; h++) {
		const int32_t *rows = d->keep + (size_t)h * stride;
		if (d->n_keep[h] < 0 || d->n_keep[h] > L->len[h])
			return kv_errf(err, errlen, KV_EINTERNAL, "method %s: layer %d head %d keeps %d of %d entries", name, l, h,
				       d->n_keep[h], L->len[h]);
		for (int i = 0; i < d->n_keep[h]; i++)
			if (rows[i] < 0 || rows[i] >= L->len[h] || (i && rows[i] <= rows[i - 1]))
				return kv_errf(err, errlen, KV_EINTERNAL,
					       "method %s: layer %d head %d: kept entries must be strictly ascending in 0..%d", name, l,
					       h, L->len[h] - 1);
	}
	for (int h = 0; h < L->n_head; h++)
		if ((rc = kv_cache_keep(s->cache, l, h, d->keep + (size_t)h * stride, d->n_keep[h], err, errlen)))
			return rc;
	struct kv_tie *tt = s->trace.kv_tie + (size_t)l * s->trace.tie_heads;
	for (int h = 0; h < s->trace.tie_heads; h++)
		tt[h] = h < L->n_head && d->keep_tie ? d->keep_tie[h] : (struct kv_tie){ 0, 0 };
	return 0;
}

int fwd_after_prefill(struct fwd_session *s, const int32_t *ids, int n, struct kv_after_memo *memo, double *secs,
		      char *err, size_t errlen)
{
	double t0 = kv_clock_s();
	if (secs)
		*secs = 0;
	if (!kv_policy_has_after_prefill(&s->pol))
		return 0;
	const struct kv_cache *c = s->cache;
	int nL = c->n_layer, H = s->shape.n_head, stride = 1, rc;
	for (int l = 0; l < nL; l++)
		for (int h = 0; h < c->layers[l].n_head; h++)
			stride = c->layers[l].len[h] > stride ? c->layers[l].len[h] : stride;
	int *n_heads = malloc(sizeof(int) * (size_t)nL);
	const int **len = malloc(sizeof(*len) * (size_t)nL);
	const int32_t **posv = malloc(sizeof(*posv) * (size_t)nL * H);
	const int32_t *const **pos = malloc(sizeof(*pos) * (size_t)nL);
	struct kv_decision *d = calloc((size_t)nL, sizeof(*d));
	int *n_keep = malloc(sizeof(int) * (size_t)nL * H);
	int32_t *keep = malloc(sizeof(int32_t) * (size_t)nL * H * stride);
	struct kv_tie *ties = calloc((size_t)nL * H, sizeof(*ties));
	if (!n_heads || !len || !posv || !pos || !d || !n_keep || !keep || !ties) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory for the step after the prefill");
		goto out;
	}
	for (int l = 0; l < nL; l++) {
		const struct kv_layer *L = &c->layers[l];
		n_heads[l] = L->n_head;
		pos[l] = posv + (size_t)l * H;
		d[l] = (struct kv_decision){ .keep_all = true, .per_query_head = L->n_head == H && H != s->shape.n_head_kv,
					     .n_cache_heads = L->n_head, .n_keep = n_keep + (size_t)l * H,
					     .keep = keep + (size_t)l * H * stride, .keep_tie = ties + (size_t)l * H };
	}
	struct after_ctx ac = { .s = s, .len = len, .posv = posv, .memo = memo, .t0 = t0 };
	if (memo && (rc = cache_digest(s, ac.cache_id))) {
		rc = kv_errf(err, errlen, rc, "out of memory for the step after the prefill");
		goto out;
	}
	point_cache(&ac);
	const struct model *m = s->m;
	int bos = m->tok ? tok_bos(m->tok) : -1;
	struct kv_session_view v = { .shape = &s->shape, .tok = m->tok, .chat = &m->chat,
				     .bos_text = bos >= 0 ? tok_piece(m->tok, bos) : "", .ids = ids, .n_ids = n,
				     .next_pos = s->next_pos, .stride = stride, .n_cache_heads = n_heads, .len = len,
				     .pos = pos, .replay = replay, .memo_find = memo_find, .memo_put = memo_put, .eng = &ac };
	if ((rc = kv_policy_after_prefill(&s->pol, &v, d, err, errlen)))
		goto out;
	for (int l = 0; l < nL; l++)
		if ((rc = apply_layer(s, l, &d[l], stride, err, errlen)))
			goto out;
	if (secs)
		*secs = kv_clock_s() - t0 + ac.credit;
out:
	free(n_heads);
	free(len);
	free(posv);
	free(pos);
	free(d);
	free(n_keep);
	free(keep);
	free(ties);
	return rc;
}
