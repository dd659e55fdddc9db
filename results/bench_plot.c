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

static void plot_panels(FILE *gp, const char **labels, int nl, char tag, const char *what)
{
	fprintf(gp, "set ylabel '%s ms (median, bars min..max)'\nset logscale y\nset yrange [*:*]\nplot ", what);
	for (int a = 0; a < nl; a++) {
		fprintf(gp, "%s$%c%d using 1:2:3:4 with yerrorlines lw 2 title ", a ? ", " : "", tag, a);
		gp_quote(gp, labels[a]);
	}
	fprintf(gp, "\nunset logscale y\nset yrange [0:*]\nset ylabel '%s speedup over fullkv (median / median)'\nplot ", what);
	for (int a = 0; a < nl; a++) {
		fprintf(gp, "%s$%c%d using 1:5 with linespoints lw 2 title ", a ? ", " : "", tag, a);
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
	if ((rc = gp_begin(&g, out_png, false, err, errlen)))
		goto out;
	FILE *gp = g.f;
	char title[1024];
	fprintf(gp, "set terminal pngcairo size 1280,%d font ',10'\n", e2e ? 960 : 480);
	gp_set_output(&g);
	snprintf(title, sizeof(title), "kvlab bench %s: %s (%s), %d threads, %s, build %.12s, %d runs, invocation %s", r[0].bench,
		 r[0].model, r[0].weights, r[0].threads, r[0].host_cpu, r[0].build_commit, r[0].runs, r[0].invocation);
	write_blocks(gp, r, n, labels, nl, lens, nn, "prefill", 'p');
	if (e2e)
		write_blocks(gp, r, n, labels, nl, lens, nn, "decode", 'd');
	fprintf(gp, "set multiplot layout %d,2 title ", e2e ? 2 : 1);
	gp_quote(gp, title);
	fprintf(gp, " noenhanced\n");
	fprintf(gp, "set logscale x 2\nset grid\nset key below horizontal noenhanced\nset xlabel 'context length N (tokens)'\nset xtics (");
	for (int b = 0; b < nn; b++)
		fprintf(gp, "%s%d", b ? ", " : "", lens[b]);
	fprintf(gp, ")\nset offsets graph 0.05, graph 0.05, 0, 0\n");
	plot_panels(gp, labels, nl, 'p', "prefill");
	if (e2e)
		plot_panels(gp, labels, nl, 'd', "decode per-token");
	fprintf(gp, "unset multiplot\n");
	rc = gp_finish(&g, err, errlen);
out:
	free(labels);
	free(lens);
	free(r);
	return rc;
}
