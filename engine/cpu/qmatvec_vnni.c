/* Q4_1 products with AVX512-VNNI: x as 24-bit integers per block, three signed bytes each.
 * Each 32-element block of x becomes x_i ~= v_i * s (s = max |x_i| / 8323072, v_i an
 * integer of at most 24 bits, split into balanced base-256 digits v = 65536 h + 256 m + l,
 * each in [-128, 127]). A weight code q (0..15) times each digit is one lane of vpdpbusd;
 * per block, sum q v = 65536 sum q h + 256 sum q m + sum q l is exact in int32 (at most
 * 8 codes x 15 x 128 x 65793 per lane), so the only roundings are x's to 24 bits (within
 * s / 2 per element) and the fp32 conversions and fused multiply-adds that follow: within
 * 1e-6 of sum |w x| like the fp32 kernels. Per 128 weights and row: one 64-byte load, three
 * unpacking ops and six vpdpbusd, where the fp32 kernel (engine/cpu/qmatvec.c) spends 36
 * widenings, conversions and multiplies. The mins go as before, m * sum(x) with x's exact
 * fp32 block sums. Two bytes per element (x as 16-bit integers, four vpdpbusd) were faster
 * again but 2-10x further from the double-precision products than fp32, so three it is.
 * The same row walk also takes cpu-int8's x (one byte and a scale per 4 elements,
 * engine/cpu/qmatvec_int8.h): qx8_rows_vnni, two vpdpbusd per 128 weights and row. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "engine/cpu/qmatvec_int8.h" // struct qx8, qx8_rows_vnni
#include "engine/cpu/qmatvec_vnni.h"

_Static_assert(QX_ROWS == QMAT_GROUP_ROWS, "rows steps whole groups of the codes' rows (qmat_step_codes)");

#pragma GCC diagnostic ignored "-Wpsabi"

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,fma")))

#define QX_RANGE 8323072.0f /* 127 x 65536: |v| up to it keeps the top digit in [-127, 127] */
#define QX_PREFETCH 2048     /* codes prefetched this many bytes ahead, as engine/cpu/qmatvec.c does */

bool qx_supported(void)
{
	return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}

/* x's 32 elements from x0 (elements 0..15) and x1 (16..31) as 24-bit integers v = round(x /
 * s), each clamped to +-QX_RANGE, into their three balanced digits: the low digit is ((v +
 * 128) mod 256) - 128, then v = (v - low) / 256 (exact: an arithmetic shift), twice more.
 * Digit dg (0 the highest) of elements 16 h + i goes to out[dg][h][16 k + i]. */
static inline __attribute__((always_inline)) VNNI void block_digits(int8_t (*out)[2][64], int k, __m512 x0,
								    __m512 x1, float inv)
{
	const __m512i lim = _mm512_set1_epi32((int)QX_RANGE), b128 = _mm512_set1_epi32(128), b255 = _mm512_set1_epi32(255);
	__m512 xs[2] = { x0, x1 };
	for (int h = 0; h < 2; h++) {
		__m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(xs[h], _mm512_set1_ps(inv))); /* nearest, ties to even */
		v = _mm512_max_epi32(_mm512_min_epi32(v, lim), _mm512_sub_epi32(_mm512_setzero_si512(), lim));
		for (int dg = 2; dg >= 0; dg--) {
			__m512i low = _mm512_sub_epi32(_mm512_and_si512(_mm512_add_epi32(v, b128), b255), b128);
			_mm_store_si128((__m128i *)&out[dg][h][16 * k], _mm512_cvtepi32_epi8(low));
			v = _mm512_srai_epi32(_mm512_sub_epi32(v, low), 8);
		}
	}
}

