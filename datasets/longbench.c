/* LongBench as the FastKV driver runs it (spec/eval.md sections 1-2): records from
 * <data_dir>/<dataset>.jsonl (LongBench-E: <dataset>_e.jsonl), prompts and generation
 * lengths from LongBench's config files, the chat template except for the few-shot and
 * code tasks, greedy decoding with one EOS stop and at least one new token. The samples
 * are method-agnostic: eval/prompt.c applies the cap (model2maxlen, context - 242 when no
 * key matches), middle truncation and GemFilter's extra token; eval/metrics scores them
 * by the name "longbench:DATASET" (first-line post-processing, the dataset's metric). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "datasets/longbench.h"
#include "engine/chat.h"
#include "base/errors.h"
#include "base/fileio.h"
#include "base/grow.h"   // kv_grow
#include "base/paths.h"  // kv_find_default, kv_abs_path
#include "base/sha256.h" // sha256_hex
#include "engine/model.h"
#include "engine/tokenizer.h"

#define LB_DEFAULT_DIR "../shared/data/longbench"

/* The datasets, in the official order: the 16 English tasks the driver runs, then the
 * five Chinese ones LongBench configures. */
const char *const longbench_datasets[] = {
	"narrativeqa", "qasper", "multifieldqa_en", "hotpotqa", "2wikimqa", "musique", "gov_report", "qmsum",
	"multi_news", "trec", "triviaqa", "samsum", "passage_count", "passage_retrieval_en", "lcc", "repobench-p",
	"multifieldqa_zh", "dureader", "vcsum", "lsht", "passage_retrieval_zh", NULL,
};

/* Datasets whose prompt is not chat-templated; the same four (and code) get first-line post-processing. */
static bool no_chat(const char *d)
{
	static const char *const l[] = { "trec", "triviaqa", "samsum", "lsht", "lcc", "repobench-p", NULL };
	for (int i = 0; l[i]; i++)
		if (strcmp(l[i], d) == 0)
			return true;
	return false;
}

struct lb_record {
	char *dataset;         /* base name (no _e) */
	char *file_name;       /* dataset as given (may end in _e) */
	cJSON *rec;            /* the parsed record (owned) */
};

struct lb_state {
	const struct model *m;
	struct lb_record *recs;
	int n;
	size_t cap;
	cJSON *prompts, *maxlens;
	char data_dir[1024];   /* --data made absolute, or the default's repository-relative name: the run's identity */
	char *file_shas;       /* "NAME sha256\n" per file read, whole files (--limit leaves them alone) */
	size_t file_shas_len;
	char data_sha[65];     /* sha256 of file_shas: the data's identity wherever it lies */
	char read_dir[1024];   /* where it is read from (the default found from any folder) */
	int max_len;           /* --model_max_len (0 = the protocol's rule) */
	int32_t eos;
};

// ----------------------------------------------------------------------------
// configuration

static int load_json(const char *path, cJSON **out, char *err, size_t errlen)
{
	char *txt = NULL;
	int rc = kv_read_file(path, &txt, NULL, err, errlen);
	if (rc)
		return rc;
	const char *end = NULL;
	*out = cJSON_ParseWithOpts(txt, &end, 0);
	if (!*out) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: invalid JSON near byte %ld", path, end ? (long)(end - txt) : 0L);
		free(txt);
		return rc;
	}
	free(txt);
	return 0;
}

// ----------------------------------------------------------------------------
// reading

static int add_file(struct lb_state *st, const char *name, int limit, char *err, size_t errlen)
{
	char path[1400], *txt = NULL;
	size_t len = 0;
	int rc, taken = 0;
	snprintf(path, sizeof(path), "%s/%s.jsonl", st->read_dir, name);
	if ((rc = kv_read_file(path, &txt, &len, err, errlen)))
		return rc;
	char hex[65], *line_sha = NULL;
	sha256_hex(txt, len, hex);
	if (asprintf(&line_sha, "%s%s %s\n", st->file_shas ? st->file_shas : "", name, hex) < 0) {
		free(txt);
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	}
	free(st->file_shas);
	st->file_shas = line_sha;
	st->file_shas_len = strlen(line_sha);
	char base[64];
	longbench_base_name(name, base, sizeof(base));
	int lineno = 0;
	char *cur = txt, *line;
	while ((limit <= 0 || taken < limit) && (line = kv_next_line(&cur, &lineno))) {
		if ((rc = kv_check_utf8_line(path, lineno, line, err, errlen)))
			goto out;
		cJSON *r = cJSON_Parse(line);
		if (!r || !cJSON_IsString(cJSON_GetObjectItem(r, "context")) || !cJSON_IsString(cJSON_GetObjectItem(r, "input")) ||
		    !cJSON_IsArray(cJSON_GetObjectItem(r, "answers"))) {
			cJSON_Delete(r);
			rc = kv_errf(err, errlen, KV_EFORMAT, "%s:%d: expected a LongBench record (context, input, answers)", path, lineno);
			goto out;
		}
		if (kv_grow((void **)&st->recs, &st->cap, (size_t)st->n + 1, sizeof(*st->recs))) {
			cJSON_Delete(r);
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
			goto out;
		}
		st->recs[st->n] = (struct lb_record){ .dataset = strdup(base), .file_name = strdup(name), .rec = r };
		st->n++;
		taken++;
	}
	rc = taken == 0 ? kv_errf(err, errlen, KV_EFORMAT, "%s: no LongBench records (the file is empty); expected one JSON record a line",
				  path)
			: 0;
out:
	free(txt);
	return rc;
}

