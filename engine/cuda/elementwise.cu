/* Elementwise kernels: the SwiGLU gate (g = silu(g) * u, expf as the CPU's formula),
 * the residual add, and fp32 -> bf16 rounding (round to nearest even). */
#include <cuda_bf16.h>

#include "engine/cuda/cuda_check.cuh"

static __global__ void swiglu_kernel(float *g, const float *u, size_t n)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n) {
		float x = g[i];
		g[i] = x / (1.0f + expf(-x)) * u[i];
	}
}

static __global__ void add_kernel(float *x, const float *y, size_t n)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		x[i] += y[i];
}

static __global__ void to_bf16_kernel(__nv_bfloat16 *dst, const float *src, size_t n)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		dst[i] = __float2bfloat16_rn(src[i]);
}

extern "C" void cuda_swiglu(float *d_g, const float *d_u, size_t n)
{
	if (!n)
		return;
	swiglu_kernel<<<cuda_blocks(n, 256), 256>>>(d_g, d_u, n);
	CK_LAUNCH(swiglu_kernel);
}

extern "C" void cuda_add(float *d_x, const float *d_y, size_t n)
{
	if (!n)
		return;
	add_kernel<<<cuda_blocks(n, 256), 256>>>(d_x, d_y, n);
	CK_LAUNCH(add_kernel);
}

extern "C" void cuda_to_bf16(void *d_dst, const float *d_src, size_t n)
{
	if (!n)
		return;
	to_bf16_kernel<<<cuda_blocks(n, 256), 256>>>((__nv_bfloat16 *)d_dst, d_src, n);
	CK_LAUNCH(to_bf16_kernel);
}
