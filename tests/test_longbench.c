/* LongBench task against FastKV's prompt path (goldens from scripts/ref_longbench.py:
 * template fill, chat template unless few-shot/code, add_special_tokens, middle
 * truncation through text) on the SmolLM2 tokenizer; generation settings, metric
 * routing and error paths; and the official-layout export (export_longbench). */
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "base/fileio.h"
#include "engine/model.h"
#include "datasets/task.h"
#include "eval/export_longbench.h"
#include "eval/metrics/metrics.h" // metric_score_named
#include "eval/prompt.h"          // prompt_cap, prompt_set_build
#include "methods/registry.h"     // kv_method_find
#include "results/store.h"
#include "tests/smollm.h" // smollm
#include "tests/test.h"

#define GOLDEN_DIR "tests/golden/longbench_data"
#define SHARED_DIR "../shared/data/longbench"

/* The method the last lb_open named: eval/prompt.c applies its protocol needs. */
static const struct kv_method *lb_method;

/* Opens longbench:<file> with data dir, method and cap; NULL on failure (reported). */
static void *lb_open(const char *file, const char *data, const char *method, int max_len, int limit)
{
	struct model *m = smollm();
	if (!m)
		return NULL;
	char task[128], err[512];
	snprintf(task, sizeof(task), "longbench:%s", file);
	lb_method = kv_method_find(method);
	struct task_args a = { .task = task, .data = data, .max_len = max_len, .limit = limit };
	void *st = NULL;
	int rc = task_find(task)->open(&a, m, &st, err, sizeof(err));
	T_CHECK(rc == 0, "open %s: %s", task, err);
	return rc ? NULL : st;
}

/* Sample index of st made ready for lb_method by eval/prompt.c into *s and *ps (ps->p[0]). */
static int lb_prepare(void *st, int index, struct task_sample *s, struct prompt_set *ps, char *err, size_t errlen)
{
	struct task_protocol proto;
	int rc = task_find("longbench")->sample(st, index, s, err, errlen);
	task_find("longbench")->protocol(st, &proto);
	return rc ? rc : prompt_set_build(ps, smollm(), s, &proto, &lb_method, NULL, 1, err, errlen);
}

/* The task's describe JSON with lb_method's cap. */
static void lb_describe(void *st, char *buf, size_t len)
{
	struct task_protocol proto;
	task_find("longbench")->protocol(st, &proto);
	struct task_cap cap = prompt_cap(&proto, smollm(), lb_method);
	task_find("longbench")->describe(st, &cap, buf, len);
}

// ----------------------------------------------------------------------------
// prompt goldens

static const struct {
	const char *file;
	int max_new;
} max_new_tokens[] = {
	{ "trec", 64 }, { "triviaqa", 32 }, { "samsum", 128 }, { "lcc", 64 }, { "repobench-p", 64 },
	{ "passage_count", 32 }, { "passage_retrieval_en", 32 }, { "qasper", 128 }, { "qasper_e", 128 },
	{ "multi_news", 512 }, { "multifieldqa_zh", 64 },
};

static int expected_max_new(const char *file)
{
	for (size_t i = 0; i < sizeof(max_new_tokens) / sizeof(max_new_tokens[0]); i++)
		if (!strcmp(max_new_tokens[i].file, file))
			return max_new_tokens[i].max_new;
	return -1;
}

