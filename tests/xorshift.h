/* Test helper: a xorshift64 generator for reproducible test inputs. */
#ifndef KVLAB_TESTS_XORSHIFT_H
#define KVLAB_TESTS_XORSHIFT_H

#include <stdint.h>

/* Steps *state (xorshift64, never 0) and returns its top 32 bits. */
static inline uint32_t xorshift_u32(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return (uint32_t)(*state >> 32);
}

/* Steps *state and returns a float uniform in [-1, 1) from its top 24 bits. */
static inline float xorshift_uniform(uint64_t *state)
{
	return (float)((xorshift_u32(state) >> 8) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

/* Steps *state and returns a float in [lo, hi) from its top 24 bits. */
static inline float xorshift_range(uint64_t *state, float lo, float hi)
{
	return lo + (hi - lo) * (float)((xorshift_u32(state) >> 8) / 16777216.0);
}

#endif
