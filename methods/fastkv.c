/* FastKV: per-layer KV selection from pooled observation-window scores with GQA
 * sums, plus Token-Selective Propagation at one layer. Mirrors FastKVCluster.update_kv
 * and the TSP gather of the official code (spec/methods.md section 3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "methods/params.h"
#include "methods/registry.h"
#include "methods/select.h"

static const char *const fastkv_keys[] = { "eviction_mode", "retain_rate", "max_capacity_prompts", "window_size",
					   "kernel_size", "pooling", "tsp_idx", "tsp_rate", "tsp_len", NULL };

static int fastkv_init(const char *const *keys, const char *const *vals, int n, const struct kv_shape *shape,
		       void **state, char *err, size_t errlen)
{
	int rc = kv_pstate_new(keys, vals, n, shape, state, err, errlen);
	if (!rc && ((rc = kv_params_check_window(&((struct kv_pstate *)*state)->p, "fastkv", err, errlen)) ||
		    (rc = kv_params_check_layer(&((struct kv_pstate *)*state)->p, "tsp_idx", shape, err, errlen)))) {
		free(*state);
		*state = NULL;
	}
	return rc;
}

static int fastkv_prefill_layer(void *state, const struct kv_layer_view *v, struct kv_decision *d, char *err, size_t errlen)
{
	const struct kv_params *p = &((struct kv_pstate *)state)->p;
	int H = v->shape->n_head, Hkv = v->shape->n_head_kv, G = H / Hkv, T = v->n, w = p->window_size;
	double rate = v->layer <= p->tsp_idx ? p->retain_rate : p->retain_rate / p->tsp_rate; /* 3.1 */
	int C = kv_budget(p, T, rate, p->max_capacity_prompts);
	if (T < C || C <= w) /* 3.2 step 2; A10: a budget within the window keeps everything */
		return 0;
	int np = T - w, rc;
	float *pooled = malloc(sizeof(float) * (size_t)H * np);
	float *agg = calloc((size_t)Hkv * np, sizeof(float));
	if (!pooled || !agg) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "fastkv: out of memory");
		goto out;
	}
	if ((rc = sel_window_scores(v, w, p->kernel_size, p->pooling, pooled, err, errlen)))
		goto out;
	for (int h = 0; h < H; h++) /* P4: pool each query head, then sum its group */
		for (int j = 0; j < np; j++)
			agg[(size_t)(h / G) * np + j] += pooled[(size_t)h * np + j];
	d->keep_all = false;
	d->per_query_head = false;
	for (int kv = 0; kv < Hkv; kv++)
		sel_head_topk_window(d, kv, agg + (size_t)kv * np, T, C, w);

	if (v->layer == p->tsp_idx && v->pass == 0) { /* 3.2 step 6 */
		int tl = p->eviction_mode == KV_EVICT_PROPORTIONAL ? kv_budget(p, T, p->tsp_rate, 0) : p->tsp_len;
		if (T > tl && tl > w) {
			float *tot = pooled; /* reuse: (np,) sum over all KV heads = all query heads */
			for (int j = 0; j < np; j++) {
				float s = 0.0f;
				for (int kv = 0; kv < Hkv; kv++)
					s += agg[(size_t)kv * np + j];
				tot[j] = s;
			}
			int nk = sel_topk(tot, np, tl - w, d->prop);
			for (int i = 0; i < w; i++)
				d->prop[nk + i] = np + i;
			sel_sort(d->prop, nk + w);
			d->n_prop = nk + w;
		}
	}
	rc = 0;
out:
	free(pooled);
	free(agg);
	return rc;
}

static void fastkv_describe(const void *state, char *buf, size_t len)
{
	kv_params_json(&((const struct kv_pstate *)state)->p, "fastkv", fastkv_keys, buf, len);
}

const struct kv_method fastkv_method = {
	.name = "fastkv",
	.summary = "pooled window scores summed per KV head select each layer's KV; TSP propagates the top tokens after --tsp_idx",
	.init = fastkv_init,
	.free_state = free,
	.prefill_layer = fastkv_prefill_layer,
	.describe = fastkv_describe,
};
