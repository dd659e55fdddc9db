/* The RULER task (datasets/task.h): "ruler" runs the 11 tasks FastKV runs (qa_1/qa_2 too when
 * their data is there), "ruler:SUB" one of the 13. Records come from --data (an official
 * RULER JSONL file, or a folder holding TASK.jsonl or TASK/validation.jsonl, in either the
 * 2024 layout, answer prefix inside "input", or the head layout, separate "answer_prefix",
 * told apart per record) or are generated here for --context_lengths (default 4096).
 *
 * Protocols: "fastkv" (default) follows FastKV's eval/run_ruler.py (../shared/spec/eval.md
 * section 3): the whole input as one chat user turn, add_special tokens, 64 new tokens,
 * EOS stop, at least one token, raw prediction, string_match_all for every task.
 * "official" follows RULER (spec ruler.md section 9): the input as is (base template) with
 * BOS, the family's allowance, post-processed prediction, string_match_all / _part.
 * Samples are method-agnostic: eval/prompt.c applies the template, the cap (FastKV's
 * model2maxlen, no cap when no key matches; none under "official") and middle truncation;
 * eval/metrics scores them by name. */
#include "datasets/ruler.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/chat.h"      // chat_render_user
#include "base/errors.h"
#include "base/fileio.h"    // kv_read_file, kv_next_line
#include "base/grow.h"      // kv_grow
#include "engine/model.h"     // struct model
#include "engine/tokenizer.h" // tok_encode, tok_decode, tok_bos, tok_piece
#include "base/paths.h"       // kv_abs_path
#include "base/sha256.h"      // sha256_hex

#define FASTKV_MAX_NEW_TOKENS 64

/* FastKV's task list (eval/run_ruler.py), in its order. */
static const char *const fastkv_order[] = { "niah_single_1", "niah_single_2", "niah_single_3", "niah_multikey_1",
					    "niah_multikey_2", "niah_multikey_3", "niah_multiquery", "niah_multivalue",
					    "cwe", "fwe", "vt", "qa_1", "qa_2" };

struct rrec {
	const struct ruler_task_def *def;
	int line;          /* 0-based line in its file */
	int index;         /* the record's "index" */
	int length;        /* the record's "length" (-1 if absent) */
	char *prompt;      /* input (+ answer_prefix in the head layout) */
	char **outputs;
	int n_out;
	bool head_layout;
};

struct ruler_state {
	const struct model *m;
	struct rrec *r;
	int n;
	size_t cap;
	bool official;
	bool all;
	int max_len;       /* --model_max_len (0 = the protocol's rule) */
	char source[512];  /* "generated ..." or the data path */
	char data_sha[65];  /* sha256 of the whole data files (or the generation settings): --limit leaves it alone */
	FILE *idf;          /* open while loading: what data_sha hashes */
	int length;        /* generation length, 0 when read from files */
	enum ruler_rev rev;
};

static void rrec_free(struct rrec *r)
{
	free(r->prompt);
	for (int i = 0; i < r->n_out; i++)
		free(r->outputs[i]);
	free(r->outputs);
}

static void ruler_close(void *state)
{
	struct ruler_state *st = state;
	if (!st)
		return;
	for (int i = 0; i < st->n; i++)
		rrec_free(&st->r[i]);
	free(st->r);
	free(st);
}

