/* Test helper: a KV policy from a method name and "key", "value" pairs, as the CLI's
 * method flags would give them. */
#ifndef KVLAB_TESTS_TEST_POLICY_H
#define KVLAB_TESTS_TEST_POLICY_H

#include <string.h>

#include "base/errors.h"    // kv_errf
#include "engine/model.h"     // struct model
#include "methods/params.h"   // kv_param_keys
#include "methods/registry.h" // kv_policy_make

/* Builds method's policy for model m from the NULL-terminated key/value list kv; the
 * caller releases it with kv_policy_free. */
static inline int t_policy_make(const char *method, const char *const *kv, const struct model *m, struct kv_policy *pol,
				char *err, size_t errlen)
{
	struct method_args a = { .method = method };
	for (int i = 0; kv[i]; i += 2) {
		int k = 0;
		while (kv_param_keys[k] && strcmp(kv_param_keys[k], kv[i]) != 0)
			k++;
		if (!kv_param_keys[k])
			return kv_errf(err, errlen, KV_EINVAL, "test: no key %s", kv[i]);
		a.vals[k] = kv[i + 1];
	}
	struct kv_shape shape = { .n_layer = m->cfg.n_layer, .n_head = m->cfg.n_head, .n_head_kv = m->cfg.n_head_kv,
				  .head_dim = m->cfg.head_dim, .n_embd = m->cfg.n_embd };
	return kv_policy_make(&a, &shape, pol, err, errlen);
}

#endif
