/* Lane-wise exp for x <= 0 in GCC vector extensions, 8 lanes (the CPU softmax and SwiGLU)
 * and 16 lanes (the AVX-512 fused prefill attention): range reduction x = n ln2 + r,
 * |r| <= ln2/2, a degree-6 polynomial for exp(r) (Cephes' single-precision coefficients,
 * about 1 ulp), and 2^n built in the exponent bits. Inputs below -87 flush to exp(-87).
 * Header-only: always inlined into the including file's target clones. */
#ifndef KVLAB_ENGINE_CPU_VEXP_H
#define KVLAB_ENGINE_CPU_VEXP_H

#include <stdint.h>

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
/* One body for both widths: VF the float vector type, VI the matching int32 one. */
#define VEXP_NONPOS(name, VF, VI)                                                                                      \
	static inline __attribute__((always_inline)) VF name(VF x)                                                     \
	{                                                                                                              \
		const VF lo = (VF){0} - 87.0f;                                                                         \
		VI keep = x > lo;                                                                                      \
		x = (VF)(((VI)x & keep) | ((VI)lo & ~keep));                                                           \
		const VF magic = (VF){0} + 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */              \
		VF n = (x * 1.44269504088896341f + magic) - magic;                                                     \
		VF r = x - n * 0.693359375f; /* ln2 split in two for an exact product */                               \
		r = r - n * -2.12194440e-4f;                                                                           \
		VF p = (VF){0} + 1.9875691500e-4f;                                                                     \
		p = p * r + 1.3981999507e-3f;                                                                          \
		p = p * r + 8.3334519073e-3f;                                                                          \
		p = p * r + 4.1665795894e-2f;                                                                          \
		p = p * r + 1.6666665459e-1f;                                                                          \
		p = p * r + 5.0000001201e-1f;                                                                          \
		p = p * r * r + r + 1.0f;                                                                              \
		VI bits = (__builtin_convertvector(n, VI) + 127) << 23;                                                \
		return p * (VF)bits;                                                                                   \
	}

/* exp(x) lane-wise for x in (-inf, 0]: exp_nonpos8 (v8f), exp_nonpos16 (v16f). */
VEXP_NONPOS(exp_nonpos8, v8f, v8i)
VEXP_NONPOS(exp_nonpos16, v16f, v16i)
#undef VEXP_NONPOS

#pragma GCC diagnostic pop

#endif
