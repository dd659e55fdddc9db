/* Device memory for the backend table's memory slots: cudaMalloc'd buffers, copies
 * through cudaMemcpy on the default stream (downloads synchronise). */
#include <stdint.h>

#include "engine/cuda/cuda_check.cuh"

extern "C" void *cuda_mem_alloc(size_t n)
{
	void *p = NULL;
	if (cudaMalloc(&p, n ? n : 1) != cudaSuccess) {
		cudaGetLastError(); /* out of memory is the caller's to report (NULL), not a recorded failure */
		return NULL;
	}
	return p;
}

extern "C" void cuda_mem_free(void *d)
{
	if (d)
		CK_FAILED(cudaFree(d));
}

extern "C" void cuda_mem_upload(void *d_dst, const void *h_src, size_t n)
{
	if (n)
		CK_FAILED(cudaMemcpy(d_dst, h_src, n, cudaMemcpyHostToDevice));
}

extern "C" void cuda_mem_download(void *h_dst, const void *d_src, size_t n)
{
	if (n)
		CK_FAILED(cudaMemcpy(h_dst, d_src, n, cudaMemcpyDeviceToHost));
}

/* memmove semantics: overlapping ranges go through a scratch buffer (cudaMemcpy's
 * device-to-device copy does not promise an order). */
extern "C" void cuda_mem_copy(void *d_dst, const void *d_src, size_t n)
{
	if (!n || d_dst == d_src)
		return;
	uintptr_t a = (uintptr_t)d_dst, b = (uintptr_t)d_src;
	bool overlap = a < b + n && b < a + n;
	if (!overlap) {
		CK_FAILED(cudaMemcpy(d_dst, d_src, n, cudaMemcpyDeviceToDevice));
		return;
	}
	void *t = cuda_scratch(CS_TMP, n);
	if (t && !CK_FAILED(cudaMemcpy(t, d_src, n, cudaMemcpyDeviceToDevice)))
		CK_FAILED(cudaMemcpy(d_dst, t, n, cudaMemcpyDeviceToDevice));
}
