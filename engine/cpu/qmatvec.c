/* y (rows) = W x for a block-quantised W (engine/qmat.h), one token: each weight is
 * dequantised in fp32 as quant_dequant_row does (code * d + m, no fused multiply-add:
 * -std=c11 implies -ffp-contract=off) and the fp32 products are summed in 8 lanes x 4
 * partial sums per row. Reads about 0.75 (Q4_1) or 1.1 (Q8_0) bytes per weight instead
 * of the fp32 copy's 4, which is what bounds decode. The rows of all the matrices of one
 * call (decode's q, k, v; gate, up) are split over the OpenMP threads in one loop. */
#include <stdint.h>
#include <string.h>

#include "engine/cpu/cpu_ops.h"

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

static inline __attribute__((always_inline)) v8f load8(const float *p)
{
	v8f v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline __attribute__((always_inline)) float hsum(v8f a)
{
	float s = 0;
	for (int i = 0; i < 8; i++)
		s += a[i];
	return s;
}

/* Byte k of the block's code words goes to lane k: lanes 0..7 read bytes 0..7 (words 0,
 * 1), lanes 8..15 bytes 8..15 (words 2, 3); the shifts bring each byte to the bottom.
 * With AVX2 these are vpermd and vpsrlvd (GCC scalarises byte-vector conversions). */
static const v8i W_LO = { 0, 0, 0, 0, 1, 1, 1, 1 }, W_HI = { 2, 2, 2, 2, 3, 3, 3, 3 };
static const v8i SH = { 0, 8, 16, 24, 0, 8, 16, 24 }, SH4 = { 4, 12, 20, 28, 4, 12, 20, 28 };
static const v8i SL8 = { 24, 16, 8, 0, 24, 16, 8, 0 };

static inline __attribute__((always_inline)) float row_q4_1(const struct qmat *w, int r, const float *x)
{
	int nb = w->cols / QMAT_BLOCK;
	const float *d = w->d + (size_t)r * nb, *m = w->m + (size_t)r * nb;
	const uint8_t *qs = w->qs + (size_t)r * nb * (QMAT_BLOCK / 2);
	v8f a0 = { 0 }, a1 = { 0 }, a2 = { 0 }, a3 = { 0 };
	for (int b = 0; b < nb; b++, qs += QMAT_BLOCK / 2, x += QMAT_BLOCK) {
		v8i c; /* the block's 16 bytes in lanes 0..3; lanes 4..7 (next block or QMAT_PAD) unused */
		memcpy(&c, qs, sizeof(c));
		v8i lo = __builtin_shuffle(c, W_LO), hi = __builtin_shuffle(c, W_HI);
		v8f vd = (v8f){ 0 } + d[b], vm = (v8f){ 0 } + m[b];
		/* elements 0..15 are the low nibbles, 16..31 the high ones (ggml's layout) */
		a0 += (__builtin_convertvector((lo >> SH) & 15, v8f) * vd + vm) * load8(x);
		a1 += (__builtin_convertvector((hi >> SH) & 15, v8f) * vd + vm) * load8(x + 8);
		a2 += (__builtin_convertvector((lo >> SH4) & 15, v8f) * vd + vm) * load8(x + 16);
		a3 += (__builtin_convertvector((hi >> SH4) & 15, v8f) * vd + vm) * load8(x + 24);
	}
	return hsum((a0 + a1) + (a2 + a3));
}

static inline __attribute__((always_inline)) float row_q8_0(const struct qmat *w, int r, const float *x)
{
	int nb = w->cols / QMAT_BLOCK;
	const float *d = w->d + (size_t)r * nb;
	const uint8_t *qs = w->qs + (size_t)r * nb * QMAT_BLOCK;
	v8f a0 = { 0 }, a1 = { 0 }, a2 = { 0 }, a3 = { 0 };
	for (int b = 0; b < nb; b++, qs += QMAT_BLOCK, x += QMAT_BLOCK) {
		v8i c;
		memcpy(&c, qs, QMAT_BLOCK);
		v8f vd = (v8f){ 0 } + d[b];
		/* lanes of byte k sign-extended: shift it to the top, then arithmetic-shift down */
		v8i q0 = (__builtin_shuffle(c, W_LO) << SL8) >> 24, q1 = (__builtin_shuffle(c, W_HI) << SL8) >> 24;
		v8i q2 = (__builtin_shuffle(c, W_LO + 4) << SL8) >> 24, q3 = (__builtin_shuffle(c, W_HI + 4) << SL8) >> 24;
		a0 += (__builtin_convertvector(q0, v8f) * vd) * load8(x);
		a1 += (__builtin_convertvector(q1, v8f) * vd) * load8(x + 8);
		a2 += (__builtin_convertvector(q2, v8f) * vd) * load8(x + 16);
		a3 += (__builtin_convertvector(q3, v8f) * vd) * load8(x + 24);
	}
	return hsum((a0 + a1) + (a2 + a3));
}

static inline __attribute__((always_inline)) float row_dot(const struct qmat *w, int r, const float *x)
{
	return w->type == QMAT_Q4_1 ? row_q4_1(w, r, x) : row_q8_0(w, r, x);
}

__attribute__((target_clones("avx2", "default"))) void cpu_qmatvec(float *const *y, const float *x,
								    const struct qmat *const *w, int n)
{
	int total = 0;
	for (int i = 0; i < n; i++)
		total += w[i]->rows;
	/* one parallel loop over the rows of all n matrices: one wake-up of the team */
#pragma omp parallel for schedule(static)
	for (int t = 0; t < total; t++) {
		int i = 0, r = t;
		while (r >= w[i]->rows)
			r -= w[i++]->rows;
		y[i][r] = row_dot(w[i], r, x);
	}
}
