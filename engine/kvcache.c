/* KV cache storage: see kvcache.h. fp32 K/V moves go through the backend (bk_copy,
 * bk_gather); 16-bit caches are host memory, rounded on the way in (kv_convert_store). */
#include "engine/kvcache.h"

#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "base/hugemem.h"     // kv_huge_alloc
#include "engine/backend.h"    // bk_alloc, bk_free, bk_copy, bk_gather
#include "engine/kv_convert.h" // kv_convert_store, kv_convert_load

static void layer_free(const struct backend_ops *be, struct kv_layer *L)
{
	free(L->len);
	bk_free(be, L->k);
	bk_free(be, L->v);
	free(L->kh);
	free(L->vh);
	free(L->pos);
	memset(L, 0, sizeof(*L));
}

static int layer_alloc(const struct backend_ops *be, enum kv_dtype t, struct kv_layer *L, int n_head, int cap, int D)
{
	size_t n = (size_t)n_head * (cap > 0 ? cap : 1);
	memset(L, 0, sizeof(*L));
	L->n_head = n_head;
	L->cap = cap;
	L->len = calloc(n_head > 0 ? n_head : 1, sizeof(int));
	L->pos = malloc(n * sizeof(int32_t));
	bool ok = L->len && L->pos;
	if (t == KV_DTYPE_F32) {
		L->k = bk_alloc(be, n * D * sizeof(float));
		L->v = bk_alloc(be, n * D * sizeof(float));
		ok = ok && L->k && L->v;
	} else {
		L->kh = kv_huge_alloc(n * D * sizeof(uint16_t));
		L->vh = kv_huge_alloc(n * D * sizeof(uint16_t));
		ok = ok && L->kh && L->vh;
	}
	if (!ok) {
		layer_free(be, L);
		return KV_ENOMEM;
	}
	return 0;
}

int kv_cache_init(struct kv_cache **out, const struct backend_ops *be, int n_layer, const int *n_head, int n_head_default,
		  int cap, int head_dim, enum kv_dtype dtype, char *err, size_t errlen)
{
	if (!bk_supports_kv_dtype(be, dtype))
		return kv_errf(err, errlen, KV_EUNSUP, "--kv_dtype %s: backend %s keeps the KV cache in f32 only",
			       kv_dtype_name(dtype), be->name);
	struct kv_cache *c = calloc(1, sizeof(*c));
	if (!c || !(c->layers = calloc(n_layer, sizeof(*c->layers))))
		goto out_nomem;
	c->be = be;
	c->n_layer = n_layer;
	c->head_dim = head_dim;
	c->dtype = dtype;
	for (int l = 0; l < n_layer; l++)
		if (layer_alloc(be, dtype, &c->layers[l], n_head ? n_head[l] : n_head_default, cap, head_dim))
			goto out_nomem;
	*out = c;
	return 0;
out_nomem:
	kv_cache_free(c);
	return kv_errf(err, errlen, KV_ENOMEM, "out of memory for a KV cache of %d layers x %d entries", n_layer, cap);
}

void kv_cache_free(struct kv_cache *c)
{
	if (!c)
		return;
	if (c->layers)
		for (int l = 0; l < c->n_layer; l++)
			layer_free(c->be, &c->layers[l]);
	free(c->layers);
	free(c);
}

/* Grows layer L to at least need entries per head, keeping its contents. */
static int layer_grow(const struct kv_cache *c, struct kv_layer *L, int need)
{
	const struct backend_ops *be = c->be;
	int D = c->head_dim;
	int cap = L->cap > 0 ? L->cap : 16;
	while (cap < need)
		cap *= 2;
	struct kv_layer N;
	if (layer_alloc(be, c->dtype, &N, L->n_head, cap, D))
		return KV_ENOMEM;
	for (int h = 0; h < L->n_head; h++) {
		size_t n = (size_t)L->len[h] * D, dst = (size_t)h * cap * D, src = (size_t)h * L->cap * D;
		if (c->dtype == KV_DTYPE_F32) {
			bk_copy(be, N.k + dst, L->k + src, n * sizeof(float));
			bk_copy(be, N.v + dst, L->v + src, n * sizeof(float));
		} else {
			memcpy(N.kh + dst, L->kh + src, n * sizeof(uint16_t));
			memcpy(N.vh + dst, L->vh + src, n * sizeof(uint16_t));
		}
		memcpy(N.pos + (size_t)h * cap, L->pos + (size_t)h * L->cap, (size_t)L->len[h] * sizeof(int32_t));
		N.len[h] = L->len[h];
	}
	layer_free(be, L);
	*L = N;
	return 0;
}

