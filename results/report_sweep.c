/* A sweep pivoted on two of its axes: mean score per (x, y) cell, one table per
 * combination of the other swept values. Pure function of the database. See report.h. */
#include "results/report.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "results/store.h"

/* Numbers in numeric order before text in byte order; NULL ("-") last. */
static int cmp_val(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	char *ex, *ey;
	double dx = strtod(x, &ex), dy = strtod(y, &ey);
	bool nx = *x && !*ex, ny = *y && !*ey;
	if (nx && ny)
		return (dx > dy) - (dx < dy);
	if (nx != ny)
		return nx ? -1 : 1;
	return strcmp(x, y);
}

/* Adds v to the distinct list vals (n entries); returns its index. */
static int intern(char ***vals, int *n, const char *v)
{
	for (int i = 0; i < *n; i++)
		if (!strcmp((*vals)[i], v))
			return i;
	char **p = realloc(*vals, sizeof(char *) * (size_t)(*n + 1));
	if (!p)
		return -1;
	*vals = p;
	if (!(p[*n] = strdup(v)))
		return -1;
	return (*n)++;
}

static void free_vals(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Is name[0..k) one of the axes of the ", "-separated list axes? (Both padded with ", "
 * and ",", so "rate" does not match inside "retain_rate".) */
static bool axis_listed(const char *axes, const char *name, size_t k)
{
	char padded[600], pat[80];
	snprintf(pat, sizeof(pat), ", %.*s,", (int)k, name);
	snprintf(padded, sizeof(padded), ", %s,", axes);
	return strstr(padded, pat) != NULL;
}

/* Adds each axis of list (", "-separated) that axes lacks. */
static void axes_union(char *axes, size_t len, const char *list)
{
	for (const char *p = list; *p;) {
		size_t k = strcspn(p, ",");
		if (!axis_listed(axes, p, k)) {
			size_t o = strlen(axes);
			snprintf(axes + o, len - o, "%s%.*s", o ? ", " : "", (int)k, p);
		}
		p += k;
		p += strspn(p, ", ");
	}
}

/* Resolves one --sweep prefix (NULL: the only sweep) to exactly one sweep of s and adds it to t. */
static int sweep_add(struct store *s, const char *prefix, struct sweep_table *t, int k, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc;
	if ((rc = store_query(s, "SELECT sweep_id, task, model_path, (SELECT group_concat(json_extract(value, '$[0]'), ', ') FROM"
				 " json_each(grid_json)) FROM sweeps WHERE ?1 IS NULL OR sweep_id LIKE ?1 || '%' ORDER BY created_at",
			      prefix, NULL, &st, "reading sweeps", err, errlen)))
		return rc;
	int n = 0;
	char ids[512] = "", id[65] = "", task[64] = "", model[256] = "", axes[512] = "";
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (n++ == 0) {
			snprintf(id, sizeof(id), "%s", sqlite3_column_text(st, 0));
			snprintf(task, sizeof(task), "%s", sqlite3_column_text(st, 1));
			snprintf(model, sizeof(model), "%s", sqlite3_column_text(st, 2));
			snprintf(axes, sizeof(axes), "%s", sqlite3_column_text(st, 3));
		}
		size_t o = strlen(ids);
		snprintf(ids + o, sizeof(ids) - o, "%s%.12s (%s)", o ? ", " : "", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	if (n != 1)
		return kv_errf(err, errlen, KV_EINVAL, "--sweep %s: %s in %s%s%s", prefix ? prefix : "(any)",
			       n ? "matches several sweeps; give a longer id prefix" : "no such sweep", s->path, n ? ": " : "", ids);
	if (k == 0) {
		snprintf(t->sweep_id, sizeof(t->sweep_id), "%s", id);
		snprintf(t->task, sizeof(t->task), "%s", task);
		snprintf(t->model, sizeof(t->model), "%s", model);
	} else if (strcmp(task, t->task) || strcmp(model, t->model))
		return kv_errf(err, errlen, KV_EINVAL, "--sweep: sweeps %.12s (%s, %s) and %.12s (%s, %s) differ in task or model; "
			       "pivot sweeps of one task and model together", t->sweep_id, t->task, t->model, id, task, model);
	if (strstr(t->ids, id))
		return 0; /* named twice */
	size_t o = strlen(t->ids), l = strlen(t->label);
	if (o + 70 >= sizeof(t->ids) || l + 14 >= sizeof(t->label))
		return kv_errf(err, errlen, KV_EINVAL, "--sweep: too many sweeps (at most 16)");
	snprintf(t->ids + o - (o ? 1 : 0), sizeof(t->ids) - o, "%s\"%s\"]", o ? "," : "[", id);
	snprintf(t->label + l, sizeof(t->label) - l, "%s%.12s", l ? "," : "", id);
	axes_union(t->axes, sizeof(t->axes), axes);
	return 0;
}

int sweep_table_load(struct store *s, const struct sweep_query *q, struct sweep_table *t, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc;
	memset(t, 0, sizeof(*t));
	/* --sweep: one id prefix, or several joined by commas */
	const char *p = q->sweep;
	for (int k = 0; k == 0 || p; k++) {
		char prefix[80];
		const char *one = NULL;
		if (p) {
			size_t len = strcspn(p, ",");
			if (len == 0 || len >= sizeof(prefix))
				return kv_errf(err, errlen, KV_EINVAL, "--sweep: expected an id prefix or prefixes joined by commas, got '%s'",
					       q->sweep);
			snprintf(prefix, sizeof(prefix), "%.*s", (int)len, p);
			one = prefix;
			p = p[len] ? p + len + 1 : NULL;
		}
		if ((rc = sweep_add(s, one, t, k, err, errlen)))
			return rc;
	}
	const char *x = q->x, *y = q->y;
	char ax[2][64] = { "", "" };
	if (!x) { /* the first two axes */
		sscanf(t->axes, "%63[^,], %63[^,]", ax[0], ax[1]);
		x = ax[0];
		y = y ? y : (ax[1][0] ? ax[1] : NULL);
	}
	const char *names[2] = { x, y };
	for (int i = 0; i < 2; i++) {
		if (!names[i])
			continue;
		if (!axis_listed(t->axes, names[i], strlen(names[i])) && !(strchr(t->label, ',') && !strcmp(names[i], "method")))
			return kv_errf(err, errlen, KV_EINVAL, "--%s %s: not an axis of sweep %s (axes: %s)", i ? "y" : "x", names[i],
				       t->label, t->axes);
	}
	snprintf(t->x, sizeof(t->x), "%s", x);
	snprintf(t->y, sizeof(t->y), "%s", y ? y : "");
	/* the metric: --metric, else overlap / score when present, else the most frequent */
	if (q->metric)
		snprintf(t->metric, sizeof(t->metric), "%s", q->metric);
	else {
		if ((rc = store_query(s, "SELECT metric FROM scores WHERE run_id IN (SELECT run_id FROM sweep_runs WHERE sweep_id IN"
					 " (SELECT value FROM json_each(?1))) GROUP BY metric"
					 " ORDER BY metric = 'overlap' DESC, metric = 'score' DESC, COUNT(*) DESC, metric LIMIT 1",
				      t->ids, NULL, &st, "reading scores", err, errlen)))
			return rc;
		if (sqlite3_step(st) == SQLITE_ROW)
			snprintf(t->metric, sizeof(t->metric), "%s", sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
	}
	char px[80], py[80];
	snprintf(px, sizeof(px), "$.\"%s\"", t->x);
	snprintf(py, sizeof(py), "$.\"%s\"", y ? y : "-none-");
	/* a point without the method axis (another sweep's) takes its run's method */
	const char *sql =
		"SELECT json_remove(r.point_json, ?2, ?3),"
		" CASE WHEN ?2 = '$.\"method\"' THEN coalesce(json_extract(r.point_json, ?2), u.method) ELSE json_extract(r.point_json, ?2) END,"
		" CASE WHEN ?3 = '$.\"method\"' THEN coalesce(json_extract(r.point_json, ?3), u.method) ELSE json_extract(r.point_json, ?3) END,"
		" AVG(c.value), COUNT(c.value), COUNT(DISTINCT r.run_id)"
		" FROM (SELECT DISTINCT run_id, point_json FROM sweep_runs WHERE sweep_id IN (SELECT value FROM json_each(?1))) r"
		" LEFT JOIN runs u ON u.run_id = r.run_id LEFT JOIN scores c ON c.run_id = r.run_id AND c.metric = ?4"
		" GROUP BY 1, 2, 3 ORDER BY 1";
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL))
		return store_err(s, "reading the sweep", err, errlen);
	sqlite3_bind_text(st, 1, t->ids, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, px, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, py, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, t->metric, -1, SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct sweep_cell *c = realloc(t->c, sizeof(*c) * (size_t)(t->n + 1));
		if (!c) {
			sqlite3_finalize(st);
			return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		}
		t->c = c;
		c = &t->c[t->n++];
		const char *v[3];
		for (int i = 0; i < 3; i++)
			v[i] = sqlite3_column_type(st, i) == SQLITE_NULL ? "-" : (const char *)sqlite3_column_text(st, i);
		snprintf(c->other, sizeof(c->other), "%s", v[0]);
		snprintf(c->x, sizeof(c->x), "%s", v[1]);
		snprintf(c->y, sizeof(c->y), "%s", v[2]);
		c->n = sqlite3_column_int(st, 4);
		c->mean = c->n ? sqlite3_column_double(st, 3) : NAN;
		if (sqlite3_column_int(st, 5) > 1) { /* sweeps with other fixed settings (--protocol, a fixed flag) */
			sqlite3_finalize(st);
			return kv_errf(err, errlen, KV_EINVAL,
				       "--sweep %s: several runs fall in one cell (%s, %s=%s, %s=%s): the sweeps differ in a setting "
				       "that is not an axis; pivot them separately", t->label, c->other, t->x, c->x, t->y[0] ? t->y : "-", c->y);
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return store_err(s, "reading the sweep", err, errlen);
	return 0;
}

void sweep_table_free(struct sweep_table *t)
{
	free(t->c);
	t->c = NULL;
	t->n = 0;
}

int sweep_table_axes(const struct sweep_table *t, const char *other, char ***xs, int *nx, char ***ys, int *ny)
{
	*xs = *ys = NULL;
	*nx = *ny = 0;
	for (int i = 0; i < t->n; i++)
		if (!strcmp(t->c[i].other, other) && (intern(xs, nx, t->c[i].x) < 0 || intern(ys, ny, t->c[i].y) < 0))
			return KV_ENOMEM;
	qsort(*xs, (size_t)*nx, sizeof(char *), cmp_val);
	qsort(*ys, (size_t)*ny, sizeof(char *), cmp_val);
	return 0;
}

const struct sweep_cell *sweep_table_cell(const struct sweep_table *t, const char *other, const char *x, const char *y)
{
	for (int i = 0; i < t->n; i++)
		if (!strcmp(t->c[i].other, other) && !strcmp(t->c[i].x, x) && !strcmp(t->c[i].y, y))
			return &t->c[i];
	return NULL;
}

/* A cell's axis value: a number as it is, text quoted, "-" (absent) as null. */
static void json_value(FILE *out, const char *v)
{
	char *end;
	strtod(v, &end);
	if (!strcmp(v, "-"))
		fputs("null", out);
	else if (*v && !*end)
		fputs(v, out);
	else
		fprintf(out, "\"%s\"", v);
}

static void json_cell(FILE *out, const struct sweep_table *t, const struct sweep_cell *c, bool first)
{
	fprintf(out, "%s\n  {\"fixed\": %s, \"%s\": ", first ? "" : ",", c->other, t->x);
	json_value(out, c->x);
	if (t->y[0]) {
		fprintf(out, ", \"%s\": ", t->y);
		json_value(out, c->y);
	}
	if (c->n)
		fprintf(out, ", \"%s\": %.6f, \"n\": %d}", t->metric, c->mean, c->n);
	else
		fprintf(out, ", \"%s\": null, \"n\": 0}", t->metric);
}

int report_sweep(struct store *s, FILE *out, const struct sweep_query *q, const char *format, char *err, size_t errlen)
{
	struct sweep_table t;
	char **others = NULL;
	int n_others = 0, rc;
	const char *fmt = format ? format : "md";
	if (strcmp(fmt, "md") && strcmp(fmt, "csv") && strcmp(fmt, "json"))
		return kv_errf(err, errlen, KV_EINVAL, "--format: expected md, csv or json, got '%s'", fmt);
	if ((rc = sweep_table_load(s, q, &t, err, errlen)))
		goto out;
	for (int i = 0; i < t.n; i++)
		if (intern(&others, &n_others, t.c[i].other) < 0) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
			goto out;
		}
	const char *model = strrchr(t.model, '/') ? strrchr(t.model, '/') + 1 : t.model;
	if (!strcmp(fmt, "json")) {
		fprintf(out, "{\"sweep\": %s%s%s, \"task\": \"%s\", \"model\": \"%s\", \"metric\": \"%s\", \"cells\": [",
			strchr(t.label, ',') ? "" : "\"", strchr(t.label, ',') ? t.ids : t.sweep_id, strchr(t.label, ',') ? "" : "\"",
			t.task, model, t.metric);
		for (int i = 0; i < t.n; i++)
			json_cell(out, &t, &t.c[i], i == 0);
		fprintf(out, "\n]}\n");
		goto out;
	}
	bool md = !strcmp(fmt, "md");
	if (md)
		fprintf(out, "sweep %s: task %s, model %s, mean %s (n = samples per cell)\n", t.label, t.task, model, t.metric);
	for (int g = 0; g < n_others; g++) {
		char **xs, **ys;
		int nx, ny;
		if (sweep_table_axes(&t, others[g], &xs, &nx, &ys, &ny)) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
			goto out;
		}
		if (md) {
			if (strcmp(others[g], "{}"))
				fprintf(out, "\n%s\n", others[g]);
			fprintf(out, "\n| %s \\ %s |", t.y[0] ? t.y : "", t.x);
			for (int i = 0; i < nx; i++)
				fprintf(out, " %s |", xs[i]);
			fprintf(out, "\n|---|");
			for (int i = 0; i < nx; i++)
				fprintf(out, "---:|");
			fputc('\n', out);
		} else {
			if (g == 0) {
				fprintf(out, "fixed,%s", t.y[0] ? t.y : "");
				for (int i = 0; i < nx; i++)
					fprintf(out, ",%s=%s", t.x, xs[i]);
				fputc('\n', out);
			}
		}
		for (int j = 0; j < ny; j++) {
			if (md)
				fprintf(out, "| %s |", ys[j]);
			else {
				fputc('"', out);
				for (const char *c = others[g]; *c; c++)
					fprintf(out, *c == '"' ? "\"\"" : "%c", *c);
				fprintf(out, "\",%s", ys[j]);
			}
			for (int i = 0; i < nx; i++) {
				const struct sweep_cell *c = sweep_table_cell(&t, others[g], xs[i], ys[j]);
				if (md)
					c && c->n ? fprintf(out, " %.4f (n=%d) |", c->mean, c->n) : fprintf(out, " – |");
				else
					c && c->n ? fprintf(out, ",%.6f", c->mean) : fprintf(out, ",");
			}
			fputc('\n', out);
		}
		free_vals(xs, nx);
		free_vals(ys, ny);
	}
out:
	free_vals(others, n_others);
	sweep_table_free(&t);
	return rc;
}
