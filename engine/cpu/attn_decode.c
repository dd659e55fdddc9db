/* CPU attention of one decoded token over a ragged KV cache (fp32, f16 or bf16 K/V).
 * Decode is bound by reading the cache, so the work is split along the keys: each
 * task takes one cached head and one chunk of its keys, scores the chunk for every
 * query head that reads that cache head (GQA: K and V are read once for the group),
 * and keeps a partial softmax (its max m, its sum l = sum exp(s - m), and o = sum
 * exp(s - m) v); a second loop merges each query head's partials with their
 * log-sum-exp weights exp(m_t - M) (flash-decoding's split-K). The tasks spread over
 * the OpenMP threads, so both cores read the cache even with 3 KV heads. Task bodies:
 * AVX-512 with the outputs in registers for the common shapes (D 64 or 128), else AVX2 +
 * FMA (in registers for D 64 or 128 and G <= 4, in memory otherwise), portable C without
 * either.
 * H query heads, n_kv cached heads (G = H / n_kv query heads each), D head_dim,
 * N keys of a head, KCH keys per task. */
#include <immintrin.h> // AVX2, FMA, F16C intrinsics
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/cpu_ops.h"
#include "engine/kv_convert.h" // kv_convert_load

#define KCH_MIN 64
#define KCH_MAX 512
#define TASKS_PER_THREAD 8

/* One task: keys [j0, j1) of cached head c. */
struct task {
	int c, j0, j1;
};

/* The partial softmax of one task for the G query heads of its cached head. */
struct partial {
	float *m; /* (G,) running max of the scores */
	float *l; /* (G,) sum of exp(s - m) */
	float *o; /* (G, D) sum of exp(s - m) v */
};

/* Widens n 16-bit values (or copies fp32 ones) of row r of a view into dst. */
static void row_f32(const struct attn_kv_view *w, bool key, int r, float *dst, int D)
{
	if (w->dtype == KV_DTYPE_F32)
		memcpy(dst, (key ? w->k : w->v) + (size_t)r * w->ld, sizeof(float) * (size_t)D);
	else
		kv_convert_load(dst, (key ? w->kh : w->vh) + (size_t)r * w->ld, (size_t)D, w->dtype);
}

/* The exp pass of a task: per query head g, the max of its scores s (G, n), s = exp(s -
 * max) and their sum, into p->m and p->l. */
static void exp_pass(float *s, int G, int n, struct partial *p)
{
	for (int g = 0; g < G; g++)
		p->l[g] = cpu_max_exp_sum(s + (size_t)g * n, n, &p->m[g]);
}

/* Portable task body: scores into s (G, n), exp pass, weighted V sum. row (D,) scratch. */
static void task_generic(const struct attn_kv_view *w, const float *q, int G, int D, float scale, int j0, int j1,
			 float *s, float *row, struct partial *p)
{
	int n = j1 - j0;
	for (int i = 0; i < n; i++) {
		row_f32(w, true, j0 + i, row, D);
		for (int g = 0; g < G; g++) {
			float acc = 0.0f;
			for (int d = 0; d < D; d++)
				acc += q[(size_t)g * D + d] * row[d];
			s[(size_t)g * n + i] = acc * scale;
		}
	}
	exp_pass(s, G, n, p);
	memset(p->o, 0, sizeof(float) * (size_t)G * D);
	for (int i = 0; i < n; i++) {
		row_f32(w, false, j0 + i, row, D);
		for (int g = 0; g < G; g++) {
			float pg = s[(size_t)g * n + i];
			for (int d = 0; d < D; d++)
				p->o[(size_t)g * D + d] += pg * row[d];
		}
	}
}

/* 8 elements of row r at column d of a K or V array of type t, widened to fp32. */
__attribute__((target("avx2,fma,f16c"))) static inline __m256 load8(const void *base, enum kv_dtype t, size_t at)
{
	if (t == KV_DTYPE_F32)
		return _mm256_loadu_ps((const float *)base + at);
	__m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)base + at));
	if (t == KV_DTYPE_F16)
		return _mm256_cvtph_ps(h);
	return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

