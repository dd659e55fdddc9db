/* Full KV: every layer caches every prompt token (spec/methods.md section 2). A
 * method like the others, so that the keep-everything path runs through the same
 * contract. */
#include <stdio.h>
#include <stdlib.h>

#include "methods/params.h"
#include "methods/registry.h"

/* Full KV takes no parameters. */
static const struct kv_param_def *const fullkv_params[] = { NULL };

static int fullkv_init(const char *const *keys, const char *const *vals, int n, const struct kv_shape *shape,
		       void **state, char *err, size_t errlen)
{
	return kv_pstate_new(fullkv_params, "fullkv", keys, vals, n, shape, state, err, errlen);
}

static void fullkv_describe(const void *state, char *buf, size_t len)
{
	(void)state;
	snprintf(buf, len, "{\"method\":\"fullkv\"}");
}

const struct kv_method fullkv_method = {
	.name = "fullkv",
	.summary = "keep every prompt token's K/V in every layer",
	.init = fullkv_init,
	.free_state = free,
	.describe = fullkv_describe,
	.params = fullkv_params,
};
