/* kvlab bench's bookkeeping for a method with a step after the prefill (KVzip's
 * reconstruction), never its timings: bench_rows_fill adds a "recon" row for that method
 * only, bench_roof_fill leaves recon rows out and keeps every other row on its own method's
 * work, and the printed and report tables gain a recon column only when a recon row exists
 * (an invocation without one prints as before). Timings are made-up numbers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "base/errors.h"
#include "methods/params.h"
#include "methods/registry.h"
#include "results/bench_store.h"
#include "results/table_fmt.h"
#include "test.h"

/* fullkv (no step) and kvzip as --methods parses them, options of kind over 2 runs, and
 * made-up measurements: method i's prefill 10 (i + 1) ms, of which kvzip's recon 4 ms. */
struct fixture {
	struct kv_args shared;
	struct kv_method_entry *b;
	int nm;
	struct bench_opts o;
	struct bench_meas meas[2];
	struct bench_row base, rows[2 * BENCH_MAX_PHASES];
};

static int setup(struct fixture *x, enum bench_kind kind)
{
	char err[512], spec[] = "fullkv,kvzip";
	memset(x, 0, sizeof(*x));
	if (kv_method_list_parse(kv_methods, "--methods", spec, &x->shared, &x->b, &x->nm, err, sizeof(err))) {
		fprintf(stderr, "  %s\n", err);
		return -1;
	}
	x->o = (struct bench_opts){ .kind = kind, .methods = x->b, .n_methods = x->nm, .genlen = 3, .runs = 2 };
	if (bench_meas_alloc(x->meas, x->nm, &x->o, err, sizeof(err))) {
		fprintf(stderr, "  %s\n", err);
		return -1;
	}
	snprintf(x->base.bench, sizeof(x->base.bench), "%s", kind == BENCH_E2E ? "e2e" : "prefill");
	for (int i = 0; i < x->nm; i++)
		for (int k = 0; k < 2; k++) {
			struct bench_meas *m = &x->meas[i];
			m->prefill_ms[k] = 10.0 * (i + 1) + k;
			if (m->decode_ms) { /* e2e only */
				m->decode_ms[k] = 1.0 + k;
				m->e2e_ms[k] = 20.0 * (i + 1) + k;
			}
			m->recon_ms[k] = i == 1 ? 4.0 + k : 0.0;
			m->recon = i == 1;
			m->prefill_flops = 1e9 * (i + 1);
			m->decode_bytes = 1e6 * (i + 1);
			m->kv_bytes = 1048576LL * (4 - 2 * i);
		}
	return 0;
}

static void teardown(struct fixture *x)
{
	bench_meas_free(x->meas, x->nm);
	kv_method_list_free(x->b, x->nm);
	kv_args_free(&x->shared);
}

static void rows_should_add_a_recon_row_for_the_method_with_a_step_only(void)
{
	static struct fixture x;
	if (setup(&x, BENCH_E2E)) {
		T_CHECK(0, "the fixture could not be set up");
		teardown(&x);
		return;
	}
	struct bench_row *rows = x.rows;
	int k = bench_rows_fill(rows, &x.base, &x.o, x.meas, 256);
	T_CHECK(k == 7, "%d rows, expected fullkv x 3 phases + kvzip x 4", k);
	int n_recon = 0;
	for (int i = 0; i < k; i++)
		if (!strcmp(rows[i].phase, "recon")) {
			n_recon++;
			T_CHECK(!strcmp(rows[i].method, "kvzip"), "a recon row for %s", rows[i].method);
			T_CHECK(rows[i].st.median == 4.5 && rows[i].st.min == 4.0 && rows[i].st.max == 5.0,
				"recon median %g [%g, %g], expected 4.5 [4, 5]", rows[i].st.median, rows[i].st.min, rows[i].st.max);
			T_CHECK(rows[i].samples == x.meas[1].recon_ms, "the recon row's samples are kvzip's recon_ms");
		}
	T_CHECK(n_recon == 1, "%d recon rows, expected 1", n_recon);
	/* the roofline: no recon row, and kvzip's rows on kvzip's work (not fullkv's) */
	struct bench_machine mc = { .read_gbs = 10, .gemm_gflops = 100 };
	struct bench_roof roof[2 * BENCH_MAX_PHASES];
	x.o.machine = &mc;
	int w = bench_roof_fill(roof, rows, k, &x.o, x.meas);
	T_CHECK(w == 6, "%d roofline rows, expected 6 (no recon)", w);
	for (int i = 0; i < w; i++) {
		T_CHECK(strcmp(roof[i].phase, "recon") != 0, "a recon roofline row");
		bool z = strstr(roof[i].label, "kvzip") != NULL;
		if (!strcmp(roof[i].phase, "prefill"))
			T_CHECK(roof[i].flops == (z ? 2e9 : 1e9), "%s prefill flops %g", roof[i].label, roof[i].flops);
		if (!strcmp(roof[i].phase, "decode"))
			T_CHECK(roof[i].bytes == (z ? 2e6 : 1e6), "%s decode bytes %g", roof[i].label, roof[i].bytes);
	}
	printf("  %d rows (1 recon: kvzip 4.5 ms [4, 5]), %d roofline rows\n", k, w);
	teardown(&x);
}

/* Prints rows[0..k) with bench_table_print into buf. */
static void print_rows(const struct bench_row *rows, int k, char *buf, size_t len)
{
	FILE *f = fmemopen(buf, len, "w");
	if (!f) {
		buf[0] = 0;
		return;
	}
	bench_table_print(f, rows, k);
	fclose(f);
}

static void tables_should_gain_a_recon_column_only_with_a_recon_row(void)
{
	static struct fixture x;
	static char out[8192];
	if (setup(&x, BENCH_PREFILL)) {
		T_CHECK(0, "the fixture could not be set up");
		teardown(&x);
		return;
	}
	int k = bench_rows_fill(x.rows, &x.base, &x.o, x.meas, 256);
	T_CHECK(k == 3, "%d rows, expected fullkv and kvzip prefill + kvzip recon", k);
	print_rows(x.rows, k, out, sizeof(out));
	T_CHECK(strstr(out, "| method | N | prefill ms | vs fullkv | recon ms | KV MiB |\n|---|---:|---|---:|---|---:|\n") != NULL,
		"no recon column in:\n%s", out);
	T_CHECK(strstr(out, "| kvzip | 256 | 20.50 [20.00, 21.00] | 0.51x | 4.50 [4.00, 5.00] | 2.00 |\n") != NULL,
		"kvzip's row lacks its recon time:\n%s", out);
	T_CHECK(strstr(out, "| fullkv | 256 | 10.50 [10.00, 11.00] | 1.00x | - | 4.00 |\n") != NULL,
		"fullkv's recon cell is not '-':\n%s", out);
	/* without kvzip: the table as before */
	print_rows(x.rows, 1, out, sizeof(out));
	T_CHECK(strstr(out, "| method | N | prefill ms | vs fullkv | KV MiB |\n|---|---:|---|---:|---:|\n") != NULL &&
			!strstr(out, "recon"),
		"a table without recon rows changed:\n%s", out);
	teardown(&x);
}

int main(void)
{
	T_RUN(rows_should_add_a_recon_row_for_the_method_with_a_step_only);
	T_RUN(tables_should_gain_a_recon_column_only_with_a_recon_row);
	return t_done();
}
