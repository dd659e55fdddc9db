/* libFuzzer harness: the tokenizer's encode and decode on fixed, committed tokenizers:
 * tests/golden/tiny_llama (byte-level BPE with added tokens) and the SentencePiece-style
 * tests/golden/tok_spm_small_{legacy,metaspace}.json. Input byte 0 picks the tokenizer
 * (bits 0-1), add_special / skip_special (bit 2) and the mode (bit 3); the rest is text
 * to encode or little-endian 16-bit ids to decode.
 * Invariants: encode succeeds on valid UTF-8 and gives ids inside the vocabulary; decode
 * of any in-vocabulary ids succeeds and NUL-terminates; on the byte-level tokenizer,
 * decode(encode(text)) == text for any bytes encode accepts; decode refuses ids outside
 * the vocabulary with an error. */
#include <stdint.h>
#include <string.h>

#include "engine/tokenizer.h" // tok_load_json, tok_encode, tok_decode
#include "tests/fuzz/fuzz_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_TOK 3
static struct tokenizer *toks[N_TOK];

static void load_all(void)
{
	static const char *const files[N_TOK][2] = {
		{ "tests/golden/tiny_llama/tokenizer.json", "tests/golden/tiny_llama/tokenizer_config.json" },
		{ "tests/golden/tok_spm_small_legacy.json", NULL },
		{ "tests/golden/tok_spm_small_metaspace.json", NULL },
	};
	for (int i = 0; i < N_TOK; i++) {
		char tj[PATH_MAX], tc[PATH_MAX], err[512];
		fuzz_repo_path(files[i][0], tj);
		if (files[i][1])
			fuzz_repo_path(files[i][1], tc);
		if (tok_load_json(tj, files[i][1] ? tc : NULL, &toks[i], err, sizeof(err)) != 0) {
			fprintf(stderr, "fuzz: %s\n", err);
			abort();
		}
	}
}

static bool valid_utf8(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint8_t c = s[i];
		size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
		if (!k || i + k > n || (k == 2 && c < 0xC2))
			return false;
		uint32_t cp = k == 1 ? c : k == 2 ? c & 0x1F : k == 3 ? c & 0x0F : c & 0x07;
		for (size_t j = 1; j < k; j++) {
			if ((s[i + j] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3F);
		}
		if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += k;
	}
	return true;
}

static void encode(const struct tokenizer *t, bool byte_level, bool special, const uint8_t *s, size_t n)
{
	int32_t *ids = NULL;
	int n_ids = 0;
	char err[512] = "";
	int rc = tok_encode(t, (const char *)s, n, special, &ids, &n_ids, err, sizeof(err));
	fuzz_check_error("tok_encode", rc, err, ids);
	if (rc) {
		if (valid_utf8(s, n) && !memchr(s, 0, n)) {
			fprintf(stderr, "fuzz: tok_encode refused valid UTF-8: %s\n", err);
			abort();
		}
		return;
	}
	for (int i = 0; i < n_ids; i++)
		if (ids[i] < 0 || ids[i] >= tok_n_vocab(t)) {
			fprintf(stderr, "fuzz: tok_encode gave id %d outside the vocabulary\n", ids[i]);
			abort();
		}
	char *text = NULL;
	size_t len = 0;
	rc = tok_decode(t, ids, n_ids, false, &text, &len, err, sizeof(err));
	fuzz_check_error("tok_decode", rc, err, text);
	if (rc) {
		fprintf(stderr, "fuzz: tok_decode refused tok_encode's ids: %s\n", err);
		abort();
	}
	if (byte_level && !special && (len != n || memcmp(text, s, n) != 0)) {
		fprintf(stderr, "fuzz: byte-level round trip changed the text (%zu bytes -> %zu)\n", n, len);
		abort();
	}
	free(text);
	free(ids);
}

static void decode(const struct tokenizer *t, bool skip, const uint8_t *s, size_t n)
{
	int n_ids = (int)(n / 2), nv = tok_n_vocab(t);
	int32_t *ids = malloc(((size_t)n_ids + 1) * sizeof(*ids));
	if (!ids)
		abort();
	bool in_range = true;
	for (int i = 0; i < n_ids; i++) {
		ids[i] = (int32_t)(s[2 * i] | s[2 * i + 1] << 8) - 2; /* -2..65533: a few invalid ids at both ends */
		in_range &= ids[i] >= 0 && ids[i] < nv;
	}
	char *text = NULL, err[512] = "";
	size_t len = 0;
	int rc = tok_decode(t, ids, n_ids, skip, &text, &len, err, sizeof(err));
	fuzz_check_error("tok_decode", rc, err, text);
	if (rc == 0 ? (!in_range || text[len] != 0) : in_range) {
		fprintf(stderr, "fuzz: tok_decode %s ids %s the vocabulary (%s)\n", rc ? "refused" : "accepted",
			in_range ? "inside" : "outside", err);
		abort();
	}
	free(text);
	free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!toks[0])
		load_all();
	if (size < 1)
		return 0;
	int which = data[0] & 3;
	if (which >= N_TOK)
		which = 0;
	bool flag = data[0] & 4;
	if (data[0] & 8)
		decode(toks[which], flag, data + 1, size - 1);
	else
		encode(toks[which], which == 0, flag, data + 1, size - 1);
	return 0;
}
