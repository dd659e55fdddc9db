/* Run reports: see report.h. */
#include "results/report.h"

#include <sqlite3.h>
#include <string.h>

#include "base/errors.h"
#include "results/store.h"

/* method_json without its leading {"method":"x", part, for a compact column. */
static const char *params_of(const char *mj)
{
	const char *p = mj ? strchr(mj, ',') : NULL;
	return p ? p + 1 : "";
}

int report_runs(struct store *s, FILE *out, const char *task_prefix, char *err, size_t errlen)
{
	sqlite3_stmt *q = NULL, *m = NULL;
	int rc = 0, n_runs = 0;
	const char *sql =
		"SELECT r.run_id, r.task, r.method, r.method_json, r.model_path, r.created_at,"
		" COUNT(s.sample_id), AVG(s.prefill_s), AVG(s.kv_bytes), AVG(s.n_prompt)"
		" FROM runs r LEFT JOIN samples s ON s.run_id = r.run_id"
		" WHERE r.kind = 'eval' AND (?1 IS NULL OR r.task LIKE ?1 || '%')"
		" GROUP BY r.run_id ORDER BY r.task, r.created_at, r.method";
	if ((rc = store_query(s, sql, task_prefix, NULL, &q, "reading runs", err, errlen)) ||
	    (rc = store_query(s, "SELECT metric, AVG(value), COUNT(*) FROM scores WHERE run_id = ? GROUP BY metric ORDER BY metric",
			      NULL, NULL, &m, "reading runs", err, errlen)))
		goto out;
	fprintf(out, "%-12s  %-14s  %-13s  %7s  %8s  %9s  %8s  %s\n", "run", "task", "method", "samples", "avg_len",
		"prefill_s", "kv_MiB", "scores (mean) | parameters | model");
	while (sqlite3_step(q) == SQLITE_ROW) {
		const char *run = (const char *)sqlite3_column_text(q, 0);
		const char *model = (const char *)sqlite3_column_text(q, 4);
		const char *base = model ? strrchr(model, '/') : NULL;
		fprintf(out, "%-12.12s  %-14s  %-13s  %7d  %8.0f  %9.3f  %8.2f  ", run, sqlite3_column_text(q, 1),
			sqlite3_column_text(q, 2), sqlite3_column_int(q, 6), sqlite3_column_double(q, 9),
			sqlite3_column_double(q, 7), sqlite3_column_double(q, 8) / 1048576.0);
		sqlite3_reset(m);
		sqlite3_bind_text(m, 1, run, -1, SQLITE_TRANSIENT);
		int k = 0;
		while (sqlite3_step(m) == SQLITE_ROW)
			fprintf(out, "%s%s=%.4f", k++ ? " " : "", sqlite3_column_text(m, 0), sqlite3_column_double(m, 1));
		fprintf(out, " | %s | %s\n", params_of((const char *)sqlite3_column_text(q, 3)), base ? base + 1 : model);
		n_runs++;
	}
	if (n_runs == 0)
		fprintf(out, "(no evaluation runs%s%s)\n", task_prefix ? " for task " : "", task_prefix ? task_prefix : "");
out:
	sqlite3_finalize(q);
	sqlite3_finalize(m);
	return rc;
}

int report_selection(struct store *s, FILE *out, const char *task_prefix, char *err, size_t errlen)
{
	sqlite3_stmt *q = NULL;
	int rc, n = 0;
	const char *sql =
		"SELECT r.method, t.cut, COUNT(DISTINCT r.run_id), COUNT(*), SUM(t.n_cuts), SUM(t.n_inside), SUM(t.sum_tied)"
		" FROM sample_ties t JOIN runs r ON r.run_id = t.run_id"
		" WHERE r.kind = 'eval' AND (?1 IS NULL OR r.task LIKE ?1 || '%')"
		" GROUP BY r.method, t.cut ORDER BY r.method, t.cut";
	if ((rc = store_query(s, sql, task_prefix, NULL, &q, "reading tie counts", err, errlen)))
		return rc;
	fprintf(out, "%-13s  %-10s  %4s  %7s  %9s  %9s  %6s  %s\n", "method", "cut", "runs", "samples", "cuts", "in_tie",
		"in_%", "mean_n_tied");
	while (sqlite3_step(q) == SQLITE_ROW) {
		sqlite3_int64 cuts = sqlite3_column_int64(q, 4), inside = sqlite3_column_int64(q, 5);
		fprintf(out, "%-13s  %-10s  %4d  %7d  %9lld  %9lld  %6.2f  %.3f\n", sqlite3_column_text(q, 0),
			sqlite3_column_text(q, 1), sqlite3_column_int(q, 2), sqlite3_column_int(q, 3), (long long)cuts,
			(long long)inside, cuts ? 100.0 * (double)inside / (double)cuts : 0.0,
			cuts ? (double)sqlite3_column_int64(q, 6) / (double)cuts : 0.0);
		n++;
	}
	if (n == 0)
		fprintf(out, "(no tie counts%s%s: runs record them from this version on, for methods with top-k cuts)\n",
			task_prefix ? " for task " : "", task_prefix ? task_prefix : "");
	sqlite3_finalize(q);
	return 0;
}