__attribute__((target("avx2,fma,f16c"))) static inline float hsum8(__m256 a)
{
	__m128 x = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
	x = _mm_add_ps(x, _mm_movehl_ps(x, x));
	x = _mm_add_ss(x, _mm_movehdup_ps(x));
	return _mm_cvtss_f32(x);
}

#define GMAX 8 /* query heads per cached head the AVX2 body keeps in registers */

/* AVX2 task body for D % 8 == 0 and G <= GMAX: the same steps as task_generic with
 * 8-lane dot products (fused multiply-adds) and 16-bit rows widened in registers. */
__attribute__((target("avx2,fma,f16c"))) static void task_avx2(const struct attn_kv_view *w, const float *q, int G, int D,
								float scale, int j0, int j1, float *s, struct partial *p)
{
	int n = j1 - j0;
	const void *kb = w->dtype == KV_DTYPE_F32 ? (const void *)w->k : (const void *)w->kh;
	const void *vb = w->dtype == KV_DTYPE_F32 ? (const void *)w->v : (const void *)w->vh;
	for (int i = 0; i < n; i++) {
		size_t r = (size_t)(j0 + i) * w->ld;
		__m256 acc[GMAX];
		for (int g = 0; g < G; g++)
			acc[g] = _mm256_setzero_ps();
		for (int d = 0; d < D; d += 8) {
			__m256 k = load8(kb, w->dtype, r + d);
			for (int g = 0; g < G; g++)
				acc[g] = _mm256_fmadd_ps(k, _mm256_loadu_ps(q + (size_t)g * D + d), acc[g]);
		}
		for (int g = 0; g < G; g++)
			s[(size_t)g * n + i] = hsum8(acc[g]) * scale;
	}
	exp_pass(s, G, n, p);
	memset(p->o, 0, sizeof(float) * (size_t)G * D);
	for (int i = 0; i < n; i++) {
		size_t r = (size_t)(j0 + i) * w->ld;
		__m256 pg[GMAX];
		for (int g = 0; g < G; g++)
			pg[g] = _mm256_set1_ps(s[(size_t)g * n + i]);
		for (int d = 0; d < D; d += 8) {
			__m256 v = load8(vb, w->dtype, r + d);
			for (int g = 0; g < G; g++) {
				float *o = p->o + (size_t)g * D + d;
				_mm256_storeu_ps(o, _mm256_fmadd_ps(pg[g], v, _mm256_loadu_ps(o)));
			}
		}
	}
}

/* The lane sums of a, b, c, d, each added in hsum8's order (halves, then lanes 0+2 and
 * 1+3, then those two), as [a b c d]: four scores for the price of about one hsum8. */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline __m128 hsum8x4(__m256 a, __m256 b, __m256 c, __m256 d)
{
	__m256 ab = _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
	__m256 cd = _mm256_add_ps(_mm256_permute2f128_ps(c, d, 0x20), _mm256_permute2f128_ps(c, d, 0x31));
	/* lanes 0+2 and 1+3 of each half-sum: [a a c c | b b d d] */
	__m256 e = _mm256_add_ps(_mm256_shuffle_ps(ab, cd, 0x44), _mm256_shuffle_ps(ab, cd, 0xEE));
	/* and those two: [a c a c | b d b d] */
	__m256 f = _mm256_add_ps(_mm256_shuffle_ps(e, e, 0x88), _mm256_shuffle_ps(e, e, 0xDD));
	return _mm_unpacklo_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1));
}

#define KPF 8  /* rows of K (in the score pass) and of V (in the output pass) prefetched ahead */
#define VBLK 32 /* keys per block of the output pass: its later column groups read the block from L1 */

/* Prefetches, one 64-byte line at a time, the bytes bytes at byte offset off of base (a row
 * of K or V; past the cache's end a prefetch reads nothing and cannot fault). */
__attribute__((always_inline)) static inline void prefetch_row(const void *base, size_t off, int bytes)
{
	for (int b = 0; b < bytes; b += 64)
		_mm_prefetch((const char *)base + off + b, _MM_HINT_T0);
}