int kv_cache_append(struct kv_cache *c, int l, const float *k, const float *v, int ld, const int32_t *pos, int T,
		    int n_head_kv, char *err, size_t errlen)
{
	struct kv_layer *L = &c->layers[l];
	int D = c->head_dim;
	int need = 0;
	for (int h = 0; h < L->n_head; h++)
		need = L->len[h] + T > need ? L->len[h] + T : need;
	if (need > L->cap && layer_grow(c, L, need))
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory growing the KV cache of layer %d to %d entries", l, need);
	for (int h = 0; h < L->n_head; h++) {
		int src = (int)((long)h * n_head_kv / L->n_head);
		size_t at = ((size_t)h * L->cap + L->len[h]) * D;
		for (int t = 0; t < T; t++) {
			const float *ks = k + (size_t)t * ld + (size_t)src * D, *vs = v + (size_t)t * ld + (size_t)src * D;
			if (c->dtype == KV_DTYPE_F32) {
				bk_copy(c->be, L->k + at + (size_t)t * D, ks, D * sizeof(float));
				bk_copy(c->be, L->v + at + (size_t)t * D, vs, D * sizeof(float));
			} else {
				kv_convert_store(L->kh + at + (size_t)t * D, ks, (size_t)D, c->dtype);
				kv_convert_store(L->vh + at + (size_t)t * D, vs, (size_t)D, c->dtype);
			}
		}
		memcpy(L->pos + (size_t)h * L->cap + L->len[h], pos, T * sizeof(int32_t));
		L->len[h] += T;
	}
	return 0;
}

int kv_cache_set_layer(struct kv_cache *c, int l, int n_head, const int *n_keep, const int32_t *rows, int stride,
		       const float *k, const float *v, int ld, const int32_t *pos, int T, int n_head_kv, int reserve,
		       char *err, size_t errlen)
{
	int D = c->head_dim;
	int mx = 0;
	for (int h = 0; h < n_head; h++) {
		int nk = rows ? n_keep[h] : T;
		if (nk < 0 || nk > T)
			return kv_errf(err, errlen, KV_EINTERNAL, "layer %d head %d: %d rows kept of %d", l, h, nk, T);
		for (int i = 0; rows && i < nk; i++)
			if (rows[(size_t)h * stride + i] < 0 || rows[(size_t)h * stride + i] >= T)
				return kv_errf(err, errlen, KV_EINTERNAL, "layer %d head %d: kept row %d outside 0..%d", l, h,
					       rows[(size_t)h * stride + i], T - 1);
		mx = nk > mx ? nk : mx;
	}
	struct kv_layer N;
	int32_t *ident = rows ? NULL : malloc(sizeof(int32_t) * (size_t)(T > 0 ? T : 1)); /* keep all: rows 0..T-1 */
	if ((!rows && !ident) || layer_alloc(c->be, c->dtype, &N, n_head, mx + (reserve > 0 ? reserve : 0), D)) {
		free(ident);
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory for the KV cache of layer %d", l);
	}
	for (int i = 0; !rows && i < T; i++)
		ident[i] = i;
	for (int h = 0; h < n_head; h++) {
		int src = (int)((long)h * n_head_kv / n_head);
		int nk = rows ? n_keep[h] : T;
		const int32_t *rh = rows ? rows + (size_t)h * stride : ident;
		if (c->dtype == KV_DTYPE_F32) {
			/* one gather per head and tensor (a device backend: one kernel, not nk copies) */
			bk_gather(c->be, N.k + (size_t)h * N.cap * D, D, k + (size_t)src * D, ld, rh, nk, D);
			bk_gather(c->be, N.v + (size_t)h * N.cap * D, D, v + (size_t)src * D, ld, rh, nk, D);
		} else {
			for (int i = 0; i < nk; i++) {
				size_t at = ((size_t)h * N.cap + i) * D, from = (size_t)rh[i] * ld + (size_t)src * D;
				kv_convert_store(N.kh + at, k + from, (size_t)D, c->dtype);
				kv_convert_store(N.vh + at, v + from, (size_t)D, c->dtype);
			}
		}
		for (int i = 0; i < nk; i++)
			N.pos[(size_t)h * N.cap + i] = pos[rh[i]];
		N.len[h] = nk;
	}
	free(ident);
	layer_free(c->be, &c->layers[l]);
	c->layers[l] = N;
	return 0;
}

