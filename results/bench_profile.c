/* The bench_profile table: see bench_profile.h. */
#include "results/bench_profile.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"       // kv_errf
#include "results/store.h"     // struct store, store_err, store_query
#include "results/table_fmt.h" // table_list_add, table_col_add, table_set

static const char *const prof_table =
	"bench_profile ("
	"  invocation TEXT NOT NULL, label TEXT NOT NULL, n_ctx INTEGER NOT NULL, op TEXT NOT NULL, steps INTEGER NOT NULL,"
	"  calls REAL NOT NULL, ms REAL NOT NULL, share REAL NOT NULL, bytes REAL NOT NULL, read_gbs REAL NOT NULL,"
	"  PRIMARY KEY (invocation, label, n_ctx, op))";

#define PROF_COLS "invocation, label, n_ctx, op, steps, calls, ms, share, bytes, read_gbs"

int bench_profile_schema(struct store *s, char *err, size_t errlen)
{
	return store_table_ensure(s, "bench_profile", prof_table, err, errlen);
}

int bench_profile_put(struct store *s, const struct bench_prof *rows, int n, char *err, size_t errlen)
{
	sqlite3_stmt *q = NULL;
	int rc;
	if ((rc = bench_profile_schema(s, err, errlen)))
		return rc;
	if ((rc = store_insert_begin(s, "INSERT INTO bench_profile (" PROF_COLS ") VALUES (?,?,?,?,?,?,?,?,?,?)", &q,
				     "preparing a profile row", err, errlen)))
		return rc;
	for (int i = 0; i < n && !rc; i++) {
		const struct bench_prof *r = &rows[i];
		sqlite3_reset(q);
		sqlite3_bind_text(q, 1, r->invocation, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(q, 2, r->label, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(q, 3, r->n_ctx);
		sqlite3_bind_text(q, 4, r->op, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(q, 5, r->steps);
		const double v[] = { r->calls, r->ms, r->share, r->bytes, r->read_gbs };
		for (int k = 0; k < 5; k++)
			sqlite3_bind_double(q, 6 + k, v[k]);
		if (sqlite3_step(q) != SQLITE_DONE) {
			char what[256];
			snprintf(what, sizeof(what), "writing the %s profile row of %s at N=%d", r->op, r->label, r->n_ctx);
			rc = store_err(s, what, err, errlen);
		}
	}
	return store_insert_end(s, q, rc, "committing profile rows", err, errlen);
}

/* One bench_profile row (PROF_COLS) into row (a zeroed struct bench_prof). */
static void read_prof(sqlite3_stmt *q, void *row)
{
	struct bench_prof *r = row;
	const char *t[] = { (const char *)sqlite3_column_text(q, 0), (const char *)sqlite3_column_text(q, 1),
			    (const char *)sqlite3_column_text(q, 3) };
	snprintf(r->invocation, sizeof(r->invocation), "%s", t[0] ? t[0] : "");
	snprintf(r->label, sizeof(r->label), "%s", t[1] ? t[1] : "");
	r->n_ctx = sqlite3_column_int(q, 2);
	snprintf(r->op, sizeof(r->op), "%s", t[2] ? t[2] : "");
	r->steps = sqlite3_column_int64(q, 4);
	double *d[] = { &r->calls, &r->ms, &r->share, &r->bytes, &r->read_gbs };
	for (int c = 0; c < 5; c++)
		*d[c] = sqlite3_column_double(q, 5 + c);
}

int bench_profile_load(struct store *s, const char *invocation, struct bench_prof **rows, int *n, char *err, size_t errlen)
{
	sqlite3_stmt *q = NULL;
	int rc;
	if ((rc = bench_profile_schema(s, err, errlen)) ||
	    (rc = store_query(s, "SELECT " PROF_COLS " FROM bench_profile WHERE invocation = ?1 ORDER BY rowid", invocation,
			      NULL, &q, "reading profile rows", err, errlen)))
		return rc;
	return store_read_rows(s, q, sizeof(**rows), read_prof, (void **)rows, n, "profile rows", err, errlen);
}

/* GB/s of r (0 when its bytes are not counted). */
static double gbs(const struct bench_prof *r)
{
	return r->bytes > 0 && r->ms > 0 ? r->bytes / r->ms / 1e6 : 0.0;
}

int bench_profile_report(struct store *s, const char *invocation, struct table_list *l, char *err, size_t errlen)
{
	struct bench_prof *rows = NULL;
	int n = 0, rc;
	if ((rc = bench_profile_load(s, invocation, &rows, &n, err, errlen)))
		return rc;
	struct table *t = NULL;
	const char *cols[] = { "method", "N", "op", "calls_per_step", "ms_per_step", "share_pct", "MB_per_step", "GB_s", "of_read_pct" };
	rc = n > 0 && table_list_add(l, &t, "decode op by op, invocation %s (--profile; read %.1f GB/s, measured by the invocation)",
				     invocation, rows[0].read_gbs);
	for (int c = 0; n > 0 && !rc && c < 9; c++)
		rc = table_col_add(t, cols[c], c == 1 || c >= 3) < 0;
	for (int i = 0; i < n && !rc; i++) {
		const struct bench_prof *r = &rows[i];
		int row = table_row_add(t);
		rc = row < 0 || table_set(t, row, 0, "%s", r->label) || table_set(t, row, 1, "%d", r->n_ctx) ||
		     table_set(t, row, 2, "%s", r->op) || (r->calls > 0 && table_set_num(t, row, 3, r->calls, 1)) ||
		     table_set_num(t, row, 4, r->ms, 3) || table_set_num(t, row, 5, 100.0 * r->share, 1);
		double g = gbs(r);
		rc = rc || (g > 0 && (table_set_num(t, row, 6, r->bytes / 1e6, 1) || table_set_num(t, row, 7, g, 2) ||
				      (r->read_gbs > 0 && table_set_num(t, row, 8, 100.0 * g / r->read_gbs, 1))));
	}
	free(rows);
	return rc ? kv_errf(err, errlen, KV_ENOMEM, "out of memory building the profile table") : 0;
}

void bench_profile_print(FILE *out, const struct bench_prof *rows, int n)
{
	if (n <= 0)
		return;
	fprintf(out, "\ndecode op by op (--profile; read %.1f GB/s, measured now; per decode step of the timed runs):\n",
		rows[0].read_gbs);
	fprintf(out, "| method | N | op | calls | ms | share | MB | GB/s | of read |\n|---|---:|---|---:|---:|---:|---:|---:|---:|\n");
	for (int i = 0; i < n; i++) {
		const struct bench_prof *r = &rows[i];
		char calls[32] = "-", mb[32] = "-", g[32] = "-", of[32] = "-";
		double v = gbs(r);
		if (r->calls > 0)
			snprintf(calls, sizeof(calls), "%.1f", r->calls);
		if (v > 0) {
			snprintf(mb, sizeof(mb), "%.1f", r->bytes / 1e6);
			snprintf(g, sizeof(g), "%.2f", v);
			if (r->read_gbs > 0)
				snprintf(of, sizeof(of), "%.0f%%", 100.0 * v / r->read_gbs);
		}
		fprintf(out, "| %s | %d | %s | %s | %.3f | %.0f%% | %s | %s | %s |\n", r->label, r->n_ctx, r->op, calls, r->ms,
			100.0 * r->share, mb, g, of);
	}
}
