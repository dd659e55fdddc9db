/* Large buffers on transparent huge pages: streaming reads of weights and KV caches (decode)
 * miss the TLB on every 4 KiB page; 2 MiB pages cut those misses, where the kernel allows
 * them (THP "always" or "madvise"; elsewhere the advice is ignored and nothing changes). */
#ifndef KVLAB_BASE_HUGEMEM_H
#define KVLAB_BASE_HUGEMEM_H

#include <stddef.h>

/* Bytes from which kv_huge_alloc aligns to a huge page and advises it (2 MiB). */
#define KV_HUGE_PAGE ((size_t)2 << 20)

/* Allocates n bytes for streaming reads: from KV_HUGE_PAGE bytes up, huge-page aligned and
 * advised for huge pages before first touch; below, 64-byte aligned. Uninitialised; the
 * caller owns it and releases it with free(). NULL when out of memory. */
void *kv_huge_alloc(size_t n);

/* Advises the huge-page-aligned interior of the n bytes at p (any allocation, best before
 * its pages are touched) for huge pages; smaller ranges and refusals are ignored. */
void kv_huge_advise(void *p, size_t n);

#endif
