/* Needle-in-a-haystack task: insertion against hand-worked token sequences, the budget cut,
 * both scores against hand-computed cases and the goldens of scripts/ref_needle.py (nltk's
 * Porter stemmer, rouge_score, visualize.py's overlap, the official prompt ids for SmolLM2),
 * grid parsing and defaults, the haystack reader and the error paths. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/needle.h"  // needle_*, haystack_read_dir, porter_stem, needle_task
#include "engine/chat.h"      // chat_detect
#include "base/fileio.h"    // kv_read_file
#include "engine/gguf.h"      // gguf_open
#include "engine/model.h"     // struct model, model_init_random
#include "engine/tokenizer.h" // tok_load_gguf, tok_load_json
#include "datasets/task.h"        // task_find, task_sample_free
#include "eval/metrics/metrics.h" // needle_rouge1, needle_overlap, porter_stem
#include "tests/task_prompt.h"    // tp_prepare, tp_score, tp_describe
#include "tests/test.h"

#define HAYSTACK "../shared/data/paul_graham_essays"

static const int32_t PERIOD[] = { 30 };

// ----------------------------------------------------------------------------
// insertion

static void insert_pos_should_put_depth_0_first(void)
{
	const int32_t ctx[] = { 30, 5, 30, 7 };
	T_CHECK(needle_insert_pos(ctx, 4, 0, PERIOD, 1) == 0, "depth 0 -> 0");
}

static void insert_pos_should_append_at_depth_100(void)
{
	const int32_t ctx[] = { 1, 2, 3, 4, 5 };
	T_CHECK(needle_insert_pos(ctx, 5, 100, PERIOD, 1) == 5, "depth 100 -> appended even with no period");
}

static void insert_pos_should_walk_back_to_a_period_token(void)
{
	/* 10 tokens, depth 50 -> p = 5; ctx[4..2] are not periods, ctx[1] is -> p = 2 */
	const int32_t ctx[] = { 5, 30, 7, 8, 9, 10, 11, 30, 13, 14 };
	int p = needle_insert_pos(ctx, 10, 50, PERIOD, 1);
	T_CHECK(p == 2, "got %d, want 2 (just after the period at index 1)", p);
	/* depth 80 -> p = 8, ctx[7] is a period: no walk */
	p = needle_insert_pos(ctx, 10, 80, PERIOD, 1);
	T_CHECK(p == 8, "got %d, want 8", p);
	/* several period ids: 1673 counts too */
	const int32_t two[] = { 30, 1673 };
	const int32_t ctx2[] = { 1, 2, 30, 4, 1673, 6, 7, 8 };
	p = needle_insert_pos(ctx2, 8, 75, two, 2);
	T_CHECK(p == 5, "got %d, want 5 (after 1673 at index 4)", p);
}

static void insert_pos_should_fall_to_0_without_a_period(void)
{
	const int32_t ctx[] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	int p = needle_insert_pos(ctx, 8, 56, PERIOD, 1);
	T_CHECK(p == 0, "got %d, want 0", p);
	p = needle_insert_pos(ctx, 8, 56, PERIOD, 0);
	T_CHECK(p == 0, "no period ids at all: got %d, want 0", p);
}

static void insert_pos_should_truncate_in_doubles_like_python(void)
{
	/* int(100 * (29 / 100)) == int(28.999999999999996) == 28, not 29 */
	int32_t ctx[100];
	for (int i = 0; i < 100; i++)
		ctx[i] = 30;
	int p = needle_insert_pos(ctx, 100, 29, PERIOD, 1);
	T_CHECK(p == 28, "got %d, want 28", p);
	/* int(100 * (57 / 100)) == int(56.99999999999999) == 56; int(100 * (56 / 100)) == 56 */
	p = needle_insert_pos(ctx, 100, 57, PERIOD, 1);
	T_CHECK(p == 56, "depth 57: got %d, want 56", p);
	p = needle_insert_pos(ctx, 100, 56, PERIOD, 1);
	T_CHECK(p == 56, "depth 56: got %d, want 56", p);
}

