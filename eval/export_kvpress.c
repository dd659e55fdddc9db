/* kvpress's evaluation layout (predictions.csv, metrics.json, config.yaml per folder),
 * written from the database alone. Mirrors kvpress evaluation/evaluate.py (get_results_dir,
 * _save_results, save_config) and benchmarks/{ruler,longbench,needle_in_haystack}/
 * calculate_metrics.py. See export_kvpress.h. */
#include "eval/export_kvpress.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/errors.h"        // kv_errf
#include "base/fileio.h"        // kv_mkdir_p, kv_read_file
#include "base/grow.h"          // kv_grow
#include "base/pyjson.h"        // py_float_repr
#include "eval/export_params.h" // export_params_defaults
#include "eval/export_ruler.h"  // export_ruler_fmt_score
#include "results/run_label.h"  // run_label_params
#include "results/store.h"

enum kp_kind { KP_RULER, KP_LONGBENCH, KP_NEEDLE };

/* One sample of a run, with the kvpress unit it falls in. */
struct krow {
	char unit[192];     /* sort key: one folder per distinct unit */
	char data_dir[96];  /* "" = None */
	bool e;             /* LongBench-E */
	int ctx, depth;     /* needle: max_context_length, needle_depth */
	int idx, length;
	char *sample_id, *pred, *answers, *task, *record;
	double score, rouge;
	double n_prompt;    /* prompt tokens */
	bool has_score, has_rouge;
};

struct run {
	char id[65], method[64], task[96], model[1024], backend[16];
	char *method_json, *config_json;
	enum kp_kind kind;
	bool proportional;     /* --eviction_mode proportional */
	double retain, budget; /* retain_rate; max_capacity_prompts in constant mode (NaN: none) */
	double ratio;          /* kvpress's own --compression_ratio where the method takes it (expected_attention; NaN: unset) */
};

static void krows_free(struct krow *r, int n)
{
	for (int i = 0; i < n; i++) {
		free(r[i].sample_id);
		free(r[i].pred);
		free(r[i].answers);
		free(r[i].task);
		free(r[i].record);
	}
	free(r);
}

static int krow_cmp(const void *a, const void *b)
{
	const struct krow *x = a, *y = b;
	int c = strcmp(x->unit, y->unit);
	return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static char *dup_col(sqlite3_stmt *q, int i)
{
	const char *t = (const char *)sqlite3_column_text(q, i);
	return strdup(t ? t : "");
}

// ----------------------------------------------------------------------------
// writers: CSV fields, YAML scalars, Python floats

static void csv_field(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++)
		*s == '"' ? fputs("\"\"", f) : fputc(*s, f);
	fputc('"', f);
}

/* A YAML scalar as PyYAML's dump writes a str: plain when safe, else single-quoted. */
static void yaml_str(FILE *f, const char *s)
{
	char *end;
	strtod(s, &end);
	bool plain = *s && *end && !strpbrk(s, ":#{}[],&*!|>'\"%@`\n") && s[0] != ' ' && s[0] != '-' && s[0] != '?' &&
		     s[strlen(s) - 1] != ' ' && strcmp(s, "null") && strcmp(s, "true") && strcmp(s, "false") && strcmp(s, "~");
	if (plain) {
		fputs(s, f);
		return;
	}
	fputc('\'', f);
	for (; *s; s++)
		*s == '\'' ? fputs("''", f) : fputc(*s == '\n' ? ' ' : *s, f);
	fputc('\'', f);
}

/* Opens path.tmp for writing; kp_close renames it over path (nothing half-written). */
static FILE *kp_open(const char *path, char *tmp, size_t len)
{
	snprintf(tmp, len, "%s.tmp", path);
	return fopen(tmp, "w");
}

static int kp_close(FILE *f, const char *tmp, const char *path, char *err, size_t errlen)
{
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		int e = errno;
		remove(tmp);
		return kv_errf(err, errlen, KV_EIO, "%s: cannot write (%s)", path, strerror(e));
	}
	return 0;
}

