/* The C-callable side of the CUDA backend: context, memory, weight residency and the
 * kernel launchers (engine/cuda/<concern>.cu), called by the table in backend_cuda.c.
 * Pointers named d_* are device memory, h_* host memory. Launchers that return void
 * record the first failure in the context (cuda_fail) and return; cuda_take_error
 * hands it over (the table's check slot). Everything runs on the legacy default
 * stream, so ops are ordered; downloads synchronise. */
#ifndef KVLAB_ENGINE_CUDA_CUDA_OPS_H
#define KVLAB_ENGINE_CUDA_CUDA_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- context (context.cu)

/* Starts device 0 and cuBLAS once; 0 or -1 with err. */
int cuda_ctx_init(char *err, size_t errlen);
/* Records the first failure (printf-style message); later ones are dropped. */
void cuda_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Synchronises the device; returns 0, or -1 with the first recorded (or pending) error
 * in err, and clears it. */
int cuda_take_error(char *err, size_t errlen);
/* Scratch device buffer number slot (< CUDA_SCRATCH_SLOTS) of at least n bytes, grown
 * when needed (contents lost); NULL (failure recorded) when out of memory. */
enum { CS_POS, CS_VIEWS, CS_XB, CS_PROBS, CS_ACC, CS_PART, CS_TMP, CS_ROWS, CS_IDS, CUDA_SCRATCH_SLOTS };
void *cuda_scratch(int slot, size_t n);
/* Host -> device copy into scratch slot; returns the device pointer or NULL. */
void *cuda_scratch_upload(int slot, const void *h_src, size_t n);

// ---- memory (memory.cu)

void *cuda_mem_alloc(size_t n);
void cuda_mem_free(void *d);
void cuda_mem_upload(void *d_dst, const void *h_src, size_t n);
void cuda_mem_download(void *h_dst, const void *d_src, size_t n);
void cuda_mem_copy(void *d_dst, const void *d_src, size_t n);

// ---- weights (weights.cu): device copies keyed by host pointer

enum cuda_wtype { CW_F32 = 0, CW_BF16 = 1 };
/* The device copy of host h (n floats) in type t, uploaded (converted) on first use;
 * an entry whose host samples changed (the host memory was reused) is uploaded again.
 * NULL (failure recorded) when out of device memory. */
const void *cuda_weight(const float *h, size_t n, enum cuda_wtype t);
/* Marks every entry unused; cuda_weight_sweep then frees those not asked for since. */
void cuda_weight_mark(void);
void cuda_weight_sweep(void);
/* Registers device-generated weights for host pointer h (n floats) in type t: uniform
 * in [-a, a] from seed (cuRAND Philox, subsequence stream). 0 or -1 with err. */
int cuda_weight_synth(const float *h, size_t n, enum cuda_wtype t, float a, uint64_t seed, uint64_t stream, char *err,
		      size_t errlen);
/* Bytes of device memory the weight copies hold. */
size_t cuda_weight_bytes(void);

// ---- kernels

/* gemm.cu: y (T, out) = x (T, in) . W^T, W (out, in) fp32 or bf16 device. */
void cuda_gemm(float *d_y, const float *d_x, const void *d_w, enum cuda_wtype t, int T, int in, int out);
/* norm.cu: y (T, E) = RMSNorm(x) * w; y may alias x. */
void cuda_rmsnorm(float *d_y, const float *d_x, const float *d_w, int T, int E, float eps);
/* rope.cu: rotate-half RoPE of x (T, nh, D) row stride ld, positions d_pos (T,). */
void cuda_rope(float *d_x, int ld, const int32_t *d_pos, int T, int nh, int D, const float *d_inv_freq);
/* elementwise.cu */
void cuda_swiglu(float *d_g, const float *d_u, size_t n);
void cuda_add(float *d_x, const float *d_y, size_t n);
void cuda_to_bf16(void *d_dst, const float *d_src, size_t n);
/* embed.cu: x (T, E) = rows d_ids of table (V, E) fp32 or bf16; and row gathers. */
void cuda_embed(float *d_x, const void *d_table, enum cuda_wtype t, const int32_t *d_ids, int T, int E);
/* overlap: the destination overlaps the source (then through a scratch buffer). */
void cuda_gather(float *d_dst, int dst_ld, const float *d_src, int src_ld, const int32_t *d_rows, int n, int width,
		 int overlap);
/* attn_prefill.cu: causal flash attention, GQA by index (no K/V repeat). */
void cuda_attn_causal(float *d_out, const float *d_q, const float *d_k, const float *d_v, int T, int H, int Hkv, int D);
/* attn_decode.cu: one query over ragged per-head views (device array of struct
 * attn_kv_view, n_kv of them), split along the keys (flash-decoding). */
void cuda_attn_cached(float *d_out, const float *d_q, const void *d_views, int n_kv, int nmax, int H, int D);
/* score.cu: probabilities (H, n_rows, T), column sums into d_acc (H, ncols), dots (H, T). */
void cuda_attn_probs(float *d_out, const float *d_q, const float *d_k, int T, int H, int Hkv, int D, int row0, int n_rows,
		     int causal_from);
void cuda_colsum_add(float *d_acc, const float *d_probs, int H, int n_rows, int T, int ncols);
void cuda_qk_dots(float *d_out, const float *d_q, const float *d_k, int T, int H, int Hkv, int D, int row);

#ifdef __cplusplus
}
#endif

#endif
