/* CPU scoring ops for the methods' services (engine/kv_view.c): attention probabilities
 * of chosen rows, their column sums, and raw query-key dots, from one prefill layer's
 * post-RoPE Q/K. GEMMs through OpenBLAS, heads over OpenMP threads.
 * T = rows of the layer, H = query heads, Hkv = KV heads, D = head_dim. */
#include <cblas.h> // cblas_sgemm, cblas_sgemv
#include <math.h>
#include <stdlib.h>

#include "base/errors.h" // KV_ENOMEM
#include "engine/cpu/cpu_ops.h"

#define COLSUM_ROWS 128 /* rows one head scores at once when summing (fewer K re-packings than 32 or 64) */

/* Probabilities of rows [row0, row0+n_rows) of query head h over all T keys into o (n_rows, T). */
static void head_probs(const struct bk_qk *a, int h, int row0, int n_rows, int causal_from, float *o)
{
	int H = a->H, Hkv = a->Hkv, D = a->D, T = a->T, G = H / Hkv;
	float scale = 1.0f / sqrtf((float)D);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_rows, T, D, scale, a->q + (size_t)row0 * H * D + (size_t)h * D,
		    H * D, a->k + (size_t)(h / G) * D, Hkv * D, 0.0f, o, T);
	for (int r = 0; r < n_rows; r++) {
		int i = row0 + r;
		/* columns that take part; the rest are set to 0 (the vectorised exp: H2O
		 * scores every row, T x T exps per head and layer) */
		cpu_softmax_row(o + (size_t)r * T, i >= causal_from ? i + 1 : T, T);
	}
}

/* In blocks of COLSUM_ROWS rows from row0, as cpu_attn_colsum forms them: a GEMM's row
 * can round differently with the number of rows in the call (OpenBLAS's Zen 3 sgemm
 * does), and the column sums must equal these rows summed. */
void cpu_attn_probs(float *out, const struct bk_qk *a, int row0, int n_rows, int causal_from)
{
	int H = a->H;
#pragma omp parallel for schedule(static)
	for (int h = 0; h < H; h++)
		for (int r0 = row0; r0 < row0 + n_rows; r0 += COLSUM_ROWS) {
			int nr = row0 + n_rows - r0 < COLSUM_ROWS ? row0 + n_rows - r0 : COLSUM_ROWS;
			head_probs(a, h, r0, nr, causal_from, out + ((size_t)h * n_rows + (r0 - row0)) * a->T);
		}
}

int cpu_attn_colsum(float *acc, const struct bk_qk *a, int row0, int n_rows, int causal_from, int ncols)
{
	int H = a->H, T = a->T, oom = 0;
#pragma omp parallel
	{
		float *o = malloc(sizeof(float) * COLSUM_ROWS * (size_t)T);
		if (!o) {
#pragma omp atomic write
			oom = 1;
		}
		/* per head, blocks and rows in ascending order: each column adds its rows in
		 * row order, whatever the block size or thread count */
#pragma omp for schedule(static)
		for (int h = 0; h < H; h++) {
			float *acc_h = acc + (size_t)h * ncols;
			for (int r0 = row0; o && r0 < row0 + n_rows; r0 += COLSUM_ROWS) {
				int nr = row0 + n_rows - r0 < COLSUM_ROWS ? row0 + n_rows - r0 : COLSUM_ROWS;
				head_probs(a, h, r0, nr, causal_from, o);
				for (int r = 0; r < nr; r++) {
					const float *row = o + (size_t)r * T;
#pragma omp simd
					for (int j = 0; j < ncols; j++)
						acc_h[j] += row[j];
				}
			}
		}
		free(o);
	}
	return oom ? KV_ENOMEM : 0;
}

void cpu_qk_dots(float *out, const struct bk_qk *a, int row)
{
	int H = a->H, Hkv = a->Hkv, D = a->D, T = a->T, G = H / Hkv;
#pragma omp parallel for schedule(static)
	for (int h = 0; h < H; h++)
		cblas_sgemv(CblasRowMajor, CblasNoTrans, T, D, 1.0f, a->k + (size_t)(h / G) * D, Hkv * D,
			    a->q + (size_t)row * H * D + (size_t)h * D, 1, 0.0f, out + (size_t)h * T, 1);
}
