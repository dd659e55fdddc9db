/* Sweeps: see sweep.h. Grid -> points (one --method entry each) -> groups of points that
 * may share a prefill -> units of at most RUNNER_MAX_METHODS points -> one runner_run per
 * unit on the model loaded once, the sweep's rows recorded as each unit starts. */
#include "eval/sweep.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"   // kv_clock_s
#include "base/errors.h"
#include "base/sha256.h"  // sha256_hex
#include "engine/backend.h" // struct backend_ops
#include "engine/model.h" // model_load
#include "results/store.h" // store_sweep_record

// ----------------------------------------------------------------------------
// a growable string

struct sb {
	char *p;
	size_t n, cap;
	bool oom;
};

static void sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	for (int tries = 0; tries < 2 && !b->oom; tries++) {
		va_start(ap, fmt);
		int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
		va_end(ap);
		if (k < 0) {
			b->oom = true;
			return;
		}
		if (b->p && b->n + (size_t)k < b->cap) {
			b->n += (size_t)k;
			return;
		}
		size_t cap = (b->cap + (size_t)k + 1) * 2;
		char *q = realloc(b->p, cap);
		if (!q) {
			b->oom = true;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
}

/* Appends s as a JSON string. */
static void sb_json(struct sb *b, const char *s)
{
	sb_printf(b, "\"");
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			sb_printf(b, "\\%c", c);
		else if (c < 0x20)
			sb_printf(b, "\\u%04x", c);
		else
			sb_printf(b, "%c", c);
	}
	sb_printf(b, "\"");
}

/* Appends v as a JSON number when it is one (as %.15g), else as a string. */
static void sb_value(struct sb *b, const char *v)
{
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (*v && !*end && !errno && isfinite(d) && (isdigit((unsigned char)v[0]) || v[0] == '-' || v[0] == '.'))
		sb_printf(b, "%.15g", d);
	else
		sb_json(b, v);
}

// ----------------------------------------------------------------------------
// the grid

void sweep_grid_free(struct sweep_grid *g)
{
	for (int a = 0; a < g->n_axes; a++) {
		for (int i = 0; i < g->ax[a].n; i++)
			free(g->ax[a].vals[i]);
		free(g->ax[a].vals);
		free(g->ax[a].key);
	}
	memset(g, 0, sizeof(*g));
}

static int axis_add(struct sweep_axis *ax, const char *v, char *err, size_t errlen)
{
	char **vals = realloc(ax->vals, sizeof(*vals) * (size_t)(ax->n + 1));
	if (!vals)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	ax->vals = vals;
	if (!(vals[ax->n] = strdup(v)))
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	ax->n++;
	return 0;
}

static bool full_long(const char *s, long *v)
{
	char *end;
	errno = 0;
	*v = strtol(s, &end, 10);
	return *s && !*end && !errno;
}

static bool full_double(const char *s, double *v)
{
	char *end;
	errno = 0;
	*v = strtod(s, &end);
	return *s && !*end && !errno && isfinite(*v);
}

/* Expands the range item "A:B:STEP" of axis ax (B included). */
static int axis_range(struct sweep_axis *ax, const char *item, char *err, size_t errlen)
{
	char a[64], b[64], s[64], extra;
	long la, lb, ls;
	double da, db, ds;
	char v[64];
	int rc;
	if (strlen(item) >= sizeof(a) || sscanf(item, "%63[^:]:%63[^:]:%63[^:]%c", a, b, s, &extra) != 3 ||
	    !full_double(a, &da) || !full_double(b, &db) || !full_double(s, &ds))
		return kv_errf(err, errlen, KV_EINVAL, "--grid: %s: expected a value or a range START:STOP:STEP of numbers, got '%s'",
			       ax->key, item);
	if (ds <= 0 || db < da)
		return kv_errf(err, errlen, KV_EINVAL, "--grid: %s: range '%s' needs STEP > 0 and STOP >= START", ax->key, item);
	if ((db - da) / ds > 1000)
		return kv_errf(err, errlen, KV_EINVAL, "--grid: %s: range '%s' has more than 1000 values", ax->key, item);
	if (full_long(a, &la) && full_long(b, &lb) && full_long(s, &ls)) {
		for (long x = la; x <= lb; x += ls) {
			snprintf(v, sizeof(v), "%ld", x);
			if ((rc = axis_add(ax, v, err, errlen)))
				return rc;
		}
		return 0;
	}
	int n = (int)floor((db - da) / ds + 1e-9);
	for (int i = 0; i <= n; i++) {
		snprintf(v, sizeof(v), "%.10g", da + i * ds);
		if ((rc = axis_add(ax, v, err, errlen)))
			return rc;
	}
	return 0;
}

