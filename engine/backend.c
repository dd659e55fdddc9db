/* The backend table's op list, lookup by name, and the dispatch wrappers with the
 * fallbacks for optional slots (see engine/backend.h). Mirrors ggml-backend's
 * NULL-skipping wrappers: callers never read a slot themselves. */
#include "engine/backend.h"

#include <stdlib.h>
#include <string.h>

#include "base/errors.h" // kv_errf
#include "base/hugemem.h" // kv_huge_alloc
#include "engine/cpu/gemm_bf16.h" // gemm_bf16_supported
#ifdef KVLAB_CUDA
#include "engine/cuda/backend_cuda.h" // backend_cuda_bf16, backend_cuda_fp32, cuda_backend_init
#include "engine/cuda/cuda_probe.h"   // cuda_probe
#endif

#define COLSUM_ROWS 128 /* rows scored at once by the column-sum fallback (the CPU op's block) */

const char *const bk_op_names[] = {
	[BK_OP_MATMUL] = "matmul",
	[BK_OP_QMATVEC] = "qmatvec",
	[BK_OP_RMSNORM] = "rmsnorm",
	[BK_OP_ROPE] = "rope",
	[BK_OP_SWIGLU] = "swiglu",
	[BK_OP_ADD] = "add",
	[BK_OP_ATTN_CAUSAL] = "attn_causal",
	[BK_OP_ATTN_CACHED] = "attn_cached",
	[BK_OP_ATTN_PROBS] = "attn_probs",
	[BK_OP_ATTN_COLSUM] = "attn_colsum",
	[BK_OP_QK_DOTS] = "qk_dots",
};
_Static_assert(sizeof(bk_op_names) / sizeof(bk_op_names[0]) == BK_OP_COUNT, "bk_op_names out of sync with enum bk_op");

const bool bk_op_required[] = {
	[BK_OP_MATMUL] = true,
	[BK_OP_QMATVEC] = false,
	[BK_OP_RMSNORM] = true,
	[BK_OP_ROPE] = true,
	[BK_OP_SWIGLU] = true,
	[BK_OP_ADD] = true,
	[BK_OP_ATTN_CAUSAL] = true,
	[BK_OP_ATTN_CACHED] = true,
	[BK_OP_ATTN_PROBS] = true,
	[BK_OP_ATTN_COLSUM] = false,
	[BK_OP_QK_DOTS] = true,
};
_Static_assert(sizeof(bk_op_required) / sizeof(bk_op_required[0]) == BK_OP_COUNT, "bk_op_required out of sync with enum bk_op");

/* Where each op's slot sits in struct backend_ops. */
static const size_t op_slot[] = {
	[BK_OP_MATMUL] = offsetof(struct backend_ops, matmul),
	[BK_OP_QMATVEC] = offsetof(struct backend_ops, qmatvec),
	[BK_OP_RMSNORM] = offsetof(struct backend_ops, rmsnorm),
	[BK_OP_ROPE] = offsetof(struct backend_ops, rope),
	[BK_OP_SWIGLU] = offsetof(struct backend_ops, swiglu),
	[BK_OP_ADD] = offsetof(struct backend_ops, add),
	[BK_OP_ATTN_CAUSAL] = offsetof(struct backend_ops, attn_causal),
	[BK_OP_ATTN_CACHED] = offsetof(struct backend_ops, attn_cached),
	[BK_OP_ATTN_PROBS] = offsetof(struct backend_ops, attn_probs),
	[BK_OP_ATTN_COLSUM] = offsetof(struct backend_ops, attn_colsum),
	[BK_OP_QK_DOTS] = offsetof(struct backend_ops, qk_dots),
};
_Static_assert(sizeof(op_slot) / sizeof(op_slot[0]) == BK_OP_COUNT, "op_slot out of sync with enum bk_op");

static bool slot_set(const struct backend_ops *be, enum bk_op op)
{
	void (*fn)(void);
	memcpy(&fn, (const char *)be + op_slot[op], sizeof(fn));
	return fn != NULL;
}

