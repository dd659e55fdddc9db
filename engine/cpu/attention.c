/* CPU attention: causal prefill and rows appended after a cache (a replay; the prefill is
 * the case of an empty cache), the AVX-512 fused kernels (engine/cpu/attn_prefill_avx512.c)
 * where they run, else over query blocks through BLAS (scores for one block of queries at a
 * time, so memory stays O(block x T)); single-query decode over the ragged cache is
 * engine/cpu/attn_decode.c. GEMMs through OpenBLAS; heads and blocks spread over OpenMP
 * threads (OpenBLAS's OpenMP build runs single-threaded inside a parallel region).
 * T tokens, H query heads, Hkv KV heads, D head_dim, N cached entries. */
#include <cblas.h> // cblas_sgemm
#include <math.h>
#include <stdlib.h>

#include "engine/cpu/cpu_ops.h"

#define QBLOCK 128

void cpu_attn_causal_blas(float *out, const float *q, const float *k, const float *v, int T, int H, int Hkv, int D)
{
	/* T rows appended after nothing: each KV head a view into the interleaved k, v */
	struct attn_kv_view *kv = malloc(sizeof(*kv) * (size_t)(Hkv > 0 ? Hkv : 1));
	if (!kv) {
		cpu_fail("attn_causal");
		return;
	}
	for (int g = 0; g < Hkv; g++)
		kv[g] = (struct attn_kv_view){ .k = k + (size_t)g * D, .v = v + (size_t)g * D, .n = T, .ld = Hkv * D,
					       .dtype = KV_DTYPE_F32 };
	cpu_attn_appended_blas(out, q, kv, Hkv, T, H, D);
	free(kv);
}

void cpu_attn_causal(float *out, const float *q, const float *k, const float *v, int T, int H, int Hkv, int D)
{
	if (cpu_attn_causal_avx512(out, q, k, v, T, H, Hkv, D) != 0)
		cpu_attn_causal_blas(out, q, k, v, T, H, Hkv, D);
}

int cpu_attn_appended_blas(float *out, const float *q, const struct attn_kv_view *kv, int n_kv, int R, int H, int D)
{
	int nmax = 1;
	for (int g = 0; g < n_kv; g++) {
		if (kv[g].dtype != KV_DTYPE_F32 || kv[g].n < R)
			return -1;
		nmax = kv[g].n > nmax ? kv[g].n : nmax;
	}
	int nb = (R + QBLOCK - 1) / QBLOCK, ldq = H * D;
	float scale = 1.0f / sqrtf((float)D);
#pragma omp parallel
	{
		float *s = malloc(sizeof(float) * (size_t)QBLOCK * nmax); /* (bq, nk) scores */
		if (!s)
			cpu_fail("attn_appended");
		/* latest blocks (the most keys) first so the dynamic schedule ends evenly */
#pragma omp for schedule(dynamic, 1)
		for (int task = 0; task < H * nb; task++) {
			if (!s)
				continue;
			int blk = nb - 1 - task / H, h = task % H;
			const struct attn_kv_view *c = &kv[(long)h * n_kv / H];
			int i0 = blk * QBLOCK, bq = R - i0 < QBLOCK ? R - i0 : QBLOCK;
			int before = c->n - R, nk = before + i0 + bq; /* keys the block's last row sees */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bq, nk, D, scale, q + (size_t)i0 * ldq + (size_t)h * D,
				    ldq, c->k, c->ld, 0.0f, s, nk);
			for (int r = 0; r < bq; r++)
				cpu_softmax_row(s + (size_t)r * nk, before + i0 + r + 1, nk);
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bq, D, nk, 1.0f, s, nk, c->v, c->ld, 0.0f,
				    out + (size_t)i0 * ldq + (size_t)h * D, ldq);
		}
		free(s);
	}
	return 0;
}

int cpu_attn_appended(float *out, const float *q, const struct attn_kv_view *kv, int n_kv, int R, int H, int D)
{
	if (cpu_attn_appended_avx512(out, q, kv, n_kv, R, H, D) == 0)
		return 0;
	return cpu_attn_appended_blas(out, q, kv, n_kv, R, H, D);
}
