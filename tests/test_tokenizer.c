/* Tokenizer tests: the goldens tests/golden/tok_*.txt written by
 * scripts/ref_tokenizer.py from the models' Hugging Face tokenizers (SmolLM2 GGUF,
 * Llama 3 tokenizer.json, Mistral tekken.json, Mistral-7B-v0.1 SentencePiece GGUF,
 * two small SentencePiece-style tokenizer.json files), then the failure paths.
 * The Llama 3 / tekken / Mistral-7B definitions come from `make model`
 * (scripts/fetch_tokenizers.sh) into models/tokenizers/. */
#include <cjson/cJSON.h> // defines: cJSON_Parse
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/errors.h"    // defines: KV_E*
#include "engine/gguf.h"      // defines: gguf_open, struct gguf_file
#include "engine/tokenizer.h" // defines: tok_*
#include "tests/test.h"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0, r;
	char *buf = malloc(cap + 1);
	while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			char *p = realloc(buf, 2 * cap + 1);
			if (!p) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = p;
			cap *= 2;
		}
	}
	fclose(f);
	if (buf) {
		buf[n] = 0;
		*len = n;
	}
	return buf;
}

static void write_file(const char *path, const char *text)
{
	mkdir("tests/out", 0755);
	FILE *f = fopen(path, "wb");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* A loaded tokenizer plus the GGUF it came from (NULL for JSON). */
struct loaded {
	struct tokenizer *t;
	struct gguf_file *g;
};

static int load(const char *kind, const char *path, const char *cfg, struct loaded *l, char *err, size_t errlen)
{
	memset(l, 0, sizeof(*l));
	if (strcmp(kind, "gguf") == 0) {
		int rc = gguf_open(path, &l->g, err, errlen);
		if (rc)
			return rc;
		return tok_load_gguf(l->g, &l->t, err, errlen);
	}
	return tok_load_json(path, cfg, &l->t, err, errlen);
}

static void unload(struct loaded *l)
{
	tok_free(l->t);
	gguf_close(l->g);
}

static bool ids_equal(const int32_t *a, int na, const cJSON *want)
{
	if (!cJSON_IsArray(want) || cJSON_GetArraySize(want) != na)
		return false;
	int i = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, want)
		if (a[i++] != it->valueint)
			return false;
	return true;
}

static void print_ids(const char *what, const int32_t *a, int n)
{
	fprintf(stderr, "    %s (%d):", what, n);
	for (int i = 0; i < n && i < 40; i++)
		fprintf(stderr, " %d", a[i]);
	fprintf(stderr, n > 40 ? " ...\n" : "\n");
}

static bool decode_is(const struct tokenizer *t, const int32_t *ids, int n, bool skip, const char *want,
		      size_t want_len)
{
	char err[256], *text = NULL;
	size_t len = 0;
	int rc = tok_decode(t, ids, n, skip, &text, &len, err, sizeof(err));
	bool ok = rc == 0 && len == want_len && memcmp(text, want, len) == 0 && text[len] == 0;
	if (rc)
		fprintf(stderr, "    decode failed: %s\n", err);
	else if (!ok)
		fprintf(stderr, "    decoded (skip=%d) '%.*s', want '%.*s'\n", skip, (int)(len > 200 ? 200 : len), text,
			(int)(want_len > 200 ? 200 : want_len), want);
	free(text);
	return ok;
}