int kv_cache_keep(struct kv_cache *c, int l, int h, const int32_t *rows, int n, char *err, size_t errlen)
{
	struct kv_layer *L = &c->layers[l];
	int D = c->head_dim, len = L->len[h];
	bool f32 = c->dtype == KV_DTYPE_F32;
	size_t esz = kv_dtype_size(c->dtype), row = esz * D;
	if (n < 0 || n > len)
		return kv_errf(err, errlen, KV_EINTERNAL, "layer %d head %d: keep %d of %d entries", l, h, n, len);
	size_t kv_bytes = row * (size_t)(n ? n : 1);
	/* (n, D) each: backend memory for f32, host memory for 16-bit caches */
	char *k = f32 ? bk_alloc(c->be, kv_bytes) : malloc(kv_bytes), *v = f32 ? bk_alloc(c->be, kv_bytes) : malloc(kv_bytes);
	int32_t *p = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
	char *hk = f32 ? (char *)L->k : (char *)L->kh, *hv = f32 ? (char *)L->v : (char *)L->vh;
	hk += (size_t)h * L->cap * row;
	hv += (size_t)h * L->cap * row;
	int32_t *hp = L->pos + (size_t)h * L->cap;
	int rc = 0;
	if (!k || !v || !p) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (rows[i] < 0 || rows[i] >= len) {
			rc = kv_errf(err, errlen, KV_EINTERNAL, "layer %d head %d: entry %d outside 0..%d", l, h, rows[i], len - 1);
			goto out;
		}
		if (f32) {
			bk_copy(c->be, k + i * row, hk + (size_t)rows[i] * row, row);
			bk_copy(c->be, v + i * row, hv + (size_t)rows[i] * row, row);
		} else {
			memcpy(k + i * row, hk + (size_t)rows[i] * row, row);
			memcpy(v + i * row, hv + (size_t)rows[i] * row, row);
		}
		p[i] = hp[rows[i]];
	}
	if (f32) {
		bk_copy(c->be, hk, k, (size_t)n * row);
		bk_copy(c->be, hv, v, (size_t)n * row);
	} else {
		memcpy(hk, k, (size_t)n * row);
		memcpy(hv, v, (size_t)n * row);
	}
	memcpy(hp, p, (size_t)n * sizeof(int32_t));
	L->len[h] = n;
out:
	if (f32) {
		bk_free(c->be, k);
		bk_free(c->be, v);
	} else {
		free(k);
		free(v);
	}
	free(p);
	return rc;
}

void kv_cache_read_head(const struct kv_cache *c, int l, int h, float *k, float *v)
{
	const struct kv_layer *L = &c->layers[l];
	size_t D = (size_t)c->head_dim, n = (size_t)L->len[h] * D, at = (size_t)h * L->cap * D;
	if (c->dtype == KV_DTYPE_F32) {
		bk_download(c->be, k, L->k + at, n * sizeof(float));
		if (v)
			bk_download(c->be, v, L->v + at, n * sizeof(float));
	} else {
		kv_convert_load(k, L->kh + at, n, c->dtype);
		if (v)
			kv_convert_load(v, L->vh + at, n, c->dtype);
	}
}

long kv_cache_entries(const struct kv_cache *c, int l)
{
	long n = 0;
	for (int h = 0; h < c->layers[l].n_head; h++)
		n += c->layers[l].len[h];
	return n;
}

size_t kv_cache_bytes(const struct kv_cache *c)
{
	size_t n = 0;
	for (int l = 0; l < c->n_layer; l++)
		n += (size_t)kv_cache_entries(c, l) * c->head_dim * 2 * kv_dtype_size(c->dtype);
	return n;
}

int kv_cache_truncate(struct kv_cache *c, int l, int h, int n, char *err, size_t errlen)
{
	struct kv_layer *L = &c->layers[l];
	if (n < 0 || n > L->len[h])
		return kv_errf(err, errlen, KV_EINTERNAL, "layer %d head %d: truncate to %d of %d entries", l, h, n, L->len[h]);
	L->len[h] = n;
	return 0;
}

struct attn_kv_view kv_cache_head_view(const struct kv_cache *c, int l, int h, int n)
{
	const struct kv_layer *L = &c->layers[l];
	size_t at = (size_t)h * L->cap * c->head_dim;
	struct attn_kv_view v = { .n = n, .ld = c->head_dim, .dtype = c->dtype };
	if (c->dtype == KV_DTYPE_F32) {
		v.k = L->k + at;
		v.v = L->v + at;
	} else {
		v.kh = L->kh + at;
		v.vh = L->vh + at;
	}
	return v;
}
