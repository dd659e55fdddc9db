/* kvlab plot sweep: a score heatmap of a sweep's grid (results/report.h's pivot), through the
 * one gnuplot runner. Pure function of the database. */
#include "results/plot.h"

#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "results/gnuplot.h" // gp_begin, gp_quote, gp_finish
#include "results/report.h"  // sweep_table_load
#include "results/store.h"   // store_open_read, store_query

/* True when word (len n) is one of the space-separated words of text. */
static bool has_word(const char *text, const char *word, size_t n)
{
	for (const char *p = text; *p;) {
		size_t k = strcspn(p, " ");
		if (k == n && strncmp(p, word, n) == 0)
			return true;
		p += k;
		p += *p == ' ';
	}
	return false;
}

/* True when the word "key=value" has a key among the axes ("a, b, c"). */
static bool is_axis(const char *axes, const char *word, size_t n)
{
	size_t klen = strcspn(word, "=");
	if (klen >= n)
		return false;
	for (const char *p = axes; *p;) {
		size_t k = strcspn(p, ",");
		if (k == klen && strncmp(p, word, k) == 0)
			return true;
		p += k;
		while (*p == ',' || *p == ' ')
			p++;
	}
	return false;
}

/* Writes into buf the words of the method labels (l) that every run of the drawn cells
 * (other values grp) shares, less the swept axes: the method and its fixed non-default
 * parameters. */
