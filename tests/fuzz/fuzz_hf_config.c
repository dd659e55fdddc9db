/* libFuzzer harness: a Hugging Face folder's config.json. The input becomes config.json
 * in a scratch folder whose other files (two safetensors shards and their index,
 * tokenizer.json, tokenizer_config.json) link to the committed tests/golden/tiny_llama,
 * and the folder goes through model_load_hf: config reading and validation, then the
 * weight shapes the config implies against the shards. */
#include <stdint.h>

#include "engine/model.h" // model_load_hf
#include "tests/fuzz/fuzz_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *model_dir(void)
{
	static char dir[PATH_MAX];
	if (!dir[0]) {
		static const char *const files[] = { "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
						     "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json" };
		snprintf(dir, sizeof(dir), "%s/hf", fuzz_dir());
		if (mkdir(dir, 0700) != 0) {
			perror(dir);
			abort();
		}
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			char src[PATH_MAX];
			snprintf(src, sizeof(src), "tests/golden/tiny_llama/%s", files[i]);
			fuzz_link(dir, files[i], src);
		}
	}
	return dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[PATH_MAX], err[512] = "";
	const char *dir = model_dir();
	fuzz_put(dir, "config.json", data, size, path, sizeof(path));
	struct model *m = NULL;
	int rc = model_load_hf(dir, &m, err, sizeof(err));
	fuzz_check_error("model_load_hf", rc, err, m);
	model_free(m);
	return 0;
}
