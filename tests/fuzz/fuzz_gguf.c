/* libFuzzer harness: GGUF files. The input is written to a file and opened with gguf_open;
 * on success every key, array and tensor is read back through the public getters (tensor
 * data must lie inside the mapping), then the file goes through tok_load_gguf and
 * model_load_gguf, the interpretation kvlab gives a GGUF model. */
#include <stdint.h>
#include <stdlib.h>

#include "engine/gguf.h"      // gguf_open, gguf_get_*
#include "engine/model.h"     // model_load_gguf
#include "engine/tokenizer.h" // tok_load_gguf
#include "tests/fuzz/fuzz_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void read_back(const struct gguf_file *g)
{
	for (uint64_t i = 0; i < g->n_kv; i++) {
		const struct gguf_kv *kv = &g->kv[i];
		if (gguf_find(g, kv->key) == NULL)
			abort();
		int64_t iv;
		double fv;
		bool bv;
		(void)gguf_get_int(g, kv->key, &iv);
		(void)gguf_get_float(g, kv->key, &fv);
		(void)gguf_get_bool(g, kv->key, &bv);
		free(gguf_get_strdup(g, kv->key));
		enum gguf_vtype ty;
		uint64_t n;
		const void *arr;
		const struct gguf_str *strs;
		if (gguf_get_arr(g, kv->key, &ty, &n, &arr, &strs) && n > 0) {
			if (strs) {
				volatile char c = strs[n - 1].n ? strs[n - 1].s[strs[n - 1].n - 1] : 0;
				(void)c;
			} else if (arr && ty != GGUF_VT_ARRAY) {
				(void)gguf_arr_i64(ty, arr, n - 1);
				(void)gguf_arr_f64(ty, arr, 0);
			}
		}
		(void)gguf_vtype_name(kv->type);
	}
	const uint8_t *end = g->map + g->map_size;
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		const struct gguf_tensor *t = &g->tensors[i];
		if (gguf_find_tensor(g, t->name) == NULL)
			abort();
		const uint8_t *p = t->data;
		if (t->nbytes && (p < g->map || p > end || t->nbytes > (uint64_t)(end - p))) {
			fprintf(stderr, "fuzz: tensor %s lies outside the mapping\n", t->name);
			abort();
		}
		(void)ggml_dtype_name(t->type);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[PATH_MAX], err[512] = "";
	struct gguf_file *g = NULL;
	fuzz_put(fuzz_dir(), "model.gguf", data, size, path, sizeof(path));
	int rc = gguf_open(path, &g, err, sizeof(err));
	fuzz_check_error("gguf_open", rc, err, g);
	if (rc)
		return 0;
	read_back(g);
	struct tokenizer *t = NULL;
	err[0] = 0;
	rc = tok_load_gguf(g, &t, err, sizeof(err));
	fuzz_check_error("tok_load_gguf", rc, err, t);
	tok_free(t);
	gguf_close(g);

	struct model *m = NULL;
	err[0] = 0;
	rc = model_load_gguf(path, &m, err, sizeof(err));
	fuzz_check_error("model_load_gguf", rc, err, m);
	model_free(m);
	return 0;
}
