/* fp32 <-> f16 / bf16 for the KV cache: see kv_convert.h. The F16C clone converts 8
 * values per instruction with round to nearest even (the same rounding as the scalar
 * quant_f32_to_f16, subnormals included); bf16 rounds with integer arithmetic that GCC
 * vectorises. */
#include "engine/kv_convert.h"

#include <immintrin.h> // _mm256_cvtps_ph, _mm256_cvtph_ps
#include <string.h>

#include "engine/quant.h" // quant_f32_to_f16, quant_f16_to_f32, quant_f32_to_bf16

__attribute__((target("avx2,f16c"))) static void f16_store_f16c(uint16_t *dst, const float *src, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
	for (; i < n; i++)
		dst[i] = quant_f32_to_f16(src[i]);
}

__attribute__((target("avx2,f16c"))) static void f16_load_f16c(float *dst, const uint16_t *src, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
	for (; i < n; i++)
		dst[i] = quant_f16_to_f32(src[i]);
}

static void bf16_store(uint16_t *dst, const float *src, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t x;
		memcpy(&x, &src[i], 4);
		/* NaN stays NaN (quiet); everything else rounds to nearest even */
		dst[i] = (x & 0x7fffffff) > 0x7f800000 ? (uint16_t)((x >> 16) | 0x40)
						       : (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
	}
}

static void bf16_load(float *dst, const uint16_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t x = (uint32_t)src[i] << 16;
		memcpy(&dst[i], &x, 4);
	}
}

void kv_convert_store(uint16_t *dst, const float *src, size_t n, enum kv_dtype t)
{
	if (t == KV_DTYPE_BF16) {
		bf16_store(dst, src, n);
	} else if (__builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx2")) {
		f16_store_f16c(dst, src, n);
	} else {
		for (size_t i = 0; i < n; i++)
			dst[i] = quant_f32_to_f16(src[i]);
	}
}

void kv_convert_load(float *dst, const uint16_t *src, size_t n, enum kv_dtype t)
{
	if (t == KV_DTYPE_BF16) {
		bf16_load(dst, src, n);
	} else if (__builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx2")) {
		f16_load_f16c(dst, src, n);
	} else {
		for (size_t i = 0; i < n; i++)
			dst[i] = quant_f16_to_f32(src[i]);
	}
}
