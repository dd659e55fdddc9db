/* The CPU backend's ops (see engine/backend.h for shapes and contracts). */
#ifndef KVLAB_ENGINE_CPU_OPS_H
#define KVLAB_ENGINE_CPU_OPS_H

#include "engine/backend.h"

void cpu_matmul(float *y, const float *x, const float *w, int T, int in, int out);
/* matmul with W rounded to bf16 (packed once per matrix, see bf16_weights.c) and x rounded
 * per call, fp32 accumulation (AVX512-BF16; the backend is handed out only where it runs). */
void cpu_matmul_bf16(float *y, const float *x, const float *w, int T, int in, int out);
/* The cpu-bf16 prepare slot: KV_EUNSUP without AVX512-BF16; drops the bf16 copies of
 * matrices outside m's weights. */
int cpu_prepare_bf16(const struct model *m, char *err, size_t errlen);
/* Frees every bf16 copy (they are otherwise kept until the process ends). */
void cpu_bf16_release(void);
void cpu_qmatvec(float *const *y, const float *x, const struct qmat *const *w, int n);
/* cpu_qmatvec's kernel for CPUs without AVX-512 or AVX2 (plain C, or GCC's AVX2 clone of it):
 * tests run it where cpu_qmatvec would take the AVX-512 path. Writes only y. */
void cpu_qmatvec_portable(float *const *y, const float *x, const struct qmat *const *w, int n);
/* cpu_qmatvec's AVX-512 kernel with x kept in fp32 (CPUs without AVX512-VNNI): tests run
 * it where cpu_qmatvec takes x as integers. -1 (nothing written) where it cannot run. */
int cpu_qmatvec_avx512_fp32(float *const *y, const float *x, const struct qmat *const *w, int n);
/* cpu_qmatvec's kernel for CPUs with AVX2, FMA and F16C but not AVX-512: tests run it
 * wherever those exist. -1 (nothing written) where it cannot run. */
int cpu_qmatvec_avx2(float *const *y, const float *x, const struct qmat *const *w, int n);
/* The cpu-int8 backend's qmatvec: x as bytes per 32-element block (engine/cpu/qmatvec_int8.h),
 * AVX2 where the CPU has it, else plain C. Writes only y. */
void cpu_qmatvec_int8(float *const *y, const float *x, const struct qmat *const *w, int n);
void cpu_rmsnorm(float *y, const float *x, const float *w, int T, int E, float eps);
void cpu_rope(float *x, int ld, const int32_t *pos, int T, int nh, int D, const float *inv_freq);
void cpu_swiglu(float *g, const float *u, int T, int F);
/* Softmax of s[0..n) in place (vectorised exp, about 1 ulp); s[n..m) set to 0. */
void cpu_softmax_row(float *s, int n, int m);
/* s[i] = exp(s[i] - mx) for i < n in place (the softmax's exp, every s[i] <= mx); returns their sum. */
float cpu_exp_sum(float *s, int n, float mx);
/* *mx = the largest of s[0..n) (n >= 1, the value a scan keeping the first finds), then
 * cpu_exp_sum(s, n, *mx): returns the sum. */
float cpu_max_exp_sum(float *s, int n, float *mx);
/* s[i] /= d for i < n in place (IEEE division, as a scalar loop); returns the largest
 * quotient (-FLT_MAX when n is 0). */
float cpu_div_max(float *s, int n, float d);
/* out[i] = the larger of out[i] and s[i] / d, for i < n. */
void cpu_max_div_into(float *out, const float *s, int n, float d);
void cpu_attn_causal(float *out, const float *q, const float *k, const float *v, int T, int H, int Hkv, int D);
/* cpu_attn_causal through BLAS (query blocks, whole score rows): any CPU, any head_dim. */
void cpu_attn_causal_blas(float *out, const float *q, const float *k, const float *v, int T, int H, int Hkv, int D);
/* cpu_attn_causal fused in AVX-512 registers: returns 0 having written out, or -1 having
 * written nothing where it cannot run (no AVX-512, head_dim not a multiple of 64). */
int cpu_attn_causal_avx512(float *out, const float *q, const float *k, const float *v, int T, int H, int Hkv, int D);
void cpu_attn_cached(float *out, const float *q, const struct attn_kv_view *kv, int n_kv, int H, int D);
/* The attn_appended slot: the AVX-512 kernel where it runs, else through BLAS; -1 having
 * written nothing for a 16-bit cache (the engine then attends row by row). */
int cpu_attn_appended(float *out, const float *q, const struct attn_kv_view *kv, int n_kv, int R, int H, int D);
/* attn_appended fused in AVX-512 registers: 0 having written out, or -1 having written
 * nothing (no AVX-512, head_dim not a multiple of 64, a 16-bit cache). */
int cpu_attn_appended_avx512(float *out, const float *q, const struct attn_kv_view *kv, int n_kv, int R, int H, int D);
/* attn_appended through BLAS over blocks of appended rows (each block's scores over only the
 * keys its last row sees): any CPU, any head_dim; -1 having written nothing for a 16-bit cache. */
int cpu_attn_appended_blas(float *out, const float *q, const struct attn_kv_view *kv, int n_kv, int R, int H, int D);
void cpu_add(float *x, const float *y, size_t n);
void cpu_attn_probs(float *out, const struct bk_qk *a, int row0, int n_rows, int causal_from);
int cpu_attn_colsum(float *acc, const struct bk_qk *a, int row0, int n_rows, int causal_from, int ncols);
void cpu_qk_dots(float *out, const struct bk_qk *a, int row);
/* Records that op (a static name) could not get its scratch memory and skipped its work;
 * the backend's check slot (cpu_check) reports the first such failure and clears it. */
void cpu_fail(const char *op);
int cpu_check(char *err, size_t errlen);

#endif
