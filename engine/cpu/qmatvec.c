/* y (rows) = W x for a block-quantised W (engine/qmat.h), one token: each weight is
 * dequantised in fp32 as quant_dequant_row does (code * d + m, with d and m widened
 * exactly from fp16; no fused multiply-add: -std=c11 implies -ffp-contract=off) and the
 * fp32 products are summed in 8 lanes x 4 partial sums per row. Reads 0.625 (Q4_1) or
 * 1.0625 (Q8_0) bytes per weight, as the GGUF stores them, instead of the fp32 copy's
 * 4, which is what bounds decode. The rows of all the matrices of one call (decode's q,
 * k, v; gate, up) are split over the OpenMP threads in one loop.
 * Where the CPU has AVX-512 the blocks are summed as d * sum(q x) + m * sum(x) instead,
 * four rows at a time (see qmatvec_avx512): a third of the instructions, the same fp32
 * values up to rounding. With AVX512-VNNI too, Q4_1 rows take x as 24-bit integers per
 * block and sum the codes' products in int32 (engine/cpu/qmatvec_vnni.c): fewer
 * instructions again, within the same 1e-6 of sum |w x|. CPUs with AVX2, FMA and F16C but
 * not AVX-512 take the same regrouped sums in 8 lanes (engine/cpu/qmatvec_avx2.c); others
 * the portable kernel. */
#include <immintrin.h> // AVX-512 intrinsics of the avx512 path
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/qmatvec_avx2.h" // qmatvec_avx2_rows, where the CPU has AVX2 but not AVX-512
#include "engine/cpu/qmatvec_int8.h" // qx8_*, the cpu-int8 backend's kernels
#include "engine/cpu/qmatvec_vnni.h" // q4_1_rows_vnni, where the CPU has AVX512-VNNI
#include "engine/quant.h" // quant_f16_to_f32 (the portable path's scales)

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
	const uint16_t *d = w->d + (size_t)r * nb, *m = w->m + (size_t)r * nb;
	v8f a0 = { 0 }, a1 = { 0 }, a2 = { 0 }, a3 = { 0 };
	for (int b = 0; b < nb; b++, x += QMAT_BLOCK) {
		v8i c; /* the block's 16 bytes in lanes 0..3; lanes 4..7 (other codes or QMAT_PAD) unused */
		memcpy(&c, qmat_codes(w, r, b), sizeof(c));
		v8i lo = __builtin_shuffle(c, W_LO), hi = __builtin_shuffle(c, W_HI);
		v8f vd = (v8f){ 0 } + quant_f16_to_f32(d[b]), vm = (v8f){ 0 } + quant_f16_to_f32(m[b]);
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
	const uint16_t *d = w->d + (size_t)r * nb;
	v8f a0 = { 0 }, a1 = { 0 }, a2 = { 0 }, a3 = { 0 };
	for (int b = 0; b < nb; b++, x += QMAT_BLOCK) {
		v8i c;
		memcpy(&c, qmat_codes(w, r, b), QMAT_BLOCK);
		v8f vd = (v8f){ 0 } + quant_f16_to_f32(d[b]);
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
// AVX-512: per block, d * sum(q x) + m * sum(x), QMAT_ROWS rows at a time

#define QMAT_ROWS 4 /* rows of one matrix per step: they share the loads of x and its block sums */
/* Codes are prefetched this many bytes ahead of the block being read: 2 KiB made the
 * 49152 x 576 Q4_1 product (out of cache) about 13 % faster on one Zen 4 thread, where
 * 1 KiB gained 5 % and 4 KiB 10 % (and 8 rows per step instead of 4 lost 40 %). */
#define QMAT_PREFETCH 2048
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma")))

/* The same dot product regrouped: sum_b d_b * sum_i q_bi x_bi + m_b * xs_b, where xs_b
 * = sum_i x_bi is formed once per call for every row. Each weight is then one integer
 * widening, one conversion and one fused multiply-add instead of a dequantisation
 * (mul, add) and a product: decode's products stop being compute bound. fp32 throughout;
 * only the rounding order differs from the dequantise-then-multiply path.
 * nr (1 or QMAT_ROWS, a constant once inlined) rows from r0 into y[0..nr): each 16
 * blocks, the rows' fp16 scales are widened to fp32 into ds (read back as broadcasts)
 * and their mins are multiplied into the block sums at once; the blocks' x is loaded
 * once for the nr rows. */
static inline __attribute__((always_inline)) AVX512 void rows_q4_1(const struct qmat *w, int r0, int nr,
								    const float *x, const float *xs, float *y)
{
	int nb = w->cols / QMAT_BLOCK;
	const __m512i low4 = _mm512_set1_epi32(15);
	__m512 acc[QMAT_ROWS], macc[QMAT_ROWS];
	#pragma GCC unroll 4
	for (int j = 0; j < nr; j++)
		acc[j] = macc[j] = _mm512_setzero_ps();
	for (int b0 = 0; b0 < nb; b0 += 16) {
		int nc = nb - b0 < 16 ? nb - b0 : 16;
		__mmask16 k = (__mmask16)((1u << nc) - 1);
		float ds[QMAT_ROWS][16];
		__m512 vxs = _mm512_maskz_loadu_ps(k, xs + b0);
		#pragma GCC unroll 4
		for (int j = 0; j < nr; j++) {
			size_t o = (size_t)(r0 + j) * nb + b0;
			_mm512_storeu_ps(ds[j], _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, w->d + o)));
			macc[j] = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, w->m + o)), vxs, macc[j]);
		}
		for (int b = 0; b < nc; b++) {
			const float *xb = x + (size_t)(b0 + b) * QMAT_BLOCK;
			__m512 x0 = _mm512_loadu_ps(xb), x1 = _mm512_loadu_ps(xb + 16);
			#pragma GCC unroll 4
			for (int j = 0; j < nr; j++) {
				const uint8_t *qs = qmat_step_codes(w, QMAT_Q4_1, r0, nr, j, b0 + b);
				if (((b0 + b) & 3) == 0) /* once per 64-byte line */
					_mm_prefetch((const char *)qs + QMAT_PREFETCH, _MM_HINT_T0);
				__m512i c = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)qs));
				__m512 lo = _mm512_cvtepi32_ps(_mm512_and_si512(c, low4)); /* elements 0..15 */
				__m512 hi = _mm512_cvtepi32_ps(_mm512_srli_epi32(c, 4));   /* elements 16..31 */
				__m512 t = _mm512_fmadd_ps(hi, x1, _mm512_mul_ps(lo, x0));
				acc[j] = _mm512_fmadd_ps(t, _mm512_set1_ps(ds[j][b]), acc[j]);
			}
		}
	}
	#pragma GCC unroll 4
	for (int j = 0; j < nr; j++)
		y[j] = _mm512_reduce_add_ps(_mm512_add_ps(acc[j], macc[j]));
}