static void insert_should_cut_the_context_to_the_budget(void)
{
	int32_t ctx[20], *out = NULL;
	for (int i = 0; i < 20; i++)
		ctx[i] = 100 + i;
	ctx[3] = 30;
	const int32_t needle[] = { 7, 8, 9 };
	int n = 0, pos = -1;
	char err[256];
	/* budget 10: 20 + 3 > 10 -> context cut to 7 tokens; depth 100 appends after them */
	T_CHECK(needle_insert(ctx, 20, needle, 3, 10, 100, PERIOD, 1, &out, &n, &pos, err, sizeof(err)) == 0, "%s", err);
	T_CHECK(n == 10 && pos == 7, "n %d pos %d, want 10 and 7", n, pos);
	if (out && n == 10) {
		T_CHECK(out[6] == 106 && out[7] == 7 && out[9] == 9, "tail %d %d %d", out[6], out[7], out[9]);
	}
	free(out);
	out = NULL;
	/* depth 90 of the 7 kept: p = int(6.3) = 6, back to just after the period at index 3 */
	T_CHECK(needle_insert(ctx, 20, needle, 3, 10, 90, PERIOD, 1, &out, &n, &pos, err, sizeof(err)) == 0, "%s", err);
	T_CHECK(n == 10 && pos == 4, "n %d pos %d, want 10 and 4", n, pos);
	if (out && n == 10) {
		const int32_t want[] = { 100, 101, 102, 30, 7, 8, 9, 104, 105, 106 };
		T_CHECK(memcmp(out, want, sizeof(want)) == 0, "tokens differ");
	}
	free(out);
}

static void insert_should_keep_a_context_that_fits(void)
{
	const int32_t ctx[] = { 1, 30, 3, 4 }, needle[] = { 9 };
	int32_t *out = NULL;
	int n = 0, pos = -1;
	char err[256];
	T_CHECK(needle_insert(ctx, 4, needle, 1, 5, 0, PERIOD, 1, &out, &n, &pos, err, sizeof(err)) == 0, "%s", err);
	T_CHECK(n == 5 && pos == 0 && out && out[0] == 9 && out[4] == 4, "n %d pos %d", n, pos);
	free(out);
}

static void insert_should_reject_a_needle_larger_than_the_budget(void)
{
	const int32_t ctx[] = { 1, 2 }, needle[] = { 9, 9, 9 };
	int32_t *out = NULL;
	int n = 0, pos = 0;
	char err[256] = "";
	T_CHECK(needle_insert(ctx, 2, needle, 3, 2, 50, PERIOD, 1, &out, &n, &pos, err, sizeof(err)) != 0, "accepted");
	T_CHECK(strstr(err, "budget of 2"), "message: %s", err);
	T_CHECK(out == NULL, "output touched on failure");
}

// ----------------------------------------------------------------------------
// scores

static void porter_should_stem_the_needle_words_like_nltk(void)
{
	static const char *const cases[][2] = {
		{ "sitting", "sit" },  { "sunny", "sunni" }, { "sandwich", "sandwich" }, { "dolores", "dolor" },
		{ "francisco", "francisco" }, { "thing", "thing" }, { "best", "best" },  { "park", "park" },
		/* NLTK extensions the original Porter algorithm lacks */
		{ "ties", "tie" },     { "dying", "die" },   { "skies", "sky" },  { "enjoy", "enjoy" },
		{ "generously", "gener" }, { "cried", "cri" }, { "died", "die" }, { "fly", "fli" },
		{ "always", "alway" }, { "aged", "age" },     { "carefully", "care" }, { "archaeology", "archaeolog" },
		{ "controll", "control" }, { "hopping", "hop" }, { "filing", "file" }, { "news", "news" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[64];
		porter_stem(cases[i][0], out);
		T_CHECK(strcmp(out, cases[i][1]) == 0, "%s -> %s, want %s", cases[i][0], out, cases[i][1]);
	}
}

static void porter_should_match_the_nltk_golden(void)
{
	char *text = NULL, err[256];
	if (kv_read_file("tests/golden/porter_nltk.txt", &text, NULL, err, sizeof(err))) {
		T_CHECK(0, "%s (regenerate with scripts/ref_needle.py)", err);
		return;
	}
	int n = 0, bad = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		char *sp = strchr(line, ' ');
		if (!sp)
			continue;
		*sp = '\0';
		char out[256];
		porter_stem(line, out);
		if (strcmp(out, sp + 1) != 0 && bad++ < 5)
			T_CHECK(0, "%s -> %s, nltk %s", line, out, sp + 1);
		n++;
	}
	T_CHECK(n >= 9000 && bad == 0, "%d words, %d differ", n, bad);
	printf("porter: %d words, %d differ from nltk\n", n, bad);
	free(text);
}

