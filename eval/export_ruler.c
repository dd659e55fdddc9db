/* RULER export: see export_ruler.h. */
#include "eval/export_ruler.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "datasets/ruler.h" // ruler_tasks (names, order, metrics)
#include "eval/metrics/metrics.h" // metric_score_named, ruler_postprocess
#include "base/pyjson.h"    // py_json_str
#include "base/errors.h"
#include "base/fileio.h" // kv_mkdir_p
#include "base/grow.h"   // kv_grow
#include "results/store.h"

void export_ruler_fmt_score(double x, char *buf, size_t len)
{
	/* printf rounds the exact binary value half-even, as Python's round(x, 2) does; repr
	 * then prints the shortest form, which for two decimals drops trailing zeros but one */
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "%.2f", x);
	size_t n = strlen(tmp);
	if (n >= 2 && tmp[n - 1] == '0')
		tmp[--n] = 0;
	if (n >= 2 && tmp[n - 1] == '0' && tmp[n - 2] != '.')
		tmp[--n] = 0;
	snprintf(buf, len, "%s", strcmp(tmp, "-0.0") == 0 ? "0.0" : tmp);
}

struct xrow {
	int task;      /* index into ruler_tasks */
	int idx;       /* sample order in the run */
	int index;     /* the record's index */
	int length;
	char *pred;
	char *answers; /* JSON array text */
};

static int row_cmp(const void *a, const void *b)
{
	const struct xrow *x = a, *y = b;
	return x->task != y->task ? x->task - y->task : x->idx - y->idx;
}

static int put_str(FILE *f, const char *s)
{
	char *b = NULL;
	size_t len = 0, cap = 0;
	if (py_json_str(&b, &len, &cap, s, strlen(s)))
		return KV_ENOMEM;
	int rc = fwrite(b, 1, len, f) == len ? 0 : KV_EIO;
	free(b);
	return rc;
}

