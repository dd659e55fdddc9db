/* kvlab plot bench: latency and speedup over fullkv against context length for one
 * benchmark invocation, drawn from inline data blocks through the one gnuplot runner
 * (gnuplot.h), so a failure leaves the output untouched. A pure function of the database. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/errors.h"           // kv_errf
#include "results/gnuplot.h"       // gp_begin, gp_quote, gp_finish
#include "results/plot.h"          // plot_model_name
#include "results/bench_store.h"   // bench_store_load, bench_speedup
#include "results/store.h"         // struct store

/* Row index of (label, N, phase) or -1. */
static int find(const struct bench_row *r, int n, const char *label, int n_ctx, const char *phase)
{
	for (int i = 0; i < n; i++)
		if (r[i].n_ctx == n_ctx && strcmp(r[i].label, label) == 0 && strcmp(r[i].phase, phase) == 0)
			return i;
	return -1;
}

/* Writes the data blocks $p<label index> (prefill) and $d<label index> (decode): lines
 * "N median min max speedup" sorted by N. */
static void write_blocks(FILE *gp, const struct bench_row *r, int n, const char **labels, int nl, const int *lens, int nn,
			 const char *phase, char tag)
{
	for (int a = 0; a < nl; a++) {
		fprintf(gp, "$%c%d << EOD\n", tag, a);
		for (int b = 0; b < nn; b++) {
			int i = find(r, n, labels[a], lens[b], phase);
			double sp;
			if (i < 0)
				continue;
			fprintf(gp, "%d %.6f %.6f %.6f ", lens[b], r[i].st.median, r[i].st.min, r[i].st.max);
			if (bench_speedup(r, n, i, &sp))
				fprintf(gp, "%.6f\n", sp);
			else
				fprintf(gp, "NaN\n");
		}
		fprintf(gp, "EOD\n");
	}
}

/* Figure layout in pixels: a title band, rows of two panels (each with its axis labels
 * around it), and one legend band under everything, so no legend covers a panel. */
struct layout {
	int width, height, rows, legend_px;
};
#define TITLE_PX 70
#define PANEL_H 330
#define ROW_PX 440 /* a panel and its x tics and label */
#define LEFT_PX 90
#define GAP_PX 110

/* Places the next plot at (row, col) of l. */
static void place(FILE *gp, const struct layout *l, int row, int col)
{
	double w = (l->width - LEFT_PX - GAP_PX - 30) / 2.0;
	double left = LEFT_PX + col * (w + GAP_PX), top = TITLE_PX + row * ROW_PX;
	fprintf(gp, "set lmargin at screen %.4f\nset rmargin at screen %.4f\n", left / l->width, (left + w) / l->width);
	fprintf(gp, "set tmargin at screen %.4f\nset bmargin at screen %.4f\n", 1.0 - top / l->height,
		1.0 - (top + PANEL_H) / l->height);
}

/* Draws one row: latency (log scale) left, speedup over fullkv right (the legend is
 * drawn once, under all rows: write_legend). */
static void plot_panels(FILE *gp, const struct layout *l, int row, const char **labels, int nl, char tag, const char *what)
{
	place(gp, l, row, 0);
	fprintf(gp, "unset key\n");
	fprintf(gp, "set ylabel '%s ms (median; bars: min..max)'\nset logscale y\nset yrange [*:*]\nplot ", what);
	for (int a = 0; a < nl; a++) {
		fprintf(gp, "%s$%c%d using 1:2:3:4 with yerrorlines lw 2 title ", a ? ", " : "", tag, a);
		gp_quote(gp, labels[a]);
	}
	fprintf(gp, "\n");
	place(gp, l, row, 1);
	fprintf(gp, "unset logscale y\nset yrange [0:*]\nset ylabel '%s speedup over fullkv'\nplot ", what);
	for (int a = 0; a < nl; a++) {
		fprintf(gp, "%s$%c%d using 1:5 with linespoints lw 2 title ", a ? ", " : "", tag, a);
		gp_quote(gp, labels[a]);
	}
	fprintf(gp, "\n");
}

/* The one legend: the methods' line styles (linetype a + 1, as the panels use) in the band
 * under the panels. */
