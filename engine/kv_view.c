/* Services the engine offers methods inside prefill_layer: attention probabilities
 * of chosen rows and raw query-key dot products, computed from the view's own
 * post-RoPE Q/K, so a method never materialises more than it asks for.
 * T = view rows, H = query heads, D = head_dim. */
#include <cblas.h> // cblas_sgemm, cblas_sgemv
#include <math.h>
#include <stdlib.h>

#include "engine/cpu/cpu_ops.h" // cpu_softmax_row
#include "base/errors.h"
#include "engine/kv_method.h"

#define COLSUM_ROWS 128 /* rows one head scores at once when summing (fewer K re-packings than 32 or 64) */

/* Probabilities of rows [row0, row0+n_rows) of query head h over all T keys into o (n_rows, T). */
static void head_probs(const struct kv_layer_view *v, int h, int row0, int n_rows, int causal_from, float *o)
{
	const struct kv_shape *s = v->shape;
	int H = s->n_head, Hkv = s->n_head_kv, D = s->head_dim, T = v->n, G = H / Hkv;
	float scale = 1.0f / sqrtf((float)D);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_rows, T, D, scale, v->q + (size_t)row0 * H * D + (size_t)h * D,
		    H * D, v->k + (size_t)(h / G) * D, Hkv * D, 0.0f, o, T);
	for (int r = 0; r < n_rows; r++) {
		int i = row0 + r;
		/* columns that take part; the rest are set to 0 (the vectorised exp: H2O
		 * scores every row, T x T exps per head and layer) */
		cpu_softmax_row(o + (size_t)r * T, i >= causal_from ? i + 1 : T, T);
	}
}

static int check_rows(const struct kv_layer_view *v, int row0, int n_rows, char *err, size_t errlen)
{
	if (row0 < 0 || n_rows < 0 || row0 + n_rows > v->n)
		return kv_errf(err, errlen, KV_EINTERNAL, "attention rows [%d, %d) outside 0..%d", row0, row0 + n_rows, v->n);
	return 0;
}

int kv_view_attn_probs(const struct kv_layer_view *v, int row0, int n_rows, int causal_from, float *out,
		       char *err, size_t errlen)
{
	int rc = check_rows(v, row0, n_rows, err, errlen);
	if (rc)
		return rc;
	int H = v->shape->n_head;
#pragma omp parallel for schedule(static)
	for (int h = 0; h < H; h++)
		head_probs(v, h, row0, n_rows, causal_from, out + (size_t)h * n_rows * v->n);
	return 0;
}

int kv_view_attn_colsum(const struct kv_layer_view *v, int row0, int n_rows, int causal_from, int ncols, float *acc,
			char *err, size_t errlen)
{
	int rc = check_rows(v, row0, n_rows, err, errlen);
	if (rc)
		return rc;
	int H = v->shape->n_head, T = v->n, oom = 0;
	if (ncols < 0 || ncols > T)
		return kv_errf(err, errlen, KV_EINTERNAL, "attention column sums over %d of %d keys", ncols, T);
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
			float *a = acc + (size_t)h * ncols;
			for (int r0 = row0; o && r0 < row0 + n_rows; r0 += COLSUM_ROWS) {
				int nr = row0 + n_rows - r0 < COLSUM_ROWS ? row0 + n_rows - r0 : COLSUM_ROWS;
				head_probs(v, h, r0, nr, causal_from, o);
				for (int r = 0; r < nr; r++) {
					const float *row = o + (size_t)r * T;
#pragma omp simd
					for (int j = 0; j < ncols; j++)
						a[j] += row[j];
				}
			}
		}
		free(o);
	}
	if (oom)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory for %d attention rows of %d keys", COLSUM_ROWS, T);
	return 0;
}

void kv_view_dots(const struct kv_layer_view *v, int row, float *out)
{
	const struct kv_shape *s = v->shape;
	int H = s->n_head, Hkv = s->n_head_kv, D = s->head_dim, T = v->n, G = H / Hkv;
#pragma omp parallel for schedule(static)
	for (int h = 0; h < H; h++)
		cblas_sgemv(CblasRowMajor, CblasNoTrans, T, D, 1.0f, v->k + (size_t)(h / G) * D, Hkv * D,
			    v->q + (size_t)row * H * D + (size_t)h * D, 1, 0.0f, out + (size_t)h * T, 1);
}
