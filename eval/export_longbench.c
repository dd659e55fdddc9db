/* LongBench export: see export_longbench.h. Mirrors the record writer of FastKV's
 * eval/run_longbench.py and the aggregation of eval/eval_longbench.py (spec eval.md 1.7, 2.7). */
#include "eval/export_longbench.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "datasets/longbench.h"      // longbench_base_name, longbench_file_rank
#include "base/pyjson.h"            // py_json_str (json.dumps string, ensure_ascii), py_float_repr
#include "base/errors.h"
#include "base/fileio.h"           // kv_mkdir_p
#include "base/grow.h"             // kv_grow
#include "eval/metrics/metrics.h"    // metric_score_named (samples stored without a score)
#include "eval/export_params.h"   // export_params_defaults
#include "eval/export_ruler.h"    // export_ruler_fmt_score (repr(round(x, 2)))
#include "results/run_label.h"  // run_label_params_json
#include "results/store.h"

/* Row order: eval_longbench.py's method loop (metrics.json ends up holding the last). */
static const char *const method_order[] = { "fullkv", "streamingllm", "h2o", "snapkv", "pyramidinfer", "gemfilter", "fastkv", NULL };

struct xrow {
	int method, file;  /* indices into the name lists */
	int idx;           /* sample order in the run */
	char *run_id, *id, *pred;
	char *record;      /* the sample's stored record (sample_records), or NULL */
	double score;
	bool has_score;
};

struct names {
	char **v;
	int n;
};

static int name_index(struct names *l, const char *s, bool add)
{
	for (int i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], s))
			return i;
	if (!add)
		return -1;
	char **nv = realloc(l->v, sizeof(char *) * (size_t)(l->n + 1));
	if (!nv)
		return -1;
	l->v = nv;
	if (!(l->v[l->n] = strdup(s)))
		return -1;
	return l->n++;
}

/* Position of method m in method_order; unknown methods last. */
static int method_rank(const char *m)
{
	int i = 0;
	while (method_order[i] && strcmp(method_order[i], m))
		i++;
	return i;
}

// ----------------------------------------------------------------------------
// Python json.dumps of a parsed value (defaults: ensure_ascii, ", " and ": ")

struct buf {
	char *b;
	size_t len, cap;
};

static int put(struct buf *o, const char *s)
{
	size_t n = strlen(s);
	if (kv_grow((void **)&o->b, &o->cap, o->len + n + 1, 1))
		return KV_ENOMEM;
	memcpy(o->b + o->len, s, n + 1);
	o->len += n;
	return 0;
}

static int put_str(struct buf *o, const char *s)
{
	return py_json_str(&o->b, &o->len, &o->cap, s, strlen(s));
}

static int py_dump(struct buf *o, const cJSON *j)
{
	char num[64];
	int rc = 0;
	if (!j || cJSON_IsNull(j))
		return put(o, "null");
	if (cJSON_IsBool(j))
		return put(o, cJSON_IsTrue(j) ? "true" : "false");
	if (cJSON_IsString(j))
		return put_str(o, j->valuestring);
	if (cJSON_IsNumber(j)) {
		/* cJSON keeps no int/float distinction: integral values print as ints (LongBench's length) */
		if (j->valuedouble == floor(j->valuedouble) && fabs(j->valuedouble) < 1e15)
			snprintf(num, sizeof(num), "%lld", (long long)j->valuedouble);
		else
			py_float_repr(j->valuedouble, num, sizeof(num));
		return put(o, num);
	}
	bool obj = cJSON_IsObject(j);
	if ((rc = put(o, obj ? "{" : "[")))
		return rc;
	for (const cJSON *c = j->child; c && !rc; c = c->next) {
		if (c != j->child && (rc = put(o, ", ")))
			break;
		if (obj && ((rc = put_str(o, c->string)) || (rc = put(o, ": "))))
			break;
		rc = py_dump(o, c);
	}
	return rc ? rc : put(o, obj ? "}" : "]");
}

// ----------------------------------------------------------------------------
// aggregation

