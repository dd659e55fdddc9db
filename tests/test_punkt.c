/* The Punkt sentence splitter (datasets/punkt.c) against NLTK 3.10.4's
 * PunktSentenceTokenizer with the English punkt_tab tables (scripts/ref_punkt.py):
 * hand-made tricky strings with their expected spans (tests/golden/punkt_cases.jsonl) and,
 * for every Paul Graham essay in ../shared/data (whitespace-collapsed as RULER's niah.py
 * does) and for all of them concatenated, the sentence count and the sha256 of the
 * boundary list (tests/golden/punkt_essays.tsv). Needs models/punkt/english.tab (make model):
 * a missing table is a failure, not a skip. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "datasets/needle.h" // haystack_read_dir
#include "datasets/punkt.h"
#include "datasets/ruler.h"  // ruler_py_isspace
#include "base/fileio.h"   // kv_read_file
#include "base/sha256.h"     // sha256_hex
#include "tests/test.h"

#define ESSAYS "../shared/data/paul_graham_essays"

static struct punkt *P;

static void table_should_load(void)
{
	char err[512] = "";
	int rc = punkt_load(PUNKT_DEFAULT_TAB, &P, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
}

static void missing_table_should_name_the_file_and_the_fetch_script(void)
{
	struct punkt *p = NULL;
	char err[512] = "";
	int rc = punkt_load("models/punkt/nope.tab", &p, err, sizeof(err));
	T_CHECK(rc != 0 && p == NULL, "rc %d", rc);
	T_CHECK(strstr(err, "models/punkt/nope.tab") && strstr(err, "fetch_punkt.sh"), "message: %s", err);
}

static void tricky_strings_should_split_as_nltk(void)
{
	char *text = NULL;
	size_t len;
	T_CHECK(kv_read_file("tests/golden/punkt_cases.jsonl", &text, &len, NULL, 0) == 0, "punkt_cases.jsonl missing");
	if (!text || !P)
		goto out;
	int n_cases = 0, n_bad = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		cJSON *j = cJSON_Parse(line);
		const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(j, "text"));
		cJSON *want = cJSON_GetObjectItem(j, "spans");
		T_CHECK(s && cJSON_IsArray(want), "bad golden line %.60s", line);
		if (!s || !cJSON_IsArray(want)) {
			cJSON_Delete(j);
			continue;
		}
		size_t *sp = NULL;
		int n = 0;
		char err[256] = "";
		int rc = punkt_sentences(P, s, strlen(s), &sp, &n, err, sizeof(err));
		T_CHECK(rc == 0, "%s", err);
		bool same = rc == 0 && n == cJSON_GetArraySize(want);
		for (int i = 0; same && i < n; i++) {
			cJSON *w = cJSON_GetArrayItem(want, i);
			same = (size_t)cJSON_GetArrayItem(w, 0)->valuedouble == sp[2 * i] &&
			       (size_t)cJSON_GetArrayItem(w, 1)->valuedouble == sp[2 * i + 1];
		}
		if (!same) {
			char *ws = cJSON_PrintUnformatted(want);
			fprintf(stderr, "  %s\n    want %s\n    got ", line, ws);
			for (int i = 0; rc == 0 && i < n; i++)
				fprintf(stderr, "[%zu, %zu] ", sp[2 * i], sp[2 * i + 1]);
			fputc('\n', stderr);
			free(ws);
			n_bad++;
		}
		n_cases++;
		free(sp);
		cJSON_Delete(j);
	}
	T_CHECK(n_cases >= 100 && n_bad == 0, "%d of %d cases differ from NLTK", n_bad, n_cases);
	printf("  %d strings split as NLTK does\n", n_cases);
out:
	free(text);
}

/* re.sub(r'\s+', ' ', text).strip() in place (ASCII-compatible bytes of UTF-8 text). */
static size_t collapse(char *t, size_t n)
{
	size_t o = 0;
	bool ws = false;
	for (size_t i = 0; i < n;) {
		const unsigned char *u = (const unsigned char *)t + i;
		uint32_t cp = u[0];
		size_t k = 1;
		if (u[0] >= 0xc0 && u[0] < 0xe0 && i + 1 < n) {
			cp = (uint32_t)(u[0] & 0x1f) << 6 | (u[1] & 0x3f);
			k = 2;
		} else if (u[0] >= 0xe0 && u[0] < 0xf0 && i + 2 < n) {
			cp = (uint32_t)(u[0] & 0x0f) << 12 | (uint32_t)(u[1] & 0x3f) << 6 | (u[2] & 0x3f);
			k = 3;
		} else if (u[0] >= 0xf0 && i + 3 < n) {
			cp = 0x10000; /* not a space */
			k = 4;
		}
		if (ruler_py_isspace(cp)) {
			if (!ws && o > 0)
				t[o++] = ' ';
			ws = true;
		} else {
			memmove(t + o, t + i, k);
			o += k;
			ws = false;
		}
		i += k;
	}
	if (o > 0 && t[o - 1] == ' ')
		o--;
	t[o] = 0;
	return o;
}