VNNI int qx_prepare(struct qx *p, const float *x, int nb)
{
	int ng = (nb + 3) / 4;
	if (ng > QX_MAX_GROUPS)
		return -1;
	p->ng = ng;
	/* a last group's missing blocks: zero scales (their codes load as zeros) */
	memset(p->digit[ng - 1], 0, sizeof(p->digit[0]));
	memset(p->scale[ng - 1], 0, sizeof(p->scale[0]));
	for (int b = 0; b < nb; b++) {
		const float *xb = x + (size_t)b * 32;
		__m512 x0 = _mm512_loadu_ps(xb), x1 = _mm512_loadu_ps(xb + 16);
		if (_mm512_cmp_ps_mask(x0, x0, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(x1, x1, _CMP_UNORD_Q))
			return -1; /* a nan: the fp32 kernel propagates it */
		float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
		if (!isfinite(amax) || (amax > 0 && amax < 0x1p-100f))
			return -1; /* an inf (the fp32 kernel propagates it), or a scale near subnormal */
		int g = b / 4, k = b % 4;
		float s = amax / QX_RANGE, inv = amax > 0 ? QX_RANGE / amax : 0.0f;
		_mm_store_ps(&p->scale[g][4 * k], _mm_set1_ps(s));
		block_digits(p->digit[g], k, x0, x1, inv);
	}
	return 0;
}

/* rows r0 .. r0 + nr of w (nr a constant once inlined) times x prepared as 24-bit digits
 * in p or, where p8 is not null (a constant once inlined), as cpu-int8's bytes in p8 (then
 * xs is p8's block sums). Each 16 blocks the rows' fp16 scales are widened to a vector
 * (spread to each block's 4 lanes by vpermps) and their mins multiplied into x's block
 * sums; each group of 4 blocks is one 64-byte load of codes per row against x's vectors
 * for the group, loaded once for the nr rows: p's six digit vectors and its scales, or
 * p8's bytes and group scales regrouped into the low nibbles' half (elements 0..15 of each
 * block, 16 bytes per block as the codes hold them) and the high half. With p8, blocks past
 * nb load no codes and zero scales (a stale nan scale would poison the row). */
static inline __attribute__((always_inline)) VNNI void rows(const struct qmat *w, int r0, int nr, const struct qx *p,
							     const struct qx8 *p8, const float *xs, float *y)
{
	int nb = w->cols / 32;
	const __m512i low4 = _mm512_set1_epi8(15);
	const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
	/* qwords of two 2-block loads of p8's bytes: each block's first 16 bytes, then its last 16 */
	const __m512i lo_q = _mm512_setr_epi64(0, 1, 4, 5, 8, 9, 12, 13), hi_q = _mm512_setr_epi64(2, 3, 6, 7, 10, 11, 14, 15);
	/* floats of two 2-block loads of p8's scales: each block's groups 0..3, then 4..7 */
	const __m512i lo_s = _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
	const __m512i hi_s = _mm512_add_epi32(lo_s, _mm512_set1_epi32(4));
	if (p8)
		xs = p8->sum;
	__m512 acc[QX_ROWS], macc[QX_ROWS];
#pragma GCC unroll 4
	for (int j = 0; j < nr; j++)
		acc[j] = macc[j] = _mm512_setzero_ps();
	for (int b0 = 0; b0 < nb; b0 += 16) {
		int nc = nb - b0 < 16 ? nb - b0 : 16;
		__mmask16 k = (__mmask16)((1u << nc) - 1);
		__m512 ds[QX_ROWS], vxs = _mm512_maskz_loadu_ps(k, xs + b0);
#pragma GCC unroll 4
		for (int j = 0; j < nr; j++) {
			size_t o = (size_t)(r0 + j) * nb + b0;
			ds[j] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, w->d + o));
			macc[j] = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, w->m + o)), vxs, macc[j]);
		}
		for (int q = 0; 4 * q < nc; q++) {
			int b = b0 + 4 * q, have = nc - 4 * q < 4 ? nc - 4 * q : 4;
			__mmask64 km = have == 4 ? ~(__mmask64)0 : (((__mmask64)1 << (16 * have)) - 1);
			__m512i h0, h1, m0, m1, l0, l1, x_lo, x_hi;
			__m512 sc, s_lo, s_hi;
			h0 = h1 = m0 = m1 = l0 = l1 = x_lo = x_hi = _mm512_setzero_si512();
			sc = s_lo = s_hi = _mm512_setzero_ps();
			if (p8) {
				/* b is a multiple of 4 below nb <= QX8_MAX_BLOCKS: blocks b .. b + 3 are in p8's arrays */
				__m512i va = _mm512_loadu_si512(p8->v[b]), vb = _mm512_loadu_si512(p8->v[b + 2]);
				x_lo = _mm512_permutex2var_epi64(va, lo_q, vb);
				x_hi = _mm512_permutex2var_epi64(va, hi_q, vb);
				__mmask16 ka = have >= 2 ? 0xffff : 0x00ff, kb = have == 4 ? 0xffff : have == 3 ? 0x00ff : 0;
				__m512 sa = _mm512_maskz_loadu_ps(ka, p8->s[b]), sb = _mm512_maskz_loadu_ps(kb, p8->s[b + 2]);
				s_lo = _mm512_permutex2var_ps(sa, lo_s, sb);
				s_hi = _mm512_permutex2var_ps(sa, hi_s, sb);
			} else {
				const int8_t(*dg)[2][64] = p->digit[b / 4];
				h0 = _mm512_load_si512(dg[0][0]), h1 = _mm512_load_si512(dg[0][1]);
				m0 = _mm512_load_si512(dg[1][0]), m1 = _mm512_load_si512(dg[1][1]);
				l0 = _mm512_load_si512(dg[2][0]), l1 = _mm512_load_si512(dg[2][1]);
				sc = _mm512_load_ps(p->scale[b / 4]);
			}
			__m512i idx = _mm512_add_epi32(spread, _mm512_set1_epi32(4 * q));
#pragma GCC unroll 4
			for (int j = 0; j < nr; j++) {
				/* blocks b .. b + have - 1 */
				const uint8_t *qs = qmat_step_codes(w, QMAT_Q4_1, r0, nr, j, b);
				_mm_prefetch((const char *)qs + QX_PREFETCH, _MM_HINT_T0);
				__m512i c = _mm512_maskz_loadu_epi8(km, qs);
				__m512i lo = _mm512_and_si512(c, low4), hi = _mm512_and_si512(_mm512_srli_epi16(c, 4), low4);
				__m512i z = _mm512_setzero_si512();
				__m512 t, dv = _mm512_permutexvar_ps(idx, ds[j]);
				if (p8) { /* one int32 lane per group of 4 elements, times the group's scale */
					t = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(z, lo, x_lo)), s_lo);
					t = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(z, hi, x_hi)), s_hi, t);
				} else { /* 65536 sum q h + 256 sum q m + sum q l, exact in int32 */
					__m512i th = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(z, lo, h0), hi, h1);
					__m512i tm = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(z, lo, m0), hi, m1);
					__m512i tl = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(z, lo, l0), hi, l1);
					t = _mm512_cvtepi32_ps(_mm512_add_epi32(
						_mm512_add_epi32(_mm512_slli_epi32(th, 16), _mm512_slli_epi32(tm, 8)), tl));
					dv = _mm512_mul_ps(dv, sc);
				}
				acc[j] = _mm512_fmadd_ps(t, dv, acc[j]);
			}
		}
	}
#pragma GCC unroll 4
	for (int j = 0; j < nr; j++)
		y[j] = _mm512_reduce_add_ps(_mm512_add_ps(acc[j], macc[j]));
}

VNNI void q4_1_rows_vnni(const struct qmat *w, int r0, int nr, const struct qx *p, const float *xs, float *y)
{
	if (nr == QX_ROWS)
		rows(w, r0, QX_ROWS, p, NULL, xs, y);
	else
		for (int j = 0; j < nr; j++)
			rows(w, r0 + j, 1, p, NULL, xs, y + j);
}

// ----------------------------------------------------------------------------
// x as bytes with a scale per 4 elements (cpu-int8, engine/cpu/qmatvec_int8.h)

_Static_assert(QX8_ROWS == QX_ROWS, "rows steps QX_ROWS rows, the groups it is handed");

VNNI void qx8_rows_vnni(const struct qmat *w, int r0, int nr, const struct qx8 *p, float *y)
{
	if (nr == QX_ROWS)
		rows(w, r0, QX_ROWS, NULL, p, NULL, y);
	else
		for (int j = 0; j < nr; j++)
			rows(w, r0 + j, 1, NULL, p, NULL, y + j);
}
