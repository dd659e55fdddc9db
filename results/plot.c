/* Needle heatmap (results/plot.h): the database's needle samples pivoted into mean `overlap`
 * per (depth, context length) and drawn by gnuplot, as FastKV's eval/visualize.py draws it
 * with seaborn (../shared/spec/eval.md 4.7), each cell printing its value; several runs as small
 * multiples over one colour bar. Through the one gnuplot runner (gnuplot.h); data inline. */
#include "results/plot.h"

#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"      // defines: kv_errf, KV_E*
#include "results/gnuplot.h" // gp_begin, gp_quote, gp_finish
#include "results/store.h"   // store_open_read

// ----------------------------------------------------------------------------
// reading the database

struct needle_cell {
	int len, depth;
	double sum;
	int n;
};

struct needle_data {
	struct needle_cell *cells; /* (n_cells,) one per (len, depth) present */
	int n_cells;
	int *lens, n_lens;         /* ascending */
	int *depths, n_depths;     /* ascending */
	double total;              /* sum of overlap over all samples */
	int n_samples;
};

static void needle_data_free(struct needle_data *d)
{
	free(d->cells);
	free(d->lens);
	free(d->depths);
	memset(d, 0, sizeof(*d));
}

/* A run picked for a panel: what the summary says plus what its title needs. */
struct needle_run {
	struct plot_needle_summary sum;
	char model[512];
	char method_json[2048];
};

static int db_fail(sqlite3 *db, const char *path, const char *what, char *err, size_t errlen)
{
	return kv_errf(err, errlen, KV_EIO, "--db %s: %s: %s", path, what, sqlite3_errmsg(db));
}

/* Lists the needle runs matching method and prefix (NULL = any) as lines "\n  id method params
 * model N samples date" into list; *n is their count and *first the oldest one. */
static int query_runs(sqlite3 *db, const char *path, const char *method, const char *prefix, char *list, size_t listlen,
		      int *n, struct needle_run *first, char *err, size_t errlen)
{
	static const char *sql =
		"SELECT r.run_id, r.method, r.method_json, r.model_path, r.created_at,"
		" (SELECT count(*) FROM samples s WHERE s.run_id = r.run_id)"
		" FROM runs r WHERE r.task = 'needle' AND (?1 IS NULL OR r.method = ?1)"
		" AND (?2 IS NULL OR substr(r.run_id, 1, length(?2)) = ?2) ORDER BY r.created_at, r.run_id";
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return strstr(sqlite3_errmsg(db), "no such table")
			       ? kv_errf(err, errlen, KV_EFORMAT, "--db %s: not a kvlab results database (%s)", path,
					 sqlite3_errmsg(db))
			       : db_fail(db, path, "reading runs", err, errlen);
	sqlite3_bind_text(st, 1, method, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, prefix, -1, SQLITE_STATIC);
	size_t used = 0;
	int rc;
	list[0] = '\0';
	*n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0), *m = (const char *)sqlite3_column_text(st, 1);
		const char *mjson = (const char *)sqlite3_column_text(st, 2), *model = (const char *)sqlite3_column_text(st, 3);
		const char *created = (const char *)sqlite3_column_text(st, 4);
		const char *base = model && strrchr(model, '/') ? strrchr(model, '/') + 1 : model;
		if (*n == 0) {
			snprintf(first->sum.run_id, sizeof(first->sum.run_id), "%s", id ? id : "");
			snprintf(first->sum.method, sizeof(first->sum.method), "%s", m ? m : "");
			snprintf(first->model, sizeof(first->model), "%s", model ? model : "");
			snprintf(first->method_json, sizeof(first->method_json), "%s", mjson ? mjson : "");
		}
		if (used < listlen)
			used += (size_t)snprintf(list + used, listlen - used, "\n  %.12s  %s %s  %s  %d samples  %s", id ? id : "",
						 m ? m : "", mjson ? mjson : "", base ? base : "", sqlite3_column_int(st, 5),
						 created ? created : "");
		(*n)++;
	}
	rc = rc == SQLITE_DONE ? 0 : db_fail(db, path, "reading runs", err, errlen);
	sqlite3_finalize(st);
	return rc;
}

/* Picks the one needle run that matches o's method and prefix (one entry of --run, or
 * NULL); lists the candidates otherwise. */