static int parse_axis(struct sweep_grid *g, const char *tok, char *err, size_t errlen)
{
	const char *eq = strchr(tok, '=');
	if (!eq || eq == tok || !eq[1])
		return kv_errf(err, errlen, KV_EINVAL, "--grid: expected KEY=V1,V2,... (e.g. tsp_idx=5,10 or tsp_idx=0:30:5), got '%s'",
			       tok);
	if (g->n_axes == SWEEP_MAX_AXES)
		return kv_errf(err, errlen, KV_EINVAL, "--grid: at most %d axes", SWEEP_MAX_AXES);
	for (int a = 0; a < g->n_axes; a++)
		if (strlen(g->ax[a].key) == (size_t)(eq - tok) && !strncmp(g->ax[a].key, tok, (size_t)(eq - tok)))
			return kv_errf(err, errlen, KV_EINVAL, "--grid: axis '%s' given twice; give it once", g->ax[a].key);
	struct sweep_axis *ax = &g->ax[g->n_axes++];
	if (!(ax->key = strndup(tok, (size_t)(eq - tok))))
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	if (!strncmp(ax->key, "--", 2))
		return kv_errf(err, errlen, KV_EINVAL, "--grid: write axis '%s' without the leading --", ax->key);
	int rc;
	for (const char *p = eq + 1; *p;) {
		size_t len = strcspn(p, ",");
		char item[128];
		if (len == 0 || len >= sizeof(item))
			return kv_errf(err, errlen, KV_EINVAL, "--grid: %s: %s value in '%s'", ax->key, len ? "overlong" : "empty",
				       tok);
		memcpy(item, p, len);
		item[len] = 0;
		if ((rc = strchr(item, ':') ? axis_range(ax, item, err, errlen) : axis_add(ax, item, err, errlen)))
			return rc;
		p += len + (p[len] == ',');
	}
	for (int i = 0; i < ax->n; i++)
		for (int j = 0; j < i; j++)
			if (!strcmp(ax->vals[i], ax->vals[j]))
				return kv_errf(err, errlen, KV_EINVAL, "--grid: %s: value '%s' listed twice", ax->key, ax->vals[i]);
	return 0;
}

int sweep_grid_parse(const char *spec, struct sweep_grid *g, char *err, size_t errlen)
{
	memset(g, 0, sizeof(*g));
	char tok[4096];
	int rc;
	for (const char *p = spec ? spec : ""; *p;) {
		p += strspn(p, " \t\n;");
		size_t len = strcspn(p, " \t\n;");
		if (!len)
			break;
		if (len >= sizeof(tok))
			return kv_errf(err, errlen, KV_EINVAL, "--grid: axis '%.40s...' is too long", p);
		memcpy(tok, p, len);
		tok[len] = 0;
		if ((rc = parse_axis(g, tok, err, errlen)))
			return rc;
		p += len;
	}
	if (g->n_axes == 0)
		return kv_errf(err, errlen, KV_EINVAL, "--grid: expected at least one axis KEY=V1,V2,..., got '%s'", spec ? spec : "");
	return 0;
}

// ----------------------------------------------------------------------------
// points, groups, units

