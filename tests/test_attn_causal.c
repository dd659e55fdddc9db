/* engine/cpu/attention.c and attn_prefill_avx512.c: causal prefill attention, the BLAS
 * path and the AVX-512 fused one, against a double-precision reference (GQA, several query
 * blocks and key chunks and partial last ones, a few keys with logits far above the rest
 * late in the sequence); the fused kernel's rows appended after a ragged cache too. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/cpu/cpu_ops.h" // cpu_attn_causal_blas, cpu_attn_causal_avx512
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

typedef void (*attn_fn)(float *, const float *, const float *, const float *, int, int, int, int);

static void fused(float *out, const float *q, const float *k, const float *v, int T, int H, int Hkv, int D)
{
	if (cpu_attn_causal_avx512(out, q, k, v, T, H, Hkv, D) != 0)
		for (size_t i = 0; i < (size_t)T * H * D; i++)
			out[i] = NAN; /* fails the comparison */
}

static int has_avx512(void)
{
	return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
}

/* Largest |attn - reference| over the output for T tokens; q scaled by qs (sharper rows). */
static double max_error(attn_fn attn, int T, int H, int Hkv, int D, float qs)
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
	for (int j = T / 3; T >= 3 && j < T; j += T / 3)
		for (int a = 0; a < D; a++)
			k[((size_t)j * Hkv) * D + a] = 4.0f * q[((size_t)(T - 1) * H) * D + a] / (qs > 0 ? qs : 1);
	attn(out, q, k, v, T, H, Hkv, D);
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
	double e = max_error(cpu_attn_causal_blas, 300, 4, 2, 64, 1.0f);
	T_CHECK(e < 2e-6, "blas, T=300: max |error| %.3g", e);
}

static void long_rows_should_match_the_reference(void)
{
	double e = max_error(cpu_attn_causal_blas, 2400, 4, 2, 64, 1.0f);
	T_CHECK(e < 2e-6, "blas, T=2400: max |error| %.3g", e);
	e = max_error(cpu_attn_causal_blas, 2400, 2, 1, 64, 6.0f);
	T_CHECK(e < 5e-6, "blas, T=2400, sharp rows: max |error| %.3g", e);
}

static void fused_path_should_match_the_reference(void)
{
	if (!has_avx512()) {
		T_SKIP("no AVX-512 on this CPU");
		return;
	}
	/* T around the 64-key chunk and 64-position block edges; groups of 3 heads leave
	 * partial 6-row tiles; D = 128 takes two output passes */
	static const int shapes[][4] = {{1, 9, 3, 64},	 {7, 9, 3, 64},	  {64, 9, 3, 64}, {65, 9, 3, 64},
					{300, 4, 2, 64}, {191, 4, 1, 128}, {2400, 4, 2, 64}};
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
		const int *s = shapes[i];
		double e = max_error(fused, s[0], s[1], s[2], s[3], 1.0f);
		T_CHECK(e < 2e-6, "fused, T=%d H=%d Hkv=%d D=%d: max |error| %.3g", s[0], s[1], s[2], s[3], e);
	}
	double e = max_error(fused, 2400, 2, 1, 64, 6.0f);
	T_CHECK(e < 5e-6, "fused, T=2400, sharp rows: max |error| %.3g", e);
}

static void fused_path_should_decline_other_head_dims(void)
{
	float x[4 * 48] = {0}, out[4 * 48];
	for (int i = 0; i < 4 * 48; i++)
		out[i] = 7.0f;
	T_CHECK(cpu_attn_causal_avx512(out, x, x, x, 4, 1, 1, 48) == -1, "head_dim 48 should be declined");
	for (int i = 0; i < 4 * 48; i++)
		T_CHECK(out[i] == 7.0f, "declined call wrote out[%d]", i);
	double e = max_error(cpu_attn_causal, 100, 2, 1, 48, 1.0f);
	T_CHECK(e < 2e-6, "cpu_attn_causal with head_dim 48 (the BLAS path): max |error| %.3g", e);
}

