/* LongBench metric tests: every score in tests/golden/metrics_cases.jsonl (written by
 * scripts/ref_metrics.py from the official scorers: metrics.py logic with jieba 0.42.1,
 * rouge 1.0.1, fuzzywuzzy 0.18.0 on difflib, CPython 3.11) must agree to 1e-9; jieba
 * segmentation must equal jieba 0.42.1's on tests/golden/metrics_jieba.jsonl (context
 * paragraphs read from ../shared/data at test time); the Python character classes must
 * equal CPython's on every code point (tests/golden/metrics_unicode.tsv); then the
 * dataset table and the failure paths. The jieba data comes from `make model`
 * (scripts/fetch_jieba.sh -> models/jieba/). */
#include <cjson/cJSON.h> // defines: cJSON_Parse
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/errors.h"                 // defines: KV_E*
#include "eval/metrics/jieba.h"            // defines: jieba_load, jieba_cut, jieba_free
#include "eval/metrics/metrics.h"          // defines: metric_score, metric_for_dataset
#include "eval/metrics/metrics_internal.h" // defines: py_isspace, py_lower, struct pystr
#include "tests/test.h"

#define GOLDEN_CASES "tests/golden/metrics_cases.jsonl"
#define GOLDEN_JIEBA "tests/golden/metrics_jieba.jsonl"
#define GOLDEN_UNICODE "tests/golden/metrics_unicode.tsv"
#define ZH_DATA "../shared/data/longbench/multifieldqa_zh.jsonl"
#define TOL 1e-9

/* Reads the lines of path into *lines (each malloc'd, without '\n'); returns the count
 * or -1 when the file cannot be opened. */
static int read_lines(const char *path, char ***lines)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int n = 0, ncap = 0;
	*lines = NULL;
	while ((len = getline(&line, &cap, f)) >= 0) {
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = 0;
		if (n == ncap) {
			ncap = ncap ? ncap * 2 : 256;
			*lines = realloc(*lines, (size_t)ncap * sizeof(**lines));
		}
		(*lines)[n++] = strdup(line);
	}
	free(line);
	fclose(f);
	return n;
}