/* AVX2 task body for element type T, G query heads and NV = D / 8 vectors per row, all
 * constants where it is inlined. Scores: KB keys at a time (4, or 2 for G = 4), their G x KB
 * accumulators in registers (the queries are read from memory: G x NV vectors do not fit in
 * 16 registers), each reduced as hsum8 does, so the scores are hsum8's bit for bit. Output:
 * 4 vectors (32 lanes, G x 4 accumulators in registers) at a time, over blocks of VBLK
 * keys, so every column group after the first reads the block from L1; each output lane
 * still adds the keys in order. Against one key at a time and whole passes over the keys
 * per column group, this attention read an f32 cache 15-38 % faster on a 2-core Zen 3 (1
 * and 2 threads, a micro-benchmark), with the same results bit for bit. */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void task256_body(const struct attn_kv_view *w,
											 const float *q, const enum kv_dtype T,
											 const int G, const int NV, float scale,
											 int j0, int j1, float *s, struct partial *p)
{
	const int KB = G <= 3 ? 4 : 2, D = NV * 8;
	const int esz = T == KV_DTYPE_F32 ? 4 : 2, rowb = D * esz;
	int n = j1 - j0;
	const void *kb = T == KV_DTYPE_F32 ? (const void *)w->k : (const void *)w->kh;
	const void *vb = T == KV_DTYPE_F32 ? (const void *)w->v : (const void *)w->vh;
	size_t ld = (size_t)w->ld;
	int i = 0;
	for (; i + KB <= n; i += KB) {
		size_t r = (size_t)(j0 + i) * ld;
		__m256 acc[4][4];
#pragma GCC unroll 4
		for (int k = 0; k < KB; k++) {
			prefetch_row(kb, (r + (size_t)(KPF + k) * ld) * esz, rowb);
#pragma GCC unroll 8
			for (int g = 0; g < G; g++)
				acc[k][g] = _mm256_setzero_ps();
		}
#pragma GCC unroll 16
		for (int c = 0; c < NV; c++)
#pragma GCC unroll 4
			for (int k = 0; k < KB; k++) {
				__m256 kv = load8(kb, T, r + (size_t)k * ld + 8 * c);
#pragma GCC unroll 8
				for (int g = 0; g < G; g++)
					acc[k][g] = _mm256_fmadd_ps(kv, _mm256_loadu_ps(q + (size_t)g * D + 8 * c), acc[k][g]);
			}
#pragma GCC unroll 8
		for (int g = 0; g < G; g++) {
			float *sg = s + (size_t)g * n + i;
			if (KB == 4)
				_mm_storeu_ps(sg, _mm_mul_ps(hsum8x4(acc[0][g], acc[1][g], acc[2][g], acc[3][g]),
							     _mm_set1_ps(scale)));
			else
#pragma GCC unroll 4
				for (int k = 0; k < KB; k++)
					sg[k] = hsum8(acc[k][g]) * scale;
		}
	}
	for (; i < n; i++) {
		size_t r = (size_t)(j0 + i) * ld;
		__m256 acc[4];
#pragma GCC unroll 8
		for (int g = 0; g < G; g++)
			acc[g] = _mm256_setzero_ps();
#pragma GCC unroll 16
		for (int c = 0; c < NV; c++) {
			__m256 kv = load8(kb, T, r + 8 * c);
#pragma GCC unroll 8
			for (int g = 0; g < G; g++)
				acc[g] = _mm256_fmadd_ps(kv, _mm256_loadu_ps(q + (size_t)g * D + 8 * c), acc[g]);
		}
#pragma GCC unroll 8
		for (int g = 0; g < G; g++)
			s[(size_t)g * n + i] = hsum8(acc[g]) * scale;
	}
	exp_pass(s, G, n, p);
	memset(p->o, 0, sizeof(float) * (size_t)G * D);
	for (int b0 = 0; b0 < n; b0 += VBLK) {
		int b1 = b0 + VBLK < n ? b0 + VBLK : n;
		for (int c0 = 0; c0 < NV; c0 += 4) {
			__m256 o[4 * 4];
#pragma GCC unroll 8
			for (int g = 0; g < G; g++)
#pragma GCC unroll 4
				for (int c = 0; c < 4; c++)
					o[g * 4 + c] = _mm256_loadu_ps(p->o + (size_t)g * D + 8 * (c0 + c));
			for (int key = b0; key < b1; key++) {
				size_t r = (size_t)(j0 + key) * ld;
				if (c0 == 0)
					prefetch_row(vb, (r + (size_t)KPF * ld) * esz, rowb);
#pragma GCC unroll 4
				for (int c = 0; c < 4; c++) {
					__m256 v = load8(vb, T, r + 8 * (size_t)(c0 + c));
#pragma GCC unroll 8
					for (int g = 0; g < G; g++)
						o[g * 4 + c] = _mm256_fmadd_ps(_mm256_broadcast_ss(s + (size_t)g * n + key), v,
									       o[g * 4 + c]);
				}
			}
#pragma GCC unroll 8
			for (int g = 0; g < G; g++)
#pragma GCC unroll 4
				for (int c = 0; c < 4; c++)
					_mm256_storeu_ps(p->o + (size_t)g * D + 8 * (c0 + c), o[g * 4 + c]);
		}
	}
}