/* Parses one JSONL text of task def into st; path names it in messages. */
static int parse_jsonl(struct ruler_state *st, const struct ruler_task_def *def, char *text, const char *path, int limit,
		       char *err, size_t errlen)
{
	int lineno = 0, taken = 0;
	char *cur = text, *buf;
	while ((limit <= 0 || taken < limit) && (buf = kv_next_line(&cur, &lineno))) {
		int line = lineno - 1, rc;
		if ((rc = kv_check_utf8_line(path, lineno, buf, err, errlen)))
			return rc;
		cJSON *j = cJSON_Parse(buf);
		const cJSON *in = cJSON_GetObjectItemCaseSensitive(j, "input");
		const cJSON *outs = cJSON_GetObjectItemCaseSensitive(j, "outputs");
		const cJSON *ap = cJSON_GetObjectItemCaseSensitive(j, "answer_prefix");
		if (!j || !cJSON_IsString(in) || !cJSON_IsArray(outs)) {
			cJSON_Delete(j);
			return kv_errf(err, errlen, KV_EFORMAT,
				       "%s:%d: expected a RULER record {\"index\", \"input\": str, \"outputs\": [str], \"length\"}", path,
				       line + 1);
		}
		if (kv_grow((void **)&st->r, &st->cap, (size_t)st->n + 1, sizeof(*st->r))) {
			cJSON_Delete(j);
			return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		}
		struct rrec *r = &st->r[st->n];
		memset(r, 0, sizeof(*r));
		r->def = def;
		r->line = line;
		const cJSON *ix = cJSON_GetObjectItemCaseSensitive(j, "index"), *ln = cJSON_GetObjectItemCaseSensitive(j, "length");
		r->index = cJSON_IsNumber(ix) ? ix->valueint : line;
		r->length = cJSON_IsNumber(ln) ? ln->valueint : -1;
		r->head_layout = cJSON_IsString(ap);
		size_t a = strlen(in->valuestring), b = r->head_layout ? strlen(ap->valuestring) : 0;
		r->prompt = malloc(a + b + 1);
		r->outputs = calloc((size_t)cJSON_GetArraySize(outs) + 1, sizeof(char *));
		st->n++;
		if (!r->prompt || !r->outputs) {
			cJSON_Delete(j);
			return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		}
		memcpy(r->prompt, in->valuestring, a);
		memcpy(r->prompt + a, r->head_layout ? ap->valuestring : "", b);
		r->prompt[a + b] = 0;
		const cJSON *o;
		cJSON_ArrayForEach(o, outs)
		{
			if (!cJSON_IsString(o)) {
				cJSON_Delete(j);
				return kv_errf(err, errlen, KV_EFORMAT, "%s:%d: \"outputs\" must hold strings", path, line + 1);
			}
			if (!(r->outputs[r->n_out] = strdup(o->valuestring))) {
				cJSON_Delete(j);
				return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
			}
			r->n_out++;
		}
		cJSON_Delete(j);
		taken++;
	}
	return 0;
}

static bool is_file(const char *p)
{
	struct stat s;
	return stat(p, &s) == 0 && S_ISREG(s.st_mode);
}

static bool is_dir(const char *p)
{
	struct stat s;
	return stat(p, &s) == 0 && S_ISDIR(s.st_mode);
}

/* Finds TASK.jsonl or TASK/validation.jsonl under dir into path; false when neither. */
static bool find_task_file(const char *dir, const char *task, char *path, size_t n)
{
	snprintf(path, n, "%s/%s.jsonl", dir, task);
	if (is_file(path))
		return true;
	snprintf(path, n, "%s/%s/validation.jsonl", dir, task);
	return is_file(path);
}

static bool dir_has_txt(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;
	while (d && (e = readdir(d)) && !found) {
		size_t l = strlen(e->d_name);
		found = l > 4 && strcmp(e->d_name + l - 4, ".txt") == 0;
	}
	if (d)
		closedir(d);
	return found;
}

