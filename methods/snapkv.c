/* SnapKV: pooled observation-window scores, top-k per query head (K/V repeated to H
 * heads before selection and caching, as the official code does: P11), window kept.
 * Mirrors SnapKVCluster.update_kv (spec/methods.md section 5). --per_kv_head 1 sums
 * the group's pooled scores and selects per KV head instead (no repetition). */
#include <stdio.h>
#include <stdlib.h>

#include "base/errors.h"
#include "methods/params.h"
#include "methods/registry.h"
#include "methods/select.h"

/* In the order of the describe JSON. */
static const struct kv_param_def *const snapkv_params[] = {
	&kv_param_eviction_mode, &kv_param_retain_rate, &kv_param_max_capacity_prompts, &kv_param_window_size,
	&kv_param_kernel_size, &kv_param_pooling, &kv_param_per_kv_head, &kv_param_tie_break, NULL,
};

static int snapkv_init(const char *const *keys, const char *const *vals, int n, const struct kv_shape *shape,
		       void **state, char *err, size_t errlen)
{
	int rc = kv_pstate_new(snapkv_params, "snapkv", keys, vals, n, shape, state, err, errlen);
	if (!rc && (rc = kv_params_check_window(&((struct kv_pstate *)*state)->p, "snapkv", err, errlen))) {
		free(*state);
		*state = NULL;
	}
	return rc;
}

static int snapkv_prefill_layer(void *state, const struct kv_layer_view *v, struct kv_decision *d, char *err, size_t errlen)
{
	const struct kv_params *p = &((struct kv_pstate *)state)->p;
	int H = v->shape->n_head, Hkv = v->shape->n_head_kv, T = v->n, w = p->window_size;
	int C = kv_budget(p, T, p->retain_rate, p->max_capacity_prompts);
	if (T < C || C <= w) {
		if (!p->per_kv_head)
			sel_keep_all_per_query_head(d, H, T); /* the official cache is [H, n, d] even uncompressed */
		return 0;
	}
	int np = T - w, rc;
	float *pooled = malloc(sizeof(float) * (size_t)H * np);
	if (!pooled)
		return kv_errf(err, errlen, KV_ENOMEM, "snapkv: out of memory");
	if ((rc = sel_window_scores(v, w, p->kernel_size, p->pooling, pooled, err, errlen)))
		goto out;
	sel_per_head_topk_window(d, pooled, H, Hkv, T, C, w, p->per_kv_head, &p->ties, v->layer);
out:
	free(pooled);
	return rc;
}

static void snapkv_describe(const void *state, char *buf, size_t len)
{
	kv_params_json(snapkv_params, &((const struct kv_pstate *)state)->p, "snapkv", buf, len);
}

const struct kv_method snapkv_method = {
	.name = "snapkv",
	.summary = "pooled window scores select each layer's KV per query head (K/V repeated to H heads)",
	.init = snapkv_init,
	.free_state = free,
	.prefill_layer = snapkv_prefill_layer,
	.describe = snapkv_describe,
	.params = snapkv_params,
};
