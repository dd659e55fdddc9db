/* kvlab report --table selection: what the methods kept, per layer (table sample_layers):
 * mean rows kept and needle-token recall, layers down and methods across, then how often a
 * top-k cut fell inside a group of tied scores (table sample_ties). See report.h. */
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h" // kv_errf
#include "base/grow.h"   // kv_grow
#include "results/report.h"
#include "results/store.h" // store_query, store_err

static int oom(char *err, size_t errlen)
{
	return kv_errf(err, errlen, KV_ENOMEM, "out of memory building the selection report");
}

// ----------------------------------------------------------------------------
// per-layer counts, one kind of selection ("kv", "propagated", "restart") at a time

/* One (method, layer) cell of sample_layers, summed over the samples of its runs. */
struct layer_cell {
	int col, layer;
	long long n;          /* samples */
	double kept;          /* sum over samples of the rows kept (summed over heads) */
	long long span_kept;  /* needle rows kept, summed over heads and samples */
	long long span_rows;  /* needle tokens x heads, summed over samples */
	int heads;            /* cache heads the rows are summed over (the most of any sample) */
};

/* The cells of one kind: columns are methods with their parameters (labels), rows layers. */
struct layer_grid {
	char **label;         /* (n_col,) owned */
	int n_col;
	struct layer_cell *c; /* (n,) owned */
	int n;
	int n_layer;          /* 1 + the largest layer */
};

static void layer_grid_free(struct layer_grid *g)
{
	for (int i = 0; i < g->n_col; i++)
		free(g->label[i]);
	free(g->label);
	free(g->c);
	memset(g, 0, sizeof(*g));
}

/* Loads kind's cells into g (caller frees with layer_grid_free), columns in the order of the
 * methods' first runs; g is empty on failure. */
static int layer_grid_load(struct store *s, const struct report_opts *o, const char *kind, struct layer_grid *g,
			   char *err, size_t errlen)
{
	const char *sql =
		"SELECT r.method, r.method_json, l.layer, COUNT(*), SUM(l.kept), SUM(l.span_kept), SUM(l.span_len * l.heads),"
		" MAX(l.heads)"
		" FROM sample_layers l JOIN runs r ON r.run_id = l.run_id"
		" WHERE r.kind = 'eval' AND (?1 IS NULL OR r.task LIKE ?1 || '%') AND l.kind = ?2"
		" GROUP BY r.method, r.method_json, l.layer ORDER BY MIN(r.created_at), r.method, r.method_json, l.layer";
	sqlite3_stmt *q = NULL;
	size_t cap = 0, lcap = 0, kcap = 0;
	int rc, step;
	char **keys = NULL; /* (n_col,) "method\nmethod_json" of each column */
	memset(g, 0, sizeof(*g));
	if ((rc = store_query(s, sql, o->task_prefix, kind, &q, "reading layer counts", err, errlen)))
		return rc;
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		const char *method = (const char *)sqlite3_column_text(q, 0), *mj = (const char *)sqlite3_column_text(q, 1);
		char key[4096];
		snprintf(key, sizeof(key), "%s\n%s", method ? method : "", mj ? mj : "");
		int col = 0;
		while (col < g->n_col && strcmp(keys[col], key) != 0)
			col++;
		if (col == g->n_col) { /* a method not seen yet: a new column */
			char label[1200];
			if ((rc = report_label(s, o, method, mj, label, sizeof(label), err, errlen)))
				goto out;
			if (kv_grow((void **)&g->label, &lcap, (size_t)g->n_col + 1, sizeof(*g->label)) ||
			    kv_grow((void **)&keys, &kcap, (size_t)g->n_col + 1, sizeof(*keys)) ||
			    !(g->label[g->n_col] = strdup(label))) {
				rc = oom(err, errlen);
				goto out;
			}
			if (!(keys[g->n_col] = strdup(key))) {
				free(g->label[g->n_col]);
				rc = oom(err, errlen);
				goto out;
			}
			g->n_col++;
		}
		if (kv_grow((void **)&g->c, &cap, (size_t)g->n + 1, sizeof(*g->c))) {
			rc = oom(err, errlen);
			goto out;
		}
		struct layer_cell *c = &g->c[g->n++];
		*c = (struct layer_cell){ .col = col, .layer = sqlite3_column_int(q, 2), .n = sqlite3_column_int64(q, 3),
					  .kept = sqlite3_column_double(q, 4), .span_kept = sqlite3_column_int64(q, 5),
					  .span_rows = sqlite3_column_int64(q, 6), .heads = sqlite3_column_int(q, 7) };
		if (c->layer + 1 > g->n_layer)
			g->n_layer = c->layer + 1;
	}
	if (step != SQLITE_DONE)
		rc = store_err(s, "reading layer counts", err, errlen);