/* Methods that send fewer tokens on (or restart): their points share a prefill only when
 * every parameter but the retention-only ones agrees. The other methods keep the forward
 * as it is, so any of their points share. FastKV's retain_rate and max_capacity_prompts
 * size the caches only, except where the budget reaches the prompt (then TSP is skipped):
 * that case is caught at run time and the unit reruns point by point. A composed method
 * (tsp+h2o) propagates as its reduction half does, and a flag only its retention half
 * takes sizes the caches only; tsp is FastKV's TSP. GemFilter's cut is its KV budget unless
 * --filter_rate sets it (given, in the entry or swept): then the budget flags size the
 * caches only. */
static const struct {
	const char *method;
	const char *const retention[3];
	const char *cut_flag;                 /* when this flag is set, ... */
	const char *const cut_retention[4];   /* ... these size the caches only too */
} propagating[] = {
	{ "fastkv", { "retain_rate", "max_capacity_prompts", NULL }, NULL, { NULL } },
	{ "tsp", { "retain_rate", "max_capacity_prompts", NULL }, NULL, { NULL } },
	{ "gemfilter", { NULL }, "filter_rate", { "retain_rate", "max_capacity_prompts", "eviction_mode", NULL } },
	{ "pyramidinfer", { NULL }, NULL, { NULL } },
};

/* Writes point p's group key: one key for every method that keeps the forward as it is
 * (their prefills are the same whatever they retain); for a method that propagates, its
 * propagating half's name, the entry's own settings and every swept value but the
 * retention-only ones (tsp+h2o and tsp+snapkv share; a unit whose members still propagate
 * differently is caught at run time and reruns point by point). */
static void point_group(struct sweep_point *p, const char *entry, const struct kv_method *m, const struct sweep_grid *g,
			const int *digit, const struct kv_args *fixed)
{
	int k = -1;
	const struct kv_method *flow = m, *red = NULL, *ret = NULL;
	if (kv_compose_halves(m, &red, &ret))
		flow = red;
	for (size_t i = 0; flow && i < sizeof(propagating) / sizeof(propagating[0]); i++)
		if (!strcmp(propagating[i].method, flow->name))
			k = (int)i;
	if (k < 0) {
		snprintf(p->group, sizeof(p->group), "=full-forward");
		return;
	}
	const char *opts = strchr(entry, ':'), *cut = propagating[k].cut_flag;
	bool cut_set = false;
	char key[64];
	snprintf(key, sizeof(key), ":%s=", cut ? cut : "");
	for (int a = 0; cut && a < g->n_axes; a++)
		cut_set = cut_set || !strcmp(g->ax[a].key, cut);
	cut_set = cut && (cut_set || (fixed && kv_args_get(fixed, cut)) || (opts && strstr(opts, key)));
	size_t o = (size_t)snprintf(p->group, sizeof(p->group), "%s%s", flow->name, opts ? opts : "");
	for (int a = 0; a < g->n_axes && o < sizeof(p->group); a++) {
		bool only_kv = !strcmp(g->ax[a].key, "method") || !kv_param_find(flow->params, g->ax[a].key);
		for (int r = 0; propagating[k].retention[r]; r++)
			only_kv = only_kv || !strcmp(g->ax[a].key, propagating[k].retention[r]);
		for (int r = 0; cut_set && propagating[k].cut_retention[r]; r++)
			only_kv = only_kv || !strcmp(g->ax[a].key, propagating[k].cut_retention[r]);
		if (!only_kv)
			o += (size_t)snprintf(p->group + o, sizeof(p->group) - o, ":%s=%s", g->ax[a].key, g->ax[a].vals[digit[a]]);
	}
}

void sweep_plan_free(struct sweep_plan *p)
{
	free(p->spec_json);
	free(p->grid_json);
	free(p->pt);
	free(p->unit_start);
	memset(p, 0, sizeof(*p));
}

