/* kvlab plot tradeoff (results/plot.h): every evaluation run of one task and model as a point,
 * mean score against the fraction of KV kept and against prefill speedup, both relative to a
 * fullkv run on the same samples; one line per method and the Pareto front (pareto.h) marked.
 * Drawn from inline data blocks through the one gnuplot runner, so the script is the whole
 * figure. A pure function of the database. */
#include "results/plot.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"     // kv_errf, KV_E*
#include "results/gnuplot.h" // gp_begin, gp_terminal, gp_quote_lines, gp_finish
#include "results/pareto.h"  // pareto_front
#include "results/store.h"   // store_open_read, store_query, store_err

/* One run of the task as the database holds it. */
struct run_row {
	char run_id[65], method[64], backend[16], model_sha[65];
	char model[512];
	char *method_json; /* owned */
	int threads;
};

struct runs {
	struct run_row *r; /* (n,) */
	int n;
};

static void runs_free(struct runs *rs)
{
	for (int i = 0; i < rs->n; i++)
		free(rs->r[i].method_json);
	free(rs->r);
	rs->r = NULL;
	rs->n = 0;
}

static const char *col(sqlite3_stmt *q, int i)
{
	const char *t = (const char *)sqlite3_column_text(q, i);
	return t ? t : "";
}

// ----------------------------------------------------------------------------
// which task, runs and metric

/* Resolves --task: the task named so, else the one task the prefix selects. */
static int pick_task(struct store *s, const char *prefix, char task[64], char *err, size_t errlen)
{
	static const char *sql = "SELECT task, count(*) FROM runs WHERE kind = 'eval' AND task IS NOT NULL"
				 " AND substr(task, 1, length(?1)) = ?1 GROUP BY task ORDER BY task";
	sqlite3_stmt *q = NULL;
	char list[1024] = "";
	size_t used = 0;
	int n = 0, rc;
	bool exact = false;
	if ((rc = store_query(s, sql, prefix, NULL, &q, "reading runs", err, errlen)))
		return rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (n == 0) { /* in name order a task named exactly so comes first */
			snprintf(task, 64, "%s", col(q, 0));
			exact = strcmp(task, prefix) == 0;
		}
		if (used < sizeof(list))
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s (%d runs)", n ? ", " : "", col(q, 0),
						 sqlite3_column_int(q, 1));
		n++;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return store_err(s, "reading runs", err, errlen);
	if (exact || n == 1)
		return 0;
	if (n > 1)
		return kv_errf(err, errlen, KV_EINVAL, "--task %s: %d tasks start so (%s); name one", prefix, n, list);
	if ((rc = store_query(s, "SELECT DISTINCT task FROM runs WHERE kind = 'eval' AND task IS NOT NULL ORDER BY task", NULL,
			      NULL, &q, "reading runs", err, errlen)))
		return rc;
	used = 0;
	list[0] = '\0';
	while ((rc = sqlite3_step(q)) == SQLITE_ROW && used < sizeof(list))
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", col(q, 0));
	sqlite3_finalize(q);
	return kv_errf(err, errlen, KV_EINVAL, "--task %s: no evaluation run of a task starting so in %s; the tasks there: %s",
		       prefix, s->path, list[0] ? list : "none");
}

/* Loads the runs of task whose model path contains model (NULL: any); they must all be of
 * one model (by hash). */
