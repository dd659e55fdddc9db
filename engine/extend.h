/* Forward a chunk of tokens through an existing KV cache: the question of the
 * query-agnostic protocol (--protocol context_first) after its context was prefilled and
 * compressed alone. The chunk is causal within itself, attends over everything the cache
 * holds, and is appended to the cache uncompressed.
 * V = n_vocab, n = chunk tokens */
#ifndef KVLAB_ENGINE_EXTEND_H
#define KVLAB_ENGINE_EXTEND_H

#include <stddef.h>
#include <stdint.h>

struct fwd_session;

/* Forwards ids[0..n) at positions s->next_pos.. (then advances it by n) through s's
 * prefilled cache and appends their K/V to every head of every layer; writes the last
 * row's logits (V,). The layers run on all n rows at once (GEMMs over the chunk); token t
 * attends to the cache as it stood plus chunk tokens 0..t. The policy is not asked, except
 * that a policy which evicts during decode (kv_method.decode_layer) gets the chunk one
 * decode step per token, as it would see decoded tokens. KV_EINVAL when s holds no prefill
 * or ids is empty or outside the vocabulary. */
int fwd_extend(struct fwd_session *s, const int32_t *ids, int n, float *logits, char *err, size_t errlen);

#endif
