/* bf16 GEMM with AVX512-BF16 (see gemm_bf16.h). Debian's OpenBLAS 0.3.21 is built
 * without BUILD_BFLOAT16: cblas.h declares cblas_sbgemm but the library exports no such
 * symbol, so kvlab carries its own kernel.
 *
 * vdpbf16ps adds to each fp32 lane the two products of a bf16 pair: with W packed as
 * (panel, k pair, column) and one pair of x broadcast to all lanes, one instruction does
 * 16 columns x 2 k. The micro-kernel keeps MR rows x NR columns of y in registers over
 * the whole K; the threads split (panel, row block) tiles, panels outermost, so a thread
 * reuses its W panel from cache over the row blocks. */
#include "engine/cpu/gemm_bf16.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h" // KV_ENOMEM

#define MR 8 /* rows of x per micro-kernel tile */
#define NR GEMM_BF16_NR
#define TGT __attribute__((target("avx512f,avx512bw,avx512bf16")))

bool gemm_bf16_supported(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512bf16");
}

/* bf16 bits of f, rounded to nearest even (NaN stays NaN), as vcvtne2ps2bf16 does. */
static uint16_t bf16_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40);
	return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

void bf16_round(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t u = (uint32_t)bf16_bits(x[i]) << 16;
		memcpy(&x[i], &u, 4);
	}
}

/* Row x (K,) as K2 bf16 pairs into xp (K2,), zero-padded when K is odd. */
TGT static void pack_row(uint32_t *xp, const float *x, int K)
{
	int k = 0;
	for (; k + 32 <= K; k += 32) {
		__m512bh b = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + k + 16), _mm512_loadu_ps(x + k));
		_mm512_storeu_si512(xp + k / 2, (__m512i)b);
	}
	if (k < K) {
		int n = K - k;
		__mmask16 lo = (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1);
		__mmask16 hi = (__mmask16)(n > 16 ? (1u << (n - 16)) - 1 : 0);
		__m512bh b = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, x + k + 16), _mm512_maskz_loadu_ps(lo, x + k));
		int pairs = (n + 1) / 2;
		_mm512_mask_storeu_epi32(xp + k / 2, (__mmask16)((1u << pairs) - 1), (__m512i)b);
	}
}

int bf16_mat_pack(struct bf16_mat *m, const float *w, int in, int out)
{
	int k2 = (in + 1) / 2, np = (out + NR - 1) / NR;
	size_t bytes = sizeof(uint32_t) * (size_t)np * k2 * NR;
	uint32_t *pk = aligned_alloc(64, (bytes + 63) / 64 * 64);
	if (!pk)
		return KV_ENOMEM;
#pragma omp parallel for schedule(static)
	for (int p = 0; p < np; p++) {
		uint32_t *dst = pk + (size_t)p * k2 * NR;
		for (int j = 0; j < NR; j++) {
			int n = p * NR + j;
			for (int kk = 0; kk < k2; kk++) {
				uint32_t lo = 0, hi = 0;
				if (n < out) {
					lo = bf16_bits(w[(size_t)n * in + 2 * kk]);
					hi = 2 * kk + 1 < in ? bf16_bits(w[(size_t)n * in + 2 * kk + 1]) : 0;
				}
				dst[(size_t)kk * NR + j] = lo | hi << 16;
			}
		}
	}
	*m = (struct bf16_mat){ .in = in, .out = out, .k2 = k2, .np = np, .pk = pk };
	return 0;
}

void bf16_mat_free(struct bf16_mat *m)
{
	if (!m)
		return;
	free(m->pk);
	memset(m, 0, sizeof(*m));
}

/* y rows [0, mr) x columns [0, nc) of one tile: xp (mr, K2) pairs at row stride k2, wp the
 * panel (K2, NR); y at row stride ldy. Rows past mr read row 0 again (never stored). */
TGT static void tile(float *y, int ldy, const uint32_t *xp, int k2, const uint32_t *wp, int mr, int nc)
{
	__m512 acc[MR][2];
	const uint32_t *xr[MR];
#pragma GCC unroll 16
	for (int r = 0; r < MR; r++) {
		acc[r][0] = acc[r][1] = _mm512_setzero_ps();
		xr[r] = xp + (size_t)(r < mr ? r : 0) * k2;
	}
	for (int kk = 0; kk < k2; kk++, wp += NR) {
		__m512bh w0 = (__m512bh)_mm512_load_si512(wp), w1 = (__m512bh)_mm512_load_si512(wp + 16);
#pragma GCC unroll 16
		for (int r = 0; r < MR; r++) {
			__m512bh b = (__m512bh)_mm512_set1_epi32((int)xr[r][kk]);
			acc[r][0] = _mm512_dpbf16_ps(acc[r][0], w0, b);
			acc[r][1] = _mm512_dpbf16_ps(acc[r][1], w1, b);
		}
	}
	__mmask16 m0 = (__mmask16)(nc >= 16 ? 0xffff : (1u << nc) - 1);
	__mmask16 m1 = (__mmask16)(nc >= 32 ? 0xffff : nc > 16 ? (1u << (nc - 16)) - 1 : 0);
	for (int r = 0; r < mr; r++) {
		_mm512_mask_storeu_ps(y + (size_t)r * ldy, m0, acc[r][0]);
		_mm512_mask_storeu_ps(y + (size_t)r * ldy + 16, m1, acc[r][1]);
	}
}

int gemm_bf16(float *y, const float *x, const struct bf16_mat *w, int T)
{
	int K = w->in, k2 = w->k2, N = w->out;
	uint32_t *xp = malloc(sizeof(uint32_t) * (size_t)k2 * (T > 0 ? T : 1)); /* (T, K2) */
	if (!xp)
		return KV_ENOMEM;
	int nb = (T + MR - 1) / MR;
#pragma omp parallel
	{
#pragma omp for schedule(static)
		for (int t = 0; t < T; t++)
			pack_row(xp + (size_t)t * k2, x + (size_t)t * K, K);
#pragma omp for collapse(2) schedule(static)
		for (int p = 0; p < w->np; p++)
			for (int b = 0; b < nb; b++) {
				int t0 = b * MR, c0 = p * NR;
				int mr = T - t0 < MR ? T - t0 : MR, nc = N - c0 < NR ? N - c0 : NR;
				tile(y + (size_t)t0 * N + c0, N, xp + (size_t)t0 * k2, k2, w->pk + (size_t)p * k2 * NR, mr, nc);
			}
	}
	free(xp);
	return 0;
}