static int load_runs(struct store *s, const char *task, const char *model, struct runs *rs, char *err, size_t errlen)
{
	static const char *sql = "SELECT run_id, method, method_json, model_path, model_sha256, backend, threads FROM runs"
				 " WHERE kind = 'eval' AND task = ?1 AND (?2 IS NULL OR instr(model_path, ?2) > 0)"
				 " ORDER BY created_at, run_id";
	sqlite3_stmt *q = NULL;
	int rc, cap = 0;
	if ((rc = store_query(s, sql, task, model, &q, "reading runs", err, errlen)))
		return rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (rs->n == cap) {
			cap = cap ? 2 * cap : 16;
			struct run_row *nr = realloc(rs->r, (size_t)cap * sizeof(*nr));
			if (!nr) {
				sqlite3_finalize(q);
				return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
			}
			rs->r = nr;
		}
		struct run_row *r = &rs->r[rs->n];
		memset(r, 0, sizeof(*r));
		snprintf(r->run_id, sizeof(r->run_id), "%s", col(q, 0));
		snprintf(r->method, sizeof(r->method), "%s", col(q, 1));
		snprintf(r->model, sizeof(r->model), "%s", col(q, 3));
		snprintf(r->model_sha, sizeof(r->model_sha), "%s", col(q, 4));
		snprintf(r->backend, sizeof(r->backend), "%s", col(q, 5));
		r->threads = sqlite3_column_int(q, 6);
		if (!(r->method_json = strdup(col(q, 2)))) {
			sqlite3_finalize(q);
			return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		}
		rs->n++;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return store_err(s, "reading runs", err, errlen);
	if (rs->n == 0)
		return kv_errf(err, errlen, KV_EINVAL, "--model %s: no run of task %s has a model path containing it", model,
			       task);
	char list[1024] = "";
	size_t used = 0;
	int n_models = 0;
	for (int i = 0; i < rs->n; i++) {
		int j = 0;
		while (j < i && strcmp(rs->r[j].model_sha, rs->r[i].model_sha) != 0)
			j++;
		if (j < i)
			continue;
		n_models++;
		if (used < sizeof(list))
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", rs->r[i].model);
	}
	if (n_models > 1)
		return kv_errf(err, errlen, KV_EINVAL, "--task %s: runs of %d models (%s); pick one with --model PATH_PART%s", task,
			       n_models, list, model ? " that only its path contains" : "");
	return 0;
}

/* Resolves --metric among the metrics scored on the runs of task with model_sha: the one
 * asked for, else overlap, else score, else the most frequent. */
static int pick_metric(struct store *s, const char *task, const char *model_sha, const char *want, char metric[64],
		       char *err, size_t errlen)
{
	static const char *sql = "SELECT c.metric FROM scores c JOIN runs r ON r.run_id = c.run_id"
				 " WHERE r.task = ?1 AND r.model_sha256 = ?2 GROUP BY c.metric ORDER BY count(*) DESC, c.metric";
	static const char *const preferred[] = { "overlap", "score" };
	sqlite3_stmt *q = NULL;
	char list[512] = "";
	size_t used = 0;
	int rc, rank = 3; /* of the metric chosen so far: 0 asked for, 1 overlap, 2 score, 3 most frequent */
	metric[0] = '\0';
	if ((rc = store_query(s, sql, task, model_sha, &q, "reading scores", err, errlen)))
		return rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *m = col(q, 0);
		int r = want ? (strcmp(m, want) == 0 ? 0 : 4) : strcmp(m, preferred[0]) == 0 ? 1 : strcmp(m, preferred[1]) == 0 ? 2 : 3;
		if (r < rank || (!metric[0] && r == 3 && !want)) {
			rank = r;
			snprintf(metric, 64, "%s", m);
		}
		if (used < sizeof(list))
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", m);
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return store_err(s, "reading scores", err, errlen);
	if (!list[0])
		return kv_errf(err, errlen, KV_EINVAL, "--task %s: its runs have no scores yet", task);
	if (want && rank != 0)
		return kv_errf(err, errlen, KV_EINVAL, "--metric %s: no such score on task %s; the metrics there: %s", want, task,
			       list);
	return 0;
}

// ----------------------------------------------------------------------------
// points

/* Means over the samples run shares with ref that carry metric: count, run's kv_bytes,
 * ref's kv_bytes, run's prefill_s, ref's prefill_s, run's metric. */
