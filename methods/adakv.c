/* AdaKV (head-wise adaptive budgets) as kvpress 0.5.5 runs it: AdaKVPress wrapping
 * SnapKVPress (kvpress/presses/adakv_press.py). Scores are SnapKVPress's per KV head
 * (methods/kvpress_snapkv.c); each head first protects its top n_safe = int(n_kept *
 * alpha_safeguard) rows (at least 1 when alpha_safeguard > 0) by raising their score to
 * FLT_MAX, then one top-(Hkv * n_kept) over all heads' scores of the layer decides what
 * stays, so the heads of a layer keep different numbers of rows (their mean is n_kept).
 * kvpress masks the pruned keys at decode with a fake key (attention weight 0); kvlab
 * drops them from the cache, the same attention. Prefill only, as kvpress.
 * Budget: n_kept = max(1, floor(T * retain_rate)), kvpress's compute_n_kept with
 * compression_ratio = 1 - retain_rate; --eviction_mode constant: min(T, max_capacity_prompts). */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/errors.h"
#include "methods/kvpress_snapkv.h"
#include "methods/params.h"
#include "methods/registry.h"
#include "methods/select.h"

struct adakv_params {
	struct kv_params p;
	double alpha_safeguard; /* --alpha_safeguard [0, 1] (0.2) */
};

static const struct kv_param_def adakv_alpha = {
	.name = "alpha_safeguard", .kind = KV_PARAM_FLOAT, .offset = offsetof(struct adakv_params, alpha_safeguard),
	.lo = 0, .hi = 1, .def = 0.2, .metavar = "A",
	.help = "AdaKV: each head keeps at least int(A * n_kept) of its best rows (at least 1 when A > 0)",
};

/* In the order of the describe JSON. */
static const struct kv_param_def *const adakv_params[] = {
	&kv_param_eviction_mode, &kv_param_retain_rate, &kv_param_max_capacity_prompts, &kvp_param_window_size,
	&kvp_param_kernel_size, &adakv_alpha, &kv_param_tie_break, NULL,
};

static int adakv_init(const char *const *keys, const char *const *vals, int n, const struct kv_shape *shape,
		      void **state, char *err, size_t errlen)
{
	struct adakv_params *a = calloc(1, sizeof(*a));
	int rc;
	if (!a)
		return kv_errf(err, errlen, KV_ENOMEM, "adakv: out of memory");
	if ((rc = kv_params_parse(adakv_params, a, "adakv", keys, vals, n, shape, err, errlen))) {
		free(a);
		return rc;
	}
	*state = a;
	return 0;
}

/* Splits the layer's global top-k (flat indices into (Hkv, T)) into per-head rows and
 * records, per head, how the global cut met ties there. */
static void adakv_split(struct kv_decision *d, const float *s, const int32_t *flat, int nk, int Hkv, int T)
{
	float cut = s[flat[nk - 1]];
	for (int h = 0; h < Hkv; h++)
		d->n_keep[h] = 0;
	for (int i = 0; i < nk; i++) {
		int h = flat[i] / T;
		d->keep[(size_t)h * T + d->n_keep[h]++] = flat[i] % T;
	}
	for (int h = 0; d->keep_tie && h < Hkv; h++) {
		struct kv_tie t = { 0, 0 };
		for (int j = 0; j < T; j++)
			t.n_tied += s[(size_t)h * T + j] == cut;
		for (int i = 0; i < d->n_keep[h]; i++)
			t.n_kept += s[(size_t)h * T + d->keep[(size_t)h * T + i]] == cut;
		d->keep_tie[h] = t;
	}
}

static int adakv_prefill_layer(void *state, const struct kv_layer_view *v, struct kv_decision *d, char *err,
			       size_t errlen)
{
	const struct adakv_params *a = state;
	const struct kv_params *p = &a->p;
	int Hkv = v->shape->n_head_kv, T = v->n, w = p->window_size;
	int n_kept = kvp_n_kept(p, T);
	if (T <= w || n_kept >= T)
		return 0; /* kvpress asserts T > window; a budget of T keeps everything */
	int n_safe = (int)((double)n_kept * a->alpha_safeguard), rc;
	if (a->alpha_safeguard > 0 && n_safe < 1)
		n_safe = 1;
	float *s = malloc(sizeof(float) * (size_t)Hkv * T);
	int32_t *flat = malloc(sizeof(int32_t) * (size_t)Hkv * T);
	if (!s || !flat) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "adakv: out of memory");
		goto out;
	}
	if ((rc = kvp_snapkv_scores(v, w, p->kernel_size, s, err, errlen)))
		goto out;
	for (int h = 0; h < Hkv; h++) { /* the safeguard: scores.scatter_(topk(n_safe), finfo.max) */
		struct sel_cut cut = { &p->ties, sel_stream(v->layer, h, SEL_CUT_KV), NULL };
		int ns = sel_topk_cut(s + (size_t)h * T, T, n_safe, flat, &cut);
		for (int i = 0; i < ns; i++)
			s[(size_t)h * T + flat[i]] = FLT_MAX;
	}
	/* keeping the top Hkv * n_kept of all heads = pruning kvpress's bottom Hkv * (T - n_kept) */
	struct sel_cut cut = { &p->ties, sel_stream(v->layer, Hkv, SEL_CUT_KV), NULL };
	int nk = sel_topk_cut(s, Hkv * T, Hkv * n_kept, flat, &cut);
	d->keep_all = false;
	d->per_query_head = false;
	adakv_split(d, s, flat, nk, Hkv, T);
out:
	free(s);
	free(flat);
	return rc;
}

static void adakv_describe(const void *state, char *buf, size_t len)
{
	kv_params_json(adakv_params, state, "adakv", buf, len);
}

const struct kv_method adakv_method = {
	.name = "adakv",
	.summary = "kvpress AdaKV over SnapKV scores: one top-k across a layer's KV heads, so per-head budgets differ",
	.init = adakv_init,
	.free_state = free,
	.prefill_layer = adakv_prefill_layer,
	.describe = adakv_describe,
	.params = adakv_params,
};
