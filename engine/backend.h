/* The compute backend table: the ops the forward and the methods' scoring services
 * (engine/kv_view.c) run, and the memory the KV cache and the activations live in.
 * The CPU backend (engine/cpu/) is the reference; a CUDA backend (engine/cuda/) fills
 * the same table and keeps cache and activations on the device.
 *
 * Every slot is documented as required or optional; optional slots may be NULL and the
 * wrapper then falls back (host memory, the fp32 weights, a composition of required
 * ops) or says the op is unsupported. The engine calls slots only through the bk_*
 * wrappers below, never be->slot(...) directly.
 *
 * Memory: "backend memory" is what bk_alloc returns (host memory when the alloc slot
 * is NULL, device memory otherwise); activations (q, k, v, x ...) and the KV cache's
 * K/V are backend memory. Model weights, RoPE frequencies, positions and the scoring
 * outputs methods read (probabilities, column sums, dots) are host memory; a device
 * backend keeps its own device copies of the weights keyed by their host pointer.
 *
 * Errors: a slot that returns void and fails (a device error; a CPU op whose scratch memory
 * runs out) records the first failure and bk_check (the check slot) returns it at the next
 * checked point (end of fwd_prefill / fwd_decode, each scoring service).
 *
 * Shapes: T = tokens, E = n_embd, H = n_head, Hkv = n_head_kv, D = head_dim,
 * F = n_ff, N = keys attended. All tensors row-major fp32. */
#ifndef KVLAB_ENGINE_BACKEND_H
#define KVLAB_ENGINE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/qmat.h" // defines: struct qmat

struct model;

/* The element type the KV cache stores K and V in (--kv_dtype). Values are computed in
 * fp32 and rounded to nearest even when stored; the attention ops widen them back. */
enum kv_dtype {
	KV_DTYPE_F32 = 0, /* the reference: K/V exactly as computed */
	KV_DTYPE_F16,     /* IEEE binary16 (llama.cpp's default KV type) */
	KV_DTYPE_BF16,    /* bfloat16 */
	KV_DTYPE_COUNT
};

/* One head of a ragged KV cache as the attention op reads it. */
struct attn_kv_view {
	const float *k;   /* (N, D), row stride ld, backend memory; NULL unless dtype is f32 */
	const float *v;   /* (N, D), row stride ld, backend memory; NULL unless dtype is f32 */
	int n;            /* N entries */
	int ld;           /* row stride in elements */
	enum kv_dtype dtype;  /* KV_DTYPE_F32 (k, v) or a 16-bit type (kh, vh) */
	const uint16_t *kh;   /* (N, D) 16-bit keys, row stride ld, host memory; NULL for f32 */
	const uint16_t *vh;   /* (N, D) 16-bit values, row stride ld, host memory; NULL for f32 */
};

/* The post-RoPE queries and keys of one prefill layer, as the scoring ops read them. */
struct bk_qk {
	const float *q;   /* (T, H*D) backend memory */
	const float *k;   /* (T, Hkv*D) backend memory */
	int T, H, Hkv, D;
};

/* The compute ops, in table order (bk_op_names, bk_op_required keep in step). */
enum bk_op {
	BK_OP_MATMUL,
	BK_OP_QMATVEC,
	BK_OP_RMSNORM,
	BK_OP_ROPE,
	BK_OP_SWIGLU,
	BK_OP_ADD,
	BK_OP_ATTN_CAUSAL,
	BK_OP_ATTN_CACHED,
	BK_OP_ATTN_PROBS,
	BK_OP_ATTN_COLSUM,
	BK_OP_QK_DOTS,
	BK_OP_COUNT
};

struct backend_ops {
	const char *name; /* required: "cpu", "cuda" (what --backend takes and runs record) */

	// ---- control

	/* optional, NULL = no threads to set: the number of host worker threads (<= 0: all cores). */
	void (*set_threads)(int n_threads);
	/* optional, NULL = every non-NULL op slot is supported: whether op runs here. */
	bool (*supports)(enum bk_op op);

	// ---- memory (all optional: NULL = host memory through libc)