/* task256_body for element type T at the shapes it is instantiated for: G <= 4 query
 * heads per cached head, D = 64 or 128. Returns false for any other shape. */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline bool task256_shapes(const struct attn_kv_view *w,
											    const float *q,
											    const enum kv_dtype T, int G,
											    int D, float scale, int j0,
											    int j1, float *s,
											    struct partial *p)
{
	switch (D == 64 ? G : D == 128 ? 10 + G : 0) {
	case 1: task256_body(w, q, T, 1, 8, scale, j0, j1, s, p); return true;
	case 2: task256_body(w, q, T, 2, 8, scale, j0, j1, s, p); return true;
	case 3: task256_body(w, q, T, 3, 8, scale, j0, j1, s, p); return true;
	case 4: task256_body(w, q, T, 4, 8, scale, j0, j1, s, p); return true;
	case 11: task256_body(w, q, T, 1, 16, scale, j0, j1, s, p); return true;
	case 12: task256_body(w, q, T, 2, 16, scale, j0, j1, s, p); return true;
	case 13: task256_body(w, q, T, 3, 16, scale, j0, j1, s, p); return true;
	case 14: task256_body(w, q, T, 4, 16, scale, j0, j1, s, p); return true;
	default: return false;
	}
}

/* The AVX2 register body for the view's element type (a constant in each instance, so
 * the loads carry no type test). Returns false for a shape it is not instantiated for
 * (task_avx2 takes it). */
__attribute__((target("avx2,fma,f16c"))) static bool task_avx2_regs(const struct attn_kv_view *w, const float *q, int G,
								    int D, float scale, int j0, int j1, float *s,
								    struct partial *p)
{
	switch (w->dtype) {
	case KV_DTYPE_F32: return task256_shapes(w, q, KV_DTYPE_F32, G, D, scale, j0, j1, s, p);
	case KV_DTYPE_F16: return task256_shapes(w, q, KV_DTYPE_F16, G, D, scale, j0, j1, s, p);
	default: return task256_shapes(w, q, KV_DTYPE_BF16, G, D, scale, j0, j1, s, p);
	}
}

/* 16 elements at offset at of a K or V array of type t, widened to fp32. */
__attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c"))) static inline __m512 load16(const void *base, enum kv_dtype t,
												    size_t at)
{
	if (t == KV_DTYPE_F32)
		return _mm512_loadu_ps((const float *)base + at);
	__m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)base + at));
	if (t == KV_DTYPE_F16)
		return _mm512_cvtph_ps(h);
	return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* AVX-512 task body for G query heads and NV = D / 16 vectors per row, both constants
 * where it is inlined; its loops over them are unrolled whole, so the queries and the G x NV
 * output accumulators stay in registers across the keys (task_avx2, the AVX2 fallback,
 * keeps them in memory). Without the unrolling GCC kept them on the stack, and a decode
 * step read an f32 cache at 17 GB/s on one Zen 4 core instead of 27-30. */
__attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c"), always_inline)) static inline void
task512_body(const struct attn_kv_view *w, const float *q, const int G, const int NV, float scale, int j0, int j1,
	     float *s, struct partial *p)
{
	int n = j1 - j0, D = NV * 16;
	const void *kb = w->dtype == KV_DTYPE_F32 ? (const void *)w->k : (const void *)w->kh;
	const void *vb = w->dtype == KV_DTYPE_F32 ? (const void *)w->v : (const void *)w->vh;
	__m512 qv[4 * 8];
#pragma GCC unroll 8
	for (int g = 0; g < G; g++)
#pragma GCC unroll 8
		for (int c = 0; c < NV; c++)
			qv[g * NV + c] = _mm512_loadu_ps(q + (size_t)g * D + 16 * c);
	for (int i = 0; i < n; i++) {
		size_t r = (size_t)(j0 + i) * w->ld;
		__m512 acc[4];
#pragma GCC unroll 8
		for (int g = 0; g < G; g++)
			acc[g] = _mm512_setzero_ps();
#pragma GCC unroll 8
		for (int c = 0; c < NV; c++) {
			__m512 k = load16(kb, w->dtype, r + 16 * c);
#pragma GCC unroll 8
			for (int g = 0; g < G; g++)
				acc[g] = _mm512_fmadd_ps(k, qv[g * NV + c], acc[g]);
		}
#pragma GCC unroll 8
		for (int g = 0; g < G; g++)
			s[(size_t)g * n + i] = _mm512_reduce_add_ps(acc[g]) * scale;
	}
	exp_pass(s, G, n, p);
	__m512 o[4 * 8];
#pragma GCC unroll 8
	for (int g = 0; g < G; g++)
#pragma GCC unroll 8
		for (int c = 0; c < NV; c++)
			o[g * NV + c] = _mm512_setzero_ps();
	for (int i = 0; i < n; i++) {
		size_t r = (size_t)(j0 + i) * w->ld;
#pragma GCC unroll 8
		for (int c = 0; c < NV; c++) {
			__m512 v = load16(vb, w->dtype, r + 16 * c);
#pragma GCC unroll 8
			for (int g = 0; g < G; g++)
				o[g * NV + c] = _mm512_fmadd_ps(_mm512_set1_ps(s[(size_t)g * n + i]), v, o[g * NV + c]);
		}
	}
#pragma GCC unroll 8
	for (int g = 0; g < G; g++)
#pragma GCC unroll 8
		for (int c = 0; c < NV; c++)
			_mm512_storeu_ps(p->o + (size_t)g * D + 16 * c, o[g * NV + c]);
}

/* The shapes the AVX-512 body is instantiated for: G <= 4 query heads per cached head,
 * D = 64 (NV 4) or D = 128 with G <= 2 (NV 8). Returns false for any other shape. */
__attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c"))) static bool task_avx512(const struct attn_kv_view *w,
											const float *q, int G, int D, float scale,
											int j0, int j1, float *s, struct partial *p)
{
	switch (D == 64 ? G : D == 128 ? 10 + G : 0) {
	case 1: task512_body(w, q, 1, 4, scale, j0, j1, s, p); return true;
	case 2: task512_body(w, q, 2, 4, scale, j0, j1, s, p); return true;
	case 3: task512_body(w, q, 3, 4, scale, j0, j1, s, p); return true;
	case 4: task512_body(w, q, 4, 4, scale, j0, j1, s, p); return true;
	case 11: task512_body(w, q, 1, 8, scale, j0, j1, s, p); return true;
	case 12: task512_body(w, q, 2, 8, scale, j0, j1, s, p); return true;
	default: return false;
	}
}

/* Keys per task: about TASKS_PER_THREAD tasks per thread over all heads, within [KCH_MIN, KCH_MAX]. */
static int chunk_keys(const struct attn_kv_view *kv, int n_kv, int n_threads)
{
	long total = 0;
	for (int c = 0; c < n_kv; c++)
		total += kv[c].n;
	long k = total / ((long)TASKS_PER_THREAD * (n_threads > 0 ? n_threads : 1));
	k = (k + 15) / 16 * 16;
	return (int)(k < KCH_MIN ? KCH_MIN : k > KCH_MAX ? KCH_MAX : k);
}

