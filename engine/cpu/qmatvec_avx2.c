/* Decode's block-quantised products with AVX2, FMA and F16C (CPUs without AVX-512: Zen 2
 * and 3, Intel's client cores). The sums are regrouped as the AVX-512 fp32 kernel
 * (engine/cpu/qmatvec.c) does: per block, d * sum(q x) + m * sum(x), with x's block sums
 * formed once per call, so each weight is one widening, one conversion and one fused
 * multiply-add; fp32 throughout, within 1e-6 of sum |w x| like the other kernels. Q4_1 goes
 * QMAT_AVX2_ROWS rows at a time (they share the loads of x), Q8_0 one row at a time.
 * Scales and mins are widened from fp16 with F16C, eight blocks at once.
 * The int8 kernels at the end take x as bytes per block (engine/cpu/qmatvec_int8.h): a
 * Q4_1 block and row is then one 16-byte load, a shift, an insert, a mask, vpmaddubsw,
 * vpmaddwd, one conversion, one multiply (the scales of x's groups) and one fused
 * multiply-add, where the fp32 kernel spends 16 vector ops. */
#include <immintrin.h>
#include <math.h> // isfinite, NAN (qx8_prepare_avx2)
#include <string.h>

#include "engine/cpu/qmatvec_avx2.h"
#include "engine/cpu/qmatvec_int8.h" // qx8_prepare_avx2, qx8_rows_avx2

#pragma GCC diagnostic ignored "-Wpsabi"

#define AVX2 __attribute__((target("avx2,fma,f16c")))
/* Codes are prefetched this many bytes ahead of the block being read (as the AVX-512
 * kernel does). */
#define PREFETCH 2048

bool qmatvec_avx2_supported(void)
{
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

static inline __attribute__((always_inline)) AVX2 float hsum8(__m256 a)
{
	__m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
	h = _mm_add_ps(h, _mm_movehl_ps(h, h));
	return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

AVX2 void qmatvec_avx2_block_sums(float *xs, const float *x, int nb)
{
	for (int b = 0; b < nb; b++) {
		const float *xb = x + (size_t)b * 32;
		xs[b] = hsum8(_mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(xb), _mm256_loadu_ps(xb + 8)),
					    _mm256_add_ps(_mm256_loadu_ps(xb + 16), _mm256_loadu_ps(xb + 24))));
	}
}

/* n fp16 values from p widened to fp32 into out: eight at a time, then one by one. */
static inline __attribute__((always_inline)) AVX2 void widen_f16(float *out, const uint16_t *p, int n)
{
	int i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + i))));
	for (; i < n; i++)
		out[i] = _cvtsh_ss(p[i]);
}

/* 8 unsigned or signed bytes at p, widened to int32 lanes */
static inline __attribute__((always_inline)) AVX2 __m256i u8x8(const uint8_t *p)
{
	return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
}

static inline __attribute__((always_inline)) AVX2 __m256i s8x8(const uint8_t *p)
{
	return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p));
}

#define CHUNK 64 /* blocks whose scales are widened at once (stack: QMAT_AVX2_ROWS x CHUNK floats) */

/* sum_b m_b xs_b over a row's nb blocks: its mins times x's block sums. */
static inline __attribute__((always_inline)) AVX2 float mins_dot(const uint16_t *m, const float *xs, int nb)
{
	__m256 acc = _mm256_setzero_ps();
	int b = 0;
	for (; b + 8 <= nb; b += 8)
		acc = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(m + b))), _mm256_loadu_ps(xs + b), acc);
	float s = hsum8(acc);
	for (; b < nb; b++)
		s += _cvtsh_ss(m[b]) * xs[b];
	return s;
}

/* One Q4_1 block of one row (16 code bytes at q) times x's block x0..x3, in fp32: bytes
 * 0..7 hold elements 0..7 (low nibbles) and 16..23 (high), bytes 8..15 the rest. */
static inline __attribute__((always_inline)) AVX2 __m256 block_fp32(const uint8_t *q, __m256 x0, __m256 x1, __m256 x2,
								     __m256 x3)
{
	const __m256i low4 = _mm256_set1_epi32(15);
	__m256i c0 = u8x8(q), c1 = u8x8(q + 8);
	__m256 t = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_and_si256(c0, low4)), x0);
	t = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(c1, low4)), x1, t);
	t = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(c0, 4)), x2, t);
	return _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(c1, 4)), x3, t);
}

/* One Q4_1 block of one row times x's bytes xv and group scales sv (cpu-int8): the codes
 * times the bytes summed in int32 lanes (vpmaddubsw, then vpmaddwd; lane k holds elements
 * 4k..4k+3, one scale group), converted and multiplied by the groups' scales. Bytes 0..15
 * of q: the low nibbles (elements 0..15); 16..31: the high ones. */
static inline __attribute__((always_inline)) AVX2 __m256 block_int8(const uint8_t *q, __m256i xv, __m256 sv)
{
	__m128i v = _mm_loadu_si128((const __m128i *)q);
	__m256i c = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(15));
	__m256i prod = _mm256_madd_epi16(_mm256_maddubs_epi16(c, xv), _mm256_set1_epi16(1));
	return _mm256_mul_ps(_mm256_cvtepi32_ps(prod), sv);
}