	/* optional, NULL = malloc: n bytes of backend memory, NULL when out of memory. */
	void *(*alloc)(size_t n);
	/* optional, NULL = free: releases what alloc returned (NULL is a no-op). */
	void (*free)(void *p);
	/* optional, NULL = memcpy: n bytes host src -> backend dst. */
	void (*upload)(void *dst, const void *src, size_t n);
	/* optional, NULL = memcpy: n bytes backend src -> host dst. */
	void (*download)(void *dst, const void *src, size_t n);
	/* optional, NULL = memmove: n bytes backend src -> backend dst; the ranges may overlap. */
	void (*copy)(void *dst, const void *src, size_t n);

	// ---- ops (tensor arguments are backend memory unless said otherwise)

	/* required: y (T, out) = x (T, in) . W^T, W (out, in) host weights. */
	void (*matmul)(float *y, const float *x, const float *w, int T, int in, int out);
	/* optional, NULL = matmul on the fp32 weights: y[i] (w[i]->rows) = W_i x for i < n,
	 * one token x (w[i]->cols), each W_i block-quantised (engine/qmat.h), in one pass over
	 * the threads; the same fp32 weights as matmul's, summed in another order. */
	void (*qmatvec)(float *const *y, const float *x, const struct qmat *const *w, int n);
	/* required: y (T, E) = RMSNorm(x) * w, w (E,) host; y may alias x. */
	void (*rmsnorm)(float *y, const float *x, const float *w, int T, int E, float eps);
	/* required: rotates x (T, nh, D) in place (row stride ld floats per token) by host
	 * positions pos (T,), rotate-half convention, host inv_freq (D/2,). */
	void (*rope)(float *x, int ld, const int32_t *pos, int T, int nh, int D, const float *inv_freq);
	/* required: g (T, F) = silu(g) * u. */
	void (*swiglu)(float *g, const float *u, int T, int F);
	/* required: x (n,) += y (n,) (the residual adds). */
	void (*add)(float *x, const float *y, size_t n);
	/* required: causal self-attention of T tokens: out (T, H*D) from q (T, H*D), k, v
	 * (T, Hkv*D); token i attends to keys 0..i. */
	void (*attn_causal)(float *out, const float *q, const float *k, const float *v, int T, int H, int Hkv, int D);
	/* required: one query token against cached heads: out (H*D) from q (H*D); query head h
	 * reads kv[h * n_kv / H] (n_kv = Hkv for per-KV-head caches, H for per-query-head
	 * caches); kv itself (n_kv,) is host memory, the K/V it points to backend memory. */
	void (*attn_cached)(float *out, const float *q, const struct attn_kv_view *kv, int n_kv, int H, int D);
	/* optional, NULL = -1: R query rows whose K/V are the last R entries of each view: out
	 * (R, H*D) from q (R, H*D), row i reading its head's first kv[h].n - R + i + 1 entries
	 * (kv as attn_cached's). Returns 0, or -1 having written nothing (the caller then
	 * attends otherwise). */
	int (*attn_appended)(float *out, const float *q, const struct attn_kv_view *kv, int n_kv, int R, int H, int D);
	/* required: softmax(q_i . k_j / sqrt(D)) of rows i in [row0, row0+n_rows) over all T
	 * keys per query head into host out (H, n_rows, T); rows i >= causal_from mask keys
	 * j > i (set to 0), rows before it are unmasked. */
	void (*attn_probs)(float *out, const struct bk_qk *a, int row0, int n_rows, int causal_from);
	/* optional, NULL = attn_probs in blocks, summed on the host in the same order: adds
	 * to host acc (H, ncols) attn_probs' rows [row0, row0+n_rows) over keys [0, ncols),
	 * each column summed in row order. Returns 0 or KV_ENOMEM. */
	int (*attn_colsum)(float *acc, const struct bk_qk *a, int row0, int n_rows, int causal_from, int ncols);
	/* required: raw dot products q_row . k_j (no scale) into host out (H, T). */
	void (*qk_dots)(float *out, const struct bk_qk *a, int row);

	// ---- optional extensions for device backends (appended; the CPU leaves them NULL)

