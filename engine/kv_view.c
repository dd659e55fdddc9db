/* Services the engine offers methods inside prefill_layer: attention probabilities
 * of chosen rows and raw query-key dot products, computed from the view's own
 * post-RoPE Q/K, so a method never materialises more than it asks for.
 * T = view rows, H = query heads, D = head_dim. */
#include <cblas.h> // cblas_sgemm, cblas_sgemv
#include <math.h>

#include "engine/cpu/cpu_ops.h" // cpu_softmax_row
#include "engine/errors.h"
#include "engine/kv_method.h"

int kv_view_attn_probs(const struct kv_layer_view *v, int row0, int n_rows, int causal_from, float *out,
		       char *err, size_t errlen)
{
	const struct kv_shape *s = v->shape;
	int H = s->n_head, Hkv = s->n_head_kv, D = s->head_dim, T = v->n, G = H / Hkv;
	if (row0 < 0 || n_rows < 0 || row0 + n_rows > T)
		return kv_errf(err, errlen, KV_EINTERNAL, "attention rows [%d, %d) outside 0..%d", row0, row0 + n_rows, T);
	float scale = 1.0f / sqrtf((float)D);
#pragma omp parallel for schedule(static)
	for (int h = 0; h < H; h++) {
		float *o = out + (size_t)h * n_rows * T;
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_rows, T, D, scale, v->q + (size_t)row0 * H * D + (size_t)h * D,
			    H * D, v->k + (size_t)(h / G) * D, Hkv * D, 0.0f, o, T);
		for (int r = 0; r < n_rows; r++) {
			int i = row0 + r;
			/* columns that take part; the rest are set to 0 (the vectorised exp: H2O
			 * scores every row, T x T exps per head and layer) */
			cpu_softmax_row(o + (size_t)r * T, i >= causal_from ? i + 1 : T, T);
		}
	}
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
