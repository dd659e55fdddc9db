/* RULER pieces checked against values worked out by hand or printed by CPython/numpy
 * (../shared/spec/ruler.md 10.2): the Python-compatible random streams, json.dumps
 * strings, RULER's post-processing and match functions, the task reader for both JSONL
 * layouts with both protocols, and the export (RULER's prediction files and summary.csv). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/pyrandom.h"
#include "datasets/ruler.h"
#include "base/errors.h"
#include "base/pyjson.h" // py_json_str
#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/tokenizer.h"
#include "eval/export_ruler.h"
#include "eval/metrics/metrics.h" // ruler_postprocess, ruler_match_*
#include "tests/task_prompt.h"    // tp_prepare, tp_score, tp_describe
#include "results/store.h"
#include "tests/test.h"

// ----------------------------------------------------------------------------
// random streams

static void python_seed_42_should_give_cpython_outputs(void)
{
	struct pyrand r;
	pyrand_seed(&r, 42);
	uint32_t want[4] = { 2746317213u, 478163327u, 107420369u, 3184935163u };
	for (int i = 0; i < 4; i++) {
		uint32_t got = pyrand_u32(&r);
		T_CHECK(got == want[i], "output %d: got %u, want %u", i, got, want[i]);
	}
	pyrand_seed(&r, 42);
	double wr[3] = { 0.6394267984578837, 0.025010755222666936, 0.27502931836911926 };
	for (int i = 0; i < 3; i++) {
		double got = pyrand_random(&r);
		T_CHECK(got == wr[i], "random() %d: got %.17g, want %.17g", i, got, wr[i]);
	}
}

static void derived_calls_should_match_cpython(void)
{
	struct pyrand r;
	char u[37];
	pyrand_seed(&r, 42);
	pyrand_uuid4(&r, u);
	T_CHECK(strcmp(u, "bdd640fb-0667-4ad1-9c80-317fa3b1799d") == 0, "uuid4 %s", u);
	pyrand_seed(&r, 42);
	long long ri[3] = { 2867825, 1419610, 5614226 };
	for (int i = 0; i < 3; i++) {
		long long got = (long long)pyrand_randint(&r, 1000000, 9999999);
		T_CHECK(got == ri[i], "randint %d: got %lld, want %lld", i, got, ri[i]);
	}
	pyrand_seed(&r, 42);
	size_t s[5], ws[5] = { 81, 14, 3, 94, 35 };
	T_CHECK(pyrand_sample(&r, 100, 5, s) == 0, "sample");
	for (int i = 0; i < 5; i++)
		T_CHECK(s[i] == ws[i], "sample(range(100), 5)[%d] = %zu, want %zu", i, s[i], ws[i]);
	pyrand_seed(&r, 42);
	char c[6];
	for (int i = 0; i < 5; i++)
		c[i] = (char)('A' + pyrand_choices_index(&r, 26));
	c[5] = 0;
	T_CHECK(strcmp(c, "QAHFT") == 0, "choices: %s", c);
	int a4[4] = { 0, 1, 2, 3 }, w4[4] = { 2, 1, 3, 0 };
	pyrand_seed(&r, 42);
	pyrand_shuffle(&r, a4, 4, sizeof(int));
	T_CHECK(memcmp(a4, w4, sizeof(a4)) == 0, "shuffle 4: %d %d %d %d", a4[0], a4[1], a4[2], a4[3]);
	int a10[10], w10[10] = { 7, 3, 2, 8, 5, 6, 9, 4, 0, 1 };
	for (int i = 0; i < 10; i++)
		a10[i] = i;
	pyrand_seed(&r, 42);
	pyrand_shuffle(&r, a10, 10, sizeof(int));
	T_CHECK(memcmp(a10, w10, sizeof(a10)) == 0, "shuffle 10 differs (first %d)", a10[0]);
}

static void numpy_legacy_stream_should_match_numpy(void)
{
	struct pyrand r;
	pyrand_seed_numpy(&r, 42);
	uint32_t w[3] = { 1608637542u, 3421126067u, 4083286876u };
	for (int i = 0; i < 3; i++) {
		uint32_t got = pyrand_u32(&r);
		T_CHECK(got == w[i], "numpy output %d: %u, want %u", i, got, w[i]);
	}
	pyrand_seed_numpy(&r, 42);
	T_CHECK(pyrand_numpy_randint(&r, 10000, 99999) == 25795, "numpy randint(10000, 99999)");
	pyrand_seed_numpy(&r, 42);
	T_CHECK(pyrand_numpy_randint(&r, 0, 100) == 51, "numpy randint(0, 100)");
	pyrand_seed_numpy(&r, 5489);
	T_CHECK(pyrand_u32(&r) == 3499211612u, "reference MT init_genrand(5489)");
}

// ----------------------------------------------------------------------------
// text

static void json_strings_should_be_written_as_python_ensure_ascii(void)
{
	char *b = NULL;
	size_t len = 0, cap = 0;
	const char *s = "a\"b\\c/\n\t\x01\x7f jalape\xc3\xb1o \xf0\x9f\x98\x80";
	T_CHECK(py_json_str(&b, &len, &cap, s, strlen(s)) == 0, "json_str");
	const char *want = "\"a\\\"b\\\\c/\\n\\t\\u0001\\u007f jalape\\u00f1o \\ud83d\\ude00\"";
	T_CHECK(b && strcmp(b, want) == 0, "got %s\nwant %s", b ? b : "(null)", want);
	free(b);
}

static void postprocess_should_strip_and_turn_controls_into_newlines(void)
{
	char a[] = "  \xc2\xa0 The answer\tis 42\x01\n\n  ";
	T_CHECK(strcmp(ruler_postprocess(a), "The answer\nis 42") == 0, "got '%s'", a);
	char b[] = "\n\n";
	T_CHECK(strcmp(ruler_postprocess(b), "") == 0, "all space: '%s'", b);
	char c[] = "x\x1fy";
	T_CHECK(strcmp(ruler_postprocess(c), "x\ny") == 0, "unit separator: '%s'", c);
}

static void match_all_should_give_the_fraction_of_references_found(void)
{
	const char *refs[4] = { "1234567", "ABC-def", "xyz", "JALAPE\xc3\x91O" };
	double v = ruler_match_all("numbers: 1234567, abc-DEF and jalape\xc3\xb1o", refs, 4);
	T_CHECK(fabs(v - 0.75) < 1e-12, "3 of 4 (case-insensitive, Unicode lower): %g", v);
	T_CHECK(ruler_match_all("nothing", refs, 4) == 0.0, "none");
	const char *empty[1] = { "" };
	T_CHECK(ruler_match_all("anything", empty, 1) == 1.0, "an empty reference always matches");
	T_CHECK(ruler_match_all("x", refs, 0) == 0.0, "no references");
}

static void match_part_should_give_one_when_any_reference_is_found(void)
{
	const char *refs[3] = { "Denver Broncos", "Broncos", "the Broncos" };
	T_CHECK(ruler_match_part("The BRONCOS won.", refs, 3) == 1.0, "one of three");
	T_CHECK(ruler_match_part("Carolina Panthers", refs, 3) == 0.0, "none of three");
}

/* The match functions lower-case as Python's str.lower() (full case mapping, final sigma);
 * want = sum(r.lower() in pred.lower() for r in refs) / len(refs) printed by CPython 3.11. */
