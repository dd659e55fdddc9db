/* Test helper: a KV policy from a method name and "key", "value" pairs, as the CLI's
 * method flags would give them. */
#ifndef KVLAB_TESTS_TEST_POLICY_H
#define KVLAB_TESTS_TEST_POLICY_H

#include <string.h>

#include "base/errors.h"    // kv_errf
#include "engine/model.h"     // struct model
#include "methods/params.h"   // struct kv_args
#include "methods/registry.h" // kv_method_lookup, kv_policy_make

/* Builds method's policy for model m from the NULL-terminated key/value list kv; the
 * caller releases it with kv_policy_free. */
static inline int t_policy_make(const char *method, const char *const *kv, const struct model *m, struct kv_policy *pol,
				char *err, size_t errlen)
{
	const struct kv_method *km = NULL;
	struct kv_args a = { 0 };
	int rc = kv_method_lookup(kv_methods, method, &km, err, errlen);
	for (int i = 0; !rc && kv[i]; i += 2)
		rc = kv_args_set(&a, kv[i], kv[i + 1], err, errlen);
	struct kv_shape shape = { .n_layer = m->cfg.n_layer, .n_head = m->cfg.n_head, .n_head_kv = m->cfg.n_head_kv,
				  .head_dim = m->cfg.head_dim, .n_embd = m->cfg.n_embd };
	if (!rc)
		rc = kv_policy_make(km, &a, &shape, pol, err, errlen);
	kv_args_free(&a);
	return rc;
}

#endif