/* Checks every case of a golden against one tokenizer; prints what it compared. */
static void run_cases(const char *golden, const char *spec, struct tokenizer *t, char **cases, int n_cases)
{
	int n_enc = 0, n_enc_sp = 0, n_dec = 0, n_skip = 0, n_rt = 0, n_rt_want = 0;
	long n_ids = 0;
	for (int k = 0; k < n_cases; k++) {
		cJSON *c = cJSON_Parse(cases[k]);
		T_CHECK(c != NULL, "%s: malformed case line '%.60s'", golden, cases[k]);
		if (!c)
			continue;
		const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
		const char *in = cJSON_GetObjectItem(c, "text")->valuestring;
		size_t in_len = strlen(in); /* golden texts hold no NUL */
		const char *dec = cJSON_GetObjectItem(c, "decoded")->valuestring;
		const char *dec_skip = cJSON_GetObjectItem(c, "decoded_skip")->valuestring;
		bool rt = cJSON_IsTrue(cJSON_GetObjectItem(c, "roundtrip"));
		char err[256];
		int32_t *ids = NULL, *ids_sp = NULL;
		int n = 0, nsp = 0;
		int rc = tok_encode(t, in, in_len, false, &ids, &n, err, sizeof(err));
		T_CHECK(rc == 0, "%s [%s]: encode failed: %s", spec, name, err);
		if (rc == 0) {
			n_ids += n;
			if (ids_equal(ids, n, cJSON_GetObjectItem(c, "ids"))) {
				n_enc++;
			} else {
				T_CHECK(0, "%s [%s]: ids differ from HF", spec, name);
				print_ids("got ", ids, n);
				char *w = cJSON_PrintUnformatted(cJSON_GetObjectItem(c, "ids"));
				fprintf(stderr, "    want: %.300s\n", w);
				free(w);
			}
			n_rt_want += rt;
			if (rt && decode_is(t, ids, n, false, in, in_len))
				n_rt++;
			else
				T_CHECK(!rt, "%s [%s]: decode(encode(x)) != x", spec, name);
		}
		rc = tok_encode(t, in, in_len, true, &ids_sp, &nsp, err, sizeof(err));
		T_CHECK(rc == 0, "%s [%s]: encode(add_special) failed: %s", spec, name, err);
		if (rc == 0) {
			if (ids_equal(ids_sp, nsp, cJSON_GetObjectItem(c, "ids_special")))
				n_enc_sp++;
			else
				T_CHECK(0, "%s [%s]: add_special ids differ from HF", spec, name);
			if (decode_is(t, ids_sp, nsp, false, dec, strlen(dec)))
				n_dec++;
			else
				T_CHECK(0, "%s [%s]: decode differs from HF", spec, name);
			if (decode_is(t, ids_sp, nsp, true, dec_skip, strlen(dec_skip)))
				n_skip++;
			else
				T_CHECK(0, "%s [%s]: decode(skip_special) differs from HF", spec, name);
		}
		free(ids);
		free(ids_sp);
		cJSON_Delete(c);
	}
	printf("  %s (%s/%s): %d cases, %ld ids; encode %d/%d, add_special %d/%d, decode %d/%d, "
	       "skip_special %d/%d, round-trip %d/%d\n", spec, tok_model_name(t), tok_pre_name(t),
	       n_cases, n_ids, n_enc, n_cases, n_enc_sp, n_cases, n_dec, n_cases, n_skip, n_cases, n_rt, n_rt_want);
}

/* Runs every case of one golden file against each tokenizer it names. */
static void run_golden(const char *golden)
{
	size_t len;
	char *text = slurp(golden, &len);
	T_CHECK(text != NULL, "%s: cannot read (regenerate with scripts/ref_tokenizer.py)", golden);
	if (!text)
		return;
	char *specs[4];
	int n_specs = 0, n_cases = 0, cap = 64;
	char **cases = malloc((size_t)cap * sizeof(*cases));
	char *save = NULL;
	bool versioned = false;
	for (char *line = strtok_r(text, "\n", &save); line && cases; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#') {
			versioned |= strncmp(line, "# kvlab tokenizer golden v1:", 28) == 0;
		} else if (strncmp(line, "tokenizer: ", 11) == 0) {
			if (n_specs < 4)
				specs[n_specs++] = line + 11;
		} else if (line[0]) {
			if (n_cases == cap) {
				char **p = realloc(cases, (size_t)(cap *= 2) * sizeof(*cases));
				if (!p)
					break;
				cases = p;
			}
			cases[n_cases++] = line;
		}
	}
	T_CHECK(versioned, "%s: not a v1 tokenizer golden (regenerate with scripts/ref_tokenizer.py)", golden);
	T_CHECK(n_specs > 0 && n_cases >= 30, "%s: %d tokenizers, %d cases (want >= 1 and >= 30)", golden, n_specs, n_cases);
	for (int s = 0; versioned && cases && s < n_specs; s++) {
		char kind[16] = "", path[512] = "", cfg[512] = "", err[512];
		int nf = sscanf(specs[s], "%15s %511s %511s", kind, path, cfg);
		struct loaded l;
		int rc = load(kind, path, nf == 3 ? cfg : NULL, &l, err, sizeof(err));
		T_CHECK(rc == 0, "%s: loading %s %s: %s (run `make model` for models/tokenizers/)", golden, kind, path, err);
		if (rc == 0)
			run_cases(golden, path, l.t, cases, n_cases);
		unload(&l);
	}
	free(cases);
	free(text);
}