	/* optional, NULL = one upload per token: x (T, E) = rows ids (host, (T,)) of the host
	 * token embedding tok_embd (V, E). A device backend reads its own copy of tok_embd. */
	void (*embed)(float *x, const float *tok_embd, const int32_t *ids, int T, int E, int V);
	/* optional, NULL = one copy per row: row i of dst (row stride dst_ld floats) = row
	 * rows[i] of src (stride src_ld), width floats each, for i < n; rows is host memory.
	 * dst may alias src when the rows ascend with rows[i] >= i (in-place compaction). */
	void (*gather)(float *dst, int dst_ld, const float *src, int src_ld, const int32_t *rows, int n, int width);
	/* optional, NULL = nothing to prepare: makes m's weights resident (a device backend
	 * uploads each weight once, keyed by its host pointer, and drops the copies of weights
	 * that are not m's). Called by fwd_session_init_on. 0 or KV_ENOMEM / KV_EIO with err. */
	int (*prepare)(const struct model *m, char *err, size_t errlen);
	/* optional, NULL = unsupported: fills m's matrices (embeddings, output, the seven per
	 * layer) with uniform random weights of std 0.02 generated on the device, registered
	 * under m's host pointers (whose host values stay as they are, zeros), so a large
	 * shape needs no host-to-device copy. Norms and RoPE stay host-side. 0 or error. */
	int (*synth)(const struct model *m, uint64_t seed, char *err, size_t errlen);
	/* optional, NULL = always 0: waits for the queued work and returns the first error a
	 * void slot recorded since the last call (then clears it), its message in err. Void
	 * slots that fail record their error and return; fwd_prefill, fwd_decode and the
	 * scoring services (engine/kv_view.c) call this before their results are used. */
	int (*check)(char *err, size_t errlen);
	/* optional, NULL = "fp32": the dtype the matrices are computed in ("fp32", "bf16",
	 * "int8": decode's block-quantised products with x as bytes). */
	const char *dtype;
	/* optional, false = fp32 only: whether attn_cached reads 16-bit (f16, bf16) KV caches,
	 * which then live in host memory. */
	bool kv16;
};

/* The CPU reference backend (OpenBLAS + OpenMP, host memory). */
extern const struct backend_ops backend_cpu;
/* The CPU backend with bf16 matrices (AVX512-BF16 GEMM, fp32 accumulation): "cpu-bf16".
 * Only for CPUs where backend_by_name_dtype hands it out. */
extern const struct backend_ops backend_cpu_bf16;
/* The CPU backend with decode's block-quantised products taking x as bytes per block
 * (engine/cpu/qmatvec_int8.h, llama.cpp's Q8 activations): "cpu-int8". */
extern const struct backend_ops backend_cpu_int8;

/* Static op names, indexed by enum bk_op ("matmul", ...). */
extern const char *const bk_op_names[BK_OP_COUNT];
/* Whether op's slot is required (true) or optional with a fallback (false). */
extern const bool bk_op_required[BK_OP_COUNT];

// ----------------------------------------------------------------------------
// lookup and checks

/* Finds the backend called name ("cpu", "cuda") usable in this build on this machine
 * into *out (a static table, never freed); KV_EINVAL for an unknown name, KV_EUNSUP
 * with the reason (built without CUDA, no device, ...) for a known one that cannot run. */
int backend_by_name(const char *name, const struct backend_ops **out, char *err, size_t errlen);
/* backend_by_name for a compute dtype: "fp32", "bf16" or "int8" (NULL = the backend's
 * default: fp32 on cpu, bf16 on cuda). The tables are named "cpu", "cpu-bf16" (KV_EUNSUP on
 * a CPU without AVX512-BF16), "cpu-int8" (cpu only), "cuda-bf16" and "cuda-fp32" (what runs
 * record). */
int backend_by_name_dtype(const char *name, const char *dtype, const struct backend_ops **out, char *err, size_t errlen);
/* The dtype be computes its matrices in: be->dtype, or "fp32". */
const char *bk_dtype(const struct backend_ops *be);
/* Checks that every required slot of be is set; KV_EINTERNAL naming the first missing one. */
int backend_validate(const struct backend_ops *be, char *err, size_t errlen);
/* Whether be runs op (its slot is set and supports() agrees). */
bool bk_supports(const struct backend_ops *be, enum bk_op op);
/* Whether be's memory is host memory (no alloc slot), so cache and activations may be read directly. */
bool bk_host_memory(const struct backend_ops *be);
/* Whether be keeps a KV cache of type t (f32 everywhere; f16/bf16 where be->kv16). */
bool bk_supports_kv_dtype(const struct backend_ops *be, enum kv_dtype t);