int export_ruler(struct store *s, const struct export_ruler_opts *o, FILE *log, char *err, size_t errlen)
{
	sqlite3_stmt *q = NULL;
	struct xrow *rows = NULL;
	int n = 0, rc = 0;
	size_t cap = 0;
	char method[64] = "";
	const char *sql =
		"SELECT r.run_id, r.method, s.idx, s.prediction, s.answers_json, s.meta_json FROM runs r JOIN samples s ON"
		" s.run_id = r.run_id WHERE r.kind = 'eval' AND r.task LIKE 'ruler%' AND (?1 IS NULL OR r.run_id LIKE ?1 || '%')"
		" AND (?2 IS NULL OR r.method = ?2) ORDER BY r.created_at, s.idx";
	if ((rc = store_query(s, sql, o->run, o->method, &q, "reading runs", err, errlen)))
		return rc;
	int st;
	while ((st = sqlite3_step(q)) == SQLITE_ROW) {
		const char *m = (const char *)sqlite3_column_text(q, 1);
		if (!method[0])
			snprintf(method, sizeof(method), "%s", m);
		else if (strcmp(method, m) != 0) {
			rc = kv_errf(err, errlen, KV_EINVAL, "%s: RULER runs of several methods (%s, %s, ...): choose one with --method or --run",
				     s->path, method, m);
			goto out;
		}
		cJSON *meta = cJSON_Parse((const char *)sqlite3_column_text(q, 5));
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(meta, "task");
		const cJSON *ix = cJSON_GetObjectItemCaseSensitive(meta, "index");
		const cJSON *ln = cJSON_GetObjectItemCaseSensitive(meta, "length");
		int ti = -1;
		for (int i = 0; cJSON_IsString(t) && i < RULER_N_TASKS; i++)
			if (strcmp(ruler_tasks[i].name, t->valuestring) == 0)
				ti = i;
		if (ti < 0) {
			cJSON_Delete(meta);
			continue; /* not a RULER sample */
		}
		if (kv_grow((void **)&rows, &cap, (size_t)n + 1, sizeof(*rows))) {
			cJSON_Delete(meta);
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
			goto out;
		}
		struct xrow *r = &rows[n++];
		r->task = ti;
		r->idx = sqlite3_column_int(q, 2);
		r->index = cJSON_IsNumber(ix) ? ix->valueint : r->idx;
		r->length = cJSON_IsNumber(ln) ? ln->valueint : -1;
		r->pred = strdup((const char *)sqlite3_column_text(q, 3));
		const char *a = (const char *)sqlite3_column_text(q, 4);
		r->answers = strdup(a ? a : "[]");
		cJSON_Delete(meta);
		if (!r->pred || !r->answers) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (st != SQLITE_DONE) {
		rc = store_err(s, "reading samples", err, errlen);
		goto out;
	}
	if (n == 0) {
		rc = kv_errf(err, errlen, KV_EINVAL, "%s: no RULER samples%s%s%s%s", s->path, o->run ? " for run " : "", o->run ? o->run : "",
			     o->method ? " for method " : "", o->method ? o->method : "");
		goto out;
	}
	qsort(rows, (size_t)n, sizeof(*rows), row_cmp);
	if ((rc = kv_mkdir_p(o->out_dir, "--out", err, errlen)))
		goto out;
	char score_s[RULER_N_TASKS][32], nulls_s[RULER_N_TASKS][32];
	int present[RULER_N_TASKS], n_present = 0;
	for (int t = 0, i = 0; t < RULER_N_TASKS; t++) {
		if (i >= n || rows[i].task != t)
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s.jsonl", o->out_dir, ruler_tasks[t].name);
		FILE *f = fopen(path, "w");
		if (!f) {
			rc = kv_errf(err, errlen, KV_EIO, "%s: cannot write", path);
			goto out;
		}
		double sum = 0;
		int cnt = 0, nulls = 0;
		for (; i < n && rows[i].task == t; i++, cnt++) {
			struct xrow *r = &rows[i];
			cJSON *ans = cJSON_Parse(r->answers);
			int na = cJSON_GetArraySize(ans);
			const char **refs = calloc((size_t)na + 1, sizeof(char *));
			for (int k = 0; refs && k < na; k++) {
				const cJSON *x = cJSON_GetArrayItem(ans, k);
				refs[k] = cJSON_IsString(x) ? x->valuestring : "";
			}
			char *p = strdup(r->pred);
			if (!refs || !p) {
				free(refs);
				free(p);
				cJSON_Delete(ans);
				fclose(f);
				rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
				goto out;
			}
			ruler_postprocess(p);
			nulls += p[0] == 0;
			/* evaluate.py's score, whatever protocol the run used (FastKV's stored score is unprocessed) */
			struct metric_value v[METRIC_MAX_VALUES];
			int nv = 0;
			rc = metric_score_named(ruler_tasks[t].metric == RULER_MATCH_PART ? "ruler:string_match_part"
											  : "ruler:string_match_all",
						NULL, r->pred, refs, na, NULL, 0, v, &nv, err, errlen);
			if (rc) {
				free(refs);
				free(p);
				cJSON_Delete(ans);
				fclose(f);
				goto out;
			}
			sum += v[0].value;
			/* RULER's prediction record: index, pred, input, outputs, others, truncation, length
			 * (kvlab stores token ids, not the prompt text, so "input" is empty) */
			fprintf(f, "{\"index\": %d, \"pred\": ", r->index);
			put_str(f, r->pred);
			fprintf(f, ", \"input\": \"\", \"outputs\": [");
			for (int k = 0; k < na; k++) {
				if (k)
					fputs(", ", f);
				put_str(f, refs[k]);
			}
			fprintf(f, "], \"others\": {}, \"truncation\": -1, \"length\": %d}\n", r->length);
			free(refs);
			free(p);
			cJSON_Delete(ans);
		}
		if (fclose(f) != 0) {
			rc = kv_errf(err, errlen, KV_EIO, "%s: write failed", path);
			goto out;
		}
		export_ruler_fmt_score(sum / cnt * 100, score_s[t], sizeof(score_s[t]));
		snprintf(nulls_s[t], sizeof(nulls_s[t]), "%d/%d", nulls, cnt);
		present[n_present++] = t;
		if (log)
			fprintf(log, "%-16s %8s  nulls %s  (%s)\n", ruler_tasks[t].name, score_s[t], nulls_s[t], path);
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/summary.csv", o->out_dir);
	FILE *f = fopen(path, "w");
	if (!f) {
		rc = kv_errf(err, errlen, KV_EIO, "%s: cannot write", path);
		goto out;
	}
	for (int k = 0; k <= n_present; k++)
		fprintf(f, "%s%d", k ? "," : "", k);
	fputs("\nTasks", f);
	for (int k = 0; k < n_present; k++)
		fprintf(f, ",%s", ruler_tasks[present[k]].name);
	fputs("\nScore", f);
	for (int k = 0; k < n_present; k++)
		fprintf(f, ",%s", score_s[present[k]]);
	fputs("\nNulls", f);
	for (int k = 0; k < n_present; k++)
		fprintf(f, ",%s", nulls_s[present[k]]);
	fputc('\n', f);
	if (fclose(f) != 0)
		rc = kv_errf(err, errlen, KV_EIO, "%s: write failed", path);
	if (log)
		fprintf(log, "method %s: %d samples in %d tasks -> %s\n", method, n, n_present, path);
out:
	sqlite3_finalize(q);
	for (int i = 0; i < n; i++) {
		free(rows[i].pred);
		free(rows[i].answers);
	}
	free(rows);
	return rc;
}
