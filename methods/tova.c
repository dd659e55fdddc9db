/* TOVA as kvpress 0.5.5 runs it: TOVAPress (kvpress/presses/tova_press.py), a
 * ScorerPress. The last prompt row's attention (fp32 softmax over all T keys) is averaged
 * over all H query heads, so every KV head gets the same scores over keys 0..T-2; the
 * last key gets that layer's largest score + 1 (always kept); each KV head keeps its
 * top n_kept. Prefill only, as kvpress (the TOVA paper also evicts while decoding).
 * Budget: n_kept = max(1, floor(T * retain_rate)), kvpress's compute_n_kept with
 * compression_ratio = 1 - retain_rate; --eviction_mode constant: min(T, max_capacity_prompts). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/errors.h"
#include "methods/kvpress_snapkv.h"
#include "methods/params.h"
#include "methods/registry.h"

/* In the order of the describe JSON. */
static const struct kv_param_def *const tova_params[] = {
	&kv_param_eviction_mode, &kv_param_retain_rate, &kv_param_max_capacity_prompts, &kv_param_tie_break, NULL,
};

static int tova_init(const char *const *keys, const char *const *vals, int n, const struct kv_shape *shape, void **state,
		     char *err, size_t errlen)
{
	return kv_pstate_new(tova_params, "tova", keys, vals, n, shape, state, err, errlen);
}

static int tova_prefill_layer(void *state, const struct kv_layer_view *v, struct kv_decision *d, char *err, size_t errlen)
{
	const struct kv_params *p = &((struct kv_pstate *)state)->p;
	int H = v->shape->n_head, Hkv = v->shape->n_head_kv, T = v->n, rc;
	int n_kept = kvp_n_kept(p, T);
	if (T < 2 || n_kept >= T)
		return 0;
	float *probs = malloc(sizeof(float) * (size_t)H * T), *s = malloc(sizeof(float) * (size_t)T);
	if (!probs || !s) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "tova: out of memory");
		goto out;
	}
	if ((rc = kv_view_attn_probs(v, T - 1, 1, T - 1, probs, err, errlen)))
		goto out;
	float top = -INFINITY;
	for (int j = 0; j < T - 1; j++) { /* attn_weights.mean(1) over the H query heads */
		float acc = 0.0f;
		for (int h = 0; h < H; h++)
			acc += probs[(size_t)h * T + j];
		s[j] = acc / (float)H;
		top = s[j] > top ? s[j] : top;
	}
	s[T - 1] = top + 1.0f; /* F.pad(value=scores.max().item() + 1) */
	d->keep_all = false;
	d->per_query_head = false;
	for (int h = 0; h < Hkv; h++)
		kvp_head_topk(d, h, s, T, n_kept, p, v->layer);
out:
	free(probs);
	free(s);
	return rc;
}

static void tova_describe(const void *state, char *buf, size_t len)
{
	kv_params_json(tova_params, &((const struct kv_pstate *)state)->p, "tova", buf, len);
}

const struct kv_method tova_method = {
	.name = "tova",
	.summary = "kvpress TOVA: the last row's head-averaged attention picks each layer's KV (same rows for every KV head)",
	.init = tova_init,
	.free_state = free,
	.prefill_layer = tova_prefill_layer,
	.describe = tova_describe,
	.params = tova_params,
};