static int find_run(sqlite3 *db, const struct plot_needle_opts *o, const char *prefix, struct needle_run *run, char *err,
		    size_t errlen)
{
	char list[2048], filt[512] = "";
	int n = 0, rc;
	if ((rc = query_runs(db, o->db_path, o->method, prefix, list, sizeof(list), &n, run, err, errlen)) != 0)
		return rc;
	if (n == 1)
		return 0;
	if (o->method || prefix)
		snprintf(filt, sizeof(filt), " matching%s%s%s%s", o->method ? " --method " : "", o->method ? o->method : "",
			 prefix ? " --run " : "", prefix ? prefix : "");
	if (n > 1)
		return kv_errf(err, errlen, KV_EINVAL, "--db %s: %d needle runs%s; pick one with --run RUN_ID_PREFIX or --method NAME:%s",
			       o->db_path, n, filt, list);
	if (!o->method && !prefix)
		return kv_errf(err, errlen, KV_EINVAL, "--db %s: no needle run (kvlab run --task needle writes them)", o->db_path);
	struct needle_run any;
	if ((rc = query_runs(db, o->db_path, NULL, NULL, list, sizeof(list), &n, &any, err, errlen)) != 0)
		return rc;
	return kv_errf(err, errlen, KV_EINVAL, "--db %s: no needle run%s; the needle runs there:%s", o->db_path, filt,
		       n ? list : " none");
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* Adds v to the sorted-later set s[0..*n) unless present. */
static void add_unique(int *s, int *n, int v)
{
	for (int i = 0; i < *n; i++)
		if (s[i] == v)
			return;
	s[(*n)++] = v;
}

static int load_cells(sqlite3 *db, const char *path, const char *run_id, struct needle_data *d, char *err, size_t errlen)
{
	static const char *sql =
		"SELECT json_extract(s.meta_json, '$.context_length'), json_extract(s.meta_json, '$.depth_percent'), c.value,"
		" s.sample_id FROM samples s JOIN scores c ON c.run_id = s.run_id AND c.sample_id = s.sample_id"
		" AND c.metric = 'overlap' WHERE s.run_id = ?1";
	sqlite3_stmt *st = NULL;
	int cap = 0, rc;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, path, "reading samples", err, errlen);
	sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_type(st, 0) != SQLITE_INTEGER || sqlite3_column_type(st, 1) != SQLITE_INTEGER) {
			rc = kv_errf(err, errlen, KV_EFORMAT,
				     "--db %s: run %.12s sample '%s': meta_json lacks integer context_length/depth_percent", path,
				     run_id, (const char *)sqlite3_column_text(st, 3));
			goto out;
		}
		int len = sqlite3_column_int(st, 0), depth = sqlite3_column_int(st, 1);
		double v = sqlite3_column_double(st, 2);
		int i = 0;
		while (i < d->n_cells && (d->cells[i].len != len || d->cells[i].depth != depth))
			i++;
		if (i == d->n_cells) {
			if (d->n_cells == cap) {
				cap = cap ? 2 * cap : 64;
				struct needle_cell *nc = realloc(d->cells, (size_t)cap * sizeof(*nc));
				if (!nc) {
					rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
					goto out;
				}
				d->cells = nc;
			}
			d->cells[d->n_cells++] = (struct needle_cell){ len, depth, 0.0, 0 };
		}
		d->cells[i].sum += v;
		d->cells[i].n++;
		d->total += v;
		d->n_samples++;
	}
	if (rc != SQLITE_DONE) {
		rc = db_fail(db, path, "reading samples", err, errlen);
		goto out;
	}
	if (d->n_samples == 0) {
		rc = kv_errf(err, errlen, KV_EINVAL, "--db %s: needle run %.12s has no samples with an overlap score yet", path,
			     run_id);
		goto out;
	}
	d->lens = malloc((size_t)d->n_cells * sizeof(int));
	d->depths = malloc((size_t)d->n_cells * sizeof(int));
	if (!d->lens || !d->depths) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < d->n_cells; i++) {
		add_unique(d->lens, &d->n_lens, d->cells[i].len);
		add_unique(d->depths, &d->n_depths, d->cells[i].depth);
	}
	qsort(d->lens, (size_t)d->n_lens, sizeof(int), cmp_int);
	qsort(d->depths, (size_t)d->n_depths, sizeof(int), cmp_int);
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

