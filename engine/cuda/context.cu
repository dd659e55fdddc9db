/* The CUDA backend's process-wide context: device 0, the cuBLAS handle, the first
 * recorded error, and growable scratch buffers for per-call host data (positions,
 * cache views, bf16 activations, scoring blocks). One context per process: the
 * backend tables are static, as the CPU's. Not thread-safe (the forward is serial). */
#include <cublas_v2.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine/cuda/cuda_check.cuh"
#include "engine/cuda/cuda_ctx.cuh"

static struct {
	bool started;
	int start_rc;
	char start_err[256];
	cublasHandle_t blas;
	bool failed;
	char err[512];
	void *scratch[CUDA_SCRATCH_SLOTS];
	size_t scratch_n[CUDA_SCRATCH_SLOTS];
} ctx;

cublasHandle_t cuda_blas(void)
{
	return ctx.blas;
}

extern "C" int cuda_ctx_init(char *err, size_t errlen)
{
	if (ctx.started) {
		if (ctx.start_rc)
			snprintf(err, errlen, "%s", ctx.start_err);
		return ctx.start_rc;
	}
	ctx.started = true;
	ctx.start_rc = -1;
	cudaError_t e;
	cublasStatus_t b;
	if ((e = cudaSetDevice(0)) != cudaSuccess || (e = cudaFree(0)) != cudaSuccess) {
		snprintf(ctx.start_err, sizeof(ctx.start_err), "cudaSetDevice(0): %s", cudaGetErrorString(e));
		cudaGetLastError();
	} else if ((b = cublasCreate(&ctx.blas)) != CUBLAS_STATUS_SUCCESS) {
		snprintf(ctx.start_err, sizeof(ctx.start_err), "cublasCreate: %s", cublasGetStatusString(b));
	} else if ((b = cublasSetMathMode(ctx.blas, CUBLAS_DEFAULT_MATH)) != CUBLAS_STATUS_SUCCESS) {
		/* default math: fp32 GEMMs stay fp32 (no TF32); bf16 GemmEx accumulates in fp32 */
		snprintf(ctx.start_err, sizeof(ctx.start_err), "cublasSetMathMode: %s", cublasGetStatusString(b));
	} else {
		ctx.start_rc = 0;
	}
	if (ctx.start_rc)
		snprintf(err, errlen, "%s", ctx.start_err);
	return ctx.start_rc;
}

extern "C" void cuda_fail(const char *fmt, ...)
{
	if (ctx.failed)
		return;
	ctx.failed = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx.err, sizeof(ctx.err), fmt, ap);
	va_end(ap);
}

bool cuda_failed(void)
{
	return ctx.failed;
}

extern "C" int cuda_take_error(char *err, size_t errlen)
{
	cudaError_t e = cudaDeviceSynchronize();
	if (e != cudaSuccess)
		cuda_fail("cudaDeviceSynchronize: %s", cudaGetErrorString(e));
	if (!ctx.failed)
		return 0;
	snprintf(err, errlen, "CUDA backend: %s", ctx.err);
	ctx.failed = false;
	ctx.err[0] = '\0';
	cudaGetLastError(); /* clear a non-sticky error so the next op starts clean */
	return -1;
}

extern "C" void *cuda_scratch(int slot, size_t n)
{
	if (n == 0)
		n = 1;
	if (ctx.scratch_n[slot] >= n)
		return ctx.scratch[slot];
	size_t want = ctx.scratch_n[slot] * 2 > n ? ctx.scratch_n[slot] * 2 : n;
	if (ctx.scratch[slot]) {
		CK_FAILED(cudaFree(ctx.scratch[slot])); /* synchronises: no kernel still reads it */
		ctx.scratch[slot] = NULL;
		ctx.scratch_n[slot] = 0;
	}
	void *p = NULL;
	if (cudaMalloc(&p, want) != cudaSuccess) {
		cudaGetLastError();
		if (want == n || cudaMalloc(&p, n) != cudaSuccess) {
			cudaGetLastError();
			cuda_fail("out of device memory for %zu bytes of scratch", n);
			return NULL;
		}
		want = n;
	}
	ctx.scratch[slot] = p;
	ctx.scratch_n[slot] = want;
	return p;
}

extern "C" void *cuda_scratch_upload(int slot, const void *h_src, size_t n)
{
	void *d = cuda_scratch(slot, n);
	if (!d || (n && CK_FAILED(cudaMemcpy(d, h_src, n, cudaMemcpyHostToDevice))))
		return NULL;
	return d;
}
