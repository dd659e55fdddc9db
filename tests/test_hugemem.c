/* base/hugemem.c: huge-page-aligned blocks from 1 MiB up, 64-byte aligned below, every byte
 * usable, and advice over unaligned, tiny and NULL ranges harmless. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/hugemem.h" // kv_huge_alloc, kv_huge_advise
#include "tests/test.h"

static void big_blocks_should_sit_on_huge_page_boundaries(void)
{
	const size_t sizes[] = { KV_HUGE_MIN, KV_HUGE_PAGE - 1, KV_HUGE_PAGE, KV_HUGE_PAGE + 1, 3 * KV_HUGE_PAGE + 4096 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned char *p = kv_huge_alloc(sizes[i]);
		T_CHECK(p != NULL, "%zu bytes: NULL", sizes[i]);
		if (!p)
			continue;
		T_CHECK((uintptr_t)p % KV_HUGE_PAGE == 0, "%zu bytes at %p: not 2 MiB aligned", sizes[i], (void *)p);
		memset(p, 0xa5, sizes[i]);
		T_CHECK(p[0] == 0xa5 && p[sizes[i] - 1] == 0xa5, "%zu bytes: not writable end to end", sizes[i]);
		free(p);
	}
}

static void small_blocks_should_be_64_byte_aligned(void)
{
	const size_t sizes[] = { 0, 1, 63, 64, 4097, KV_HUGE_MIN - 1 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned char *p = kv_huge_alloc(sizes[i]);
		T_CHECK(p != NULL && (uintptr_t)p % 64 == 0, "%zu bytes at %p: not 64-byte aligned", sizes[i], (void *)p);
		if (p && sizes[i])
			memset(p, 1, sizes[i]);
		free(p);
	}
}

static void advice_should_leave_any_range_usable(void)
{
	size_t n = 5 * KV_HUGE_PAGE + 123;
	unsigned char *p = malloc(n);
	T_CHECK(p != NULL, "malloc");
	if (!p)
		return;
	kv_huge_advise(p + 1, n - 1); /* unaligned interior */
	kv_huge_advise(p, 10);        /* smaller than a page */
	kv_huge_advise(NULL, n);
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)i;
	size_t bad = 0;
	for (size_t i = 0; i < n; i++)
		bad += p[i] != (unsigned char)i;
	T_CHECK(bad == 0, "%zu bytes changed after the advice", bad);
	free(p);
}

int main(void)
{
	T_RUN(big_blocks_should_sit_on_huge_page_boundaries);
	T_RUN(small_blocks_should_be_64_byte_aligned);
	T_RUN(advice_should_leave_any_range_usable);
	return t_done();
}
