/* The default describe JSON of a method: a policy made with no parameters on a stand-in
 * shape, described, released. See export_params.h. */
#include "eval/export_params.h"

#include <stdio.h>

#include "methods/registry.h" // kv_method_find, kv_policy_make, kv_policy_describe

static int default_json(void *ctx, const char *method, char *buf, size_t len)
{
	(void)ctx;
	const struct kv_method *m = kv_method_find(method);
	/* 64 layers: every default layer index (FastKV's tsp_idx, GemFilter's filter layer) fits */
	const struct kv_shape shape = { .n_layer = 64, .n_head = 32, .n_head_kv = 8, .head_dim = 128, .n_embd = 4096 };
	struct kv_args none = { 0 };
	struct kv_policy p = { 0 };
	char err[256];
	if (!m || kv_policy_make(m, &none, &shape, &p, err, sizeof(err)) != 0)
		return -1;
	kv_policy_describe(&p, buf, len);
	kv_policy_free(&p);
	return 0;
}

static const struct run_defaults defaults = { .json = default_json, .ctx = NULL };

const struct run_defaults *export_params_defaults(void)
{
	return &defaults;
}
