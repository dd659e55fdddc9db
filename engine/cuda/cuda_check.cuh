/* Error checks for the .cu files: every CUDA / cuBLAS / cuRAND call through CK_* so
 * a failure is recorded once (cuda_fail) with the call and place. */
#ifndef KVLAB_ENGINE_CUDA_CUDA_CHECK_CUH
#define KVLAB_ENGINE_CUDA_CUDA_CHECK_CUH

#include <cuda_runtime.h>

#include "engine/cuda/cuda_ops.h"

/* Records a failed runtime call and evaluates to true. */
#define CK_FAILED(call) cuda_ck_failed((call), #call, __FILE__, __LINE__)
static inline bool cuda_ck_failed(cudaError_t e, const char *what, const char *file, int line)
{
	if (e == cudaSuccess)
		return false;
	cuda_fail("%s:%d: %s: %s", file, line, what, cudaGetErrorString(e));
	return true;
}
/* After a launch: records a launch error. */
#define CK_LAUNCH(name) ((void)CK_FAILED(cudaGetLastError()))

static inline unsigned cuda_blocks(size_t n, unsigned threads)
{
	return (unsigned)((n + threads - 1) / threads);
}

#endif
