/* Context internals shared by the .cu files (C++ linkage, not part of the C API). */
#ifndef KVLAB_ENGINE_CUDA_CUDA_CTX_CUH
#define KVLAB_ENGINE_CUDA_CUDA_CTX_CUH

#include <cublas_v2.h>

/* The cuBLAS handle (valid after cuda_ctx_init). */
cublasHandle_t cuda_blas(void);
/* Whether a failure is recorded and not yet taken. */
bool cuda_failed(void);

#endif