static void match_should_lower_case_as_python(void)
{
	static const struct {
		const char *pred, *ref;
		double want;
	} c[] = {
		{ "AB\xc4\xb0" "C", "abic", 0.0 },                             /* U+0130 lowers to i + U+0307 */
		{ "x \xc4\xb0 y", "i\xcc\x87", 1.0 },
		{ "\xce\x9f\xce\x94\xce\x9f\xce\xa3", "\xce\xbf\xce\xb4\xce\xbf\xcf\x82", 1.0 },  /* ODOS: final sigma */
		{ "The answer: \xce\x9f\xce\x94\xce\x9f\xce\xa3.", "\xce\xbf\xce\xb4\xce\xbf\xcf\x82", 1.0 },
		{ "\xce\xa3\xce\x91\xce\xa3", "\xcf\x83\xce\xb1\xcf\x82", 1.0 },                 /* SAS: first sigma not final */
		{ "KELVIN \xe2\x84\xaa", "k", 1.0 },                           /* U+212A KELVIN SIGN */
		{ "Stra\xc3\x9f" "e", "STRASSE", 0.0 },                        /* lower(), not casefold() */
		{ "\xef\xac\x81le", "file", 0.0 },                            /* U+FB01 has no lower-case mapping */
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		const char *refs[1] = { c[i].ref };
		T_CHECK(ruler_match_all(c[i].pred, refs, 1) == c[i].want, "case %zu: match_all %g, Python %g", i,
			ruler_match_all(c[i].pred, refs, 1), c[i].want);
		T_CHECK(ruler_match_part(c[i].pred, refs, 1) == c[i].want, "case %zu: match_part", i);
	}
}