static double rouge_x10(const char *pred)
{
	double f = -1;
	T_CHECK(needle_rouge1(NEEDLE_TEXT, pred, &f) == 0, "rouge failed");
	return f * 10;
}

static void rouge1_should_match_hand_computed_cases(void)
{
	/* the needle has 21 rouge tokens: the best thing to do in san francisco is eat a sandwich
	 * and sit in dolores park on a sunny day ("in" and "a" twice) */
	double r = rouge_x10(NEEDLE_TEXT);
	T_CHECK(fabs(r - 10) < 1e-12, "needle vs itself: %g", r);
	r = rouge_x10("");
	T_CHECK(r == 0, "empty: %g", r);
	/* the expected answer: 12 tokens all in the needle; P = 1, R = 12/21, F = 24/33 */
	r = rouge_x10(NEEDLE_EXPECTED);
	T_CHECK(fabs(r - 240.0 / 33) < 1e-12, "answer clause: %g, want %g", r, 240.0 / 33);
	/* stems: "sitting" -> "sit" and "sits" -> "sit" meet the needle's one "sit" once;
	 * "sat"/"seated" do not: hits 1, P = 1/4, R = 1/21, F = 2/25 */
	r = rouge_x10("sitting sits sat seated");
	T_CHECK(fabs(r - 0.8) < 1e-12, "stemming: %g, want 0.8", r);
	/* "sunny" -> "sunni" on both sides; "sunnier"/"sunniest"/"sunnily" do not: F = 2/25 */
	r = rouge_x10("sunny sunnier sunniest sunnily");
	T_CHECK(fabs(r - 0.8) < 1e-12, "sunny: %g, want 0.8", r);
	/* punctuation separates: "Dolores-Park!" -> dolor park; hits 2, P = 1, R = 2/21, F = 4/23 */
	r = rouge_x10("Dolores-Park!");
	T_CHECK(fabs(r - 40.0 / 23) < 1e-12, "punctuation: %g, want %g", r, 40.0 / 23);
	/* clipping: six "a" meet the needle's two: P = 2/6, R = 2/21, F = 4/27 */
	r = rouge_x10("a a a a a a");
	T_CHECK(fabs(r - 40.0 / 27) < 1e-12, "clipping: %g, want %g", r, 40.0 / 27);
}

static double overlap(const char *pred)
{
	double s = -1;
	T_CHECK(needle_overlap(pred, NEEDLE_EXPECTED, &s) == 0, "overlap failed");
	return s;
}

static void overlap_should_match_hand_computed_cases(void)
{
	/* E = {eat a sandwich and sit in dolores park on sunny day.}: 11 words, "day." with its period */
	T_CHECK(overlap(NEEDLE_EXPECTED) == 1.0, "answer: %g", overlap(NEEDLE_EXPECTED));
	T_CHECK(fabs(overlap("eat a sandwich and sit in Dolores Park on a sunny day") - 10.0 / 11) < 1e-12,
		"no period: 'day' is not 'day.'");
	T_CHECK(fabs(overlap("DOLORES park PARK park") - 2.0 / 11) < 1e-12, "a set, lower-cased");
	T_CHECK(fabs(overlap("sunny\xC2\xA0" "day.") - 2.0 / 11) < 1e-12, "NBSP splits as in Python");
	T_CHECK(fabs(overlap("Dolores Par\xE2\x84\xAA") - 2.0 / 11) < 1e-12, "KELVIN SIGN lower-cases to k");
	T_CHECK(overlap("sitting in the park.") == 1.0 / 11, "only 'in' counts: %g", overlap("sitting in the park."));
	T_CHECK(overlap("") == 0, "empty");
	double s = -1;
	T_CHECK(needle_overlap("anything", "", &s) == 0 && s == 0, "empty expected -> 0");
}

static void scores_should_match_the_python_golden(void)
{
	char *text = NULL, err[256];
	if (kv_read_file("tests/golden/needle_scores.jsonl", &text, NULL, err, sizeof(err))) {
		T_CHECK(0, "%s (regenerate with scripts/ref_needle.py)", err);
		return;
	}
	int n = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		cJSON *o = cJSON_Parse(line);
		const char *p = cJSON_GetStringValue(cJSON_GetObjectItem(o, "prediction"));
		double r = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "rouge1_x10"));
		double v = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "overlap"));
		T_CHECK(p != NULL, "bad golden line: %s", line);
		if (p) {
			T_CHECK(fabs(rouge_x10(p) - r) < 1e-12, "rouge1_x10 '%s': %.15g, rouge_score %.15g", p, rouge_x10(p), r);
			T_CHECK(fabs(overlap(p) - v) < 1e-12, "overlap '%s': %.15g, visualize.py %.15g", p, overlap(p), v);
		}
		cJSON_Delete(o);
		n++;
	}
	T_CHECK(n >= 20, "only %d cases", n);
	free(text);
}