/* The task arguments that define the runs, as JSON members. */
static void task_json(struct sb *b, const struct task_args *t)
{
	const char *keys[] = { "task", "data", "context_lengths", "depths", "protocol", "qa_data", "ruler_rev" };
	const char *vals[] = { t->task, t->data, t->context_lengths, t->depths, t->protocol, t->qa_data, t->ruler_rev };
	for (int i = 0; i < 7; i++) {
		sb_printf(b, "%s\"%s\":", i ? "," : "", keys[i]);
		if (vals[i])
			sb_json(b, vals[i]);
		else
			sb_printf(b, "null");
	}
	sb_printf(b, ",\"limit\":%d,\"chat\":%d,\"max_len\":%d,\"beyond_context\":%d", t->limit, t->chat, t->max_len,
		  t->beyond_context);
	if (t->question_protocol && strcmp(t->question_protocol, "query_aware") != 0) /* the default keeps sweep ids */
		sb_printf(b, ",\"question_protocol\":\"%s\"", t->question_protocol);
}

static int spec_make(const struct sweep_opts *o, const struct sweep_grid *g, struct sweep_plan *p, char *err, size_t errlen)
{
	struct sb gj = { 0 }, sj = { 0 };
	sb_printf(&gj, "[");
	for (int a = 0; a < g->n_axes; a++) {
		sb_printf(&gj, "%s[", a ? "," : "");
		sb_json(&gj, g->ax[a].key);
		sb_printf(&gj, ",[");
		for (int i = 0; i < g->ax[a].n; i++) {
			if (i)
				sb_printf(&gj, ",");
			if (!strcmp(g->ax[a].key, "method"))
				sb_json(&gj, g->ax[a].vals[i]);
			else
				sb_value(&gj, g->ax[a].vals[i]);
		}
		sb_printf(&gj, "]]");
	}
	sb_printf(&gj, "]");
	sb_printf(&sj, "{\"kvlab_sweep\":1,");
	task_json(&sj, o->run.task);
	sb_printf(&sj, ",\"model\":");
	sb_json(&sj, o->run.model_path);
	sb_printf(&sj, ",\"backend\":");
	sb_json(&sj, o->run.backend ? o->run.backend->name : "cpu");
	if (o->run.kv_dtype != KV_DTYPE_F32) /* f32 sweeps keep their ids */
		sb_printf(&sj, ",\"kv_dtype\":\"%s\"", kv_dtype_name(o->run.kv_dtype));
	sb_printf(&sj, ",\"threads\":%d,\"method\":", o->run.threads);
	sb_json(&sj, o->run.methods ? o->run.methods : "fullkv");
	sb_printf(&sj, ",\"fixed\":{");
	for (int i = 0; o->run.method_args && i < o->run.method_args->n; i++) {
		sb_printf(&sj, "%s", i ? "," : "");
		sb_json(&sj, o->run.method_args->v[i].key);
		sb_printf(&sj, ":");
		sb_json(&sj, o->run.method_args->v[i].val);
	}
	sb_printf(&sj, "},\"grid\":%s}", gj.p ? gj.p : "");
	if (gj.oom || sj.oom) {
		free(gj.p);
		free(sj.p);
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	}
	p->grid_json = gj.p;
	p->spec_json = sj.p;
	sha256_hex(sj.p, strlen(sj.p), p->sweep_id);
	return 0;
}