// ----------------------------------------------------------------------------
// one folder

static const char *press_name(const char *method)
{
	if (!strcmp(method, "fullkv"))
		return "no_press";
	if (!strcmp(method, "streamingllm"))
		return "streaming_llm";
	return method; /* snapkv and expected_attention are kvpress's names too; most others have no kvpress press */
}

/* The budget a run was given (the retention half's for a composed method). */
static void run_budget(struct store *s, struct run *r)
{
	sqlite3_stmt *q = NULL;
	r->budget = r->retain = r->ratio = NAN;
	r->proportional = false;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT (SELECT value FROM json_tree(?1) WHERE key = 'eviction_mode' ORDER BY id DESC LIMIT 1),"
			       " (SELECT value FROM json_tree(?1) WHERE key = 'retain_rate' ORDER BY id DESC LIMIT 1),"
			       " (SELECT value FROM json_tree(?1) WHERE key = 'max_capacity_prompts' ORDER BY id DESC LIMIT 1),"
			       " (SELECT value FROM json_tree(?1) WHERE key = 'compression_ratio' ORDER BY id DESC LIMIT 1)",
			       -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_text(q, 1, r->method_json, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(q) == SQLITE_ROW) {
			const char *mode = (const char *)sqlite3_column_text(q, 0);
			r->proportional = mode && !strcmp(mode, "proportional");
			if (sqlite3_column_type(q, 1) != SQLITE_NULL)
				r->retain = sqlite3_column_double(q, 1);
			if (mode && !strcmp(mode, "constant") && sqlite3_column_type(q, 2) != SQLITE_NULL)
				r->budget = sqlite3_column_double(q, 2);
			if (sqlite3_column_type(q, 3) != SQLITE_NULL && sqlite3_column_double(q, 3) >= 0)
				r->ratio = sqlite3_column_double(q, 3);
		}
	}
	sqlite3_finalize(q);
}

/* A sample's compression ratio, kvpress's sense (the share of the prompt's KV pruned): 0 for
 * fullkv, --compression_ratio where the run gave it, 1 - retain_rate in proportional mode, 1 - min(budget, N) / N with a constant
 * budget of max_capacity_prompts; NaN for a method without either. */
static double sample_ratio(const struct run *r, const struct krow *k)
{
	if (!strcmp(r->method, "fullkv"))
		return 0.0;
	if (!isnan(r->ratio))
		return r->ratio;
	if (r->proportional && !isnan(r->retain))
		return 1.0 - r->retain;
	if (!isnan(r->budget) && k->n_prompt > 0)
		return 1.0 - (r->budget < k->n_prompt ? r->budget : k->n_prompt) / k->n_prompt;
	return NAN;
}

/* The unit's ratio: the mean of its samples' (NaN when unknown). */
static double unit_ratio(const struct run *r, const struct krow *k, int n)
{
	double sum = 0;
	for (int i = 0; i < n; i++)
		sum += sample_ratio(r, &k[i]);
	return n ? sum / n : NAN;
}

/* True when row x is a scored row of task (a char *). */
static bool task_group(const struct krow *x, const void *task)
{
	return !strcmp(x->task, task) && x->has_score;
}

/* True when row x falls in scorer_e's length bucket *(int *)b: < 4000, < 8000, else. */
static bool length_group(const struct krow *x, const void *b)
{
	return (x->length < 4000 ? 0 : x->length < 8000 ? 1 : 2) == *(const int *)b;
}

/* repr(round(100 * mean, 2)) of the scores of the rows in the group (in(row, arg)), into
 * s (caller's, len bytes); "NaN" for an empty group. */