// ----------------------------------------------------------------------------
// grid

static void parse_list_should_read_integers(void)
{
	int *v = NULL, n = 0;
	char err[256];
	T_CHECK(needle_parse_list("--context_lengths", " 1000, 2000 ,3000", 1, 1 << 30, &v, &n, err, sizeof(err)) == 0, "%s", err);
	T_CHECK(n == 3 && v && v[0] == 1000 && v[1] == 2000 && v[2] == 3000, "n %d", n);
	free(v);
}

static void parse_list_should_give_the_official_defaults(void)
{
	int *v = NULL, n = 0;
	char err[256];
	const int depths[] = { 0, 11, 22, 33, 44, 56, 67, 78, 89, 100 };
	T_CHECK(needle_parse_list("--depths", NEEDLE_DEFAULT_DEPTHS, 0, 100, &v, &n, err, sizeof(err)) == 0, "%s", err);
	T_CHECK(n == 10 && v && memcmp(v, depths, sizeof(depths)) == 0, "depths");
	free(v);
	T_CHECK(needle_parse_list("--context_lengths", NEEDLE_DEFAULT_LENGTHS, 1, 1 << 30, &v, &n, err, sizeof(err)) == 0, "%s", err);
	T_CHECK(n == 8 && v && v[0] == 16000 && v[7] == 128000, "lengths");
	for (int i = 0; v && i < n; i++)
		T_CHECK(v[i] == 16000 * (i + 1), "length %d: %d", i, v[i]);
	free(v);
}