static void prompts_should_match_fastkv_token_for_token(void)
{
	char *txt = NULL, err[512];
	T_CHECK(kv_read_file("tests/golden/longbench_ids.tsv", &txt, NULL, err, sizeof(err)) == 0, "%s", err);
	if (!txt || !smollm()) {
		free(txt);
		return;
	}
	int n_cases = 0, n_same = 0;
	for (char *line = txt, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (line[0] == '#')
			continue;
		char *f[8];
		int nf = 0;
		for (char *p = line; nf < 8; nf++) {
			f[nf] = p;
			char *tab = nf < 7 ? strchr(p, '\t') : NULL;
			if (!tab) {
				nf++;
				break;
			}
			*tab = 0;
			p = tab + 1;
		}
		T_CHECK(nf == 8, "golden line with %d fields", nf);
		if (nf != 8)
			continue;
		const char *name = f[0], *file = f[1], *method = f[3];
		const char *data = !strcmp(f[2], "golden") ? GOLDEN_DIR : SHARED_DIR;
		int max_len = atoi(f[4]), index = atoi(f[5]), n_want = atoi(f[6]);
		int32_t *want = malloc(sizeof(int32_t) * (size_t)(n_want + 1));
		char *p = f[7];
		for (int k = 0; k < n_want; k++)
			want[k] = (int32_t)strtol(p, &p, 10);
		n_cases++;
		void *st = lb_open(file, data, method, max_len, index + 1);
		struct task_sample s = { 0 };
		struct prompt_set ps = { 0 };
		const struct prompt *q = &ps.p[0];
		if (st && lb_prepare(st, index, &s, &ps, err, sizeof(err)) == 0) {
			bool same = q->n_ids == n_want && memcmp(q->ids, want, sizeof(int32_t) * (size_t)n_want) == 0;
			if (!same) {
				int k = 0;
				while (k < q->n_ids && k < n_want && q->ids[k] == want[k])
					k++;
				T_CHECK(same, "%s: %d ids vs %d expected, first difference at %d (%d vs %d)", name, q->n_ids, n_want, k,
					k < q->n_ids ? q->ids[k] : -1, k < n_want ? want[k] : -1);
			}
			n_same += same;
			T_CHECK(q->max_new_tokens == expected_max_new(file), "%s: max_new_tokens %d, expected %d", name,
				q->max_new_tokens, expected_max_new(file));
			/* one stop id, tokenizer.eos_token_id (<|im_end|> = 2), and min_length = n + 1 */
			T_CHECK(s.n_stop == 1 && s.stop_ids[0] == 2 && !s.eos_stop, "%s: stops n=%d id=%d eos_stop=%d", name, s.n_stop,
				s.stop_ids[0], s.eos_stop);
			T_CHECK(q->min_one_token && !q->strip, "%s: min_one_token %d strip %d", name, q->min_one_token, q->strip);
			bool trunc = strstr(q->meta_json, "\"truncated\":true") != NULL;
			T_CHECK(trunc == (strstr(name, "trunc") != NULL || strstr(name, "h2o") != NULL), "%s: meta %s", name, q->meta_json);
		} else if (st) {
			T_CHECK(0, "%s: sample: %s", name, err);
		}
		prompt_set_free(&ps);
		task_sample_free(&s);
		if (st)
			task_find("longbench")->close(st);
		free(want);
	}
	printf("  %d of %d prompts byte-identical\n", n_same, n_cases);
	T_CHECK(n_cases >= 18, "only %d golden cases", n_cases);
	free(txt);
}

static void cap_should_follow_h2o_override_and_model_max_len(void)
{
	char buf[4096];
	void *st = lb_open("qasper", GOLDEN_DIR, "h2o", 0, 0);
	if (st) {
		lb_describe(st, buf, sizeof(buf));
		T_CHECK(strstr(buf, "\"max_len\":7950") && strstr(buf, "h2o/pyramidinfer override"), "h2o: %s", buf);
		task_find("longbench")->close(st);
	}
	st = lb_open("qasper", GOLDEN_DIR, "pyramidinfer", 0, 0);
	if (st) {
		lb_describe(st, buf, sizeof(buf));
		T_CHECK(strstr(buf, "\"max_len\":7950") && strstr(buf, "h2o/pyramidinfer override"), "pyramidinfer: %s", buf);
		task_find("longbench")->close(st);
	}
	st = lb_open("qasper", GOLDEN_DIR, "fullkv", 1500, 0);
	if (st) {
		lb_describe(st, buf, sizeof(buf));
		char want[PATH_MAX + 16], abs[PATH_MAX];
		snprintf(want, sizeof(want), "\"data_dir\":\"%s\"", realpath(GOLDEN_DIR, abs) ? abs : "?");
		T_CHECK(strstr(buf, "\"max_len\":1500") && strstr(buf, want) && strstr(buf, "\"data_sha256\":\""), "max_len: %s", buf);
		task_find("longbench")->close(st);
	}
}