/* Checks the axes' keys against the methods of the sweep (meths[0..nm)) and the fixed flags. */
static int check_axes(const struct sweep_opts *o, const struct sweep_grid *g, const struct kv_method *const *meths, int nm,
		      char *err, size_t errlen)
{
	for (int a = 0; a < g->n_axes; a++) {
		const char *key = g->ax[a].key;
		if (!strcmp(key, "method"))
			continue;
		if (o->run.method_args && kv_args_get(o->run.method_args, key))
			return kv_errf(err, errlen, KV_EINVAL, "--grid: %s is swept and also given as --%s; give it once", key, key);
		bool taken = false;
		for (int i = 0; i < nm && !taken; i++)
			taken = kv_param_find(meths[i]->params, key) != NULL;
		if (taken)
			continue;
		char takers[256];
		if (kv_param_takers(kv_methods, key, takers, sizeof(takers)) == 0)
			return kv_errf(err, errlen, KV_EINVAL,
				       "--grid: unknown axis '%s' (axes are method= and the method flags without --, e.g. tsp_idx=5,10)", key);
		return kv_errf(err, errlen, KV_EINVAL, "--grid: %s is not a parameter of the swept method(s) (taken by %s)", key,
			       takers);
	}
	for (int i = 0; o->run.method_args && i < o->run.method_args->n; i++) {
		bool taken = false;
		for (int j = 0; j < nm && !taken; j++)
			taken = kv_param_find(meths[j]->params, o->run.method_args->v[i].key) != NULL;
		if (!taken) {
			char takers[256];
			kv_param_takers(kv_methods, o->run.method_args->v[i].key, takers, sizeof(takers));
			return kv_errf(err, errlen, KV_EINVAL, "--%s: not a parameter of the swept method(s) (taken by %s)",
				       o->run.method_args->v[i].key, takers);
		}
	}
	return 0;
}

/* Builds the point with axis indices digit[]; *skip when an equal point exists already. */
static int point_make(const struct sweep_grid *g, const int *digit, const char *base, const struct kv_args *fixed,
		      struct sweep_point *p, char *err, size_t errlen)
{
	const char *entry = base;
	for (int a = 0; a < g->n_axes; a++)
		if (!strcmp(g->ax[a].key, "method"))
			entry = g->ax[a].vals[digit[a]];
	char name[128];
	snprintf(name, sizeof(name), "%.*s", (int)strcspn(entry, ":"), entry);
	const struct kv_method *m;
	int rc;
	if ((rc = kv_method_lookup(kv_methods, name, &m, err, errlen)))
		return rc;
	struct sb l = { 0 }, j = { 0 };
	sb_printf(&l, "%s", entry);
	sb_printf(&j, "{\"method\":");
	sb_json(&j, entry);
	for (int a = 0; a < g->n_axes; a++) {
		const char *key = g->ax[a].key;
		if (!strcmp(key, "method") || !kv_param_find(m->params, key))
			continue;
		sb_printf(&l, ":%s=%s", key, g->ax[a].vals[digit[a]]);
		sb_printf(&j, ",");
		sb_json(&j, key);
		sb_printf(&j, ":");
		sb_value(&j, g->ax[a].vals[digit[a]]);
	}
	sb_printf(&j, "}");
	if (l.oom || j.oom)
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	else if (strlen(l.p) >= sizeof(p->label) || strlen(j.p) >= sizeof(p->json))
		rc = kv_errf(err, errlen, KV_EINVAL, "--grid: point '%.60s...' is too long (at most %zu characters)", l.p,
			     sizeof(p->label) - 1);
	else {
		strcpy(p->label, l.p);
		strcpy(p->json, j.p);
		point_group(p, entry, m, g, digit, fixed);
	}
	free(l.p);
	free(j.p);
	return rc;
}

