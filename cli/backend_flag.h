/* The --backend flag shared by generate, run, bench and info: the name resolved to a
 * backend table, with one error line naming the flag when it cannot run here. */
#ifndef KVLAB_CLI_BACKEND_FLAG_H
#define KVLAB_CLI_BACKEND_FLAG_H

#include <stddef.h>

struct backend_ops;

#define BACKEND_FLAG_HELP "compute backend: cpu, or cuda (needs a build with nvcc and a CUDA device)"
#define DTYPE_FLAG_HELP                                                                                                 \
	"compute dtype of the weight matrices: fp32 (cpu's default), bf16 (cuda's default; on cpu the prefill "          \
	"GEMMs, needs AVX512-BF16; fp32 accumulation), or int8 (cpu only: decode's Q4_1/Q8_0 products take x as "         \
	"bytes per 32-element block, as llama.cpp's Q8 activations; int32 sums; faster, not the reference); recorded "   \
	"with the backend (cpu-bf16, cpu-int8, cuda-bf16, cuda-fp32)"

/* Resolves --backend NAME and --dtype DTYPE (NULL = the backend's default) into *out
 * (a static table): KV_EINVAL / KV_EUNSUP with "--backend NAME: why" in err when NAME is
 * unknown or cannot run in this build or on this machine, "--dtype ..." naming both
 * flags when the backend does not compute in DTYPE. */
int cli_backend(const char *name, const char *dtype, const struct backend_ops **out, char *err, size_t errlen);

#endif
