/* y (T, out) = x (T, in) . W^T through cuBLAS, W (out, in) row-major on the device.
 * Row-major y^T = W . x^T is column-major y' (out, T) = W'^T (out, in) . x' (in, T)
 * with W' = W viewed column-major (in, out). fp32 weights: SGEMM (default math mode:
 * no TF32). bf16 weights: x is rounded to bf16 and GemmEx multiplies bf16 x bf16 with
 * fp32 accumulation and an fp32 result. */
#include <cublas_v2.h>
#include <cuda_bf16.h>

#include "engine/cuda/cuda_check.cuh"
#include "engine/cuda/cuda_ctx.cuh"

static bool blas_failed(cublasStatus_t s, const char *what, int T, int in, int out)
{
	if (s == CUBLAS_STATUS_SUCCESS)
		return false;
	cuda_fail("%s (T %d, in %d, out %d): %s", what, T, in, out, cublasGetStatusString(s));
	return true;
}

extern "C" void cuda_gemm(float *d_y, const float *d_x, const void *d_w, enum cuda_wtype t, int T, int in, int out)
{
	if (!d_w || T <= 0)
		return; /* a missing weight was recorded by cuda_weight */
	const float one = 1.0f, zero = 0.0f;
	cublasHandle_t h = cuda_blas();
	if (t == CW_F32) {
		blas_failed(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, out, T, in, &one, (const float *)d_w, in, d_x, in, &zero, d_y,
					out),
			    "cublasSgemm", T, in, out);
		return;
	}
	__nv_bfloat16 *xb = (__nv_bfloat16 *)cuda_scratch(CS_XB, sizeof(__nv_bfloat16) * (size_t)T * in);
	if (!xb)
		return;
	cuda_to_bf16(xb, d_x, (size_t)T * in);
	blas_failed(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, out, T, in, &one, d_w, CUDA_R_16BF, in, xb, CUDA_R_16BF, in, &zero,
				 d_y, CUDA_R_32F, out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
		    "cublasGemmEx bf16", T, in, out);
}