int sweep_plan_make(const struct sweep_opts *o, struct sweep_plan *p, char *err, size_t errlen)
{
	struct sweep_grid g;
	const struct kv_method *meths[64];
	int nm = 0, rc;
	memset(p, 0, sizeof(*p));
	const char *base = o->run.methods ? o->run.methods : "fullkv";
	if (strchr(base, ','))
		return kv_errf(err, errlen, KV_EINVAL,
			       "--method: a sweep takes one method (sweep methods with a method= axis in --grid), got '%s'", base);
	if ((rc = sweep_grid_parse(o->grid, &g, err, errlen)))
		goto out;
	long n = 1;
	for (int a = 0; a < g.n_axes; a++) {
		n *= g.ax[a].n;
		if (n > SWEEP_MAX_POINTS) {
			rc = kv_errf(err, errlen, KV_EINVAL, "--grid: more than %d points", SWEEP_MAX_POINTS);
			goto out;
		}
		if (!strcmp(g.ax[a].key, "method"))
			for (int i = 0; i < g.ax[a].n && nm < 64; i++) {
				char name[128];
				snprintf(name, sizeof(name), "%.*s", (int)strcspn(g.ax[a].vals[i], ":"), g.ax[a].vals[i]);
				if ((rc = kv_method_lookup(kv_methods, name, &meths[nm], err, errlen)))
					goto out;
				nm++;
			}
	}
	if (nm == 0) {
		char name[128];
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(base, ":"), base);
		if ((rc = kv_method_lookup(kv_methods, name, &meths[nm++], err, errlen)))
			goto out;
	}
	if ((rc = check_axes(o, &g, meths, nm, err, errlen)) || (rc = spec_make(o, &g, p, err, errlen)))
		goto out;
	struct sweep_point *pt = calloc((size_t)n, sizeof(*pt));
	int *order = calloc((size_t)n, sizeof(int));
	if (!pt || !order || !(p->unit_start = calloc((size_t)n + 1, sizeof(int)))) {
		free(pt);
		free(order);
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		goto out;
	}
	int np = 0, digit[SWEEP_MAX_AXES];
	for (long i = 0; i < n; i++) {
		long r = i;
		for (int a = g.n_axes - 1; a >= 0; a--) { /* the last axis varies fastest */
			digit[a] = (int)(r % g.ax[a].n);
			r /= g.ax[a].n;
		}
		if ((rc = point_make(&g, digit, base, o->run.method_args, &pt[np], err, errlen))) {
			free(pt);
			free(order);
			goto out;
		}
		bool dup = false;
		for (int k = 0; k < np && !dup; k++)
			dup = !strcmp(pt[k].label, pt[np].label);
		np += !dup;
	}
	/* points grouped (groups in order of first appearance), then cut into units */
	int m = 0;
	bool *used = calloc((size_t)np, sizeof(bool));
	if (!used) {
		free(pt);
		free(order);
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		goto out;
	}
	int cap = RUNNER_MAX_METHODS;
	if (o->n_parts > 1) /* enough units for every job */
		cap = (int)fmin(cap, fmax(1, ceil((double)np / o->n_parts)));
	p->pt = calloc((size_t)np, sizeof(*p->pt));
	if (!p->pt) {
		free(pt);
		free(order);
		free(used);
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < np; i++) {
		if (used[i])
			continue;
		int in_unit = 0;
		for (int k = i; k < np; k++) {
			if (used[k] || strcmp(pt[k].group, pt[i].group))
				continue;
			if (in_unit == cap) {
				p->unit_start[++p->n_units] = m;
				in_unit = 0;
			}
			used[k] = true;
			p->pt[m++] = pt[k];
			in_unit++;
		}
		p->unit_start[++p->n_units] = m;
	}
	p->n_points = np;
	free(pt);
	free(order);
	free(used);
	rc = 0;
out:
	sweep_grid_free(&g);
	return rc;
}

// ----------------------------------------------------------------------------
// running

struct sweep_state {
	const struct sweep_opts *o;
	const struct sweep_plan *p;
	int unit;                 /* the unit running */
	int n_points_mine;        /* points of this process's units */
	int n_mine_samples;       /* samples per run in this shard (known after the first unit starts) */
	long units_done;          /* (run, sample) pairs visited in finished units */
	long units_now;           /* ... of them and the running unit, stored by this process */
	int unit_seen;            /* samples visited in the running unit */
	int unit_width;           /* points in the running unit */
	double t0, last_print;
	bool tty;
};

static int on_start(void *ctx, struct store *st, const struct runner_result *res, char *err, size_t errlen)
{
	struct sweep_state *s = ctx;
	const struct sweep_plan *p = s->p;
	const char *ids[RUNNER_MAX_METHODS], *pts[RUNNER_MAX_METHODS];
	int first = p->unit_start[s->unit];
	for (int i = 0; i < res->n_runs; i++) {
		ids[i] = res->run_id[i];
		pts[i] = p->pt[first + i].json;
	}
	int k = s->o->run.shard, n = s->o->run.n_shards > 1 ? s->o->run.n_shards : 1;
	s->n_mine_samples = (res->n_total - k % n + n - 1) / n;
	struct sweep_info sw = { .sweep_id = p->sweep_id, .task = s->o->run.task->task, .model_path = s->o->run.model_path,
				 .grid_json = p->grid_json, .spec_json = p->spec_json };
	return store_sweep_record(st, &sw, res->n_runs, ids, pts, err, errlen);
}

