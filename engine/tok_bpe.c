/* BPE merge loop over one pre-token. Mirrors HF tokenizers' BPE model
 * (models/bpe/word.rs merge_all): a min-heap of candidate merges ordered by (rank,
 * position); a popped entry is applied only if the pair now at that position still
 * merges into the same token, and each merge pushes the two new neighbouring pairs.
 * O(n log n) per pre-token, so even a single 100k-character SentencePiece segment
 * (no pre-splitting) stays fast. */
#include "engine/tok_internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/errors.h" // defines: KV_ENOMEM
#include "base/grow.h"   // kv_grow

struct sym {
	int32_t id;
	int32_t prev, next;      /* -1 = none */
	uint32_t len;            /* bytes covered; 0 = merged away */
	bool unk;
};

struct merge {
	int32_t rank, pos, result;
};

struct tok_bpe_scratch {
	struct sym *sym;
	size_t sym_cap;
	struct merge *heap;
	size_t heap_len, heap_cap;
};

void tok_bpe_scratch_free(struct tok_bpe_scratch *s)
{
	if (!s)
		return;
	free(s->sym);
	free(s->heap);
	free(s);
}

static bool merge_less(const struct merge *a, const struct merge *b)
{
	return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static int heap_push(struct tok_bpe_scratch *s, struct merge m)
{
	if (kv_grow((void **)&s->heap, &s->heap_cap, s->heap_len + 1, sizeof(*s->heap)))
		return KV_ENOMEM;
	size_t i = s->heap_len++;
	while (i > 0) {
		size_t up = (i - 1) / 2;
		if (!merge_less(&m, &s->heap[up]))
			break;
		s->heap[i] = s->heap[up];
		i = up;
	}
	s->heap[i] = m;
	return 0;
}

static struct merge heap_pop(struct tok_bpe_scratch *s)
{
	struct merge top = s->heap[0];
	struct merge last = s->heap[--s->heap_len];
	size_t i = 0, n = s->heap_len;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && merge_less(&s->heap[c + 1], &s->heap[c]))
			c++;
		if (!merge_less(&s->heap[c], &last))
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (n)
		s->heap[i] = last;
	return top;
}

static int push_pair(const struct tokenizer *t, struct tok_bpe_scratch *s, int32_t pos)
{
	int32_t next = s->sym[pos].next;
	if (next < 0)
		return 0;
	int32_t rank, result;
	if (!tok_pairmap_get(&t->merges, s->sym[pos].id, s->sym[next].id, &rank, &result))
		return 0;
	return heap_push(s, (struct merge){ rank, pos, result });
}

/* Appends a symbol; fuse_unk folds consecutive unknowns into one. */
static void add_sym(const struct tokenizer *t, struct tok_bpe_scratch *s, size_t *n, int32_t id,
		    uint32_t len, bool unk)
{
	if (unk && t->fuse_unk && *n > 0 && s->sym[*n - 1].unk) {
		s->sym[*n - 1].len += len;
		return;
	}
	struct sym *y = &s->sym[*n];
	y->id = id;
	y->len = len;
	y->unk = unk;
	y->prev = (int32_t)*n - 1;
	y->next = -1;
	if (*n > 0)
		s->sym[*n - 1].next = (int32_t)*n;
	(*n)++;
}

int tok_bpe_word(const struct tokenizer *t, const uint8_t *w, size_t n, struct tok_ids *out,
		 struct tok_bpe_scratch **scratch)
{
	if (n == 0)
		return 0;
	if (t->ignore_merges) {
		int32_t id = tok_strmap_get(&t->vocab, w, n);
		if (id >= 0)
			return tok_ids_push(out, id);
	}
	struct tok_bpe_scratch *s = *scratch;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return KV_ENOMEM;
		*scratch = s;
	}
	if (s->sym_cap < n) {  /* at most one symbol per byte */
		struct sym *p = realloc(s->sym, n * sizeof(*p));
		if (!p)
			return KV_ENOMEM;
		s->sym = p;
		s->sym_cap = n;
	}
	s->heap_len = 0;

	size_t ns = 0;
	for (size_t i = 0; i < n;) {
		if (t->byte_level) {
			int32_t id = t->byte_id[w[i]];
			if (id >= 0)
				add_sym(t, s, &ns, id, 1, false);
			else if (t->unk >= 0)
				add_sym(t, s, &ns, t->unk, 1, true);
			i++;
			continue;
		}
		int k = tok_utf8_len(w[i]);
		if ((size_t)k > n - i)
			k = (int)(n - i);
		int32_t id = tok_strmap_get(&t->vocab, w + i, (size_t)k);
		if (id >= 0) {
			add_sym(t, s, &ns, id, (uint32_t)k, false);
		} else {
			bool all = t->byte_fallback;
			for (int b = 0; all && b < k; b++)
				all = t->byte_id[w[i + b]] >= 0;
			if (all) {
				for (int b = 0; b < k; b++)
					add_sym(t, s, &ns, t->byte_id[w[i + b]], 1, false);
			} else if (t->unk >= 0) {
				add_sym(t, s, &ns, t->unk, (uint32_t)k, true);
			}
		}
		i += (size_t)k;
	}
	if (ns == 0)
		return 0;

	int rc;
	for (size_t i = 0; i + 1 < ns; i++)
		if ((rc = push_pair(t, s, (int32_t)i)) != 0)
			return rc;
	while (s->heap_len) {
		struct merge m = heap_pop(s);
		struct sym *a = &s->sym[m.pos];
		if (a->len == 0 || a->next < 0)
			continue;
		struct sym *b = &s->sym[a->next];
		int32_t rank, result;
		if (!tok_pairmap_get(&t->merges, a->id, b->id, &rank, &result) || result != m.result)
			continue;
		a->id = result;
		a->len += b->len;
		a->unk = false;
		b->len = 0;
		a->next = b->next;
		if (a->next >= 0)
			s->sym[a->next].prev = m.pos;
		if (a->prev >= 0 && (rc = push_pair(t, s, a->prev)) != 0)
			return rc;
		if ((rc = push_pair(t, s, m.pos)) != 0)
			return rc;
	}
	for (int32_t i = 0; i >= 0; i = s->sym[i].next)
		if ((rc = tok_ids_push(out, s->sym[i].id)) != 0)
			return rc;
	return 0;
}
