/* Merging results databases: see merge.h. Each input is attached to a copy of the output
 * in turn; its rows are first checked against what the copy holds (a clash stops the
 * merge), then inserted with INSERT OR IGNORE, one transaction per input; the copy
 * replaces the output only after the last input. */
#include "results/merge.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/errors.h"
#include "results/bench_profile.h" // bench_profile_schema
#include "results/bench_roofline.h" // bench_roofline_schema
#include "results/bench_store.h" // bench_store_schema
#include "results/store.h"

/* Every table of a results database: its key, and the columns two rows with one key must
 * agree on (NULL: none, a cache). */
static const struct {
	const char *name, *key, *content;
} tables[MERGE_N_TABLES] = {
	{ "runs", "run_id", "config_json" },
	{ "samples", "run_id,sample_id", "idx,n_prompt,prediction,answers_json,meta_json,n_generated,kv_bytes" },
	{ "scores", "run_id,sample_id,metric", "value" },
	{ "sample_records", "run_id,sample_id", "record_json" },
	{ "sample_ties", "run_id,sample_id,cut", "n_cuts,n_inside,sum_tied" },
	{ "file_hashes", "path,size,mtime_ns", NULL },
	{ "sweeps", "sweep_id", "spec_json,grid_json" },
	{ "sweep_runs", "sweep_id,run_id", "point_json" },
	{ "bench_latency", "invocation,label,n_ctx,phase", "samples_ms,kv_bytes,median_ms" },
	{ "sample_layers", "run_id,sample_id,kind,layer", "heads,n_alive,kept,span_len,span_kept" },
	{ "sample_spans", "run_id,sample_id,kind", "span_start,span_end" },
	{ "bench_roofline", "invocation,label,n_ctx,phase", "bytes,flops,read_gbs,gemm_gflops,bound_ms,median_ms,achieved" },
	{ "bench_profile", "invocation,label,n_ctx,op", "steps,calls,ms,share,bytes,read_gbs" },
};

/* Writes "s.a = m.a AND s.b = m.b" (sep " AND ", op "=") or "s.a IS NOT m.a OR ..." for the
 * comma-separated columns cols into buf. */
static void cols_expr(const char *cols, const char *op, const char *sep, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = 0;
	for (const char *p = cols; *p && o < len;) {
		size_t n = strcspn(p, ",");
		o += (size_t)snprintf(buf + o, len - o, "%ss.%.*s %s m.%.*s", o ? sep : "", (int)n, p, op, (int)n, p);
		p += n + (p[n] == ',');
	}
}

/* Writes "s.a || ', ' || s.b" for the key columns into buf. */
static void key_text(const char *cols, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = 0;
	for (const char *p = cols; *p && o < len;) {
		size_t n = strcspn(p, ",");
		o += (size_t)snprintf(buf + o, len - o, "%sCAST(s.%.*s AS TEXT)", o ? " || ', ' || " : "", (int)n, p);
		p += n + (p[n] == ',');
	}
}

/* Runs sql (one row, one text column wanted); *found and the text into buf when a row comes. */
static int first_row(struct store *s, const char *sql, bool *found, char *buf, size_t len, const char *what, char *err,
		     size_t errlen)
{
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL))
		return store_err(s, what, err, errlen);
	int st = sqlite3_step(q);
	*found = st == SQLITE_ROW;
	if (*found)
		snprintf(buf, len, "%s", sqlite3_column_text(q, 0) ? (const char *)sqlite3_column_text(q, 0) : "");
	sqlite3_finalize(q);
	if (st != SQLITE_ROW && st != SQLITE_DONE)
		return store_err(s, what, err, errlen);
	return 0;
}

static bool src_has(struct store *s, const char *table)
{
	char sql[256], buf[8];
	bool found = false;
	char err[8];
	snprintf(sql, sizeof(sql), "SELECT 'y' FROM src.sqlite_master WHERE type = 'table' AND name = '%s'", table);
	return first_row(s, sql, &found, buf, sizeof(buf), "", err, sizeof(err)) == 0 && found;
}

/* The output's columns of table that the attached input also has (an input made before a
 * column was added leaves it NULL), without bench_latency's own id, as "a,b,c". */