static int pair_stats(struct store *s, const char *run, const char *ref, const char *metric, double st[6], char *err,
		      size_t errlen)
{
	static const char *sql =
		"SELECT count(*), avg(a.kv_bytes), avg(f.kv_bytes), avg(a.prefill_s), avg(f.prefill_s), avg(c.value)"
		" FROM samples a JOIN samples f ON f.run_id = ?2 AND f.sample_id = a.sample_id"
		" JOIN scores c ON c.run_id = a.run_id AND c.sample_id = a.sample_id AND c.metric = ?3 WHERE a.run_id = ?1";
	sqlite3_stmt *q = NULL;
	int rc;
	if ((rc = store_query(s, sql, run, ref, &q, "reading samples", err, errlen)))
		return rc;
	sqlite3_bind_text(q, 3, metric, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(q) != SQLITE_ROW) {
		sqlite3_finalize(q);
		return store_err(s, "reading samples", err, errlen);
	}
	for (int i = 0; i < 6; i++)
		st[i] = sqlite3_column_type(q, i) == SQLITE_NULL ? NAN : sqlite3_column_double(q, i);
	sqlite3_finalize(q);
	return 0;
}

static void add_skip(struct plot_tradeoff_summary *sum, const struct run_row *r, const char *why)
{
	size_t n = strlen(sum->skipped);
	snprintf(sum->skipped + n, sizeof(sum->skipped) - n, "\n  %.12s %s: %s", r->run_id, r->method, why);
}

/* Makes the points: each run against the fullkv run (same backend and threads) that shares
 * the most scored samples with it. */
static int make_points(struct store *s, const struct plot_tradeoff_opts *o, const struct runs *rs,
		       struct plot_tradeoff_summary *sum, char *err, size_t errlen)
{
	int n_full = 0, rc;
	for (int i = 0; i < rs->n; i++)
		n_full += strcmp(rs->r[i].method, "fullkv") == 0;
	if (n_full == 0)
		return kv_errf(err, errlen, KV_EINVAL,
			       "--task %s: no fullkv run of %s to normalise KV kept and prefill speedup by; run kvlab run --task %s"
			       " --method fullkv with that model first",
			       sum->task, sum->model, sum->task);
	if (!(sum->p = calloc((size_t)rs->n, sizeof(*sum->p))))
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	for (int i = 0; i < rs->n; i++) {
		const struct run_row *r = &rs->r[i];
		double best[6] = { 0 }, st[6];
		int ref = -1;
		for (int j = 0; j < rs->n; j++) {
			const struct run_row *f = &rs->r[j];
			if (strcmp(f->method, "fullkv") != 0 || strcmp(f->backend, r->backend) != 0 || f->threads != r->threads)
				continue;
			if ((rc = pair_stats(s, r->run_id, f->run_id, sum->metric, st, err, errlen)))
				return rc;
			if (ref < 0 || st[0] > best[0]) {
				ref = j;
				memcpy(best, st, sizeof(best));
			}
		}
		if (ref < 0) {
			char why[128];
			snprintf(why, sizeof(why), "no fullkv run on backend %s with %d threads to compare it with", r->backend,
				 r->threads);
			add_skip(sum, r, why);
			continue;
		}
		if (best[0] < 1) {
			add_skip(sum, r, "shares no sample scored by the metric with a fullkv run");
			continue;
		}
		struct plot_tradeoff_point *p = &sum->p[sum->n++];
		snprintf(p->run_id, sizeof(p->run_id), "%s", r->run_id);
		snprintf(p->ref_id, sizeof(p->ref_id), "%s", rs->r[ref].run_id);
		snprintf(p->method, sizeof(p->method), "%s", r->method);
		plot_method_label(s, &o->labels, r->method, r->method_json, p->label, sizeof(p->label));
		p->n = (int)best[0];
		p->score = best[5];
		p->kv_kept = best[2] > 0 ? best[1] / best[2] : NAN;
		p->speedup = best[3] > 0 ? best[4] / best[3] : NAN;
	}
	if (sum->n == 0)
		return kv_errf(err, errlen, KV_EINVAL, "--task %s: no run could be compared with a fullkv run:%s", sum->task,
			       sum->skipped);
	double *x = malloc(2 * (size_t)sum->n * sizeof(double)), *y = x ? x + sum->n : NULL;
	bool *on = malloc((size_t)sum->n * sizeof(bool));
	if (!x || !on) {
		free(x);
		free(on);
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	}
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < sum->n; i++) {
			x[i] = k == 0 ? sum->p[i].kv_kept : sum->p[i].speedup;
			y[i] = sum->p[i].score;
		}
		pareto_front(x, y, sum->n, k == 0, on);
		for (int i = 0; i < sum->n; i++)
			*(k == 0 ? &sum->p[i].front_kv : &sum->p[i].front_speedup) = on[i];
	}
	free(x);
	free(on);
	return 0;
}

