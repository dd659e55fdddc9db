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

struct fastkv_params {
	struct kv_params p;
	int tsp_idx;      /* --tsp_idx 0..L-1 (15) */
	double tsp_rate;  /* --tsp_rate (0, 1] (0.2) */
	int tsp_len;      /* --tsp_len >= 1 (2048) */
};

static const struct kv_param_def tsp_idx = {
	.name = "tsp_idx", .kind = KV_PARAM_INT, .offset = offsetof(struct fastkv_params, tsp_idx),
	.lo = 0, .hi = 1023, .flags = KV_PARAM_LAYER, .def = 15, .metavar = "L",
	.help = "FastKV: 0-based Token-Selective Propagation layer",
};
static const struct kv_param_def tsp_rate = {
	.name = "tsp_rate", .kind = KV_PARAM_FLOAT, .offset = offsetof(struct fastkv_params, tsp_rate),
	.lo = 0, .hi = 1, .lo_open = true, .flags = KV_PARAM_PROPORTIONAL, .def = 0.2, .metavar = "R",
	.help = "FastKV proportional: fraction of the prompt propagated after TSP",
};
static const struct kv_param_def tsp_len = {
	.name = "tsp_len", .kind = KV_PARAM_INT, .offset = offsetof(struct fastkv_params, tsp_len),
	.lo = 1, .hi = 1 << 30, .flags = KV_PARAM_CONSTANT, .def = 2048, .metavar = "N",
	.help = "FastKV constant: tokens propagated after TSP",
};

/* In the order of the describe JSON. */
static const struct kv_param_def *const fastkv_params[] = {
	&kv_param_eviction_mode, &kv_param_retain_rate, &kv_param_max_capacity_prompts, &kv_param_window_size,
	&kv_param_kernel_size, &kv_param_pooling, &tsp_idx, &tsp_rate, &tsp_len, &kv_param_tie_break, NULL,
};

static int fastkv_init(const char *const *keys, const char *const *vals, int n, const struct kv_shape *shape,
		       void **state, char *err, size_t errlen)
{
	struct fastkv_params *f = calloc(1, sizeof(*f));
	int rc;
	if (!f)
		return kv_errf(err, errlen, KV_ENOMEM, "fastkv: out of memory");
	if ((rc = kv_params_parse(fastkv_params, f, "fastkv", keys, vals, n, shape, err, errlen)) ||
	    (rc = kv_params_check_window(&f->p, "fastkv", err, errlen)) ||
	    (rc = kv_params_check_layer("tsp_idx", f->tsp_idx, shape, err, errlen))) {
		free(f);
		return rc;
	}
	*state = f;
	return 0;
}

static int fastkv_prefill_layer(void *state, const struct kv_layer_view *v, struct kv_decision *d, char *err, size_t errlen)
{
	const struct fastkv_params *f = state;
	const struct kv_params *p = &f->p;
	int H = v->shape->n_head, Hkv = v->shape->n_head_kv, G = H / Hkv, T = v->n, w = p->window_size;
	double rate = v->layer <= f->tsp_idx ? p->retain_rate : p->retain_rate / f->tsp_rate; /* 3.1 */
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
		sel_head_topk_window(d, kv, agg + (size_t)kv * np, T, C, w, &p->ties, v->layer);

	if (v->layer == f->tsp_idx && v->pass == 0) { /* 3.2 step 6 */
		int tl = p->eviction_mode == KV_EVICT_PROPORTIONAL ? kv_budget(p, T, f->tsp_rate, 0) : f->tsp_len;
		if (T > tl && tl > w) {
			float *tot = pooled; /* reuse: (np,) sum over all KV heads = all query heads */
			for (int j = 0; j < np; j++) {
				float s = 0.0f;
				for (int kv = 0; kv < Hkv; kv++)
					s += agg[(size_t)kv * np + j];
				tot[j] = s;
			}
			struct sel_cut cut = { &p->ties, sel_stream(v->layer, 0, SEL_CUT_PROP), &d->prop_tie };
			int nk = sel_topk_cut(tot, np, tl - w, d->prop, &cut);
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
	kv_params_json(fastkv_params, state, "fastkv", buf, len);
}

const struct kv_method fastkv_method = {
	.name = "fastkv",
	.summary = "pooled window scores summed per KV head select each layer's KV; TSP propagates the top tokens after --tsp_idx",
	.init = fastkv_init,
	.free_state = free,
	.prefill_layer = fastkv_prefill_layer,
	.describe = fastkv_describe,
	.params = fastkv_params,
};
