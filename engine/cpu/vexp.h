/* An 8-lane exp for x <= 0 in GCC vector extensions, shared by the CPU softmax and
 * SwiGLU: range reduction x = n ln2 + r, |r| <= ln2/2, a degree-6 polynomial for exp(r)
 * (Cephes' single-precision coefficients, about 1 ulp), and 2^n built in the exponent
 * bits. Inputs below -87 flush to exp(-87). Header-only: always inlined into the
 * including file's target clones. */
#ifndef KVLAB_ENGINE_CPU_VEXP_H
#define KVLAB_ENGINE_CPU_VEXP_H

#include <stdint.h>

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

#pragma GCC diagnostic push
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

#pragma GCC diagnostic pop

#endif
