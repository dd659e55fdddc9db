/* Benchmark rows: the bench_latency table, its writer (one transaction per batch),
 * its reader, the speedup rule and the report table. See bench_store.h. */
#include "results/bench_store.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"  // kv_errf
#include "base/grow.h"    // kv_grow
#include "results/bench_profile.h" // bench_profile_report
#include "results/bench_roofline.h" // bench_roofline_report
#include "results/store.h"  // struct store
#include "results/table_fmt.h" // struct table_list

static const char *const bench_table =
	"bench_latency ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  invocation TEXT NOT NULL, bench TEXT NOT NULL, created_utc TEXT NOT NULL, build_commit TEXT,"
	"  engine_version TEXT, backend TEXT NOT NULL, host_cpu TEXT, threads INTEGER NOT NULL,"
	"  model TEXT NOT NULL, model_sha256 TEXT, model_shape TEXT, weights TEXT, input TEXT,"
	"  genlen INTEGER NOT NULL, warmups INTEGER NOT NULL, runs INTEGER NOT NULL, config_json TEXT,"
	"  label TEXT NOT NULL, method TEXT NOT NULL, params_json TEXT, n_ctx INTEGER NOT NULL, phase TEXT NOT NULL,"
	"  median_ms REAL NOT NULL, min_ms REAL NOT NULL, max_ms REAL NOT NULL, mean_ms REAL NOT NULL,"
	"  stddev_ms REAL NOT NULL, samples_ms TEXT, kv_bytes INTEGER NOT NULL,"
	"  UNIQUE (invocation, label, n_ctx, phase))";

int bench_store_schema(struct store *s, char *err, size_t errlen)
{
	return store_table_ensure(s, "bench_latency", bench_table, err, errlen);
}

// ----------------------------------------------------------------------------
// statistics

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

void bench_stats(const double *x, int n, struct bench_stat *out)
{
	struct bench_stat st = { 0 };
	double *v = n > 0 ? malloc(sizeof(double) * (size_t)n) : NULL;
	if (v) {
		memcpy(v, x, sizeof(double) * (size_t)n);
		qsort(v, (size_t)n, sizeof(double), cmp_double);
		st.min = v[0];
		st.max = v[n - 1];
		st.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
		for (int i = 0; i < n; i++)
			st.mean += v[i] / n;
		for (int i = 0; n > 1 && i < n; i++)
			st.stddev += (v[i] - st.mean) * (v[i] - st.mean) / (n - 1);
		st.stddev = sqrt(st.stddev);
		free(v);
	}
	*out = st;
}

// ----------------------------------------------------------------------------
// writing and reading

#define ROW_COLS                                                                                                    \
	"invocation, bench, created_utc, build_commit, engine_version, backend, host_cpu, threads, model, model_sha256," \
	" model_shape, weights, input, genlen, warmups, runs, config_json, label, method, params_json, n_ctx, phase,"     \
	" median_ms, min_ms, max_ms, mean_ms, stddev_ms, samples_ms, kv_bytes"

/* samples as a JSON array into a malloc'd string (caller frees), or NULL. */
static char *samples_json(const double *x, int n)
{
	size_t cap = 2 + (size_t)n * 24;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	size_t k = (size_t)snprintf(s, cap, "[");
	for (int i = 0; i < n; i++)
		k += (size_t)snprintf(s + k, cap - k, "%s%.4f", i ? "," : "", x[i]);
	snprintf(s + k, cap - k, "]");
	return s;
}

