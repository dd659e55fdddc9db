/* The roofline's pieces (bench/roofline.c, results/bench_roofline.c): the prefill FLOPs
 * and decode bytes against counts written out by hand for a small shape, a calibration
 * that measures something on this machine, and roofline rows written and read back. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench/roofline.h"         // bench_calibrate, bench_prefill_flops, bench_decode_weight_bytes
#include "engine/backend.h"         // backend_cpu
#include "results/bench_roofline.h" // bench_roofline_put, bench_roofline_load
#include "results/store.h"          // store_open, store_close
#include "tests/test.h"

static const struct model_config shape = { .arch = ARCH_LLAMA, .n_layer = 2, .n_embd = 64, .n_head = 4, .n_head_kv = 2,
					   .head_dim = 16, .n_ff = 96, .n_vocab = 100, .max_pos = 512, .norm_eps = 1e-5f,
					   .rope_theta = 10000.0f, .tied_embd = true };

static void prefill_flops_should_count_every_multiply_add(void)
{
	const int alive[2] = { 10, 4 }; /* layer 1 after a propagation to 4 tokens */
	/* per token: q 64x64, k 64x32, v 64x32, o 64x64, gate/up 64x96 each, down 96x64 */
	double per_token = 2.0 * (64 * 64 + 64 * 32 + 64 * 32 + 64 * 64 + 3 * 64 * 96);
	/* causal attention: 4 heads x 16 dims, QK^T and PV over T(T+1)/2 pairs */
	double attn10 = 2.0 * 2.0 * 64 * 55, attn4 = 2.0 * 2.0 * 64 * 10;
	double want = 10 * per_token + attn10 + 4 * per_token + attn4 + 2.0 * 64 * 100;
	double got = bench_prefill_flops(&shape, alive);
	T_CHECK(fabs(got - want) < 0.5, "prefill FLOPs %.0f, want %.0f", got, want);
}

static void decode_bytes_should_read_fp32_weights_without_packed_copies(void)
{
	struct model *m = NULL;
	char err[256];
	int rc = model_init_random(&shape, 7, &m, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (rc)
		return;
	/* random weights have no block-quantised copies: every matrix in fp32, norms, output */
	double per_layer = 4.0 * (64 * 64 + 64 * 32 + 64 * 32 + 64 * 64 + 3 * 64 * 96) + 2 * 4 * 64;
	double want = 2 * per_layer + 4.0 * 100 * 64 + 4 * 64;
	double got = bench_decode_weight_bytes(m);
	T_CHECK(fabs(got - want) < 0.5, "decode weight bytes %.0f, want %.0f", got, want);
	model_free(m);
}

static void calibration_should_measure_this_machine(void)
{
	struct bench_machine mc;
	char err[256];
	int rc = bench_calibrate(&backend_cpu, 1, &mc, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	T_CHECK(mc.read_gbs > 0.01 && mc.read_gbs < 1e4 && mc.gemm_gflops > 0.01 && mc.gemm_gflops < 1e6 && mc.threads == 1 &&
			mc.read_bytes >= (200u << 20),
		"read %.3g GB/s over %zu bytes, GEMM %.3g GFLOP/s on %d threads", mc.read_gbs, mc.read_bytes, mc.gemm_gflops,
		mc.threads);
	printf("  1 thread: read %.1f GB/s, fp32 GEMM %.1f GFLOP/s\n", mc.read_gbs, mc.gemm_gflops);
}

static void roofline_rows_should_round_trip(void)
{
	char path[] = "/tmp/kvlab_roofXXXXXX", err[512];
	int fd = mkstemp(path);
	T_CHECK(fd >= 0, "mkstemp");
	if (fd < 0)
		return;
	close(fd);
	unlink(path);
	struct store *st = NULL;
	struct bench_roof rows[2] = {
		{ "inv1", "fullkv", 512, "decode", "f16", 1.5e8, 0, 20.0, 300.0, 7.5, 10.0, 0.75 },
		{ "inv1", "fullkv", 512, "prefill", "f16", 0, 1.2e11, 20.0, 300.0, 400.0, 500.0, 0.8 },
	};
	struct bench_roof *back = NULL;
	int n = 0;
	T_CHECK(store_open(path, &st, err, sizeof(err)) == 0, "%s", err);
	if (!st)
		goto out;
	T_CHECK(bench_roofline_put(st, rows, 2, err, sizeof(err)) == 0, "%s", err);
	T_CHECK(bench_roofline_put(st, rows, 1, err, sizeof(err)) != 0, "a duplicate row was accepted");
	T_CHECK(bench_roofline_load(st, "inv1", &back, &n, err, sizeof(err)) == 0 && n == 2, "%d rows: %s", n, err);
	if (n == 2)
		T_CHECK(!strcmp(back[0].phase, "decode") && back[0].bytes == 1.5e8 && back[1].flops == 1.2e11 &&
				!strcmp(back[1].kv_dtype, "f16") && back[1].achieved == 0.8,
			"rows read back differ");
out:
	free(back);
	store_close(st);
	unlink(path);
	char side[600];
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
}

int main(void)
{
	T_RUN(prefill_flops_should_count_every_multiply_add);
	T_RUN(decode_bytes_should_read_fp32_weights_without_packed_copies);
	T_RUN(calibration_should_measure_this_machine);
	T_RUN(roofline_rows_should_round_trip);
	return t_done();
}
