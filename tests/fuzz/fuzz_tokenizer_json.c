/* libFuzzer harness: tokenizer definitions, Hugging Face tokenizer.json and Mistral's
 * tekken.json (tok_load_json tells them apart by content). The input is written to a file
 * and loaded, with tests/golden/tiny_llama's tokenizer_config.json beside it when the
 * input's length is even (no config otherwise); a loaded tokenizer must encode and decode
 * a fixed text and every id it produces must be in its vocabulary. */
#include <stdint.h>
#include <string.h>

#include "engine/tokenizer.h" // tok_load_json, tok_encode, tok_decode
#include "tests/fuzz/fuzz_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char sample[] = "Hello world, it's 2024!\n  <|im_start|>user\tcafé 東京 🙂 <s>[INST] 12345";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char cfg[PATH_MAX];
	char path[PATH_MAX], err[512] = "";
	if (!cfg[0])
		fuzz_repo_path("tests/golden/tiny_llama/tokenizer_config.json", cfg);
	fuzz_put(fuzz_dir(), "tokenizer.json", data, size, path, sizeof(path));
	struct tokenizer *t = NULL;
	int rc = tok_load_json(path, size % 2 == 0 ? cfg : NULL, &t, err, sizeof(err));
	fuzz_check_error("tok_load_json", rc, err, t);
	if (rc)
		return 0;
	int n_vocab = tok_n_vocab(t);
	(void)tok_model_name(t), (void)tok_pre_name(t), (void)tok_add_bos(t);
	int n_eos;
	const int32_t *eos = tok_eos_ids(t, &n_eos);
	for (int i = 0; i < n_eos; i++)
		if (eos[i] < 0 || eos[i] >= n_vocab)
			abort();
	if (tok_bos(t) >= n_vocab)
		abort();
	for (int b = 0; b < 2; b++) {
		int32_t *ids = NULL;
		int n = 0;
		err[0] = 0;
		rc = tok_encode(t, sample, strlen(sample), b, &ids, &n, err, sizeof(err));
		fuzz_check_error("tok_encode", rc, err, ids);
		if (rc)
			continue;
		for (int i = 0; i < n; i++) {
			if (ids[i] < 0 || ids[i] >= n_vocab) {
				fprintf(stderr, "fuzz: tok_encode gave id %d outside the vocabulary (%d)\n", ids[i], n_vocab);
				abort();
			}
			(void)tok_piece(t, ids[i]), (void)tok_is_special(t, ids[i]);
		}
		char *text = NULL;
		size_t len = 0;
		err[0] = 0;
		rc = tok_decode(t, ids, n, b, &text, &len, err, sizeof(err));
		fuzz_check_error("tok_decode", rc, err, text);
		if (!rc && text[len] != 0)
			abort();
		free(text);
		free(ids);
	}
	tok_free(t);
	return 0;
}
