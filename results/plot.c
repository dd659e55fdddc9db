/* Needle heatmap (results/plot.h): the database's needle samples pivoted into mean `overlap`
 * per (depth, context length) and drawn by gnuplot, as FastKV's eval/visualize.py draws it
 * with seaborn (../shared/spec/eval.md 4.7), through the one gnuplot runner (gnuplot.h). */
#include "results/plot.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

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

static int db_fail(sqlite3 *db, const char *path, const char *what, char *err, size_t errlen)
{
	return kv_errf(err, errlen, KV_EIO, "--db %s: %s: %s", path, what, sqlite3_errmsg(db));
}

/* Lists the needle runs matching method and prefix (NULL = any) as lines "\n  id method params
 * model N samples date" into list; *n is their count and *first the oldest one. */
static int query_runs(sqlite3 *db, const char *path, const char *method, const char *prefix, char *list, size_t listlen,
		      int *n, struct plot_needle_summary *first, char *err, size_t errlen)
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
			snprintf(first->run_id, sizeof(first->run_id), "%s", id ? id : "");
			snprintf(first->method, sizeof(first->method), "%s", m ? m : "");
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

/* Picks the one needle run that matches o's filters; lists the candidates otherwise. */
static int find_run(sqlite3 *db, const struct plot_needle_opts *o, struct plot_needle_summary *sum, char *err, size_t errlen)
{
	char list[2048], filt[512] = "";
	int n = 0, rc;
	if ((rc = query_runs(db, o->db_path, o->method, o->run_prefix, list, sizeof(list), &n, sum, err, errlen)) != 0)
		return rc;
	if (n == 1)
		return 0;
	if (o->method || o->run_prefix)
		snprintf(filt, sizeof(filt), " matching%s%s%s%s", o->method ? " --method " : "", o->method ? o->method : "",
			 o->run_prefix ? " --run " : "", o->run_prefix ? o->run_prefix : "");
	if (n > 1)
		return kv_errf(err, errlen, KV_EINVAL, "--db %s: %d needle runs%s; pick one with --run RUN_ID_PREFIX or --method NAME:%s",
			       o->db_path, n, filt, list);
	if (!o->method && !o->run_prefix)
		return kv_errf(err, errlen, KV_EINVAL, "--db %s: no needle run (kvlab run --task needle writes them)", o->db_path);
	struct plot_needle_summary any;
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

/* Writes the cells to the scratch folder and the heatmap script to g->f. */
static int write_inputs(struct gp_run *g, const struct needle_data *d, const struct plot_needle_summary *sum, char *err,
			size_t errlen)
{
	char path[4400];
	gp_scratch_path(g, "cells.dat", path, sizeof(path));
	FILE *f = fopen(path, "w");
	if (!f)
		return kv_errf(err, errlen, KV_EIO, "%s: cannot write (%s)", path, strerror(errno));
	fprintf(f, "# length_index depth_index mean_overlap n context_length depth_percent\n");
	for (int i = 0; i < d->n_cells; i++) {
		const struct needle_cell *c = &d->cells[i];
		fprintf(f, "%d %d %.17g %d %d %d\n", index_of(d->lens, d->n_lens, c->len), index_of(d->depths, d->n_depths, c->depth),
			c->sum / c->n, c->n, c->len, c->depth);
	}
	if (fclose(f) != 0)
		return kv_errf(err, errlen, KV_EIO, "%s: cannot write (%s)", path, strerror(errno));

	f = g->f;
	char (*labels)[16] = malloc((size_t)d->n_lens * sizeof(*labels)), title[256];
	if (!labels)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	plot_needle_length_labels(d->lens, d->n_lens, labels);
	/* visualize.py: 13.5 x 8 in figure, font size 23 */
	fprintf(f, "set encoding utf8\n");
	if (g->svg)
		fprintf(f, "set terminal svg size 1350,800 dynamic font 'Sans,20' background rgb 'white'\n");
	else
		fprintf(f, "set terminal pngcairo size 1350,800 font 'Sans,20' background rgb 'white'\n");
	gp_set_output(g);
	snprintf(title, sizeof(title), "%s \xE2\x80\x94 Average Score = %.3f", sum->method, sum->average);
	fprintf(f, "set title ");
	gp_quote(f, title);
	fprintf(f, " noenhanced\n"
		   "set xlabel 'Context Length'\nset ylabel 'Depth Percent'\nset cblabel 'Score'\n"
		   "set cbrange [0:1]\nset cbtics 0.2\n"
		   "set palette defined (0 '#F0496E', 0.5 '#EBB839', 1 '#0CD79F')\n"
		   "set xrange [-0.5:%d.5]\nset yrange [%d.5:-0.5]\n" /* depth 0 at the top */
		   "set tics scale 0\nset border 0\nunset key\n",
		d->n_lens - 1, d->n_depths - 1);
	fprintf(f, "set xtics rotate by 45 right (");
	for (int i = 0; i < d->n_lens; i++)
		fprintf(f, "%s'%s' %d", i ? ", " : "", labels[i], i);
	fprintf(f, ")\nset ytics (");
	for (int i = 0; i < d->n_depths; i++)
		fprintf(f, "%s'%d' %d", i ? ", " : "", d->depths[i], i);
	fprintf(f, ")\nplot ");
	gp_quote(f, path);
	/* filled cells, then their 0.5-wide grey dashed outlines */
	fprintf(f, " using 1:2:(0.5):(0.5):3 with boxxyerror fillstyle solid 1.0 noborder fillcolor palette, \\\n"
		   "     '' using 1:2:(0.5):(0.5) with boxxyerror fillstyle empty lc rgb '#808080' lw 0.5 dt 2\n");
	free(labels);
	return 0;
}

// ----------------------------------------------------------------------------
// entry point

int plot_needle(const struct plot_needle_opts *o, struct plot_needle_summary *sum, char *err, size_t errlen)
{
	struct plot_needle_summary s = { 0 };
	struct needle_data d = { 0 };
	struct gp_run g;
	struct store *st = NULL;
	int rc;
	size_t olen = o->out ? strlen(o->out) : 0;
	if (!(olen > 4 && (strcasecmp(o->out + olen - 4, ".svg") == 0 || strcasecmp(o->out + olen - 4, ".png") == 0)))
		return kv_errf(err, errlen, KV_EINVAL, "--out: expected a file name ending in .png or .svg, got '%s'",
			       o->out ? o->out : "");
	if ((rc = store_open_read(o->db_path, &st, err, errlen)))
		return rc;
	sqlite3 *db = st->db;
	if ((rc = find_run(db, o, &s, err, errlen)) != 0 || (rc = load_cells(db, o->db_path, s.run_id, &d, err, errlen)) != 0)
		goto out_db;
	s.n_samples = d.n_samples;
	s.n_lengths = d.n_lens;
	s.n_depths = d.n_depths;
	s.average = d.total / d.n_samples;
	if ((rc = gp_begin(&g, o->out, true, err, errlen)))
		goto out_db;
	if ((rc = write_inputs(&g, &d, &s, err, errlen))) {
		gp_abort(&g);
		goto out_db;
	}
	if ((rc = gp_finish(&g, err, errlen)) == 0)
		*sum = s;
out_db:
	needle_data_free(&d);
	store_close(st);
	return rc;
}
