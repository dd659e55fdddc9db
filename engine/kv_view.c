/* Services the engine offers methods inside prefill_layer: attention probabilities
 * of chosen rows and raw query-key dot products, computed from the view's own
 * post-RoPE Q/K by the view's backend (engine/backend.h: attn_probs, attn_colsum,
 * qk_dots; the CPU ones in engine/cpu/score.c), so a method never materialises more
 * than it asks for. T = view rows, H = query heads, D = head_dim. */
#include <stdlib.h>

#include "base/errors.h"
#include "engine/backend.h" // bk_attn_probs, bk_attn_colsum, bk_qk_dots, bk_download
#include "engine/kv_method.h"
#include "engine/quant.h"   // quant_f32_to_f16, quant_f16_to_f32

static const struct backend_ops *view_backend(const struct kv_layer_view *v)
{
	return v->be ? v->be : &backend_cpu;
}

static struct bk_qk view_qk(const struct kv_layer_view *v)
{
	const struct kv_shape *s = v->shape;
	return (struct bk_qk){ .q = v->q, .k = v->k, .T = v->n, .H = s->n_head, .Hkv = s->n_head_kv, .D = s->head_dim };
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
	struct bk_qk a = view_qk(v);
	bk_attn_probs(view_backend(v), out, &a, row0, n_rows, causal_from);
	return bk_check(view_backend(v), err, errlen);
}

int kv_view_attn_colsum(const struct kv_layer_view *v, int row0, int n_rows, int causal_from, int ncols, float *acc,
			char *err, size_t errlen)
{
	int rc = check_rows(v, row0, n_rows, err, errlen);
	if (rc)
		return rc;
	if (ncols < 0 || ncols > v->n)
		return kv_errf(err, errlen, KV_EINTERNAL, "attention column sums over %d of %d keys", ncols, v->n);
	struct bk_qk a = view_qk(v);
	if ((rc = bk_attn_colsum(view_backend(v), acc, &a, row0, n_rows, causal_from, ncols, err, errlen)))
		return rc;
	return bk_check(view_backend(v), err, errlen);
}

void kv_view_dots(const struct kv_layer_view *v, int row, float *out)
{
	struct bk_qk a = view_qk(v);
	bk_qk_dots(view_backend(v), out, &a, row);
}

void kv_view_download(const struct kv_layer_view *v, float *dst, const float *src, size_t n)
{
	bk_download(view_backend(v), dst, src, sizeof(float) * n);
}

float kv_round_fp16(float x)
{
	return quant_f16_to_f32(quant_f32_to_f16(x));
}

int kv_view_dots_fp16(const struct kv_layer_view *v, int row, float *out, char *err, size_t errlen)
{
	const struct kv_shape *s = v->shape;
	const struct backend_ops *be = view_backend(v);
	int rc = check_rows(v, row, 1, err, errlen);
	if (rc)
		return rc;
	size_t nq = (size_t)s->n_head * s->head_dim, nk = (size_t)v->n * s->n_head_kv * s->head_dim;
	float *q = malloc(sizeof(float) * (nq + nk)), *k = q + nq;
	if (!q)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory for fp16 copies of q and %d keys", v->n);
	bk_download(be, q, v->q + (size_t)row * nq, sizeof(float) * nq);
	bk_download(be, k, v->k, sizeof(float) * nk);
	for (size_t i = 0; i < nq + nk; i++)
		q[i] = kv_round_fp16(q[i]);
	struct bk_qk a = { .q = q, .k = k, .T = v->n, .H = s->n_head, .Hkv = s->n_head_kv, .D = s->head_dim };
	bk_qk_dots(&backend_cpu, out, &a, 0);
	free(q);
	return 0;
}
