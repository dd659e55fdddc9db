/* Huge-page advice for large buffers: see hugemem.h. */
#include "base/hugemem.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

void kv_huge_advise(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
	uintptr_t a = ((uintptr_t)p + KV_HUGE_PAGE - 1) & ~(uintptr_t)(KV_HUGE_PAGE - 1);
	uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)(KV_HUGE_PAGE - 1);
	if (p && e > a)
		(void)madvise((void *)a, e - a, MADV_HUGEPAGE); /* advice only: a refusal changes nothing */
#else
	(void)p;
	(void)n;
#endif
}

void *kv_huge_alloc(size_t n)
{
	size_t al = n < KV_HUGE_MIN ? 64 : KV_HUGE_PAGE;
	size_t r = n ? (n + al - 1) & ~(al - 1) : al; /* whole pages for the advice */
	void *p = NULL;
	if (posix_memalign(&p, al, r) != 0) /* (test_oom fails posix_memalign on purpose) */
		return NULL;
	if (al == KV_HUGE_PAGE)
		kv_huge_advise(p, r);
	return p;
}
