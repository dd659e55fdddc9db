/* Test helper: a xorshift64 generator for reproducible test inputs. */
#ifndef KVLAB_TESTS_XORSHIFT_H
#define KVLAB_TESTS_XORSHIFT_H

#include <stdint.h>

/* Steps *state (xorshift64, never 0) and returns a float uniform in [-1, 1) from its top 24 bits. */
static inline float xorshift_uniform(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return (float)((*state >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

#endif
