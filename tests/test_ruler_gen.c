/* kvlab's RULER generator against RULER's own Python generator: the goldens
 * tests/golden/ruler_<tokenizer>_<length>.tsv hold, per task, the sha256 of the official
 * 500-record JSONL file and of its first 25 lines (written by scripts/ref_ruler.py from the
 * 2024 generator, seed 42). The cases regenerate those records here and compare bytes;
 * with the Llama-3 tokenizer they also check record 0 of niah_multikey_3 against the
 * values of the FastKV authors' data/RULER/4096/niah_multikey_3.jsonl
 * (../shared/spec/ruler.md section 0 and 11, eval.md 3.2). The essay-haystack tasks
 * (niah_single_2/3, niah_multikey_1, niah_multivalue, niah_multiquery) are byte-identical
 * too since the essays are split by datasets/punkt.c, a port of the NLTK Punkt splitter
 * RULER calls (sent_tokenize); they need models/punkt/english.tab (make model). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/ruler.h"
#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "base/sha256.h" // sha256_hex
#include "tests/test.h"

static struct tokenizer *load_tok(const char *path)
{
	struct gguf_file *g = NULL;
	struct tokenizer *t = NULL;
	char err[512] = "";
	if (gguf_open(path, &g, err, sizeof(err)) == 0) {
		if (tok_load_gguf(g, &t, err, sizeof(err)))
			t = NULL;
		gguf_close(g);
	}
	if (!t)
		fprintf(stderr, "  %s: %s (run make model)\n", path, err);
	return t;
}

/* Generates n records of task into a malloc'd buffer (*len bytes); NULL on failure. */
static char *gen(struct tokenizer *tok, const char *task, int length, int n, enum ruler_rev rev, size_t *len)
{
	char *buf = NULL, err[512] = "";
	*len = 0;
	FILE *f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	struct ruler_gen_opts o = { .task = task, .length = length, .samples = n, .seed = 42, .rev = rev, .tok = tok, .quiet = true };
	int rc = ruler_generate(&o, f, NULL, err, sizeof(err));
	fclose(f);
	if (rc) {
		fprintf(stderr, "  %s: %s\n", task, err);
		free(buf);
		return NULL;
	}
	return buf;
}

/* Checks every task of a golden table; full = also compare the 500-record files of the
 * tasks named in full_tasks (comma-separated). */
static void check_golden(const char *golden, const char *tok_path, const char *full_tasks, enum ruler_rev rev)
{
	FILE *f = fopen(golden, "r");
	T_CHECK(f != NULL, "%s missing (regenerate with scripts/ref_ruler.py)", golden);
	if (!f)
		return;
	struct tokenizer *tok = load_tok(tok_path);
	T_CHECK(tok != NULL, "tokenizer %s", tok_path);
	char line[1024];
	int n_tasks = 0;
	while (tok && fgets(line, sizeof(line), f)) {
		if (line[0] == '#')
			continue;
		char task[64], full[65], head[65];
		int samples, lines;
		if (sscanf(line, "%63s %d %64s %64s %d", task, &samples, full, head, &lines) != 5)
			continue;
		n_tasks++;
		size_t len;
		bool whole = strstr(full_tasks, task) != NULL;
		char *out = gen(tok, task, 4096, whole ? samples : 25, rev, &len);
		T_CHECK(out != NULL, "%s generated", task);
		if (!out)
			continue;
		char hex[65];
		sha256_hex(out, len, hex);
		T_CHECK(strcmp(hex, whole ? full : head) == 0, "%s: %s records differ from RULER's (sha256 %s, want %s)", task,
			whole ? "all" : "the first 25", hex, whole ? full : head);
		printf("  %s %s: %s records byte-identical to RULER's generator\n", golden + 13, task, whole ? "all 500" : "first 25");
		free(out);
	}
	T_CHECK(n_tasks > 0, "%s holds no task", golden);
	fclose(f);
	tok_free(tok);
}

