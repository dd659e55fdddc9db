/* RoPE, rotate-half convention, as the CPU's (engine/cpu/rope.c): the angle formed in
 * fp32 as pos * inv_freq[i], then cosf / sinf (full-precision device functions; no
 * fast math). One thread per (token, head, pair). inv_freq carries the scaling
 * (llama3, linear: engine/model.c), so scaled RoPE needs nothing here. */
#include "engine/cuda/cuda_check.cuh"

static __global__ void rope_kernel(float *x, int ld, const int32_t *pos, int T, int nh, int half, const float *inv_freq)
{
	size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	size_t n = (size_t)T * nh * half;
	if (idx >= n)
		return;
	int i = (int)(idx % half);
	int h = (int)(idx / half % nh);
	int t = (int)(idx / half / nh);
	float a = (float)pos[t] * inv_freq[i];
	float c = cosf(a), s = sinf(a);
	float *v = x + (size_t)t * ld + (size_t)h * 2 * half;
	float x1 = v[i], x2 = v[i + half];
	v[i] = x1 * c - x2 * s;
	v[i + half] = x2 * c + x1 * s;
}

extern "C" void cuda_rope(float *d_x, int ld, const int32_t *d_pos, int T, int nh, int D, const float *d_inv_freq)
{
	size_t n = (size_t)T * nh * (D / 2);
	if (n == 0 || !d_pos || !d_inv_freq)
		return;
	rope_kernel<<<cuda_blocks(n, 256), 256>>>(d_x, ld, d_pos, T, nh, D / 2, d_inv_freq);
	CK_LAUNCH(rope_kernel);
}
