/* The CUDA backend tables (engine/cuda/backend_cuda.c) and the context start-up, for
 * engine/backend.c's lookup. Built only with nvcc (KVLAB_CUDA). */
#ifndef KVLAB_ENGINE_CUDA_BACKEND_CUDA_H
#define KVLAB_ENGINE_CUDA_BACKEND_CUDA_H

#include <stddef.h>

#include "engine/backend.h" // struct backend_ops

/* Matrices in bf16 on the device (fp32 accumulation, fp32 activations): "cuda-bf16". */
extern const struct backend_ops backend_cuda_bf16;
/* Matrices in fp32 (cuBLAS SGEMM, no TF32): "cuda-fp32", the fidelity mode. */
extern const struct backend_ops backend_cuda_fp32;

/* Starts the CUDA context on device 0 (cuBLAS handle, cuRAND generator made lazily);
 * idempotent. 0, or -1 with the reason in err. */
int cuda_backend_init(char *err, size_t errlen);

#endif