/* sum over a Q8_0 block's 32 codes of q x, in 16 lanes (x0: elements 0..15, x1: 16..31) */
static inline __attribute__((always_inline)) AVX512 __m512 q8_block(const int8_t *qs, __m512 x0, __m512 x1)
{
	__m512 q0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)qs)));
	__m512 q1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(qs + 16))));
	return _mm512_fmadd_ps(q1, x1, _mm512_mul_ps(q0, x0));
}

/* nr (1 or QMAT_ROWS, a constant once inlined) rows from r0 of a Q8_0 w (no mins, so no
 * block sums) into y: each 16 blocks, the fp16 scales are widened to fp32 into ds and
 * read back as broadcasts; each row's blocks are summed in the order of the fp32-scale
 * kernel before it (two accumulators over alternate blocks), so the outputs are the same
 * bits. The rows share each block's x, and a whole group's codes are one stream
 * (qmat_codes): the 49152 x 576 product (decode's logits: token_embd is Q8_0) 1.26x
 * faster than one row at a time on a Zen 4 core (a throwaway harness); four rows over
 * row-major codes, four streams, had been 1.7x slower. */
static inline __attribute__((always_inline)) AVX512 void rows_q8_0(const struct qmat *w, int r0, int nr, const float *x,
								    float *y)
{
	int nb = w->cols / QMAT_BLOCK;
	__m512 acc[QMAT_ROWS][2];
#pragma GCC unroll 4
	for (int j = 0; j < nr; j++)
		acc[j][0] = acc[j][1] = _mm512_setzero_ps();
	for (int b0 = 0; b0 < nb; b0 += 16) {
		int nc = nb - b0 < 16 ? nb - b0 : 16;
		float ds[QMAT_ROWS][16];
#pragma GCC unroll 4
		for (int j = 0; j < nr; j++)
			_mm512_storeu_ps(ds[j], _mm512_cvtph_ps(_mm256_maskz_loadu_epi16((__mmask16)((1u << nc) - 1),
										  w->d + (size_t)(r0 + j) * nb + b0)));
		/* blocks in pairs (b0 is even): the first to acc[j][0], the second to acc[j][1],
		 * each a constant index (an index b & 1 kept the sums in memory: 1.09x, not 1.26x) */
		for (int b = 0; b < nc; b += 2) {
			bool two = b + 1 < nc;
			const float *xb = x + (size_t)(b0 + b) * QMAT_BLOCK;
			__m512 x0 = _mm512_loadu_ps(xb), x1 = _mm512_loadu_ps(xb + 16), x2 = x0, x3 = x1;
			if (two)
				x2 = _mm512_loadu_ps(xb + 32), x3 = _mm512_loadu_ps(xb + 48);
#pragma GCC unroll 4
			for (int j = 0; j < nr; j++) {
				const int8_t *qs = (const int8_t *)qmat_step_codes(w, QMAT_Q8_0, r0, nr, j, b0 + b);
				acc[j][0] = _mm512_fmadd_ps(q8_block(qs, x0, x1), _mm512_set1_ps(ds[j][b]), acc[j][0]);
				if (two) /* the pair's second block follows the first within the row's turn */
					acc[j][1] = _mm512_fmadd_ps(q8_block(qs + QMAT_BLOCK, x2, x3), _mm512_set1_ps(ds[j][b + 1]),
								    acc[j][1]);
			}
		}
	}
#pragma GCC unroll 4
	for (int j = 0; j < nr; j++)
		y[j] = _mm512_reduce_add_ps(_mm512_add_ps(acc[j][0], acc[j][1]));
}