static void scores_should_print_as_python_repr_of_round_2(void)
{
	char b[32];
	double cases[][1] = { { 100.0 }, { 200.0 / 3 }, { 50.5 }, { 0.0 }, { 12.345 }, { 33.333333 } };
	const char *want[] = { "100.0", "66.67", "50.5", "0.0", "12.35", "33.33" };
	for (int i = 0; i < 6; i++) { /* want = repr(round(x, 2)) printed by CPython */
		export_ruler_fmt_score(cases[i][0], b, sizeof(b));
		T_CHECK(strcmp(b, want[i]) == 0, "%.17g -> %s, want %s", cases[i][0], b, want[i]);
	}
	export_ruler_fmt_score(0.125 * 100, b, sizeof(b));
	T_CHECK(strcmp(b, "12.5") == 0, "12.5 -> %s", b);
}

// ----------------------------------------------------------------------------
// reader + task (tokenizer only: no weights are needed to build and score samples)

static struct tokenizer *smollm_tok(void)
{
	struct gguf_file *g = NULL;
	struct tokenizer *t = NULL;
	char err[512];
	if (gguf_open(T_MODEL, &g, err, sizeof(err)) == 0) {
		if (tok_load_gguf(g, &t, err, sizeof(err)))
			t = NULL;
		gguf_close(g);
	}
	if (!t)
		fprintf(stderr, "  cannot load %s's tokenizer (%s): run make model\n", T_MODEL, err);
	return t;
}

static const char *write_tmp(const char *name, const char *text)
{
	static char path[4][256];
	static int k;
	char *p = path[k++ % 4];
	snprintf(p, 256, "tests/out/%s", name);
	FILE *f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	return p;
}

static void reader_should_take_both_layouts_and_score_by_protocol(void)
{
	struct tokenizer *tok = smollm_tok();
	T_CHECK(tok != NULL, "tokenizer");
	if (!tok)
		return;
	(void)system("mkdir -p tests/out");
	/* record 0: 2024 layout (prefix inside input); record 1: head layout (separate answer_prefix) */
	const char *data = write_tmp("ruler_reader.jsonl",
				     "{\"index\": 0, \"input\": \"Question: who? Answer:\", \"outputs\": [\"Denver Broncos\", \"Broncos\"], \"length\": 40}\n"
				     "{\"index\": 1, \"input\": \"Question: what?\", \"outputs\": [\"blue\", \"sky\"], \"length\": 41, "
				     "\"length_w_model_temp\": 41, \"answer_prefix\": \" Answer:\"}\n");
	struct model m = { 0 };
	m.tok = tok;
	m.path = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
	m.chat.family = CHAT_NONE;
	char err[512];
	for (int proto = 0; proto < 2; proto++) {
		struct task_args a = { .task = "ruler:qa_1", .data = data, .protocol = proto ? "official" : NULL };
		void *st = NULL;
		int rc = ruler_task.open(&a, &m, &st, err, sizeof(err));
		T_CHECK(rc == 0, "open: %s", err);
		if (rc)
			continue;
		T_CHECK(ruler_task.count(st) == 2, "2 records, got %d", ruler_task.count(st));
		struct task_sample s0 = { 0 }, s1 = { 0 };
		struct prompt_set p0, p1;
		T_CHECK(tp_prepare(&ruler_task, st, &m, NULL, 0, &s0, &p0, err, sizeof(err)) == 0, "sample 0: %s", err);
		T_CHECK(tp_prepare(&ruler_task, st, &m, NULL, 1, &s1, &p1, err, sizeof(err)) == 0, "sample 1: %s", err);
		/* the head record's prompt is input + answer_prefix: same tokens as the joined text */
		int32_t *ids = NULL;
		int n = 0;
		tok_encode(tok, "Question: what? Answer:", strlen("Question: what? Answer:"), true, &ids, &n, err, sizeof(err));
		T_CHECK(p1.p[0].n_ids == n && ids && memcmp(p1.p[0].ids, ids, (size_t)n * sizeof(int32_t)) == 0,
			"head layout: prompt = input + answer_prefix (%d vs %d ids)", p1.p[0].n_ids, n);
		free(ids);
		T_CHECK(strcmp(s0.id, "qa_1/0") == 0 && strcmp(s1.id, "qa_1/1") == 0, "ids %s %s", s0.id, s1.id);
		T_CHECK(p0.p[0].max_new_tokens == (proto ? 32 : 64), "max_new_tokens %d", p0.p[0].max_new_tokens);
		T_CHECK(strstr(s1.meta_json, "\"layout\":\"head\"") && strstr(s0.meta_json, "\"layout\":\"2024\""), "layouts %s / %s",
			s0.meta_json, s1.meta_json);
		struct metric_value sc[METRIC_MAX_VALUES];
		int k = 0;
		/* "the Broncos" contains "Broncos" only: match_all 0.5, match_part 1 */
		T_CHECK(tp_score(&s0, "  the Broncos\n", sc, &k, err, sizeof(err)) == 0, "score");
		T_CHECK(k == 1 && strcmp(sc[0].name, "score") == 0, "one score named score");
		T_CHECK(fabs(sc[0].value - (proto ? 1.0 : 0.5)) < 1e-12, "protocol %s: %g", proto ? "official" : "fastkv", sc[0].value);
		prompt_set_free(&p0);
		prompt_set_free(&p1);
		task_sample_free(&s0);
		task_sample_free(&s1);
		ruler_task.close(st);
	}
	/* a bad record names the file and line */
	const char *bad = write_tmp("ruler_bad.jsonl", "{\"index\": 0, \"input\": 3}\n");
	struct task_args a = { .task = "ruler:vt", .data = bad };
	void *st = NULL;
	int rc = ruler_task.open(&a, &m, &st, err, sizeof(err));
	T_CHECK(rc == KV_EFORMAT && strstr(err, "ruler_bad.jsonl:1"), "bad record: %d %s", rc, err);
	struct task_args b = { .task = "ruler:nope", .data = data };
	rc = ruler_task.open(&b, &m, &st, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL && strstr(err, "nope"), "unknown sub-task: %s", err);
	tok_free(tok);
}

