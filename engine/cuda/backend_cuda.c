/* The CUDA backend tables: "cuda-bf16" (matrices in bf16, fp32 accumulation and
 * activations; the default of --backend cuda) and "cuda-fp32" (--dtype fp32, the
 * fidelity mode). Both keep the KV cache and the activations in device memory; the
 * weights, passed as host pointers, are device copies keyed by host pointer
 * (engine/cuda/weights.cu), uploaded by the prepare slot when a session starts (or on
 * first use), or generated on the device (synth slot). Per-call host data (positions,
 * cache views, token ids, kept rows) goes up in small copies; scoring outputs come
 * down as the table's contract says (host memory).
 *
 * Errors: the void slots record the first CUDA / cuBLAS failure (cuda_fail) and
 * return; the check slot synchronises and returns it as KV_EIO with the message. The
 * forward calls check at the end of every prefill and decode step and the scoring
 * services after each call, so a failure surfaces before its results are used.
 *
 * What the host sees per prefill layer of a method that decides on the host (the
 * table's contract: scores come down, kept rows go up): attn_probs downloads
 * H x n_rows x T floats (SnapKV's 32-row window at T = 128K, H = 32: 512 MiB), the
 * column sums H x T (16 MiB at 128K), qk_dots H x T (16 MiB); the kept rows go up as
 * int32 (Hkv x budget). */
#include "engine/cuda/backend_cuda.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h" // KV_EIO, KV_ENOMEM, kv_errf
#include "engine/cuda/cuda_ops.h"
#include "engine/model.h" // struct model

#define COLSUM_BLOCK_BYTES ((size_t)256 << 20) /* device bytes of probabilities scored at once by colsum */

int cuda_backend_init(char *err, size_t errlen)
{
	return cuda_ctx_init(err, errlen);
}

static const float *wf32(const float *h, size_t n)
{
	return (const float *)cuda_weight(h, n, CW_F32);
}

// ----------------------------------------------------------------------------
// ops shared by both dtypes

static void c_rmsnorm(float *y, const float *x, const float *w, int T, int E, float eps)
{
	cuda_rmsnorm(y, x, wf32(w, (size_t)E), T, E, eps);
}

static void c_rope(float *x, int ld, const int32_t *pos, int T, int nh, int D, const float *inv_freq)
{
	const int32_t *d_pos = cuda_scratch_upload(CS_POS, pos, sizeof(int32_t) * (size_t)T);
	cuda_rope(x, ld, d_pos, T, nh, D, wf32(inv_freq, (size_t)(D / 2)));
}

static void c_swiglu(float *g, const float *u, int T, int F)
{
	cuda_swiglu(g, u, (size_t)T * F);
}

static void c_add(float *x, const float *y, size_t n)
{
	cuda_add(x, y, n);
}

static void c_attn_causal(float *out, const float *q, const float *k, const float *v, int T, int H, int Hkv, int D)
{
	cuda_attn_causal(out, q, k, v, T, H, Hkv, D);
}

static void c_attn_cached(float *out, const float *q, const struct attn_kv_view *kv, int n_kv, int H, int D)
{
	int nmax = 0;
	for (int i = 0; i < n_kv; i++)
		nmax = kv[i].n > nmax ? kv[i].n : nmax;
	const void *d_views = cuda_scratch_upload(CS_VIEWS, kv, sizeof(*kv) * (size_t)n_kv);
	cuda_attn_cached(out, q, d_views, n_kv, nmax, H, D);
}

static void c_attn_probs(float *out, const struct bk_qk *a, int row0, int n_rows, int causal_from)
{
	size_t n = (size_t)a->H * n_rows * a->T;
	float *d = cuda_scratch(CS_PROBS, sizeof(float) * n);
	if (!d)
		return;
	cuda_attn_probs(d, a->q, a->k, a->T, a->H, a->Hkv, a->D, row0, n_rows, causal_from);
	cuda_mem_download(out, d, sizeof(float) * n);
}

/* The sums stay on the device: the host's acc goes up once and comes down once. Rows
 * are scored in blocks of at most 128 (fewer when H x rows x T would pass 256 MiB). */
