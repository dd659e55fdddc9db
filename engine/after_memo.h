/* Results one member's after_prefill step leaves for the other members of the same shared
 * prefill (gen_greedy_shared, gen_context_prefill): KVzip's replay scores, which points that
 * differ only in their budget would otherwise each compute again. Entries are keyed by a
 * string; engine/reconstruct.c prefixes the method's key with a digest of the cache the
 * step saw, so a result is only found by a step that saw the same entries. */
#ifndef KVLAB_ENGINE_AFTER_MEMO_H
#define KVLAB_ENGINE_AFTER_MEMO_H

#include <stddef.h>

struct kv_after_memo;

/* A new empty memo (owned by the caller, kv_after_memo_free); NULL when out of memory. */
struct kv_after_memo *kv_after_memo_new(void);
/* Frees the memo and every entry it holds; NULL is a no-op. */
void kv_after_memo_free(struct kv_after_memo *m);
/* The entry stored under key with exactly size bytes (borrowed: lives as long as m), or NULL;
 * *secs (may be NULL) receives the seconds its producer spent making it. Counts a hit. */
const void *kv_after_memo_find(struct kv_after_memo *m, const char *key, size_t size, double *secs);
/* Stores a copy of data[0..size) under key (replacing an entry of that key) with the seconds
 * its producer spent; 0 or KV_ENOMEM (the memo unchanged). */
int kv_after_memo_put(struct kv_after_memo *m, const char *key, const void *data, size_t size, double secs);
/* How many finds returned an entry. */
int kv_after_memo_hits(const struct kv_after_memo *m);

#endif