/* numpy's pairwise summation (np.add.reduce on a contiguous float64 array; blocks of 128,
 * eight accumulators), so LongBench-E buckets average as np.mean does. */
static double pairwise_sum(const double *a, int n)
{
	if (n < 8) {
		double r = 0.;
		for (int i = 0; i < n; i++)
			r += a[i];
		return r;
	}
	if (n <= 128) {
		double r[8];
		int i;
		for (int k = 0; k < 8; k++)
			r[k] = a[k];
		for (i = 8; i < n - (n % 8); i += 8)
			for (int k = 0; k < 8; k++)
				r[k] += a[i + k];
		double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
		for (; i < n; i++)
			res += a[i];
		return res;
	}
	int n2 = n / 2;
	n2 -= n2 % 8;
	return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

static double np_mean(const double *a, int n)
{
	/* the reduction starts from a[0] and adds the pairwise sum of the rest */
	return n ? (a[0] + pairwise_sum(a + 1, n - 1)) / n : NAN;
}

static int row_cmp(const void *a, const void *b)
{
	const struct xrow *x = a, *y = b;
	if (x->file != y->file)
		return x->file - y->file;
	if (x->method != y->method)
		return x->method - y->method;
	return x->idx - y->idx;
}

static void fmt_cell(double v, char *buf, size_t len)
{
	if (isnan(v))
		snprintf(buf, len, "nan");
	else
		export_ruler_fmt_score(v, buf, len);
}

/* Writes {out}/{file}/{method}.json for rows[0..n) (one dataset, one method) from the
 * records stored at run time and returns the per-sample scores through scores (n entries)
 * and lengths. */
static int write_records(const char *db, const char *path, const struct xrow *rows, int n, const char *file,
			 double *scores, double *lengths, char *err, size_t errlen)
{
	struct buf o = { 0 };
	cJSON *rec = NULL;
	int rc = 0;
	FILE *f = NULL;
	if (!(f = fopen(path, "w"))) {
		rc = kv_errf(err, errlen, KV_EIO, "%s: cannot write", path);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		const struct xrow *r = &rows[i];
		cJSON_Delete(rec);
		if (!r->record || !(rec = cJSON_Parse(r->record))) {
			rc = kv_errf(err, errlen, KV_EFORMAT,
				     "%s: run %.12s sample %s/%s: no stored record (sample_records); runs stored before records were kept need re-running",
				     db, r->run_id, file, r->id);
			goto out;
		}
		const cJSON *len = cJSON_GetObjectItemCaseSensitive(rec, "length");
		lengths[i] = cJSON_IsNumber(len) ? len->valuedouble : 0;
		scores[i] = r->score;
		if (!r->has_score) { /* stored without a score: score as the task does */
			const cJSON *ans = cJSON_GetObjectItemCaseSensitive(rec, "answers"), *cls = cJSON_GetObjectItemCaseSensitive(rec, "all_classes");
			int na = cJSON_GetArraySize(ans), nc = cJSON_IsArray(cls) ? cJSON_GetArraySize(cls) : 0;
			const char **a = calloc((size_t)na + 1, sizeof(char *)), **c = calloc((size_t)nc + 1, sizeof(char *));
			for (int k = 0; a && k < na; k++)
				a[k] = cJSON_IsString(cJSON_GetArrayItem(ans, k)) ? cJSON_GetArrayItem(ans, k)->valuestring : "";
			for (int k = 0; c && k < nc; k++)
				c[k] = cJSON_IsString(cJSON_GetArrayItem(cls, k)) ? cJSON_GetArrayItem(cls, k)->valuestring : "";
			char scorer[200];
			struct metric_value v[METRIC_MAX_VALUES];
			int nv = 0;
			snprintf(scorer, sizeof(scorer), "longbench:%s", file);
			rc = a && c ? metric_score_named(scorer, NULL, r->pred, a, na, nc ? c : NULL, nc, v, &nv, err, errlen)
				    : kv_errf(err, errlen, KV_ENOMEM, "out of memory");
			if (!rc)
				scores[i] = v[0].value;
			free(a);
			free(c);
			if (rc)
				goto out;
		}
		o.len = 0;
		rc = put(&o, "{\"prompt\": ");
		const cJSON *pr = cJSON_GetObjectItemCaseSensitive(rec, "prompt");
		rc = rc ? rc : put_str(&o, cJSON_IsString(pr) ? pr->valuestring : "");
		static const char *const keys[] = { "input", "context", "answers", "pred", "length", "dataset", "language",
						    "all_classes", "_id" };
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]) && !rc; k++) {
			char kbuf[32];
			snprintf(kbuf, sizeof(kbuf), ", \"%s\": ", keys[k]);
			rc = put(&o, kbuf);
			if (!rc)
				rc = !strcmp(keys[k], "pred") ? put_str(&o, r->pred) : py_dump(&o, cJSON_GetObjectItemCaseSensitive(rec, keys[k]));
		}
		rc = rc ? rc : put(&o, "}\n");
		if (rc) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
			goto out;
		}
		if (fwrite(o.b, 1, o.len, f) != o.len) {
			rc = kv_errf(err, errlen, KV_EIO, "%s: write failed", path);
			goto out;
		}
	}
