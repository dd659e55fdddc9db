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
	uint64_t key; /* tie order: ascending key, then ascending index */
};

/* Descending score, then the tie key, then ascending index (P3 when key == index). */
static int cmp_desc(const void *pa, const void *pb)
{
	const struct scored *a = pa, *b = pb;
	if (a->x > b->x)
		return -1;
	if (a->x < b->x)
		return 1;
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return (a->i > b->i) - (a->i < b->i);
}

static uint64_t splitmix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t sel_stream(int layer, int head, enum sel_cut_kind kind)
{
	return ((uint64_t)(uint32_t)layer << 40) ^ ((uint64_t)(uint32_t)head << 8) ^ (uint64_t)kind;
}

/* The tie key of candidate i under cut (base: the random rule's per-cut mix). */
static uint64_t tie_key(const struct sel_cut *cut, uint64_t base, int32_t i)
{
	enum kv_tie_rule r = cut && cut->tb ? cut->tb->rule : KV_TIE_LOWER;
	if (r == KV_TIE_HIGHER)
		return (uint64_t)(INT32_MAX - i);
	if (r == KV_TIE_RANDOM)
		return splitmix64(base + (uint64_t)i);
	return (uint64_t)i;
}

/* n_tied / n_kept of the cut idx[0..k) of x[0..n) (k >= 1). */
static struct kv_tie count_ties(const float *x, int n, const int32_t *idx, int k)
{
	float s = x[idx[k - 1]];
	struct kv_tie t = { 0, 0 };
	for (int j = 0; j < n; j++)
		t.n_tied += x[j] == s;
	for (int i = 0; i < k; i++)
		t.n_kept += x[idx[i]] == s;
	return t;
}

int sel_topk_cut(const float *x, int n, int k, int32_t *idx, const struct sel_cut *cut)
{
	if (cut && cut->tie)
		*cut->tie = (struct kv_tie){ 0, 0 };
	if (k <= 0 || n <= 0)
		return 0;
	if (k > n)
		k = n;
	uint64_t base = cut && cut->tb ? splitmix64(cut->tb->seed ^ splitmix64(cut->stream)) : 0;
	struct scored *all = malloc(sizeof(*all) * (size_t)n);
	if (!all) { /* no memory: O(n k) selection with the same order */
		for (int i = 0; i < k; i++) {
			int best = -1;
			struct scored bs = { 0 };
			for (int j = 0; j < n; j++) {
				bool used = false;
				for (int t = 0; t < i && !used; t++)
					used = idx[t] == j;
				struct scored c = { x[j], j, tie_key(cut, base, j) };
				if (!used && (best < 0 || cmp_desc(&c, &bs) < 0)) {
					best = j;
					bs = c;
				}
			}
			idx[i] = best;
		}
	} else {
		for (int i = 0; i < n; i++)
			all[i] = (struct scored){ x[i], i, tie_key(cut, base, i) };
		qsort(all, (size_t)n, sizeof(*all), cmp_desc);
		for (int i = 0; i < k; i++)
			idx[i] = all[i].i;
		free(all);
	}
	if (cut && cut->tie)
		*cut->tie = count_ties(x, n, idx, k);
	return k;
}

int sel_topk(const float *x, int n, int k, int32_t *idx)
{
	return sel_topk_cut(x, n, k, idx, NULL);
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

void sel_head_topk_window(struct kv_decision *d, int h, const float *score, int T, int C, int w,
			  const struct kv_tie_break *tb, int l)
{
	int32_t *rows = d->keep + (size_t)h * T;
	struct sel_cut cut = { tb, sel_stream(l, h, SEL_CUT_KV), d->keep_tie ? &d->keep_tie[h] : NULL };
	int nk = sel_topk_cut(score, T - w, C - w, rows, &cut);
	for (int i = 0; i < w; i++)
		rows[nk + i] = T - w + i;
	d->n_keep[h] = nk + w;
}

void sel_per_head_topk_window(struct kv_decision *d, float *scores, int H, int Hkv, int T, int C, int w, bool per_kv_head,
			      const struct kv_tie_break *tb, int l)
{
	int G = H / Hkv, np = T - w;
	d->keep_all = false;
	if (per_kv_head) {
		for (int kv = 0; kv < Hkv; kv++) {
			float *s = scores + (size_t)kv * G * np; /* sum the group into its first row */
			for (int g = 1; g < G; g++)
				for (int j = 0; j < np; j++)
					s[j] += s[(size_t)g * np + j];
			sel_head_topk_window(d, kv, s, T, C, w, tb, l);
		}
	} else {
		d->per_query_head = true;
		for (int h = 0; h < H; h++)
			sel_head_topk_window(d, h, scores + (size_t)h * np, T, C, w, tb, l);
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