/* Rows r0 .. r0 + nr (nr <= QMAT_ROWS) of w into y: Q4_1 QMAT_ROWS at once (else one
 * by one), by the VNNI kernel where px holds x prepared; Q8_0 likewise. */
static inline __attribute__((always_inline)) AVX512 void rows_avx512(const struct qmat *w, int r0, int nr,
								      const float *x, const float *xs,
								      const struct qx *px, float *y)
{
	if (w->type == QMAT_Q4_1 && px) {
		q4_1_rows_vnni(w, r0, nr, px, xs, y);
	} else if (w->type == QMAT_Q4_1) {
		if (nr == QMAT_ROWS)
			rows_q4_1(w, r0, QMAT_ROWS, x, xs, y);
		else
			for (int j = 0; j < nr; j++)
				rows_q4_1(w, r0 + j, 1, x, xs, y + j);
	} else if (nr == QMAT_ROWS) {
		rows_q8_0(w, r0, QMAT_ROWS, x, y);
	} else {
		for (int j = 0; j < nr; j++)
			rows_q8_0(w, r0 + j, 1, x, y + j);
	}
}

/* Groups of QMAT_ROWS rows over the n matrices of one call (a matrix's last group may be
 * short): how many, and which matrix group t is in, with its first row and row count. */
static int row_groups(const struct qmat *const *w, int n)
{
	int groups = 0;
	for (int i = 0; i < n; i++)
		groups += (w[i]->rows + QMAT_ROWS - 1) / QMAT_ROWS;
	return groups;
}

static inline __attribute__((always_inline)) int row_group(const struct qmat *const *w, int t, int *r0, int *nr)
{
	int i = 0;
	while (t >= (w[i]->rows + QMAT_ROWS - 1) / QMAT_ROWS)
		t -= (w[i++]->rows + QMAT_ROWS - 1) / QMAT_ROWS;
	*r0 = t * QMAT_ROWS;
	*nr = w[i]->rows - *r0 < QMAT_ROWS ? w[i]->rows - *r0 : QMAT_ROWS;
	return i;
}

/* sums (nb,) of x's 32-element blocks. */
AVX512 static void block_sums(float *xs, const float *x, int nb)
{
	for (int b = 0; b < nb; b++)
		xs[b] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_loadu_ps(x + (size_t)b * 32), _mm512_loadu_ps(x + (size_t)b * 32 + 16)));
}

/* The rows of the n matrices in one parallel loop over groups of QMAT_ROWS rows (a
 * matrix's last group may be short). x sums per block are formed once (the matrices of
 * one call share x and its width), and with vnni x's integer digits, where they fit. */
AVX512 static void qmatvec_avx512(float *const *y, const float *x, const struct qmat *const *w, int n, int cols,
				  bool vnni)
{
	float xs[XS_MAX];
	struct qx qx;
	block_sums(xs, x, cols / QMAT_BLOCK);
	bool q4 = false;
	for (int i = 0; i < n; i++)
		q4 = q4 || w[i]->type == QMAT_Q4_1;
	const struct qx *px = vnni && q4 && qx_prepare(&qx, x, cols / QMAT_BLOCK) == 0 ? &qx : NULL;
	int groups = row_groups(w, n);
#pragma omp parallel for schedule(static)
	for (int t = 0; t < groups; t++) {
		int r0, nr, i = row_group(w, t, &r0, &nr);
		rows_avx512(w[i], r0, nr, x, xs, px, y[i] + r0);
	}
}

// ----------------------------------------------------------------------------
// AVX2 (engine/cpu/qmatvec_avx2.c): the same regrouped sums in 8 lanes