static void group_mean(const struct krow *k, int n, bool (*in)(const struct krow *, const void *), const void *arg, char *s,
		       size_t len)
{
	double sum = 0;
	int m = 0;
	for (int i = 0; i < n; i++)
		if (in(&k[i], arg)) {
			sum += k[i].score;
			m++;
		}
	if (m)
		export_ruler_fmt_score(100.0 * sum / m, s, len);
	else
		snprintf(s, len, "NaN");
}

/* True when dir/config.yaml names run id (the same run's earlier export). */
static bool holds_run(const char *dir, const char *id)
{
	char path[4200], *text = NULL, e[64];
	snprintf(path, sizeof(path), "%s/config.yaml", dir);
	bool same = kv_read_file(path, &text, NULL, e, sizeof(e)) == 0 && text && strstr(text, id);
	free(text);
	return same;
}

static bool exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0;
}

static int write_predictions(const char *dir, const struct run *r, const struct krow *k, int n, char *err,
			     size_t errlen)
{
	char path[4200], tmp[4300];
	snprintf(path, sizeof(path), "%s/predictions.csv", dir);
	FILE *f = kp_open(path, tmp, sizeof(tmp));
	if (!f)
		return kv_errf(err, errlen, KV_EIO, "%s: cannot write (%s)", tmp, strerror(errno));
	static const char *const head[] = {
		[KP_RULER] = "task,answer,predicted_answer,compression_ratio,length,sample_id\n",
		[KP_LONGBENCH] = "task,answers,all_classes,length,language,_id,predicted_answer,compression_ratio\n",
		[KP_NEEDLE] = "needle,predicted_answer,compression_ratio,max_context_length,needle_depth\n",
	};
	fputs(head[r->kind], f);
	for (int i = 0; i < n; i++) {
		const struct krow *x = &k[i];
		double cr = sample_ratio(r, x);
		char crs[64] = "";
		if (!isnan(cr))
			py_float_repr(cr, crs, sizeof(crs));
		if (r->kind == KP_RULER) {
			csv_field(f, x->task);
			fputc(',', f);
			csv_field(f, x->answers);
			fputc(',', f);
			csv_field(f, x->pred);
			fprintf(f, ",%s,%d,", crs, x->length);
			csv_field(f, x->sample_id);
		} else if (r->kind == KP_LONGBENCH) {
			char task[128];
			snprintf(task, sizeof(task), "%s%s", x->data_dir, x->e ? "-e" : "");
			csv_field(f, task);
			/* answers, all_classes, language, _id from the stored record (JSON text as stored) */
			static const char *const keys[] = { "answers", "all_classes", "length", "language", "_id" };
			cJSON *rec = x->record ? cJSON_Parse(x->record) : NULL;
			for (int j = 0; j < 5; j++) {
				const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, keys[j]);
				fputc(',', f);
				if (j == 2) {
					fprintf(f, "%d", x->length);
				} else if (cJSON_IsString(v)) {
					csv_field(f, v->valuestring);
				} else if (v && !cJSON_IsNull(v)) {
					char *t = cJSON_PrintUnformatted(v);
					csv_field(f, t ? t : "");
					free(t);
				}
			}
			cJSON_Delete(rec);
			fputc(',', f);
			csv_field(f, x->pred);
			fprintf(f, ",%s", crs);
		} else {
			/* the needle text: the answers' only entry */
			cJSON *a = cJSON_Parse(x->answers);
			const cJSON *a0 = cJSON_GetArrayItem(a, 0);
			const char *needle = cJSON_IsString(a0) ? a0->valuestring : NULL;
			csv_field(f, needle ? needle : "");
			cJSON_Delete(a);
			fputc(',', f);
			csv_field(f, x->pred);
			fprintf(f, ",%s,%d,%d", crs, x->ctx, x->depth);
		}
		fputc('\n', f);
	}
	return kp_close(f, tmp, path, err, errlen);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int write_metrics(const char *dir, const struct run *r, const struct krow *k, int n, char *err, size_t errlen)
{
	char path[4200], tmp[4300], s[64];
	snprintf(path, sizeof(path), "%s/metrics.json", dir);
	FILE *f = kp_open(path, tmp, sizeof(tmp));
	if (!f)
		return kv_errf(err, errlen, KV_EIO, "%s: cannot write (%s)", tmp, strerror(errno));
	if (r->kind == KP_RULER) { /* {task: {"string_match": score}}, tasks sorted as pandas' groupby */
		const char **tasks = malloc(sizeof(char *) * (size_t)(n + 1));
		int nt = 0;
		for (int i = 0; tasks && i < n; i++) {
			int j = 0;
			while (j < nt && strcmp(tasks[j], k[i].task))
				j++;
			if (j == nt)
				tasks[nt++] = k[i].task;
		}
		if (!tasks) {
			fclose(f);
			remove(tmp);
			return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		}
		qsort(tasks, (size_t)nt, sizeof(char *), cmp_str);
		fputs("{", f);
		for (int j = 0; j < nt; j++) {
			group_mean(k, n, task_group, tasks[j], s, sizeof(s));
			fprintf(f, "%s\n    \"%s\": {\n        \"string_match\": %s\n    }", j ? "," : "", tasks[j], s);
		}
		fputs(nt ? "\n}" : "}", f);
		free(tasks);
	} else if (r->kind == KP_LONGBENCH && !k[0].e) { /* round(100 * total / n, 2) */
		double sum = 0;
		for (int i = 0; i < n; i++)
			sum += k[i].score;
		export_ruler_fmt_score(100.0 * sum / n, s, sizeof(s));
		fputs(s, f);
	} else if (r->kind == KP_LONGBENCH) { /* scorer_e's buckets: length < 4000, < 8000, else */
		static const char *const names[3] = { "0-4k", "4-8k", "8k+" };
		fputs("{", f);
		for (int b = 0; b < 3; b++) {
			group_mean(k, n, length_group, &b, s, sizeof(s));
			fprintf(f, "%s\n    \"%s\": %s", b ? "," : "", names[b], s);
		}
		fputs("\n}", f);
	} else { /* needle: one rouge dict per row; only rouge-1's f is stored (rouge_score's rouge1) */
		fputs("[", f);
		for (int i = 0; i < n; i++) {
			if (k[i].has_rouge)
				py_float_repr(k[i].rouge, s, sizeof(s));
			else
				snprintf(s, sizeof(s), "NaN");
			fprintf(f, "%s\n    {\n        \"rouge-1\": {\n            \"f\": %s\n        }\n    }", i ? "," : "", s);
		}
		fputs(n ? "\n]" : "]", f);
	}
	return kp_close(f, tmp, path, err, errlen);
}