// ----------------------------------------------------------------------------
// lookup and checks

int backend_by_name(const char *name, const struct backend_ops **out, char *err, size_t errlen)
{
	return backend_by_name_dtype(name, NULL, out, err, errlen);
}

int backend_by_name_dtype(const char *name, const char *dtype, const struct backend_ops **out, char *err, size_t errlen)
{
	if (dtype && strcmp(dtype, "fp32") && strcmp(dtype, "bf16") && strcmp(dtype, "int8"))
		return kv_errf(err, errlen, KV_EINVAL, "dtype: expected fp32, bf16 or int8, got '%s'", dtype);
	if (!strcmp(name, "cpu")) {
		bool bf16 = dtype && !strcmp(dtype, "bf16"), int8 = dtype && !strcmp(dtype, "int8");
		if (bf16 && !gemm_bf16_supported())
			return kv_errf(err, errlen, KV_EUNSUP,
				       "bf16 on the cpu needs AVX512-BF16 (avx512_bf16 in /proc/cpuinfo), which this CPU lacks; use --dtype fp32");
		*out = bf16 ? &backend_cpu_bf16 : int8 ? &backend_cpu_int8 : &backend_cpu;
		return 0;
	}
	if (strcmp(name, "cuda"))
		return kv_errf(err, errlen, KV_EINVAL, "expected cpu or cuda, got '%s'", name);
	if (dtype && !strcmp(dtype, "int8"))
		return kv_errf(err, errlen, KV_EUNSUP, "int8 runs on the cpu only; use --dtype bf16 or fp32 on cuda");
#ifndef KVLAB_CUDA
	return kv_errf(err, errlen, KV_EUNSUP, "this kvlab was built without CUDA (nvcc not found at build time; make CUDA=1)");
#else
	char dev[256], why[256];
	int n = 0;
	if (cuda_probe(&n, dev, sizeof(dev), why, sizeof(why)) || n == 0)
		return kv_errf(err, errlen, KV_EUNSUP, "no CUDA device found (%s)", n == 0 && !why[0] ? "0 devices" : why);
	if (cuda_backend_init(why, sizeof(why)))
		return kv_errf(err, errlen, KV_EUNSUP, "found %d CUDA device(s) (%s), but could not start on device 0: %s", n, dev,
			       why);
	*out = dtype && !strcmp(dtype, "fp32") ? &backend_cuda_fp32 : &backend_cuda_bf16;
	return 0;
#endif
}

const char *bk_dtype(const struct backend_ops *be)
{
	return be->dtype ? be->dtype : "fp32";
}

int backend_validate(const struct backend_ops *be, char *err, size_t errlen)
{
	if (!be || !be->name)
		return kv_errf(err, errlen, KV_EINTERNAL, "backend without a name");
	for (int op = 0; op < BK_OP_COUNT; op++)
		if (bk_op_required[op] && !slot_set(be, op))
			return kv_errf(err, errlen, KV_EINTERNAL, "backend %s: required op %s is missing", be->name, bk_op_names[op]);
	if (!be->alloc != !be->free || (be->alloc && (!be->upload || !be->download || !be->copy)))
		return kv_errf(err, errlen, KV_EINTERNAL,
			       "backend %s: device memory needs alloc, free, upload, download and copy together", be->name);
	return 0;
}

bool bk_supports(const struct backend_ops *be, enum bk_op op)
{
	return slot_set(be, op) && (!be->supports || be->supports(op));
}

bool bk_host_memory(const struct backend_ops *be)
{
	return be->alloc == NULL;
}

bool bk_supports_kv_dtype(const struct backend_ops *be, enum kv_dtype t)
{
	return t == KV_DTYPE_F32 || ((t == KV_DTYPE_F16 || t == KV_DTYPE_BF16) && be->kv16 && bk_host_memory(be));
}

// ----------------------------------------------------------------------------
// KV element types