static void print_progress(struct sweep_state *s, bool force)
{
	double now = kv_clock_s(), el = now - s->t0;
	if (!force && !s->tty && now - s->last_print < 5.0)
		return;
	s->last_print = now;
	long total = (long)s->n_points_mine * s->n_mine_samples;
	long done = s->units_done + (long)s->unit_seen * s->unit_width;
	double eta = s->units_now > 0 ? el / s->units_now * (double)(total - done) : 0.0;
	fprintf(stderr, "%s[sweep %.12s] unit %d/%d  %ld/%ld run-samples  elapsed %.0fs  eta %.0fs%s", s->tty ? "\r" : "",
		s->p->sweep_id, s->unit + 1, s->p->n_units, done, total, el, eta, s->tty ? " " : "\n");
	fflush(stderr);
}

static void on_sample(void *ctx, int seen, int n_seen, bool stored_now)
{
	struct sweep_state *s = ctx;
	(void)n_seen;
	s->unit_seen = seen;
	if (stored_now)
		s->units_now += s->unit_width;
	print_progress(s, false);
}

/* True when err says a shared prefill found two members propagating differently. */
static bool flow_mismatch(const char *err)
{
	return strstr(err, "send different tokens on") != NULL;
}

/* Runs points [first, first+n) of the plan as one runner call. */
static int run_points(struct sweep_state *s, struct model *m, int first, int n, struct sweep_result *res, char *err,
		      size_t errlen)
{
	const struct sweep_opts *o = s->o;
	struct sb spec = { 0 };
	struct kv_args fixed = { 0 };
	struct runner_result rr;
	int rc = 0;
	for (int i = first; i < first + n; i++)
		sb_printf(&spec, "%s%s", i > first ? "," : "", s->p->pt[i].label);
	/* a fixed flag goes to the runner when some method of the unit takes it (the runner
	 * gives it to each one that does) */
	for (int i = 0; o->run.method_args && i < o->run.method_args->n && !rc; i++) {
		bool taken = false;
		for (int k = first; k < first + n && !taken; k++) {
			char name[128];
			snprintf(name, sizeof(name), "%.*s", (int)strcspn(s->p->pt[k].label, ":"), s->p->pt[k].label);
			const struct kv_method *meth = kv_method_find(name);
			taken = meth && kv_param_find(meth->params, o->run.method_args->v[i].key);
		}
		if (taken)
			rc = kv_args_set(&fixed, o->run.method_args->v[i].key, o->run.method_args->v[i].val, err, errlen);
	}
	if (spec.oom)
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	if (!rc) {
		struct runner_opts ro = o->run;
		ro.methods = spec.p;
		ro.method_args = &fixed;
		ro.model = m;
		ro.quiet = true;
		ro.ctx = s;
		ro.on_start = on_start;
		ro.on_sample = on_sample;
		s->unit_seen = 0;
		s->unit_width = n;
		rc = runner_run(&ro, &rr, err, errlen);
		if (!rc) {
			res->n_done_now += rr.n_done_now;
			res->n_done_before += rr.n_done_before;
		}
	}
	free(spec.p);
	kv_args_free(&fixed);
	return rc;
}

