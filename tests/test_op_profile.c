/* kvlab bench e2e --profile's timing op table (bench/op_profile.c): the timed slots give
 * the inner backend's results bit for bit, count calls and the bytes qmatvec and
 * attn_cached read only while a profile is started, refuse a device backend, and the rows
 * (results/bench_profile.c) carry the shares and bandwidths of what was counted to the
 * printed table, the database and kvlab report. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/op_profile.h"
#include "base/errors.h"   // KV_EUNSUP
#include "engine/backend.h" // backend_cpu
#include "engine/gguf.h"   // GGML_DT_Q4_1
#include "engine/qmat.h"
#include "engine/quant.h"  // quant_f32_to_f16
#include "results/bench_profile.h" // bench_profile_put, bench_profile_load, bench_profile_report, bench_profile_print
#include "results/store.h"     // store_open
#include "results/table_fmt.h" // table_list, table_col_find
#include "tests/test.h"

enum { ROWS = 8, COLS = 96, N = 5, D = 8, H = 2 };

/* rows x cols Q4_1 blocks as a GGUF stores them (fp16 d, fp16 m, 16 code bytes), seeded. */
static int q4_1_matrix(struct qmat *q, unsigned seed)
{
	size_t nb = (size_t)ROWS * COLS / 32;
	uint8_t *src = malloc(nb * 20);
	if (!src)
		return -1;
	srand(seed);
	for (size_t b = 0; b < nb; b++) {
		uint16_t d = quant_f32_to_f16(0.01f + (float)(rand() % 100) * 1e-4f);
		uint16_t m = quant_f32_to_f16(-0.05f + (float)(rand() % 100) * 1e-4f);
		memcpy(src + b * 20, &d, 2);
		memcpy(src + b * 20 + 2, &m, 2);
		for (int k = 0; k < 16; k++)
			src[b * 20 + 4 + k] = (uint8_t)rand();
	}
	int rc = qmat_from_ggml(q, GGML_DT_Q4_1, src, ROWS, COLS);
	free(src);
	return rc;
}

static void timed_slots_should_give_the_inner_results_and_count_only_while_started(void)
{
	struct backend_ops timed;
	char err[256];
	T_CHECK(op_profile_wrap(&timed, &backend_cpu, err, sizeof(err)) == 0, "wrap: %s", err);
	struct qmat q;
	T_CHECK(q4_1_matrix(&q, 7) == 0, "could not build the Q4_1 matrix");
	float x[COLS], y0[ROWS], y1[ROWS], y2[ROWS];
	for (int i = 0; i < COLS; i++)
		x[i] = (float)(i % 13) / 6.0f - 1.0f;
	const struct qmat *w[] = { &q };
	backend_cpu.qmatvec((float *[]){ y0 }, x, w, 1);

	struct op_profile p = { 0 };
	timed.qmatvec((float *[]){ y1 }, x, w, 1); /* no profile started: counted nowhere */
	op_profile_start(&p);
	timed.qmatvec((float *[]){ y2 }, x, w, 1);
	timed.qmatvec((float *[]){ y2 }, x, w, 1);

	float k[N * D], v[N * D], qv[H * D], o0[H * D], o1[H * D];
	for (int i = 0; i < N * D; i++) {
		k[i] = (float)((i * 7) % 11) / 5.0f - 1.0f;
		v[i] = (float)((i * 3) % 17) / 8.0f - 1.0f;
	}
	for (int i = 0; i < H * D; i++)
		qv[i] = (float)(i % 5) / 4.0f;
	struct attn_kv_view kv = { .k = k, .v = v, .n = N, .ld = D, .dtype = KV_DTYPE_F32 };
	timed.attn_cached(o1, qv, &kv, 1, H, D);
	op_profile_stop(3);
	backend_cpu.attn_cached(o0, qv, &kv, 1, H, D);

	T_CHECK(memcmp(y0, y1, sizeof(y0)) == 0 && memcmp(y0, y2, sizeof(y0)) == 0, "qmatvec through the timed slot differs");
	T_CHECK(memcmp(o0, o1, sizeof(o0)) == 0, "attn_cached through the timed slot differs");
	T_CHECK(p.calls[BK_OP_QMATVEC] == 2 && p.q_calls[QMAT_Q4_1] == 2 && p.q_calls[QMAT_Q8_0] == 0,
		"qmatvec calls: %lld (q4_1 %lld), expected 2", p.calls[BK_OP_QMATVEC], p.q_calls[QMAT_Q4_1]);
	T_CHECK(p.bytes[BK_OP_QMATVEC] == 2.0 * (double)qmat_bytes(&q) && p.q_bytes[QMAT_Q4_1] == p.bytes[BK_OP_QMATVEC],
		"qmatvec bytes %.0f, expected twice the matrix's %zu", p.bytes[BK_OP_QMATVEC], qmat_bytes(&q));
	T_CHECK(p.calls[BK_OP_ATTN_CACHED] == 1 && p.bytes[BK_OP_ATTN_CACHED] == 2.0 * N * D * sizeof(float),
		"attn_cached: %lld calls, %.0f bytes (expected 1, %zu)", p.calls[BK_OP_ATTN_CACHED], p.bytes[BK_OP_ATTN_CACHED],
		2 * N * D * sizeof(float));
	T_CHECK(p.steps == 3 && p.total_sec >= p.sec[BK_OP_QMATVEC] + p.sec[BK_OP_ATTN_CACHED],
		"span: %lld steps, %.3g s for %.3g s of ops", p.steps, p.total_sec, p.sec[BK_OP_QMATVEC] + p.sec[BK_OP_ATTN_CACHED]);

	timed.qmatvec((float *[]){ y2 }, x, w, 1); /* stopped: not counted */
	T_CHECK(p.calls[BK_OP_QMATVEC] == 2, "a call after op_profile_stop was counted");
	qmat_free(&q);
}

