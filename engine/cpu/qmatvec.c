/* y (rows) = W x for a block-quantised W (engine/qmat.h), one token: each weight is
 * dequantised in fp32 as quant_dequant_row does (code * d + m, no fused multiply-add:
 * -std=c11 implies -ffp-contract=off) and the fp32 products are summed in 8 lanes x 4
 * partial sums per row. Reads about 0.75 (Q4_1) or 1.1 (Q8_0) bytes per weight instead
 * of the fp32 copy's 4, which is what bounds decode. The rows of all the matrices of one
 * call (decode's q, k, v; gate, up) are split over the OpenMP threads in one loop.
 * Where the CPU has AVX-512 the blocks are summed as d * sum(q x) + m * sum(x) instead
 * (see qmatvec_avx512): a third of the instructions, the same fp32 values up to rounding. */
#include <immintrin.h> // AVX-512 intrinsics of the avx512 path
#include <stdint.h>
#include <string.h>

#include "engine/cpu/cpu_ops.h"

#define XS_MAX 2048 /* blocks of x whose sums the AVX-512 path keeps on the stack (cols <= 65536) */

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

// ----------------------------------------------------------------------------
// AVX-512: per block, d * sum(q x) + m * sum(x)

/* The same dot product regrouped: sum_b d_b * sum_i q_bi x_bi + m_b * xs_b, where xs_b
 * = sum_i x_bi is formed once per call for every row. Each weight is then one integer
 * widening, one conversion and one fused multiply-add instead of a dequantisation
 * (mul, add) and a product: decode's products stop being compute bound. fp32 throughout;
 * only the rounding order differs from the dequantise-then-multiply path. */
__attribute__((target("avx512f,avx512bw,avx512vl,fma"))) static float row_q4_1_avx512(const struct qmat *w, int r,
											   const float *x, const float *xs)
{
	int nb = w->cols / QMAT_BLOCK;
	const float *d = w->d + (size_t)r * nb, *m = w->m + (size_t)r * nb;
	const uint8_t *qs = w->qs + (size_t)r * nb * (QMAT_BLOCK / 2);
	__m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
	const __m512i low4 = _mm512_set1_epi32(15);
	__m512 macc = _mm512_setzero_ps();
	int b = 0;
	for (; b < nb; b++, qs += QMAT_BLOCK / 2, x += QMAT_BLOCK) {
		__m512i c = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)qs));
		__m512 lo = _mm512_cvtepi32_ps(_mm512_and_si512(c, low4)); /* elements 0..15 */
		__m512 hi = _mm512_cvtepi32_ps(_mm512_srli_epi32(c, 4));   /* elements 16..31 */
		__m512 t = _mm512_fmadd_ps(hi, _mm512_loadu_ps(x + 16), _mm512_mul_ps(lo, _mm512_loadu_ps(x)));
		if (b & 1)
			acc1 = _mm512_fmadd_ps(t, _mm512_set1_ps(d[b]), acc1);
		else
			acc0 = _mm512_fmadd_ps(t, _mm512_set1_ps(d[b]), acc0);
	}
	for (b = 0; b + 16 <= nb; b += 16)
		macc = _mm512_fmadd_ps(_mm512_loadu_ps(m + b), _mm512_loadu_ps(xs + b), macc);
	float ms = _mm512_reduce_add_ps(macc);
	for (; b < nb; b++)
		ms += m[b] * xs[b];
	return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) + ms;
}

__attribute__((target("avx512f,avx512bw,avx512vl,fma"))) static float row_q8_0_avx512(const struct qmat *w, int r,
											   const float *x)
{
	int nb = w->cols / QMAT_BLOCK;
	const float *d = w->d + (size_t)r * nb;
	const int8_t *qs = (const int8_t *)w->qs + (size_t)r * nb * QMAT_BLOCK;
	__m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
	for (int b = 0; b < nb; b++, qs += QMAT_BLOCK, x += QMAT_BLOCK) {
		__m512 q0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)qs)));
		__m512 q1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(qs + 16))));
		__m512 t = _mm512_fmadd_ps(q1, _mm512_loadu_ps(x + 16), _mm512_mul_ps(q0, _mm512_loadu_ps(x)));
		if (b & 1)
			acc1 = _mm512_fmadd_ps(t, _mm512_set1_ps(d[b]), acc1);
		else
			acc0 = _mm512_fmadd_ps(t, _mm512_set1_ps(d[b]), acc0);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

/* sums (nb,) of x's 32-element blocks. */
__attribute__((target("avx512f,avx512bw,avx512vl,fma"))) static void block_sums(float *xs, const float *x, int nb)
{
	for (int b = 0; b < nb; b++)
		xs[b] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_loadu_ps(x + (size_t)b * 32), _mm512_loadu_ps(x + (size_t)b * 32 + 16)));
}

/* The rows of the n matrices in one parallel loop, as the portable path below. x sums
 * per block are formed for each distinct width (the matrices of one call share x). */
__attribute__((target("avx512f,avx512bw,avx512vl,fma"))) static void qmatvec_avx512(float *const *y, const float *x,
										 const struct qmat *const *w, int total, int cols)
{
	float xs[XS_MAX];
	block_sums(xs, x, cols / QMAT_BLOCK);
#pragma omp parallel for schedule(static)
	for (int t = 0; t < total; t++) {
		int i = 0, r = t;
		while (r >= w[i]->rows)
			r -= w[i++]->rows;
		y[i][r] = w[i]->type == QMAT_Q4_1 ? row_q4_1_avx512(w[i], r, x, xs) : row_q8_0_avx512(w[i], r, x);
	}
}

// ----------------------------------------------------------------------------
// entry point

__attribute__((target_clones("avx2", "default"))) static void qmatvec_portable(float *const *y, const float *x,
									       const struct qmat *const *w, int total)
{
	/* one parallel loop over the rows of all n matrices: one wake-up of the team */
#pragma omp parallel for schedule(static)
	for (int t = 0; t < total; t++) {
		int i = 0, r = t;
		while (r >= w[i]->rows)
			r -= w[i++]->rows;
		y[i][r] = row_dot(w[i], r, x);
	}
}

void cpu_qmatvec(float *const *y, const float *x, const struct qmat *const *w, int n)
{
	int total = 0;
	bool same_cols = true;
	for (int i = 0; i < n; i++) {
		total += w[i]->rows;
		same_cols = same_cols && w[i]->cols == w[0]->cols;
	}
	if (same_cols && w[0]->cols / QMAT_BLOCK <= XS_MAX && __builtin_cpu_supports("avx512f") &&
	    __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
		qmatvec_avx512(y, x, w, total, w[0]->cols);
	else
		qmatvec_portable(y, x, w, total);
}