out:
	if (f && fclose(f) != 0 && !rc)
		rc = kv_errf(err, errlen, KV_EIO, "%s: write failed", path);
	free(o.b);
	cJSON_Delete(rec);
	return rc;
}

/* The score of one (dataset, method) as metrics.json holds it, into out: round(100 * mean, 2)
 * (scorer()), or for LongBench-E the 0-4k / 4-8k / 8k+ buckets (scorer_e(): lengths < 4000,
 * < 8000, else; null for an empty bucket, where Python would write NaN). */
static int score_text(bool e, const double *scores, const double *lengths, int n, double *overall, char *out, size_t len)
{
	char s[64];
	double sum = 0;
	for (int i = 0; i < n; i++)
		sum += scores[i];
	*overall = 100 * sum / n; /* scorer(): round(100 * total_score / len(predictions), 2) */
	if (!e) {
		export_ruler_fmt_score(*overall, out, len);
		return 0;
	}
	static const char *const names[3] = { "0-4k", "4-8k", "8k+" };
	double *b = malloc(sizeof(double) * (size_t)(n + 1));
	if (!b)
		return KV_ENOMEM;
	size_t o = (size_t)snprintf(out, len, "{");
	for (int k = 0; k < 3 && o < len; k++) {
		int m = 0;
		for (int i = 0; i < n; i++)
			if ((lengths[i] < 4000 ? 0 : lengths[i] < 8000 ? 1 : 2) == k)
				b[m++] = scores[i];
		fmt_cell(100 * np_mean(b, m), s, sizeof(s));
		o += (size_t)snprintf(out + o, len - o, "%s\"%s\": %s", k ? ", " : "", names[k], !strcmp(s, "nan") ? "null" : s);
	}
	if (o < len)
		snprintf(out + o, len - o, "}");
	free(b);
	return 0;
}

/* One (dataset, method) of metrics.json. */
struct mentry {
	int file, method, n;
	char run_id[65];
	char score[160];
};

/* Writes {out}/{file}/metrics.json: {file: {method: {"score", "samples", "run_id", "model",
 * "params" (the parameters other than the method's defaults)}}} for the entries of file, in
 * the method order. Indent 4, as eval_longbench.py's, which kept one anonymous number. */