static int c_attn_colsum(float *acc, const struct bk_qk *a, int row0, int n_rows, int causal_from, int ncols)
{
	int H = a->H, T = a->T;
	size_t acc_bytes = sizeof(float) * (size_t)H * ncols;
	size_t per_row = sizeof(float) * (size_t)H * (T > 0 ? T : 1);
	int blk = (int)(COLSUM_BLOCK_BYTES / per_row);
	blk = blk < 1 ? 1 : blk > 128 ? 128 : blk;
	float *d_acc = cuda_scratch_upload(CS_ACC, acc, acc_bytes);
	float *d_p = cuda_scratch(CS_PROBS, per_row * (size_t)(n_rows < blk ? (n_rows > 0 ? n_rows : 1) : blk));
	if (!d_acc || !d_p)
		return KV_ENOMEM;
	for (int r0 = row0; r0 < row0 + n_rows; r0 += blk) {
		int nr = row0 + n_rows - r0 < blk ? row0 + n_rows - r0 : blk;
		cuda_attn_probs(d_p, a->q, a->k, T, H, a->Hkv, a->D, r0, nr, causal_from);
		cuda_colsum_add(d_acc, d_p, H, nr, T, ncols);
	}
	cuda_mem_download(acc, d_acc, acc_bytes);
	return 0;
}

static void c_qk_dots(float *out, const struct bk_qk *a, int row)
{
	size_t n = (size_t)a->H * a->T;
	float *d = cuda_scratch(CS_PROBS, sizeof(float) * n);
	if (!d)
		return;
	cuda_qk_dots(d, a->q, a->k, a->T, a->H, a->Hkv, a->D, row);
	cuda_mem_download(out, d, sizeof(float) * n);
}

static void c_gather(float *dst, int dst_ld, const float *src, int src_ld, const int32_t *rows, int n, int width)
{
	if (n <= 0)
		return;
	int lo = rows[0], hi = rows[0];
	for (int i = 1; i < n; i++) {
		lo = rows[i] < lo ? rows[i] : lo;
		hi = rows[i] > hi ? rows[i] : hi;
	}
	uintptr_t d0 = (uintptr_t)dst, d1 = (uintptr_t)(dst + (size_t)(n - 1) * dst_ld + width);
	uintptr_t s0 = (uintptr_t)(src + (size_t)lo * src_ld), s1 = (uintptr_t)(src + (size_t)hi * src_ld + width);
	const int32_t *d_rows = cuda_scratch_upload(CS_ROWS, rows, sizeof(int32_t) * (size_t)n);
	cuda_gather(dst, dst_ld, src, src_ld, d_rows, n, width, d0 < s1 && s0 < d1);
}

static int c_check(char *err, size_t errlen)
{
	char why[512];
	if (cuda_take_error(why, sizeof(why)))
		return kv_errf(err, errlen, KV_EIO, "%s", why);
	return 0;
}

// ----------------------------------------------------------------------------
// per-dtype: the matrices' copies

/* The matrices of m with their sizes, once each (tied and shared-layer weights repeat). */
static int model_mats(const struct model *m, const float **h, size_t *n, int max)
{
	const struct model_config *c = &m->cfg;
	size_t E = c->n_embd, HD = (size_t)c->n_head * c->head_dim, KD = (size_t)c->n_head_kv * c->head_dim, F = c->n_ff;
	size_t V = c->n_vocab;
	int k = 0;
#define PUT(p, cnt) do { if (k < max) { h[k] = (p); n[k] = (cnt); k++; } } while (0)
	PUT(m->tok_embd, V * E);
	if (m->output != m->tok_embd)
		PUT(m->output, V * E);
	for (int l = 0; l < (m->shared_layers ? 1 : c->n_layer); l++) {
		const struct layer_weights *w = &m->layers[l];
		PUT(w->wq, HD * E);
		PUT(w->wk, KD * E);
		PUT(w->wv, KD * E);
		PUT(w->wo, E * HD);
		PUT(w->w_gate, F * E);
		PUT(w->w_up, F * E);
		PUT(w->w_down, E * F);
	}
#undef PUT
	return k;
}

/* Makes m's weights resident in type t (matrices) and fp32 (norms, RoPE), dropping
 * the copies of other weights. */
static int prepare_as(const struct model *m, enum cuda_wtype t, char *err, size_t errlen)
{
	const struct model_config *c = &m->cfg;
	int cap = 2 + 7 * c->n_layer;
	const float **h = malloc(sizeof(*h) * (size_t)cap);
	size_t *n = malloc(sizeof(*n) * (size_t)cap);
	if (!h || !n) {
		free(h);
		free(n);
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	}
	int k = model_mats(m, h, n, cap);
	cuda_weight_mark();
	for (int i = 0; i < k; i++)
		cuda_weight(h[i], n[i], t);
	wf32(m->out_norm, (size_t)c->n_embd);
	wf32(m->rope_inv_freq, (size_t)(c->head_dim / 2));
	for (int l = 0; l < (m->shared_layers ? 1 : c->n_layer); l++) {
		wf32(m->layers[l].attn_norm, (size_t)c->n_embd);
		wf32(m->layers[l].ffn_norm, (size_t)c->n_embd);
	}
	free(h);
	free(n);
	char why[512];
	if (cuda_take_error(why, sizeof(why)))
		return kv_errf(err, errlen, KV_ENOMEM, "uploading the weights to the device: %s", why);
	cuda_weight_sweep();
	return 0;
}