static int common_label(struct store *s, const struct sweep_table *t, const char *grp, const struct plot_labeler *l,
			char *buf, size_t len, char *err, size_t errlen)
{
	static const char *sql = "SELECT r.method, r.method_json FROM sweep_runs sr JOIN runs r ON r.run_id = sr.run_id"
				 " WHERE sr.sweep_id IN (SELECT value FROM json_each(?1)) AND json_remove(sr.point_json, ?2, ?3) = ?4";
	char px[80], py[80], first[512] = "", label[512];
	sqlite3_stmt *q = NULL;
	int rc, n = 0;
	snprintf(px, sizeof(px), "$.\"%s\"", t->x);
	snprintf(py, sizeof(py), "$.\"%s\"", t->y[0] ? t->y : "-none-");
	buf[0] = '\0';
	if ((rc = store_query(s, sql, t->ids, px, &q, "reading the sweep's runs", err, errlen)))
		return rc;
	sqlite3_bind_text(q, 3, py, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 4, grp, -1, SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		plot_method_label(s, l, (const char *)sqlite3_column_text(q, 0), (const char *)sqlite3_column_text(q, 1), label,
				  sizeof(label));
		if (n++ == 0) {
			snprintf(first, sizeof(first), "%s", label);
			continue;
		}
		/* blank out the words of first that label lacks */
		for (char *p = first; *p;) {
			size_t k = strcspn(p, " ");
			if (!has_word(label, p, k))
				memset(p, ' ', k);
			p += k;
			p += *p == ' ';
		}
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return store_err(s, "reading the sweep's runs", err, errlen);
	size_t o = 0;
	for (const char *p = first; *p;) {
		size_t k = strcspn(p, " ");
		if (k && !is_axis(t->axes, p, k) && o + k + 2 < len)
			o += (size_t)snprintf(buf + o, len - o, "%s%.*s", o ? " " : "", (int)k, p);
		p += k;
		p += *p == ' ';
	}
	return 0;
}

/* Writes the other swept values grp ({"k":v,...}, as the sweep's points hold them) into buf as
 * words "k=v", leaving out those label already says (method=M where label is M's). */
static void fixed_words(const char *grp, const char *label, char *buf, size_t len)
{
	char words[512];
	size_t k = 0, o = 0;
	for (const char *p = grp; *p && k + 1 < sizeof(words); p++) {
		if (*p == '{' || *p == '}' || *p == '"')
			continue;
		words[k++] = *p == ':' ? '=' : *p == ',' ? ' ' : *p;
	}
	words[k] = '\0';
	buf[0] = '\0';
	size_t mlen = strcspn(label, " ");
	for (const char *p = words; *p;) {
		size_t n = strcspn(p, " ");
		bool said = has_word(label, p, n) ||
			    (n == 7 + mlen && strncmp(p, "method=", 7) == 0 && strncmp(p + 7, label, mlen) == 0);
		if (n && !said && o + n + 2 < len)
			o += (size_t)snprintf(buf + o, len - o, "%s%.*s", o ? " " : "", (int)n, p);
		p += n;
		p += *p == ' ';
	}
}

int plot_sweep(const char *db, const struct sweep_query *q, const char *other, const struct plot_labeler *labels,
	       const char *out, char *err, size_t errlen)
{
	struct store *s = NULL;
	struct sweep_table t = { 0 };
	struct gp_run g;
	char **xs = NULL, **ys = NULL;
	int nx = 0, ny = 0, rc;
	if ((rc = store_open_read(db, &s, err, errlen)) || (rc = sweep_table_load(s, q, &t, err, errlen)))
		goto out;
	if (t.n == 0) {
		rc = kv_errf(err, errlen, KV_EINVAL, "--sweep %s: no runs recorded yet", t.label);
		goto out;
	}
	const char *grp = other ? other : t.c[0].other;
	bool many = false;
	for (int i = 0; i < t.n; i++)
		many = many || strcmp(t.c[i].other, grp) != 0;
	if ((rc = sweep_table_axes(&t, grp, &xs, &nx, &ys, &ny))) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = gp_begin(&g, out, GP_PNG | GP_SVG | GP_PDF, err, errlen)))
		goto out;
	/* the cells inline ("x_index y_index mean"), so the script is the whole figure */
	FILE *d = g.f;
	int n_min = 1 << 30, n_max = 0;
	fprintf(d, "$cells << EOD\n");
	for (int j = 0; j < ny; j++)
		for (int i = 0; i < nx; i++) {
			const struct sweep_cell *c = sweep_table_cell(&t, grp, xs[i], ys[j]);
			if (!c || !c->n)
				continue;
			fprintf(d, "%d %d %.17g\n", i, j, c->mean);
			n_min = c->n < n_min ? c->n : n_min;
			n_max = c->n > n_max ? c->n : n_max;
		}
	fprintf(d, "EOD\n");
	char title[2048], nn[64], model[256], method[512], words[512], fixed[600] = "";
	if ((rc = common_label(s, &t, grp, labels, method, sizeof(method), err, errlen))) {
		gp_abort(&g);
		goto out;
	}
	plot_model_name(t.model, model, sizeof(model));
	if (n_min == n_max)
		snprintf(nn, sizeof(nn), "%d samples per cell", n_max);
	else
		snprintf(nn, sizeof(nn), "%d\xE2\x80\x93%d samples per cell", n_min, n_max);
	fixed_words(grp, method, words, sizeof(words));
	if (words[0] || many)
		snprintf(fixed, sizeof(fixed), " \xC2\xB7 %s%s", words, many ? " (one of several)" : "");
	snprintf(title, sizeof(title), "%s \xC2\xB7 %s \xC2\xB7 %s%s\nmean %s \xC2\xB7 %s", model, t.task,
		 method[0] ? method : "(methods vary)", fixed, t.metric, nn);
	FILE *f = g.f;
	gp_terminal(&g, 1200, 900, 16);
	gp_set_output(&g);
	fprintf(f, "set title ");
	gp_quote_lines(f, title);
	fprintf(f, " noenhanced\nset xlabel ");
	gp_quote(f, t.x);
	fprintf(f, " noenhanced\nset ylabel ");
	gp_quote(f, t.y[0] ? t.y : "");
	fprintf(f, " noenhanced\nset palette defined (0 '#F0496E', 0.5 '#EBB839', 1 '#0CD79F')\nset cbrange [0:*]\n"
		   "set xrange [-0.5:%d.5]\nset yrange [-0.5:%d.5]\nset xtics (", nx - 1, ny - 1);
	for (int i = 0; i < nx; i++) {
		fprintf(f, "%s", i ? ", " : "");
		gp_quote(f, xs[i]);
		fprintf(f, " %d", i);
	}
	fprintf(f, ")\nset ytics (");
	for (int j = 0; j < ny; j++) {
		fprintf(f, "%s", j ? ", " : "");
		gp_quote(f, ys[j]);
		fprintf(f, " %d", j);
	}
	fprintf(f, ")\nplot $cells using 1:2:(0.5):(0.5):3 with boxxyerror fillstyle solid 1.0 noborder fillcolor palette notitle, \\\n"
		   "     $cells using 1:2:(sprintf('%%.3f', $3)) with labels notitle\n");
	rc = gp_finish(&g, err, errlen);
out:
	for (int i = 0; i < nx; i++)
		free(xs[i]);
	for (int i = 0; i < ny; i++)
		free(ys[i]);
	free(xs);
	free(ys);
	sweep_table_free(&t);
	store_close(s);
	return rc;
}