static int columns(struct store *s, const char *table, char *buf, size_t len, char *err, size_t errlen)
{
	sqlite3_stmt *q = NULL;
	char sql[256];
	size_t o = 0;
	snprintf(sql, sizeof(sql),
		 "SELECT cid, name FROM pragma_table_info('%s', 'main')"
		 " WHERE name IN (SELECT name FROM pragma_table_info('%s', 'src')) ORDER BY cid",
		 table, table);
	if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL))
		return store_err(s, "reading the schema", err, errlen);
	buf[0] = 0;
	while (sqlite3_step(q) == SQLITE_ROW) {
		const char *c = (const char *)sqlite3_column_text(q, 1);
		if (!strcmp(table, "bench_latency") && !strcmp(c, "id"))
			continue;
		o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s%s", o ? "," : "", c);
	}
	sqlite3_finalize(q);
	return o < len ? 0 : kv_errf(err, errlen, KV_EINTERNAL, "%s: too many columns", table);
}

/* Checks the attached input's rows of table t against the output's: one key, one content. */
static int check_table(struct store *s, int t, const char *src, char *err, size_t errlen)
{
	char sql[2048], on[512], diff[1024], key[512], row[1024];
	bool found;
	int rc;
	if (!tables[t].content)
		return 0;
	cols_expr(tables[t].key, "=", " AND ", on, sizeof(on));
	cols_expr(tables[t].content, "IS NOT", " OR ", diff, sizeof(diff));
	key_text(tables[t].key, key, sizeof(key));
	snprintf(sql, sizeof(sql), "SELECT %s FROM src.%s s JOIN main.%s m ON %s WHERE %s LIMIT 1", key, tables[t].name,
		 tables[t].name, on, diff);
	if ((rc = first_row(s, sql, &found, row, sizeof(row), "comparing rows", err, errlen)))
		return rc;
	if (found)
		return kv_errf(err, errlen, KV_EINVAL,
			       "%s: %s row (%s) = (%s) differs from the row already merged (in %s); nothing was merged",
			       src, tables[t].name, tables[t].key, row, tables[t].content);
	if (strcmp(tables[t].name, "scores") != 0)
		return 0;
	/* a sample both hold must have the same metrics */
	const char *both[2][2] = { { "src", "main" }, { "main", "src" } };
	for (int d = 0; d < 2; d++) {
		snprintf(sql, sizeof(sql),
			 "SELECT s.run_id || ', ' || s.sample_id || ', ' || s.metric FROM %s.scores s WHERE EXISTS (SELECT 1 FROM"
			 " %s.samples m WHERE m.run_id = s.run_id AND m.sample_id = s.sample_id) AND NOT EXISTS (SELECT 1 FROM"
			 " %s.scores m WHERE m.run_id = s.run_id AND m.sample_id = s.sample_id AND m.metric = s.metric) LIMIT 1",
			 both[d][0], both[d][1], both[d][1]);
		if ((rc = first_row(s, sql, &found, row, sizeof(row), "comparing scores", err, errlen)))
			return rc;
		if (found)
			return kv_errf(err, errlen, KV_EINVAL,
				       "%s: scores (run_id,sample_id,metric) = (%s): the sample is scored with other metrics in %s; nothing was merged",
				       src, row, d ? "this input" : "what was merged before");
	}
	return 0;
}

/* Inserts the attached input's rows of table t the output lacks. */
static int copy_table(struct store *s, int t, struct merge_stats *st, char *err, size_t errlen)
{
	char sql[4096], cols[1536], on[512], n[32];
	bool found;
	int rc;
	if ((rc = columns(s, tables[t].name, cols, sizeof(cols), err, errlen)))
		return rc;
	cols_expr(tables[t].key, "=", " AND ", on, sizeof(on));
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM src.%s s WHERE EXISTS (SELECT 1 FROM main.%s m WHERE %s)",
		 tables[t].name, tables[t].name, on);
	if ((rc = first_row(s, sql, &found, n, sizeof(n), "counting rows", err, errlen)))
		return rc;
	st->present[t] += atol(n);
	snprintf(sql, sizeof(sql), "INSERT OR IGNORE INTO main.%s (%s) SELECT %s FROM src.%s", tables[t].name, cols, cols,
		 tables[t].name);
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return store_err(s, "copying rows", err, errlen);
	st->added[t] += sqlite3_changes(s->db);
	return 0;
}

