/* The CPU's bf16 GEMM (AVX512-BF16, vdpbf16ps): y (T, out) = x (T, in) . W^T with W held
 * as bf16 in column panels and x rounded to bf16 per call; products summed in fp32.
 * Shapes: T = rows of x, K = in, N = out; P = panels of GEMM_BF16_NR output columns,
 * K2 = (K + 1) / 2 pairs of the reduction dimension. */
#ifndef KVLAB_ENGINE_CPU_GEMM_BF16_H
#define KVLAB_ENGINE_CPU_GEMM_BF16_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GEMM_BF16_NR 32 /* output columns per panel (two 16-lane vectors) */

/* W (out, in) rounded to bf16 (nearest even) and packed for the kernel. */
struct bf16_mat {
	int in, out;
	int k2;         /* K2 = (in + 1) / 2 */
	int np;         /* P = ceil(out / GEMM_BF16_NR) */
	uint32_t *pk;   /* (P, K2, NR) pairs (W[n][2k], W[n][2k+1]) as bf16 (even k in the low half);
			   zero past in and out; owned, 64-byte aligned */
};

/* Whether this CPU (and OS) runs AVX512-BF16 (avx512f, avx512bw, avx512bf16). */
bool gemm_bf16_supported(void);
/* Packs the fp32 matrix w (out, in) into *m (new memory; free with bf16_mat_free). 0 or
 * KV_ENOMEM (m untouched). Needs gemm_bf16_supported() (the rounding uses vcvtne2ps2bf16). */
int bf16_mat_pack(struct bf16_mat *m, const float *w, int in, int out);
/* Releases m's memory and zeroes it; NULL and empty are fine. */
void bf16_mat_free(struct bf16_mat *m);
/* y (T, out) = bf16(x) (T, in) . W^T over the OpenMP threads; fp32 accumulation. 0, or
 * KV_ENOMEM (y untouched) when the bf16 copy of x cannot be allocated. Needs
 * gemm_bf16_supported(). */
int gemm_bf16(float *y, const float *x, const struct bf16_mat *w, int T);
/* x (n,) rounded to bf16 (nearest even) and widened back, in place: what gemm_bf16 reads. */
void bf16_round(float *x, size_t n);

#endif
