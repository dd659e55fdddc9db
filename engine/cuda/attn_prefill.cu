/* Causal prefill attention, flash-attention style: one block per (query head, ROWS
 * consecutive query rows), one warp per row; keys and values stream through shared
 * memory in tiles of BK with an online softmax (running max m, sum l, unnormalised
 * output o), so nothing of size T x T exists. GQA: query head h reads KV head
 * h / (H / Hkv) in place (no repeated K/V). Lane j scores key k0 + j of a tile; each
 * lane owns output dims lane + 32 c. fp32 throughout, expf (no fast math).
 * q, out (T, H*D); k, v (T, Hkv*D). */
#include <math.h>

#include "engine/cuda/attn_common.cuh"
#include "engine/cuda/cuda_check.cuh"

#define ROWS 16
#define BK 32

static __global__ void attn_causal_kernel(float *out, const float *q, const float *k, const float *v, int T, int H,
					  int Hkv, int D, float scale)
{
	extern __shared__ float sm[];
	float *Ks = sm;                  /* (BK, D + 1): the pad spreads lane j's row over the banks */
	float *Vs = Ks + BK * (D + 1);   /* (BK, D) */
	float *Qs = Vs + BK * D;         /* (ROWS, D) */
	const int h = blockIdx.y, kvh = h / (H / Hkv);
	const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nc = (D + 31) / 32;
	const int r0 = blockIdx.x * ROWS, i = r0 + warp;
	const size_t ldq = (size_t)H * D, ldk = (size_t)Hkv * D;
	for (int e = threadIdx.x; e < ROWS * D; e += blockDim.x) {
		int r = e / D, d = e % D;
		Qs[e] = r0 + r < T ? q[(size_t)(r0 + r) * ldq + (size_t)h * D + d] : 0.0f;
	}
	float m = -INFINITY, l = 0.0f, o[ATTN_MAXC];
#pragma unroll
	for (int c = 0; c < ATTN_MAXC; c++)
		o[c] = 0.0f;
	const int kend = min(T, r0 + ROWS); /* keys any row of the block attends */
	for (int k0 = 0; k0 < kend; k0 += BK) {
		__syncthreads();
		for (int e = threadIdx.x; e < BK * D; e += blockDim.x) {
			int j = e / D, d = e % D, kj = k0 + j;
			bool in = kj < T;
			Ks[j * (D + 1) + d] = in ? k[(size_t)kj * ldk + (size_t)kvh * D + d] : 0.0f;
			Vs[j * D + d] = in ? v[(size_t)kj * ldk + (size_t)kvh * D + d] : 0.0f;
		}
		__syncthreads();
		if (i >= T)
			continue; /* every thread still reaches the next tile's barriers */
		const int j = k0 + lane;
		const bool ok = j <= i;
		float s = -INFINITY;
		if (ok) {
			float dot = 0.0f;
			const float *qr = Qs + warp * D, *kr = Ks + lane * (D + 1);
			for (int d = 0; d < D; d++)
				dot += qr[d] * kr[d];
			s = dot * scale;
		}
		const float mt = warp_max(s);
		if (mt == -INFINITY)
			continue; /* the whole tile is masked for this row (warp-uniform) */
		const float mn = fmaxf(m, mt);
		const float corr = expf(m - mn);
		const float p = ok ? expf(s - mn) : 0.0f;
		l = l * corr + warp_sum(p);
#pragma unroll
		for (int c = 0; c < ATTN_MAXC; c++)
			o[c] *= corr;
		for (int jj = 0; jj < BK; jj++) {
			const float pj = __shfl_sync(FULL_MASK, p, jj);
#pragma unroll
			for (int c = 0; c < ATTN_MAXC; c++)
				if (c < nc && lane + 32 * c < D)
					o[c] += pj * Vs[jj * D + lane + 32 * c];
		}
		m = mn;
	}
	if (i >= T)
		return;
#pragma unroll
	for (int c = 0; c < ATTN_MAXC; c++)
		if (c < nc && lane + 32 * c < D)
			out[(size_t)i * ldq + (size_t)h * D + lane + 32 * c] = o[c] / l;
}

extern "C" void cuda_attn_causal(float *d_out, const float *d_q, const float *d_k, const float *d_v, int T, int H, int Hkv,
				 int D)
{
	if (T <= 0)
		return;
	if (D > 32 * ATTN_MAXC || Hkv <= 0 || H % Hkv) {
		cuda_fail("attn_causal: unsupported shape (H %d, Hkv %d, head_dim %d; head_dim <= %d)", H, Hkv, D, 32 * ATTN_MAXC);
		return;
	}
	size_t smem = sizeof(float) * ((size_t)BK * (D + 1) + (size_t)BK * D + (size_t)ROWS * D);
	static size_t smem_set; /* the opt-in above 48 KiB, once per size */
	if (smem > 48 * 1024 && smem > smem_set) {
		if (CK_FAILED(cudaFuncSetAttribute(attn_causal_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem)))
			return;
		smem_set = smem;
	}
	dim3 grid((T + ROWS - 1) / ROWS, H);
	attn_causal_kernel<<<grid, ROWS * 32, smem>>>(d_out, d_q, d_k, d_v, T, H, Hkv, D, 1.0f / sqrtf((float)D));
	CK_LAUNCH(attn_causal_kernel);
}