// ----------------------------------------------------------------------------
// drawing

/* Okabe-Ito colours (told apart with colour-blindness too), then black; point types cycle. */
static const char *const colours[] = { "#000000", "#0072B2", "#D55E00", "#009E73", "#CC79A7",
				       "#E69F00", "#56B4E9", "#8C564B", "#F0E442" };
#define N_COLOURS (int)(sizeof(colours) / sizeof(colours[0]))
static const int point_types[] = { 7, 5, 9, 11, 13, 15, 4, 8, 10 };
#define N_POINT_TYPES (int)(sizeof(point_types) / sizeof(point_types[0]))

static double axis_x(const struct plot_tradeoff_point *p, int axis)
{
	return axis == 0 ? p->kv_kept : p->speedup;
}

/* The middle of the x values of all points on axis (finite ones; 0 when none). */
static double x_middle(const struct plot_tradeoff_summary *sum, int axis)
{
	double lo = INFINITY, hi = -INFINITY;
	for (int i = 0; i < sum->n; i++) {
		double x = axis_x(&sum->p[i], axis);
		if (isfinite(x)) {
			lo = x < lo ? x : lo;
			hi = x > hi ? x : hi;
		}
	}
	return lo <= hi ? (lo + hi) / 2 : 0;
}

/* Writes data block $NAME: "x score \"params\" side" of the points idx[0..n) in x order;
 * side 1 for points right of the middle (their label goes left of them, so it stays on
 * the canvas). */
static void write_block(FILE *f, const char *name, const struct plot_tradeoff_summary *sum, int *idx, int n, int axis)
{
	double mid = x_middle(sum, axis);
	for (int i = 1; i < n; i++) /* by x (insertion sort: a handful of points, stable) */
		for (int j = i; j > 0 && axis_x(&sum->p[idx[j - 1]], axis) > axis_x(&sum->p[idx[j]], axis); j--) {
			int t = idx[j];
			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
	fprintf(f, "$%s << EOD\n", name);
	for (int i = 0; i < n; i++) {
		const struct plot_tradeoff_point *p = &sum->p[idx[i]];
		const char *params = p->label + strlen(p->method);
		fprintf(f, "%.9g %.9g \"", axis_x(p, axis), p->score);
		for (params += *params == ' '; *params; params++)
			fputc(*params == '"' || *params == '\\' ? '\'' : *params, f);
		fprintf(f, "\" %d\n", axis_x(p, axis) > mid);
	}
	fprintf(f, "EOD\n");
}

/* The distinct methods of the points, fullkv first, then in the order the runs came. */
static int list_methods(const struct plot_tradeoff_summary *sum, const char **m)
{
	int n = 0;
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < sum->n; i++) {
			bool full = strcmp(sum->p[i].method, "fullkv") == 0;
			if (full != (pass == 0))
				continue;
			int j = 0;
			while (j < n && strcmp(m[j], sum->p[i].method) != 0)
				j++;
			if (j == n)
				m[n++] = sum->p[i].method;
		}
	return n;
}