static void free_lines(char **lines, int n)
{
	for (int i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

/* The strings of a JSON array (borrowed from the cJSON tree); NULL for JSON null. */
static const char **string_array(const cJSON *a, int *n)
{
	*n = 0;
	if (!cJSON_IsArray(a))
		return NULL;
	int k = cJSON_GetArraySize(a);
	const char **v = malloc((size_t)(k ? k : 1) * sizeof(*v));
	for (int i = 0; i < k; i++)
		v[i] = cJSON_GetArrayItem(a, i)->valuestring;
	*n = k;
	return v;
}

// ----------------------------------------------------------------------------
// Unicode classes

static void unicode_classes_should_match_cpython(void)
{
	char **lines;
	int n = read_lines(GOLDEN_UNICODE, &lines);
	T_CHECK(n > 0, "%s missing; regenerate with scripts/ref_metrics.py", GOLDEN_UNICODE);
	if (n <= 0)
		return;
	enum { SPACE, WORD, DECIMAL, CASED, CASEIGN, N_CLASS };
	static const char *names[N_CLASS] = {"space", "word", "decimal", "cased", "caseignorable"};
	const uint32_t N = 0x110000;
	uint8_t *want = calloc(N, 1);    /* bit k: class k */
	uint32_t *lower_from = calloc(N, sizeof(*lower_from)); /* index into lines of the 'lower' row, or 0 */
	for (int i = 1; i < n; i++) {
		char name[32];
		unsigned a, b;
		if (sscanf(lines[i], "%31s %x %x", name, &a, &b) < 2)
			continue;
		if (!strcmp(name, "lower")) {
			lower_from[a] = (uint32_t)i;
			continue;
		}
		for (int k = 0; k < N_CLASS; k++)
			if (!strcmp(name, names[k]))
				for (unsigned c = a; c <= b && c < N; c++)
					want[c] |= (uint8_t)(1u << k);
	}
	long bad[N_CLASS + 1] = {0}, checked = 0;
	struct pystr one = {0}, low = {0};
	for (uint32_t c = 0; c < N; c++) {
		if (c >= 0xD800 && c <= 0xDFFF)
			continue;
		checked++;
		bool got[N_CLASS] = {py_isspace(c), py_isword(c), py_isdecimal(c), py_iscased(c), py_iscaseignorable(c)};
		for (int k = 0; k < N_CLASS; k++) {
			if (got[k] != !!(want[c] & (1u << k)) && bad[k]++ < 3)
				T_CHECK(0, "U+%04X: %s is %d in C, %d in CPython", c, names[k], got[k], !got[k]);
		}
		if (c == 0x3A3)
			continue; /* context dependent: covered by the qa_f1 goldens */
		one.n = 0;
		pystr_push(&one, c);
		py_lower(one.cp, one.n, &low);
		uint32_t exp[4] = {c};
		int n_exp = 1;
		if (lower_from[c]) {
			char *p = strchr(strchr(lines[lower_from[c]], '\t') + 1, '\t') + 1;
			for (n_exp = 0; n_exp < 4 && *p;) {
				char *end;
				exp[n_exp++] = (uint32_t)strtoul(p, &end, 16);
				p = end;
			}
		}
		if (!cp_eq(low.cp, low.n, exp, (size_t)n_exp) && bad[N_CLASS]++ < 3)
			T_CHECK(0, "U+%04X: lower() gives %zu code points starting U+%04X in C, U+%04X in CPython", c, low.n,
				low.n ? low.cp[0] : 0, exp[0]);
	}
	printf("  unicode: %ld code points x 5 classes + lower(): %ld/%ld/%ld/%ld/%ld/%ld mismatches\n", checked,
	       bad[0], bad[1], bad[2], bad[3], bad[4], bad[5]);
	pystr_free(&one);
	pystr_free(&low);
	free(want);
	free(lower_from);
	free_lines(lines, n);
}

// ----------------------------------------------------------------------------
// golden scores

#define MAX_TALLY 32
struct tally {
	char name[32];
	int n, ok;
	double max_diff;
};

static struct tally *tally_of(struct tally *t, int *nt, const char *name)
{
	for (int i = 0; i < *nt; i++)
		if (!strcmp(t[i].name, name))
			return &t[i];
	if (*nt == MAX_TALLY)
		return &t[MAX_TALLY - 1];
	t[*nt] = (struct tally){0};
	snprintf(t[*nt].name, sizeof(t[*nt].name), "%s", name);
	return &t[(*nt)++];
}

static void scores_should_match_official_scorers(void)
{
	char **lines;
	int n = read_lines(GOLDEN_CASES, &lines);
	T_CHECK(n > 1, "%s missing or empty; regenerate with scripts/ref_metrics.py", GOLDEN_CASES);
	if (n <= 1)
		return;
	cJSON *hdr = cJSON_Parse(lines[0]);
	const cJSON *fmt = cJSON_GetObjectItem(hdr, "format"), *ver = cJSON_GetObjectItem(hdr, "version");
	T_CHECK(cJSON_IsString(fmt) && !strcmp(fmt->valuestring, "kvlab-metrics-golden") && cJSON_IsNumber(ver) &&
			ver->valueint == 1,
		"%s: bad header; regenerate with scripts/ref_metrics.py", GOLDEN_CASES);
	const cJSON *cl = cJSON_GetObjectItem(hdr, "rouge_cliff_words");
	T_CHECK(cJSON_IsNumber(cl) && cl->valueint == ROUGE_MAX_FRAMES,
		"the golden's rouge recursion cliff (%d words) disagrees with ROUGE_MAX_FRAMES %d",
		cJSON_IsNumber(cl) ? cl->valueint : -1, ROUGE_MAX_FRAMES);
	cJSON_Delete(hdr);
	struct tally t[MAX_TALLY];
	int nt = 0, failed = 0;
	char err[512];
	for (int i = 1; i < n; i++) {
		cJSON *c = cJSON_Parse(lines[i]);
		if (!c) {
			T_CHECK(0, "%s:%d: not JSON", GOLDEN_CASES, i + 1);
			continue;
		}
		const cJSON *metric = cJSON_GetObjectItem(c, "metric"), *dataset = cJSON_GetObjectItem(c, "dataset");
		const cJSON *score = cJSON_GetObjectItem(c, "score"), *error = cJSON_GetObjectItem(c, "error");
		const char *pred = cJSON_GetObjectItem(c, "pred")->valuestring;
		int na, nc;
		const char **answers = string_array(cJSON_GetObjectItem(c, "answers"), &na);
		const char **classes = string_array(cJSON_GetObjectItem(c, "all_classes"), &nc);
		double got = -1;
		int rc;
		const char *label;
		if (cJSON_IsString(dataset)) {
			label = dataset->valuestring;
			rc = metric_score_dataset(label, pred, answers, na, classes, nc, &got, err, sizeof(err));
		} else {
			label = metric->valuestring;
			rc = metric_score(label, pred, answers, na, classes, nc, &got, err, sizeof(err));
		}
		struct tally *tl = tally_of(t, &nt, label);
		tl->n++;
		if (cJSON_IsString(error)) {
			if (rc == KV_EINVAL)
				tl->ok++;
			else if (failed++ < 10)
				T_CHECK(0, "%s:%d (%s, %s): expected an error (Python %s), got rc %d score %.17g", GOLDEN_CASES,
					i + 1, label, cJSON_GetObjectItem(c, "note")->valuestring, error->valuestring, rc, got);
		} else {
			double want = score->valuedouble, d = fabs(got - want);
			if (rc == 0 && d <= TOL) {
				tl->ok++;
				if (d > tl->max_diff)
					tl->max_diff = d;
			} else if (failed++ < 10) {
				T_CHECK(0, "%s:%d (%s, %s): got %.17g (rc %d %s), want %.17g; pred '%.80s'", GOLDEN_CASES, i + 1,
					label, cJSON_GetObjectItem(c, "note")->valuestring, got, rc, rc ? err : "", want, pred);
			}
		}
		free(answers);
		free(classes);
		cJSON_Delete(c);
	}
	int total = 0, total_ok = 0;
	for (int k = 0; k < nt; k++) {
		printf("  %-16s %4d/%-4d within %.0e (max |diff| %.1e)\n", t[k].name, t[k].ok, t[k].n, TOL, t[k].max_diff);
		total += t[k].n;
		total_ok += t[k].ok;
	}
	printf("  all              %4d/%-4d\n", total_ok, total);
	T_CHECK(total_ok == total, "%d of %d golden scores differ", total - total_ok, total);
	free_lines(lines, n);
}

// ----------------------------------------------------------------------------
// jieba

/* Token lengths in the golden's encoding: 1-9, a-z = 10-35, else (n). */
static void encode_lengths(const struct spans *sp, char **out)
{
	size_t cap = sp->n * 8 + 1, k = 0;
	*out = malloc(cap);
	for (size_t i = 0; i < sp->n; i++) {
		size_t len = sp->v[i].len;
		if (len >= 1 && len <= 9)
			(*out)[k++] = (char)('0' + len);
		else if (len >= 10 && len <= 35)
			(*out)[k++] = (char)('a' + len - 10);
		else
			k += (size_t)snprintf(*out + k, cap - k, "(%zu)", len);
	}
	(*out)[k] = 0;
}

/* The paragraphs context.split("\n") of every record of the zh data file, or NULL. */
static char **zh_contexts(int *n_rec)
{
	char **lines;
	int n = read_lines(ZH_DATA, &lines);
	if (n < 0)
		return NULL;
	for (int i = 0; i < n; i++) {
		cJSON *r = cJSON_Parse(lines[i]);
		const cJSON *ctx = cJSON_GetObjectItem(r, "context");
		free(lines[i]);
		lines[i] = strdup(cJSON_IsString(ctx) ? ctx->valuestring : "");
		cJSON_Delete(r);
	}
	*n_rec = n;
	return lines;
}

static void jieba_should_segment_like_jieba_0_42_1(void)
{
	struct jieba *jb;
	char err[512];
	int rc = jieba_load(JIEBA_DEFAULT_DIR, &jb, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (rc)
		return;
	char **lines;
	int n = read_lines(GOLDEN_JIEBA, &lines);
	T_CHECK(n > 1, "%s missing; regenerate with scripts/ref_metrics.py", GOLDEN_JIEBA);
	int n_rec = 0;
	char **ctx = zh_contexts(&n_rec);
	if (!ctx)
		printf("  skipping the context paragraphs: %s not found (needs ../shared)\n", ZH_DATA);
	int tested[3] = {0}, ok[3] = {0}, failed = 0, skipped = 0;
	static const char *src_names[3] = {"answer", "context", "extra"};
	for (int i = 1; i < n; i++) {
		cJSON *r = cJSON_Parse(lines[i]);
		const char *src = cJSON_GetObjectItem(r, "src")->valuestring;
		const char *want = cJSON_GetObjectItem(r, "tokens")->valuestring;
		int s = !strcmp(src, "answer") ? 0 : !strcmp(src, "context") ? 1 : 2;
		char *text = NULL;
		if (s == 1) {
			int rec = cJSON_GetObjectItem(r, "rec")->valueint, para = cJSON_GetObjectItem(r, "para")->valueint;
			if (!ctx || rec >= n_rec) {
				skipped++;
				cJSON_Delete(r);
				continue;
			}
			const char *p = ctx[rec];
			for (int k = 0; k < para && p; k++) {
				p = strchr(p, '\n');
				p = p ? p + 1 : NULL;
			}
			size_t len = p ? strcspn(p, "\n") : 0;
			text = strndup(p ? p : "", len);
		} else {
			text = strdup(cJSON_GetObjectItem(r, "text")->valuestring);
		}
		struct pystr u = {0};
		struct spans sp = {0};
		char *got = NULL;
		tested[s]++;
		if (pystr_from_utf8(&u, text, "jieba golden", err, sizeof(err)) == 0 && jieba_cut(jb, u.cp, u.n, &sp) == 0) {
			encode_lengths(&sp, &got);
			const cJSON *ncp = cJSON_GetObjectItem(r, "n_cp");
			if (ncp && (size_t)ncp->valueint != u.n)
				T_CHECK(0, "%s:%d: paragraph has %zu code points, the golden %d: is ../shared's data different?",
					GOLDEN_JIEBA, i + 1, u.n, ncp->valueint);
			else if (!strcmp(got, want))
				ok[s]++;
			else if (failed++ < 5) {
				size_t k = 0;
				while (got[k] && got[k] == want[k])
					k++;
				T_CHECK(0, "%s:%d (%s): token lengths differ at token %zu: got '%.20s', want '%.20s'", GOLDEN_JIEBA,
					i + 1, src, k, got + k, want + k);
			}
		}
		free(got);
		spans_free(&sp);
		pystr_free(&u);
		free(text);
		cJSON_Delete(r);
	}
	for (int s = 0; s < 3; s++)
		printf("  jieba %-8s %3d/%-3d segmentations identical\n", src_names[s], ok[s], tested[s]);
	if (skipped)
		printf("  jieba: %d context rows skipped (no ../shared data)\n", skipped);
	T_CHECK(ok[0] == tested[0] && ok[1] == tested[1] && ok[2] == tested[2], "jieba segmentations differ");
	if (ctx)
		free_lines(ctx, n_rec);
	free_lines(lines, n);
	jieba_free(jb);
}

// ----------------------------------------------------------------------------
// dataset table, first-line rule, failure paths

static void metric_for_dataset_should_follow_the_table(void)
{
	static const char *pairs[][2] = {
		{"narrativeqa", "qa_f1"}, {"qasper", "qa_f1"}, {"multifieldqa_en", "qa_f1"},
		{"multifieldqa_zh", "qa_f1_zh"}, {"hotpotqa", "qa_f1"}, {"2wikimqa", "qa_f1"}, {"musique", "qa_f1"},
		{"dureader", "rouge_zh"}, {"gov_report", "rouge"}, {"qmsum", "rouge"}, {"multi_news", "rouge"},
		{"vcsum", "rouge_zh"}, {"trec", "classification"}, {"triviaqa", "qa_f1"}, {"samsum", "rouge"},
		{"lsht", "classification"}, {"passage_count", "count"}, {"passage_retrieval_en", "retrieval"},
		{"passage_retrieval_zh", "retrieval_zh"}, {"lcc", "code_sim"}, {"repobench-p", "code_sim"},
		{"qasper_e", "qa_f1"}, {"repobench-p_e", "code_sim"}, {"lcc_e", "code_sim"},
	};
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		const char *m = metric_for_dataset(pairs[i][0]);
		T_CHECK(m && !strcmp(m, pairs[i][1]), "%s -> %s, want %s", pairs[i][0], m ? m : "NULL", pairs[i][1]);
	}
	T_CHECK(metric_for_dataset("niah") == NULL && metric_for_dataset("_e") == NULL && !metric_for_dataset(NULL),
		"unknown datasets should map to NULL");
	T_CHECK(metric_first_line_only("trec") && metric_first_line_only("samsum_e") && !metric_first_line_only("lcc") &&
			!metric_first_line_only("multi_news"),
		"first-line datasets are trec, triviaqa, samsum, lsht");
	for (int i = 0; metric_names[i]; i++)
		T_CHECK(metric_names[i][0], "empty metric name");
}

static void metric_score_should_reject_bad_input_with_a_message(void)
{
	char err[256] = "";
	double out = 42;
	const char *ans[] = {"x"};
	int rc = metric_score("bleu", "x", ans, 1, NULL, 0, &out, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL && strstr(err, "'bleu'") && strstr(err, "qa_f1") && out == 42, "rc %d: %s", rc, err);
	rc = metric_score("qa_f1", "caf\xc3", ans, 1, NULL, 0, &out, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL && strstr(err, "invalid UTF-8") && strstr(err, "byte 3") && out == 42, "rc %d: %s", rc,
		err);
	const char *gt[] = {"no paragraph here"};
	rc = metric_score("retrieval", "Paragraph 1", gt, 1, NULL, 0, &out, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL && strstr(err, "IndexError") && out == 42, "rc %d: %s", rc, err);
	rc = metric_score("classification", "Food", ans, 1, NULL, 0, &out, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL && strstr(err, "all_classes") && out == 42, "rc %d: %s", rc, err);
	rc = metric_score_dataset("ruler", "x", ans, 1, NULL, 0, &out, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL && strstr(err, "'ruler'") && out == 42, "rc %d: %s", rc, err);
	rc = metric_score("qa_f1", "x", ans, 0, NULL, 0, &out, err, sizeof(err));
	T_CHECK(rc == 0 && out == 0.0, "no answers should score 0 (rc %d, %g)", rc, out);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void jieba_load_should_name_missing_and_broken_files(void)
{
	struct jieba *jb = NULL;
	char err[512] = "";
	int rc = jieba_load("tests/out/no_such_jieba", &jb, err, sizeof(err));
	T_CHECK(rc == KV_EIO && strstr(err, "tests/out/no_such_jieba/dict.txt") && strstr(err, "make model") && !jb,
		"rc %d: %s", rc, err);
	mkdir("tests/out", 0755);
	mkdir("tests/out/jieba_bad", 0755);
	write_file("tests/out/jieba_bad/dict.txt", "\xe4\xb8\x80 5 m\n\xe4\xb8\x80\xe4\xb8\x81 x n\n");
	rc = jieba_load("tests/out/jieba_bad", &jb, err, sizeof(err));
	T_CHECK(rc == KV_EFORMAT && strstr(err, "dict.txt:2") && strstr(err, "'x'") && !jb, "rc %d: %s", rc, err);
	write_file("tests/out/jieba_bad/dict.txt", "\xe4\xb8\x80 5 m\n");
	write_file("tests/out/jieba_bad/hmm.tsv", "start\tB\t-0.5\nstart\tM\t-1\nstart\tE\t-1\nstart\tS\t-1\n"
						  "emit\tB\t19968\t-1.0\nend\t2\n");
	rc = jieba_load("tests/out/jieba_bad", &jb, err, sizeof(err));
	T_CHECK(rc == KV_EFORMAT && strstr(err, "hmm.tsv") && strstr(err, "truncated") && !jb, "rc %d: %s", rc, err);
	write_file("tests/out/jieba_bad/hmm.tsv", "start\tB\t-0.5\nstart\tQ\t-1\n");
	rc = jieba_load("tests/out/jieba_bad", &jb, err, sizeof(err));
	T_CHECK(rc == KV_EFORMAT && strstr(err, "hmm.tsv:2") && !jb, "rc %d: %s", rc, err);
}

int main(void)
{
	T_RUN(unicode_classes_should_match_cpython);
	T_RUN(scores_should_match_official_scorers);
	T_RUN(jieba_should_segment_like_jieba_0_42_1);
	T_RUN(metric_for_dataset_should_follow_the_table);
	T_RUN(metric_score_should_reject_bad_input_with_a_message);
	T_RUN(jieba_load_should_name_missing_and_broken_files);
	metrics_jieba_release();
	return t_done();
}
