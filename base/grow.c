/* Growing arrays: see grow.h. */
#include "base/grow.h"

#include <stdlib.h>

#include "base/errors.h" // KV_ENOMEM

int kv_grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 16;
	while (c < need)
		c *= 2;
	void *q = realloc(*p, c * elem);
	if (!q)
		return KV_ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}