/* One panel: axis 0 = KV kept, 1 = speedup (the legend is drawn once, under the panels). */
static void write_panel(FILE *f, const struct plot_tradeoff_summary *sum, int nm, int axis)
{
	const char *ax = axis == 0 ? "kv" : "sp";
	if (axis == 0)
		fprintf(f, "set xlabel 'KV cache kept (fraction of fullkv)'\nset xrange [0:*]\n");
	else
		fprintf(f, "set xlabel 'prefill speedup over fullkv (\xC3\x97)'\nset xrange [*:*]\n");
	char ylabel[96];
	snprintf(ylabel, sizeof(ylabel), "mean %s", sum->metric);
	fprintf(f, "set ylabel ");
	gp_quote(f, ylabel);
	fprintf(f, " noenhanced\n");
	fprintf(f, "unset key\nplot ");
	for (int m = 0; m < nm; m++) {
		const char *c = colours[m % N_COLOURS];
		fprintf(f, "%s$%s%d using 1:2 with linespoints lw 2.5 pt %d ps 1.8 lc rgb '%s' notitle", m ? ", \\\n     " : "",
			ax, m, point_types[m % N_POINT_TYPES], c);
		for (int side = 0; side < 2; side++)
			fprintf(f, ", \\\n     $%s%d using 1:2:($4 == %d ? stringcolumn(3) : '') with labels %s offset char %s,0.7"
				   " font ',11' tc rgb '%s' noenhanced notitle",
				ax, m, side, side ? "right" : "left", side ? "-0.9" : "0.9", c);
	}
	fprintf(f, ", \\\n     $%sfront using 1:2 with %s dt 2 lw 4 lc rgb '#555555' notitle", ax,
		axis == 0 ? "steps" : "fsteps");
	fprintf(f, ", \\\n     $%sfront using 1:2 with points pt 6 ps 3.2 lw 2.5 lc rgb '#555555' notitle\n", ax);
}

/* The one legend, under the panels: each method's line and point, and the front's look. */
static void write_legend(FILE *f, const char **methods, int nm)
{
	gp_legend_band(f, 0.1, 5);
	fprintf(f, "plot ");
	for (int m = 0; m < nm; m++) {
		fprintf(f, "NaN with linespoints lw 2.5 pt %d ps 1.8 lc rgb '%s' title ", point_types[m % N_POINT_TYPES],
			colours[m % N_COLOURS]);
		gp_quote(f, methods[m]);
		fprintf(f, ", ");
	}
	fprintf(f, "NaN with linespoints dt 2 lw 4 pt 6 ps 3.2 lc rgb '#555555' title 'Pareto front'\n");
}