static void gemfilter_should_take_one_more_token_and_strip(void)
{
	void *st = lb_open("trec", GOLDEN_DIR, "gemfilter", 0, 0);
	struct task_sample s = { 0 };
	struct prompt_set ps = { 0 };
	const struct prompt *q = &ps.p[0];
	char err[512];
	if (!st)
		return;
	T_CHECK(lb_prepare(st, 0, &s, &ps, err, sizeof(err)) == 0, "%s", err);
	T_CHECK(q->max_new_tokens == 65 && q->strip && !q->min_one_token, "gemfilter: max_new %d strip %d min1 %d", q->max_new_tokens,
		q->strip, q->min_one_token);
	prompt_set_free(&ps);
	task_sample_free(&s);
	task_find("longbench")->close(st);
}

// ----------------------------------------------------------------------------
// scoring: one hand case per family through the sample's scorer (eval/metrics, by name)

/* Scores pred on sample index of file (answers == NULL: pred is the first answer). */
static double score_of(const char *file, const char *data, int index, const char *pred)
{
	void *st = lb_open(file, data, "fullkv", 0, index + 1);
	struct task_sample s = { 0 };
	struct metric_value sc[METRIC_MAX_VALUES];
	int n = 0;
	double v = -1;
	char err[512];
	if (!st)
		return -1;
	if (task_find("longbench")->sample(st, index, &s, err, sizeof(err)) == 0) {
		char *first = NULL;
		if (!pred) { /* the first reference answer, from the stored answers JSON ["...", ...] */
			const char *a = s.answers_json;
			const char *q = strchr(a, '"');
			pred = "";
			if (q) {
				size_t k = 0;
				first = malloc(strlen(q));
				for (const char *c = q + 1; *c && *c != '"'; c++) {
					if (*c == '\\') { /* the real answers used here have only \n and \" escapes */
						c++;
						first[k++] = *c == 'n' ? '\n' : *c;
					} else {
						first[k++] = *c;
					}
				}
				first[k] = 0;
				pred = first;
			}
		}
		int rc = metric_score_named(s.metric, s.also_as, pred, (const char *const *)s.refs, s.n_refs,
					    (const char *const *)s.classes, s.n_classes, sc, &n, err, sizeof(err));
		T_CHECK(rc == 0 && n == 1 && !strcmp(sc[0].name, "score"), "%s: score rc %d n %d: %s", file, rc, n, err);
		if (rc == 0 && n == 1)
			v = sc[0].value;
		free(first);
	} else {
		T_CHECK(0, "%s: sample: %s", file, err);
	}
	task_sample_free(&s);
	task_find("longbench")->close(st);
	return v;
}

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

