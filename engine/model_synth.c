/* Random-weight models of any shape, for tests (tiny models) and latency benchmarks
 * (timing does not depend on weight values). Deterministic for a seed. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "engine/backend.h" // bk_synth
#include "engine/model.h"

/* splitmix64: a small, good, seedable generator */
static uint64_t next_u64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Fills x[0..n) uniformly in [-a, a]. */
static void fill(float *x, size_t n, float a, uint64_t *s)
{
	for (size_t i = 0; i < n; i++)
		x[i] = a * (float)((double)(next_u64(s) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

int model_init_random(const struct model_config *c, uint64_t seed, struct model **out, char *err, size_t errlen)
{
	struct model *m = NULL;
	int rc;
	if ((rc = model_config_validate(c, "synthetic model", err, errlen)) || (rc = model_alloc(c, &m, err, errlen)))
		return rc;
	uint64_t s = seed;
	size_t E = c->n_embd, HD = (size_t)c->n_head * c->head_dim, KD = (size_t)c->n_head_kv * c->head_dim, F = c->n_ff;
	float a = 0.02f * sqrtf(3.0f); /* std 0.02, as transformers' initializer_range */
	fill(m->tok_embd, (size_t)c->n_vocab * E, a, &s);
	if (!c->tied_embd)
		fill(m->output, (size_t)c->n_vocab * E, a, &s);
	for (size_t i = 0; i < E; i++)
		m->out_norm[i] = 1.0f;
	for (int l = 0; l < c->n_layer; l++) {
		struct layer_weights *w = &m->layers[l];
		for (size_t i = 0; i < E; i++)
			w->attn_norm[i] = w->ffn_norm[i] = 1.0f;
		fill(w->wq, HD * E, a, &s);
		fill(w->wk, KD * E, a, &s);
		fill(w->wv, KD * E, a, &s);
		fill(w->wo, E * HD, a, &s);
		fill(w->w_gate, F * E, a, &s);
		fill(w->w_up, F * E, a, &s);
		fill(w->w_down, E * F, a, &s);
	}
	model_rope_init(m, NULL);
	m->source = MODEL_SRC_SYNTHETIC;
	m->path = strdup("synthetic");
	m->file_type = strdup("random F32");
	if (!m->path || !m->file_type) {
		model_free(m);
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	}
	*out = m;
	return 0;
}

int model_init_random_device(const struct backend_ops *be, const struct model_config *c, uint64_t seed, struct model **out,
			     char *err, size_t errlen)
{
	struct model *m = NULL;
	int rc;
	if ((rc = model_config_validate(c, "synthetic model", err, errlen)) ||
	    (rc = model_alloc_untouched(c, &m, err, errlen)))
		return rc;
	for (int i = 0; i < c->n_embd; i++)
		m->out_norm[i] = 1.0f;
	for (int l = 0; l < c->n_layer; l++)
		for (int i = 0; i < c->n_embd; i++)
			m->layers[l].attn_norm[i] = m->layers[l].ffn_norm[i] = 1.0f;
	model_rope_init(m, NULL);
	m->source = MODEL_SRC_SYNTHETIC;
	m->path = strdup("synthetic");
	m->file_type = strdup("random (generated on the device)");
	if (!m->path || !m->file_type) {
		model_free(m);
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	}
	if ((rc = bk_synth(be, m, seed, err, errlen))) {
		model_free(m);
		return rc;
	}
	*out = m;
	return 0;
}
