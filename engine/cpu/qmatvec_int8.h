/* Decode's Q4_1 products with x as 8-bit integers, as llama.cpp takes its activations
 * (Q8), with a scale per 4 elements instead of per 32: the cpu-int8 backend's qmatvec
 * (--dtype int8; its Q8_0 products stay fp32, see cpu_qmatvec_int8). Per group g of 4
 * consecutive elements, x_i ~= v_i * s_g with s_g = max |x_i| / 127 over the group and
 * v_i = x_i / s_g rounded to nearest even (|v_i| <= 127); a row's product is
 *   sum_b d_b sum_g s_g sum_{i in g} q_i v_i + m_b sum_{i in b} x_i
 * over its 32-element blocks b (x's exact fp32 block sums for the mins), the integer sums
 * exact in int32. The AVX2 kernel's int32 lanes each hold one group, so the finer scale
 * costs one multiply per block and row; it confines an outlier's coarse step to its 3
 * neighbours instead of 31 (SmolLM2's decode logits: 1.7 from fp32's with per-block
 * scales, see tests/test_qmatvec_int8.c for what this gives). Each element is within
 * s_g / 2 of x, far above fp32's rounding: an opt-in speed path, never the reference. The
 * plain C kernels here define the numerics; engine/cpu/qmatvec_avx2.c has the AVX2 ones
 * and engine/cpu/qmatvec_vnni.c the AVX512-VNNI rows (the same bytes and scales, sums
 * within fp32 rounding), and engine/cpu/qmatvec.c's cpu_qmatvec_int8 drives them. */
#ifndef KVLAB_ENGINE_CPU_QMATVEC_INT8_H
#define KVLAB_ENGINE_CPU_QMATVEC_INT8_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/qmat.h"

#define QX8_MAX_BLOCKS 2048 /* blocks of x a struct qx8 holds (x up to 65536 elements) */
#define QX8_GROUPS 8        /* scale groups per 32-element block (4 elements each) */
#define QX8_ROWS 4          /* rows per step of the AVX2 kernel: they share x's loads */
/* A group whose largest |x| is below this gets v = 0 and s = 0 (1 / s would overflow);
 * its part of the product is then lost, at most 4 x 2^-100 x the largest |d q|. */
#define QX8_TINY 0x1p-100f

/* One x, prepared. */
struct qx8 {
	int nb;                                                       /* blocks filled */
	float s[QX8_MAX_BLOCKS][QX8_GROUPS] __attribute__((aligned(32))); /* per group: max |x| / 127 (0 if tiny) */
	int8_t v[QX8_MAX_BLOCKS][32] __attribute__((aligned(32)));   /* x_i / s rounded to nearest even */
	float sum[QX8_MAX_BLOCKS];                                    /* per block: the fp32 sum of x (the mins term) */
};

/* Prepares x (nb <= QX8_MAX_BLOCKS blocks of 32) into p, in plain C. A block whose sum
 * is not finite (an inf or nan in it) gets every s nan and v 0, so its products are nan. */
void qx8_prepare(struct qx8 *p, const float *x, int nb);
/* y[j] = row r0 + j of Q4_1 w times the x prepared in p, j < nr, in plain C: each
 * group's integer sum times s (fp32) and d, accumulated in double, rounded to fp32. */
void qx8_rows(const struct qmat *w, int r0, int nr, const struct qx8 *p, float *y);

/* The AVX2 kernels (engine/cpu/qmatvec_avx2.c), only where qmatvec_avx2_supported():
 * qx8_prepare's bytes and scales exactly; y within fp32 rounding of qx8_rows's. */
void qx8_prepare_avx2(struct qx8 *p, const float *x, int nb);
/* nr <= QX8_ROWS rows, as qx8_rows. */
void qx8_rows_avx2(const struct qmat *w, int r0, int nr, const struct qx8 *p, float *y);

/* The AVX512-VNNI kernel (engine/cpu/qmatvec_vnni.c), only where qx_supported(): y within
 * fp32 rounding of qx8_rows's; nr <= QX8_ROWS. */
void qx8_rows_vnni(const struct qmat *w, int r0, int nr, const struct qx8 *p, float *y);

#endif