// ----------------------------------------------------------------------------
// drawing

void plot_needle_length_labels(const int *lens, int n, char (*labels)[16])
{
	bool official = true;
	for (int i = 0; i < n; i++) {
		snprintf(labels[i], 16, "%dk", (lens[i] + 200) / 1000);
		official = official && (lens[i] + 200) / 1000 > 0;
		for (int j = 0; j < i; j++)
			official = official && strcmp(labels[i], labels[j]) != 0;
	}
	if (!official)
		for (int i = 0; i < n; i++)
			snprintf(labels[i], 16, "%d", lens[i]);
}

static int index_of(const int *v, int n, int x)
{
	for (int i = 0; i < n; i++)
		if (v[i] == x)
			return i;
	return -1;
}

/* The heatmap's palette, visualize.py's: value 0, 0.5 and 1. */
static const unsigned palette_rgb[3] = { 0xF0496E, 0xEBB839, 0x0CD79F };

/* The colour for a cell's label on top of the palette's colour at v (0..1), as an RGB
 * integer: black or white, whichever contrasts more with the cell (WCAG contrast ratio:
 * black wins above a relative luminance of about 0.18). */
static unsigned label_colour(double v)
{
	v = v < 0 ? 0 : v > 1 ? 1 : v;
	int seg = v < 0.5 ? 0 : 1;
	double t = (v - 0.5 * seg) * 2, lum = 0;
	static const double weight[3] = { 0.2126, 0.7152, 0.0722 };
	for (int c = 0; c < 3; c++) {
		int sh = 16 - 8 * c;
		double a = (palette_rgb[seg] >> sh) & 0xFF, b = (palette_rgb[seg + 1] >> sh) & 0xFF;
		double x = (a + (b - a) * t) / 255.0;
		lum += weight[c] * (x <= 0.04045 ? x / 12.92 : pow((x + 0.055) / 1.055, 2.4));
	}
	return (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) ? 0x000000 : 0xFFFFFF;
}

/* Writes data block $cellsK: "length_index depth_index mean n label_rgb" per cell. */
static void write_cells(FILE *f, int k, const struct needle_data *d)
{
	fprintf(f, "$cells%d << EOD\n", k);
	for (int i = 0; i < d->n_cells; i++) {
		const struct needle_cell *c = &d->cells[i];
		double mean = c->sum / c->n;
		fprintf(f, "%d %d %.17g %d %u\n", index_of(d->lens, d->n_lens, c->len), index_of(d->depths, d->n_depths, c->depth),
			mean, c->n, label_colour(mean));
	}
	fprintf(f, "EOD\n");
}

/* Writes one heatmap panel of run k: axes, tics and the plot (cells, outlines, values). */
static int write_panel(FILE *f, int k, const struct needle_data *d, int label_pt, char *err, size_t errlen)
{
	char(*labels)[16] = malloc((size_t)d->n_lens * sizeof(*labels));
	if (!labels)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	plot_needle_length_labels(d->lens, d->n_lens, labels);
	fprintf(f, "set xrange [-0.5:%d.5]\nset yrange [%d.5:-0.5]\n" /* depth 0 at the top */
		   "set xtics rotate by 45 right (",
		d->n_lens - 1, d->n_depths - 1);
	for (int i = 0; i < d->n_lens; i++)
		fprintf(f, "%s'%s' %d", i ? ", " : "", labels[i], i);
	fprintf(f, ")\nset ytics (");
	for (int i = 0; i < d->n_depths; i++)
		fprintf(f, "%s'%d' %d", i ? ", " : "", d->depths[i], i);
	/* filled cells, their 0.5-wide grey dashed outlines, then each cell's value */
	fprintf(f, ")\nplot $cells%d using 1:2:(0.5):(0.5):3 with boxxyerror fillstyle solid 1.0 noborder fillcolor palette, \\\n"
		   "     $cells%d using 1:2:(0.5):(0.5) with boxxyerror fillstyle empty lc rgb '#808080' lw 0.5 dt 2, \\\n"
		   "     $cells%d using 1:2:(sprintf('%%.2f', $3)):5 with labels tc rgb variable font ',%d'\n",
		k, k, k, label_pt);
	free(labels);
	return 0;
}