static const char *const kv_dtype_names[KV_DTYPE_COUNT] = {
	[KV_DTYPE_F32] = "f32",
	[KV_DTYPE_F16] = "f16",
	[KV_DTYPE_BF16] = "bf16",
};

const char *kv_dtype_name(enum kv_dtype t)
{
	return t >= 0 && t < KV_DTYPE_COUNT ? kv_dtype_names[t] : "?";
}

size_t kv_dtype_size(enum kv_dtype t)
{
	return t == KV_DTYPE_F32 ? sizeof(float) : sizeof(uint16_t);
}

int kv_dtype_parse(const char *s, enum kv_dtype *out, char *err, size_t errlen)
{
	for (int t = 0; t < KV_DTYPE_COUNT; t++)
		if (s && !strcmp(s, kv_dtype_names[t])) {
			*out = (enum kv_dtype)t;
			return 0;
		}
	return kv_errf(err, errlen, KV_EINVAL, "--kv_dtype: expected f32, f16 or bf16, got '%s'", s ? s : "");
}

// ----------------------------------------------------------------------------
// memory

void bk_set_threads(const struct backend_ops *be, int n_threads)
{
	if (be->set_threads)
		be->set_threads(n_threads);
}

void *bk_alloc(const struct backend_ops *be, size_t n)
{
	return be->alloc ? be->alloc(n) : kv_huge_alloc(n); /* host: large buffers on huge pages */
}

void bk_free(const struct backend_ops *be, void *p)
{
	if (be->free)
		be->free(p);
	else
		free(p);
}

void bk_upload(const struct backend_ops *be, void *dst, const void *src, size_t n)
{
	if (be->upload)
		be->upload(dst, src, n);
	else
		memcpy(dst, src, n);
}

void bk_download(const struct backend_ops *be, void *dst, const void *src, size_t n)
{
	if (be->download)
		be->download(dst, src, n);
	else
		memcpy(dst, src, n);
}

void bk_copy(const struct backend_ops *be, void *dst, const void *src, size_t n)
{
	if (be->copy)
		be->copy(dst, src, n);
	else
		memmove(dst, src, n);
}

// ----------------------------------------------------------------------------
// ops

void bk_matmul(const struct backend_ops *be, float *y, const float *x, const float *w, int T, int in, int out)
{
	be->matmul(y, x, w, T, in, out);
}

int bk_qmatvec(const struct backend_ops *be, float *const *y, const float *x, const struct qmat *const *w, int n)
{
	if (!bk_supports(be, BK_OP_QMATVEC))
		return KV_EUNSUP;
	be->qmatvec(y, x, w, n);
	return 0;
}

void bk_rmsnorm(const struct backend_ops *be, float *y, const float *x, const float *w, int T, int E, float eps)
{
	be->rmsnorm(y, x, w, T, E, eps);
}

void bk_rope(const struct backend_ops *be, float *x, int ld, const int32_t *pos, int T, int nh, int D,
	     const float *inv_freq)
{
	be->rope(x, ld, pos, T, nh, D, inv_freq);
}

void bk_swiglu(const struct backend_ops *be, float *g, const float *u, int T, int F)
{
	be->swiglu(g, u, T, F);
}

void bk_add(const struct backend_ops *be, float *x, const float *y, size_t n)
{
	be->add(x, y, n);
}

void bk_attn_causal(const struct backend_ops *be, float *out, const float *q, const float *k, const float *v, int T,
		    int H, int Hkv, int D)
{
	be->attn_causal(out, q, k, v, T, H, Hkv, D);
}

void bk_attn_cached(const struct backend_ops *be, float *out, const float *q, const struct attn_kv_view *kv, int n_kv,
		    int H, int D)
{
	be->attn_cached(out, q, kv, n_kv, H, D);
}

int bk_attn_appended(const struct backend_ops *be, float *out, const float *q, const struct attn_kv_view *kv, int n_kv,
		     int R, int H, int D)
{
	return be->attn_appended ? be->attn_appended(out, q, kv, n_kv, R, H, D) : -1;
}