static void generator_should_match_ruler_with_the_smollm2_tokenizer(void)
{
	check_golden("tests/golden/ruler_smollm2_4096.tsv", T_MODEL, "niah_multikey_3,niah_multiquery", RULER_REV_2024);
}

static void generator_should_match_ruler_with_the_llama3_tokenizer(void)
{
	check_golden("tests/golden/ruler_llama3_4096.tsv", "models/tokenizers/llama3/tokenizer.gguf", "niah_multikey_3", RULER_REV_2024);
}

static void generator_should_match_ruler_vt_of_december_2024(void)
{
	/* c5341b4: the one-shot example's names re-randomized for every sample */
	check_golden("tests/golden/ruler_smollm2_vt2412_4096.tsv", T_MODEL, "", RULER_REV_2024_12);
}

static void generator_should_match_ruler_head_niah(void)
{
	/* RULER's 2025 niah.py: binary-search sizing, answer_prefix split off, token_position_answer */
	check_golden("tests/golden/ruler_smollm2_head_4096.tsv", T_MODEL, "", RULER_REV_HEAD);
}

static void generator_should_reproduce_fastkv_niah_multikey_3_record_0(void)
{
	struct tokenizer *tok = load_tok("models/tokenizers/llama3/tokenizer.gguf");
	T_CHECK(tok != NULL, "llama3 tokenizer");
	if (!tok)
		return;
	size_t len;
	char *out = gen(tok, "niah_multikey_3", 4096, 1, RULER_REV_2024, &len);
	T_CHECK(out != NULL, "generated");
	if (out) {
		/* FastKV's file, record 0: 6142 characters in 53 lines, the query key, the answer, length 3181 */
		T_CHECK(strstr(out, "\"outputs\": [\"1ee34dc4-3b04-4a8b-805b-fdc94e7ed827\"], \"length\": 3181}") != NULL, "answer/length: %.200s",
			out + (len > 200 ? len - 200 : 0));
		T_CHECK(strstr(out, "What is the special magic uuid for 455ac762-7428-4656-b3ee-4d3b5a104129 mentioned") != NULL, "query key");
		int nl = 0;
		for (size_t i = 0; i < len; i++)
			nl += out[i] == '\\' && out[i + 1] == 'n';
		T_CHECK(nl == 52, "53 lines (52 escaped newlines), got %d", nl);
		const char *in = strstr(out, "\"input\": \""), *end = strstr(out, "\", \"outputs\"");
		size_t chars = in && end ? (size_t)(end - in - 10) - (size_t)nl : 0; /* each \n is two bytes in JSON */
		T_CHECK(chars == 6142, "6142 characters, got %zu", chars);
	}
	free(out);
	tok_free(tok);
}

