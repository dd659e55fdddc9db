/* Interning: byte strings -> dense ids 0, 1, 2, ... in first-seen order. Open addressing
 * with linear probing; keys are copied into one arena. Serves the metrics' words (code
 * point strings) and Punkt's parameter keys (UTF-8). */
#ifndef KVLAB_BASE_INTERNER_H
#define KVLAB_BASE_INTERNER_H

#include <stddef.h>
#include <stdint.h>

struct interner;

/* A new empty interner; NULL on OOM. Caller frees with interner_free. */
struct interner *interner_new(void);

/* The id of key[0..len) (len in bytes), adding it when new: id >= 0, or KV_ENOMEM. */
int interner_id(struct interner *t, const void *key, size_t len);

/* The id of key[0..len), or -1 when absent. */
int interner_find(const struct interner *t, const void *key, size_t len);

/* How many distinct keys (the next new id). */
int interner_count(const struct interner *t);

void interner_free(struct interner *t);

/* FNV-1a over n bytes, then a 64-bit finaliser (the hash of every kvlab string table). */
uint64_t kv_hash_bytes(const void *p, size_t n);

#endif
