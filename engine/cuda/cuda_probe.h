/* The CUDA device probe and a one-kernel self-test (engine/cuda/probe.cu), C-callable.
 * Built only when nvcc is found (Makefile: CUDA=auto|1); KVLAB_CUDA is then defined. */
#ifndef KVLAB_ENGINE_CUDA_PROBE_H
#define KVLAB_ENGINE_CUDA_PROBE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Counts the CUDA devices into *n_devices and names device 0 into name (empty when
 * none). Returns 0, or -1 with the CUDA runtime's reason in err (no driver, no device). */
int cuda_probe(int *n_devices, char *name, size_t name_len, char *err, size_t errlen);

/* Runs y (n,) += x (n,) on device 0 for a small n and compares with the host sum.
 * Returns 0, or -1 with the reason in err. */
int cuda_selftest(char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