static void smollm2_matches_hf(void) { run_golden("tests/golden/tok_smollm2.txt"); }
static void llama3_matches_hf(void) { run_golden("tests/golden/tok_llama3.txt"); }
static void tekken_matches_hf(void) { run_golden("tests/golden/tok_tekken.txt"); }
static void mistral_spm_gguf_matches_hf(void) { run_golden("tests/golden/tok_mistral_spm.txt"); }
static void spm_legacy_json_matches_hf(void) { run_golden("tests/golden/tok_spm_small_legacy.txt"); }
static void spm_metaspace_json_matches_hf(void) { run_golden("tests/golden/tok_spm_small_metaspace.txt"); }

static bool has_id(const int32_t *ids, int n, int32_t id)
{
	for (int i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

static void special_ids_and_names_are_reported(void)
{
	char err[512];
	struct loaded l;
	int rc = load("gguf", T_MODEL, NULL, &l, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (rc == 0) {
		int n;
		const int32_t *eos = tok_eos_ids(l.t, &n);
		T_CHECK(has_id(eos, n, 2) && has_id(eos, n, 0), "SmolLM2 EOS ids must hold <|im_end|> (2) and <|endoftext|> (0)");
		T_CHECK(tok_bos(l.t) == 1 && !tok_add_bos(l.t), "SmolLM2: bos 1, add_bos_token false; got %d %d",
			tok_bos(l.t), tok_add_bos(l.t));
		T_CHECK(tok_n_vocab(l.t) == 49152, "n_vocab %d", tok_n_vocab(l.t));
		T_CHECK(strcmp(tok_model_name(l.t), "bpe") == 0 && strcmp(tok_pre_name(l.t), "smollm") == 0,
			"names %s %s", tok_model_name(l.t), tok_pre_name(l.t));
		T_CHECK(tok_is_special(l.t, 1) && !tok_is_special(l.t, 100), "specials");
		T_CHECK(tok_piece(l.t, 1) && strcmp(tok_piece(l.t, 1), "<|im_start|>") == 0, "piece 1");
		T_CHECK(tok_piece(l.t, 49152) == NULL && tok_piece(l.t, -1) == NULL, "piece out of range");
		printf("  SmolLM2: eos ids");
		for (int i = 0; i < n; i++)
			printf(" %d", eos[i]);
		printf(", bos %d (add_bos %d)\n", tok_bos(l.t), tok_add_bos(l.t));
	}
	unload(&l);
	rc = load("json", "models/tokenizers/llama3/tokenizer.json", "models/tokenizers/llama3/tokenizer_config.json",
		  &l, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (rc == 0) {
		int n;
		const int32_t *eos = tok_eos_ids(l.t, &n);
		T_CHECK(has_id(eos, n, 128009) && has_id(eos, n, 128001), "Llama 3 EOS ids must hold <|eot_id|> and <|end_of_text|>");
		T_CHECK(tok_bos(l.t) == 128000 && tok_add_bos(l.t), "Llama 3: bos 128000 added; got %d %d", tok_bos(l.t),
			tok_add_bos(l.t));
		T_CHECK(strcmp(tok_pre_name(l.t), "llama-bpe") == 0, "Llama 3 pre name '%s'", tok_pre_name(l.t));
	}
	unload(&l);
	rc = load("gguf", "models/tokenizers/llama3/tokenizer.gguf", NULL, &l, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (rc == 0) {
		int n;
		const int32_t *eos = tok_eos_ids(l.t, &n);
		T_CHECK(has_id(eos, n, 128009) && has_id(eos, n, 128001), "Llama 3 GGUF EOS ids must hold <|eot_id|> and <|end_of_text|>");
		T_CHECK(tok_add_bos(l.t) && strcmp(tok_pre_name(l.t), "llama-bpe") == 0, "Llama 3 GGUF: add_bos, pre '%s'",
			tok_pre_name(l.t));
	}
	unload(&l);
	rc = load("json", "models/tokenizers/tekken/tekken.json", NULL, &l, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (rc == 0) {
		int n;
		const int32_t *eos = tok_eos_ids(l.t, &n);
		T_CHECK(has_id(eos, n, 2) && tok_bos(l.t) == 1 && tok_add_bos(l.t), "tekken: eos 2, bos 1 added");
		T_CHECK(strcmp(tok_pre_name(l.t), "tekken") == 0 && tok_n_vocab(l.t) == 131072, "tekken: %s %d",
			tok_pre_name(l.t), tok_n_vocab(l.t));
	}
	unload(&l);
}

static void decode_replaces_broken_utf8_like_hf(void)
{
	char err[512];
	struct loaded l;
	int rc = load("gguf", T_MODEL, NULL, &l, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (rc)
		return;
	/* "你" is e4 bd a0; the single byte tokens of e4 then 'a' decode to U+FFFD 'a' */
	int32_t *ids;
	int n;
	rc = tok_encode(l.t, "\xE4\xBD\xA0", 3, false, &ids, &n, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (rc == 0 && n >= 1) {
		int32_t one[2];
		int32_t *a;
		int na;
		T_CHECK(tok_encode(l.t, "a", 1, false, &a, &na, err, sizeof(err)) == 0 && na == 1, "encode a");
		/* byte-level piece of 0xE4 is "ä" (U+00E4) */
		int32_t e4 = -1;
		for (int32_t id = 0; id < tok_n_vocab(l.t) && e4 < 0; id++)
			if (strcmp(tok_piece(l.t, id), "\xC3\xA4") == 0)
				e4 = id;
		one[0] = e4;
		one[1] = a[0];
		T_CHECK(e4 >= 0 && decode_is(l.t, one, 2, false, "\xEF\xBF\xBD" "a", 4), "lossy decode");
		free(a);
	}
	free(ids);
	/* invalid UTF-8 input is refused, ids out of range too */
	rc = tok_encode(l.t, "ab\xFF", 3, false, &ids, &n, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL && strstr(err, "UTF-8"), "invalid UTF-8: rc %d '%s'", rc, err);
	int32_t bad = 49152;
	char *text;
	size_t len;
	rc = tok_decode(l.t, &bad, 1, false, &text, &len, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL && strstr(err, "49152"), "bad id: rc %d '%s'", rc, err);
	unload(&l);
}

static void essay_encodes_fast(void)
{
	/* informative only (unit tests never assert on time): 100k characters of essays */
	struct tok_text {
		char *s;
		size_t n;
	} all = { 0 };
	const char *files[] = { "avg.txt", "apple.txt", "before.txt", "bias.txt", "boss.txt", "copy.txt",
				"corpdev.txt", "desres.txt", "addiction.txt", "aord.txt" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]) && all.n < 100000; i++) {
		char path[256];
		size_t n;
		snprintf(path, sizeof(path), "../shared/data/paul_graham_essays/%s", files[i]);
		char *s = slurp(path, &n);
		if (!s)
			continue;
		char *p = realloc(all.s, all.n + n + 1);
		if (p) {
			all.s = p;
			memcpy(all.s + all.n, s, n);
			all.n += n;
		}
		free(s);
	}
	if (!all.s) {
		T_SKIP("essays not found under ../shared/data");
		return;
	}
	size_t n = all.n > 100000 ? 100000 : all.n;
	while (n > 0 && ((unsigned char)all.s[n] & 0xC0) == 0x80)
		n--; /* cut on a character boundary */
	const char *specs[][3] = { { "gguf", T_MODEL, NULL },
				   { "json", "models/tokenizers/llama3/tokenizer.json", NULL },
				   { "json", "models/tokenizers/tekken/tekken.json", NULL },
				   { "gguf", "models/tokenizers/mistral-7b-v0.1/tokenizer.gguf", NULL } };
	for (size_t k = 0; k < sizeof(specs) / sizeof(specs[0]); k++) {
		char err[512];
		struct loaded l;
		if (load(specs[k][0], specs[k][1], specs[k][2], &l, err, sizeof(err)) != 0) {
			T_CHECK(0, "%s", err);
			unload(&l);
			continue;
		}
		int32_t *ids;
		int ni;
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		int rc = tok_encode(l.t, all.s, n, false, &ids, &ni, err, sizeof(err));
		clock_gettime(CLOCK_MONOTONIC, &b);
		T_CHECK(rc == 0, "%s", err);
		if (rc == 0) {
			char *text;
			size_t len;
			T_CHECK(tok_decode(l.t, ids, ni, false, &text, &len, err, sizeof(err)) == 0 && len == n &&
				memcmp(text, all.s, n) == 0, "%s: essay round-trip", specs[k][1]);
			printf("  %s: %zu bytes -> %d ids in %.1f ms\n", specs[k][1], n, ni,
			       (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
			free(text);
			free(ids);
		}
		unload(&l);
	}
	free(all.s);
}

// ----------------------------------------------------------------------------
// failure paths

static void expect_json_error(const char *path, const char *cfg, int want_rc, const char *want1, const char *want2)
{
	char err[512] = "";
	struct tokenizer *t = NULL;
	int rc = tok_load_json(path, cfg, &t, err, sizeof(err));
	T_CHECK(rc == want_rc, "%s: rc %d (%s), want %d; message '%s'", path, rc, kv_err_name(rc), want_rc, err);
	T_CHECK(strstr(err, want1) != NULL, "message '%s' should contain '%s'", err, want1);
	T_CHECK(!want2 || strstr(err, want2) != NULL, "message '%s' should contain '%s'", err, want2);
	T_CHECK(t == NULL, "output must stay untouched on failure");
	tok_free(t);
	printf("  %s -> %s: %s\n", path, kv_err_name(rc), err);
}

static void tok_load_json_should_reject_missing_file(void)
{
	expect_json_error("tests/out/no_such_tokenizer.json", NULL, KV_EIO, "tests/out/no_such_tokenizer.json", NULL);
	expect_json_error("tests/golden/tok_spm_small_legacy.json", "tests/out/no_such_config.json", KV_EIO,
			  "no_such_config.json", NULL);
}

static void tok_load_json_should_reject_malformed_json(void)
{
	write_file("tests/out/tok_malformed.json", "{\"model\": {\"type\": \"BPE\",\n \"vocab\": {\"a\": 0,,}}}");
	expect_json_error("tests/out/tok_malformed.json", NULL, KV_EFORMAT, "tests/out/tok_malformed.json", "line 2");
	write_file("tests/out/tok_array.json", "[1, 2, 3]");
	expect_json_error("tests/out/tok_array.json", NULL, KV_EFORMAT, "tok_array.json", "JSON object");
	write_file("tests/out/tok_nomodel.json", "{\"version\": \"1.0\"}");
	expect_json_error("tests/out/tok_nomodel.json", NULL, KV_EFORMAT, "tok_nomodel.json", "\"model\"");
	write_file("tests/out/tok_badmerge.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1},"
		   " \"merges\": [\"a b\"]}}");
	expect_json_error("tests/out/tok_badmerge.json", NULL, KV_EFORMAT, "tok_badmerge.json", "merge 0 'a b'");
}

static void tok_load_json_should_refuse_unsupported_components_by_name(void)
{
	write_file("tests/out/tok_unigram.json", "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
	expect_json_error("tests/out/tok_unigram.json", NULL, KV_EUNSUP, "tok_unigram.json", "'Unigram'");
	write_file("tests/out/tok_wspre.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
		   " \"pre_tokenizer\": {\"type\": \"Whitespace\"}}");
	expect_json_error("tests/out/tok_wspre.json", NULL, KV_EUNSUP, "tok_wspre.json", "'Whitespace'");
	write_file("tests/out/tok_lower.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
		   " \"normalizer\": {\"type\": \"Lowercase\"}}");
	expect_json_error("tests/out/tok_lower.json", NULL, KV_EUNSUP, "tok_lower.json", "'Lowercase'");
	write_file("tests/out/tok_badre.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
		   " \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(a\"}, \"behavior\": \"Isolated\"}}");
	expect_json_error("tests/out/tok_badre.json", NULL, KV_EFORMAT, "tok_badre.json", "regex");
}

/* A literal (String) Split pattern compiles without PCRE2_UCP (found by fuzzing vs HF). */
static void tok_load_json_should_accept_literal_split_patterns(void)
{
	write_file("tests/out/tok_literal.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, "
		   "\" \": 2, \"ab\": 3}, \"merges\": [\"a b\"]}, \"pre_tokenizer\": {\"type\": \"Split\", "
		   "\"pattern\": {\"String\": \" \"}, \"behavior\": \"Isolated\", \"invert\": false}, "
		   "\"decoder\": {\"type\": \"Fuse\"}}");
	char err[512] = "";
	struct tokenizer *t = NULL;
	int rc = tok_load_json("tests/out/tok_literal.json", NULL, &t, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (rc)
		return;
	int32_t *ids;
	int n;
	rc = tok_encode(t, "ab ab", 5, false, &ids, &n, err, sizeof(err));
	T_CHECK(rc == 0 && n == 3 && ids[0] == 3 && ids[1] == 2 && ids[2] == 3, "'ab ab' -> [3 2 3]");
	T_CHECK(rc == 0 && decode_is(t, ids, n, false, "ab ab", 5), "round-trip");
	if (rc == 0)
		free(ids);
	tok_free(t);
}

/* A GGUF with only tokenizer metadata, built in memory. */
static void tok_load_gguf_should_refuse_unknown_pre_tokenizer(void)
{
	struct gguf_str toks[3] = { { "a", 1 }, { "b", 1 }, { "ab", 2 } };
	struct gguf_str merges[1] = { { "a b", 3 } };
	struct gguf_kv kv[4];
	memset(kv, 0, sizeof(kv));
	kv[0].key = "tokenizer.ggml.model";
	kv[0].type = GGUF_VT_STRING;
	kv[0].v.str = (struct gguf_str){ "gpt2", 4 };
	kv[1].key = "tokenizer.ggml.pre";
	kv[1].type = GGUF_VT_STRING;
	kv[1].v.str = (struct gguf_str){ "qwen2", 5 };
	kv[2].key = "tokenizer.ggml.tokens";
	kv[2].type = GGUF_VT_ARRAY;
	kv[2].arr_type = GGUF_VT_STRING;
	kv[2].arr_n = 3;
	kv[2].arr_str = toks;
	kv[3].key = "tokenizer.ggml.merges";
	kv[3].type = GGUF_VT_ARRAY;
	kv[3].arr_type = GGUF_VT_STRING;
	kv[3].arr_n = 1;
	kv[3].arr_str = merges;
	struct gguf_file g = { .path = "fake-qwen2.gguf", .version = 3, .n_kv = 4, .kv = kv };
	char err[512] = "";
	struct tokenizer *t = NULL;
	int rc = tok_load_gguf(&g, &t, err, sizeof(err));
	T_CHECK(rc == KV_EUNSUP && strstr(err, "'qwen2'") && strstr(err, "fake-qwen2.gguf"),
		"rc %d '%s'", rc, err);
	T_CHECK(t == NULL, "output untouched");
	printf("  unknown pre -> %s: %s\n", kv_err_name(rc), err);

	/* the same vocabulary under gpt2 works, and merges a+b */
	kv[1].v.str = (struct gguf_str){ "gpt2", 4 };
	rc = tok_load_gguf(&g, &t, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (rc == 0) {
		int32_t *ids;
		int n;
		T_CHECK(tok_encode(t, "ab", 2, true, &ids, &n, err, sizeof(err)) == 0 && n == 1 && ids[0] == 2,
			"tiny gpt2 vocab: 'ab' -> [2]");
		free(ids);
		tok_free(t);
	}
	kv[0].v.str = (struct gguf_str){ "bert", 4 };
	t = NULL;
	rc = tok_load_gguf(&g, &t, err, sizeof(err));
	T_CHECK(rc == KV_EUNSUP && strstr(err, "'bert'"), "rc %d '%s'", rc, err);
	kv[0].key = "general.other";
	rc = tok_load_gguf(&g, &t, err, sizeof(err));
	T_CHECK(rc == KV_EFORMAT && strstr(err, "tokenizer.ggml.model"), "rc %d '%s'", rc, err);
}

int main(void)
{
	T_RUN(smollm2_matches_hf);
	T_RUN(llama3_matches_hf);
	T_RUN(tekken_matches_hf);
	T_RUN(mistral_spm_gguf_matches_hf);
	T_RUN(spm_legacy_json_matches_hf);
	T_RUN(spm_metaspace_json_matches_hf);
	T_RUN(special_ids_and_names_are_reported);
	T_RUN(decode_replaces_broken_utf8_like_hf);
	T_RUN(essay_encodes_fast);
	T_RUN(tok_load_json_should_reject_missing_file);
	T_RUN(tok_load_json_should_reject_malformed_json);
	T_RUN(tok_load_json_should_refuse_unsupported_components_by_name);
	T_RUN(tok_load_json_should_accept_literal_split_patterns);
	T_RUN(tok_load_gguf_should_refuse_unknown_pre_tokenizer);
	return t_done();
}
