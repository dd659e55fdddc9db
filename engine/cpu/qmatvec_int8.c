/* x as 8-bit integers per block (see qmatvec_int8.h): the plain C kernels, which define
 * the numerics the AVX2 ones (engine/cpu/qmatvec_avx2.c) reproduce. */
#include <math.h>
#include <stdbool.h>

#include "engine/cpu/qmatvec_int8.h"
#include "engine/quant.h" // quant_f16_to_f32

/* The block's sum in the AVX2 kernel's order: 8 lanes of (x_l + x_8+l) + (x_16+l + x_24+l),
 * then halves, quarters and the last pair, so both kernels hold the same sums. */
static float block_sum(const float *x)
{
	float t[8];
	for (int l = 0; l < 8; l++)
		t[l] = (x[l] + x[8 + l]) + (x[16 + l] + x[24 + l]);
	return ((t[0] + t[4]) + (t[2] + t[6])) + ((t[1] + t[5]) + (t[3] + t[7]));
}

void qx8_prepare(struct qx8 *p, const float *x, int nb)
{
	p->nb = nb;
	for (int b = 0; b < nb; b++) {
		const float *xb = x + (size_t)b * 32;
		p->sum[b] = block_sum(xb);
		bool finite = isfinite(p->sum[b]); /* else an inf or nan in the block (or an overflowing sum) */
		for (int g = 0; g < QX8_GROUPS; g++) {
			float amax = 0.0f;
			for (int i = 4 * g; i < 4 * g + 4; i++)
				amax = fabsf(xb[i]) > amax ? fabsf(xb[i]) : amax;
			bool zero = !finite || amax < QX8_TINY;
			float inv = zero ? 0.0f : 127.0f / amax;
			p->s[b][g] = !finite ? NAN : zero ? 0.0f : amax / 127.0f;
			for (int i = 4 * g; i < 4 * g + 4; i++) /* the current rounding: nearest even */
				p->v[b][i] = zero ? 0 : (int8_t)nearbyintf(xb[i] * inv);
		}
	}
}

/* Row r's product: per group the exact integer sum times s and d, plus m times x's block
 * sum, summed in double. */
static float row_int8(const struct qmat *w, int r, const struct qx8 *p)
{
	int nb = w->cols / QMAT_BLOCK;
	const uint16_t *d = w->d + (size_t)r * nb, *m = w->m + (size_t)r * nb;
	double acc = 0.0;
	for (int b = 0; b < nb; b++) {
		const uint8_t *qs = qmat_codes(w, r, b);
		double db = quant_f16_to_f32(d[b]);
		for (int g = 0; g < QX8_GROUPS; g++) {
			int32_t isum = 0;
			for (int i = 4 * g; i < 4 * g + 4; i++) /* byte i % 16: element i % 16 low, i % 16 + 16 high */
				isum += (i < 16 ? qs[i] & 15 : qs[i - 16] >> 4) * p->v[b][i];
			acc += db * p->s[b][g] * isum;
		}
		acc += (double)(quant_f16_to_f32(m[b]) * p->sum[b]);
	}
	return (float)acc;
}

void qx8_rows(const struct qmat *w, int r0, int nr, const struct qx8 *p, float *y)
{
	for (int j = 0; j < nr; j++)
		y[j] = row_int8(w, r0 + j, p);
}
