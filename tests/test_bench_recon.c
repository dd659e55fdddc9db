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

/* fullkv (no step) and kvzip parsed as --methods gives them, with e2e options over 2 runs. */
static int methods(struct kv_args *shared, struct kv_method_entry **b, int *nm, struct bench_opts *o)
{
	char err[512], spec[] = "fullkv,kvzip";
	memset(shared, 0, sizeof(*shared));
	if (kv_method_list_parse(kv_methods, "--methods", spec, shared, b, nm, err, sizeof(err))) {
		fprintf(stderr, "  %s\n", err);
		return -1;
	}
	*o = (struct bench_opts){ .kind = BENCH_E2E, .methods = *b, .n_methods = *nm, .genlen = 3, .runs = 2 };
	return 0;
}

/* Made-up measurements: method i's prefill 10 (i + 1) ms, of which kvzip's recon 4 ms. */
static void fill(struct bench_meas *meas, int nm)
{
	for (int i = 0; i < nm; i++)
		for (int k = 0; k < 2; k++) {
			meas[i].prefill_ms[k] = 10.0 * (i + 1) + k;
			if (meas[i].decode_ms) { /* e2e only */
				meas[i].decode_ms[k] = 1.0 + k;
				meas[i].e2e_ms[k] = 20.0 * (i + 1) + k;
			}
			meas[i].recon_ms[k] = i == 1 ? 4.0 + k : 0.0;
			meas[i].recon = i == 1;
			meas[i].prefill_flops = 1e9 * (i + 1);
			meas[i].decode_bytes = 1e6 * (i + 1);
			meas[i].kv_bytes = 1048576LL * (4 - 2 * i);
		}
}

static void rows_should_add_a_recon_row_for_the_method_with_a_step_only(void)
{
	struct kv_args shared;
	struct kv_method_entry *b = NULL;
	struct bench_opts o;
	int nm = 0;
	if (methods(&shared, &b, &nm, &o)) {
		T_CHECK(0, "--methods fullkv,kvzip did not parse");
		return;
	}
	struct bench_meas meas[2];
	struct bench_row base, rows[2 * BENCH_MAX_PHASES];
	char err[256];
	memset(&base, 0, sizeof(base));
	T_CHECK(bench_meas_alloc(meas, nm, &o, err, sizeof(err)) == 0, "%s", err);
	fill(meas, nm);
	int k = bench_rows_fill(rows, &base, &o, meas, 256);
	T_CHECK(k == 7, "%d rows, expected fullkv x 3 phases + kvzip x 4", k);
	int n_recon = 0;
	for (int i = 0; i < k; i++)
		if (!strcmp(rows[i].phase, "recon")) {
			n_recon++;
			T_CHECK(!strcmp(rows[i].method, "kvzip"), "a recon row for %s", rows[i].method);
			T_CHECK(rows[i].st.median == 4.5 && rows[i].st.min == 4.0 && rows[i].st.max == 5.0,
				"recon median %g [%g, %g], expected 4.5 [4, 5]", rows[i].st.median, rows[i].st.min, rows[i].st.max);
			T_CHECK(rows[i].samples == meas[1].recon_ms, "the recon row's samples are kvzip's recon_ms");
		}
	T_CHECK(n_recon == 1, "%d recon rows, expected 1", n_recon);
	/* the roofline: no recon row, and kvzip's rows on kvzip's work (not fullkv's) */
	struct bench_machine mc = { .read_gbs = 10, .gemm_gflops = 100 };
	struct bench_roof roof[2 * BENCH_MAX_PHASES];
	o.machine = &mc;
	int w = bench_roof_fill(roof, rows, k, &o, meas);
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
	bench_meas_free(meas, nm);
	kv_method_list_free(b, nm);
	kv_args_free(&shared);
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
	struct kv_args shared;
	struct kv_method_entry *b = NULL;
	struct bench_opts o;
	int nm = 0;
	if (methods(&shared, &b, &nm, &o)) {
		T_CHECK(0, "--methods fullkv,kvzip did not parse");
		return;
	}
	o.kind = BENCH_PREFILL;
	struct bench_meas meas[2];
	struct bench_row base, rows[2 * BENCH_MAX_PHASES];
	char err[256];
	static char out[8192];
	memset(&base, 0, sizeof(base));
	snprintf(base.bench, sizeof(base.bench), "prefill");
	T_CHECK(bench_meas_alloc(meas, nm, &o, err, sizeof(err)) == 0, "%s", err);
	fill(meas, nm);
	int k = bench_rows_fill(rows, &base, &o, meas, 256);
	T_CHECK(k == 3, "%d rows, expected fullkv and kvzip prefill + kvzip recon", k);
	print_rows(rows, k, out, sizeof(out));
	T_CHECK(strstr(out, "| method | N | prefill ms | vs fullkv | recon ms | KV MiB |\n|---|---:|---|---:|---|---:|\n") != NULL,
		"no recon column in:\n%s", out);
	T_CHECK(strstr(out, "| kvzip | 256 | 20.50 [20.00, 21.00] | 0.51x | 4.50 [4.00, 5.00] | 2.00 |\n") != NULL,
		"kvzip's row lacks its recon time:\n%s", out);
	T_CHECK(strstr(out, "| fullkv | 256 | 10.50 [10.00, 11.00] | 1.00x | - | 4.00 |\n") != NULL,
		"fullkv's recon cell is not '-':\n%s", out);
	/* without kvzip: the table as before */
	print_rows(rows, 1, out, sizeof(out));
	T_CHECK(strstr(out, "| method | N | prefill ms | vs fullkv | KV MiB |\n|---|---:|---|---:|---:|\n") != NULL &&
			!strstr(out, "recon"),
		"a table without recon rows changed:\n%s", out);
	bench_meas_free(meas, nm);
	kv_method_list_free(b, nm);
	kv_args_free(&shared);
}

int main(void)
{
	T_RUN(rows_should_add_a_recon_row_for_the_method_with_a_step_only);
	T_RUN(tables_should_gain_a_recon_column_only_with_a_recon_row);
	return t_done();
}
