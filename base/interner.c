/* Interning: see interner.h. */
#include "base/interner.h"

#include <stdlib.h>
#include <string.h>

#include "base/errors.h" // KV_ENOMEM
#include "base/grow.h"   // kv_grow

struct slot {
	uint64_t hash;
	size_t off, len; /* the key: text[off, off + len) */
	int id;          /* -1 = empty */
};

struct interner {
	struct slot *slots; /* (cap,) open addressing, linear probing */
	size_t cap;         /* power of two, count <= cap / 2 */
	int count;
	unsigned char *text; /* (text_n,) the keys, back to back */
	size_t text_n, text_cap;
};

uint64_t kv_hash_bytes(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static int rehash(struct interner *t, size_t cap)
{
	struct slot *s = malloc(cap * sizeof(*s));
	if (!s)
		return KV_ENOMEM;
	for (size_t i = 0; i < cap; i++)
		s[i].id = -1;
	for (size_t i = 0; i < t->cap; i++) {
		if (t->slots[i].id < 0)
			continue;
		size_t j = t->slots[i].hash & (cap - 1);
		while (s[j].id >= 0)
			j = (j + 1) & (cap - 1);
		s[j] = t->slots[i];
	}
	free(t->slots);
	t->slots = s;
	t->cap = cap;
	return 0;
}

struct interner *interner_new(void)
{
	struct interner *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	if (rehash(t, 64)) {
		free(t);
		return NULL;
	}
	return t;
}

/* The slot holding key[0..len), or the empty slot where it would go. */
static size_t probe(const struct interner *t, const void *key, size_t len, uint64_t h)
{
	size_t j = h & (t->cap - 1);
	while (t->slots[j].id >= 0) {
		const struct slot *s = &t->slots[j];
		if (s->hash == h && s->len == len && (len == 0 || memcmp(t->text + s->off, key, len) == 0))
			return j;
		j = (j + 1) & (t->cap - 1);
	}
	return j;
}

int interner_find(const struct interner *t, const void *key, size_t len)
{
	return t->slots[probe(t, key, len, kv_hash_bytes(key, len))].id;
}

int interner_id(struct interner *t, const void *key, size_t len)
{
	uint64_t h = kv_hash_bytes(key, len);
	size_t j = probe(t, key, len, h);
	if (t->slots[j].id >= 0)
		return t->slots[j].id;
	if ((size_t)(t->count + 1) * 2 > t->cap) { /* grow first: the new key then lands in the new table */
		if (rehash(t, t->cap * 2))
			return KV_ENOMEM;
		j = probe(t, key, len, h);
	}
	if (kv_grow((void **)&t->text, &t->text_cap, t->text_n + len, 1))
		return KV_ENOMEM;
	if (len)
		memcpy(t->text + t->text_n, key, len);
	t->slots[j] = (struct slot){ .hash = h, .off = t->text_n, .len = len, .id = t->count };
	t->text_n += len;
	return t->count++;
}

int interner_count(const struct interner *t)
{
	return t->count;
}

void interner_free(struct interner *t)
{
	if (!t)
		return;
	free(t->slots);
	free(t->text);
	free(t);
}