static int load_task(struct ruler_state *st, const struct ruler_task_def *def, const struct task_args *a, const char *haystack,
		     char *err, size_t errlen)
{
	int rc;
	char *text = NULL;
	size_t len = 0;
	char path[4096];
	if (a->data && is_file(a->data)) {
		snprintf(path, sizeof(path), "%s", a->data);
		if ((rc = kv_read_file(path, &text, &len, err, errlen)))
			return rc;
	} else if (a->data && !haystack) {
		if (!find_task_file(a->data, def->name, path, sizeof(path)))
			return KV_EIO; /* the caller decides whether a missing task is an error */
		if ((rc = kv_read_file(path, &text, &len, err, errlen)))
			return rc;
	} else { /* generate */
		snprintf(path, sizeof(path), "generated:%s", def->name);
		FILE *f = open_memstream(&text, &len);
		if (!f)
			return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		struct ruler_gen_opts o = { .task = def->name, .length = st->length, .samples = a->limit > 0 ? a->limit : 500,
					    .seed = 42, .rev = st->rev, .tok = st->m->tok, .haystack_dir = haystack,
					    .qa_data = a->qa_data, .quiet = true };
		rc = ruler_generate(&o, f, NULL, err, errlen);
		fclose(f);
		if (rc) {
			free(text);
			return rc;
		}
	}
	if (st->idf) { /* files: their whole text; generated records depend on the settings only */
		if (a->data && !haystack)
			fprintf(st->idf, "%s\x1f%zu\x1f", def->name, len), fwrite(text, 1, len, st->idf);
		else
			fprintf(st->idf, "%s\x1fgenerated %d %s 42 %s\x1e", def->name, st->length, ruler_rev_name(st->rev),
				haystack ? haystack : "");
	}
	rc = parse_jsonl(st, def, text, path, a->limit, err, errlen);
	free(text);
	return rc;
}

static int ruler_open(const struct task_args *a, const struct model *m, void **state, char *err, size_t errlen)
{
	struct ruler_state *st = calloc(1, sizeof(*st));
	int rc = 0;
	char *idbuf = NULL; /* the identity stream's buffer (st->idf) */
	size_t idlen = 0;
	if (!st)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	st->m = m;
	const char *sub = strchr(a->task, ':');
	st->all = !sub;
	if (a->protocol && strcmp(a->protocol, "official") != 0 && strcmp(a->protocol, "fastkv") != 0) {
		rc = kv_errf(err, errlen, KV_EINVAL, "--ruler_protocol: expected fastkv or official, got '%s'", a->protocol);
		goto fail;
	}
	st->official = a->protocol && strcmp(a->protocol, "official") == 0;
	if ((rc = ruler_rev_parse(a->ruler_rev ? a->ruler_rev : "2024", &st->rev, err, errlen)))
		goto fail;
	const struct ruler_task_def *one = NULL;
	if (sub && !(one = ruler_task_find(sub + 1))) {
		rc = kv_errf(err, errlen, KV_EINVAL, "--task %s: unknown RULER task '%s' (niah_single_1..3, niah_multikey_1..3, "
			     "niah_multivalue, niah_multiquery, vt, cwe, fwe, qa_1, qa_2)", a->task, sub + 1);
		goto fail;
	}
	if (a->data && is_file(a->data) && !one) {
		rc = kv_errf(err, errlen, KV_EINVAL, "--data %s: a single file needs --task ruler:SUB (or give a folder of TASK.jsonl)",
			     a->data);
		goto fail;
	}
	if (a->data && !is_file(a->data) && !is_dir(a->data)) {
		rc = kv_errf(err, errlen, KV_EIO, "--data %s: no such file or folder", a->data);
		goto fail;
	}
	/* a folder of essays (not of task files) is the haystack for generation */
	const char *haystack = a->data && is_dir(a->data) && dir_has_txt(a->data) ? a->data : NULL;
	bool generate = !a->data || haystack;
	st->length = 4096;
	if (generate && a->context_lengths) {
		char *end;
		long L = strtol(a->context_lengths, &end, 10);
		if (*end || L < 256 || L > (1 << 24)) {
			rc = kv_errf(err, errlen, KV_EINVAL, "--context_lengths: ruler generates one length, expected e.g. 4096, got '%s'",
				     a->context_lengths);
			goto fail;
		}
		st->length = (int)L;
	}
	if (generate && m->cfg.max_pos > 0 && st->length > m->cfg.max_pos && !a->beyond_context) {
		rc = kv_errf(err, errlen, KV_EINVAL,
			     "--context_lengths: RULER at %d tokens exceeds the model's context (%d tokens); give a length up to %d, or --beyond_context to generate it anyway",
			     st->length, m->cfg.max_pos, m->cfg.max_pos);
		goto fail;
	}
	if (generate)
		snprintf(st->source, sizeof(st->source), "generated: length %d, seed 42, rev %s", st->length, ruler_rev_name(st->rev));
	if (generate && !a->data)
		fprintf(stderr, "ruler: no --data: generating %s at %d tokens, %d samples per task (seed 42); --data F reads files, --limit N takes fewer\n",
			one ? one->name : "FastKV's 11 tasks", st->length, a->limit > 0 ? a->limit : 500);
	else
		kv_abs_path(a->data, st->source, sizeof(st->source));
	int found = 0;
	if (!(st->idf = open_memstream(&idbuf, &idlen))) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t t = 0; t < sizeof(fastkv_order) / sizeof(fastkv_order[0]); t++) {
		const struct ruler_task_def *d = ruler_task_find(fastkv_order[t]);
		if (one && d != one)
			continue;
		if (!one && d->family == RULER_QA && generate && !a->qa_data)
			continue; /* FastKV's 11 tasks; qa only when its data is given */
		rc = load_task(st, d, a, haystack, err, errlen);
		if (rc == KV_EIO && !one && !generate)
			continue; /* a folder without this task */
		if (rc == KV_EIO && one && !generate && !is_file(a->data)) {
			rc = kv_errf(err, errlen, KV_EIO, "--data %s: no %s.jsonl or %s/validation.jsonl there", a->data, d->name, d->name);
			goto fail;
		}
		if (rc)
			goto fail;
		found++;
	}
	if (!found || !st->n) {
		rc = kv_errf(err, errlen, KV_EIO, "--data %s: no RULER task files (TASK.jsonl or TASK/validation.jsonl) found", a->data ? a->data : "");
		goto fail;
	}
	fclose(st->idf);
	st->idf = NULL;
	sha256_hex(idbuf ? idbuf : "", idlen, st->data_sha);
	free(idbuf);
	idbuf = NULL;
	st->max_len = a->max_len > 0 ? a->max_len : 0;
	*state = st;
	return 0;