static void scores_should_use_each_datasets_metric(void)
{
	double v;
	/* classification (first line only): matches [Abbreviation, Entity] -> 1/2 (qa_f1 would give 2/3) */
	v = score_of("trec", GOLDEN_DIR, 0, "Entity Abbreviation\nLocation");
	T_CHECK(NEAR(v, 0.5), "trec %g", v);
	/* qa_f1 on the first line after leading newlines: "paris is answer" vs "paris" */
	v = score_of("triviaqa", GOLDEN_DIR, 0, "\n\nParis is the answer\nQuestion: next");
	T_CHECK(NEAR(v, 0.5), "triviaqa %g", v);
	/* rouge-L F of the reference itself: 2PR/(P+R+1e-8); the second line is cut */
	v = score_of("samsum", GOLDEN_DIR, 0, "Anna and Tom will meet at 7 at Caf\xc3\xa9 Luna.\nDialogue: more");
	T_CHECK(NEAR(v, 1.0 / (1.0 + 5e-9)), "samsum %.12g", v);
	/* code_sim: the first line without `, # or // */
	v = score_of("lcc", GOLDEN_DIR, 0, "\n# loop\n    for k in sorted(cfg):\n        print(k)");
	T_CHECK(NEAR(v, 1.0), "lcc %g", v);
	v = score_of("repobench-p", GOLDEN_DIR, 0, "        return self.items[k]");
	T_CHECK(v > 0.5 && v < 1.0 && NEAR(v * 100, rint(v * 100)), "repobench-p %g", v);
	/* count: "3" of the numbers {3, 4} */
	v = score_of("passage_count", GOLDEN_DIR, 0, "3 or 4");
	T_CHECK(NEAR(v, 0.5), "passage_count %g", v);
	v = score_of("passage_retrieval_en", GOLDEN_DIR, 0, "Paragraph 2");
	T_CHECK(NEAR(v, 1.0), "passage_retrieval_en %g", v);
	v = score_of("passage_retrieval_en", GOLDEN_DIR, 0, "Paragraph 1");
	T_CHECK(NEAR(v, 0.0), "passage_retrieval_en miss %g", v);
	/* qa_f1, max over answers: vs "LongBench" 2/3, vs "LongBench and RULER" 0.4 */
	v = score_of("qasper", GOLDEN_DIR, 0, "LongBench only");
	T_CHECK(NEAR(v, 2.0 / 3.0), "qasper %g", v);
	v = score_of("qasper_e", GOLDEN_DIR, 1, "30 layers");
	T_CHECK(NEAR(v, 2.0 / 3.0), "qasper_e %g", v);
	/* real records: rouge (multi_news) and qa_f1_zh (jieba) of the reference itself */
	v = score_of("multi_news", SHARED_DIR, 0, NULL);
	T_CHECK(v > 0.999 && v <= 1.0, "multi_news %g", v);
	v = score_of("multi_news", SHARED_DIR, 0, "");
	T_CHECK(NEAR(v, 0.0), "multi_news empty %g", v);
	v = score_of("multifieldqa_zh", SHARED_DIR, 2, NULL);
	T_CHECK(NEAR(v, 1.0), "multifieldqa_zh %g", v);
}

// ----------------------------------------------------------------------------
// error paths

static void errors_should_name_the_folder_dataset_and_line(void)
{
	struct model *m = smollm();
	char err[512];
	void *st = NULL;
	if (!m)
		return;
	struct task_args a = { .task = "longbench:qasper", .data = "tests/out/no_such_longbench" };
	int rc = task_find(a.task)->open(&a, m, &st, err, sizeof(err));
	T_CHECK(rc == KV_EIO && strstr(err, "tests/out/no_such_longbench") && strstr(err, "no such folder"), "missing dir: %d %s", rc,
		err);
	a = (struct task_args){ .task = "longbench:qaspar", .data = GOLDEN_DIR };
	rc = task_find(a.task)->open(&a, m, &st, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL && strstr(err, "unknown LongBench dataset 'qaspar'"), "unknown: %d %s", rc, err);
	a = (struct task_args){ .task = "longbench:gov_report", .data = GOLDEN_DIR };
	rc = task_find(a.task)->open(&a, m, &st, err, sizeof(err));
	T_CHECK(rc == KV_EIO && strstr(err, "gov_report.jsonl"), "missing file: %d %s", rc, err);
	(void)system("mkdir -p tests/out/lb_bad");
	FILE *f = fopen("tests/out/lb_bad/trec.jsonl", "w");
	if (f) {
		fputs("{\"input\": \"q\", \"context\": \"c\", \"answers\": [\"a\"]}\n\n{\"input\": \"q\", \"context\": 3}\n", f);
		fclose(f);
	}
	a = (struct task_args){ .task = "longbench:trec", .data = "tests/out/lb_bad" };
	rc = task_find(a.task)->open(&a, m, &st, err, sizeof(err));
	T_CHECK(rc == KV_EFORMAT && strstr(err, "tests/out/lb_bad/trec.jsonl:3:"), "malformed: %d %s", rc, err);
	f = fopen("tests/out/lb_bad/trec.jsonl", "w");
	if (f) {
		fputs("{\"input\": \"q\", \"context\": \"c\", \"answers\": [\"a\"]\n", f);
		fclose(f);
	}
	rc = task_find(a.task)->open(&a, m, &st, err, sizeof(err));
	T_CHECK(rc == KV_EFORMAT && strstr(err, "tests/out/lb_bad/trec.jsonl:1:"), "truncated JSON: %d %s", rc, err);
}

