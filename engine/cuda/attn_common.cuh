/* Warp helpers shared by the attention kernels (attn_prefill.cu, attn_decode.cu). */
#ifndef KVLAB_ENGINE_CUDA_ATTN_COMMON_CUH
#define KVLAB_ENGINE_CUDA_ATTN_COMMON_CUH

#define FULL_MASK 0xffffffffu
#define ATTN_MAXC 8 /* head_dim up to 8 * 32 = 256: each lane owns dims lane + 32 c */

static __device__ __forceinline__ float warp_max(float x)
{
	for (int o = 16; o > 0; o >>= 1)
		x = fmaxf(x, __shfl_xor_sync(FULL_MASK, x, o));
	return x;
}

static __device__ __forceinline__ float warp_sum(float x)
{
	for (int o = 16; o > 0; o >>= 1)
		x += __shfl_xor_sync(FULL_MASK, x, o);
	return x;
}

#endif