static void lb_close(void *state)
{
	struct lb_state *st = state;
	if (!st)
		return;
	for (int i = 0; i < st->n; i++) {
		free(st->recs[i].dataset);
		free(st->recs[i].file_name);
		cJSON_Delete(st->recs[i].rec);
	}
	free(st->recs);
	free(st->file_shas);
	cJSON_Delete(st->prompts);
	cJSON_Delete(st->maxlens);
	free(st);
}

bool longbench_base_name(const char *file, char *base, size_t n)
{
	snprintf(base, n, "%s", file);
	size_t bl = strlen(base);
	bool e = bl > 2 && !strcmp(base + bl - 2, "_e");
	if (e)
		base[bl - 2] = 0;
	return e;
}

int longbench_file_rank(const char *file)
{
	char base[128];
	bool e = longbench_base_name(file, base, sizeof(base));
	int n = 0;
	while (longbench_datasets[n])
		n++;
	for (int i = 0; i < n; i++)
		if (!strcmp(longbench_datasets[i], base))
			return i + (e ? n : 0);
	return 2 * n;
}

static bool known_dataset(const char *base)
{
	for (int i = 0; longbench_datasets[i]; i++)
		if (!strcmp(longbench_datasets[i], base))
			return true;
	return false;
}

static int lb_open(const struct task_args *a, const struct model *m, void **state, char *err, size_t errlen)
{
	struct lb_state *st = calloc(1, sizeof(*st));
	char path[1400];
	int rc;
	struct stat sb;
	if (!st)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	st->m = m;
	char shared[1024];
	kv_find_default(LB_DEFAULT_DIR, shared, sizeof(shared));
	if (a->data)
		kv_abs_path(a->data, st->data_dir, sizeof(st->data_dir));
	else
		snprintf(st->data_dir, sizeof(st->data_dir), "%s", LB_DEFAULT_DIR);
	snprintf(st->read_dir, sizeof(st->read_dir), "%s", a->data ? a->data : shared);
	if (stat(st->read_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		rc = kv_errf(err, errlen, KV_EIO, "--data %s: no such folder; expected LongBench's <dataset>.jsonl files", st->read_dir);
		goto out_fail;
	}
	/* configs: the data dir's config/ when present, else the shared copies */
	char cdir[1100];
	snprintf(cdir, sizeof(cdir), "%s/config", st->read_dir);
	snprintf(path, sizeof(path), "%s/dataset2prompt.json", cdir);
	if (stat(path, &sb) != 0)
		snprintf(cdir, sizeof(cdir), "%s/config", shared);
	snprintf(path, sizeof(path), "%s/dataset2prompt.json", cdir);
	if ((rc = load_json(path, &st->prompts, err, errlen)))
		goto out_fail;
	snprintf(path, sizeof(path), "%s/dataset2maxlen.json", cdir);
	if ((rc = load_json(path, &st->maxlens, err, errlen)))
		goto out_fail;

	const char *task = a->task;
	const char *sub = strchr(task, ':');
	if (sub) {
		sub++;
		char base[64];
		longbench_base_name(sub, base, sizeof(base));
		if (!known_dataset(base)) {
			rc = kv_errf(err, errlen, KV_EINVAL, "--task: unknown LongBench dataset '%s' (e.g. longbench:qasper, longbench:qasper_e)", sub);
			goto out_fail;
		}
		if ((rc = add_file(st, sub, a->limit, err, errlen)))
			goto out_fail;
	} else {
		int found = 0;
		for (int i = 0; longbench_datasets[i]; i++) {
			snprintf(path, sizeof(path), "%s/%s.jsonl", st->read_dir, longbench_datasets[i]);
			if (stat(path, &sb) != 0)
				continue;
			if ((rc = add_file(st, longbench_datasets[i], a->limit, err, errlen)))
				goto out_fail;
			found++;
		}
		if (!found) {
			rc = kv_errf(err, errlen, KV_EIO, "--data %s: no LongBench <dataset>.jsonl files there", st->read_dir);
			goto out_fail;
		}
	}
	for (int i = 0; i < st->n; i++) {
		const char *d = st->recs[i].dataset;
		if (!cJSON_IsString(cJSON_GetObjectItem(st->prompts, d)) || !cJSON_IsNumber(cJSON_GetObjectItem(st->maxlens, d))) {
			rc = kv_errf(err, errlen, KV_EFORMAT, "%s: no prompt or generation length for dataset '%s'", cdir, d);
			goto out_fail;
		}
	}
	sha256_hex(st->file_shas, st->file_shas_len, st->data_sha);
	st->max_len = a->max_len > 0 ? a->max_len : 0;
	int n_eos = 0;
	const int32_t *eos = tok_eos_ids(m->tok, &n_eos);
	st->eos = n_eos > 0 ? eos[0] : -1; /* tokenizer.eos_token_id: one id */
	*state = st;
	return 0;
out_fail:
	lb_close(st);
	return rc;
}

static int lb_count(const void *state)
{
	return ((const struct lb_state *)state)->n;
}

// ----------------------------------------------------------------------------
// prompts

/* Literal substitution of {context} and {input} (str.format with only those fields). */
static char *fill_template(const char *tpl, const char *context, const char *input)
{
	size_t n = strlen(tpl) + strlen(context) + strlen(input) + 1;
	char *out = malloc(n), *o = out;
	if (!out)
		return NULL;
	for (const char *p = tpl; *p;) {
		if (!strncmp(p, "{context}", 9)) {
			o = stpcpy(o, context);
			p += 9;
		} else if (!strncmp(p, "{input}", 7)) {
			o = stpcpy(o, input);
			p += 7;
		} else {
			*o++ = *p++;
		}
	}
	*o = 0;
	return out;
}

/* The question part of a filled template (--protocol context_first) begins where the
 * first {context} ends: the instruction after the context, {input} and the answer
 * prefix. Every template of LongBench's dataset2prompt.json puts {input} after
 * {context} (as kvpress's pipeline does); a template that puts it before leaves the
 * question inside the compressed part, so that protocol is not query-agnostic there
 * (the sample's meta says "question_in_context"). A template without {context}: no split. */
static void context_split(const char *tpl, const char *context, const char *input, struct task_sample *s)
{
	const char *c = strstr(tpl, "{context}");
	if (!c)
		return;
	size_t at = 0;
	for (const char *p = tpl; p < c;) {
		if (!strncmp(p, "{input}", 7)) {
			at += strlen(input);
			p += 7;
		} else {
			at++;
			p++;
		}
	}
	s->question_split = true;
	s->question_at = at + strlen(context);
}

/* Does the template put {input} before its first {context}? */
static bool input_first(const char *tpl)
{
	const char *c = strstr(tpl, "{context}"), *i = strstr(tpl, "{input}");
	return c && i && i < c;
}

static char *json_str(const cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);
	return s ? s : strdup("null");
}

