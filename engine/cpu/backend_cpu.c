/* The CPU backend tables: "cpu" (OpenBLAS sgemm), "cpu-bf16" (the AVX512-BF16 GEMM) and
 * "cpu-int8" (decode's block-quantised products with x as bytes per block),
 * OpenMP threads for the rest, host memory (the memory slots stay NULL: the wrappers'
 * malloc / memcpy fallbacks). */
#include <cblas.h> // openblas_set_num_threads
#include <omp.h>

#include "base/errors.h" // kv_errf
#include "engine/cpu/cpu_ops.h"

/* The first op that ran out of scratch memory since the last check (NULL: none). Ops fail
 * from inside OpenMP regions, so the slot is written atomically. */
static const char *volatile failed_op;

void cpu_fail(const char *op)
{
	__atomic_store_n(&failed_op, op, __ATOMIC_RELAXED);
}

int cpu_check(char *err, size_t errlen)
{
	const char *op = __atomic_exchange_n(&failed_op, NULL, __ATOMIC_RELAXED);
	return op ? kv_errf(err, errlen, KV_ENOMEM, "cpu backend: out of memory for %s's scratch", op) : 0;
}

static void cpu_set_threads(int n)
{
	if (n <= 0)
		n = omp_get_num_procs();
	omp_set_num_threads(n);
	openblas_set_num_threads(n);
}

#define CPU_COMMON_SLOTS                                                                                                 \
	.set_threads = cpu_set_threads, .rmsnorm = cpu_rmsnorm, .rope = cpu_rope,                                        \
	.swiglu = cpu_swiglu, .add = cpu_add, .attn_causal = cpu_attn_causal, .attn_cached = cpu_attn_cached,            \
	.attn_appended = cpu_attn_appended,                                                                              \
	.attn_probs = cpu_attn_probs, .attn_colsum = cpu_attn_colsum, .qk_dots = cpu_qk_dots, .check = cpu_check,        \
	.kv16 = true

const struct backend_ops backend_cpu = {
	.name = "cpu",
	CPU_COMMON_SLOTS,
	.matmul = cpu_matmul,
	.qmatvec = cpu_qmatvec,
};

/* Matrices in bf16 (engine/cpu/gemm_bf16.c); decode's block-quantised products stay as
 * they are (qmatvec), so bf16 reaches the prefill GEMMs and matrices without a packed copy. */
const struct backend_ops backend_cpu_bf16 = {
	.name = "cpu-bf16",
	CPU_COMMON_SLOTS,
	.matmul = cpu_matmul_bf16,
	.qmatvec = cpu_qmatvec,
	.prepare = cpu_prepare_bf16,
	.dtype = "bf16",
};

/* Decode's block-quantised products take x as bytes per block, as llama.cpp's Q8
 * activations (engine/cpu/qmatvec_int8.h); everything else as "cpu", prefill's GEMMs included. */
const struct backend_ops backend_cpu_int8 = {
	.name = "cpu-int8",
	CPU_COMMON_SLOTS,
	.matmul = cpu_matmul,
	.qmatvec = cpu_qmatvec_int8,
	.dtype = "int8",
};
