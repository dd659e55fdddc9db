/* FastKV's Token-Selective Propagation, shared by fastkv and the tsp reduction: see tsp.h. */
#include "methods/tsp.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/errors.h"
#include "methods/select.h"

const struct kv_param_def kv_param_tsp_idx = {
	.name = "tsp_idx", .kind = KV_PARAM_INT, .offset = offsetof(struct tsp_params, tsp_idx),
	.lo = 0, .hi = 1023, .flags = KV_PARAM_LAYER, .def = 15, .metavar = "L",
	.help = "FastKV: 0-based Token-Selective Propagation layer",
};
const struct kv_param_def kv_param_tsp_rate = {
	.name = "tsp_rate", .kind = KV_PARAM_FLOAT, .offset = offsetof(struct tsp_params, tsp_rate),
	.lo = 0, .hi = 1, .lo_open = true, .flags = KV_PARAM_PROPORTIONAL, .def = 0.2, .metavar = "R",
	.help = "FastKV proportional: fraction of the prompt propagated after TSP",
};
const struct kv_param_def kv_param_tsp_len = {
	.name = "tsp_len", .kind = KV_PARAM_INT, .offset = offsetof(struct tsp_params, tsp_len),
	.lo = 1, .hi = 1 << 30, .flags = KV_PARAM_CONSTANT, .def = 2048, .metavar = "N",
	.help = "FastKV constant: tokens propagated after TSP",
};

const struct kv_param_def *const tsp_params_table[] = {
	&kv_param_eviction_mode, &kv_param_retain_rate, &kv_param_max_capacity_prompts, &kv_param_window_size,
	&kv_param_kernel_size, &kv_param_pooling, &kv_param_tsp_idx, &kv_param_tsp_rate, &kv_param_tsp_len, &kv_param_tie_break,
	NULL,
};

int tsp_params_init(const struct kv_param_def *const *table, const char *method, const char *const *keys, const char *const *vals, int n,
		    const struct kv_shape *shape, void **state, char *err, size_t errlen)
{
	struct tsp_params *f = calloc(1, sizeof(*f));
	int rc;
	if (!f)
		return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", method);
	if ((rc = kv_params_parse(table, f, method, keys, vals, n, shape, err, errlen)) ||
	    (rc = kv_params_check_window(&f->p, method, err, errlen)) ||
	    (rc = kv_params_check_layer("tsp_idx", f->tsp_idx, shape, err, errlen))) {
		free(f);
		return rc;
	}
	*state = f;
	return 0;
}

double tsp_layer_rate(const struct tsp_params *f, int layer)
{
	return layer <= f->tsp_idx ? f->p.retain_rate : f->p.retain_rate / f->tsp_rate;
}

void tsp_group_sum(const float *pooled, int H, int Hkv, int np, float *agg)
{
	int G = H / Hkv;
	for (size_t i = 0; i < (size_t)Hkv * np; i++)
		agg[i] = 0.0f;
	for (int h = 0; h < H; h++) /* P4: pool each query head, then sum its group */
		for (int j = 0; j < np; j++)
			agg[(size_t)(h / G) * np + j] += pooled[(size_t)h * np + j];
}

/* The TSP length of a layer of T rows, or 0 when TSP keeps them all (3.2 step 6). */
static int tsp_length(const struct tsp_params *f, int T)
{
	const struct kv_params *p = &f->p;
	int tl = p->eviction_mode == KV_EVICT_PROPORTIONAL ? kv_budget(p, T, f->tsp_rate, 0) : f->tsp_len;
	return T > tl && tl > p->window_size ? tl : 0;
}

void tsp_propagate(const struct tsp_params *f, const struct kv_layer_view *v, const float *agg, float *tot,
		   struct kv_decision *d)
{
	int Hkv = v->shape->n_head_kv, T = v->n, w = f->p.window_size, np = T - w;
	int tl = v->layer == f->tsp_idx && v->pass == 0 ? tsp_length(f, T) : 0;
	if (!tl)
		return;
	for (int j = 0; j < np; j++) { /* the sum over all KV heads = over all query heads */
		float s = 0.0f;
		for (int kv = 0; kv < Hkv; kv++)
			s += agg[(size_t)kv * np + j];
		tot[j] = s;
	}
	struct sel_cut cut = { &f->p.ties, sel_stream(v->layer, 0, SEL_CUT_PROP), &d->prop_tie };
	int nk = sel_topk_cut(tot, np, tl - w, d->prop, &cut);
	for (int i = 0; i < w; i++)
		d->prop[nk + i] = np + i;
	sel_sort(d->prop, nk + w);
	d->n_prop = nk + w;
}

// ----------------------------------------------------------------------------
// the tsp reduction

static int tsp_init(const char *const *keys, const char *const *vals, int n, const struct kv_shape *shape, void **state,
		    char *err, size_t errlen)
{
	return tsp_params_init(tsp_params_table, "tsp", keys, vals, n, shape, state, err, errlen);
}

/* FastKV's TSP alone: at --tsp_idx, with FastKV's own exits (a layer budget that reaches
 * the rows or stays within the window skips TSP, 3.2 step 2), the same scores and rows. */
static int tsp_prefill_layer(void *state, const struct kv_layer_view *v, struct kv_decision *d, char *err, size_t errlen)
{
	const struct tsp_params *f = state;
	const struct kv_params *p = &f->p;
	int H = v->shape->n_head, Hkv = v->shape->n_head_kv, T = v->n, w = p->window_size;
	if (v->layer != f->tsp_idx || v->pass != 0 || !tsp_length(f, T))
		return 0;
	int C = kv_budget(p, T, tsp_layer_rate(f, v->layer), p->max_capacity_prompts);
	if (T < C || C <= w)
		return 0;
	int np = T - w, rc;
	float *pooled = malloc(sizeof(float) * (size_t)H * np), *agg = malloc(sizeof(float) * (size_t)Hkv * np);
	if (!pooled || !agg) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "tsp: out of memory");
		goto out;
	}
	if ((rc = sel_window_scores(v, w, p->kernel_size, p->pooling, pooled, err, errlen)))
		goto out;
	tsp_group_sum(pooled, H, Hkv, np, agg);
	tsp_propagate(f, v, agg, pooled, d);
out:
	free(pooled);
	free(agg);
	return rc;
}

static void tsp_describe(const void *state, char *buf, size_t len)
{
	kv_params_json(tsp_params_table, state, "tsp", buf, len);
}

const struct kv_method tsp_reduction_method = {
	.name = "tsp",
	.summary = "FastKV's Token-Selective Propagation alone: the top tokens go on after --tsp_idx; every row is cached",
	.init = tsp_init,
	.free_state = free,
	.prefill_layer = tsp_prefill_layer,
	.describe = tsp_describe,
	.params = tsp_params_table,
};