static void parse_list_should_reject_bad_syntax_naming_the_flag(void)
{
	static const struct {
		const char *list, *msg;
	} bad[] = {
		{ "", "bad item ''" },           { "10,", "bad item ''" },         { ",10", "bad item ''" },
		{ "10,,20", "bad item ''" }, { "abc", "bad item 'abc'" },     { "1e3", "bad item '1e3'" },
		{ "10 00", "bad item '10 00'" }, { "10,10", "appears twice" }, { "-5", "out of range" },
		{ "101", "out of range" },       { "99999999999999999999", "bad item" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int *v = NULL, n = -1;
		char err[256] = "";
		int rc = needle_parse_list("--depths", bad[i].list, 0, 100, &v, &n, err, sizeof(err));
		T_CHECK(rc != 0 && strncmp(err, "--depths: ", 10) == 0 && strstr(err, bad[i].msg), "'%s': rc %d, '%s'",
			bad[i].list, rc, err);
		T_CHECK(v == NULL && n == -1, "'%s': outputs touched", bad[i].list);
	}
}

// ----------------------------------------------------------------------------
// haystack

static void haystack_should_read_the_essays_sorted(void)
{
	char *text = NULL, *first = NULL, err[256];
	size_t len = 0, flen = 0;
	int n = 0;
	T_CHECK(haystack_read_dir(HAYSTACK, &text, &len, &n, err, sizeof(err)) == 0, "%s", err);
	T_CHECK(n == 49, "%d files", n);
	T_CHECK(text && strlen(text) == len && !strchr(text, '\r'), "NUL inside or \\r left");
	/* addiction.txt sorts first, and worked.txt (CRLF) last */
	if (text && kv_read_file(HAYSTACK "/addiction.txt", &first, &flen, err, sizeof(err)) == 0)
		T_CHECK(flen <= len && memcmp(text, first, flen) == 0, "does not start with addiction.txt");
	T_CHECK(len == 644051, "%zu bytes after newline translation (645142 with the CRs)", len);
	free(first);
	free(text);
}

static void write_file(const char *path, const char *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	T_CHECK(f != NULL, "cannot write %s", path);
	if (f) {
		fwrite(data, 1, n, f);
		fclose(f);
	}
}

static void haystack_should_translate_newlines_and_reject_bad_input(void)
{
	char dir[] = "/tmp/kvlab_needle_XXXXXX", path[256], err[256] = "", *text = NULL;
	size_t len = 0;
	int n = 0;
	T_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	T_CHECK(haystack_read_dir(dir, &text, &len, &n, err, sizeof(err)) != 0 && strstr(err, "no .txt files") &&
			strstr(err, dir),
		"empty folder: %s", err);
	snprintf(path, sizeof(path), "%s/b.txt", dir);
	write_file(path, "b1\r\nb2\rb3\r", 10);
	snprintf(path, sizeof(path), "%s/a.txt", dir);
	write_file(path, "A", 1);
	snprintf(path, sizeof(path), "%s/.hidden.txt", dir);
	write_file(path, "H", 1);
	snprintf(path, sizeof(path), "%s/c.md", dir);
	write_file(path, "C", 1);
	T_CHECK(haystack_read_dir(dir, &text, &len, &n, err, sizeof(err)) == 0, "%s", err);
	T_CHECK(n == 2 && text && strcmp(text, "Ab1\nb2\nb3\n") == 0, "n %d text '%s'", n, text ? text : "");
	free(text);
	text = NULL;
	snprintf(path, sizeof(path), "%s/c.txt", dir);
	write_file(path, "ok \xC3\x28", 5);
	T_CHECK(haystack_read_dir(dir, &text, &len, &n, err, sizeof(err)) != 0 && strstr(err, "c.txt: invalid UTF-8 at byte 3"),
		"bad UTF-8: %s", err);
	T_CHECK(text == NULL, "output set on failure");
	const char *names[] = { "a.txt", "b.txt", "c.txt", ".hidden.txt", "c.md" };
	for (size_t i = 0; i < 5; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
	T_CHECK(haystack_read_dir("/nonexistent/essays", &text, &len, &n, err, sizeof(err)) != 0 &&
			strstr(err, "--haystack_dir /nonexistent/essays: cannot open"),
		"missing folder: %s", err);
}

// ----------------------------------------------------------------------------
// period tokens

static void period_ids_should_match_the_official_sets(void)
{
	char err[256];
	struct gguf_file *g = NULL;
	struct tokenizer *t = NULL;
	int32_t *ids = NULL;
	int n = 0;
	if (gguf_open(T_MODEL, &g, err, sizeof(err)) == 0 && tok_load_gguf(g, &t, err, sizeof(err)) == 0) {
		T_CHECK(needle_period_ids(t, &ids, &n, err, sizeof(err)) == 0, "%s", err);
		T_CHECK(n == 1 && ids[0] == 30, "SmolLM2: %d ids, first %d; want {30}", n, n ? ids[0] : -1);
		free(ids);
		ids = NULL;
	} else {
		T_CHECK(0, "%s (make model)", err);
	}
	tok_free(t);
	gguf_close(g);
	t = NULL;
	g = NULL;
	/* Llama-3: {13} in the official code */
	if (access("models/tokenizers/llama3/tokenizer.json", R_OK) == 0 &&
	    tok_load_json("models/tokenizers/llama3/tokenizer.json", "models/tokenizers/llama3/tokenizer_config.json", &t, err,
			  sizeof(err)) == 0) {
		T_CHECK(needle_period_ids(t, &ids, &n, err, sizeof(err)) == 0, "%s", err);
		T_CHECK(n == 1 && ids[0] == 13, "Llama-3: %d ids, first %d; want {13}", n, n ? ids[0] : -1);
		free(ids);
		ids = NULL;
		tok_free(t);
		t = NULL;
	} else {
		T_SKIP("Llama-3 period ids: models/tokenizers/llama3 missing (make model)");
	}
	/* Mistral-7B-v0.x: {842, 28723} in the official code */
	if (access("models/tokenizers/mistral-7b-v0.1/tokenizer.gguf", R_OK) == 0 &&
	    gguf_open("models/tokenizers/mistral-7b-v0.1/tokenizer.gguf", &g, err, sizeof(err)) == 0 &&
	    tok_load_gguf(g, &t, err, sizeof(err)) == 0) {
		T_CHECK(needle_period_ids(t, &ids, &n, err, sizeof(err)) == 0, "%s", err);
		T_CHECK(n == 2 && ids[0] == 842 && ids[1] == 28723, "Mistral: %d ids; want {842, 28723}", n);
		free(ids);
	} else {
		T_SKIP("Mistral period ids: models/tokenizers/mistral-7b-v0.1 missing (make model)");
	}
	tok_free(t);
	gguf_close(g);
}

// ----------------------------------------------------------------------------
// the task on SmolLM2's tokenizer (no weights needed)

struct tok_model {
	struct gguf_file *g;
	struct model m;
};

static int tok_model_open(struct tok_model *tm)
{
	char err[256];
	memset(tm, 0, sizeof(*tm));
	tm->m.path = T_MODEL;
	if (gguf_open(T_MODEL, &tm->g, err, sizeof(err)) || tok_load_gguf(tm->g, &tm->m.tok, err, sizeof(err))) {
		T_CHECK(0, "%s (make model)", err);
		return -1;
	}
	tm->m.chat_template = gguf_get_strdup(tm->g, "tokenizer.chat_template");
	T_CHECK(chat_detect(tm->m.chat_template, &tm->m.chat, err, sizeof(err)) == 0, "%s", err);
	return 0;
}

static void tok_model_close(struct tok_model *tm)
{
	tok_free(tm->m.tok);
	free(tm->m.chat_template);
	gguf_close(tm->g);
}

static void task_should_build_the_official_prompts(void)
{
	struct tok_model tm;
	char err[512], *text = NULL;
	void *st = NULL;
	if (tok_model_open(&tm))
		goto out;
	if (kv_read_file("tests/golden/needle_smollm2.jsonl", &text, NULL, err, sizeof(err))) {
		T_CHECK(0, "%s (regenerate with scripts/ref_needle.py)", err);
		goto out;
	}
	struct task_args a = { .task = "needle", .data = HAYSTACK, .context_lengths = "600,1000", .depths = "0,29,56,100" };
	T_CHECK(needle_task.open(&a, &tm.m, &st, err, sizeof(err)) == 0, "%s", err);
	if (!st)
		goto out;
	T_CHECK(needle_task.count(st) == 8, "count %d", needle_task.count(st));
	char desc[4096];
	tp_describe(&needle_task, st, &tm.m, NULL, desc, sizeof(desc));
	cJSON *d = cJSON_Parse(desc);
	T_CHECK(d != NULL, "describe is not JSON: %s", desc);
	cJSON_Delete(d);
	T_CHECK(strstr(desc, "\"period_ids\":[30]") && strstr(desc, "\"haystack_files\":49") && strstr(desc, "sorted"),
		"describe: %s", desc);
	int i = 0, checked = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		cJSON *o = cJSON_Parse(line);
		if (cJSON_GetObjectItem(o, "period_ids")) {
			T_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "newline_id")) == 198, "golden newline id");
			cJSON_Delete(o);
			continue;
		}
		int L = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "context_length"));
		int dp = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "depth_percent"));
		int pos = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "needle_pos"));
		cJSON *ids = cJSON_GetObjectItem(o, "ids");
		struct task_sample s = { 0 };
		struct prompt_set ps;
		const struct prompt *q = &ps.p[0];
		T_CHECK(tp_prepare(&needle_task, st, &tm.m, NULL, i, &s, &ps, err, sizeof(err)) == 0, "sample %d: %s", i, err);
		char want_id[64], want_meta[128];
		snprintf(want_id, sizeof(want_id), "len_%d_depth_%d", L, dp);
		snprintf(want_meta, sizeof(want_meta), "{\"context_length\":%d,\"depth_percent\":%d,\"needle_pos\":%d}", L, dp, pos);
		T_CHECK(s.id && strcmp(s.id, want_id) == 0, "sample %d id %s, want %s", i, s.id ? s.id : "", want_id);
		T_CHECK(s.meta_json && strcmp(s.meta_json, want_meta) == 0, "meta %s, want %s", s.meta_json ? s.meta_json : "",
			want_meta);
		T_CHECK(q->max_new_tokens == 30 && s.n_stop == 1 && s.stop_ids[0] == 198 && s.eos_stop && q->strip &&
				!q->min_one_token && s.index == i,
			"generation settings of %s", want_id);
		int n = cJSON_GetArraySize(ids), same = n == q->n_ids;
		for (int k = 0; same && k < n; k++)
			same = q->ids[k] == (int32_t)cJSON_GetNumberValue(cJSON_GetArrayItem(ids, k));
		T_CHECK(same, "%s: %d prompt ids differ from the official algorithm's %d", want_id, q->n_ids, n);
		checked += same;
		/* the budget: the context + needle are at most L - 200 tokens; the frame adds few */
		T_CHECK(q->n_ids <= L - 200 + 60 && q->n_ids >= L - 200, "%s: %d prompt ids", want_id, q->n_ids);
		prompt_set_free(&ps);
		task_sample_free(&s);
		cJSON_Delete(o);
		i++;
	}
	T_CHECK(i == 8, "%d golden cells", i);
	printf("needle prompts: %d of %d cells identical to the official algorithm's ids\n", checked, i);
