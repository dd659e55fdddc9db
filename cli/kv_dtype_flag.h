/* The --kv_dtype flag shared by generate, run and bench: the KV cache's element type,
 * checked against the backend before any work, with one error line naming the flag. */
#ifndef KVLAB_CLI_KV_DTYPE_FLAG_H
#define KVLAB_CLI_KV_DTYPE_FLAG_H

#include <stddef.h>

#include "engine/backend.h" // enum kv_dtype, struct backend_ops

#define KV_DTYPE_FLAG_HELP                                                                                              \
	"KV cache element type: f32 (the reference), f16 or bf16 (rounded to nearest even when stored, widened to fp32 " \
	"in attention; cpu backend only); recorded per run"

/* Resolves --kv_dtype NAME (NULL = f32) for backend be into *out: KV_EINVAL for an
 * unknown name, KV_EUNSUP naming the backend when it keeps its cache in f32 only. */
int cli_kv_dtype(const char *name, const struct backend_ops *be, enum kv_dtype *out, char *err, size_t errlen);

#endif