fail:
	if (st->idf) {
		fclose(st->idf);
		st->idf = NULL;
	}
	free(idbuf);
	ruler_close(st);
	return rc;
}

static int ruler_count(const void *state)
{
	return ((const struct ruler_state *)state)->n;
}

static char *json_strings(char *const *s, int n)
{
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; a && i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(s[i]));
	char *out = a ? cJSON_PrintUnformatted(a) : NULL;
	cJSON_Delete(a);
	return out;
}

/* The last occurrence of needle in hay, or NULL. */
static const char *last_of(const char *hay, const char *needle)
{
	const char *last = NULL;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		last = p;
	return last;
}

/* Where the question part of a RULER input begins (--protocol context_first): the last
 * occurrence of the family's question sentence (spec ruler.md appendix A.1; niah in its
 * plural or singular form, qa at the instruction repeated after the documents), or -1
 * when the input holds none (a record from another template). */
static long question_offset(const struct rrec *r)
{
	static const char *const markers[][2] = {
		[RULER_NIAH] = { "What are all the special magic", "What is the special magic" },
		[RULER_VT] = { "Question: Find all variables that are assigned the value", NULL },
		[RULER_CWE] = { "Question: What are the 10 most common words", NULL },
		[RULER_FWE] = { "Question: Do not provide any explanation.", NULL },
		[RULER_QA] = { "Answer the question based on the given documents.", NULL },
	};
	const char *best = NULL;
	for (int k = 0; k < 2; k++) {
		const char *mk = markers[r->def->family][k], *p = mk ? last_of(r->prompt, mk) : NULL;
		if (p && (!best || p > best))
			best = p;
	}
	return best && best > r->prompt ? (long)(best - r->prompt) : -1;
}

