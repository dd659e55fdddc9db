/* Random-weight models whose layers all share one layer's weights: the shape (and so
 * every GEMM, attention and cache size) of a large model at the memory of one layer
 * plus the embeddings. For latency benchmarks only: the forward's cost does not depend
 * on weight values, but the outputs mean nothing. */
#include <stdlib.h>

#include "base/errors.h" // kv_errf
#include "engine/model.h"  // model_init_random, struct model

int model_init_random_shared(const struct model_config *c, uint64_t seed, struct model **out, char *err, size_t errlen)
{
	struct model_config one = *c;
	struct model *m = NULL;
	int rc;
	if ((rc = model_config_validate(c, "synthetic model", err, errlen)))
		return rc;
	one.n_layer = 1;
	if ((rc = model_init_random(&one, seed, &m, err, errlen)))
		return rc;
	/* the arena holds embeddings + layer 0; model_free releases it and layers as usual */
	struct layer_weights *layers = realloc(m->layers, sizeof(*layers) * (size_t)c->n_layer);
	if (!layers) {
		model_free(m);
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory for %d layer pointers", c->n_layer);
	}
	for (int l = 1; l < c->n_layer; l++)
		layers[l] = layers[0];
	m->layers = layers;
	m->cfg.n_layer = c->n_layer;
	m->shared_layers = true;
	*out = m;
	return 0;
}