static void wrap_should_refuse_a_device_backend(void)
{
	struct backend_ops dev = backend_cpu, timed;
	dev.name = "fakedev";
	dev.alloc = malloc; /* device memory: alloc and friends set */
	dev.free = free;
	char err[256] = "";
	T_CHECK(op_profile_wrap(&timed, &dev, err, sizeof(err)) == KV_EUNSUP, "a device backend was wrapped");
	T_CHECK(strstr(err, "--profile") && strstr(err, "fakedev") && strstr(err, "--backend cpu"), "message: %s", err);
}

static void rows_should_state_shares_bandwidths_and_the_time_between_ops(void)
{
	struct op_profile p = { 0 };
	p.steps = 2;
	p.total_sec = 1.0;
	p.calls[BK_OP_QMATVEC] = 4;
	p.sec[BK_OP_QMATVEC] = 0.5;
	p.bytes[BK_OP_QMATVEC] = 2e9;
	p.q_calls[QMAT_Q8_0] = 4;
	p.q_sec[QMAT_Q8_0] = 0.5;
	p.q_bytes[QMAT_Q8_0] = 2e9;
	p.calls[BK_OP_RMSNORM] = 2;
	p.sec[BK_OP_RMSNORM] = 0.25;
	struct bench_prof rows[OP_PROFILE_MAX_ROWS];
	int n = op_profile_rows(&p, "inv1", "fullkv", 512, 10.0, rows);
	T_CHECK(n == 4, "%d rows, expected qmatvec, its q8_0 part, rmsnorm and the time between", n);
	if (n != 4)
		return;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	T_CHECK(f != NULL, "open_memstream");
	if (!f)
		return;
	bench_profile_print(f, rows, n);
	fclose(f);
	/* 2 steps: 2 calls, 250 ms and 1000 MB a step; 4 GB/s is 40 % of 10 GB/s */
	T_CHECK(strstr(buf, "| fullkv | 512 | qmatvec | 2.0 | 250.000 | 50% | 1000.0 | 4.00 | 40% |\n") != NULL, "qmatvec row:\n%s", buf);
	T_CHECK(strstr(buf, "| fullkv | 512 | qmatvec (q8_0) | 2.0 | 250.000 | 50% | 1000.0 | 4.00 | 40% |\n") != NULL, "q8_0 row:\n%s", buf);
	T_CHECK(strstr(buf, "| fullkv | 512 | rmsnorm | 1.0 | 125.000 | 25% | - | - | - |\n") != NULL, "rmsnorm row:\n%s", buf);
	T_CHECK(strstr(buf, "| fullkv | 512 | (between the ops) | - | 125.000 | 25% | - | - | - |\n") != NULL, "rest row:\n%s", buf);
	T_CHECK(!strstr(buf, "q4_1") && !strstr(buf, "| rope"), "ops never called should have no row:\n%s", buf);
	free(buf);

	/* the rows go to bench_profile and back, and kvlab report --bench gets the same figures */
	char dir[] = "/tmp/kvlab_test_op_profile_XXXXXX", path[128], err[256];
	T_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(path, sizeof(path), "%s/p.db", dir);
	struct store *st = NULL;
	struct bench_prof *back = NULL;
	struct table_list tl = { 0 };
	int nb = 0;
	T_CHECK(store_open(path, &st, err, sizeof(err)) == 0, "%s", err);
	if (!st)
		goto out;
	T_CHECK(bench_profile_put(st, rows, n, err, sizeof(err)) == 0, "%s", err);
	T_CHECK(bench_profile_put(st, rows, 1, err, sizeof(err)) != 0, "a duplicate row was accepted");
	T_CHECK(bench_profile_load(st, "inv1", &back, &nb, err, sizeof(err)) == 0 && nb == n, "%d rows: %s", nb, err);
	T_CHECK(nb == n && memcmp(back, rows, sizeof(*rows) * (size_t)n) == 0, "rows read back differ");
	T_CHECK(bench_profile_report(st, "inv1", &tl, err, sizeof(err)) == 0 && tl.n == 1, "report: %s", err);
	if (tl.n == 1) {
		const struct table *t = tl.t[0];
		int c = table_col_find(t, "of_read_pct"), m = table_col_find(t, "GB_s");
		T_CHECK(c >= 0 && m >= 0 && t->n_row == 4, "columns %d %d, %d rows", c, m, t->n_row);
		if (c >= 0 && m >= 0 && t->n_row == 4) {
			const char *of = table_get(t, 0, c), *g = table_get(t, 0, m), *none = table_get(t, 2, c);
			T_CHECK(of && !strcmp(of, "40.0") && g && !strcmp(g, "4.00") && !none, "report: %s %s %s", of ? of : "(none)",
				g ? g : "(none)", none ? none : "(none)");
		}
	}
out:
	table_list_free(&tl);
	free(back);
	store_close(st);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	T_RUN(timed_slots_should_give_the_inner_results_and_count_only_while_started);
	T_RUN(wrap_should_refuse_a_device_backend);
	T_RUN(rows_should_state_shares_bandwidths_and_the_time_between_ops);
	return t_done();
}
