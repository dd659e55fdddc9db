/* Decode's Q4_1 and Q8_0 products with AVX2, FMA and F16C (engine/cpu/qmatvec_avx2.c), for
 * CPUs without AVX-512. Used by engine/cpu/qmatvec.c where the CPU has them. */
#ifndef KVLAB_ENGINE_CPU_QMATVEC_AVX2_H
#define KVLAB_ENGINE_CPU_QMATVEC_AVX2_H

#include <stdbool.h>

#include "engine/qmat.h"

#define QMAT_AVX2_ROWS 4 /* Q4_1 rows per step: they share the loads of x */

/* Whether this CPU runs the kernels below (AVX2, FMA and F16C). */
bool qmatvec_avx2_supported(void);
/* xs[b] = the sum of x's block b (32 elements), b < nb. Only where qmatvec_avx2_supported(). */
void qmatvec_avx2_block_sums(float *xs, const float *x, int nb);
/* y[j] = row r0 + j of w (Q4_1 or Q8_0) times x for j < nr (nr <= QMAT_AVX2_ROWS), xs x's
 * block sums. Only where qmatvec_avx2_supported(). */
void qmatvec_avx2_rows(const struct qmat *w, int r0, int nr, const float *x, const float *xs, float *y);

#endif
