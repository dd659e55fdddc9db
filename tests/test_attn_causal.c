/* engine/cpu/attention.c: causal prefill attention against a double-precision reference
 * (GQA, several query blocks and a partial last one, a few keys with logits far above the
 * rest late in the sequence). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/cpu/cpu_ops.h" // cpu_attn_causal
#include "tests/test.h"

static uint64_t rng = 0x9e3779b97f4a7c15u;

static float uniform(void) /* in [-1, 1) */
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* out (T, H*D) = softmax(q k^T / sqrt(D), causal) v in double. */
static void reference(double *out, const float *q, const float *k, const float *v, int T, int H, int Hkv, int D)
{
	double *p = malloc(sizeof(double) * (size_t)T);
	for (int h = 0; h < H; h++) {
		int g = h / (H / Hkv);
		for (int i = 0; i < T; i++) {
			double mx = -INFINITY, sum = 0;
			for (int j = 0; j <= i; j++) {
				double d = 0;
				for (int a = 0; a < D; a++)
					d += (double)q[((size_t)i * H + h) * D + a] * k[((size_t)j * Hkv + g) * D + a];
				p[j] = d / sqrt((double)D);
				mx = p[j] > mx ? p[j] : mx;
			}
			for (int j = 0; j <= i; j++)
				sum += p[j] = exp(p[j] - mx);
			for (int a = 0; a < D; a++) {
				double o = 0;
				for (int j = 0; j <= i; j++)
					o += p[j] * v[((size_t)j * Hkv + g) * D + a];
				out[((size_t)i * H + h) * D + a] = o / sum;
			}
		}
	}
	free(p);
}

/* Largest |cpu - reference| over the output for T tokens; q scaled by qs (sharper rows). */
static double max_error(int T, int H, int Hkv, int D, float qs)
{
	size_t nq = (size_t)T * H * D, nk = (size_t)T * Hkv * D;
	float *q = malloc(sizeof(float) * (nq * 2 + nk * 2)), *out = q + nq, *k = out + nq, *v = k + nk;
	double *want = malloc(sizeof(double) * nq);
	for (size_t i = 0; i < nq; i++)
		q[i] = qs * uniform();
	for (size_t i = 0; i < nk; i++) {
		k[i] = uniform();
		v[i] = uniform();
	}
	/* a few keys far above the rest, late in the sequence: the running maximum must move */
	for (int j = T / 3; j < T; j += T / 3)
		for (int a = 0; a < D; a++)
			k[((size_t)j * Hkv) * D + a] = 4.0f * q[((size_t)(T - 1) * H) * D + a] / (qs > 0 ? qs : 1);
	cpu_attn_causal(out, q, k, v, T, H, Hkv, D);
	reference(want, q, k, v, T, H, Hkv, D);
	double err = 0;
	for (size_t i = 0; i < nq; i++) {
		double e = fabs((double)out[i] - want[i]);
		err = e > err || isnan(e) ? e : err;
	}
	free(q);
	free(want);
	return err;
}

static void short_rows_should_match_the_reference(void)
{
	double e = max_error(300, 4, 2, 64, 1.0f);
	T_CHECK(e < 2e-6, "T=300: max |error| %.3g", e);
}

static void long_rows_should_match_the_reference(void)
{
	double e = max_error(2400, 4, 2, 64, 1.0f);
	T_CHECK(e < 2e-6, "T=2400: max |error| %.3g", e);
	e = max_error(2400, 2, 1, 64, 6.0f);
	T_CHECK(e < 5e-6, "T=2400, sharp rows: max |error| %.3g", e);
}

int main(void)
{
	T_RUN(short_rows_should_match_the_reference);
	T_RUN(long_rows_should_match_the_reference);
	return t_done();
}
