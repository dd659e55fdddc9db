/* Row gathers: the token embedding lookup (fp32 or bf16 table -> fp32 rows) and
 * gathers of kept rows (prefill's propagation, the KV cache's kept entries). One
 * thread per element. A gather whose destination overlaps its source (in-place
 * compaction) goes through a scratch buffer. */
#include <cuda_bf16.h>
#include <stdint.h>

#include "engine/cuda/cuda_check.cuh"

static __global__ void embed_kernel(float *x, const void *table, int bf16, const int32_t *ids, int T, int E)
{
	size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (idx >= (size_t)T * E)
		return;
	int t = (int)(idx / E), e = (int)(idx % E);
	size_t src = (size_t)ids[t] * E + e;
	x[idx] = bf16 ? __bfloat162float(((const __nv_bfloat16 *)table)[src]) : ((const float *)table)[src];
}

static __global__ void gather_kernel(float *dst, int dst_ld, const float *src, int src_ld, const int32_t *rows, int n,
				     int width)
{
	size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (idx >= (size_t)n * width)
		return;
	int i = (int)(idx / width), c = (int)(idx % width);
	dst[(size_t)i * dst_ld + c] = src[(size_t)rows[i] * src_ld + c];
}

extern "C" void cuda_embed(float *d_x, const void *d_table, enum cuda_wtype t, const int32_t *d_ids, int T, int E)
{
	size_t n = (size_t)T * E;
	if (!n || !d_table || !d_ids)
		return;
	embed_kernel<<<cuda_blocks(n, 256), 256>>>(d_x, d_table, t == CW_BF16, d_ids, T, E);
	CK_LAUNCH(embed_kernel);
}

extern "C" void cuda_gather(float *d_dst, int dst_ld, const float *d_src, int src_ld, const int32_t *d_rows, int n,
			    int width, int overlap)
{
	size_t cnt = (size_t)n * width;
	if (!cnt || !d_rows)
		return;
	if (!overlap) {
		gather_kernel<<<cuda_blocks(cnt, 256), 256>>>(d_dst, dst_ld, d_src, src_ld, d_rows, n, width);
		CK_LAUNCH(gather_kernel);
		return;
	}
	float *tmp = (float *)cuda_scratch(CS_TMP, sizeof(float) * cnt);
	if (!tmp)
		return;
	gather_kernel<<<cuda_blocks(cnt, 256), 256>>>(tmp, width, d_src, src_ld, d_rows, n, width);
	CK_LAUNCH(gather_kernel);
	CK_FAILED(cudaMemcpy2D(d_dst, sizeof(float) * dst_ld, tmp, sizeof(float) * width, sizeof(float) * width, n,
			       cudaMemcpyDeviceToDevice));
}
