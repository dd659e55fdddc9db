/* The compute backend table: the small set of ops the forward calls. The CPU
 * backend (engine/cpu/) is the reference; a CUDA backend fills the same table.
 * Shapes: T = tokens, E = n_embd, H = n_head, Hkv = n_head_kv, D = head_dim,
 * N = keys attended. All tensors row-major fp32. */
#ifndef KVLAB_ENGINE_BACKEND_H
#define KVLAB_ENGINE_BACKEND_H

#include <stdint.h>

#include "engine/qmat.h" // defines: struct qmat

/* One head of a ragged KV cache as the attention op reads it. */
struct attn_kv_view {
	const float *k;   /* (N, D), row stride ld */
	const float *v;   /* (N, D), row stride ld */
	int n;            /* N entries */
	int ld;           /* row stride in floats */
};

struct backend_ops {
	const char *name;
	/* Sets the number of worker threads (<= 0: all cores). */
	void (*set_threads)(int n_threads);
	/* y (T, out) = x (T, in) . W^T, W (out, in). */
	void (*matmul)(float *y, const float *x, const float *w, int T, int in, int out);
	/* y[i] (w[i]->rows) = W_i x for i < n, one token x (w[i]->cols), each W_i
	 * block-quantised (engine/qmat.h), in one pass over the threads; the same fp32
	 * weights as matmul's, summed in another order. */
	void (*qmatvec)(float *const *y, const float *x, const struct qmat *const *w, int n);
	/* y (T, E) = RMSNorm(x) * w; y may alias x. */
	void (*rmsnorm)(float *y, const float *x, const float *w, int T, int E, float eps);
	/* Rotates x (T, nh, D) in place (row stride ld floats per token) by positions pos (T,),
	 * rotate-half convention, inv_freq (D/2,). */
	void (*rope)(float *x, int ld, const int32_t *pos, int T, int nh, int D, const float *inv_freq);
	/* g (T, F) = silu(g) * u. */
	void (*swiglu)(float *g, const float *u, int T, int F);
	/* Causal self-attention of T tokens: out (T, H*D) from q (T, H*D), k, v (T, Hkv*D);
	 * token i attends to keys 0..i. */
	void (*attn_causal)(float *out, const float *q, const float *k, const float *v, int T, int H, int Hkv, int D);
	/* One query token against cached heads: out (H*D) from q (H*D); query head h reads
	 * kv[h * n_kv / H] (n_kv = Hkv for per-KV-head caches, H for per-query-head caches). */
	void (*attn_cached)(float *out, const float *q, const struct attn_kv_view *kv, int n_kv, int H, int D);
};

/* The CPU reference backend (OpenBLAS + OpenMP). */
extern const struct backend_ops backend_cpu;

#endif
