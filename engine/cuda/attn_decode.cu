/* Decode attention of one query token over the ragged cache, flash-decoding style:
 * each head's keys split into CHUNK-key pieces, one block per (piece, head) and one
 * warp per quarter of it, each with an online softmax; the block writes a partial
 * (max, sum, unnormalised output) and a second kernel merges a head's partials.
 * Query head h reads view[h * n_kv / H] (per-KV-head or per-query-head caches); a
 * head with no entries outputs zeros, as the CPU's. Lane j scores key base + j
 * (reading its row from global memory), lanes own output dims lane + 32 c. */
#include <math.h>

#include "engine/backend.h" // struct attn_kv_view
#include "engine/cuda/attn_common.cuh"
#include "engine/cuda/cuda_check.cuh"

#define WARPS 4
#define CHUNK 512 /* keys per block: WARPS x 128 */

static __global__ void decode_partial_kernel(const struct attn_kv_view *views, int n_kv, const float *q, int H, int D,
					     float scale, float *part, int nchunk)
{
	extern __shared__ float sm[];
	float *Qs = sm;                  /* (D) */
	float *Wm = Qs + D;              /* (WARPS) */
	float *Wl = Wm + WARPS;          /* (WARPS) */
	float *Wo = Wl + WARPS;          /* (WARPS, D) */
	const int h = blockIdx.y, c0 = blockIdx.x;
	const struct attn_kv_view vw = views[(size_t)h * n_kv / H];
	const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nc = (D + 31) / 32;
	for (int d = threadIdx.x; d < D; d += blockDim.x)
		Qs[d] = q[(size_t)h * D + d];
	__syncthreads();
	const int per = CHUNK / WARPS;
	const int beg = c0 * CHUNK + warp * per, end = min(vw.n, beg + per);
	float m = -INFINITY, l = 0.0f, o[ATTN_MAXC];
#pragma unroll
	for (int c = 0; c < ATTN_MAXC; c++)
		o[c] = 0.0f;
	for (int base = beg; base < end; base += 32) {
		const int j = base + lane;
		const bool ok = j < end;
		float s = -INFINITY;
		if (ok) {
			const float *kr = vw.k + (size_t)j * vw.ld;
			float dot = 0.0f;
			for (int d = 0; d < D; d++)
				dot += Qs[d] * kr[d];
			s = dot * scale;
		}
		const float mn = fmaxf(m, warp_max(s)); /* finite: key base < end exists */
		const float corr = expf(m - mn);
		const float p = ok ? expf(s - mn) : 0.0f;
		l = l * corr + warp_sum(p);
#pragma unroll
		for (int c = 0; c < ATTN_MAXC; c++)
			o[c] *= corr;
		const int nj = min(32, end - base);
		for (int jj = 0; jj < nj; jj++) {
			const float pj = __shfl_sync(FULL_MASK, p, jj);
			const float *vr = vw.v + (size_t)(base + jj) * vw.ld;
#pragma unroll
			for (int c = 0; c < ATTN_MAXC; c++)
				if (c < nc && lane + 32 * c < D)
					o[c] += pj * vr[lane + 32 * c];
		}
		m = mn;
	}
	if (lane == 0) {
		Wm[warp] = m;
		Wl[warp] = l;
	}
#pragma unroll
	for (int c = 0; c < ATTN_MAXC; c++)
		if (c < nc && lane + 32 * c < D)
			Wo[warp * D + lane + 32 * c] = o[c];
	__syncthreads();
	float M = -INFINITY;
	for (int w = 0; w < WARPS; w++)
		M = fmaxf(M, Wm[w]);
	float *pp = part + ((size_t)h * nchunk + c0) * (D + 2);
	for (int d = threadIdx.x; d < D; d += blockDim.x) {
		float acc = 0.0f;
		for (int w = 0; w < WARPS; w++)
			if (Wm[w] != -INFINITY)
				acc += Wo[w * D + d] * expf(Wm[w] - M);
		pp[2 + d] = acc;
	}
	if (threadIdx.x == 0) {
		float L = 0.0f;
		for (int w = 0; w < WARPS; w++)
			if (Wm[w] != -INFINITY)
				L += Wl[w] * expf(Wm[w] - M);
		pp[0] = M;
		pp[1] = L;
	}
}

static __global__ void decode_merge_kernel(float *out, const float *part, int nchunk, int D)
{
	const int h = blockIdx.x;
	const float *ph = part + (size_t)h * nchunk * (D + 2);
	float M = -INFINITY;
	for (int c = 0; c < nchunk; c++)
		M = fmaxf(M, ph[(size_t)c * (D + 2)]);
	float L = 0.0f;
	for (int c = 0; c < nchunk; c++)
		if (ph[(size_t)c * (D + 2)] != -INFINITY)
			L += ph[(size_t)c * (D + 2) + 1] * expf(ph[(size_t)c * (D + 2)] - M);
	for (int d = threadIdx.x; d < D; d += blockDim.x) {
		float acc = 0.0f;
		for (int c = 0; c < nchunk; c++) {
			const float *pc = ph + (size_t)c * (D + 2);
			if (pc[0] != -INFINITY)
				acc += pc[2 + d] * expf(pc[0] - M);
		}
		out[(size_t)h * D + d] = L > 0.0f ? acc / L : 0.0f;
	}
}

extern "C" void cuda_attn_cached(float *d_out, const float *d_q, const void *d_views, int n_kv, int nmax, int H, int D)
{
	if (H <= 0 || !d_views)
		return;
	if (D > 32 * ATTN_MAXC) {
		cuda_fail("attn_cached: head_dim %d above %d", D, 32 * ATTN_MAXC);
		return;
	}
	int nchunk = nmax > 0 ? (nmax + CHUNK - 1) / CHUNK : 1;
	float *part = (float *)cuda_scratch(CS_PART, sizeof(float) * (size_t)H * nchunk * (D + 2));
	if (!part)
		return;
	size_t smem = sizeof(float) * ((size_t)D + 2 * WARPS + (size_t)WARPS * D);
	dim3 grid(nchunk, H);
	decode_partial_kernel<<<grid, WARPS * 32, smem>>>((const struct attn_kv_view *)d_views, n_kv, d_q, H, D,
							  1.0f / sqrtf((float)D), part, nchunk);
	CK_LAUNCH(decode_partial_kernel);
	decode_merge_kernel<<<H, 128>>>(d_out, part, nchunk, D);
	CK_LAUNCH(decode_merge_kernel);
}
