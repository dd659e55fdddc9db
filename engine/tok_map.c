/* Open-addressing hash maps for the tokenizer: vocab (bytes -> id) and merges
 * ((left, right) -> (rank, merged id)). Linear probing, power-of-two capacity, load
 * factor <= 1/2, sized once at load (the vocabulary is fixed). */
#include "engine/tok_internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/errors.h"   // defines: KV_ENOMEM
#include "base/interner.h" // kv_hash_bytes

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t c = 16;
	while (c < 2 * n)
		c *= 2;
	return c;
}

int tok_strmap_init(struct tok_strmap *m, uint32_t n_hint)
{
	uint32_t cap = pow2_at_least(n_hint);
	m->mask = cap - 1;
	m->slot = malloc(cap * sizeof(*m->slot));
	m->slot_hash = malloc(cap * sizeof(*m->slot_hash));
	if (!m->slot || !m->slot_hash) {
		free(m->slot);
		free(m->slot_hash);
		m->slot = NULL;
		m->slot_hash = NULL;
		return KV_ENOMEM;
	}
	memset(m->slot, 0xff, cap * sizeof(*m->slot));
	return 0;
}

void tok_strmap_put(struct tok_strmap *m, int32_t id)
{
	const uint8_t *k = m->key[id];
	uint32_t n = m->key_len[id];
	uint64_t h = kv_hash_bytes(k, n);
	uint32_t i = (uint32_t)h & m->mask;
	for (;; i = (i + 1) & m->mask) {
		int32_t s = m->slot[i];
		if (s < 0) {
			m->slot[i] = id;
			m->slot_hash[i] = (uint32_t)h;
			return;
		}
		if (m->slot_hash[i] == (uint32_t)h && m->key_len[s] == n && memcmp(m->key[s], k, n) == 0)
			return;
	}
}

int32_t tok_strmap_get(const struct tok_strmap *m, const void *s, size_t n)
{
	if (!m->slot)
		return -1;
	uint64_t h = kv_hash_bytes(s, n);
	for (uint32_t i = (uint32_t)h & m->mask;; i = (i + 1) & m->mask) {
		int32_t id = m->slot[i];
		if (id < 0)
			return -1;
		if (m->slot_hash[i] == (uint32_t)h && m->key_len[id] == n && memcmp(m->key[id], s, n) == 0)
			return id;
	}
}

void tok_strmap_free(struct tok_strmap *m)
{
	free(m->slot);
	free(m->slot_hash);
	m->slot = NULL;
	m->slot_hash = NULL;
}

static uint64_t pair_key(int32_t l, int32_t r)
{
	return ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
}

static uint32_t pair_hash(uint64_t k)
{
	k ^= k >> 31;
	k *= 0x9E3779B97F4A7C15ull;
	k ^= k >> 29;
	return (uint32_t)k;
}

int tok_pairmap_init(struct tok_pairmap *m, uint32_t n_hint)
{
	uint32_t cap = pow2_at_least(n_hint);
	m->mask = cap - 1;
	m->keys = malloc(cap * sizeof(*m->keys));
	m->rank = malloc(cap * sizeof(*m->rank));
	m->result = malloc(cap * sizeof(*m->result));
	if (!m->keys || !m->rank || !m->result) {
		tok_pairmap_free(m);
		return KV_ENOMEM;
	}
	memset(m->keys, 0xff, cap * sizeof(*m->keys));
	return 0;
}

void tok_pairmap_put(struct tok_pairmap *m, int32_t l, int32_t r, int32_t rank, int32_t result)
{
	uint64_t k = pair_key(l, r);
	for (uint32_t i = pair_hash(k) & m->mask;; i = (i + 1) & m->mask) {
		if (m->keys[i] == UINT64_MAX) {
			m->keys[i] = k;
			m->rank[i] = rank;
			m->result[i] = result;
			return;
		}
		if (m->keys[i] == k)
			return;
	}
}

bool tok_pairmap_get(const struct tok_pairmap *m, int32_t l, int32_t r, int32_t *rank, int32_t *result)
{
	if (!m->keys)
		return false;
	uint64_t k = pair_key(l, r);
	for (uint32_t i = pair_hash(k) & m->mask;; i = (i + 1) & m->mask) {
		if (m->keys[i] == UINT64_MAX)
			return false;
		if (m->keys[i] == k) {
			*rank = m->rank[i];
			*result = m->result[i];
			return true;
		}
	}
}

void tok_pairmap_free(struct tok_pairmap *m)
{
	free(m->keys);
	free(m->rank);
	free(m->result);
	m->keys = NULL;
	m->rank = NULL;
	m->result = NULL;
}
