/* Growing realloc'd arrays: the one capacity-doubling helper every layer uses. */
#ifndef KVLAB_BASE_GROW_H
#define KVLAB_BASE_GROW_H

#include <stddef.h>

/* Grows the realloc'd array *p (capacity *cap elements of elem bytes, doubling from 16)
 * to hold at least need elements; the caller keeps owning *p. 0 or KV_ENOMEM (then *p
 * and *cap are unchanged). */
int kv_grow(void **p, size_t *cap, size_t need, size_t elem);

#endif