out:
	if (st)
		needle_task.close(st);
	free(text);
	tok_model_close(&tm);
}

static void task_should_render_the_chat_variant_without_extra_bos(void)
{
	struct tok_model tm;
	char err[512];
	void *st = NULL;
	struct task_sample s = { 0 };
	struct prompt_set ps = { 0 };
	const struct prompt *q = &ps.p[0];
	if (tok_model_open(&tm))
		goto out;
	struct task_args a = { .task = "needle", .data = HAYSTACK, .context_lengths = "600", .depths = "50", .chat = true };
	T_CHECK(needle_task.open(&a, &tm.m, &st, err, sizeof(err)) == 0, "%s", err);
	if (!st || tp_prepare(&needle_task, st, &tm.m, NULL, 0, &s, &ps, err, sizeof(err)) != 0) {
		T_CHECK(0, "%s", err);
		goto out;
	}
	char *text = NULL;
	size_t len = 0;
	T_CHECK(tok_decode(tm.m.tok, q->ids, q->n_ids, false, &text, &len, err, sizeof(err)) == 0, "%s", err);
	/* ChatML with SmolLM2's default system turn; the user turn holds the official prompt */
	T_CHECK(text && strncmp(text, "<|im_start|>system\n", 19) == 0, "starts '%.40s'", text ? text : "");
	T_CHECK(text && strstr(text, "<|im_start|>user\n<|im_start|> This is a very long story book: <book> "), "user turn");
	const char *tail = "\nAnswer:<|im_end|>\n<|im_start|>assistant\n";
	size_t tl = strlen(tail);
	T_CHECK(text && len > tl && strcmp(text + len - tl, tail) == 0, "ends '%s'", text && len > tl ? text + len - tl : "");
	T_CHECK(q->ids[0] == 1 && q->ids[1] != 1, "one <|im_start|> first, no BOS added");
	free(text);
out:
	prompt_set_free(&ps);
	task_sample_free(&s);
	if (st)
		needle_task.close(st);
	tok_model_close(&tm);
}

