/* CUDA device probe for --backend cuda and a one-kernel self-test for make test-gpu:
 * the first .cu the Makefile's nvcc rule builds. C-callable launchers only. */
#include <cuda_runtime.h>
#include <stdio.h>

#include "engine/cuda/cuda_probe.h"

/* y (n,) += x (n,). */
static __global__ void add_kernel(float *y, const float *x, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		y[i] += x[i];
}

extern "C" int cuda_probe(int *n_devices, char *name, size_t name_len, char *err, size_t errlen)
{
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);
	*n_devices = 0;
	if (name_len)
		name[0] = '\0';
	if (errlen)
		err[0] = '\0';
	if (e != cudaSuccess) {
		snprintf(err, errlen, "cudaGetDeviceCount: %s", cudaGetErrorString(e));
		cudaGetLastError(); /* clear the sticky error */
		return -1;
	}
	*n_devices = n;
	if (n > 0) {
		cudaDeviceProp p;
		if (cudaGetDeviceProperties(&p, 0) == cudaSuccess)
			snprintf(name, name_len, "%s, %.1f GiB", p.name, p.totalGlobalMem / 1073741824.0);
	}
	return 0;
}

extern "C" int cuda_selftest(char *err, size_t errlen)
{
	enum { N = 1000 };
	float hx[N], hy[N], out[N];
	float *dx = NULL, *dy = NULL;
	int rc = -1;
	for (int i = 0; i < N; i++) {
		hx[i] = 0.5f * i;
		hy[i] = 1.0f - i;
	}
	cudaError_t e;
	if ((e = cudaMalloc(&dx, sizeof(hx))) != cudaSuccess || (e = cudaMalloc(&dy, sizeof(hy))) != cudaSuccess ||
	    (e = cudaMemcpy(dx, hx, sizeof(hx), cudaMemcpyHostToDevice)) != cudaSuccess ||
	    (e = cudaMemcpy(dy, hy, sizeof(hy), cudaMemcpyHostToDevice)) != cudaSuccess) {
		snprintf(err, errlen, "device memory: %s", cudaGetErrorString(e));
		goto out;
	}
	add_kernel<<<(N + 255) / 256, 256>>>(dy, dx, N);
	if ((e = cudaGetLastError()) != cudaSuccess || (e = cudaMemcpy(out, dy, sizeof(out), cudaMemcpyDeviceToHost)) != cudaSuccess) {
		snprintf(err, errlen, "add kernel: %s", cudaGetErrorString(e));
		goto out;
	}
	for (int i = 0; i < N; i++)
		if (out[i] != hy[i] + hx[i]) {
			snprintf(err, errlen, "add kernel: element %d is %g, expected %g", i, out[i], hy[i] + hx[i]);
			goto out;
		}
	rc = 0;
out:
	cudaFree(dx);
	cudaFree(dy);
	return rc;
}