static int lb_sample(void *state, int i, struct task_sample *out, char *err, size_t errlen)
{
	struct lb_state *st = state;
	const struct lb_record *r = &st->recs[i];
	const struct model *m = st->m;
	const char *ctx = cJSON_GetObjectItem(r->rec, "context")->valuestring;
	const char *inp = cJSON_GetObjectItem(r->rec, "input")->valuestring;
	const cJSON *id = cJSON_GetObjectItem(r->rec, "_id");
	const cJSON *len = cJSON_GetObjectItem(r->rec, "length");
	const char *tpl = cJSON_GetObjectItem(st->prompts, r->dataset)->valuestring;
	char *prompt = fill_template(tpl, ctx, inp);
	int rc = 0;
	memset(out, 0, sizeof(*out));
	if (!prompt)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	context_split(tpl, ctx, inp, out);
	bool templ = !no_chat(r->dataset) && m->chat.family != CHAT_NONE;
	/* add_special_tokens=True even after the template: the official double BOS (1.3) */
	out->chat = templ;
	out->add_special = true;
	char sid[256];
	snprintf(sid, sizeof(sid), "%s/%s", r->file_name, cJSON_IsString(id) ? id->valuestring : "?");
	out->id = strdup(sid);
	out->index = i;
	out->max_new_tokens = (int)cJSON_GetObjectItem(st->maxlens, r->dataset)->valuedouble;
	out->eos_stop = false; /* exactly one stop id: tokenizer.eos_token_id (1.5) */
	if (st->eos >= 0)
		out->stop_ids[out->n_stop++] = st->eos;
	out->min_one_token = true; /* GemFilter's exception: eval/prompt.c */
	const cJSON *ans = cJSON_GetObjectItem(r->rec, "answers");
	out->answers_json = json_str(ans);
	cJSON *meta = cJSON_CreateObject();
	cJSON_AddStringToObject(meta, "dataset", r->dataset);
	cJSON_AddBoolToObject(meta, "longbench_e", strcmp(r->dataset, r->file_name) != 0);
	cJSON_AddNumberToObject(meta, "length", cJSON_IsNumber(len) ? len->valuedouble : -1);
	cJSON_AddStringToObject(meta, "language", cJSON_IsString(cJSON_GetObjectItem(r->rec, "language"))
						     ? cJSON_GetObjectItem(r->rec, "language")->valuestring : "");
	cJSON_AddBoolToObject(meta, "chat", templ);
	if (input_first(tpl))
		cJSON_AddBoolToObject(meta, "question_in_context", true);
	out->meta_json = json_str(meta);
	cJSON_Delete(meta);
	out->meta_truncation = true; /* eval/prompt.c appends "truncated" and "n_tokens_full" */
	/* what eval/export_longbench.c writes besides the prediction: the formatted prompt and
	 * the record's fields, in the official prediction file's order */
	cJSON *rec = cJSON_CreateObject();
	static const char *const keys[] = { "input", "context", "answers", "length", "dataset", "language", "all_classes", "_id" };
	cJSON_AddStringToObject(rec, "prompt", prompt);
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		const cJSON *x = cJSON_GetObjectItem(r->rec, keys[k]);
		if (x)
			cJSON_AddItemToObject(rec, keys[k], cJSON_Duplicate(x, true));
	}
	out->record_json = rec ? cJSON_PrintUnformatted(rec) : NULL;
	cJSON_Delete(rec);
	out->text = prompt;
	prompt = NULL;
	snprintf(out->metric, sizeof(out->metric), "longbench:%s", r->dataset);
	const cJSON *cls = cJSON_GetObjectItem(r->rec, "all_classes");
	int na = cJSON_GetArraySize(ans), nc = cJSON_IsArray(cls) ? cJSON_GetArraySize(cls) : 0;
	const char **strs = calloc((size_t)(na > nc ? na : nc) + 1, sizeof(char *));
	if (!strs || !out->id || !out->answers_json || !out->meta_json || !out->record_json) {
		free(strs);
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		goto out;
	}
	for (int k = 0; k < na; k++)
		strs[k] = cJSON_IsString(cJSON_GetArrayItem(ans, k)) ? cJSON_GetArrayItem(ans, k)->valuestring : "";
	rc = task_sample_set_strings(out, false, strs, na);
	for (int k = 0; k < nc; k++)
		strs[k] = cJSON_IsString(cJSON_GetArrayItem(cls, k)) ? cJSON_GetArrayItem(cls, k)->valuestring : "";
	if (!rc && nc)
		rc = task_sample_set_strings(out, true, strs, nc);
	free(strs);
	if (rc)
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
out:
	free(prompt);
	if (rc)
		task_sample_free(out);
	return rc;
}

