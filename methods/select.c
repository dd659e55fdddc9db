/* Selection primitives: see select.h. Mirrors the shared steps of FastKV's and
 * SnapKV's update_kv() as spec/methods.md section 1 describes them, in fp32. */
#include "methods/select.h"

#include <stdlib.h>
#include <string.h>

#include "base/errors.h"

int sel_window_scores(const struct kv_layer_view *v, int w, int k, enum kv_pooling pool, float *out,
		      char *err, size_t errlen)
{
	int H = v->shape->n_head, T = v->n, np = T - w;
	if (w <= 0 || np <= 0)
		return kv_errf(err, errlen, KV_EINTERNAL, "window %d leaves no prefix of %d rows", w, T);
	float *sum = calloc((size_t)H * np, sizeof(float));
	int rc = 0;
	if (!sum)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory for window scores");
	if ((rc = kv_view_attn_colsum(v, np, w, np, np, sum, err, errlen)))
		goto out;
	for (int h = 0; h < H; h++)
		sel_pool(sum + (size_t)h * np, out + (size_t)h * np, np, k, pool);
out:
	free(sum);
	return rc;
}

void sel_pool(const float *x, float *y, int n, int k, enum kv_pooling pool)
{
	int r = k / 2;
	for (int j = 0; j < n; j++) {
		int a = j - r < 0 ? 0 : j - r, b = j + r >= n ? n - 1 : j + r;
		if (pool == KV_POOLING_MAX) {
			float m = x[a];
			for (int i = a + 1; i <= b; i++)
				m = x[i] > m ? x[i] : m;
			y[j] = m;
		} else {
			float s = 0.0f;
			for (int i = a; i <= b; i++)
				s += x[i];
			y[j] = s / (float)k;
		}
	}
}

struct scored {
	float x;
	int32_t i;
};

/* Descending score, then ascending index (P3). */
static int cmp_desc(const void *pa, const void *pb)
{
	const struct scored *a = pa, *b = pb;
	if (a->x > b->x)
		return -1;
	if (a->x < b->x)
		return 1;
	return (a->i > b->i) - (a->i < b->i);
}

int sel_topk(const float *x, int n, int k, int32_t *idx)
{
	if (k <= 0 || n <= 0)
		return 0;
	if (k > n)
		k = n;
	struct scored *all = malloc(sizeof(*all) * (size_t)n);
	if (!all) { /* no memory: O(n k) selection with the same order */
		for (int i = 0; i < k; i++) {
			int best = -1;
			for (int j = 0; j < n; j++) {
				bool used = false;
				for (int t = 0; t < i && !used; t++)
					used = idx[t] == j;
				if (!used && (best < 0 || x[j] > x[best]))
					best = j;
			}
			idx[i] = best;
		}
		return k;
	}
	for (int i = 0; i < n; i++)
		all[i] = (struct scored){ x[i], i };
	qsort(all, (size_t)n, sizeof(*all), cmp_desc);
	for (int i = 0; i < k; i++)
		idx[i] = all[i].i;
	free(all);
	return k;
}

static int cmp_i32(const void *pa, const void *pb)
{
	int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
	return (a > b) - (a < b);
}

void sel_sort(int32_t *idx, int n)
{
	qsort(idx, (size_t)n, sizeof(int32_t), cmp_i32);
}

void sel_head_topk_window(struct kv_decision *d, int h, const float *score, int T, int C, int w)
{
	int32_t *rows = d->keep + (size_t)h * T;
	int nk = sel_topk(score, T - w, C - w, rows);
	for (int i = 0; i < w; i++)
		rows[nk + i] = T - w + i;
	d->n_keep[h] = nk + w;
}

void sel_per_head_topk_window(struct kv_decision *d, float *scores, int H, int Hkv, int T, int C, int w, bool per_kv_head)
{
	int G = H / Hkv, np = T - w;
	d->keep_all = false;
	if (per_kv_head) {
		for (int kv = 0; kv < Hkv; kv++) {
			float *s = scores + (size_t)kv * G * np; /* sum the group into its first row */
			for (int g = 1; g < G; g++)
				for (int j = 0; j < np; j++)
					s[j] += s[(size_t)g * np + j];
			sel_head_topk_window(d, kv, s, T, C, w);
		}
	} else {
		d->per_query_head = true;
		for (int h = 0; h < H; h++)
			sel_head_topk_window(d, h, scores + (size_t)h * np, T, C, w);
	}
}

void sel_keep_all_per_query_head(struct kv_decision *d, int H, int T)
{
	d->keep_all = false;
	d->per_query_head = true;
	for (int h = 0; h < H; h++) {
		for (int i = 0; i < T; i++)
			d->keep[(size_t)h * T + i] = i;
		d->n_keep[h] = T;
	}
}