static void folder_should_give_every_task_file_and_per_task_scores(void)
{
	struct tokenizer *tok = smollm_tok();
	if (!tok)
		return;
	(void)system("rm -rf tests/out/ruler_dir && mkdir -p tests/out/ruler_dir/vt");
	write_tmp("ruler_dir/niah_single_1.jsonl", "{\"index\": 0, \"input\": \"a\", \"outputs\": [\"1\"], \"length\": 5}\n"
						   "{\"index\": 1, \"input\": \"b\", \"outputs\": [\"2\"], \"length\": 5}\n");
	write_tmp("ruler_dir/vt/validation.jsonl", "{\"index\": 0, \"input\": \"c\", \"outputs\": [\"X\", \"Y\"], \"length\": 5}\n");
	struct model m = { 0 };
	m.tok = tok;
	m.path = "x";
	m.chat.family = CHAT_NONE;
	char err[512];
	struct task_args a = { .task = "ruler", .data = "tests/out/ruler_dir", .limit = 1 };
	void *st = NULL;
	int rc = ruler_task.open(&a, &m, &st, err, sizeof(err));
	T_CHECK(rc == 0, "open: %s", err);
	if (!rc) {
		T_CHECK(ruler_task.count(st) == 2, "--limit 1 per task: 2 samples, got %d", ruler_task.count(st));
		struct task_sample s = { 0 };
		T_CHECK(ruler_task.sample(st, 1, &s, err, sizeof(err)) == 0 && strcmp(s.id, "vt/0") == 0, "FastKV order: niah first, vt last");
		struct metric_value sc[METRIC_MAX_VALUES];
		int k = 0;
		T_CHECK(tp_score(&s, "x and y", sc, &k, err, sizeof(err)) == 0, "score");
		T_CHECK(k == 2 && strcmp(sc[1].name, "vt") == 0 && sc[0].value == 1.0 && sc[1].value == 1.0, "score + per-task score (%d)", k);
		char desc[1024];
		tp_describe(&ruler_task, st, &m, NULL, desc, sizeof(desc));
		T_CHECK(strstr(desc, "\"tasks\":[\"niah_single_1\",\"vt\"]") && strstr(desc, "data_sha256"), "describe: %s", desc);
		task_sample_free(&s);
		ruler_task.close(st);
		/* a larger --limit is the same run (it resumes): the identity does not depend on it */
		struct task_args a2 = a;
		a2.limit = 2;
		char desc2[1024] = "";
		if (ruler_task.open(&a2, &m, &st, err, sizeof(err)) == 0) {
			T_CHECK(ruler_task.count(st) == 3, "--limit 2: 3 samples, got %d", ruler_task.count(st));
			tp_describe(&ruler_task, st, &m, NULL, desc2, sizeof(desc2));
			ruler_task.close(st);
		}
		T_CHECK(strcmp(desc, desc2) == 0, "identity changed with --limit:\n%s\n%s", desc, desc2);
	}
	tok_free(tok);
}

