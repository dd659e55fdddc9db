/* GemFilter: at layer --filter_idx, the last query's raw dot products with every key,
 * summed over query heads and average-pooled (kernel 5), pick the top tokens; the
 * whole model then re-prefills those token ids, in ascending order, at renumbered
 * positions 0..k-1 (spec/methods.md section 4). No window is forced, so the last
 * prompt token may be dropped (A6, faithful). */
#include <stdio.h>
#include <stdlib.h>

#include "base/errors.h"
#include "methods/params.h"
#include "methods/registry.h"
#include "methods/select.h"

#define GEMFILTER_KERNEL 5

struct gemfilter_params {
	struct kv_params p;
	int filter_idx;  /* --filter_idx 0..L-1 (13) */
};

static const struct kv_param_def filter_idx = {
	.name = "filter_idx", .kind = KV_PARAM_INT, .offset = offsetof(struct gemfilter_params, filter_idx),
	.lo = 0, .hi = 1023, .flags = KV_PARAM_LAYER, .def = 13, .metavar = "L",
	.help = "GemFilter: 0-based selection layer",
};

/* In the order of the describe JSON. */
static const struct kv_param_def *const gemfilter_params[] = {
	&kv_param_eviction_mode, &kv_param_retain_rate, &kv_param_max_capacity_prompts, &filter_idx, NULL,
};

static int gemfilter_init(const char *const *keys, const char *const *vals, int n, const struct kv_shape *shape,
			  void **state, char *err, size_t errlen)
{
	struct gemfilter_params *g = calloc(1, sizeof(*g));
	int rc;
	if (!g)
		return kv_errf(err, errlen, KV_ENOMEM, "gemfilter: out of memory");
	if ((rc = kv_params_parse(gemfilter_params, g, "gemfilter", keys, vals, n, shape, err, errlen)) ||
	    (rc = kv_params_check_layer("filter_idx", g->filter_idx, shape, err, errlen))) {
		free(g);
		return rc;
	}
	*state = g;
	return 0;
}

static int gemfilter_prefill_layer(void *state, const struct kv_layer_view *v, struct kv_decision *d, char *err,
				   size_t errlen)
{
	const struct gemfilter_params *g = state;
	const struct kv_params *p = &g->p;
	int H = v->shape->n_head, T = v->n;
	if (v->pass != 0 || v->layer != g->filter_idx)
		return 0;
	int K = kv_budget(p, T, p->retain_rate, p->max_capacity_prompts);
	if (K >= T || K <= 0) /* selecting everything: the rerun would change nothing */
		return 0;
	float *dots = malloc(sizeof(float) * (size_t)H * T), *r = calloc((size_t)T, sizeof(float));
	float *pooled = malloc(sizeof(float) * (size_t)T);
	int rc = 0;
	if (!dots || !r || !pooled) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "gemfilter: out of memory");
		goto out;
	}
	kv_view_dots(v, T - 1, dots);
	for (int h = 0; h < H; h++)
		for (int j = 0; j < T; j++)
			r[j] += dots[(size_t)h * T + j];
	sel_pool(r, pooled, T, GEMFILTER_KERNEL, KV_POOLING_AVG);
	d->n_restart = sel_topk(pooled, T, K, d->restart);
	sel_sort(d->restart, d->n_restart);
	d->restart_renumber = true;
out:
	free(dots);
	free(r);
	free(pooled);
	return rc;
}

static void gemfilter_describe(const void *state, char *buf, size_t len)
{
	kv_params_json(gemfilter_params, state, "gemfilter", buf, len);
}

const struct kv_method gemfilter_method = {
	.name = "gemfilter",
	.summary = "the last query at --filter_idx picks the top tokens; the model re-prefills them at positions 0..k-1",
	.init = gemfilter_init,
	.free_state = free,
	.prefill_layer = gemfilter_prefill_layer,
	.describe = gemfilter_describe,
	.gen_extra_token = true,
	.params = gemfilter_params,
};