/* nr (1 or QMAT_AVX2_ROWS, a constant once inlined) Q4_1 rows from r0 into y[0..nr), x in
 * fp32 (x, its block sums xs) or, where p is not null (a constant once inlined), as
 * cpu-int8's bytes: the mins go first (mins_dot); then each CHUNK blocks the rows' scales
 * are widened into ds (read back as broadcasts), a block's x is loaded once for the nr
 * rows, and each row's block sum (block_fp32 or block_int8) is scaled by d. */
static inline __attribute__((always_inline)) AVX2 void rows_q4_1(const struct qmat *w, int r0, int nr, const float *x,
								  const float *xs, const struct qx8 *p, float *y)
{
	int nb = w->cols / QMAT_BLOCK;
	__m256 acc[QMAT_AVX2_ROWS];
	float mins[QMAT_AVX2_ROWS];
#pragma GCC unroll 4
	for (int j = 0; j < nr; j++) {
		acc[j] = _mm256_setzero_ps();
		mins[j] = mins_dot(w->m + (size_t)(r0 + j) * nb, p ? p->sum : xs, nb);
	}
	for (int b0 = 0; b0 < nb; b0 += CHUNK) {
		int nc = nb - b0 < CHUNK ? nb - b0 : CHUNK;
		float ds[QMAT_AVX2_ROWS][CHUNK];
#pragma GCC unroll 4
		for (int j = 0; j < nr; j++)
			widen_f16(ds[j], w->d + (size_t)(r0 + j) * nb + b0, nc);
		for (int b = 0; b < nc; b++) {
			__m256 x0 = _mm256_setzero_ps(), x1 = x0, x2 = x0, x3 = x0, sv = x0;
			__m256i xv = _mm256_setzero_si256();
			if (p) {
				xv = _mm256_load_si256((const __m256i *)p->v[b0 + b]);
				sv = _mm256_load_ps(p->s[b0 + b]);
			} else {
				const float *xb = x + (size_t)(b0 + b) * QMAT_BLOCK;
				x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8);
				x2 = _mm256_loadu_ps(xb + 16), x3 = _mm256_loadu_ps(xb + 24);
			}
			const uint8_t *qs[QMAT_AVX2_ROWS];
#pragma GCC unroll 4
			for (int j = 0; j < nr; j++)
				qs[j] = qmat_step_codes(w, QMAT_Q4_1, r0, nr, j, b0 + b);
			if ((b & 3) == 0) /* once per 64-byte line of each row */
#pragma GCC unroll 4
				for (int j = 0; j < nr; j++)
					_mm_prefetch((const char *)qs[j] + PREFETCH, _MM_HINT_T0);
#pragma GCC unroll 4
			for (int j = 0; j < nr; j++) {
				__m256 t = p ? block_int8(qs[j], xv, sv) : block_fp32(qs[j], x0, x1, x2, x3);
				acc[j] = _mm256_fmadd_ps(t, _mm256_broadcast_ss(&ds[j][b]), acc[j]);
			}
		}
	}
#pragma GCC unroll 4
	for (int j = 0; j < nr; j++)
		y[j] = hsum8(acc[j]) + mins[j];
}

/* nr (1 or QMAT_AVX2_ROWS, a constant once inlined) Q8_0 rows from r0 into y[0..nr) (no
 * mins): codes sign-extended, two accumulators per row over alternate blocks; the rows
 * step through the blocks together, so a whole group's codes are read as one stream
 * (qmat_codes), each row's sums in the same order as one row alone. */
static inline __attribute__((always_inline)) AVX2 void rows_q8_0(const struct qmat *w, int r0, int nr, const float *x,
								  float *y)
{
	int nb = w->cols / QMAT_BLOCK;
	__m256 acc[QMAT_AVX2_ROWS][2];
#pragma GCC unroll 4
	for (int j = 0; j < nr; j++)
		acc[j][0] = acc[j][1] = _mm256_setzero_ps();
	for (int b0 = 0; b0 < nb; b0 += 8) {
		int nc = nb - b0 < 8 ? nb - b0 : 8;
		float ds[QMAT_AVX2_ROWS][8];
#pragma GCC unroll 4
		for (int j = 0; j < nr; j++)
			widen_f16(ds[j], w->d + (size_t)(r0 + j) * nb + b0, nc);
		for (int b = 0; b < nc; b++) {
			const float *xb = x + (size_t)(b0 + b) * QMAT_BLOCK;
#pragma GCC unroll 4
			for (int j = 0; j < nr; j++) {
				const uint8_t *qs = qmat_step_codes(w, QMAT_Q8_0, r0, nr, j, b0 + b);
				if ((b & 1) == 0)
					_mm_prefetch((const char *)qs + PREFETCH, _MM_HINT_T0);
				__m256 t = _mm256_mul_ps(_mm256_cvtepi32_ps(s8x8(qs)), _mm256_loadu_ps(xb));
				t = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s8x8(qs + 8)), _mm256_loadu_ps(xb + 8), t);
				t = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s8x8(qs + 16)), _mm256_loadu_ps(xb + 16), t);
				t = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s8x8(qs + 24)), _mm256_loadu_ps(xb + 24), t);
				acc[j][b & 1] = _mm256_fmadd_ps(t, _mm256_set1_ps(ds[j][b]), acc[j][b & 1]);
			}
		}
	}