// ----------------------------------------------------------------------------
// export

static void export_should_write_ruler_predictions_and_summary(void)
{
	(void)system("mkdir -p tests/out && rm -rf tests/out/ruler_export tests/out/ruler_export.db*");
	struct store *s = NULL;
	char err[512], run[65];
	T_CHECK(store_open("tests/out/ruler_export.db", &s, err, sizeof(err)) == 0, "store: %s", err);
	if (!s)
		return;
	struct run_info ri = { .kind = "eval", .task = "ruler", .method = "fullkv", .method_json = "{\"method\":\"fullkv\"}",
			       .model_path = "m", .model_sha256 = "0", .config_json = "{\"t\":1}", .backend = "cpu", .threads = 1 };
	T_CHECK(store_run_begin(s, &ri, run, err, sizeof(err)) == 0, "run: %s", err);
	struct {
		const char *id, *task, *pred, *ans;
		int index;
	} rows[] = {
		{ "vt/0", "vt", " ABCDE FGHIJ\n", "[\"ABCDE\",\"FGHIJ\",\"KLMNO\"]", 0 },
		{ "vt/1", "vt", "", "[\"AAAAA\"]", 1 },
		{ "qa_1/0", "qa_1", "Broncos", "[\"Denver Broncos\",\"Broncos\"]", 0 },
	};
	for (int i = 0; i < 3; i++) {
		char meta[128];
		snprintf(meta, sizeof(meta), "{\"task\":\"%s\",\"index\":%d,\"length\":100}", rows[i].task, rows[i].index);
		const char *names[1] = { "score" };
		double vals[1] = { 0 };
		struct sample_row r = { .sample_id = rows[i].id, .idx = i, .prediction = rows[i].pred, .answers_json = rows[i].ans,
					.meta_json = meta, .score_names = names, .score_values = vals, .n_scores = 1 };
		T_CHECK(store_sample_put(s, run, &r, NULL, err, sizeof(err)) == 0, "put: %s", err);
	}
	struct export_ruler_opts o = { .out_dir = "tests/out/ruler_export" };
	T_CHECK(export_ruler(s, &o, NULL, err, sizeof(err)) == 0, "export: %s", err);
	store_close(s);
	FILE *f = fopen("tests/out/ruler_export/summary.csv", "r");
	char buf[512] = "";
	if (f) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = 0;
		fclose(f);
	}
	/* vt: (2/3 + 0) / 2 = 33.33; nulls 1/2. qa_1: string_match_part -> 100.0 */
	const char *want = "0,1,2\nTasks,vt,qa_1\nScore,33.33,100.0\nNulls,1/2,0/1\n";
	T_CHECK(strcmp(buf, want) == 0, "summary.csv:\n%s\nwant:\n%s", buf, want);
	f = fopen("tests/out/ruler_export/vt.jsonl", "r");
	buf[0] = 0;
	if (f) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = 0;
		fclose(f);
	}
	const char *want_vt = "{\"index\": 0, \"pred\": \" ABCDE FGHIJ\\n\", \"input\": \"\", \"outputs\": [\"ABCDE\", \"FGHIJ\", \"KLMNO\"], "
			      "\"others\": {}, \"truncation\": -1, \"length\": 100}\n";
	T_CHECK(strncmp(buf, want_vt, strlen(want_vt)) == 0, "vt.jsonl: %s", buf);
}

int main(void)
{
	T_RUN(python_seed_42_should_give_cpython_outputs);
	T_RUN(derived_calls_should_match_cpython);
	T_RUN(numpy_legacy_stream_should_match_numpy);
	T_RUN(json_strings_should_be_written_as_python_ensure_ascii);
	T_RUN(postprocess_should_strip_and_turn_controls_into_newlines);
	T_RUN(match_all_should_give_the_fraction_of_references_found);
	T_RUN(match_part_should_give_one_when_any_reference_is_found);
	T_RUN(match_should_lower_case_as_python);
	T_RUN(scores_should_print_as_python_repr_of_round_2);
	T_RUN(reader_should_take_both_layouts_and_score_by_protocol);
	T_RUN(folder_should_give_every_task_file_and_per_task_scores);
	T_RUN(export_should_write_ruler_predictions_and_summary);
	return t_done();
}
