/* Python-compatible random streams: see pyrandom.h. MT19937 is the reference
 * algorithm of Matsumoto and Nishimura; the seeding and the derived calls follow the
 * CPython and numpy behaviour described in ../shared/spec/ruler.md section 10.2. */
#include "datasets/pyrandom.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"

#define MT_N 624
#define MT_M 397

static void init_genrand(struct pyrand *r, uint32_t s)
{
	r->mt[0] = s;
	for (int i = 1; i < MT_N; i++)
		r->mt[i] = 1812433253u * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + (uint32_t)i;
	r->mti = MT_N;
}

static void init_by_array(struct pyrand *r, const uint32_t *key, int n_key)
{
	init_genrand(r, 19650218u);
	int i = 1, j = 0;
	for (int k = MT_N > n_key ? MT_N : n_key; k; k--) {
		r->mt[i] = (r->mt[i] ^ ((r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint32_t)j;
		i++;
		j++;
		if (i >= MT_N) {
			r->mt[0] = r->mt[MT_N - 1];
			i = 1;
		}
		if (j >= n_key)
			j = 0;
	}
	for (int k = MT_N - 1; k; k--) {
		r->mt[i] = (r->mt[i] ^ ((r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
		i++;
		if (i >= MT_N) {
			r->mt[0] = r->mt[MT_N - 1];
			i = 1;
		}
	}
	r->mt[0] = 0x80000000u;
}

void pyrand_seed(struct pyrand *r, uint64_t seed)
{
	/* CPython: the integer's 32-bit limbs, least significant first; 0 -> one zero limb */
	uint32_t key[2] = { (uint32_t)seed, (uint32_t)(seed >> 32) };
	init_by_array(r, key, key[1] ? 2 : 1);
}

void pyrand_seed_numpy(struct pyrand *r, uint32_t seed)
{
	init_genrand(r, seed);
}

uint32_t pyrand_u32(struct pyrand *r)
{
	static const uint32_t mag01[2] = { 0u, 0x9908b0dfu };
	uint32_t y;
	if (r->mti >= MT_N) {
		int k;
		for (k = 0; k < MT_N - MT_M; k++) {
			y = (r->mt[k] & 0x80000000u) | (r->mt[k + 1] & 0x7fffffffu);
			r->mt[k] = r->mt[k + MT_M] ^ (y >> 1) ^ mag01[y & 1u];
		}
		for (; k < MT_N - 1; k++) {
			y = (r->mt[k] & 0x80000000u) | (r->mt[k + 1] & 0x7fffffffu);
			r->mt[k] = r->mt[k + (MT_M - MT_N)] ^ (y >> 1) ^ mag01[y & 1u];
		}
		y = (r->mt[MT_N - 1] & 0x80000000u) | (r->mt[0] & 0x7fffffffu);
		r->mt[MT_N - 1] = r->mt[MT_M - 1] ^ (y >> 1) ^ mag01[y & 1u];
		r->mti = 0;
	}
	y = r->mt[r->mti++];
	y ^= y >> 11;
	y ^= (y << 7) & 0x9d2c5680u;
	y ^= (y << 15) & 0xefc60000u;
	y ^= y >> 18;
	return y;
}

uint64_t pyrand_getrandbits(struct pyrand *r, int k)
{
	if (k <= 32)
		return pyrand_u32(r) >> (32 - k);
	uint64_t lo = pyrand_u32(r);
	uint64_t hi = pyrand_u32(r) >> (64 - k);
	return lo | hi << 32;
}

uint64_t pyrand_randbelow(struct pyrand *r, uint64_t n)
{
	int k = 0;
	for (uint64_t v = n; v; v >>= 1)
		k++;
	uint64_t x = pyrand_getrandbits(r, k);
	while (x >= n)
		x = pyrand_getrandbits(r, k);
	return x;
}

double pyrand_random(struct pyrand *r)
{
	uint32_t a = pyrand_u32(r) >> 5, b = pyrand_u32(r) >> 6;
	return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

int64_t pyrand_randint(struct pyrand *r, int64_t a, int64_t b)
{
	return a + (int64_t)pyrand_randbelow(r, (uint64_t)(b - a) + 1);
}

size_t pyrand_choices_index(struct pyrand *r, size_t n)
{
	return (size_t)floor(pyrand_random(r) * (double)n);
}

void pyrand_shuffle(struct pyrand *r, void *base, size_t n, size_t size)
{
	unsigned char *p = base, tmp[256];
	for (size_t i = n; i-- > 1;) {
		size_t j = (size_t)pyrand_randbelow(r, i + 1);
		for (size_t off = 0; off < size; off += sizeof(tmp)) { /* swap in chunks */
			size_t c = size - off < sizeof(tmp) ? size - off : sizeof(tmp);
			memcpy(tmp, p + i * size + off, c);
			memcpy(p + i * size + off, p + j * size + off, c);
			memcpy(p + j * size + off, tmp, c);
		}
	}
}

int pyrand_sample(struct pyrand *r, size_t n, size_t k, size_t *out)
{
	size_t setsize = 21;
	if (k > 5)
		setsize += (size_t)pow(4.0, ceil(log((double)(k * 3)) / log(4.0)));
	if (n <= setsize) { /* pool method */
		size_t *pool = malloc((n ? n : 1) * sizeof(*pool));
		if (!pool)
			return KV_ENOMEM;
		for (size_t i = 0; i < n; i++)
			pool[i] = i;
		for (size_t i = 0; i < k; i++) {
			size_t j = (size_t)pyrand_randbelow(r, n - i);
			out[i] = pool[j];
			pool[j] = pool[n - i - 1];
		}
		free(pool);
		return 0;
	}
	unsigned char *seen = calloc((n + 7) / 8, 1); /* set method */
	if (!seen)
		return KV_ENOMEM;
	for (size_t i = 0; i < k; i++) {
		size_t j = (size_t)pyrand_randbelow(r, n);
		while (seen[j / 8] & (1u << (j % 8)))
			j = (size_t)pyrand_randbelow(r, n);
		seen[j / 8] |= (unsigned char)(1u << (j % 8));
		out[i] = j;
	}
	free(seen);
	return 0;
}

void pyrand_uuid4(struct pyrand *r, char out[37])
{
	uint64_t lo = pyrand_getrandbits(r, 64), hi = pyrand_getrandbits(r, 64);
	lo = (lo & ~(0xc000ull << 48)) | (0x8000ull << 48);  /* variant 10 */
	hi = (hi & ~(0xf000ull)) | (0x4000ull);              /* version 4 (bits 76..79 of the 128) */
	static const char hex[] = "0123456789abcdef";
	char h[32];
	for (int i = 0; i < 16; i++) {
		h[i] = hex[(hi >> (60 - 4 * i)) & 15];
		h[16 + i] = hex[(lo >> (60 - 4 * i)) & 15];
	}
	int o = 0;
	for (int i = 0; i < 32; i++) {
		if (i == 8 || i == 12 || i == 16 || i == 20)
			out[o++] = '-';
		out[o++] = h[i];
	}
	out[o] = 0;
}

int64_t pyrand_numpy_randint(struct pyrand *r, int64_t lo, int64_t hi)
{
	uint64_t rng = (uint64_t)(hi - 1 - lo);
	if (rng == 0)
		return lo;
	uint64_t mask = rng;
	mask |= mask >> 1;
	mask |= mask >> 2;
	mask |= mask >> 4;
	mask |= mask >> 8;
	mask |= mask >> 16;
	mask |= mask >> 32;
	uint64_t v;
	if (rng <= 0xffffffffu) {
		while ((v = (pyrand_u32(r) & mask)) > rng)
			;
	} else {
		while ((v = (((uint64_t)pyrand_u32(r) << 32 | pyrand_u32(r)) & mask)) > rng)
			;
	}
	return lo + (int64_t)v;
}