static void qa_should_build_documents_from_squad_and_hotpotqa_files(void)
{
	struct tokenizer *tok = load_tok(T_MODEL);
	if (!tok)
		return;
	(void)system("mkdir -p tests/out");
	FILE *f = fopen("tests/out/ruler_squad.json", "w");
	if (f) {
		fputs("{\"data\": [{\"title\": \"A\", \"paragraphs\": ["
		      "{\"context\": \"Zeta paragraph about Denver.\", \"qas\": [{\"question\": \"Who won?\", \"is_impossible\": false,"
		      " \"answers\": [{\"text\": \"Denver Broncos\", \"answer_start\": 0}, {\"text\": \"Broncos\", \"answer_start\": 7}]},"
		      " {\"question\": \"Unanswerable?\", \"is_impossible\": true, \"answers\": []}]},"
		      "{\"context\": \"Alpha paragraph.\", \"qas\": []}]},"
		      "{\"title\": \"B\", \"paragraphs\": [{\"context\": \"Mid paragraph \\u00e9t\\u00e9.\", \"qas\": [{\"question\": \"Which season?\","
		      " \"is_impossible\": false, \"answers\": [{\"text\": \"summer\", \"answer_start\": 0}]}]}]}]}", f);
		fclose(f);
	}
	f = fopen("tests/out/ruler_hotpot.json", "w");
	if (f) {
		fputs("[{\"_id\": \"x\", \"question\": \"Where?\", \"answer\": \"Paris\", \"context\": [[\"T1\", [\"S1.\", \" S2.\"]], [\"T2\", [\"U1.\"]]]},"
		      " {\"_id\": \"y\", \"question\": \"When?\", \"answer\": \"1999\", \"context\": [[\"T3\", [\"V1.\"]]]}]", f);
		fclose(f);
	}
	const char *names[2] = { "qa_1", "qa_2" }, *files[2] = { "tests/out/ruler_squad.json", "tests/out/ruler_hotpot.json" };
	for (int k = 0; k < 2; k++) {
		char *buf = NULL, err[512] = "";
		size_t len = 0;
		FILE *m = open_memstream(&buf, &len);
		struct ruler_gen_opts o = { .task = names[k], .length = 512, .samples = 2, .seed = 42, .tok = tok, .qa_data = files[k], .quiet = true };
		int rc = ruler_generate(&o, m, NULL, err, sizeof(err));
		fclose(m);
		T_CHECK(rc == 0, "%s: %s", names[k], err);
		/* every document present (fewer than the 10-document step), gold included, answers kept */
		T_CHECK(buf && strstr(buf, "Document 1:\\n") && strstr(buf, "Document 3:\\n") && !strstr(buf, "Document 4:"), "%s documents: %.300s",
			names[k], buf ? buf : "");
		T_CHECK(buf && strstr(buf, k ? "\"outputs\": [\"Paris\"]" : "\"outputs\": [\"Denver Broncos\", \"Broncos\"]"), "%s answers", names[k]);
		T_CHECK(buf && strstr(buf, k ? "T1\\nS1. S2." : "Mid paragraph \\u00e9t\\u00e9."), "%s document text", names[k]);
		T_CHECK(buf && strstr(buf, "\"index\": 1,") && strstr(buf, k ? "Question: When? Answer:\"" : "Question: Which season? Answer:\""),
			"%s second question in file order", names[k]);
		free(buf);
	}
	tok_free(tok);
}

static void generator_should_refuse_qa_without_data_and_unknown_tasks(void)
{
	struct tokenizer *tok = load_tok(T_MODEL);
	char err[512] = "";
	FILE *f = fopen("/dev/null", "w");
	struct ruler_gen_opts o = { .task = "qa_1", .length = 4096, .samples = 1, .seed = 42, .tok = tok, .quiet = true };
	int rc = ruler_generate(&o, f, NULL, err, sizeof(err));
	T_CHECK(rc != 0 && strstr(err, "--qa_data") && strstr(err, "SQuAD"), "qa_1 without data: %s", err);
	o.task = "niah_single_9";
	rc = ruler_generate(&o, f, NULL, err, sizeof(err));
	T_CHECK(rc != 0 && strstr(err, "niah_single_9") && strstr(err, "niah_multikey_3"), "unknown task: %s", err);
	o.task = "cwe";
	o.words_dir = "tests/out/no_such_dir";
	rc = ruler_generate(&o, f, NULL, err, sizeof(err));
	T_CHECK(rc != 0 && strstr(err, "no_such_dir/nounlist.txt") && strstr(err, "make model"), "missing words: %s", err);
	enum ruler_rev r;
	T_CHECK(ruler_rev_parse("2023", &r, err, sizeof(err)) != 0 && strstr(err, "--ruler_rev"), "bad rev: %s", err);
	fclose(f);
	tok_free(tok);
}

int main(void)
{
	T_RUN(generator_should_match_ruler_with_the_smollm2_tokenizer);
	T_RUN(generator_should_match_ruler_with_the_llama3_tokenizer);
	T_RUN(generator_should_match_ruler_vt_of_december_2024);
	T_RUN(generator_should_match_ruler_head_niah);
	T_RUN(generator_should_reproduce_fastkv_niah_multikey_3_record_0);
	T_RUN(qa_should_build_documents_from_squad_and_hotpotqa_files);
	T_RUN(generator_should_refuse_qa_without_data_and_unknown_tasks);
	return t_done();
}