out:
	sqlite3_finalize(q);
	for (int i = 0; i < g->n_col; i++)
		free(keys[i]);
	free(keys);
	if (rc)
		layer_grid_free(g);
	return rc;
}

/* Adds the table "layer | method..." of g to l, one row per layer some method has: recall
 * (kept needle rows / needle tokens x heads, 3 decimals) or the mean rows kept per sample (1
 * decimal); then the row "all", the mean over layers (recall: over every layer's rows), and
 * the row "heads", the cache heads summed over (SnapKV and H2O cache per query head).
 * Returns 0 without a table when recall is asked and no sample had a needle. */
static int layer_table(const struct layer_grid *g, bool recall, const char *title, struct table_list *l, char *err,
		       size_t errlen)
{
	struct table *t;
	bool any = false;
	for (int i = 0; i < g->n; i++)
		any = any || g->c[i].span_rows > 0;
	if (recall && !any)
		return 0;
	if (table_list_add(l, &t, "%s", title) || table_col_add(t, "layer", true) < 0)
		return oom(err, errlen);
	for (int j = 0; j < g->n_col; j++)
		if (table_col_add(t, g->label[j], true) < 0)
			return oom(err, errlen);
	/* row of each layer present (-1: absent), then "all" and "heads" */
	int *row = malloc(sizeof(int) * (size_t)g->n_layer + 1), n_row = 0, rc = 0;
	double *num = calloc((size_t)g->n_col * 2 + 1, sizeof(double)), *den = num + g->n_col;
	if (!row || !num) {
		rc = oom(err, errlen);
		goto out;
	}
	for (int r = 0; r < g->n_layer; r++)
		row[r] = -1;
	for (int i = 0; i < g->n; i++)
		row[g->c[i].layer] = 0;
	for (int r = 0; r < g->n_layer && !rc; r++)
		if (row[r] == 0 && ((row[r] = table_row_add(t)) < 0 || table_set(t, row[r], 0, "%d", r)))
			rc = oom(err, errlen);
	n_row = t->n_row;
	if (!rc && (table_row_add(t) < 0 || table_set(t, n_row, 0, "all") || table_row_add(t) < 0 ||
		    table_set(t, n_row + 1, 0, "heads")))
		rc = oom(err, errlen);
	for (int i = 0; i < g->n && !rc; i++) {
		const struct layer_cell *c = &g->c[i];
		double v = recall ? (c->span_rows ? (double)c->span_kept / (double)c->span_rows : NAN) : c->kept / (double)c->n;
		if (table_set_num(t, row[c->layer], 1 + c->col, v, recall ? 3 : 1) ||
		    table_set(t, n_row + 1, 1 + c->col, "%d", c->heads))
			rc = oom(err, errlen);
		if (recall) {
			num[c->col] += (double)c->span_kept;
			den[c->col] += (double)c->span_rows;
		} else {
			num[c->col] += v;
			den[c->col] += 1;
		}
	}
	for (int j = 0; j < g->n_col && !rc; j++)
		if (table_set_num(t, n_row, 1 + j, den[j] > 0 ? num[j] / den[j] : NAN, recall ? 3 : 1))
			rc = oom(err, errlen);
out:
	free(row);
	free(num);
	return rc;
}

/* The kept and recall tables of one kind of selection (none when no run recorded it):
 * what names the rows counted ("KV rows kept"), whose the cache or set they are in. */
