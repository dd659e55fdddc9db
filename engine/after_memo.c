/* A small list of keyed byte blobs (a shared prefill has at most 16 members, so a linear
 * search is enough). */
#include "engine/after_memo.h"

#include <stdlib.h>
#include <string.h>

#include "base/errors.h" // KV_ENOMEM

struct memo_entry {
	char *key;
	void *data;
	size_t size;
	double secs;
};

struct kv_after_memo {
	struct memo_entry *e;
	int n, cap, hits;
};

struct kv_after_memo *kv_after_memo_new(void)
{
	return calloc(1, sizeof(struct kv_after_memo));
}

void kv_after_memo_free(struct kv_after_memo *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->n; i++) {
		free(m->e[i].key);
		free(m->e[i].data);
	}
	free(m->e);
	free(m);
}

static struct memo_entry *lookup(const struct kv_after_memo *m, const char *key)
{
	for (int i = 0; i < m->n; i++)
		if (!strcmp(m->e[i].key, key))
			return &m->e[i];
	return NULL;
}

const void *kv_after_memo_find(struct kv_after_memo *m, const char *key, size_t size, double *secs)
{
	const struct memo_entry *e = lookup(m, key);
	if (!e || e->size != size)
		return NULL;
	m->hits++;
	if (secs)
		*secs = e->secs;
	return e->data;
}

int kv_after_memo_put(struct kv_after_memo *m, const char *key, const void *data, size_t size, double secs)
{
	void *copy = malloc(size ? size : 1);
	char *k = NULL;
	if (!copy)
		return KV_ENOMEM;
	if (size)
		memcpy(copy, data, size);
	struct memo_entry *e = lookup(m, key);
	if (!e) {
		if (!(k = strdup(key)))
			goto out_nomem;
		if (m->n == m->cap) {
			int cap = m->cap ? 2 * m->cap : 4;
			struct memo_entry *grown = realloc(m->e, sizeof(*grown) * (size_t)cap);
			if (!grown)
				goto out_nomem;
			m->e = grown;
			m->cap = cap;
		}
		e = &m->e[m->n++];
		*e = (struct memo_entry){ .key = k };
	} else {
		free(e->data);
	}
	e->data = copy;
	e->size = size;
	e->secs = secs;
	return 0;
out_nomem:
	free(k);
	free(copy);
	return KV_ENOMEM;
}

int kv_after_memo_hits(const struct kv_after_memo *m)
{
	return m->hits;
}
