/* The CPU backend table: OpenBLAS GEMM, OpenMP threads for the rest, host memory
 * (the memory slots stay NULL: the wrappers' malloc / memcpy fallbacks). */
#include <cblas.h> // openblas_set_num_threads
#include <omp.h>

#include "engine/cpu/cpu_ops.h"

static void cpu_set_threads(int n)
{
	if (n <= 0)
		n = omp_get_num_procs();
	omp_set_num_threads(n);
	openblas_set_num_threads(n);
}

const struct backend_ops backend_cpu = {
	.name = "cpu",
	.set_threads = cpu_set_threads,
	.matmul = cpu_matmul,
	.qmatvec = cpu_qmatvec,
	.rmsnorm = cpu_rmsnorm,
	.rope = cpu_rope,
	.swiglu = cpu_swiglu,
	.add = cpu_add,
	.attn_causal = cpu_attn_causal,
	.attn_cached = cpu_attn_cached,
	.attn_probs = cpu_attn_probs,
	.attn_colsum = cpu_attn_colsum,
	.qk_dots = cpu_qk_dots,
};
