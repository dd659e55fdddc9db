/* Test helpers: a KV policy from a method name and "key", "value" pairs, as the CLI's
 * method flags would give them; random token ids; a prefilled session and its release. */
#ifndef KVLAB_TESTS_TEST_POLICY_H
#define KVLAB_TESTS_TEST_POLICY_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"    // kv_errf
#include "engine/forward.h"   // fwd_session_free
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

/* n token ids in [0, vocab) from a 64-bit LCG seeded with seed; caller frees. */
static inline int32_t *t_random_ids(int n, uint64_t seed, int vocab)
{
	int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
	for (int i = 0; ids && i < n; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		ids[i] = (int32_t)((seed >> 33) % (uint64_t)vocab);
	}
	return ids;
}

/* The tiny random-weight LLaMA the method tests share (4 layers, GQA 4/2, D 16, vocab 256,
 * seed 42); caller frees with model_free. */
static inline int t_tiny_model(struct model **out, char *err, size_t errlen)
{
	struct model_config c = { .arch = ARCH_LLAMA, .n_layer = 4, .n_embd = 64, .n_head = 4, .n_head_kv = 2, .head_dim = 16,
				  .n_ff = 128, .n_vocab = 256, .max_pos = 16384, .norm_eps = 1e-5f, .rope_theta = 10000.0f };
	return model_init_random(&c, 42, out, err, errlen);
}

/* A prefilled session: s, its policy, and the last-row logits (V,). */
struct t_run {
	struct fwd_session *s;
	struct kv_policy pol;
	float *logits;
};

/* Releases what r holds and zeroes it. */
static inline void t_run_free(struct t_run *r)
{
	fwd_session_free(r->s);
	kv_policy_free(&r->pol);
	free(r->logits);
	memset(r, 0, sizeof(*r));
}

#endif
