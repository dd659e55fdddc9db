/* The CPU SwiGLU gate (engine/cpu/swiglu.c, vectorised exp) against silu(g) * u in double:
 * within 4 ulp-ish (3e-7 relative plus 1e-30 absolute) over arguments from -120 to 120,
 * for lengths with and without an 8-lane tail and one large enough to take the threads. */
#include <math.h>
#include <stdlib.h>

#include "engine/cpu/cpu_ops.h" // cpu_swiglu
#include "tests/test.h"

static void swiglu_should_match_double_silu_times_up(void)
{
	const int lens[][2] = { { 1, 13 }, { 1, 1536 }, { 3, 1001 }, { 64, 1536 } };
	uint64_t rng = 88172645463325252ull;
	for (size_t c = 0; c < sizeof(lens) / sizeof(lens[0]); c++) {
		int T = lens[c][0], F = lens[c][1];
		size_t n = (size_t)T * F;
		float *g = malloc(sizeof(float) * n), *u = malloc(sizeof(float) * n), *g0 = malloc(sizeof(float) * n);
		for (size_t i = 0; i < n; i++) {
			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
			double a = (double)(rng >> 11) / 9007199254740992.0;
			g0[i] = g[i] = (float)(i % 17 == 0 ? 240.0 * a - 120.0 : 16.0 * a - 8.0);
			u[i] = (float)(1.0 - 2.0 * a * a);
		}
		cpu_swiglu(g, u, T, F);
		double worst = 0.0;
		size_t at = 0;
		for (size_t i = 0; i < n; i++) {
			double x = g0[i], want = x / (1.0 + exp(-x)) * u[i];
			double e = fabs(g[i] - want) / (fabs(want) * 3e-7 + 1e-30);
			if (e > worst)
				worst = e, at = i;
		}
		T_CHECK(worst <= 1.0, "T=%d F=%d: silu(%g)*%g = %g, want %g", T, F, g0[at], u[at], g[at],
			(double)g0[at] / (1.0 + exp(-(double)g0[at])) * u[at]);
		free(g), free(u), free(g0);
	}
}

int main(void)
{
	T_RUN(swiglu_should_match_double_silu_times_up);
	return t_done();
}
