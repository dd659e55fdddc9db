/* make test-gpu: the CUDA device probe behind --backend cuda and a one-kernel self-test.
 * Without a CUDA device (or in a build without nvcc) it prints why and skips, exit 0;
 * never part of make test. */
#include <stdio.h>

#include "base/errors.h"     // KV_EUNSUP
#include "engine/backend.h" // backend_by_name
#include "tests/test.h"
#ifdef KVLAB_CUDA
#include "engine/cuda/cuda_probe.h" // cuda_probe, cuda_selftest
#endif

static void cuda_device_runs_a_kernel(void)
{
#ifndef KVLAB_CUDA
	T_SKIP("this kvlab was built without CUDA (nvcc not found at build time; make CUDA=1)");
#else
	char name[256], err[256];
	int n = 0;
	if (cuda_probe(&n, name, sizeof(name), err, sizeof(err)) || n == 0) {
		T_SKIP("no CUDA device: skipped (%s)", err[0] ? err : "0 devices");
		return;
	}
	printf("# device 0: %s (%d devices)\n", name, n);
	T_CHECK(cuda_selftest(err, sizeof(err)) == 0, "%s", err);
#endif
}

static void backend_cuda_is_refused_with_a_reason(void)
{
	const struct backend_ops *be = NULL;
	char err[512] = "";
	/* no CUDA compute ops exist yet: every build and machine refuses, saying why */
	T_CHECK(backend_by_name("cuda", &be, err, sizeof(err)) == KV_EUNSUP && err[0], "got '%s'", err);
	printf("# --backend cuda: %s\n", err);
}

int main(void)
{
	T_RUN(cuda_device_runs_a_kernel);
	T_RUN(backend_cuda_is_refused_with_a_reason);
	return t_done();
}
