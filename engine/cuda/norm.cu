/* RMSNorm as the CPU's (engine/cpu/norm.c): the sum of squares in double, then
 * y = w * (x * (1 / sqrtf(mean + eps))). One block per row. */
#include "engine/cuda/cuda_check.cuh"

#define THREADS 256

static __global__ void rmsnorm_kernel(float *y, const float *x, const float *w, int E, float eps)
{
	__shared__ double part[THREADS];
	const float *xr = x + (size_t)blockIdx.x * E;
	float *yr = y + (size_t)blockIdx.x * E;
	double ss = 0.0;
	for (int i = threadIdx.x; i < E; i += THREADS)
		ss += (double)xr[i] * xr[i];
	part[threadIdx.x] = ss;
	__syncthreads();
	for (int s = THREADS / 2; s > 0; s >>= 1) {
		if ((int)threadIdx.x < s)
			part[threadIdx.x] += part[threadIdx.x + s];
		__syncthreads();
	}
	float r = 1.0f / sqrtf((float)(part[0] / E) + eps);
	for (int i = threadIdx.x; i < E; i += THREADS)
		yr[i] = w[i] * (xr[i] * r);
}

extern "C" void cuda_rmsnorm(float *d_y, const float *d_x, const float *d_w, int T, int E, float eps)
{
	if (T <= 0 || !d_w)
		return;
	rmsnorm_kernel<<<T, THREADS>>>(d_y, d_x, d_w, E, eps);
	CK_LAUNCH(rmsnorm_kernel);
}
