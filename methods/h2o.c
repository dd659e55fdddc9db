/* H2O as the official FastKV code runs it: a one-shot selection at prefill from
 * attention accumulated over all query rows, per query head (K/V repeated to H),
 * C - w heavy hitters plus the w most recent; no pooling; decode only appends.
 * Rows before the window are scored without a causal mask (faithful, A1/P12);
 * --h2o_causal 1 masks them. Mirrors H2OKVCluster.update_kv (spec section 7). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "methods/params.h"
#include "methods/registry.h"
#include "methods/select.h"

struct h2o_params {
	struct kv_params p;
	bool causal;  /* --h2o_causal 0|1 (0: faithful non-causal scoring) */
};

static const struct kv_param_def h2o_causal = {
	.name = "h2o_causal", .kind = KV_PARAM_BOOL, .offset = offsetof(struct h2o_params, causal),
	.def = 0, .metavar = "0|1",
	.help = "H2O: 1 masks the future when scoring (corrected); 0 is the official non-causal scoring",
};

/* In the order of the describe JSON. */
static const struct kv_param_def *const h2o_params[] = {
	&kv_param_eviction_mode, &kv_param_retain_rate, &kv_param_max_capacity_prompts, &kv_param_window_size,
	&h2o_causal, &kv_param_per_kv_head, &kv_param_tie_break, NULL,
};

static int h2o_init(const char *const *keys, const char *const *vals, int n, const struct kv_shape *shape,
		    void **state, char *err, size_t errlen)
{
	struct h2o_params *h = calloc(1, sizeof(*h));
	int rc;
	if (!h)
		return kv_errf(err, errlen, KV_ENOMEM, "h2o: out of memory");
	if ((rc = kv_params_parse(h2o_params, h, "h2o", keys, vals, n, shape, err, errlen)) ||
	    (rc = kv_params_check_window(&h->p, "h2o", err, errlen))) {
		free(h);
		return rc;
	}
	*state = h;
	return 0;
}

static int h2o_prefill_layer(void *state, const struct kv_layer_view *v, struct kv_decision *d, char *err, size_t errlen)
{
	const struct h2o_params *h = state;
	const struct kv_params *p = &h->p;
	int H = v->shape->n_head, Hkv = v->shape->n_head_kv, T = v->n, w = p->window_size;
	int C = kv_budget(p, T, p->retain_rate, p->max_capacity_prompts);
	if (T < C || C <= w) {
		if (!p->per_kv_head)
			sel_keep_all_per_query_head(d, H, T);
		return 0;
	}
	int np = T - w, rc = 0;
	int causal_from = h->causal ? 0 : np;
	float *acc = calloc((size_t)H * np, sizeof(float));
	if (!acc)
		return kv_errf(err, errlen, KV_ENOMEM, "h2o: out of memory");
	if ((rc = kv_view_attn_colsum(v, 0, T, causal_from, np, acc, err, errlen)))
		goto out;
	sel_per_head_topk_window(d, acc, H, Hkv, T, C, w, p->per_kv_head, &p->ties, v->layer);
out:
	free(acc);
	return rc;
}

static void h2o_describe(const void *state, char *buf, size_t len)
{
	kv_params_json(h2o_params, state, "h2o", buf, len);
}

const struct kv_method h2o_method = {
	.name = "h2o",
	.summary = "accumulated attention over all query rows picks C-w heavy hitters per query head, plus the w most recent",
	.init = h2o_init,
	.free_state = free,
	.prefill_layer = h2o_prefill_layer,
	.describe = h2o_describe,
	.prompt_cap = 7950,
	.params = h2o_params,
};