/* Point size for the cell values: about a fifth of a cell's width in pixels, 7 to 16. */
static int label_size(int panel_w_px, int panel_h_px, const struct needle_data *d)
{
	double w = (double)panel_w_px / d->n_lens / 4.5, h = (double)panel_h_px / d->n_depths / 2.2;
	double pt = w < h ? w : h;
	return pt < 7 ? 7 : pt > 16 ? 16 : (int)pt;
}

/* Writes the whole script to g->f: one heatmap, or n small multiples sharing a colour bar. */
static int write_script(struct gp_run *g, const struct needle_run *runs, const struct needle_data *d, int n, char *err,
			size_t errlen)
{
	FILE *f = g->f;
	char model[256], title[1024];
	int rc;
	plot_model_name(runs[0].model, model, sizeof(model));
	bool one_model = true;
	for (int k = 1; k < n; k++)
		one_model = one_model && strcmp(runs[k].model, runs[0].model) == 0;
	/* small multiples, in pixels: the figure title, then per row a two-line panel title, the
	 * panel, its rotated length tics and axis label; the y labels left, the colour bar right */
	const int title_px = 70, ptitle_px = 70, plot_w = 430, plot_h = 330, xaxis_px = 115, left_px = 110, gap_px = 120,
		  bar_px = 190;
	int cols = n <= 3 ? n : n == 4 ? 2 : 3, rows = (n + cols - 1) / cols;
	int panel_w = n == 1 ? 1050 : plot_w, panel_h = n == 1 ? 560 : plot_h;
	int width = n == 1 ? 1350 : left_px + cols * plot_w + (cols - 1) * gap_px + bar_px;
	int height = n == 1 ? 800 : title_px + rows * (ptitle_px + plot_h + xaxis_px);
	/* visualize.py: 13.5 x 8 in figure, font size 23 */
	gp_terminal(g, width, height, n == 1 ? 20 : 15);
	gp_set_output(g);
	for (int k = 0; k < n; k++)
		write_cells(f, k, &d[k]);
	fprintf(f, "set cbrange [0:1]\nset cbtics 0.2\nset cblabel 'Score'\n"
		   "set palette defined (0 '#%06X', 0.5 '#%06X', 1 '#%06X')\n"
		   "set tics scale 0\nset border 0\nunset key\n"
		   "set xlabel 'Context Length'\nset ylabel 'Depth Percent'\n",
		palette_rgb[0], palette_rgb[1], palette_rgb[2]);
	if (n == 1) {
		snprintf(title, sizeof(title), "%s \xC2\xB7 %s \xC2\xB7 %d samples\nAverage Score = %.3f", model, runs[0].sum.label,
			 runs[0].sum.n_samples, runs[0].sum.average);
		fprintf(f, "set title ");
		gp_quote_lines(f, title);
		fprintf(f, " noenhanced\n");
		return write_panel(f, 0, &d[0], label_size(panel_w, panel_h, &d[0]), err, errlen);
	}
	snprintf(title, sizeof(title), "%s \xC2\xB7 needle \xC2\xB7 mean overlap per cell", one_model ? model : "several models");
	/* equal panels on the left 88%, the one colour bar at the right edge */
	fprintf(f, "set multiplot layout %d,%d title ", rows, cols);
	gp_quote_lines(f, title);
	fprintf(f, " noenhanced font ',18' margins screen %.4f, screen %.4f, screen %.4f, screen %.4f spacing screen %.4f, screen %.4f\n",
		(double)left_px / width, 1.0 - (double)bar_px / width, (double)xaxis_px / height,
		1.0 - (double)(title_px + ptitle_px) / height, (double)gap_px / width, (double)(xaxis_px + ptitle_px) / height);
	for (int k = 0; k < n; k++) {
		char m[256] = "";
		if (!one_model)
			plot_model_name(runs[k].model, m, sizeof(m));
		snprintf(title, sizeof(title), "%s%s%s\n%d samples \xC2\xB7 Average Score = %.3f", m, m[0] ? " \xC2\xB7 " : "",
			 runs[k].sum.label, runs[k].sum.n_samples, runs[k].sum.average);
		fprintf(f, "set title ");
		gp_quote_lines(f, title);
		fprintf(f, " noenhanced font ',14'\n");
		if (k == n - 1)
			fprintf(f, "set colorbox user origin screen %.4f, screen %.4f size screen %.4f, screen %.4f\n",
				1.0 - (bar_px - 45.0) / width, (double)xaxis_px / height, 22.0 / width,
				1.0 - (double)(title_px + ptitle_px + xaxis_px) / height);
		else
			fprintf(f, "unset colorbox\n");
		if ((rc = write_panel(f, k, &d[k], label_size(panel_w, panel_h, &d[k]), err, errlen)))
			return rc;
	}
	fprintf(f, "unset multiplot\n");
	return 0;
}

