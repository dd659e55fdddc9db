/* Large buffers on transparent huge pages: streaming reads of weights and KV caches (decode)
 * miss the TLB on every 4 KiB page; 2 MiB pages cut those misses, where the kernel allows
 * them (THP "always" or "madvise"; elsewhere the advice is ignored and nothing changes). */
#ifndef KVLAB_BASE_HUGEMEM_H
#define KVLAB_BASE_HUGEMEM_H

#include <stddef.h>

/* The huge page (2 MiB), and the bytes from which kv_huge_alloc takes whole huge pages
 * (half of one: the rounding at most doubles a buffer; one layer's f32 K or V of SmolLM2
 * at 2K tokens is 1.6 MB, and its decode attention read 5-10 % faster on huge pages). */
#define KV_HUGE_PAGE ((size_t)2 << 20)
#define KV_HUGE_MIN (KV_HUGE_PAGE / 2)

/* Allocates n bytes for streaming reads: from KV_HUGE_MIN bytes up, whole huge pages,
 * aligned and advised for huge pages before first touch; below, 64-byte aligned.
 * Uninitialised; the caller owns it and releases it with free(). NULL when out of memory. */
void *kv_huge_alloc(size_t n);

/* Advises the huge-page-aligned interior of the n bytes at p (any allocation, best before
 * its pages are touched) for huge pages; smaller ranges and refusals are ignored. */
void kv_huge_advise(void *p, size_t n);

#endif