static int write_metrics(struct store *s, const char *out_dir, const char *file, const struct mentry *e, int n,
			 const struct names *methods, char *err, size_t errlen)
{
	char path[4096];
	struct buf k = { 0 };
	sqlite3_stmt *q = NULL;
	int rc = 0;
	snprintf(path, sizeof(path), "%s/%s/metrics.json", out_dir, file);
	if ((rc = store_query(s, "SELECT model_path, method, method_json FROM runs WHERE run_id = ?1", NULL, NULL, &q,
			      "reading runs", err, errlen)))
		return rc;
	FILE *f = fopen(path, "w");
	if (!f) {
		sqlite3_finalize(q);
		return kv_errf(err, errlen, KV_EIO, "%s: cannot write (%s)", path, strerror(errno));
	}
	if (put_str(&k, file)) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		goto out;
	}
	fprintf(f, "{\n    %s: {", k.b);
	for (int i = 0; i < n; i++) {
		char params[2048] = "{}";
		struct buf model = { 0 }, name = { 0 };
		sqlite3_reset(q);
		sqlite3_bind_text(q, 1, e[i].run_id, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(q) != SQLITE_ROW) {
			rc = store_err(s, "reading runs", err, errlen);
			goto out;
		}
		if ((rc = run_label_params_json(s, export_params_defaults(), (const char *)sqlite3_column_text(q, 1),
						(const char *)sqlite3_column_text(q, 2), params, sizeof(params), err, errlen)))
			goto out;
		if (put_str(&model, (const char *)sqlite3_column_text(q, 0)) || put_str(&name, methods->v[e[i].method])) {
			free(model.b);
			free(name.b);
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
			goto out;
		}
		fprintf(f,
			"%s\n        %s: {\n            \"score\": %s,\n            \"samples\": %d,\n            \"run_id\": \"%s\",\n"
			"            \"model\": %s,\n            \"params\": %s\n        }",
			i ? "," : "", name.b, e[i].score, e[i].n, e[i].run_id, model.b, params);
		free(model.b);
		free(name.b);
	}
	fputs("\n    }\n}", f);
out:
	free(k.b);
	sqlite3_finalize(q);
	if (fclose(f) != 0 && !rc)
		rc = kv_errf(err, errlen, KV_EIO, "%s: write failed", path);
	if (rc)
		remove(path);
	return rc;
}

// ----------------------------------------------------------------------------
// export