#pragma GCC unroll 4
	for (int j = 0; j < nr; j++)
		y[j] = hsum8(_mm256_add_ps(acc[j][0], acc[j][1]));
}

AVX2 void qmatvec_avx2_rows(const struct qmat *w, int r0, int nr, const float *x, const float *xs, float *y)
{
	if (w->type == QMAT_Q4_1 && nr == QMAT_AVX2_ROWS)
		rows_q4_1(w, r0, QMAT_AVX2_ROWS, x, xs, NULL, y);
	else if (w->type == QMAT_Q4_1)
		for (int j = 0; j < nr; j++)
			rows_q4_1(w, r0 + j, 1, x, xs, NULL, y + j);
	else if (nr == QMAT_AVX2_ROWS)
		rows_q8_0(w, r0, QMAT_AVX2_ROWS, x, y);
	else
		for (int j = 0; j < nr; j++)
			rows_q8_0(w, r0 + j, 1, x, y + j);
}

// ----------------------------------------------------------------------------
// x as bytes per block (cpu-int8)

/* 8 elements of x (two groups of 4) into int32 lanes v and per-lane scales *s: each
 * lane's group maximum of |x| (two in-lane swaps), then 127 / max and max / 127, zeroed
 * for a tiny group, as qx8_prepare. */
static inline __attribute__((always_inline)) AVX2 __m256i groups_of_4(__m256 x, __m256 *s)
{
	__m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
	a = _mm256_max_ps(a, _mm256_permute_ps(a, 0x4e)); /* lanes (2, 3, 0, 1) */
	a = _mm256_max_ps(a, _mm256_permute_ps(a, 0xb1)); /* lanes (1, 0, 3, 2) */
	__m256 big = _mm256_cmp_ps(a, _mm256_set1_ps(QX8_TINY), _CMP_GE_OQ);
	*s = _mm256_and_ps(big, _mm256_div_ps(a, _mm256_set1_ps(127.0f)));
	__m256 inv = _mm256_and_ps(big, _mm256_div_ps(_mm256_set1_ps(127.0f), a));
	return _mm256_cvtps_epi32(_mm256_mul_ps(x, inv));
}

AVX2 void qx8_prepare_avx2(struct qx8 *p, const float *x, int nb)
{
	const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7); /* undoes the lane interleaves */
	p->nb = nb;
	for (int b = 0; b < nb; b++) {
		const float *xb = x + (size_t)b * 32;
		__m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8);
		__m256 x2 = _mm256_loadu_ps(xb + 16), x3 = _mm256_loadu_ps(xb + 24);
		p->sum[b] = hsum8(_mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3)));
		if (!isfinite(p->sum[b])) { /* as qx8_prepare */
			_mm256_store_ps(p->s[b], _mm256_set1_ps(NAN));
			_mm256_store_si256((__m256i *)p->v[b], _mm256_setzero_si256());
			continue;
		}
		__m256 s0, s1, s2, s3; /* lanes 0 and 4 of sk: groups 2k and 2k + 1 */
		__m256i v0 = groups_of_4(x0, &s0), v1 = groups_of_4(x1, &s1);
		__m256i v2 = groups_of_4(x2, &s2), v3 = groups_of_4(x3, &s3);
		/* [g0 g0 g2 g2 | g1 g1 g3 g3] and [g4 g4 g6 g6 | g5 g5 g7 g7], then [g0 g2 g4 g6 | g1 g3 g5 g7] */
		__m256 t = _mm256_shuffle_ps(_mm256_shuffle_ps(s0, s1, 0), _mm256_shuffle_ps(s2, s3, 0), 0x88);
		_mm256_store_ps(p->s[b], _mm256_permutevar8x32_ps(t, order));
		__m256i w01 = _mm256_packs_epi32(v0, v1), w23 = _mm256_packs_epi32(v2, v3);
		_mm256_store_si256((__m256i *)p->v[b], _mm256_permutevar8x32_epi32(_mm256_packs_epi16(w01, w23), order));
	}
}

_Static_assert(QX8_ROWS == QMAT_AVX2_ROWS, "rows_q4_1 walks both kernels' rows in one step");
_Static_assert(QMAT_AVX2_ROWS == QMAT_GROUP_ROWS, "the row steps are the codes' groups of rows (qmat_step_codes)");

AVX2 void qx8_rows_avx2(const struct qmat *w, int r0, int nr, const struct qx8 *p, float *y)
{
	if (nr == QX8_ROWS)
		rows_q4_1(w, r0, QX8_ROWS, NULL, NULL, p, y);
	else
		for (int j = 0; j < nr; j++)
			rows_q4_1(w, r0 + j, 1, NULL, NULL, p, y + j);
}