/* Merges one input (path) into the open output copy s. */
static int merge_one(struct store *s, const char *path, struct merge_stats *st, char *err, size_t errlen)
{
	sqlite3_stmt *q = NULL;
	int rc = 0;
	if (sqlite3_prepare_v2(s->db, "ATTACH DATABASE ?1 AS src", -1, &q, NULL) ||
	    sqlite3_bind_text(q, 1, path, -1, SQLITE_TRANSIENT) || sqlite3_step(q) != SQLITE_DONE) {
		rc = kv_errf(err, errlen, KV_EIO, "%s: cannot attach (%s)", path, sqlite3_errmsg(s->db));
		sqlite3_finalize(q);
		return rc;
	}
	sqlite3_finalize(q);
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		rc = store_err(s, "starting the merge", err, errlen);
		goto out_detach;
	}
	bool has[MERGE_N_TABLES];
	for (int t = 0; t < MERGE_N_TABLES; t++)
		has[t] = src_has(s, tables[t].name);
	for (int t = 0; t < MERGE_N_TABLES && !rc; t++)
		if (has[t] && (strcmp(tables[t].name, "scores") || (has[1] && has[2])))
			rc = check_table(s, t, path, err, errlen);
	for (int t = 0; t < MERGE_N_TABLES && !rc; t++)
		if (has[t])
			rc = copy_table(s, t, st, err, errlen);
	if (!rc && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = store_err(s, "committing the merge", err, errlen);
	if (rc)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
out_detach:
	sqlite3_exec(s->db, "DETACH DATABASE src", NULL, NULL, NULL);
	return rc;
}

int results_merge(const char *out, const char *const *srcs, int n, struct merge_stats *st, char *err, size_t errlen)
{
	char tmp[4200], wal[4300];
	struct store *s = NULL;
	int rc;
	memset(st, 0, sizeof(*st));
	for (int t = 0; t < MERGE_N_TABLES; t++)
		st->table[t] = tables[t].name;
	/* every input must be a readable kvlab database before anything is written */
	for (int i = 0; i < n; i++) {
		struct store *r = NULL;
		if ((rc = store_open_read(srcs[i], &r, err, errlen)))
			return rc;
		store_close(r);
	}
	bool existed = access(out, F_OK) == 0;
	if (existed) {
		struct store *r = NULL;
		if ((rc = store_open_read(out, &r, err, errlen)))
			return rc;
		store_close(r);
	}
	snprintf(tmp, sizeof(tmp), "%s.merge-%ld.tmp", out, (long)getpid());
	unlink(tmp);
	if ((rc = store_open(tmp, &s, err, errlen)) || (rc = bench_store_schema(s, err, errlen)) ||
	    (rc = bench_roofline_schema(s, err, errlen)) || (rc = bench_profile_schema(s, err, errlen)))
		goto out_unlink;
	struct merge_stats junk;
	if (existed && (rc = merge_one(s, out, &junk, err, errlen)))
		goto out_unlink;
	for (int i = 0; i < n; i++)
		if ((rc = merge_one(s, srcs[i], st, err, errlen)))
			goto out_unlink;
	store_close(s);
	s = NULL;
	snprintf(wal, sizeof(wal), "%s-wal", out);
	if (existed && access(wal, F_OK) == 0) {
		rc = kv_errf(err, errlen, KV_EIO, "%s: in use by another process (%s exists); nothing was changed", out, wal);
		goto out_unlink;
	}
	if (rename(tmp, out) != 0) {
		rc = kv_errf(err, errlen, KV_EIO, "%s: cannot replace it with the merged copy %s (%s)", out, tmp, strerror(errno));
		goto out_unlink;
	}
	return 0;
out_unlink:
	store_close(s);
	unlink(tmp);
	snprintf(wal, sizeof(wal), "%s-wal", tmp);
	unlink(wal);
	snprintf(wal, sizeof(wal), "%s-shm", tmp);
	unlink(wal);
	return rc;
}