/* Sentence count and sha256 of "start end\n" per sentence. */
static int boundary_hash(const char *t, size_t n, char hex[65])
{
	size_t *sp = NULL;
	int k = 0;
	char err[256] = "";
	if (punkt_sentences(P, t, n, &sp, &k, err, sizeof(err))) {
		fprintf(stderr, "  %s\n", err);
		return -1;
	}
	char *buf = malloc((size_t)k * 44 + 1);
	size_t o = 0;
	for (int i = 0; buf && i < k; i++)
		o += (size_t)sprintf(buf + o, "%zu %zu\n", sp[2 * i], sp[2 * i + 1]);
	sha256_hex(buf ? buf : "", o, hex);
	free(buf);
	free(sp);
	return k;
}

static void essays_should_split_as_nltk(void)
{
	FILE *f = fopen("tests/golden/punkt_essays.tsv", "r");
	T_CHECK(f != NULL, "tests/golden/punkt_essays.tsv missing (scripts/ref_punkt.py)");
	if (!f || !P) {
		if (f)
			fclose(f);
		return;
	}
	char line[512];
	int rows = 0, sentences = 0;
	while (fgets(line, sizeof(line), f)) {
		char name[256], want[65], hex[65];
		int count;
		if (line[0] == '#' || sscanf(line, "%255s %d %64s", name, &count, want) != 3)
			continue;
		char *text = NULL, err[512] = "", path[512];
		size_t len = 0;
		int n_files;
		snprintf(path, sizeof(path), "%s/%s", ESSAYS, name);
		int rc = strcmp(name, "*") == 0 ? haystack_read_dir(ESSAYS, &text, &len, &n_files, err, sizeof(err))
						: kv_read_file(path, &text, &len, err, sizeof(err));
		T_CHECK(rc == 0, "%s", err);
		if (rc)
			continue;
		len = collapse(text, len);
		int k = boundary_hash(text, len, hex);
		T_CHECK(k == count && strcmp(hex, want) == 0, "%s: %d sentences, boundaries %s; NLTK: %d, %s", name, k, hex, count,
			want);
		rows++;
		sentences += k > 0 ? k : 0;
		free(text);
	}
	fclose(f);
	T_CHECK(rows == 50, "%d essay rows (want 49 essays and '*')", rows);
	printf("  %d essay rows, %d sentences, boundaries identical to NLTK's\n", rows, sentences);
}

static void invalid_utf8_should_be_refused(void)
{
	size_t *sp = NULL;
	int n = 0;
	char err[256] = "";
	if (!P)
		return;
	int rc = punkt_sentences(P, "Bad \xff byte. Next.", 17, &sp, &n, err, sizeof(err));
	T_CHECK(rc != 0 && sp == NULL && strstr(err, "UTF-8"), "rc %d: %s", rc, err);
	rc = punkt_sentences(P, "", 0, &sp, &n, err, sizeof(err));
	T_CHECK(rc == 0 && n == 0, "empty text: rc %d, %d sentences", rc, n);
	free(sp);
}

int main(void)
{
	T_RUN(table_should_load);
	T_RUN(missing_table_should_name_the_file_and_the_fetch_script);
	T_RUN(tricky_strings_should_split_as_nltk);
	T_RUN(essays_should_split_as_nltk);
	T_RUN(invalid_utf8_should_be_refused);
	punkt_free(P);
	return t_done();
}