static void lb_protocol(const void *state, struct task_protocol *out)
{
	const struct lb_state *st = state;
	*out = (struct task_protocol){ .cap_rule = TASK_CAP_MODEL2MAXLEN_CTX, .max_len = st->max_len, .method_gen_rules = true };
}

static void lb_describe(const void *state, const struct task_cap *cap, char *buf, size_t len)
{
	const struct lb_state *st = state;
	cJSON *o = cJSON_CreateObject(), *ds = cJSON_CreateArray();
	cJSON_AddStringToObject(o, "task", "longbench");
	cJSON_AddStringToObject(o, "data_dir", st->data_dir);
	cJSON_AddStringToObject(o, "data_sha256", st->data_sha);
	cJSON_AddNumberToObject(o, "max_len", cap->max_len);
	cJSON_AddStringToObject(o, "cap_rule", cap->rule);
	const char *last = NULL;
	for (int i = 0; i < st->n; i++)
		if (!last || strcmp(last, st->recs[i].file_name)) {
			cJSON_AddItemToArray(ds, cJSON_CreateString(st->recs[i].file_name));
			last = st->recs[i].file_name;
		}
	cJSON_AddItemToObject(o, "datasets", ds);
	cJSON_AddNumberToObject(o, "n", st->n);
	char *txt = cJSON_PrintUnformatted(o);
	snprintf(buf, len, "%s", txt ? txt : "{}");
	free(txt);
	cJSON_Delete(o);
}

const struct kv_task longbench_task = {
	.name = "longbench",
	.summary = "LongBench (21 tasks, LongBench-E with _e) as the FastKV driver runs it",
	.open = lb_open,
	.count = lb_count,
	.sample = lb_sample,
	.protocol = lb_protocol,
	.describe = lb_describe,
	.close = lb_close,
	.primary_metric = "score",
};