_Static_assert(QMAT_AVX2_ROWS == QMAT_ROWS && QX8_ROWS == QMAT_ROWS, "row_group hands the AVX2 rows groups of QMAT_ROWS");
_Static_assert(QMAT_ROWS == QMAT_GROUP_ROWS, "row_group's groups are the codes' groups of rows (qmat_step_codes)");

static void qmatvec_avx2(float *const *y, const float *x, const struct qmat *const *w, int n, int cols)
{
	float xs[XS_MAX];
	qmatvec_avx2_block_sums(xs, x, cols / QMAT_BLOCK);
	int groups = row_groups(w, n);
#pragma omp parallel for schedule(static)
	for (int t = 0; t < groups; t++) {
		int r0, nr, i = row_group(w, t, &r0, &nr);
		qmatvec_avx2_rows(w[i], r0, nr, x, xs, y[i] + r0);
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

void cpu_qmatvec_portable(float *const *y, const float *x, const struct qmat *const *w, int n)
{
	int total = 0;
	for (int i = 0; i < n; i++)
		total += w[i]->rows;
	qmatvec_portable(y, x, w, total);
}

/* Whether the n matrices share one width whose block sums fit on the stack (the AVX-512
 * and AVX2 kernels form them once per call). */
static bool sums_fit(const struct qmat *const *w, int n)
{
	bool same_cols = true;
	for (int i = 0; i < n; i++)
		same_cols = same_cols && w[i]->cols == w[0]->cols;
	return same_cols && w[0]->cols / QMAT_BLOCK <= XS_MAX;
}

/* Whether qmatvec_avx512 runs on w here. */
static bool avx512_fits(const struct qmat *const *w, int n)
{
	return sums_fit(w, n) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vl");
}

int cpu_qmatvec_avx2(float *const *y, const float *x, const struct qmat *const *w, int n)
{
	if (!sums_fit(w, n) || !qmatvec_avx2_supported())
		return -1;
	qmatvec_avx2(y, x, w, n, w[0]->cols);
	return 0;
}

int cpu_qmatvec_avx512_fp32(float *const *y, const float *x, const struct qmat *const *w, int n)
{
	if (!avx512_fits(w, n))
		return -1;
	qmatvec_avx512(y, x, w, n, w[0]->cols, false);
	return 0;
}

/* x as bytes per block (cpu-int8) for Q4_1: prepared once for the call's matrices, then
 * the same row groups, by the VNNI kernel where the CPU has it, else the AVX2 one, else
 * plain C. Q8_0 matrices (SmolLM2's LM head: a bytes-of-x kernel for it measured no
 * faster on Zen 3, and moved the logits by 0.4 more) and an x wider than QX8_MAX_BLOCKS
 * blocks keep the fp32 products; a call mixing them, or widths, goes one matrix at a time. */
void cpu_qmatvec_int8(float *const *y, const float *x, const struct qmat *const *w, int n)
{
	bool q4 = true;
	for (int i = 0; i < n; i++)
		q4 = q4 && w[i]->type == QMAT_Q4_1;
	if (n > 1 && (!q4 || !sums_fit(w, n))) {
		for (int i = 0; i < n; i++)
			cpu_qmatvec_int8(y + i, x, w + i, 1);
		return;
	}
	int nb = w[0]->cols / QMAT_BLOCK;
	if (!q4 || nb > QX8_MAX_BLOCKS) {
		cpu_qmatvec(y, x, w, n);
		return;
	}
	static _Thread_local struct qx8 qx; /* 136 KiB, off the stack; the caller's copy is shared below */
	struct qx8 *px = &qx;
	bool avx2 = qmatvec_avx2_supported(), vnni = avx2 && qx_supported();
	if (avx2)
		qx8_prepare_avx2(px, x, nb);
	else
		qx8_prepare(px, x, nb);
	int groups = row_groups(w, n);
#pragma omp parallel for schedule(static)
	for (int t = 0; t < groups; t++) {
		int r0, nr, i = row_group(w, t, &r0, &nr);
		if (vnni)
			qx8_rows_vnni(w[i], r0, nr, px, y[i] + r0);
		else if (avx2)
			qx8_rows_avx2(w[i], r0, nr, px, y[i] + r0);
		else
			qx8_rows(w[i], r0, nr, px, y[i] + r0);
	}
}

void cpu_qmatvec(float *const *y, const float *x, const struct qmat *const *w, int n)
{
	if (avx512_fits(w, n))
		qmatvec_avx512(y, x, w, n, w[0]->cols, qx_supported());
	else if (cpu_qmatvec_avx2(y, x, w, n) != 0)
		cpu_qmatvec_portable(y, x, w, n);
}