static int write_config(struct store *s, const char *dir, const char *out_dir, const struct run *r, const struct krow *k,
			const char *dataset, const char *model, double ratio, char *err, size_t errlen)
{
	char path[4200], tmp[4300], num[64], params[1024];
	int rc, max_new = -1;
	if ((rc = run_label_params(s, export_params_defaults(), r->method, r->method_json, params, sizeof(params), err, errlen)))
		return rc;
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(s->db, "SELECT json_extract(?1, '$.task.max_new_tokens')", -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_text(q, 1, r->config_json, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) == SQLITE_INTEGER)
			max_new = sqlite3_column_int(q, 0);
	}
	sqlite3_finalize(q);
	snprintf(path, sizeof(path), "%s/config.yaml", dir);
	FILE *f = kp_open(path, tmp, sizeof(tmp));
	if (!f)
		return kv_errf(err, errlen, KV_EIO, "%s: cannot write (%s)", tmp, strerror(errno));
	fputs("dataset: ", f);
	yaml_str(f, dataset);
	fputs("\ndata_dir: ", f);
	k->data_dir[0] ? yaml_str(f, k->data_dir) : (void)fputs("null", f);
	fputs("\nmodel: ", f);
	yaml_str(f, model);
	fputs("\ndevice: ", f);
	yaml_str(f, r->backend);
	fputs("\npress_name: ", f);
	yaml_str(f, press_name(r->method));
	if (isnan(ratio))
		snprintf(num, sizeof(num), "null");
	else
		py_float_repr(ratio, num, sizeof(num));
	fprintf(f, "\ncompression_ratio: %s\nkey_channel_compression_ratio: null\nfraction: 1.0\n", num);
	max_new >= 0 ? fprintf(f, "max_new_tokens: %d\n", max_new) : fputs("max_new_tokens: null\n", f);
	r->kind == KP_NEEDLE ? fprintf(f, "max_context_length: %d\n", k->ctx) : fputs("max_context_length: null\n", f);
	fputs("query_aware: true\n", f);
	r->kind == KP_NEEDLE ? fprintf(f, "needle_depth: %d\n", k->depth) : fputs("needle_depth: null\n", f);
	fputs("compression_interval: null\ntarget_size: null\nhidden_states_buffer_size: null\noutput_dir: ", f);
	yaml_str(f, out_dir);
	fputs("\nlog_level: INFO\nmodel_kwargs: {}\npress_init_command: ", f);
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "kvlab run --task %s --method %s%s%s (run %s)", r->task, r->method, params[0] ? " " : "",
		 params, r->id);
	yaml_str(f, cmd);
	fputs("\nseed: 42\nfp8: false\n", f);
	return kp_close(f, tmp, path, err, errlen);
}

