/* libFuzzer harness: safetensors files (u64 header length, JSON header, data). The input
 * is written to a file and opened with safetensors_open; on success every tensor is
 * checked to lie inside the mapping and its size to match its shape and dtype, and the
 * convertible ones (F32/F16/BF16) are read as fp32. */
#include <stdint.h>
#include <stdlib.h>

#include "engine/safetensors.h" // safetensors_open, safetensors_read_f32
#include "tests/fuzz/fuzz_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[PATH_MAX], err[512] = "";
	struct st_file *f = NULL;
	fuzz_put(fuzz_dir(), "model.safetensors", data, size, path, sizeof(path));
	int rc = safetensors_open(path, &f, err, sizeof(err));
	fuzz_check_error("safetensors_open", rc, err, f);
	if (rc)
		return 0;
	const uint8_t *end = f->map + f->map_size;
	for (int i = 0; i < f->n_tensors; i++) {
		const struct st_tensor *t = &f->tensors[i];
		const uint8_t *p = t->data;
		if (safetensors_find(f, t->name) == NULL || (t->nbytes && (p < f->map || p > end || t->nbytes > (uint64_t)(end - p)))) {
			fprintf(stderr, "fuzz: tensor %s is not findable or lies outside the mapping\n", t->name);
			abort();
		}
		int64_t n = safetensors_numel(t);
		int esz = t->dtype == ST_F32 ? 4 : t->dtype == ST_OTHER ? 0 : 2;
		if (n < 0 || (esz && (uint64_t)n * (uint64_t)esz != t->nbytes)) {
			fprintf(stderr, "fuzz: tensor %s: %lld elements of %d bytes but %llu bytes of data\n", t->name,
				(long long)n, esz, (unsigned long long)t->nbytes);
			abort();
		}
		if (esz == 0 || n > (1 << 20))
			continue;
		float *dst = malloc(((size_t)n ? (size_t)n : 1) * sizeof(float));
		if (!dst)
			abort();
		err[0] = 0;
		rc = safetensors_read_f32(f, t, dst, err, sizeof(err));
		fuzz_check_error("safetensors_read_f32", rc, err, NULL);
		free(dst);
	}
	safetensors_close(f);
	return 0;
}