/* Checks every point's values against the model before anything runs. */
static int check_points(const struct sweep_opts *o, const struct sweep_plan *p, const struct model *m, char *err,
			size_t errlen)
{
	struct kv_shape shape = { m->cfg.n_layer, m->cfg.n_head, m->cfg.n_head_kv, m->cfg.head_dim, m->cfg.n_embd };
	for (int i = 0; i < p->n_points; i++) {
		struct kv_method_entry *e = NULL;
		struct kv_args fixed = { 0 };
		struct kv_policy pol;
		char msg[512];
		int n = 0, rc = 0;
		char name[128];
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(p->pt[i].label, ":"), p->pt[i].label);
		const struct kv_method *meth = kv_method_find(name);
		for (int k = 0; o->run.method_args && k < o->run.method_args->n && !rc; k++)
			if (meth && kv_param_find(meth->params, o->run.method_args->v[k].key))
				rc = kv_args_set(&fixed, o->run.method_args->v[k].key, o->run.method_args->v[k].val, msg, sizeof(msg));
		if (!rc && !(rc = kv_method_list_parse(kv_methods, "--grid", p->pt[i].label, &fixed, &e, &n, msg, sizeof(msg))) &&
		    !(rc = kv_policy_make(e[0].m, &e[0].args, &shape, &pol, msg, sizeof(msg))))
			kv_policy_free(&pol);
		kv_method_list_free(e, n);
		kv_args_free(&fixed);
		if (rc)
			return kv_errf(err, errlen, rc, "--grid point '%s': %s", p->pt[i].label, msg);
	}
	return 0;
}

int sweep_run(const struct sweep_opts *o, struct sweep_result *res, char *err, size_t errlen)
{
	struct sweep_plan p;
	struct model *m = NULL;
	int rc;
	memset(res, 0, sizeof(*res));
	if ((rc = sweep_plan_make(o, &p, err, errlen)))
		goto out;
	int part = o->n_parts > 1 ? o->part : 0, n_parts = o->n_parts > 1 ? o->n_parts : 1;
	memcpy(res->sweep_id, p.sweep_id, 65);
	res->n_points = p.n_points;
	res->n_units = p.n_units;
	if ((rc = model_load(o->run.model_path, &m, err, errlen)) || (rc = check_points(o, &p, m, err, errlen)))
		goto out;
	struct sweep_state s = { .o = o, .p = &p, .t0 = kv_clock_s(), .tty = isatty(2) };
	for (int u = 0; u < p.n_units; u++)
		if (u % n_parts == part)
			s.n_points_mine += p.unit_start[u + 1] - p.unit_start[u];
	fprintf(stderr, "sweep %.12s: task %s, %d points in %d units (points in a unit share each prefill), db %s%s\n",
		p.sweep_id, o->run.task->task, p.n_points, p.n_units, o->run.db_path, n_parts > 1 ? "" : "");
	if (n_parts > 1)
		fprintf(stderr, "sweep %.12s: job %d of 0..%d runs units u with u %% %d == %d\n", p.sweep_id, part, n_parts - 1,
			n_parts, part);
	for (int u = 0; u < p.n_units; u++) {
		if (u % n_parts != part)
			continue;
		int first = p.unit_start[u], n = p.unit_start[u + 1] - first;
		s.unit = u;
		rc = run_points(&s, m, first, n, res, err, errlen);
		if (rc && n > 1 && flow_mismatch(err)) {
			/* the points propagate differently after all: each on its own (stored samples stay) */
			fprintf(stderr, "%s[sweep %.12s] unit %d: %s; running its %d points one by one\n", s.tty ? "\n" : "",
				p.sweep_id, u + 1, err, n);
			rc = 0;
			for (int i = first; i < first + n && !rc; i++)
				rc = run_points(&s, m, i, 1, res, err, errlen);
			s.unit_width = n;
		}
		if (rc)
			goto out;
		s.units_done += (long)n * s.n_mine_samples;
		s.unit_seen = 0;
		res->n_units_run++;
		print_progress(&s, true);
	}
	if (s.tty)
		fputc('\n', stderr);
	fprintf(stderr, "sweep %.12s: %d points, %d (run, sample) pairs stored now, %d already present\n", p.sweep_id,
		s.n_points_mine, res->n_done_now, res->n_done_before);
	rc = 0;
out:
	sweep_plan_free(&p);
	model_free(m);
	return rc;
}
