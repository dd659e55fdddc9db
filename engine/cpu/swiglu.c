/* CPU SwiGLU gate: g = silu(g) * u, silu(x) = x / (1 + exp(-x)), 8 lanes at a time
 * with the vectorised exp (engine/cpu/vexp.h) of e = exp(-|x|): silu(x) = x / (1 + e)
 * for x >= 0 and x * e / (1 + e) below (the same value, no overflow). */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/vexp.h" // v8f, exp_nonpos8

#pragma GCC diagnostic ignored "-Wpsabi" /* 8-lane values stay inside this file's clones */

/* g[0..n) = silu(g) * u, n a multiple of 8. */
__attribute__((target_clones("avx2", "default"))) static void swiglu_lanes(float *g, const float *u, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		v8f x, y;
		memcpy(&x, g + i, sizeof x);
		memcpy(&y, u + i, sizeof y);
		v8i neg = x < 0;
		v8f ax = (v8f)((v8i)x & ~((v8i){ 0 } + (int32_t)0x80000000));
		v8f e = exp_nonpos8(-ax);
		v8f num = (v8f)(((v8i)(x * e) & neg) | ((v8i)x & ~neg));
		x = num / (1.0f + e) * y;
		memcpy(g + i, &x, sizeof x);
	}
}

void cpu_swiglu(float *g, const float *u, int T, int F)
{
	size_t n = (size_t)T * F, n8 = n / 8 * 8;
	if (n > 65536) {
		size_t chunk = 4096;
#pragma omp parallel for schedule(static)
		for (size_t c = 0; c < n8 / chunk; c++)
			swiglu_lanes(g + c * chunk, u + c * chunk, chunk);
		size_t done = n8 / chunk * chunk;
		swiglu_lanes(g + done, u + done, n8 - done);
	} else {
		swiglu_lanes(g, u, n8);
	}
	for (size_t i = n8; i < n; i++) {
		float x = g[i];
		g[i] = x / (1.0f + expf(-x)) * u[i];
	}
}
