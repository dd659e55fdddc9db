/* Decode's Q4_1 products with AVX512-VNNI (x as 24-bit integers per block; see
 * engine/cpu/qmatvec_vnni.c). Used by engine/cpu/qmatvec.c where the CPU has it. */
#ifndef KVLAB_ENGINE_CPU_QMATVEC_VNNI_H
#define KVLAB_ENGINE_CPU_QMATVEC_VNNI_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/qmat.h"

#define QX_MAX_GROUPS 128 /* groups of 4 blocks of x: x up to 16384 elements */
#define QX_ROWS 4         /* rows per step: they share the loads of x's digits */

/* One x, prepared: per group of 4 blocks, three digit vectors for the codes' low nibbles
 * (elements 0..15 of each block) and three for the high ones (16..31), and the blocks'
 * scales spread over the 4 lanes vpdpbusd gives each block. */
struct qx {
	int ng; /* groups filled */
	int8_t digit[QX_MAX_GROUPS][3][2][64] __attribute__((aligned(64))); /* [g][h, m, l][lo, hi][16 k + i] */
	float scale[QX_MAX_GROUPS][16] __attribute__((aligned(64)));        /* [g][4 k + lane] */
};

/* Whether this CPU runs q4_1_rows_vnni (AVX-512 F, BW, VL and VNNI). */
bool qx_supported(void);
/* Prepares x (nb blocks of 32) into p; -1 (p unusable) where nb needs more than
 * QX_MAX_GROUPS groups, x holds an inf or a nan, or a block's largest |x| is below 2^-100
 * (its scale would lose bits) without being 0. */
int qx_prepare(struct qx *p, const float *x, int nb);
/* y[j] = row r0 + j of Q4_1 w times x for j < nr (nr <= QX_ROWS), x prepared in p, xs
 * its fp32 block sums. Only where qx_supported(). */
void q4_1_rows_vnni(const struct qmat *w, int r0, int nr, const struct qx *p, const float *xs, float *y);

#endif
