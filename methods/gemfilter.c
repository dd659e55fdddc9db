/* GemFilter: at layer --filter_idx, the last query's raw dot products with every key,
 * summed over query heads and average-pooled (kernel 5), pick the top tokens; the
 * whole model then re-prefills those token ids, in ascending order, at renumbered
 * positions 0..k-1 (spec/methods.md section 4). No window is forced, so the last
 * prompt token may be dropped (A6, faithful). The official filter casts q and k to fp16
 * before its attention (a no-op in fp16 runs); --gemfilter_fp16 1 rounds them so there.
 * --filter_rate sets the filter's own cut apart from the KV budget (for gemfilter+X). */
#include <math.h>
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
	bool fp16;       /* --gemfilter_fp16 0|1 (0): q and k rounded through fp16 before the filter's dots */
	double filter_rate; /* --filter_rate (0, 1]: the filter keeps floor(T * rate) tokens; -1 = the KV budget */
};

static const struct kv_param_def filter_idx = {
	.name = "filter_idx", .kind = KV_PARAM_INT, .offset = offsetof(struct gemfilter_params, filter_idx),
	.lo = 0, .hi = 1023, .flags = KV_PARAM_LAYER, .def = 13, .metavar = "L",
	.help = "GemFilter: 0-based selection layer",
};

static const struct kv_param_def gemfilter_fp16 = {
	.name = "gemfilter_fp16", .kind = KV_PARAM_BOOL, .offset = offsetof(struct gemfilter_params, fp16),
	.flags = KV_PARAM_QUIET_DEFAULT, .def = 0, .metavar = "0|1",
	.help = "GemFilter: 1 rounds q and k through fp16 before the filter's dot products, as the official code's .half() "
		"casts do (a no-op in an fp16 run); 0 keeps fp32",
};

static const struct kv_param_def filter_rate = {
	.name = "filter_rate", .kind = KV_PARAM_FLOAT, .offset = offsetof(struct gemfilter_params, filter_rate),
	.lo = 0, .hi = 1, .lo_open = true, .flags = KV_PARAM_QUIET_DEFAULT, .def = -1, .metavar = "R",
	.def_text = "the KV budget", .help = "GemFilter: the filter keeps floor(R x prompt) tokens in either --eviction_mode, so "
		"that a retention after it (gemfilter+snapkv) has rows to cut",
};

/* In the order of the describe JSON. */
static const struct kv_param_def *const gemfilter_params[] = {
	&kv_param_eviction_mode, &kv_param_retain_rate, &kv_param_max_capacity_prompts, &filter_idx, &kv_param_tie_break,
	&gemfilter_fp16, &filter_rate, NULL,
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
	int K = g->filter_rate > 0 ? (int)floor((double)T * g->filter_rate)
				   : kv_budget(p, T, p->retain_rate, p->max_capacity_prompts);
	if (K >= T || K <= 0) /* selecting everything: the rerun would change nothing */
		return 0;
	float *dots = malloc(sizeof(float) * (size_t)H * T), *r = calloc((size_t)T, sizeof(float));
	float *pooled = malloc(sizeof(float) * (size_t)T);
	int rc = 0;
	if (!dots || !r || !pooled) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "gemfilter: out of memory");
		goto out;
	}
	if (g->fp16) {
		if ((rc = kv_view_dots_fp16(v, T - 1, dots, err, errlen)))
			goto out;
	} else {
		kv_view_dots(v, T - 1, dots);
	}
	for (int h = 0; h < H; h++)
		for (int j = 0; j < T; j++)
			r[j] += dots[(size_t)h * T + j];
	sel_pool(r, pooled, T, GEMFILTER_KERNEL, KV_POOLING_AVG);
	struct sel_cut cut = { &p->ties, sel_stream(v->layer, 0, SEL_CUT_RESTART), &d->restart_tie };
	d->n_restart = sel_topk_cut(pooled, T, K, d->restart, &cut);
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