static void write_legend(FILE *gp, const struct layout *l, const char **labels, int nl)
{
	gp_legend_band(gp, (double)l->legend_px / l->height, 4);
	fprintf(gp, "plot ");
	for (int a = 0; a < nl; a++) {
		fprintf(gp, "%sNaN with linespoints lt %d lw 2 title ", a ? ", " : "", a + 1);
		gp_quote(gp, labels[a]);
	}
	fprintf(gp, "\n");
}

int bench_plot(struct store *s, const char *invocation, const char *out_png, char *err, size_t errlen)
{
	char inv[40];
	struct bench_row *r = NULL;
	int n = 0, rc;
	if (!invocation) {
		if ((rc = bench_store_latest(s, inv, err, errlen)))
			return rc;
		invocation = inv;
	}
	if ((rc = bench_store_load(s, invocation, &r, &n, err, errlen)))
		return rc;
	if (n == 0) {
		free(r);
		return kv_errf(err, errlen, KV_EINVAL, "%s: no benchmark rows for invocation '%s'", s->path, invocation);
	}
	const char **labels = malloc(sizeof(char *) * (size_t)n);
	int *lens = malloc(sizeof(int) * (size_t)n), nl = 0, nn = 0;
	if (!labels || !lens) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		int a = 0, b = 0;
		while (a < nl && strcmp(labels[a], r[i].label) != 0)
			a++;
		if (a == nl)
			labels[nl++] = r[i].label;
		while (b < nn && lens[b] != r[i].n_ctx)
			b++;
		if (b == nn)
			lens[nn++] = r[i].n_ctx;
	}
	for (int i = 1; i < nn; i++) /* ascending lengths: lines run left to right */
		for (int j = i; j > 0 && lens[j - 1] > lens[j]; j--) {
			int t = lens[j];
			lens[j] = lens[j - 1];
			lens[j - 1] = t;
		}
	bool e2e = strcmp(r[0].bench, "e2e") == 0;
	struct gp_run g;
	if ((rc = gp_begin(&g, out_png, GP_PNG, err, errlen)))
		goto out;
	FILE *gp = g.f;
	char title[1024], model[256];
	struct layout l = { .width = 1400, .rows = e2e ? 2 : 1 };
	l.legend_px = 40 + 24 * ((nl + 3) / 4);
	l.height = TITLE_PX + l.rows * ROW_PX + l.legend_px;
	gp_terminal(&g, l.width, l.height, 11);
	gp_set_output(&g);
	plot_model_name(r[0].model, model, sizeof(model));
	snprintf(title, sizeof(title),
		 "%s (%s) \xC2\xB7 kvlab bench %s \xC2\xB7 %d runs per point (%d warm-ups)\n"
		 "speedup = fullkv's median / the method's \xC2\xB7 %s, %d threads, %s, build %.12s, invocation %s",
		 model, r[0].weights, r[0].bench, r[0].runs, r[0].warmups, r[0].backend, r[0].threads, r[0].host_cpu,
		 r[0].build_commit, r[0].invocation);
	write_blocks(gp, r, n, labels, nl, lens, nn, "prefill", 'p');
	if (e2e)
		write_blocks(gp, r, n, labels, nl, lens, nn, "decode", 'd');
	fprintf(gp, "set multiplot title ");
	gp_quote_lines(gp, title);
	fprintf(gp, " noenhanced font ',13'\n");
	fprintf(gp, "set logscale x 2\nset grid\nset xlabel 'context length N (tokens)'\nset xtics (");
	for (int b = 0; b < nn; b++)
		fprintf(gp, "%s%d", b ? ", " : "", lens[b]);
	fprintf(gp, ")\nset offsets graph 0.05, graph 0.05, 0, 0\n");
	plot_panels(gp, &l, 0, labels, nl, 'p', "prefill");
	if (e2e)
		plot_panels(gp, &l, 1, labels, nl, 'd', "decode per token");
	write_legend(gp, &l, labels, nl);
	fprintf(gp, "unset multiplot\n");
	rc = gp_finish(&g, err, errlen);
out:
	free(labels);
	free(lens);
	free(r);
	return rc;
}
