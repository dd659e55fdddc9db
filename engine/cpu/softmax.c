/* CPU softmax over one score row, with an exp written in GCC vector extensions.
 * exp(x) for x <= 0 by range reduction x = n ln2 + r, |r| <= ln2/2, a degree-6
 * polynomial for exp(r) (Cephes' single-precision coefficients, about 1 ulp),
 * and 2^n built in the exponent bits. Inputs below -87 flush to exp(-87). */
#include <stdint.h>
#include <string.h>

#include "engine/cpu/cpu_ops.h"

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

/* 8-lane values never cross a call boundary (everything below is inlined into
 * the two entry points), so the vector-ABI note does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"

/* exp(x) lane-wise for x in (-inf, 0]. */
static inline __attribute__((always_inline)) v8f exp_nonpos8(v8f x)
{
	const v8f lo = (v8f){0} - 87.0f;
	v8i keep = x > lo;
	x = (v8f)(((v8i)x & keep) | ((v8i)lo & ~keep));
	const v8f magic = (v8f){0} + 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
	v8f n = (x * 1.44269504088896341f + magic) - magic;
	v8f r = x - n * 0.693359375f; /* ln2 split in two for an exact product */
	r = r - n * -2.12194440e-4f;
	v8f p = (v8f){0} + 1.9875691500e-4f;
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * r * r + r + 1.0f;
	v8i bits = (__builtin_convertvector(n, v8i) + 127) << 23;
	return p * (v8f)bits;
}

/* The row body, inlined into each clone of cpu_softmax_row. */
static inline __attribute__((always_inline)) void softmax_body(float *s, int n, int m)
{
	/* lane-wise maxima seeded with s[0], then across lanes: the value a scan finds */
	float mx = s[0];
	v8f vmx = (v8f){0} + mx;
	int j = 0;
	for (; j + 8 <= n; j += 8) {
		v8f x;
		memcpy(&x, s + j, sizeof x);
		v8i gt = x > vmx;
		vmx = (v8f)(((v8i)x & gt) | ((v8i)vmx & ~gt));
	}
	for (int l = 0; l < 8; l++)
		mx = vmx[l] > mx ? vmx[l] : mx;
	for (; j < n; j++)
		mx = s[j] > mx ? s[j] : mx;
	v8f vsum = {0};
	for (j = 0; j + 8 <= n; j += 8) {
		v8f x;
		memcpy(&x, s + j, sizeof x);
		x = exp_nonpos8(x - mx);
		memcpy(s + j, &x, sizeof x);
		vsum += x;
	}
	float sum = 0.0f;
	for (int l = 0; l < 8; l++)
		sum += vsum[l];
	if (j < n) { /* tail: pad with -inf-like lanes that contribute 0 */
		v8f x = (v8f){0} - 1e30f;
		memcpy(&x, s + j, sizeof(float) * (size_t)(n - j));
		x = exp_nonpos8(x - mx);
		memcpy(s + j, &x, sizeof(float) * (size_t)(n - j));
		for (int l = 0; l < n - j; l++)
			sum += x[l];
	}
	float inv = 1.0f / sum;
	for (j = 0; j + 8 <= n; j += 8) {
		v8f x;
		memcpy(&x, s + j, sizeof x);
		x *= inv;
		memcpy(s + j, &x, sizeof x);
	}
	for (; j < n; j++)
		s[j] *= inv;
	for (j = n; j < m; j++)
		s[j] = 0.0f;
}

/* One AVX2 clone and one baseline clone; the loader's resolver picks by CPU. (No FMA
 * clone: -std=c11 keeps -ffp-contract=off, so no FMAs would be emitted.) */
__attribute__((target_clones("avx2", "default"))) void cpu_softmax_row(float *s, int n, int m)
{
	softmax_body(s, n, m);
}

/* The exp pass of a softmax without the normalisation, for attention split along keys. */
static inline __attribute__((always_inline)) float exp_sum_body(float *s, int n, float mx)
{
	v8f vsum = {0};
	int j = 0;
	for (; j + 8 <= n; j += 8) {
		v8f x;
		memcpy(&x, s + j, sizeof x);
		x = exp_nonpos8(x - mx);
		memcpy(s + j, &x, sizeof x);
		vsum += x;
	}
	float sum = 0.0f;
	for (int l = 0; l < 8; l++)
		sum += vsum[l];
	if (j < n) {
		v8f x = (v8f){0} - 1e30f;
		memcpy(&x, s + j, sizeof(float) * (size_t)(n - j));
		x = exp_nonpos8(x - mx);
		memcpy(s + j, &x, sizeof(float) * (size_t)(n - j));
		for (int l = 0; l < n - j; l++)
			sum += x[l];
	}
	return sum;
}

__attribute__((target_clones("avx2", "default"))) float cpu_exp_sum(float *s, int n, float mx)
{
	return exp_sum_body(s, n, mx);
}
