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
#include "methods/tsp.h"

/* In the order of the describe JSON; the state is a struct tsp_params (methods/tsp.h). */
static const struct kv_param_def *const fastkv_params[] = {
	&kv_param_eviction_mode, &kv_param_retain_rate, &kv_param_max_capacity_prompts, &kv_param_window_size,
	&kv_param_kernel_size, &kv_param_pooling, &kv_param_tsp_idx, &kv_param_tsp_rate, &kv_param_tsp_len, &kv_param_tie_break, NULL,
};

static int fastkv_init(const char *const *keys, const char *const *vals, int n, const struct kv_shape *shape,
		       void **state, char *err, size_t errlen)
{
	return tsp_params_init(fastkv_params, "fastkv", keys, vals, n, shape, state, err, errlen);
}

static int fastkv_prefill_layer(void *state, const struct kv_layer_view *v, struct kv_decision *d, char *err, size_t errlen)
{
	const struct tsp_params *f = state;
	const struct kv_params *p = &f->p;
	int H = v->shape->n_head, Hkv = v->shape->n_head_kv, T = v->n, w = p->window_size;
	double rate = tsp_layer_rate(f, v->layer); /* 3.1 */
	int C = kv_budget(p, T, rate, p->max_capacity_prompts);
	if (T < C || C <= w) /* 3.2 step 2; A10: a budget within the window keeps everything */
		return 0;
	int np = T - w, rc;
	float *pooled = malloc(sizeof(float) * (size_t)H * np);
	float *agg = malloc(sizeof(float) * (size_t)Hkv * np);
	if (!pooled || !agg) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "fastkv: out of memory");
		goto out;
	}
	if ((rc = sel_window_scores(v, w, p->kernel_size, p->pooling, pooled, err, errlen)))
		goto out;
	tsp_group_sum(pooled, H, Hkv, np, agg);
	d->keep_all = false;
	d->per_query_head = false;
	for (int kv = 0; kv < Hkv; kv++)
		sel_head_topk_window(d, kv, agg + (size_t)kv * np, T, C, w, &p->ties, v->layer);

	tsp_propagate(f, v, agg, pooled, d); /* 3.2 step 6; pooled is scratch from here */
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