// ----------------------------------------------------------------------------
// KV element types

/* Static name of t: "f32", "f16", "bf16". */
const char *kv_dtype_name(enum kv_dtype t);
/* Bytes per element of t (4 or 2). */
size_t kv_dtype_size(enum kv_dtype t);
/* Parses "f32" | "f16" | "bf16" into *out; KV_EINVAL naming --kv_dtype and the value otherwise. */
int kv_dtype_parse(const char *s, enum kv_dtype *out, char *err, size_t errlen);

// ----------------------------------------------------------------------------
// dispatch wrappers (shapes and contracts as the slots above)

void bk_set_threads(const struct backend_ops *be, int n_threads);
/* Backend memory of n bytes (caller frees with bk_free; host buffers from 2 MiB on huge
 * pages, base/hugemem.h), NULL when out of memory. */
void *bk_alloc(const struct backend_ops *be, size_t n);
void bk_free(const struct backend_ops *be, void *p);
void bk_upload(const struct backend_ops *be, void *dst, const void *src, size_t n);
void bk_download(const struct backend_ops *be, void *dst, const void *src, size_t n);
void bk_copy(const struct backend_ops *be, void *dst, const void *src, size_t n);

void bk_matmul(const struct backend_ops *be, float *y, const float *x, const float *w, int T, int in, int out);
/* Runs qmatvec; KV_EUNSUP (nothing written) when be has none, so the caller uses matmul. */
int bk_qmatvec(const struct backend_ops *be, float *const *y, const float *x, const struct qmat *const *w, int n);
void bk_rmsnorm(const struct backend_ops *be, float *y, const float *x, const float *w, int T, int E, float eps);
void bk_rope(const struct backend_ops *be, float *x, int ld, const int32_t *pos, int T, int nh, int D,
	     const float *inv_freq);
void bk_swiglu(const struct backend_ops *be, float *g, const float *u, int T, int F);
void bk_add(const struct backend_ops *be, float *x, const float *y, size_t n);
void bk_attn_causal(const struct backend_ops *be, float *out, const float *q, const float *k, const float *v, int T,
		    int H, int Hkv, int D);
void bk_attn_cached(const struct backend_ops *be, float *out, const float *q, const struct attn_kv_view *kv, int n_kv,
		    int H, int D);
/* be's attn_appended: 0 having written out, or -1 (no such slot, or it declined). */
int bk_attn_appended(const struct backend_ops *be, float *out, const float *q, const struct attn_kv_view *kv, int n_kv,
		     int R, int H, int D);
void bk_attn_probs(const struct backend_ops *be, float *out, const struct bk_qk *a, int row0, int n_rows,
		   int causal_from);
/* Column sums (slot or fallback); 0 or KV_ENOMEM with the message in err. */
int bk_attn_colsum(const struct backend_ops *be, float *acc, const struct bk_qk *a, int row0, int n_rows, int causal_from,
		   int ncols, char *err, size_t errlen);
void bk_qk_dots(const struct backend_ops *be, float *out, const struct bk_qk *a, int row);
/* The extensions (fallbacks as documented at the slots). */
void bk_embed(const struct backend_ops *be, float *x, const float *tok_embd, const int32_t *ids, int T, int E, int V);
void bk_gather(const struct backend_ops *be, float *dst, int dst_ld, const float *src, int src_ld, const int32_t *rows,
	       int n, int width);
int bk_prepare(const struct backend_ops *be, const struct model *m, char *err, size_t errlen);
/* KV_EUNSUP naming the backend when it has no synth slot. */
int bk_synth(const struct backend_ops *be, const struct model *m, uint64_t seed, char *err, size_t errlen);
int bk_check(const struct backend_ops *be, char *err, size_t errlen);

#endif