/* Writes the folder of rows k[0..n) (one unit of run r). */
static int write_unit(struct store *s, const struct export_kvpress_opts *o, const struct run *r, const struct krow *k,
		      int n, FILE *log, char *err, size_t errlen)
{
	const char *dataset = r->kind == KP_RULER ? "ruler" : r->kind == KP_NEEDLE ? "needle_in_haystack"
						       : k[0].e ? "longbench-e" : "longbench";
	const char *base = strrchr(r->model, '/') ? strrchr(r->model, '/') + 1 : r->model;
	double ratio = unit_ratio(r, k, n);
	char rs[32], name[1024], dir[4096];
	if (isnan(ratio))
		snprintf(rs, sizeof(rs), "na");
	else
		snprintf(rs, sizeof(rs), "%.2f", ratio);
	size_t o_ = (size_t)snprintf(name, sizeof(name), "%s%s%s__%s__%s__%s", dataset, k[0].data_dir[0] ? "__" : "",
				     k[0].data_dir, base, press_name(r->method), rs);
	if (r->kind == KP_NEEDLE)
		o_ += (size_t)snprintf(name + o_, sizeof(name) - o_, "__max_context%d", k[0].ctx);
	o_ += (size_t)snprintf(name + o_, sizeof(name) - o_, "__query_aware");
	if (r->kind == KP_NEEDLE)
		snprintf(name + o_, sizeof(name) - o_, "__needle_depth%d", k[0].depth);
	for (char *c = name; *c; c++)
		if (*c == '/')
			*c = '-';
	snprintf(dir, sizeof(dir), "%s/%s", o->out_dir, name);
	/* kvpress: an existing folder gets the next free numbered subfolder; the same run is overwritten */
	if (exists(dir) && !holds_run(dir, r->id)) {
		char sub[4200];
		int i = 1;
		for (;; i++) {
			snprintf(sub, sizeof(sub), "%s/%d", dir, i);
			if (!exists(sub) || holds_run(sub, r->id))
				break;
		}
		snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/%d", i);
	}
	int rc;
	if ((rc = kv_mkdir_p(dir, "--out", err, errlen)) || (rc = write_predictions(dir, r, k, n, err, errlen)) ||
	    (rc = write_metrics(dir, r, k, n, err, errlen)) ||
	    (rc = write_config(s, dir, o->out_dir, r, k, dataset, base, ratio, err, errlen)))
		return rc;
	if (log)
		fprintf(log, "%s  (%d samples, run %.12s)\n", dir, n, r->id);
	return 0;
}