// ----------------------------------------------------------------------------
// export: the rows scripts/ref_longbench.py's EXPORT lists, compared with its files

/* _id of record index of GOLDEN_DIR/<file>.jsonl into id (empty on failure). */
static void golden_id(const char *file, int index, char *id, size_t len)
{
	char path[256], *txt = NULL, err[256];
	id[0] = 0;
	snprintf(path, sizeof(path), GOLDEN_DIR "/%s.jsonl", file);
	if (kv_read_file(path, &txt, NULL, err, sizeof(err)))
		return;
	char *line = txt;
	for (int i = 0; i < index && line; i++)
		line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL;
	cJSON *r = line ? cJSON_Parse(line) : NULL; /* cJSON stops at the end of the first value */
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(r, "_id");
	if (cJSON_IsString(x))
		snprintf(id, len, "%s", x->valuestring);
	cJSON_Delete(r);
	free(txt);
}

static const struct {
	const char *method, *file;
	int index;
	const char *pred;
	double score; /* < 0: not stored (the exporter scores it) */
} export_rows[] = {
	{ "fullkv", "trec", 0, "Abbreviation\nQuestion: next", -1 },
	{ "snapkv", "trec", 0, "\nEntity", 0.0 },
	{ "fullkv", "samsum", 0, " Anna and Tom meet at Caf\xc3\xa9 \xf0\x9f\x98\x80\t\"7\"\x7f\n", 0.25 },
	{ "fullkv", "qasper_e", 0, "Yes", 1.0 },
	{ "fullkv", "qasper_e", 1, "30 layers, 9 heads", 0.5 },
};

/* The record the LongBench task stores for sample index of file under data_dir (malloc'd),
 * or NULL when the data is not there. */
static char *stored_record(const char *file, const char *data_dir, int index)
{
	char task[128], err[512];
	void *st = NULL;
	char *rec = NULL;
	struct task_sample s = { 0 };
	snprintf(task, sizeof(task), "longbench:%s", file);
	struct task_args a = { .task = task, .data = data_dir, .limit = index + 1 };
	if (!smollm() || task_find(task)->open(&a, smollm(), &st, err, sizeof(err)))
		return NULL;
	if (task_find(task)->sample(st, index, &s, err, sizeof(err)) == 0) {
		rec = s.record_json;
		s.record_json = NULL;
	}
	task_sample_free(&s);
	task_find(task)->close(st);
	return rec;
}

/* One run per method and tag; config_json holds the method and the task's data dir as the
 * runner writes them (the run id is its hash); each sample stores the record the task gives. */
