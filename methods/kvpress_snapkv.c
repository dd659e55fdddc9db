/* kvpress 0.5.5's SnapKVPress.score and ScorerPress budget, in fp32: see kvpress_snapkv.h.
 * Mirrors kvpress/presses/snapkv_press.py (score, compute_window_attention) and
 * kvpress/utils.py (compute_n_kept). */
#include "methods/kvpress_snapkv.h"

#include <math.h>
#include <stdlib.h>

#include "base/errors.h"
#include "methods/select.h"

const struct kv_param_def kvp_param_window_size = {
	.name = "window_size", .kind = KV_PARAM_INT, .offset = offsetof(struct kv_params, window_size),
	.lo = 1, .hi = 1 << 20, .def = 64, .metavar = "N",
	.help = "kvpress SnapKV observation window: the last N queries score the prefix and are always kept",
};
const struct kv_param_def kvp_param_kernel_size = {
	.name = "kernel_size", .kind = KV_PARAM_INT, .offset = offsetof(struct kv_params, kernel_size),
	.lo = 1, .hi = 1023, .flags = KV_PARAM_ODD, .def = 5, .metavar = "K",
	.help = "kvpress SnapKV avg-pooling kernel over the window scores, odd",
};

int kvp_snapkv_scores(const struct kv_layer_view *v, int w, int k, float *out, char *err, size_t errlen)
{
	int H = v->shape->n_head, Hkv = v->shape->n_head_kv, T = v->n, np = T - w, G = H / Hkv;
	if (w <= 0 || np <= 0)
		return kv_errf(err, errlen, KV_EINTERNAL, "kvpress snapkv: window %d leaves no prefix of %d rows", w, T);
	float *sum = calloc((size_t)H * np, sizeof(float)), *pooled = malloc(sizeof(float) * (size_t)np);
	int rc = 0;
	if (!sum || !pooled) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "kvpress snapkv: out of memory for window scores");
		goto out;
	}
	if ((rc = kv_view_attn_colsum(v, np, w, np, np, sum, err, errlen)))
		goto out;
	float top = -INFINITY;
	for (int kv = 0; kv < Hkv; kv++) {
		float *s = out + (size_t)kv * T;
		for (int j = 0; j < np; j++)
			s[j] = 0.0f;
		for (int g = 0; g < G; g++) {
			float *row = sum + (size_t)(kv * G + g) * np;
			for (int j = 0; j < np; j++)
				row[j] /= (float)w; /* attn_weights.mean(dim=-2) */
			sel_pool(row, pooled, np, k, KV_POOLING_AVG);
			for (int j = 0; j < np; j++)
				s[j] += pooled[j];
		}
		for (int j = 0; j < np; j++) {
			s[j] /= (float)G; /* scores.view(..., G, ...).mean(2) */
			top = s[j] > top ? s[j] : top;
		}
	}
	for (int kv = 0; kv < Hkv; kv++)
		for (int j = np; j < T; j++)
			out[(size_t)kv * T + j] = top + 1.0f; /* F.pad(value=scores.max().item() + 1) */
out:
	free(sum);
	free(pooled);
	return rc;
}

int kvp_n_kept(const struct kv_params *p, int T)
{
	if (p->eviction_mode == KV_EVICT_CONSTANT)
		return p->max_capacity_prompts < T ? p->max_capacity_prompts : T;
	int n = (int)floor((double)T * p->retain_rate);
	return n < 1 ? 1 : n;
}

void kvp_head_topk(struct kv_decision *d, int h, const float *score, int T, int k, const struct kv_params *p, int layer)
{
	struct sel_cut cut = { &p->ties, sel_stream(layer, h, SEL_CUT_KV), d->keep_tie ? &d->keep_tie[h] : NULL };
	d->n_keep[h] = sel_topk_cut(score, T, k, d->keep + (size_t)h * T, &cut);
}