void bk_attn_probs(const struct backend_ops *be, float *out, const struct bk_qk *a, int row0, int n_rows,
		   int causal_from)
{
	be->attn_probs(out, a, row0, n_rows, causal_from);
}

/* The column sums from attn_probs: blocks of rows in ascending order, each column adding
 * its rows in row order (what the CPU op does, so the sums are the same bits). */
static int colsum_fallback(const struct backend_ops *be, float *acc, const struct bk_qk *a, int row0, int n_rows,
			   int causal_from, int ncols)
{
	int T = a->T, H = a->H;
	float *o = malloc(sizeof(float) * (size_t)H * COLSUM_ROWS * (size_t)(T > 0 ? T : 1)); /* (H, rows, T) */
	if (!o)
		return KV_ENOMEM;
	for (int r0 = row0; r0 < row0 + n_rows; r0 += COLSUM_ROWS) {
		int nr = row0 + n_rows - r0 < COLSUM_ROWS ? row0 + n_rows - r0 : COLSUM_ROWS;
		be->attn_probs(o, a, r0, nr, causal_from);
		for (int h = 0; h < H; h++) {
			float *acc_h = acc + (size_t)h * ncols;
			for (int r = 0; r < nr; r++) {
				const float *row = o + ((size_t)h * nr + r) * T;
				for (int j = 0; j < ncols; j++)
					acc_h[j] += row[j];
			}
		}
	}
	free(o);
	return 0;
}

int bk_attn_colsum(const struct backend_ops *be, float *acc, const struct bk_qk *a, int row0, int n_rows, int causal_from,
		   int ncols, char *err, size_t errlen)
{
	int rc = bk_supports(be, BK_OP_ATTN_COLSUM) ? be->attn_colsum(acc, a, row0, n_rows, causal_from, ncols)
						    : colsum_fallback(be, acc, a, row0, n_rows, causal_from, ncols);
	if (rc)
		return kv_errf(err, errlen, rc, "out of memory for %d attention rows of %d keys", COLSUM_ROWS, a->T);
	return 0;
}

void bk_qk_dots(const struct backend_ops *be, float *out, const struct bk_qk *a, int row)
{
	be->qk_dots(out, a, row);
}

// ----------------------------------------------------------------------------
// extensions

void bk_embed(const struct backend_ops *be, float *x, const float *tok_embd, const int32_t *ids, int T, int E, int V)
{
	if (be->embed) {
		be->embed(x, tok_embd, ids, T, E, V);
		return;
	}
	for (int t = 0; t < T; t++)
		bk_upload(be, x + (size_t)t * E, tok_embd + (size_t)ids[t] * E, sizeof(float) * E);
}

void bk_gather(const struct backend_ops *be, float *dst, int dst_ld, const float *src, int src_ld, const int32_t *rows,
	       int n, int width)
{
	if (be->gather) {
		be->gather(dst, dst_ld, src, src_ld, rows, n, width);
		return;
	}
	for (int i = 0; i < n; i++) {
		float *d = dst + (size_t)i * dst_ld;
		const float *s = src + (size_t)rows[i] * src_ld;
		if (d != s)
			bk_copy(be, d, s, sizeof(float) * width);
	}
}

int bk_prepare(const struct backend_ops *be, const struct model *m, char *err, size_t errlen)
{
	return be->prepare ? be->prepare(m, err, errlen) : 0;
}

int bk_synth(const struct backend_ops *be, const struct model *m, uint64_t seed, char *err, size_t errlen)
{
	if (!be->synth)
		return kv_errf(err, errlen, KV_EUNSUP, "backend %s cannot generate weights on its own (synthetic models are built on the host)",
			       be->name);
	return be->synth(m, seed, err, errlen);
}

int bk_check(const struct backend_ops *be, char *err, size_t errlen)
{
	return be->check ? be->check(err, errlen) : 0;
}