static int layer_tables(struct store *s, const struct report_opts *o, const char *kind, const char *what,
			const char *whose, struct table_list *l, char *err, size_t errlen)
{
	struct layer_grid g;
	char title[256];
	int rc = layer_grid_load(s, o, kind, &g, err, errlen);
	if (rc || g.n == 0) {
		layer_grid_free(&g);
		return rc;
	}
	snprintf(title, sizeof(title), "%s per layer: mean per sample, summed over cache heads", what);
	if (!(rc = layer_table(&g, false, title, l, err, errlen))) {
		snprintf(title, sizeof(title), "Needle-token recall of %s per layer: needle rows kept / (needle tokens x heads)",
			 whose);
		rc = layer_table(&g, true, title, l, err, errlen);
	}
	layer_grid_free(&g);
	return rc;
}

// ----------------------------------------------------------------------------
// top-k cuts inside a tie group

static int tie_table(struct store *s, const struct report_opts *o, struct table_list *l, char *err, size_t errlen)
{
	sqlite3_stmt *q = NULL;
	struct table *t;
	int rc;
	const char *sql =
		"SELECT r.method, t.cut, COUNT(DISTINCT r.run_id), COUNT(*), SUM(t.n_cuts), SUM(t.n_inside), SUM(t.sum_tied)"
		" FROM sample_ties t JOIN runs r ON r.run_id = t.run_id"
		" WHERE r.kind = 'eval' AND (?1 IS NULL OR r.task LIKE ?1 || '%')"
		" GROUP BY r.method, t.cut ORDER BY r.method, t.cut";
	static const char *const cols[] = { "method", "cut", "runs", "samples", "cuts", "in_tie", "in_%", "mean_n_tied" };
	if (table_list_add(l, &t, "Top-k cuts inside a group of tied scores (--tie_break decided those)"))
		return oom(err, errlen);
	for (int j = 0; j < 8; j++)
		if (table_col_add(t, cols[j], j >= 2) < 0)
			return oom(err, errlen);
	if ((rc = store_query(s, sql, o->task_prefix, NULL, &q, "reading tie counts", err, errlen)))
		return rc;
	while (sqlite3_step(q) == SQLITE_ROW) {
		sqlite3_int64 cuts = sqlite3_column_int64(q, 4), inside = sqlite3_column_int64(q, 5);
		int i = table_row_add(t);
		if (i < 0 || table_set(t, i, 0, "%s", sqlite3_column_text(q, 0)) ||
		    table_set(t, i, 1, "%s", sqlite3_column_text(q, 1)) || table_set(t, i, 2, "%d", sqlite3_column_int(q, 2)) ||
		    table_set(t, i, 3, "%d", sqlite3_column_int(q, 3)) || table_set(t, i, 4, "%lld", (long long)cuts) ||
		    table_set(t, i, 5, "%lld", (long long)inside) ||
		    table_set_num(t, i, 6, cuts ? 100.0 * (double)inside / (double)cuts : 0.0, 2) ||
		    table_set_num(t, i, 7, cuts ? (double)sqlite3_column_int64(q, 6) / (double)cuts : 0.0, 3)) {
			rc = oom(err, errlen);
			break;
		}
	}
	if (!rc && t->n_row == 0 &&
	    table_note(t, "(no tie counts%s%s: runs record them from this version on, for methods with top-k cuts)",
		       o->task_prefix ? " for task " : "", o->task_prefix ? o->task_prefix : ""))
		rc = oom(err, errlen);
	sqlite3_finalize(q);
	return rc;
}

int report_selection(struct store *s, const struct report_opts *o, struct table_list *l, char *err, size_t errlen)
{
	int rc;
	int before = l->n;
	if ((rc = layer_tables(s, o, "kv", "KV rows kept", "the KV cache", l, err, errlen)) ||
	    (rc = layer_tables(s, o, "propagated", "Tokens propagated to the next layer (TSP, PyramidInfer)",
			       "the propagated tokens", l, err, errlen)) ||
	    (rc = layer_tables(s, o, "restart", "Tokens re-prefilled (GemFilter)", "the re-prefilled tokens", l, err, errlen)))
		return rc;
	if (l->n == before) {
		struct table *t;
		if (table_list_add(l, &t, "KV rows kept per layer") || table_col_add(t, "layer", true) < 0 ||
		    table_note(t, "(no layer counts%s%s: kvlab run records them from this version on)",
			       o->task_prefix ? " for task " : "", o->task_prefix ? o->task_prefix : ""))
			return oom(err, errlen);
	}
	return tie_table(s, o, l, err, errlen);
}