static int draw(const struct plot_tradeoff_opts *o, const struct plot_tradeoff_summary *sum, int panels, char *err,
		size_t errlen)
{
	struct gp_run g;
	int rc;
	const char **methods = malloc((size_t)sum->n * sizeof(char *));
	int *idx = malloc((size_t)sum->n * sizeof(int));
	if (!methods || !idx) {
		free(methods);
		free(idx);
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	}
	if ((rc = gp_begin(&g, o->out, GP_PNG | GP_SVG | GP_PDF, err, errlen)))
		goto out;
	FILE *f = g.f;
	int nm = list_methods(sum, methods), n_min = sum->p[0].n, n_max = sum->p[0].n;
	for (int i = 0; i < sum->n; i++) {
		n_min = sum->p[i].n < n_min ? sum->p[i].n : n_min;
		n_max = sum->p[i].n > n_max ? sum->p[i].n : n_max;
	}
	bool both = panels == 3;
	gp_terminal(&g, both ? 1800 : 1000, 820, 15);
	gp_set_output(&g);
	for (int axis = 0; axis < 2; axis++) {
		if (!(panels & (1 << axis)))
			continue;
		char name[32];
		for (int m = 0; m < nm; m++) {
			int k = 0;
			for (int i = 0; i < sum->n; i++)
				if (strcmp(sum->p[i].method, methods[m]) == 0)
					idx[k++] = i;
			snprintf(name, sizeof(name), "%s%d", axis == 0 ? "kv" : "sp", m);
			write_block(f, name, sum, idx, k, axis);
		}
		int k = 0;
		for (int i = 0; i < sum->n; i++)
			if (axis == 0 ? sum->p[i].front_kv : sum->p[i].front_speedup)
				idx[k++] = i;
		snprintf(name, sizeof(name), "%sfront", axis == 0 ? "kv" : "sp");
		write_block(f, name, sum, idx, k, axis);
	}
	char title[1024], nn[64];
	if (n_min == n_max)
		snprintf(nn, sizeof(nn), "%d samples", n_max);
	else
		snprintf(nn, sizeof(nn), "%d\xE2\x80\x93%d samples per run", n_min, n_max);
	snprintf(title, sizeof(title),
		 "%s \xC2\xB7 %s \xC2\xB7 mean %s \xC2\xB7 %s\n"
		 "one point per run (labelled with its non-default parameters), relative to fullkv on the same samples",
		 sum->model, sum->task, sum->metric, nn);
	fprintf(f, "set multiplot title ");
	gp_quote_lines(f, title);
	fprintf(f, " noenhanced font ',17'\n"
		   "set grid lc rgb '#DDDDDD'\nset border 3\nset tics nomirror\nset yrange [*:*]\n"
		   "set offsets graph 0.04, graph 0.22, graph 0.06, graph 0.06\n"
		   "set tmargin at screen 0.87\nset bmargin at screen 0.22\n");
	for (int axis = 0; axis < 2; axis++) {
		if (!(panels & (1 << axis)))
			continue;
		if (both)
			fprintf(f, "set lmargin at screen %.2f\nset rmargin at screen %.2f\n", axis == 0 ? 0.06 : 0.56,
				axis == 0 ? 0.47 : 0.97);
		else
			fprintf(f, "set lmargin at screen 0.1\nset rmargin at screen 0.96\n");
		write_panel(f, sum, nm, axis);
	}
	write_legend(f, methods, nm);
	fprintf(f, "unset multiplot\n");
	rc = gp_finish(&g, err, errlen);
out:
	free(methods);
	free(idx);
	return rc;
}

// ----------------------------------------------------------------------------
// entry point

void plot_tradeoff_summary_free(struct plot_tradeoff_summary *sum)
{
	free(sum->p);
	sum->p = NULL;
	sum->n = 0;
}

int plot_tradeoff(const struct plot_tradeoff_opts *o, struct plot_tradeoff_summary *sum, char *err, size_t errlen)
{
	struct plot_tradeoff_summary s = { 0 };
	struct store *st = NULL;
	struct runs rs = { 0 };
	int rc, panels;
	const char *x = o->x ? o->x : "both";
	if (strcmp(x, "kv") == 0)
		panels = 1;
	else if (strcmp(x, "speedup") == 0)
		panels = 2;
	else if (strcmp(x, "both") == 0)
		panels = 3;
	else
		return kv_errf(err, errlen, KV_EINVAL, "--x: expected kv, speedup or both, got '%s'", x);
	if (!o->task || !*o->task)
		return kv_errf(err, errlen, KV_EINVAL, "--task: expected a task name or prefix");
	if ((rc = gp_check_out(o->out, GP_PNG | GP_SVG | GP_PDF, err, errlen)))
		return rc;
	if ((rc = store_open_read(o->db_path, &st, err, errlen)))
		return rc;
	if ((rc = pick_task(st, o->task, s.task, err, errlen)) || (rc = load_runs(st, s.task, o->model, &rs, err, errlen)))
		goto out;
	plot_model_name(rs.r[0].model, s.model, sizeof(s.model));
	if ((rc = pick_metric(st, s.task, rs.r[0].model_sha, o->metric, s.metric, err, errlen)) ||
	    (rc = make_points(st, o, &rs, &s, err, errlen)) || (rc = draw(o, &s, panels, err, errlen)))
		goto out;
	*sum = s;
	s.p = NULL;
out:
	plot_tradeoff_summary_free(&s);
	runs_free(&rs);
	store_close(st);
	return rc;
}