// ----------------------------------------------------------------------------
// export

/* Loads the samples of run r with their units; *out malloc'd (krows_free). */
static int load_rows(struct store *s, const struct run *r, struct krow **out, int *n_out, char *err, size_t errlen)
{
	const char *sql =
		"SELECT s.sample_id, s.idx, s.prediction, s.answers_json, s.n_prompt, s.kv_bytes,"
		" json_extract(s.meta_json, '$.task'), json_extract(s.meta_json, '$.length'),"
		" json_extract(s.meta_json, '$.dataset'), json_extract(s.meta_json, '$.longbench_e'),"
		" json_extract(s.meta_json, '$.context_length'), json_extract(s.meta_json, '$.depth_percent'),"
		" (SELECT value FROM scores c WHERE c.run_id = s.run_id AND c.sample_id = s.sample_id"
		"   AND c.metric IN ('score', 'overlap') ORDER BY c.metric = 'score' DESC LIMIT 1),"
		" (SELECT value FROM scores c WHERE c.run_id = s.run_id AND c.sample_id = s.sample_id AND c.metric = 'rouge1_x10'),"
		" NULL, sr.record_json"
		" FROM samples s"
		" LEFT JOIN sample_records sr ON sr.run_id = s.run_id AND sr.sample_id = s.sample_id"
		" WHERE s.run_id = ?1 ORDER BY s.idx";
	sqlite3_stmt *q = NULL;
	struct krow *k = NULL;
	size_t cap = 0;
	int n = 0, rc, st;
	if ((rc = store_query(s, sql, r->id, NULL, &q, "reading samples", err, errlen)))
		return rc;
	while ((st = sqlite3_step(q)) == SQLITE_ROW) {
		if (kv_grow((void **)&k, &cap, (size_t)n + 1, sizeof(*k))) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
			goto out;
		}
		struct krow *x = &k[n++];
		memset(x, 0, sizeof(*x));
		x->sample_id = dup_col(q, 0);
		x->idx = sqlite3_column_int(q, 1);
		x->pred = dup_col(q, 2);
		x->answers = dup_col(q, 3);
		x->n_prompt = sqlite3_column_double(q, 4);
		x->task = dup_col(q, 6);
		int len = sqlite3_column_type(q, 7) == SQLITE_NULL ? -1 : sqlite3_column_int(q, 7);
		x->length = len >= 0 ? len : sqlite3_column_int(q, 4);
		if ((x->has_score = sqlite3_column_type(q, 12) != SQLITE_NULL))
			x->score = sqlite3_column_double(q, 12);
		if ((x->has_rouge = sqlite3_column_type(q, 13) != SQLITE_NULL))
			x->rouge = sqlite3_column_double(q, 13) / 10.0;
		x->record = sqlite3_column_type(q, 15) == SQLITE_NULL ? NULL : dup_col(q, 15);
		if (!x->sample_id || !x->pred || !x->answers || !x->task || (sqlite3_column_type(q, 15) != SQLITE_NULL && !x->record)) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
			goto out;
		}
		if (r->kind == KP_RULER) {
			long L = 1;
			while (L < x->length)
				L *= 2;
			snprintf(x->data_dir, sizeof(x->data_dir), "%ld", L);
			snprintf(x->unit, sizeof(x->unit), "%012ld", L);
		} else if (r->kind == KP_LONGBENCH) {
			const char *ds = (const char *)sqlite3_column_text(q, 8);
			x->e = sqlite3_column_int(q, 9) != 0;
			if (!ds) {
				rc = kv_errf(err, errlen, KV_EFORMAT, "%s: run %.12s sample %s: no dataset in meta_json", s->path, r->id,
					     x->sample_id);
				goto out;
			}
			snprintf(x->data_dir, sizeof(x->data_dir), "%s", ds);
			snprintf(x->unit, sizeof(x->unit), "%s%s", ds, x->e ? "_e" : "");
		} else {
			x->ctx = sqlite3_column_int(q, 10);
			x->depth = sqlite3_column_int(q, 11);
			snprintf(x->unit, sizeof(x->unit), "%012d %012d", x->ctx, x->depth);
		}
	}
	if (st != SQLITE_DONE)
		rc = store_err(s, "reading samples", err, errlen);
