/* The roofline's pieces (bench/roofline.c, results/bench_roofline.c): the prefill FLOPs
 * and decode bytes against counts written out by hand for a small shape, a calibration
 * that measures something on this machine, and roofline rows written, read back and
 * reported with the speedup over fullkv their work alone allows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench/roofline.h"         // bench_calibrate, bench_prefill_flops, bench_decode_weight_bytes
#include "engine/backend.h"         // backend_cpu
#include "results/bench_roofline.h" // bench_roofline_put, bench_roofline_load, bench_roofline_report, bench_roofline_print
#include "results/store.h"          // store_open, store_close
#include "results/table_fmt.h"      // table_col_find, table_get, table_list_free
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

static void roofline_rows_should_round_trip_and_report_fullkvs_bound_over_theirs(void)
{
	char path[] = "/tmp/kvlab_roofXXXXXX", err[512];
	int fd = mkstemp(path);
	T_CHECK(fd >= 0, "mkstemp");
	if (fd < 0)
		return;
	close(fd);
	unlink(path);
	struct store *st = NULL;
	struct bench_roof rows[4] = {
		{ "inv1", "fullkv", 512, "decode", "f16", 1.5e8, 0, 20.0, 300.0, 7.5, 10.0, 0.75 },
		{ "inv1", "fullkv", 512, "prefill", "f16", 0, 1.2e11, 20.0, 300.0, 400.0, 500.0, 0.8 },
		{ "inv1", "fastkv", 512, "prefill", "f16", 0, 7.5e10, 20.0, 300.0, 250.0, 260.0, 250.0 / 260 },
		{ "inv1", "fastkv", 1024, "prefill", "f16", 0, 1.5e11, 20.0, 300.0, 500.0, 520.0, 500.0 / 520 },
	};
	struct bench_roof *back = NULL;
	struct table_list tl = { 0 };
	int n = 0;
	T_CHECK(store_open(path, &st, err, sizeof(err)) == 0, "%s", err);
	if (!st)
		goto out;
	T_CHECK(bench_roofline_put(st, rows, 4, err, sizeof(err)) == 0, "%s", err);
	T_CHECK(bench_roofline_put(st, rows, 1, err, sizeof(err)) != 0, "a duplicate row was accepted");
	T_CHECK(bench_roofline_load(st, "inv1", &back, &n, err, sizeof(err)) == 0 && n == 4, "%d rows: %s", n, err);
	if (n == 4)
		T_CHECK(!strcmp(back[0].phase, "decode") && back[0].bytes == 1.5e8 && back[1].flops == 1.2e11 &&
				!strcmp(back[1].kv_dtype, "f16") && back[1].achieved == 0.8,
			"rows read back differ");
	/* bound_x_fullkv: fullkv's bound over the row's at the same length and phase (400 / 250),
	 * empty where fullkv has no row (1024) */
	T_CHECK(bench_roofline_report(st, "inv1", &tl, err, sizeof(err)) == 0 && tl.n == 1, "report: %s", err);
	if (tl.n == 1) {
		const struct table *t = tl.t[0];
		int c = table_col_find(t, "bound_x_fullkv");
		T_CHECK(c >= 0 && t->n_row == 4, "column %d, %d rows", c, t->n_row);
		if (c >= 0 && t->n_row == 4) {
			const char *x[4] = { table_get(t, 0, c), table_get(t, 1, c), table_get(t, 2, c), table_get(t, 3, c) };
			T_CHECK(x[0] && !strcmp(x[0], "1.00") && x[1] && !strcmp(x[1], "1.00") && x[2] && !strcmp(x[2], "1.60") &&
					!x[3],
				"bound_x_fullkv %s %s %s %s", x[0] ? x[0] : "(none)", x[1] ? x[1] : "(none)",
				x[2] ? x[2] : "(none)", x[3] ? x[3] : "(none)");
		}
	}
	char *printed = NULL;
	size_t printed_len = 0;
	FILE *mem = open_memstream(&printed, &printed_len);
	if (mem) {
		bench_roofline_print(mem, back, n);
		fclose(mem);
	}
	T_CHECK(printed && strstr(printed, "| prefill | 512 | fastkv | f16 | 75 GFLOP | 250.000 | 260.000 | 96% | 1.60x |") &&
			strstr(printed, "| prefill | 1024 | fastkv | f16 | 150 GFLOP | 500.000 | 520.000 | 96% | - |"),
		"printed roofline:\n%s", printed ? printed : "(none)");
	free(printed);
out:
	table_list_free(&tl);
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
	T_RUN(roofline_rows_should_round_trip_and_report_fullkvs_bound_over_theirs);
	return t_done();
}