/* Generates m's matrices on the device in type t, one Philox stream per matrix. */
static int synth_as(const struct model *m, enum cuda_wtype t, uint64_t seed, char *err, size_t errlen)
{
	int cap = 2 + 7 * m->cfg.n_layer;
	const float **h = malloc(sizeof(*h) * (size_t)cap);
	size_t *n = malloc(sizeof(*n) * (size_t)cap);
	int rc = 0;
	if (!h || !n) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		goto out;
	}
	int k = model_mats(m, h, n, cap);
	const float a = 0.02f * 1.7320508f; /* std 0.02, as model_init_random */
	char why[512];
	for (int i = 0; i < k && !rc; i++)
		if (cuda_weight_synth(h[i], n[i], t, a, seed, (uint64_t)i, why, sizeof(why)))
			rc = kv_errf(err, errlen, KV_ENOMEM, "random weights on the device (%.1f GiB resident): %s",
				     cuda_weight_bytes() / 1073741824.0, why);
out:
	free(h);
	free(n);
	return rc;
}

static void matmul_f32(float *y, const float *x, const float *w, int T, int in, int out)
{
	cuda_gemm(y, x, cuda_weight(w, (size_t)out * in, CW_F32), CW_F32, T, in, out);
}

static void matmul_bf16(float *y, const float *x, const float *w, int T, int in, int out)
{
	cuda_gemm(y, x, cuda_weight(w, (size_t)out * in, CW_BF16), CW_BF16, T, in, out);
}

static void embed_as(enum cuda_wtype t, float *x, const float *tok_embd, const int32_t *ids, int T, int E, int V)
{
	const int32_t *d_ids = cuda_scratch_upload(CS_IDS, ids, sizeof(int32_t) * (size_t)T);
	cuda_embed(x, cuda_weight(tok_embd, (size_t)V * E, t), t, d_ids, T, E);
}

static void embed_f32(float *x, const float *tok_embd, const int32_t *ids, int T, int E, int V)
{
	embed_as(CW_F32, x, tok_embd, ids, T, E, V);
}

static void embed_bf16(float *x, const float *tok_embd, const int32_t *ids, int T, int E, int V)
{
	embed_as(CW_BF16, x, tok_embd, ids, T, E, V);
}

static int prepare_f32(const struct model *m, char *err, size_t errlen)
{
	return prepare_as(m, CW_F32, err, errlen);
}

static int prepare_bf16(const struct model *m, char *err, size_t errlen)
{
	return prepare_as(m, CW_BF16, err, errlen);
}

static int synth_f32(const struct model *m, uint64_t seed, char *err, size_t errlen)
{
	return synth_as(m, CW_F32, seed, err, errlen);
}

static int synth_bf16(const struct model *m, uint64_t seed, char *err, size_t errlen)
{
	return synth_as(m, CW_BF16, seed, err, errlen);
}

#define CUDA_COMMON_SLOTS                                                                                                \
	.alloc = cuda_mem_alloc, .free = cuda_mem_free, .upload = cuda_mem_upload, .download = cuda_mem_download,       \
	.copy = cuda_mem_copy, .rmsnorm = c_rmsnorm, .rope = c_rope, .swiglu = c_swiglu, .add = c_add,                  \
	.attn_causal = c_attn_causal, .attn_cached = c_attn_cached, .attn_probs = c_attn_probs,                         \
	.attn_colsum = c_attn_colsum, .qk_dots = c_qk_dots, .gather = c_gather, .check = c_check

const struct backend_ops backend_cuda_bf16 = {
	.name = "cuda-bf16",
	CUDA_COMMON_SLOTS,
	.matmul = matmul_bf16,
	.embed = embed_bf16,
	.prepare = prepare_bf16,
	.synth = synth_bf16,
	.dtype = "bf16",
};

const struct backend_ops backend_cuda_fp32 = {
	.name = "cuda-fp32",
	CUDA_COMMON_SLOTS,
	.matmul = matmul_f32,
	.embed = embed_f32,
	.prepare = prepare_f32,
	.synth = synth_f32,
	.dtype = "fp32",
};