int export_longbench(struct store *s, const struct export_longbench_opts *o, FILE *log, char *err, size_t errlen)
{
	sqlite3_stmt *q = NULL;
	struct xrow *rows = NULL;
	struct names methods = { 0 }, files = { 0 };
	double *cells = NULL, *scores = NULL, *lengths = NULL;
	struct mentry *ments = NULL;
	int n = 0, rc = 0, st, n_ments = 0;
	size_t cap = 0, ments_cap = 0;
	const char *sql =
		"SELECT r.run_id, r.method, sr.record_json, s.idx, s.sample_id, s.prediction, s.meta_json, sc.value"
		" FROM runs r JOIN samples s ON s.run_id = r.run_id"
		" LEFT JOIN scores sc ON sc.run_id = s.run_id AND sc.sample_id = s.sample_id AND sc.metric = 'score'"
		" LEFT JOIN sample_records sr ON sr.run_id = s.run_id AND sr.sample_id = s.sample_id"
		" WHERE r.kind = 'eval' AND r.task LIKE 'longbench%' AND (?1 IS NULL OR r.run_id LIKE ?1 || '%')"
		" AND (?2 IS NULL OR r.method = ?2) ORDER BY r.created_at, r.run_id, s.idx";
	if ((rc = store_query(s, sql, o->run, o->method, &q, "reading runs", err, errlen)))
		return rc;
	while ((st = sqlite3_step(q)) == SQLITE_ROW) {
		const char *run_id = (const char *)sqlite3_column_text(q, 0);
		const char *sid = (const char *)sqlite3_column_text(q, 4);
		const char *record = (const char *)sqlite3_column_text(q, 2);
		cJSON *meta = cJSON_Parse((const char *)sqlite3_column_text(q, 6));
		const cJSON *ds = cJSON_GetObjectItemCaseSensitive(meta, "dataset");
		const cJSON *ee = cJSON_GetObjectItemCaseSensitive(meta, "longbench_e");
		const char *slash = sid ? strchr(sid, '/') : NULL;
		if (!cJSON_IsString(ds) || !slash) {
			rc = kv_errf(err, errlen, KV_EFORMAT, "%s: run %.12s sample %s: no dataset in meta_json", s->path, run_id,
				     sid ? sid : "?");
			cJSON_Delete(meta);
			goto out;
		}
		char file[160];
		snprintf(file, sizeof(file), "%s%s", ds->valuestring, cJSON_IsTrue(ee) ? "_e" : "");
		if (kv_grow((void **)&rows, &cap, (size_t)n + 1, sizeof(*rows))) {
			cJSON_Delete(meta);
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
			goto out;
		}
		struct xrow *r = &rows[n++];
		memset(r, 0, sizeof(*r));
		r->method = name_index(&methods, (const char *)sqlite3_column_text(q, 1), true);
		r->file = name_index(&files, file, true);
		r->idx = sqlite3_column_int(q, 3);
		r->run_id = strdup(run_id);
		r->record = record ? strdup(record) : NULL;
		r->id = strdup(slash + 1);
		r->pred = strdup((const char *)sqlite3_column_text(q, 5));
		r->has_score = sqlite3_column_type(q, 7) != SQLITE_NULL;
		r->score = r->has_score ? sqlite3_column_double(q, 7) : 0;
		cJSON_Delete(meta);
		if (r->method < 0 || r->file < 0 || !r->run_id || (record && !r->record) || !r->id || !r->pred) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (st != SQLITE_DONE) {
		rc = store_err(s, "reading samples", err, errlen);
		goto out;
	}
	if (n == 0) {
		rc = kv_errf(err, errlen, KV_EINVAL, "%s: no LongBench samples%s%s%s%s", s->path, o->run ? " for run " : "",
			     o->run ? o->run : "", o->method ? " for method " : "", o->method ? o->method : "");
		goto out;
	}
	/* renumber methods and files into the official orders, then group */
	int *mrank = calloc((size_t)methods.n, sizeof(int)), *frank = calloc((size_t)files.n, sizeof(int));
	int *mpos = calloc((size_t)methods.n, sizeof(int)), *fpos = calloc((size_t)files.n, sizeof(int));
	if (!mrank || !frank || !mpos || !fpos) {
		free(mrank), free(frank), free(mpos), free(fpos);
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < methods.n; i++)
		mrank[i] = method_rank(methods.v[i]) * 1000 + i;
	for (int i = 0; i < files.n; i++)
		frank[i] = longbench_file_rank(files.v[i]) * 1000 + i;
	for (int i = 0; i < methods.n; i++)
		for (int j = 0; j < methods.n; j++)
			mpos[i] += mrank[j] < mrank[i];
	for (int i = 0; i < files.n; i++)
		for (int j = 0; j < files.n; j++)
			fpos[i] += frank[j] < frank[i];
	for (int i = 0; i < n; i++) {
		rows[i].method = mpos[rows[i].method];
		rows[i].file = fpos[rows[i].file];
	}
	char **mv = malloc(sizeof(char *) * (size_t)methods.n), **fv = malloc(sizeof(char *) * (size_t)files.n);
	if (mv && fv) {
		for (int i = 0; i < methods.n; i++)
			mv[mpos[i]] = methods.v[i];
		for (int i = 0; i < files.n; i++)
			fv[fpos[i]] = files.v[i];
		memcpy(methods.v, mv, sizeof(char *) * (size_t)methods.n);
		memcpy(files.v, fv, sizeof(char *) * (size_t)files.n);
	}
	free(mv), free(fv), free(mrank), free(frank), free(mpos), free(fpos);
	qsort(rows, (size_t)n, sizeof(*rows), row_cmp);

	if ((rc = kv_mkdir_p(o->out_dir, "--out", err, errlen)))
		goto out;
	cells = malloc(sizeof(double) * (size_t)(methods.n * files.n));
	scores = malloc(sizeof(double) * (size_t)n);
	lengths = malloc(sizeof(double) * (size_t)n);
	if (!cells || !scores || !lengths) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < methods.n * files.n; i++)
		cells[i] = -1; /* eval_longbench.py: a missing file gives -1 */
	for (int i = 0; i < n;) {
		int j = i;
		while (j < n && rows[j].file == rows[i].file && rows[j].method == rows[i].method) {
			if (strcmp(rows[j].run_id, rows[i].run_id) != 0) {
				rc = kv_errf(err, errlen, KV_EINVAL,
					     "%s: method %s has several runs for %s (%.12s, %.12s): the official layout holds one; choose with --run",
					     s->path, methods.v[rows[i].method], files.v[rows[i].file], rows[i].run_id, rows[j].run_id);
				goto out;
			}
			j++;
		}
		const char *file = files.v[rows[i].file], *method = methods.v[rows[i].method];
		char base[160], path[4096];
		bool e = longbench_base_name(file, base, sizeof(base));
		snprintf(path, sizeof(path), "%s/%s", o->out_dir, file);
		if ((rc = kv_mkdir_p(path, "--out", err, errlen)))
			goto out;
		snprintf(path, sizeof(path), "%s/%s/%s.json", o->out_dir, file, method);
		if ((rc = write_records(s->path, path, rows + i, j - i, file, scores, lengths, err, errlen)))
			goto out;
		double overall;
		struct mentry *me;
		if (kv_grow((void **)&ments, &ments_cap, (size_t)n_ments + 1, sizeof(*ments))) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
			goto out;
		}
		me = &ments[n_ments++];
		*me = (struct mentry){ .file = rows[i].file, .method = rows[i].method, .n = j - i };
		snprintf(me->run_id, sizeof(me->run_id), "%s", rows[i].run_id);
		if (score_text(e, scores, lengths, j - i, &overall, me->score, sizeof(me->score))) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
			goto out;
		}
		cells[rows[i].method * files.n + rows[i].file] = overall;
		if (log) {
			char sc[32];
			export_ruler_fmt_score(overall, sc, sizeof(sc));
			fprintf(log, "%-22s %-14s %8s  (%d samples, run %.12s)\n", file, method, sc, j - i, rows[i].run_id);
		}
		i = j;
	}
	/* metrics.json per dataset, every method of it named (entries are in file, method order) */
	for (int a = 0; a < n_ments;) {
		int b = a;
		while (b < n_ments && ments[b].file == ments[a].file)
			b++;
		if ((rc = write_metrics(s, o->out_dir, files.v[ments[a].file], ments + a, b - a, &methods, err, errlen)))
			goto out;
		a = b;
	}
	/* results.csv as csv.writer writes it (CRLF). The official file labels its rows
	 * [fullkv, fastkv, streamingllm, h2o, snapkv, gemfilter, pyramidinfer] but fills them in
	 * the order [fullkv, streamingllm, h2o, snapkv, pyramidinfer, gemfilter, fastkv], so only
	 * fullkv and gemfilter are labelled right there; here every row carries its own method. */
	char path[4096];
	snprintf(path, sizeof(path), "%s/results.csv", o->out_dir);
	FILE *f = fopen(path, "w");
	if (!f) {
		rc = kv_errf(err, errlen, KV_EIO, "%s: cannot write", path);
		goto out;
	}
	fputs("dataset", f);
	for (int k = 0; k < files.n; k++)
		fprintf(f, ",%s", files.v[k]);
	fputs("\r\n", f);
	for (int m = 0; m < methods.n; m++) {
		fputs(methods.v[m], f);
		for (int k = 0; k < files.n; k++) {
			char sc[32];
			double v = cells[m * files.n + k];
			if (v == -1)
				snprintf(sc, sizeof(sc), "-1");
			else
				export_ruler_fmt_score(v, sc, sizeof(sc));
			fprintf(f, ",%s", sc);
		}
		fputs("\r\n", f);
	}
	if (fclose(f) != 0)
		rc = kv_errf(err, errlen, KV_EIO, "%s: write failed", path);
	if (log)
		fprintf(log, "%d samples, %d datasets, %d methods -> %s\n", n, files.n, methods.n, path);
out:
	sqlite3_finalize(q);
	for (int i = 0; i < n; i++) {
		free(rows[i].run_id);
		free(rows[i].record);
		free(rows[i].id);
		free(rows[i].pred);
	}
	free(rows);
	for (int i = 0; i < methods.n; i++)
		free(methods.v[i]);
	for (int i = 0; i < files.n; i++)
		free(files.v[i]);
	free(methods.v);
	free(files.v);
	free(cells);
	free(scores);
	free(lengths);
	free(ments);
	return rc;
}