// ----------------------------------------------------------------------------
// entry point

/* Splits o->run_prefix at commas into prefixes (pointers into buf); NULL stands for "any
 * run" when none was given. */
static int split_runs(const char *spec, char *buf, size_t len, const char **prefix, int *n, char *err, size_t errlen)
{
	*n = 0;
	if (!spec) {
		prefix[(*n)++] = NULL;
		return 0;
	}
	if (strlen(spec) >= len)
		return kv_errf(err, errlen, KV_EINVAL, "--run: too long (at most %zu characters)", len - 1);
	snprintf(buf, len, "%s", spec);
	for (char *p = buf, *next; p; p = next) {
		if ((next = strchr(p, ',')))
			*next++ = '\0';
		if (!*p)
			return kv_errf(err, errlen, KV_EINVAL, "--run %s: expected RUN_ID_PREFIX[,RUN_ID_PREFIX...] without empty entries",
				       spec);
		if (*n == PLOT_NEEDLE_MAX_RUNS)
			return kv_errf(err, errlen, KV_EINVAL, "--run %s: at most %d runs in one figure", spec, PLOT_NEEDLE_MAX_RUNS);
		prefix[(*n)++] = p;
	}
	return 0;
}

int plot_needle(const struct plot_needle_opts *o, struct plot_needle_summary *sum, int *n_runs, char *err,
		size_t errlen)
{
	struct needle_run *runs = NULL;
	struct needle_data d[PLOT_NEEDLE_MAX_RUNS];
	const char *prefix[PLOT_NEEDLE_MAX_RUNS];
	char spec[1024];
	struct gp_run g;
	struct store *st = NULL;
	int rc, n = 0;
	memset(d, 0, sizeof(d));
	if ((rc = gp_check_out(o->out, GP_PNG | GP_SVG | GP_PDF, err, errlen)) ||
	    (rc = split_runs(o->run_prefix, spec, sizeof(spec), prefix, &n, err, errlen)))
		return rc;
	if (!(runs = calloc((size_t)n, sizeof(*runs))))
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	if ((rc = store_open_read(o->db_path, &st, err, errlen)))
		goto out_runs;
	sqlite3 *db = st->db;
	for (int k = 0; k < n; k++) {
		struct needle_run *r = &runs[k];
		if ((rc = find_run(db, o, prefix[k], r, err, errlen)) != 0 ||
		    (rc = load_cells(db, o->db_path, r->sum.run_id, &d[k], err, errlen)) != 0)
			goto out_db;
		for (int j = 0; j < k; j++)
			if (strcmp(runs[j].sum.run_id, r->sum.run_id) == 0) {
				rc = kv_errf(err, errlen, KV_EINVAL, "--run %s: %s and %s name the same run %.12s", o->run_prefix,
					     prefix[j], prefix[k], r->sum.run_id);
				goto out_db;
			}
		r->sum.n_samples = d[k].n_samples;
		r->sum.n_lengths = d[k].n_lens;
		r->sum.n_depths = d[k].n_depths;
		r->sum.average = d[k].total / d[k].n_samples;
		plot_method_label(st, &o->labels, r->sum.method, r->method_json, r->sum.label, sizeof(r->sum.label));
	}
	if ((rc = gp_begin(&g, o->out, GP_PNG | GP_SVG | GP_PDF, err, errlen)))
		goto out_db;
	if ((rc = write_script(&g, runs, d, n, err, errlen))) {
		gp_abort(&g);
		goto out_db;
	}
	if ((rc = gp_finish(&g, err, errlen)) == 0) {
		for (int k = 0; k < n; k++)
			sum[k] = runs[k].sum;
		*n_runs = n;
	}
out_db:
	for (int k = 0; k < n; k++)
		needle_data_free(&d[k]);
	store_close(st);
out_runs:
	free(runs);
	return rc;
}