static void task_should_score_both_metrics(void)
{
	struct metric_value sc[METRIC_MAX_VALUES];
	int n = 0;
	char err[256];
	/* the references a needle sample gives its scorer: the expected answer, the needle */
	static const char *const refs[2] = { NEEDLE_EXPECTED, NEEDLE_TEXT };
	T_CHECK(metric_score_named("needle", NULL, "eat a sandwich and sit in Dolores Park on a sunny day.", refs, 2, NULL, 0, sc,
				   &n, err, sizeof(err)) == 0,
		"%s", err);
	T_CHECK(n == 2 && strcmp(sc[0].name, "overlap") == 0 && sc[0].value == 1.0, "overlap first");
	T_CHECK(n == 2 && strcmp(sc[1].name, "rouge1_x10") == 0 && fabs(sc[1].value - 240.0 / 33) < 1e-12, "rouge1_x10");
	T_CHECK(needle_task.primary_metric && strcmp(needle_task.primary_metric, "overlap") == 0, "primary metric");
}

static void task_should_reject_bad_arguments(void)
{
	struct tok_model tm;
	char err[512];
	void *st = NULL;
	if (tok_model_open(&tm))
		goto out;
	static const struct {
		struct task_args a;
		const char *msg;
	} bad[] = {
		{ { .task = "needle", .data = HAYSTACK, .context_lengths = "1000,225" },
		  "--context_lengths: 225 leaves no room for the haystack (it must exceed the 25-token needle + the 200-token buffer = 225)" },
		{ { .task = "needle", .data = HAYSTACK, .context_lengths = "1000,abc" }, "--context_lengths: expected a comma-separated" },
		{ { .task = "needle", .data = HAYSTACK, .depths = "0,150" }, "--depths: 150 is out of range [0, 100]" },
		{ { .task = "needle", .data = "/nonexistent/essays", .context_lengths = "1000" },
		  "--haystack_dir /nonexistent/essays: cannot open the folder" },
		{ { .task = "needle:x", .data = HAYSTACK }, "--task needle:x: the needle task has no sub-tasks" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		st = NULL;
		int rc = needle_task.open(&bad[i].a, &tm.m, &st, err, sizeof(err));
		T_CHECK(rc != 0 && st == NULL && strstr(err, bad[i].msg), "case %zu: rc %d '%s'", i, rc, err);
		if (st)
			needle_task.close(st);
	}
	/* --limit keeps the first cells, in grid order (lengths outer, depths inner) */
	struct task_args a = { .task = "needle", .data = HAYSTACK, .context_lengths = "600,700", .depths = "0,50,100", .limit = 4 };
	st = NULL;
	T_CHECK(needle_task.open(&a, &tm.m, &st, err, sizeof(err)) == 0 && needle_task.count(st) == 4, "%s", err);
	struct task_sample s = { 0 };
	T_CHECK(st && needle_task.sample(st, 3, &s, err, sizeof(err)) == 0 && s.id && strcmp(s.id, "len_700_depth_0") == 0,
		"sample 3: %s", s.id ? s.id : err);
	task_sample_free(&s);
	T_CHECK(st && needle_task.sample(st, 4, &s, err, sizeof(err)) != 0 && strstr(err, "out of range"), "sample 4: %s", err);
	if (st)
		needle_task.close(st);
out:
	tok_model_close(&tm);
}

static void task_should_need_a_tokenizer(void)
{
	struct model_config c = { .arch = ARCH_LLAMA, .n_layer = 1, .n_embd = 8, .n_head = 2, .n_head_kv = 1, .head_dim = 4,
				  .n_ff = 16, .n_vocab = 32, .max_pos = 64, .norm_eps = 1e-5f, .rope_theta = 10000 };
	struct model *m = NULL;
	char err[256] = "";
	void *st = NULL;
	T_CHECK(model_init_random(&c, 1, &m, err, sizeof(err)) == 0, "%s", err);
	if (!m)
		return;
	struct task_args a = { .task = "needle" };
	T_CHECK(needle_task.open(&a, m, &st, err, sizeof(err)) != 0 && strstr(err, "has no tokenizer"), "%s", err);
	model_free(m);
}

static void task_find_should_resolve_names(void)
{
	T_CHECK(task_find("needle") == &needle_task, "needle");
	T_CHECK(task_find("needle:sub") == &needle_task, "needle:sub goes to the needle task (which refuses it)");
	T_CHECK(task_find("need") == NULL && task_find("needles") == NULL && task_find("") == NULL, "prefixes");
	int n = 0;
	for (int i = 0; kv_tasks[i]; i++)
		n++;
	T_CHECK(n >= 1, "table empty");
}

int main(void)
{
	T_RUN(insert_pos_should_put_depth_0_first);
	T_RUN(insert_pos_should_append_at_depth_100);
	T_RUN(insert_pos_should_walk_back_to_a_period_token);
	T_RUN(insert_pos_should_fall_to_0_without_a_period);
	T_RUN(insert_pos_should_truncate_in_doubles_like_python);
	T_RUN(insert_should_cut_the_context_to_the_budget);
	T_RUN(insert_should_keep_a_context_that_fits);
	T_RUN(insert_should_reject_a_needle_larger_than_the_budget);
	T_RUN(porter_should_stem_the_needle_words_like_nltk);
	T_RUN(porter_should_match_the_nltk_golden);
	T_RUN(rouge1_should_match_hand_computed_cases);
	T_RUN(overlap_should_match_hand_computed_cases);
	T_RUN(scores_should_match_the_python_golden);
	T_RUN(parse_list_should_read_integers);
	T_RUN(parse_list_should_give_the_official_defaults);
	T_RUN(parse_list_should_reject_bad_syntax_naming_the_flag);
	T_RUN(haystack_should_read_the_essays_sorted);
	T_RUN(haystack_should_translate_newlines_and_reject_bad_input);
	T_RUN(period_ids_should_match_the_official_sets);
	T_RUN(task_should_build_the_official_prompts);
	T_RUN(task_should_render_the_chat_variant_without_extra_bos);
	T_RUN(task_should_score_both_metrics);
	T_RUN(task_should_reject_bad_arguments);
	T_RUN(task_should_need_a_tokenizer);
	T_RUN(task_find_should_resolve_names);
	return t_done();
}