static int bind_row(sqlite3_stmt *q, const struct bench_row *r, const char *samples)
{
	const char *head[] = { r->invocation, r->bench, r->created_utc, r->build_commit, r->engine_version, r->backend,
			       r->host_cpu };
	int c = 1;
	for (int i = 0; i < 7; i++)
		sqlite3_bind_text(q, c++, head[i], -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(q, c++, r->threads);
	const char *mid[] = { r->model, r->model_sha256, r->model_shape, r->weights, r->input };
	for (int i = 0; i < 5; i++)
		sqlite3_bind_text(q, c++, mid[i], -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(q, c++, r->genlen);
	sqlite3_bind_int(q, c++, r->warmups);
	sqlite3_bind_int(q, c++, r->runs);
	const char *tail[] = { r->config_json, r->label, r->method, r->params_json };
	for (int i = 0; i < 4; i++)
		sqlite3_bind_text(q, c++, tail[i], -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(q, c++, r->n_ctx);
	sqlite3_bind_text(q, c++, r->phase, -1, SQLITE_TRANSIENT);
	const double st[] = { r->st.median, r->st.min, r->st.max, r->st.mean, r->st.stddev };
	for (int i = 0; i < 5; i++)
		sqlite3_bind_double(q, c++, st[i]);
	if (samples)
		sqlite3_bind_text(q, c++, samples, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(q, c++);
	sqlite3_bind_int64(q, c++, r->kv_bytes);
	return c - 1;
}

int bench_store_put(struct store *s, const struct bench_row *rows, int n, char *err, size_t errlen)
{
	sqlite3_stmt *q = NULL;
	int rc;
	if ((rc = bench_store_schema(s, err, errlen)))
		return rc;
	if ((rc = store_insert_begin(s,
				     "INSERT INTO bench_latency (" ROW_COLS
				     ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
				     &q, "preparing a benchmark row", err, errlen)))
		return rc;
	for (int i = 0; i < n && !rc; i++) {
		const struct bench_row *r = &rows[i];
		char *js = r->samples ? samples_json(r->samples, r->runs) : NULL;
		if (r->samples && !js) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
			break;
		}
		sqlite3_reset(q);
		bind_row(q, r, js);
		free(js);
		if (sqlite3_step(q) != SQLITE_DONE) {
			char what[256];
			snprintf(what, sizeof(what), "writing the %s row of %s at N=%d", r->phase, r->label, r->n_ctx);
			rc = store_err(s, what, err, errlen);
		}
	}
	return store_insert_end(s, q, rc, "committing benchmark rows", err, errlen);
}

static void col_text(sqlite3_stmt *q, int c, char *dst, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(q, c);
	snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

static void read_row(sqlite3_stmt *q, void *row)
{
	struct bench_row *r = row;
	int c = 0;
	memset(r, 0, sizeof(*r));
	col_text(q, c++, r->invocation, sizeof(r->invocation));
	col_text(q, c++, r->bench, sizeof(r->bench));
	col_text(q, c++, r->created_utc, sizeof(r->created_utc));
	col_text(q, c++, r->build_commit, sizeof(r->build_commit));
	col_text(q, c++, r->engine_version, sizeof(r->engine_version));
	col_text(q, c++, r->backend, sizeof(r->backend));
	col_text(q, c++, r->host_cpu, sizeof(r->host_cpu));
	r->threads = sqlite3_column_int(q, c++);
	col_text(q, c++, r->model, sizeof(r->model));
	col_text(q, c++, r->model_sha256, sizeof(r->model_sha256));
	col_text(q, c++, r->model_shape, sizeof(r->model_shape));
	col_text(q, c++, r->weights, sizeof(r->weights));
	col_text(q, c++, r->input, sizeof(r->input));
	r->genlen = sqlite3_column_int(q, c++);
	r->warmups = sqlite3_column_int(q, c++);
	r->runs = sqlite3_column_int(q, c++);
	col_text(q, c++, r->config_json, sizeof(r->config_json));
	col_text(q, c++, r->label, sizeof(r->label));
	col_text(q, c++, r->method, sizeof(r->method));
	col_text(q, c++, r->params_json, sizeof(r->params_json));
	r->n_ctx = sqlite3_column_int(q, c++);
	col_text(q, c++, r->phase, sizeof(r->phase));
	r->st.median = sqlite3_column_double(q, c++);
	r->st.min = sqlite3_column_double(q, c++);
	r->st.max = sqlite3_column_double(q, c++);
	r->st.mean = sqlite3_column_double(q, c++);
	r->st.stddev = sqlite3_column_double(q, c++);
	c++; /* samples_ms stays in the database */
	r->kv_bytes = sqlite3_column_int64(q, c++);
}

int bench_store_load(struct store *s, const char *invocation, struct bench_row **rows, int *n, char *err, size_t errlen)
{
	sqlite3_stmt *q = NULL;
	int rc;
	if ((rc = bench_store_schema(s, err, errlen)))
		return rc;
	if ((rc = store_query(s,
			      "SELECT " ROW_COLS " FROM bench_latency b WHERE ?1 IS NULL OR invocation = ?1"
			      " ORDER BY (SELECT MIN(id) FROM bench_latency c WHERE c.invocation = b.invocation), id",
			      invocation, NULL, &q, "reading benchmark rows", err, errlen)))
		return rc;
	return store_read_rows(s, q, sizeof(**rows), read_row, (void **)rows, n, "benchmark rows", err, errlen);
}

int bench_store_latest(struct store *s, char inv[40], char *err, size_t errlen)
{
	sqlite3_stmt *q = NULL;
	int rc;
	if ((rc = bench_store_schema(s, err, errlen)))
		return rc;
	if (sqlite3_prepare_v2(s->db, "SELECT invocation FROM bench_latency ORDER BY id DESC LIMIT 1", -1, &q, NULL) != SQLITE_OK)
		return store_err(s, "reading benchmark rows", err, errlen);
	if (sqlite3_step(q) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(q, 0);
		snprintf(inv, 40, "%s", t ? (const char *)t : "");
		rc = 0;
	} else {
		rc = kv_errf(err, errlen, KV_EINVAL, "%s: no benchmark rows (run kvlab bench prefill|e2e --db %s first)", s->path,
			     s->path);
	}
	sqlite3_finalize(q);
	return rc;
}

// ----------------------------------------------------------------------------
// speedups and the table

bool bench_speedup(const struct bench_row *rows, int n, int i, double *out)
{
	const struct bench_row *r = &rows[i];
	for (int j = 0; j < n; j++) {
		const struct bench_row *b = &rows[j];
		if (strcmp(b->method, "fullkv") == 0 && b->n_ctx == r->n_ctx && strcmp(b->phase, r->phase) == 0 &&
		    strcmp(b->invocation, r->invocation) == 0) {
			if (!(r->st.median > 0))
				return false;
			*out = b->st.median / r->st.median;
			return true;
		}
	}
	return false;
}

/* Index of the row (label, N, phase), or -1. */
static int find_row(const struct bench_row *rows, int n, const char *label, int n_ctx, const char *phase)
{
	for (int i = 0; i < n; i++)
		if (rows[i].n_ctx == n_ctx && strcmp(rows[i].label, label) == 0 && strcmp(rows[i].phase, phase) == 0)
			return i;
	return -1;
}

/* Does some row time a method's step after the prefill (phase "recon": KVzip's reconstruction)? */
static bool has_recon(const struct bench_row *rows, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(rows[i].phase, "recon") == 0)
			return true;
	return false;
}

/* Distinct labels / lengths in order of first appearance (borrowed pointers / values). */
static int distinct_labels(const struct bench_row *rows, int n, const char **out)
{
	int k = 0;
	for (int i = 0; i < n; i++) {
		int j = 0;
		while (j < k && strcmp(out[j], rows[i].label) != 0)
			j++;
		if (j == k)
			out[k++] = rows[i].label;
	}
	return k;
}

static int distinct_lengths(const struct bench_row *rows, int n, int *out)
{
	int k = 0;
	for (int i = 0; i < n; i++) {
		int j = 0;
		while (j < k && out[j] != rows[i].n_ctx)
			j++;
		if (j == k)
			out[k++] = rows[i].n_ctx;
	}
	return k;
}

/* "812.3 [805.1, 820.0]" scaled by 1/div, three significant-ish digits. */
static void fmt_stat(char *buf, size_t len, const struct bench_stat *st, double div)
{
	double m = st->median / div;
	const char *f = m >= 100 ? "%.1f [%.1f, %.1f]" : m >= 1 ? "%.2f [%.2f, %.2f]" : "%.3f [%.3f, %.3f]";
	snprintf(buf, len, f, m, st->min / div, st->max / div);
}

static void fmt_speedup(char *buf, size_t len, const struct bench_row *rows, int n, int i)
{
	double x;
	if (i >= 0 && bench_speedup(rows, n, i, &x))
		snprintf(buf, len, "%.2fx", x);
	else
		snprintf(buf, len, "-");
}

void bench_table_print(FILE *out, const struct bench_row *rows, int n)
{
	if (n <= 0)
		return;
	const struct bench_row *r0 = &rows[0];
	bool e2e = strcmp(r0->bench, "e2e") == 0;
	const char **labels = malloc(sizeof(char *) * (size_t)n);
	int *lens = malloc(sizeof(int) * (size_t)n);
	if (!labels || !lens) {
		free(labels);
		free(lens);
		fprintf(out, "(out of memory printing %d rows)\n", n);
		return;
	}
	int nl = distinct_labels(rows, n, labels), nn = distinct_lengths(rows, n, lens);
	fprintf(out, "## bench %s, invocation %s, %s UTC\n", r0->bench, r0->invocation, r0->created_utc);
	fprintf(out, "model: %s", r0->model);
	if (r0->model_sha256[0])
		fprintf(out, " (sha256 %.16s)", r0->model_sha256);
	fprintf(out, ", %s; shape %s\n", r0->weights, r0->model_shape);
	fprintf(out, "input: %s; %d warmup(s), %d run(s) per method and length, methods interleaved", r0->input, r0->warmups,
		r0->runs);
	if (e2e)
		fprintf(out, "; genlen %d (no EOS stop)", r0->genlen);
	fprintf(out, "\nbuild %s (%s), backend %s, %d threads, %s\n\n", r0->build_commit, r0->engine_version, r0->backend,
		r0->threads, r0->host_cpu);
	/* recon ms: the part of prefill ms a method's second forward took (only when one has it) */
	bool recon = has_recon(rows, n);
	fprintf(out, "| method | N | prefill ms | vs fullkv |%s%s KV MiB |\n|---|---:|---|---:|%s%s---:|\n",
		recon ? " recon ms |" : "", e2e ? " decode ms/token | vs fullkv | e2e s | vs fullkv |" : "",
		recon ? "---|" : "", e2e ? "---|---:|---|---:|" : "");
	static const char *const phases[] = { "prefill", "decode", "e2e" };
	static const double divs[] = { 1.0, 1.0, 1000.0 };
	for (int a = 0; a < nl; a++)
		for (int b = 0; b < nn; b++) {
			int ip = find_row(rows, n, labels[a], lens[b], "prefill");
			if (ip < 0)
				continue;
			fprintf(out, "| %s | %d", labels[a], lens[b]);
			for (int p = 0; p < (e2e ? 3 : 1); p++) {
				int i = find_row(rows, n, labels[a], lens[b], phases[p]);
				char st[96] = "-", sp[32];
				if (i >= 0)
					fmt_stat(st, sizeof(st), &rows[i].st, divs[p]);
				fmt_speedup(sp, sizeof(sp), rows, n, i);
				fprintf(out, " | %s | %s", st, sp);
				if (p == 0 && recon) {
					int ir = find_row(rows, n, labels[a], lens[b], "recon");
					if (ir >= 0)
						fmt_stat(st, sizeof(st), &rows[ir].st, 1.0);
					fprintf(out, " | %s", ir >= 0 ? st : "-");
				}
			}
			fprintf(out, " | %.2f |\n", rows[ip].kv_bytes / 1048576.0);
		}
	for (int p = 0; p < (e2e ? 2 : 1); p++) {
		fprintf(out, "\n%s speedup over fullkv (median / median, same invocation):\n| method |", phases[p]);
		for (int b = 0; b < nn; b++)
			fprintf(out, " %d |", lens[b]);
		fprintf(out, "\n|---|");
		for (int b = 0; b < nn; b++)
			fprintf(out, "---:|");
		fprintf(out, "\n");
		for (int a = 0; a < nl; a++) {
			fprintf(out, "| %s |", labels[a]);
			for (int b = 0; b < nn; b++) {
				char sp[32];
				fmt_speedup(sp, sizeof(sp), rows, n, find_row(rows, n, labels[a], lens[b], phases[p]));
				fprintf(out, " %s |", sp);
			}
			fprintf(out, "\n");
		}
	}
	fprintf(out, "\n");
	free(labels);
	free(lens);
}

/* The speedup of row i over fullkv as a cell ("-" when none). */
static int set_speedup(struct table *t, int row, int col, const struct bench_row *rows, int n, int i)
{
	double x;
	if (i >= 0 && bench_speedup(rows, n, i, &x))
		return table_set_num(t, row, col, x, 2);
	return 0;
}

/* One invocation's tables: per method and length the medians [min, max] and speedups, then
 * a method x length speedup table per phase. */
static int invocation_tables(struct table_list *l, const struct bench_row *rows, int n, const char **labels, int *lens)
{
	const struct bench_row *r0 = &rows[0];
	bool e2e = strcmp(r0->bench, "e2e") == 0;
	int nl = distinct_labels(rows, n, labels), nn = distinct_lengths(rows, n, lens);
	static const char *const phases[] = { "prefill", "decode", "e2e" };
	static const char *const units[] = { "prefill_ms", "decode_ms_per_token", "e2e_s" };
	static const double divs[] = { 1.0, 1.0, 1000.0 };
	struct table *t;
	if (table_list_add(l, &t, "bench %s, invocation %s, %s UTC", r0->bench, r0->invocation, r0->created_utc) ||
	    table_note(t, "model: %s%s%.16s%s, %s; shape %s\ninput: %s; %d warmup(s), %d run(s) per method and length, methods interleaved%s%.0d%s\n"
		       "build %s (%s), backend %s, %d threads, %s\nmedian [min, max] over the runs; x_fullkv = fullkv's median / this median",
		       r0->model, r0->model_sha256[0] ? " (sha256 " : "", r0->model_sha256, r0->model_sha256[0] ? ")" : "",
		       r0->weights, r0->model_shape, r0->input, r0->warmups, r0->runs, e2e ? "; genlen " : "", e2e ? r0->genlen : 0,
		       e2e ? " (no EOS stop)" : "", r0->build_commit, r0->engine_version, r0->backend, r0->threads, r0->host_cpu) ||
	    table_col_add(t, "method", false) < 0 || table_col_add(t, "N", true) < 0)
		return KV_ENOMEM;
	/* recon_ms (median, after the prefill's columns, only when a method has the step): the
	 * part of prefill_ms spent in its second forward (KVzip's reconstruction) */
	bool recon = has_recon(rows, n);
	int first[3], recon_col = -1;
	for (int p = 0; p < (e2e ? 3 : 1); p++) {
		char name[64];
		snprintf(name, sizeof(name), "%s_min", units[p]);
		int a = first[p] = table_col_add(t, units[p], true), b = table_col_add(t, name, true);
		snprintf(name, sizeof(name), "%s_max", units[p]);
		int c = table_col_add(t, name, true);
		snprintf(name, sizeof(name), "%s_x_fullkv", phases[p]);
		if (a < 0 || b < 0 || c < 0 || table_col_add(t, name, true) < 0)
			return KV_ENOMEM;
		if (p == 0 && recon && (recon_col = table_col_add(t, "recon_ms", true)) < 0)
			return KV_ENOMEM;
	}
	if (table_col_add(t, "kv_MiB", true) < 0)
		return KV_ENOMEM;
	for (int a = 0; a < nl; a++)
		for (int b = 0; b < nn; b++) {
			int ip = find_row(rows, n, labels[a], lens[b], "prefill"), row;
			if (ip < 0)
				continue;
			if ((row = table_row_add(t)) < 0 || table_set(t, row, 0, "%s", labels[a]) || table_set(t, row, 1, "%d", lens[b]))
				return KV_ENOMEM;
			for (int p = 0; p < (e2e ? 3 : 1); p++) {
				int i = find_row(rows, n, labels[a], lens[b], phases[p]), c = first[p];
				if (i >= 0 && (table_set_num(t, row, c, rows[i].st.median / divs[p], 3) ||
					       table_set_num(t, row, c + 1, rows[i].st.min / divs[p], 3) ||
					       table_set_num(t, row, c + 2, rows[i].st.max / divs[p], 3) ||
					       set_speedup(t, row, c + 3, rows, n, i)))
					return KV_ENOMEM;
			}
			int ir = recon ? find_row(rows, n, labels[a], lens[b], "recon") : -1;
			if ((ir >= 0 && table_set_num(t, row, recon_col, rows[ir].st.median, 3)) ||
			    table_set_num(t, row, t->n_col - 1, rows[ip].kv_bytes / 1048576.0, 2))
				return KV_ENOMEM;
		}
	for (int p = 0; p < (e2e ? 2 : 1); p++) {
		if (table_list_add(l, &t, "%s speedup over fullkv, invocation %s (fullkv's median / the method's median)",
				   phases[p], r0->invocation) ||
		    table_col_add(t, "method", false) < 0)
			return KV_ENOMEM;
		for (int b = 0; b < nn; b++) {
			char name[32];
			snprintf(name, sizeof(name), "%d", lens[b]);
			if (table_col_add(t, name, true) < 0)
				return KV_ENOMEM;
		}
		for (int a = 0; a < nl; a++) {
			int row = table_row_add(t);
			if (row < 0 || table_set(t, row, 0, "%s", labels[a]))
				return KV_ENOMEM;
			for (int b = 0; b < nn; b++)
				if (set_speedup(t, row, 1 + b, rows, n, find_row(rows, n, labels[a], lens[b], phases[p])))
					return KV_ENOMEM;
		}
	}
	return 0;
}

int bench_report_tables(struct store *s, struct table_list *l, char *err, size_t errlen)
{
	struct bench_row *rows = NULL;
	const char **labels = NULL;
	int *lens = NULL;
	int n = 0, rc;
	if ((rc = bench_store_load(s, NULL, &rows, &n, err, errlen)))
		return rc;
	if (n == 0) {
		struct table *t;
		rc = table_list_add(l, &t, "bench: no benchmark rows") || table_col_add(t, "method", false) < 0 ||
				     table_note(t, "%s: no benchmark rows (kvlab bench prefill|e2e --db %s writes them)", s->path, s->path)
			     ? KV_ENOMEM
			     : 0;
		goto out;
	}
	labels = malloc(sizeof(char *) * (size_t)n);
	lens = malloc(sizeof(int) * (size_t)n);
	if (!labels || !lens) {
		rc = KV_ENOMEM;
		goto out;
	}
	for (int i = 0; i < n && !rc;) {
		int j = i;
		while (j < n && strcmp(rows[j].invocation, rows[i].invocation) == 0)
			j++;
		rc = invocation_tables(l, rows + i, j - i, labels, lens) ? KV_ENOMEM : 0;
		if (!rc)
			rc = bench_roofline_report(s, rows[i].invocation, l, err, errlen);
		if (!rc)
			rc = bench_profile_report(s, rows[i].invocation, l, err, errlen);
		i = j;
	}
out:
	free(rows);
	free(labels);
	free(lens);
	return rc == KV_ENOMEM ? kv_errf(err, errlen, KV_ENOMEM, "out of memory building the bench tables") : rc;
}