typedef int (*appended_fn)(float *out, const float *q, const struct attn_kv_view *kv, int n_kv, int R, int H, int D);

/* Rows appended after cached heads of different lengths through fn against a double-precision
 * reference: query head h's row i sees its KV head's first P + i + 1 keys. R spans two
 * 128-row blocks and a partial one; then a 16-bit cache must be declined, nothing written. */
static void check_appended(appended_fn fn, const char *name)
{
	enum { R = 300, H = 9, HKV = 3, D = 64 };
	static const int P[HKV] = {0, 70, 1000}; /* cached entries before the appended rows */
	struct attn_kv_view kv[HKV];
	float *q = malloc(sizeof(float) * R * H * D * 2), *out = q + R * H * D, *kvbuf[HKV];
	double *p = malloc(sizeof(double) * (1000 + R)), err = 0;
	for (int i = 0; i < R * H * D; i++)
		q[i] = uniform();
	for (int g = 0; g < HKV; g++) {
		int n = P[g] + R, ld = D + 16; /* rows padded, as a cache with spare room is not */
		kvbuf[g] = malloc(sizeof(float) * (size_t)n * ld * 2);
		for (int i = 0; i < n * ld * 2; i++)
			kvbuf[g][i] = uniform();
		kv[g] = (struct attn_kv_view){.k = kvbuf[g], .v = kvbuf[g] + (size_t)n * ld, .n = n, .ld = ld,
					      .dtype = KV_DTYPE_F32};
	}
	T_CHECK(fn(out, q, kv, HKV, R, H, D) == 0, "%s declined f32 views", name);
	for (int h = 0; h < H; h++) {
		const struct attn_kv_view *c = &kv[h / (H / HKV)];
		for (int i = 0; i < R; i++) {
			int n = c->n - R + i + 1;
			double mx = -INFINITY, sum = 0;
			for (int j = 0; j < n; j++) {
				double d = 0;
				for (int a = 0; a < D; a++)
					d += (double)q[((size_t)i * H + h) * D + a] * c->k[(size_t)j * c->ld + a];
				p[j] = d / sqrt((double)D);
				mx = p[j] > mx ? p[j] : mx;
			}
			for (int j = 0; j < n; j++)
				sum += p[j] = exp(p[j] - mx);
			for (int a = 0; a < D; a++) {
				double o = 0;
				for (int j = 0; j < n; j++)
					o += p[j] * c->v[(size_t)j * c->ld + a];
				double e = fabs(out[((size_t)i * H + h) * D + a] - o / sum);
				err = e > err || isnan(e) ? e : err;
			}
		}
	}
	T_CHECK(err < 2e-6, "%s: appended rows: max |error| %.3g", name, err);
	for (int i = 0; i < R * H * D; i++)
		out[i] = 7.0f;
	kv[1].dtype = KV_DTYPE_F16;
	T_CHECK(fn(out, q, kv, HKV, R, H, D) == -1, "%s: an f16 view should be declined", name);
	for (int i = 0; i < R * H * D; i++)
		T_CHECK(out[i] == 7.0f, "%s: declined call wrote out[%d]", name, i);
	for (int g = 0; g < HKV; g++)
		free(kvbuf[g]);
	free(q);
	free(p);
}

static void appended_rows_should_match_the_reference(void)
{
	check_appended(cpu_attn_appended, "cpu_attn_appended");
	check_appended(cpu_attn_appended_blas, "the BLAS path");
}

static void fused_appended_rows_should_match_the_reference(void)
{
	if (!has_avx512()) {
		T_SKIP("no AVX-512 on this CPU for the fused kernel");
		return;
	}
	check_appended(cpu_attn_appended_avx512, "the fused kernel");
}

int main(void)
{
	T_RUN(short_rows_should_match_the_reference);
	T_RUN(long_rows_should_match_the_reference);
	T_RUN(fused_path_should_match_the_reference);
	T_RUN(fused_path_should_decline_other_head_dims);
	T_RUN(appended_rows_should_match_the_reference);
	T_RUN(fused_appended_rows_should_match_the_reference);
	return t_done();
}
