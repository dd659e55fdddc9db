/* The bench_roofline table: see bench_roofline.h. */
#include "results/bench_roofline.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"   // kv_errf
#include "base/grow.h"     // kv_grow
#include "results/store.h" // struct store, store_err, store_query
#include "results/table_fmt.h" // table_list_add, table_col_add, table_set

static const char *const roof_table =
	"bench_roofline ("
	"  invocation TEXT NOT NULL, label TEXT NOT NULL, n_ctx INTEGER NOT NULL, phase TEXT NOT NULL, kv_dtype TEXT NOT NULL,"
	"  bytes REAL NOT NULL, flops REAL NOT NULL, read_gbs REAL NOT NULL, gemm_gflops REAL NOT NULL,"
	"  bound_ms REAL NOT NULL, median_ms REAL NOT NULL, achieved REAL NOT NULL,"
	"  PRIMARY KEY (invocation, label, n_ctx, phase))";

#define ROOF_COLS \
	"invocation, label, n_ctx, phase, kv_dtype, bytes, flops, read_gbs, gemm_gflops, bound_ms, median_ms, achieved"

int bench_roofline_schema(struct store *s, char *err, size_t errlen)
{
	return store_table_ensure(s, "bench_roofline", roof_table, err, errlen);
}

int bench_roofline_put(struct store *s, const struct bench_roof *rows, int n, char *err, size_t errlen)
{
	sqlite3_stmt *q = NULL;
	int rc;
	if ((rc = bench_roofline_schema(s, err, errlen)))
		return rc;
	if ((rc = store_insert_begin(s, "INSERT INTO bench_roofline (" ROOF_COLS ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", &q,
				     "preparing a roofline row", err, errlen)))
		return rc;
	for (int i = 0; i < n && !rc; i++) {
		const struct bench_roof *r = &rows[i];
		sqlite3_reset(q);
		sqlite3_bind_text(q, 1, r->invocation, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(q, 2, r->label, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(q, 3, r->n_ctx);
		sqlite3_bind_text(q, 4, r->phase, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(q, 5, r->kv_dtype, -1, SQLITE_TRANSIENT);
		const double v[] = { r->bytes, r->flops, r->read_gbs, r->gemm_gflops, r->bound_ms, r->median_ms, r->achieved };
		for (int k = 0; k < 7; k++)
			sqlite3_bind_double(q, 6 + k, v[k]);
		if (sqlite3_step(q) != SQLITE_DONE) {
			char what[256];
			snprintf(what, sizeof(what), "writing the %s roofline row of %s at N=%d", r->phase, r->label, r->n_ctx);
			rc = store_err(s, what, err, errlen);
		}
	}
	return store_insert_end(s, q, rc, "committing roofline rows", err, errlen);
}

/* One bench_roofline row (ROOF_COLS) into row (a zeroed struct bench_roof). */
static void read_roof(sqlite3_stmt *q, void *row)
{
	struct bench_roof *r = row;
	const char *t[] = { (const char *)sqlite3_column_text(q, 0), (const char *)sqlite3_column_text(q, 1),
			    (const char *)sqlite3_column_text(q, 3), (const char *)sqlite3_column_text(q, 4) };
	snprintf(r->invocation, sizeof(r->invocation), "%s", t[0] ? t[0] : "");
	snprintf(r->label, sizeof(r->label), "%s", t[1] ? t[1] : "");
	r->n_ctx = sqlite3_column_int(q, 2);
	snprintf(r->phase, sizeof(r->phase), "%s", t[2] ? t[2] : "");
	snprintf(r->kv_dtype, sizeof(r->kv_dtype), "%s", t[3] ? t[3] : "");
	double *d[] = { &r->bytes, &r->flops, &r->read_gbs, &r->gemm_gflops, &r->bound_ms, &r->median_ms, &r->achieved };
	for (int c = 0; c < 7; c++)
		*d[c] = sqlite3_column_double(q, 5 + c);
}

int bench_roofline_load(struct store *s, const char *invocation, struct bench_roof **rows, int *n, char *err, size_t errlen)
{
	sqlite3_stmt *q = NULL;
	int rc;
	if ((rc = bench_roofline_schema(s, err, errlen)) ||
	    (rc = store_query(s, "SELECT " ROOF_COLS " FROM bench_roofline WHERE invocation = ?1 ORDER BY rowid", invocation,
			      NULL, &q, "reading roofline rows", err, errlen)))
		return rc;
	return store_read_rows(s, q, sizeof(**rows), read_roof, (void **)rows, n, "roofline rows", err, errlen);
}

/* The work column: FLOPs, bytes per decode step, or both (e2e). */
static void work_text(const struct bench_roof *r, char *buf, size_t n)
{
	if (r->bytes > 0 && r->flops > 0)
		snprintf(buf, n, "%.3g GFLOP + %.1f MB", r->flops / 1e9, r->bytes / 1e6);
	else if (r->bytes > 0)
		snprintf(buf, n, "%.1f MB/token", r->bytes / 1e6);
	else
		snprintf(buf, n, "%.3g GFLOP", r->flops / 1e9);
}

/* fullkv's bound over row i's (same length and phase): the speedup the work alone allows,
 * which the measured speedup over fullkv can be read against; 0 when fullkv has no row. */
static double bound_x_fullkv(const struct bench_roof *rows, int n, int i)
{
	for (int j = 0; j < n; j++)
		if (!strcmp(rows[j].label, "fullkv") && rows[j].n_ctx == rows[i].n_ctx && !strcmp(rows[j].phase, rows[i].phase))
			return rows[i].bound_ms > 0 ? rows[j].bound_ms / rows[i].bound_ms : 0;
	return 0;
}

int bench_roofline_report(struct store *s, const char *invocation, struct table_list *l, char *err, size_t errlen)
{
	struct bench_roof *rows = NULL;
	int n = 0, rc;
	if ((rc = bench_roofline_load(s, invocation, &rows, &n, err, errlen)))
		return rc;
	struct table *t = NULL;
	const char *cols[] = { "phase", "N", "method", "kv", "work", "bound_ms", "median_ms", "achieved_pct", "bound_x_fullkv" };
	rc = n > 0 && table_list_add(l, &t, "roofline, invocation %s (read %.1f GB/s, GEMM %.1f GFLOP/s, measured by the invocation)",
				     invocation, rows[0].read_gbs, rows[0].gemm_gflops);
	for (int c = 0; n > 0 && !rc && c < 9; c++)
		rc = table_col_add(t, cols[c], c == 1 || c >= 5) < 0;
	for (int i = 0; i < n && !rc; i++) {
		const struct bench_roof *r = &rows[i];
		char work[64];
		work_text(r, work, sizeof(work));
		int row = table_row_add(t);
		rc = row < 0 || table_set(t, row, 0, "%s", r->phase) || table_set(t, row, 1, "%d", r->n_ctx) ||
		     table_set(t, row, 2, "%s", r->label) || table_set(t, row, 3, "%s", r->kv_dtype) ||
		     table_set(t, row, 4, "%s", work) || table_set_num(t, row, 5, r->bound_ms, 3) ||
		     table_set_num(t, row, 6, r->median_ms, 3) || table_set_num(t, row, 7, 100.0 * r->achieved, 1);
		double x = bound_x_fullkv(rows, n, i);
		rc = rc || (x > 0 && table_set_num(t, row, 8, x, 2));
	}
	free(rows);
	return rc ? kv_errf(err, errlen, KV_ENOMEM, "out of memory building the roofline table") : 0;
}

void bench_roofline_print(FILE *out, const struct bench_roof *rows, int n)
{
	if (n <= 0)
		return;
	fprintf(out, "\nroofline (read %.1f GB/s, fp32 GEMM %.1f GFLOP/s, measured now):\n", rows[0].read_gbs,
		rows[0].gemm_gflops);
	fprintf(out, "| phase | N | method | KV | work | bound ms | median ms | achieved | bound x fullkv |\n"
		     "|---|---|---|---|---|---|---|---|---|\n");
	for (int i = 0; i < n; i++) {
		const struct bench_roof *r = &rows[i];
		char work[64], x[16] = "-";
		work_text(r, work, sizeof(work));
		double bx = bound_x_fullkv(rows, n, i);
		if (bx > 0)
			snprintf(x, sizeof(x), "%.2fx", bx);
		fprintf(out, "| %s | %d | %s | %s | %s | %.3f | %.3f | %.0f%% | %s |\n", r->phase, r->n_ctx, r->label, r->kv_dtype,
			work, r->bound_ms, r->median_ms, 100.0 * r->achieved, x);
	}
}
