/* The --backend flag shared by generate, run, bench and info: the name resolved to a
 * backend table, with one error line naming the flag when it cannot run here. */
#ifndef KVLAB_CLI_BACKEND_FLAG_H
#define KVLAB_CLI_BACKEND_FLAG_H

#include <stddef.h>

struct backend_ops;

#define BACKEND_FLAG_HELP "compute backend: cpu, or cuda (needs a build with nvcc and a CUDA device)"

/* Resolves --backend NAME into *out (a static table): KV_EINVAL / KV_EUNSUP with
 * "--backend NAME: why" in err when NAME is unknown or cannot run in this build or on
 * this machine. */
int cli_backend(const char *name, const struct backend_ops **out, char *err, size_t errlen);

#endif
