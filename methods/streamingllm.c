/* StreamingLLM as the official FastKV code runs it: at prefill every layer keeps 4
 * attention sinks and the C - 4 most recent tokens (--window_size is ignored), per KV
 * head, original positions; decode only appends (spec/methods.md section 6). */
#include <stdio.h>
#include <stdlib.h>

#include "methods/params.h"
#include "methods/registry.h"

#define N_SINK 4

/* In the order of the describe JSON. */
static const struct kv_param_def *const streamingllm_params[] = {
	&kv_param_eviction_mode, &kv_param_retain_rate, &kv_param_max_capacity_prompts, NULL,
};

static int streamingllm_init(const char *const *keys, const char *const *vals, int n, const struct kv_shape *shape,
			     void **state, char *err, size_t errlen)
{
	return kv_pstate_new(streamingllm_params, "streamingllm", keys, vals, n, shape, state, err, errlen);
}

static int streamingllm_prefill_layer(void *state, const struct kv_layer_view *v, struct kv_decision *d, char *err,
				      size_t errlen)
{
	(void)err;
	(void)errlen;
	const struct kv_params *p = &((struct kv_pstate *)state)->p;
	int Hkv = v->shape->n_head_kv, T = v->n;
	int C = kv_budget(p, T, p->retain_rate, p->max_capacity_prompts);
	if (T < C || C <= N_SINK)
		return 0;
	int w = C - N_SINK;
	d->keep_all = false;
	d->per_query_head = false;
	for (int h = 0; h < Hkv; h++) {
		int32_t *rows = d->keep + (size_t)h * T;
		for (int i = 0; i < N_SINK; i++)
			rows[i] = i;
		for (int i = 0; i < w; i++)
			rows[N_SINK + i] = T - w + i;
		d->n_keep[h] = C;
	}
	return 0;
}

static void streamingllm_describe(const void *state, char *buf, size_t len)
{
	kv_params_json(streamingllm_params, &((const struct kv_pstate *)state)->p, "streamingllm", buf, len);
}

const struct kv_method streamingllm_method = {
	.name = "streamingllm",
	.summary = "keep 4 attention sinks and the C-4 most recent tokens at every layer",
	.init = streamingllm_init,
	.free_state = free,
	.prefill_layer = streamingllm_prefill_layer,
	.describe = streamingllm_describe,
	.params = streamingllm_params,
};
