/* kvlab plot sweep: a score heatmap of a sweep's grid (results/report.h's pivot), through the
 * one gnuplot runner. Pure function of the database. */
#include "results/plot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "results/gnuplot.h" // gp_begin, gp_quote, gp_finish
#include "results/report.h"  // sweep_table_load
#include "results/store.h"

int plot_sweep(const char *db, const struct sweep_query *q, const char *other, const char *out, char *err, size_t errlen)
{
	struct store *s = NULL;
	struct sweep_table t = { 0 };
	struct gp_run g;
	char **xs = NULL, **ys = NULL, path[4400];
	int nx = 0, ny = 0, rc;
	if ((rc = store_open_read(db, &s, err, errlen)) || (rc = sweep_table_load(s, q, &t, err, errlen)))
		goto out;
	if (t.n == 0) {
		rc = kv_errf(err, errlen, KV_EINVAL, "--sweep %.12s: no runs recorded yet", t.sweep_id);
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
	if ((rc = gp_begin(&g, out, true, err, errlen)))
		goto out;
	gp_scratch_path(&g, "cells.dat", path, sizeof(path));
	FILE *d = fopen(path, "w");
	int n_min = 1 << 30, n_max = 0;
	if (!d) {
		gp_abort(&g);
		rc = kv_errf(err, errlen, KV_EIO, "%s: cannot write", path);
		goto out;
	}
	for (int j = 0; j < ny; j++)
		for (int i = 0; i < nx; i++) {
			const struct sweep_cell *c = sweep_table_cell(&t, grp, xs[i], ys[j]);
			if (!c || !c->n)
				continue;
			fprintf(d, "%d %d %.17g\n", i, j, c->mean);
			n_min = c->n < n_min ? c->n : n_min;
			n_max = c->n > n_max ? c->n : n_max;
		}
	fclose(d);
	const char *model = strrchr(t.model, '/') ? strrchr(t.model, '/') + 1 : t.model;
	char title[1024], nn[64];
	if (n_min == n_max)
		snprintf(nn, sizeof(nn), "%d samples per cell", n_max);
	else
		snprintf(nn, sizeof(nn), "%d-%d samples per cell", n_min, n_max);
	snprintf(title, sizeof(title), "%s, %s, %s%s: mean %s (%s)", model, t.task, grp, many ? " (one of several)" : "", t.metric,
		 nn);
	FILE *f = g.f;
	fprintf(f, "set encoding utf8\n");
	if (g.svg)
		fprintf(f, "set terminal svg size 1200,900 dynamic font 'Sans,16' background rgb 'white'\n");
	else
		fprintf(f, "set terminal pngcairo size 1200,900 font 'Sans,16' background rgb 'white'\n");
	gp_set_output(&g);
	fprintf(f, "set title ");
	gp_quote(f, title);
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
	fprintf(f, ")\nplot ");
	gp_quote(f, path);
	fprintf(f, " using 1:2:(0.5):(0.5):3 with boxxyerror fillstyle solid 1.0 noborder fillcolor palette notitle, \\\n  ");
	gp_quote(f, path);
	fprintf(f, " using 1:2:(sprintf('%%.3f', $3)) with labels notitle\n");
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
