/* kvlab report's dispatcher, the runs table, the row labels and the per-method grid the
 * paper tables share. See report.h. */
#include "results/report.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"  // kv_errf
#include "base/grow.h"    // kv_grow
#include "results/bench_store.h" // bench_report_tables
#include "results/store.h"

static const char *const table_names[] = {
	[REPORT_RUNS] = "runs", [REPORT_LONGBENCH] = "longbench", [REPORT_RULER] = "ruler", [REPORT_NEEDLE] = "needle",
	[REPORT_BENCH] = "bench", [REPORT_SWEEP] = "sweep", [REPORT_SELECTION] = "selection",
};

int report_table_parse(const char *name, enum report_table *out, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(table_names) / sizeof(table_names[0]); i++)
		if (!strcmp(name, table_names[i])) {
			*out = (enum report_table)i;
			return 0;
		}
	return kv_errf(err, errlen, KV_EINVAL,
		       "--table: expected runs, longbench, ruler, needle, bench, sweep or selection, got '%s'", name);
}

int report_print(struct store *s, FILE *out, enum report_table which, const struct report_opts *o, char *err,
		 size_t errlen)
{
	static const char *const fmt_names[] = { [TABLE_MD] = "md", [TABLE_CSV] = "csv", [TABLE_JSON] = "json" };
	struct table_list l = { 0 };
	int rc;
	switch (which) {
	case REPORT_SWEEP: return report_sweep(s, out, &o->sweep, fmt_names[o->format], err, errlen);
	case REPORT_RUNS: rc = report_runs(s, o, &l, err, errlen); break;
	case REPORT_LONGBENCH: rc = report_longbench(s, o, &l, err, errlen); break;
	case REPORT_RULER: rc = report_ruler(s, o, &l, err, errlen); break;
	case REPORT_NEEDLE: rc = report_needle(s, o, &l, err, errlen); break;
	case REPORT_BENCH: rc = bench_report_tables(s, &l, err, errlen); break;
	case REPORT_SELECTION: rc = report_selection(s, o, &l, err, errlen); break;
	default: rc = kv_errf(err, errlen, KV_EINTERNAL, "report: unknown table %d", (int)which);
	}
	if (!rc)
		rc = table_list_print(&l, out, o->format, err, errlen);
	table_list_free(&l);
	return rc;
}

int report_label(struct store *s, const struct report_opts *o, const char *method, const char *method_json, char *buf,
		 size_t len, char *err, size_t errlen)
{
	char params[1024];
	int rc = run_label_params(s, o->defaults, method, method_json, params, sizeof(params), err, errlen);
	if (!rc)
		snprintf(buf, len, "%s%s%s", method ? method : "?", params[0] ? " " : "", params);
	return rc;
}

static int oom(char *err, size_t errlen)
{
	return kv_errf(err, errlen, KV_ENOMEM, "out of memory building the report");
}

// ----------------------------------------------------------------------------
// runs

int report_runs(struct store *s, const struct report_opts *o, struct table_list *l, char *err, size_t errlen)
{
	sqlite3_stmt *q = NULL, *m = NULL;
	struct table *t;
	int rc;
	/* a database made before recon_s, opened read-only, has none: its cells stay empty */
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "SELECT r.run_id, r.task, r.method, r.method_json, COUNT(s.sample_id), AVG(s.prefill_s), AVG(s.kv_bytes), %s"
		 " FROM runs r LEFT JOIN samples s ON s.run_id = r.run_id"
		 " WHERE r.kind = 'eval' AND (?1 IS NULL OR r.task LIKE ?1 || '%%')"
		 " GROUP BY r.run_id ORDER BY r.task, r.created_at, r.method, r.run_id",
		 store_has_column(s, "samples", "recon_s") ? "AVG(s.recon_s)" : "NULL");
	static const char *const cols[] = { "run", "task", "method", "params", "n", "score", "prefill_s", "recon_s", "kv_MiB" };
	static const bool num[] = { false, false, false, false, true, false, true, true, true };
	if (table_list_add(l, &t, "Runs (score: the mean of the run's main metric; prefill_s, recon_s (its KVzip reconstruction "
				  "part), kv_MiB: means per sample)"))
		return oom(err, errlen);
	for (int j = 0; j < 9; j++)
		if (table_col_add(t, cols[j], num[j]) < 0)
			return oom(err, errlen);
	if ((rc = store_query(s, sql, o->task_prefix, NULL, &q, "reading runs", err, errlen)) ||
	    (rc = store_query(s,
			      "SELECT metric, AVG(value) FROM scores WHERE run_id = ? GROUP BY metric"
			      " ORDER BY metric = 'score' DESC, metric = 'overlap' DESC, metric LIMIT 1",
			      NULL, NULL, &m, "reading scores", err, errlen)))
		goto out;
	while (sqlite3_step(q) == SQLITE_ROW) {
		const char *run = (const char *)sqlite3_column_text(q, 0), *method = (const char *)sqlite3_column_text(q, 2);
		char params[1024];
		int i = table_row_add(t);
		if (i < 0 || (rc = run_label_params(s, o->defaults, method, (const char *)sqlite3_column_text(q, 3), params,
						     sizeof(params), err, errlen))) {
			rc = rc ? rc : oom(err, errlen);
			goto out;
		}
		int n = sqlite3_column_int(q, 4);
		rc = table_set(t, i, 0, "%.12s", run) || table_set(t, i, 1, "%s", sqlite3_column_text(q, 1)) ||
		     table_set(t, i, 2, "%s", method) || (params[0] && table_set(t, i, 3, "%s", params)) ||
		     table_set(t, i, 4, "%d", n);
		sqlite3_reset(m);
		sqlite3_bind_text(m, 1, run, -1, SQLITE_TRANSIENT);
		if (!rc && sqlite3_step(m) == SQLITE_ROW)
			rc = table_set(t, i, 5, "%s=%.4f", sqlite3_column_text(m, 0), sqlite3_column_double(m, 1));
		if (!rc && n > 0)
			rc = table_set_num(t, i, 6, sqlite3_column_double(q, 5), 3) ||
			     (sqlite3_column_type(q, 7) != SQLITE_NULL && table_set_num(t, i, 7, sqlite3_column_double(q, 7), 3)) ||
			     table_set_num(t, i, 8, sqlite3_column_double(q, 6) / 1048576.0, 2);
		if (rc) {
			rc = oom(err, errlen);
			goto out;
		}
	}
	if (t->n_row == 0 && table_note(t, "(no evaluation runs%s%s)", o->task_prefix ? " for task " : "",
					 o->task_prefix ? o->task_prefix : ""))
		rc = oom(err, errlen);
