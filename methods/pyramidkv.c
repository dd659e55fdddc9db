/* PyramidKV (pyramid-shaped per-layer budgets) as kvpress 0.5.5 runs it: PyramidKVPress
 * (kvpress/presses/pyramidkv_press.py), SnapKVPress's per-KV-head scores
 * (methods/kvpress_snapkv.c) and a per-layer top-k whose size falls linearly from the
 * first layer to the last (get_layer_budget). With A the mean budget per layer,
 * mcp = w + A, min = (mcp - w) / beta, max = 2 (mcp - w) - min, capped at T - w (min then
 * takes up the rest); layer l keeps round(max - l (max - min) / (L - 1)) rows (Python's
 * round: half to even), or round(A) when not T >= max >= min >= w (kvpress's fallback).
 * A = T * retain_rate (kvpress: q_len * (1 - compression_ratio)); --eviction_mode
 * constant: A = min(T, max_capacity_prompts) (a kvlab addition). Prefill only, as kvpress. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/errors.h"
#include "methods/kvpress_snapkv.h"
#include "methods/params.h"
#include "methods/registry.h"

struct pyramidkv_params {
	struct kv_params p;
	int beta; /* --beta >= 1 (20) */
};

static const struct kv_param_def pyramidkv_beta = {
	.name = "beta", .kind = KV_PARAM_INT, .offset = offsetof(struct pyramidkv_params, beta),
	.lo = 1, .hi = 1 << 20, .def = 20, .metavar = "B",
	.help = "PyramidKV: steepness; the last layer's budget is 1/B of the mean budget",
};

/* In the order of the describe JSON. */
static const struct kv_param_def *const pyramidkv_params[] = {
	&kv_param_eviction_mode, &kv_param_retain_rate, &kv_param_max_capacity_prompts, &kvp_param_window_size,
	&kvp_param_kernel_size, &pyramidkv_beta, &kv_param_tie_break, NULL,
};

static int pyramidkv_init(const char *const *keys, const char *const *vals, int n, const struct kv_shape *shape,
			  void **state, char *err, size_t errlen)
{
	struct pyramidkv_params *a = calloc(1, sizeof(*a));
	int rc;
	if (!a)
		return kv_errf(err, errlen, KV_ENOMEM, "pyramidkv: out of memory");
	if ((rc = kv_params_parse(pyramidkv_params, a, "pyramidkv", keys, vals, n, shape, err, errlen))) {
		free(a);
		return rc;
	}
	*state = a;
	return 0;
}

/* get_layer_budget for layer l of L with T rows, in double as Python does. */
static int pyramidkv_budget(const struct pyramidkv_params *a, int l, int L, int T)
{
	const struct kv_params *p = &a->p;
	double w = p->window_size;
	double A = p->eviction_mode == KV_EVICT_CONSTANT ? (p->max_capacity_prompts < T ? p->max_capacity_prompts : T)
							 : (double)T * p->retain_rate;
	double mcp = w + A;
	double min_num = (mcp - w) / a->beta;
	double max_num = (mcp - w) * 2 - min_num;
	if (max_num >= T - w) {
		max_num = T - w;
		min_num = (mcp - w) * 2 - max_num;
	}
	if (!(T >= max_num && max_num >= min_num && min_num >= w)) {
		double r = nearbyint(A); /* round half to even under the default rounding mode */
		return r < 1 ? 1 : (int)r;
	}
	double steps = L > 1 ? (max_num - min_num) / (L - 1) : 0.0;
	return (int)nearbyint(max_num - l * steps);
}

static int pyramidkv_prefill_layer(void *state, const struct kv_layer_view *v, struct kv_decision *d, char *err,
				   size_t errlen)
{
	const struct pyramidkv_params *a = state;
	const struct kv_params *p = &a->p;
	int Hkv = v->shape->n_head_kv, T = v->n, w = p->window_size;
	int n_kept = pyramidkv_budget(a, v->layer, v->shape->n_layer, T), rc;
	if (T <= w || n_kept >= T)
		return 0; /* kvpress asserts T > window; a budget of T keeps everything */
	float *s = malloc(sizeof(float) * (size_t)Hkv * T);
	if (!s)
		return kv_errf(err, errlen, KV_ENOMEM, "pyramidkv: out of memory");
	if ((rc = kvp_snapkv_scores(v, w, p->kernel_size, s, err, errlen)))
		goto out;
	d->keep_all = false;
	d->per_query_head = false;
	for (int h = 0; h < Hkv; h++)
		kvp_head_topk(d, h, s + (size_t)h * T, T, n_kept, p, v->layer);
out:
	free(s);
	return rc;
}

static void pyramidkv_describe(const void *state, char *buf, size_t len)
{
	kv_params_json(pyramidkv_params, state, "pyramidkv", buf, len);
}

const struct kv_method pyramidkv_method = {
	.name = "pyramidkv",
	.summary = "kvpress PyramidKV: SnapKV scores per KV head, per-layer budgets falling linearly with depth",
	.init = pyramidkv_init,
	.free_state = free,
	.prefill_layer = pyramidkv_prefill_layer,
	.describe = pyramidkv_describe,
	.params = pyramidkv_params,
};