static int put_rows(struct store *s, const char *method, const char *data_dir, int tag)
{
	char err[512], run[65];
	char mjson[64], config[512];
	snprintf(mjson, sizeof(mjson), "{\"method\":\"%s\",\"tag\":%d}", method, tag);
	snprintf(config, sizeof(config), "{\"engine\":\"kvlab-0.1\",\"method\":%s,\"task\":{\"task\":\"longbench\",\"data_dir\":\"%s\","
		 "\"max_len\":7950}}", mjson, data_dir);
	struct run_info ri = { .kind = "eval", .task = "longbench", .method = method, .method_json = mjson, .model_path = "m",
			       .model_sha256 = "0", .config_json = config, .backend = "cpu", .threads = 1 };
	int rc = store_run_begin(s, &ri, run, err, sizeof(err));
	T_CHECK(rc == 0, "run: %s", err);
	for (size_t i = 0; i < sizeof(export_rows) / sizeof(export_rows[0]) && !rc; i++) {
		if (strcmp(export_rows[i].method, method))
			continue;
		char id[128], sid[256], meta[256];
		golden_id(export_rows[i].file, export_rows[i].index, id, sizeof(id));
		bool e = strstr(export_rows[i].file, "_e") != NULL;
		snprintf(sid, sizeof(sid), "%s/%s", export_rows[i].file, id);
		snprintf(meta, sizeof(meta), "{\"dataset\":\"%.*s\",\"longbench_e\":%s}", (int)strlen(export_rows[i].file) - (e ? 2 : 0),
			 export_rows[i].file, e ? "true" : "false");
		const char *names[1] = { "score" };
		char *rec = stored_record(export_rows[i].file, data_dir, export_rows[i].index);
		struct sample_row row = { .sample_id = sid, .idx = (int)i, .n_prompt = 10, .prediction = export_rows[i].pred,
					  .answers_json = "[]", .meta_json = meta, .record_json = rec, .score_names = names,
					  .score_values = &export_rows[i].score, .n_scores = export_rows[i].score >= 0 };
		bool ins = false;
		rc = store_sample_put(s, run, &row, &ins, err, sizeof(err));
		free(rec);
		T_CHECK(rc == 0 && ins, "sample %s: %s", sid, err);
	}
	return rc;
}

static bool same_file(const char *a, const char *b)
{
	char *x = NULL, *y = NULL, err[256];
	size_t nx = 0, ny = 0;
	bool same = kv_read_file(a, &x, &nx, err, sizeof(err)) == 0 && kv_read_file(b, &y, &ny, err, sizeof(err)) == 0 && nx == ny &&
		    memcmp(x, y, nx) == 0;
	if (!same && x && y) {
		size_t k = 0;
		while (k < nx && k < ny && x[k] == y[k])
			k++;
		fprintf(stderr, "  %s differs from %s at byte %zu: ...%.40s... vs ...%.40s...\n", a, b, k, x + (k > 10 ? k - 10 : 0),
			y + (k > 10 ? k - 10 : 0));
	}
	free(x);
	free(y);
	return same;
}