out:
	sqlite3_finalize(q);
	if (rc) {
		krows_free(k, n);
		return rc;
	}
	if (n > 0) /* k is NULL for a run with no samples */
		qsort(k, (size_t)n, sizeof(*k), krow_cmp);
	*out = k;
	*n_out = n;
	return 0;
}

int export_kvpress(struct store *s, const struct export_kvpress_opts *o, FILE *log, char *err, size_t errlen)
{
	sqlite3_stmt *q = NULL;
	int rc, st, n_runs = 0, n_dirs = 0;
	const char *sql = "SELECT run_id, method, task, model_path, backend, method_json, config_json FROM runs"
			  " WHERE kind = 'eval' AND (?1 IS NULL OR run_id LIKE ?1 || '%') AND (?2 IS NULL OR method = ?2)"
			  " ORDER BY created_at, run_id";
	if ((rc = store_query(s, sql, o->run, o->method, &q, "reading runs", err, errlen)))
		return rc;
	while ((st = sqlite3_step(q)) == SQLITE_ROW) {
		struct run r = { 0 };
		struct krow *k = NULL;
		int n = 0;
		snprintf(r.id, sizeof(r.id), "%s", sqlite3_column_text(q, 0));
		snprintf(r.method, sizeof(r.method), "%s", sqlite3_column_text(q, 1));
		snprintf(r.task, sizeof(r.task), "%s", sqlite3_column_text(q, 2) ? (const char *)sqlite3_column_text(q, 2) : "");
		snprintf(r.model, sizeof(r.model), "%s", sqlite3_column_text(q, 3));
		snprintf(r.backend, sizeof(r.backend), "%s", sqlite3_column_text(q, 4));
		if (!strncmp(r.task, "ruler", 5))
			r.kind = KP_RULER;
		else if (!strncmp(r.task, "longbench", 9))
			r.kind = KP_LONGBENCH;
		else if (!strncmp(r.task, "needle", 6))
			r.kind = KP_NEEDLE;
		else {
			if (log)
				fprintf(log, "run %.12s: task %s has no kvpress dataset; skipped\n", r.id, r.task);
			continue;
		}
		r.method_json = dup_col(q, 5);
		r.config_json = dup_col(q, 6);
		if (!r.method_json || !r.config_json)
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		else
			run_budget(s, &r);
		if (!rc)
			rc = load_rows(s, &r, &k, &n, err, errlen);
		for (int i = 0; !rc && i < n;) {
			int j = i;
			while (j < n && !strcmp(k[j].unit, k[i].unit))
				j++;
			rc = write_unit(s, o, &r, k + i, j - i, log, err, errlen);
			n_dirs += !rc;
			i = j;
		}
		n_runs += n > 0;
		krows_free(k, n);
		free(r.method_json);
		free(r.config_json);
		if (rc)
			goto out;
	}
	if (st != SQLITE_DONE) {
		rc = store_err(s, "reading runs", err, errlen);
		goto out;
	}
	if (n_runs == 0)
		rc = kv_errf(err, errlen, KV_EINVAL, "%s: no ruler, longbench or needle samples%s%s%s%s", s->path,
			     o->run ? " for run " : "", o->run ? o->run : "", o->method ? " for method " : "",
			     o->method ? o->method : "");
	else if (log)
		fprintf(log, "%d run(s), %d folder(s) -> %s\n", n_runs, n_dirs, o->out_dir);
out:
	sqlite3_finalize(q);
	return rc;
}