static int ruler_sample(void *state, int i, struct task_sample *out, char *err, size_t errlen)
{
	struct ruler_state *st = state;
	if (i < 0 || i >= st->n)
		return kv_errf(err, errlen, KV_EINVAL, "ruler: sample %d out of range [0, %d)", i, st->n);
	const struct rrec *r = &st->r[i];
	struct task_sample s = { 0 };
	int rc = 0;
	/* fastkv: the whole input as one chat user turn; official: as is; both with specials */
	s.text = strdup(r->prompt);
	s.chat = !st->official;
	s.add_special = true;
	long q_at = question_offset(r);
	s.question_split = q_at > 0;
	s.question_at = q_at > 0 ? (size_t)q_at : 0;
	if (!s.text)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	char id[96];
	snprintf(id, sizeof(id), "%s/%d", r->def->name, r->line);
	s.id = strdup(id);
	s.max_new_tokens = st->official ? r->def->tokens_to_generate : FASTKV_MAX_NEW_TOKENS;
	s.eos_stop = true;
	s.min_one_token = !st->official; /* HF generate's min_length = prompt + 1 in FastKV */
	s.index = i;
	s.strip = false;
	s.answers_json = json_strings(r->outputs, r->n_out);
	snprintf(s.metric, sizeof(s.metric), "%s", !st->official ? "string_match_all"
						   : r->def->metric == RULER_MATCH_PART ? "ruler:string_match_part"
											: "ruler:string_match_all");
	if (st->all) /* per-task means in kvlab report */
		snprintf(s.also_as, sizeof(s.also_as), "%s", r->def->name);
	cJSON *meta = cJSON_CreateObject();
	if (meta) {
		cJSON_AddStringToObject(meta, "task", r->def->name);
		cJSON_AddNumberToObject(meta, "index", r->index);
		cJSON_AddNumberToObject(meta, "length", r->length);
		cJSON_AddStringToObject(meta, "layout", r->head_layout ? "head" : "2024");
		cJSON_AddStringToObject(meta, "protocol", st->official ? "official" : "fastkv");
	}
	s.meta_json = meta ? cJSON_PrintUnformatted(meta) : NULL;
	cJSON_Delete(meta);
	if (!s.id || !s.answers_json || !s.meta_json || task_sample_set_strings(&s, false, (const char *const *)r->outputs, r->n_out)) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory building sample %s", id);
		goto out;
	}
	*out = s;
	memset(&s, 0, sizeof(s));
out:
	task_sample_free(&s);
	return rc;
}

static void ruler_protocol(const void *state, struct task_protocol *out)
{
	const struct ruler_state *st = state;
	*out = (struct task_protocol){ .cap_rule = st->official ? TASK_CAP_NONE : TASK_CAP_MODEL2MAXLEN, .max_len = st->max_len };
}

static void ruler_describe(const void *state, const struct task_cap *cap, char *buf, size_t len)
{
	const struct ruler_state *st = state;
	cJSON *o = cJSON_CreateObject(), *tasks = cJSON_CreateArray();
	const struct ruler_task_def *last = NULL;
	for (int i = 0; i < st->n && tasks; i++)
		if (st->r[i].def != last)
			cJSON_AddItemToArray(tasks, cJSON_CreateString((last = st->r[i].def)->name));
	if (o) {
		cJSON_AddStringToObject(o, "name", "ruler");
		cJSON_AddItemToObject(o, "tasks", tasks);
		cJSON_AddStringToObject(o, "protocol", st->official ? "official" : "fastkv");
		cJSON_AddStringToObject(o, "source", st->source);
		cJSON_AddStringToObject(o, "data_sha256", st->data_sha);
		cJSON_AddNumberToObject(o, "max_len", cap->max_len);
		cJSON_AddStringToObject(o, "metric", st->official ? "ruler (string_match_all; qa: string_match_part)" : "string_match_all");
		cJSON_AddNumberToObject(o, "max_new_tokens", st->official ? -1 : FASTKV_MAX_NEW_TOKENS);
	} else {
		cJSON_Delete(tasks);
	}
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;
	snprintf(buf, len, "%s", s ? s : "{\"name\":\"ruler\"}");
	free(s);
	cJSON_Delete(o);
}

const struct kv_task ruler_task = {
	.name = "ruler",
	.summary = "RULER's 13 synthetic tasks (ruler = FastKV's 11; ruler:SUB one task), generated or from official JSONL",
	.open = ruler_open,
	.count = ruler_count,
	.sample = ruler_sample,
	.protocol = ruler_protocol,
	.describe = ruler_describe,
	.close = ruler_close,
	.primary_metric = "score",
};