void cpu_attn_cached(float *out, const float *q, const struct attn_kv_view *kv, int n_kv, int H, int D)
{
	int G = H / n_kv, kch = chunk_keys(kv, n_kv, omp_get_max_threads()), nt = 0;
	float scale = 1.0f / sqrtf((float)D);
	for (int c = 0; c < n_kv; c++)
		nt += (kv[c].n + kch - 1) / kch;
	bool fast = D % 8 == 0 && G <= GMAX && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
		    __builtin_cpu_supports("f16c");
	bool avx512 = fast && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		      __builtin_cpu_supports("avx512vl");
	struct task *tasks = malloc(sizeof(*tasks) * (size_t)(nt > 0 ? nt : 1));
	float *part = malloc(sizeof(float) * (size_t)(nt > 0 ? nt : 1) * G * (D + 2)); /* (nt, G, D + 2): m, l, o */
	if (!tasks || !part) {
		free(tasks);
		free(part);
		cpu_fail("attn_cached");
		return;
	}
	int *first = malloc(sizeof(int) * (size_t)(n_kv + 1)); /* (n_kv + 1,) first task of each cached head */
	if (!first) {
		free(tasks);
		free(part);
		cpu_fail("attn_cached");
		return;
	}
	nt = 0;
	for (int c = 0; c < n_kv; c++) {
		first[c] = nt;
		for (int j = 0; j < kv[c].n; j += kch)
			tasks[nt++] = (struct task){ c, j, j + kch < kv[c].n ? j + kch : kv[c].n };
	}
	first[n_kv] = nt;
#pragma omp parallel
	{
		/* scores (G, KCH) and one widened row (D) of this thread */
		float *s = malloc(sizeof(float) * ((size_t)G * kch + (size_t)D));
		if (!s)
			cpu_fail("attn_cached");
#pragma omp for schedule(dynamic, 1)
		for (int t = 0; t < nt; t++) {
			if (!s)
				continue;
			const struct task *tk = &tasks[t];
			float *pt = part + (size_t)t * G * (D + 2);
			struct partial p = { .m = pt, .l = pt + G, .o = pt + 2 * G };
			const float *qc = q + (size_t)tk->c * G * D;
			if (avx512 && task_avx512(&kv[tk->c], qc, G, D, scale, tk->j0, tk->j1, s, &p))
				continue;
			if (fast && task_avx2_regs(&kv[tk->c], qc, G, D, scale, tk->j0, tk->j1, s, &p))
				continue;
			if (fast)
				task_avx2(&kv[tk->c], qc, G, D, scale, tk->j0, tk->j1, s, &p);
			else
				task_generic(&kv[tk->c], qc, G, D, scale, tk->j0, tk->j1, s, s + (size_t)G * kch, &p);
		}
		/* merge: query head h = c * G + g over its cached head's tasks, in key order */
#pragma omp for schedule(static)
		for (int h = 0; h < H; h++) {
			int c = h / G, g = h % G;
			float *o = out + (size_t)h * D;
			for (int d = 0; d < D; d++)
				o[d] = 0.0f;
			if (!s || first[c] == first[c + 1])
				continue;
			float M = -INFINITY, L = 0.0f;
			for (int t = first[c]; t < first[c + 1]; t++) {
				float m = part[(size_t)t * G * (D + 2) + g];
				M = m > M ? m : M;
			}
			for (int t = first[c]; t < first[c + 1]; t++) {
				const float *pt = part + (size_t)t * G * (D + 2);
				float wgt = expf(pt[g] - M);
				L += wgt * pt[G + g];
				const float *ot = pt + 2 * G + (size_t)g * D;
				for (int d = 0; d < D; d++)
					o[d] += wgt * ot[d];
			}
			float inv = 1.0f / L;
			for (int d = 0; d < D; d++)
				o[d] *= inv;
		}
		free(s);
	}
	free(first);
	free(tasks);
	free(part);
}