out:
	sqlite3_finalize(q);
	sqlite3_finalize(m);
	return rc;
}

// ----------------------------------------------------------------------------
// the per-method grid of the paper tables

/* Index of v in the list (*a, *n), appended when absent; -1 when out of memory. */
static int intern(char ***a, int *n, const char *v)
{
	for (int i = 0; i < *n; i++)
		if (!strcmp((*a)[i], v))
			return i;
	char **p = realloc(*a, sizeof(char *) * (size_t)(*n + 1));
	if (!p)
		return -1;
	*a = p;
	if (!(p[*n] = strdup(v)))
		return -1;
	return (*n)++;
}

static void free_strs(char **a, int n)
{
	for (int i = 0; i < n; i++)
		free(a[i]);
	free(a);
}

int report_grid_col(const struct report_grid *g, const char *c)
{
	for (int j = 0; j < g->n_col; j++)
		if (!strcmp(g->col[j], c))
			return j;
	return -1;
}

void report_grid_free(struct report_grid *g)
{
	free_strs(g->row_label, g->n_row);
	free_strs(g->col, g->n_col);
	free(g->sum);
	free(g->n);
	memset(g, 0, sizeof(*g));
}

/* One value read: its row key, column and value. */
struct grid_val {
	int row, col;
	double v;
};

int report_grid_load(struct store *s, const struct report_opts *o, const char *sql, struct report_grid *g, char *err,
		     size_t errlen)
{
	sqlite3_stmt *q = NULL;
	char **keys = NULL, **models = NULL, **labels = NULL;
	int n_keys = 0, n_models = 0, n_labels = 0, rc, step;
	struct grid_val *v = NULL;
	size_t n_v = 0, cap = 0;
	memset(g, 0, sizeof(*g));
	if ((rc = store_query(s, sql, o->task_prefix, NULL, &q, "reading scores", err, errlen)))
		return rc;
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		const char *model = (const char *)sqlite3_column_text(q, 0), *method = (const char *)sqlite3_column_text(q, 1);
		const char *mj = (const char *)sqlite3_column_text(q, 2), *col = (const char *)sqlite3_column_text(q, 3);
		char key[4096];
		snprintf(key, sizeof(key), "%s\n%s", model ? model : "", mj ? mj : "");
		int before = n_keys, r = intern(&keys, &n_keys, key), c = intern(&g->col, &g->n_col, col ? col : "?");
		if (r < 0 || c < 0 || intern(&models, &n_models, model ? model : "") < 0 ||
		    kv_grow((void **)&v, &cap, n_v + 1, sizeof(*v))) {
			rc = oom(err, errlen);
			goto out;
		}
		if (n_keys > before) {
			char label[1200];
			if ((rc = report_label(s, o, method, mj, label, sizeof(label), err, errlen)))
				goto out;
			char **p = realloc(labels, sizeof(char *) * (size_t)(n_labels + 1));
			if (p)
				labels = p;
			if (!p || !(labels[n_labels] = strdup(label))) {
				rc = oom(err, errlen);
				goto out;
			}
			n_labels++;
		}
		v[n_v++] = (struct grid_val){ r, c, sqlite3_column_double(q, 4) };
	}
	if (step != SQLITE_DONE) {
		rc = store_err(s, "reading scores", err, errlen);
		goto out;
	}
	g->n_row = n_keys;
	g->sum = calloc((size_t)(n_keys * g->n_col) + 1, sizeof(double));
	g->n = calloc((size_t)(n_keys * g->n_col) + 1, sizeof(int));
	if (!g->sum || !g->n) {
		rc = oom(err, errlen);
		goto out;
	}
	for (size_t i = 0; i < n_v; i++) {
		g->sum[v[i].row * g->n_col + v[i].col] += v[i].v;
		g->n[v[i].row * g->n_col + v[i].col]++;
	}
	/* the model joins the label only where several models are in the table */
	for (int i = 0; i < n_labels && n_models > 1; i++) {
		const char *model = keys[i], *nl = strchr(keys[i], '\n');
		const char *base = model;
		for (const char *c = model; nl && c < nl; c++)
			if (*c == '/')
				base = c + 1;
		size_t need = strlen(labels[i]) + (size_t)(nl - base) + 4;
		char *x = malloc(need);
		if (!x) {
			rc = oom(err, errlen);
			goto out;
		}
		snprintf(x, need, "%s [%.*s]", labels[i], (int)(nl - base), base);
		free(labels[i]);
		labels[i] = x;
	}
	g->row_label = labels;
	labels = NULL;
	n_labels = 0;
out:
	sqlite3_finalize(q);
	free_strs(keys, n_keys);
	free_strs(models, n_models);
	free_strs(labels, n_labels);
	free(v);
	if (rc) {
		g->n_row = 0; /* row_label not taken */
		report_grid_free(g);
	}
	return rc;
}