static void export_should_write_the_official_layout(void)
{
	(void)system("mkdir -p tests/out && rm -rf tests/out/lb_export tests/out/lb_export.db* tests/out/lb_export2.db*");
	struct store *s = NULL;
	char err[512];
	T_CHECK(store_open("tests/out/lb_export.db", &s, err, sizeof(err)) == 0, "store: %s", err);
	if (!s)
		return;
	put_rows(s, "fullkv", GOLDEN_DIR, 0);
	put_rows(s, "snapkv", GOLDEN_DIR, 0);
	struct export_longbench_opts o = { .out_dir = "tests/out/lb_export" };
	int rc = export_longbench(s, &o, NULL, err, sizeof(err));
	T_CHECK(rc == 0, "export: %s", err);
	static const char *const files[] = { "results.csv", "trec/fullkv.json", "trec/snapkv.json", "samsum/fullkv.json",
					     "qasper_e/fullkv.json" };
	for (size_t i = 0; rc == 0 && i < sizeof(files) / sizeof(files[0]); i++) {
		char a[256], b[256];
		snprintf(a, sizeof(a), "tests/out/lb_export/%s", files[i]);
		snprintf(b, sizeof(b), "tests/golden/longbench_export/%s", files[i]);
		T_CHECK(same_file(a, b), "%s: not byte-identical to the golden", files[i]);
	}
	/* metrics.json names every method with its run and score (results.csv's cells, which match the golden) */
	char *mj = NULL;
	T_CHECK(kv_read_file("tests/out/lb_export/trec/metrics.json", &mj, NULL, err, sizeof(err)) == 0, "%s", err);
	cJSON *m = mj ? cJSON_Parse(mj) : NULL, *trec = cJSON_GetObjectItemCaseSensitive(m, "trec");
	const cJSON *fs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(trec, "fullkv"), "score");
	const cJSON *ss = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(trec, "snapkv"), "score");
	const cJSON *rid = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(trec, "snapkv"), "run_id");
	T_CHECK(cJSON_IsNumber(fs) && fs->valuedouble == 100.0 && cJSON_IsNumber(ss) && ss->valuedouble == 0.0 &&
			cJSON_IsString(rid) && strlen(rid->valuestring) == 64,
		"trec/metrics.json should hold fullkv 100.0 and snapkv 0.0 with their run ids:\n%s", mj ? mj : err);
	cJSON_Delete(m);
	free(mj);
	mj = NULL;
	T_CHECK(kv_read_file("tests/out/lb_export/qasper_e/metrics.json", &mj, NULL, err, sizeof(err)) == 0 && mj &&
			strstr(mj, "\"score\": {\"0-4k\": null, \"4-8k\": 100.0, \"8k+\": 50.0}"),
		"qasper_e/metrics.json should hold fullkv's buckets:\n%s", mj ? mj : err);
	free(mj);
	/* --method: only that method's files and row */
	(void)system("rm -rf tests/out/lb_export");
	o.method = "snapkv";
	rc = export_longbench(s, &o, NULL, err, sizeof(err));
	T_CHECK(rc == 0, "export --method: %s", err);
	char *csv = NULL;
	T_CHECK(kv_read_file("tests/out/lb_export/results.csv", &csv, NULL, err, sizeof(err)) == 0 && csv &&
			!strcmp(csv, "dataset,trec\r\nsnapkv,0.0\r\n"),
		"--method snapkv: results.csv %s", csv ? csv : err);
	free(csv);
	o.method = "h2o";
	rc = export_longbench(s, &o, NULL, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL && strstr(err, "no LongBench samples for method h2o"), "no samples: %d %s", rc, err);
	/* a second fullkv run covering trec: one file per (dataset, method), so --run must choose */
	put_rows(s, "fullkv", GOLDEN_DIR, 1);
	o.method = NULL;
	rc = export_longbench(s, &o, NULL, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL && strstr(err, "several runs") && strstr(err, "--run"), "two runs: %d %s", rc, err);
	store_close(s);
	/* a sample stored without its record (its data was never read here): the error names the run and
	 * sample; the export never reads data files */
	T_CHECK(store_open("tests/out/lb_export2.db", &s, err, sizeof(err)) == 0, "store: %s", err);
	if (!s)
		return;
	put_rows(s, "snapkv", "tests/out/gone", 0);
	rc = export_longbench(s, &o, NULL, err, sizeof(err));
	T_CHECK(rc == KV_EFORMAT && strstr(err, "no stored record") && strstr(err, "trec/"), "no record: %d %s", rc, err);
	store_close(s);
}

int main(void)
{
	T_RUN(prompts_should_match_fastkv_token_for_token);
	T_RUN(cap_should_follow_h2o_override_and_model_max_len);
	T_RUN(gemfilter_should_take_one_more_token_and_strip);
	T_RUN(scores_should_use_each_datasets_metric);
	T_RUN(errors_should_name_the_folder_dataset_and_line);
	T_RUN(export_should_write_the_official_layout);
	model_free(smollm());
	return t_done();
}
