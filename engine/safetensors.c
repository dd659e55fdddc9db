/* safetensors reader: see safetensors.h. Mirrors the checks of huggingface/safetensors'
 * Rust loader (header length bound, offsets inside the data section, byte size equal
 * to numel * dtype size) so that a file it rejects is rejected here with the reason. */
#include "engine/safetensors.h"

#include <cjson/cJSON.h> // cJSON_ParseWithLengthOpts
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/errors.h" // kv_errf
#include "base/fileio.h" // kv_map_file
#include "engine/quant.h"  // quant_f16_to_f32, quant_bf16_to_f32

#define ST_MAX_HEADER (100u << 20) /* the Rust loader's limit (100 MB) */

const char *safetensors_dtype_name(enum st_dtype d)
{
	switch (d) {
	case ST_F32: return "F32";
	case ST_F16: return "F16";
	case ST_BF16: return "BF16";
	case ST_OTHER: break;
	}
	return "other";
}

/* Element size of a stored dtype name; 0 when the name is not in the format's list. */
static int dtype_size(const char *s)
{
	static const struct { const char *name; int size; } tab[] = {
		{ "F64", 8 }, { "F32", 4 }, { "F16", 2 }, { "BF16", 2 }, { "F8_E4M3", 1 }, { "F8_E5M2", 1 },
		{ "I64", 8 }, { "I32", 4 }, { "I16", 2 }, { "I8", 1 }, { "U64", 8 }, { "U32", 4 },
		{ "U16", 2 }, { "U8", 1 }, { "BOOL", 1 },
	};
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strcmp(s, tab[i].name) == 0)
			return tab[i].size;
	return 0;
}

/* A non-negative integer JSON number (<= 2^53) into *v. */
static int json_uint(const cJSON *j, uint64_t *v)
{
	if (!cJSON_IsNumber(j))
		return -1;
	double d = j->valuedouble;
	if (!(d >= 0) || d > 9007199254740992.0 || floor(d) != d)
		return -1;
	*v = (uint64_t)d;
	return 0;
}

/* Fills t from one header entry; data_size is the byte count after the header. */
static int parse_entry(const char *path, const cJSON *e, const uint8_t *data, uint64_t data_size,
		       struct st_tensor *t, char *err, size_t errlen)
{
	const char *name = e->string;
	const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
	const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
	const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
	if (!cJSON_IsObject(e) || !cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(off) ||
	    cJSON_GetArraySize(off) != 2)
		return kv_errf(err, errlen, KV_EFORMAT,
			       "%s: header entry '%s' is not {\"dtype\": str, \"shape\": [int...], \"data_offsets\": [begin, end]}",
			       path, name);
	int n_dims = cJSON_GetArraySize(sh);
	if (n_dims > ST_MAX_DIMS)
		return kv_errf(err, errlen, KV_EUNSUP, "%s: tensor '%s' has %d dimensions (at most %d supported)",
			       path, name, n_dims, ST_MAX_DIMS);
	uint64_t numel = 1, b, end;
	for (int i = 0; i < n_dims; i++) {
		uint64_t d;
		if (json_uint(cJSON_GetArrayItem(sh, i), &d) != 0 || d > ((uint64_t)1 << 40))
			return kv_errf(err, errlen, KV_EFORMAT, "%s: tensor '%s': shape[%d] is not a dimension size",
				       path, name, i);
		if (d && numel > ((uint64_t)1 << 62) / d)
			return kv_errf(err, errlen, KV_EFORMAT, "%s: tensor '%s': shape too large", path, name);
		numel *= d;
		t->shape[i] = (int64_t)d;
	}
	if (json_uint(cJSON_GetArrayItem(off, 0), &b) != 0 || json_uint(cJSON_GetArrayItem(off, 1), &end) != 0 ||
	    b > end || end > data_size)
		return kv_errf(err, errlen, KV_EFORMAT,
			       "%s: tensor '%s': data_offsets outside the %llu data bytes after the header (truncated file?)",
			       path, name, (unsigned long long)data_size);
	int es = dtype_size(dt->valuestring);
	if (es && end - b != numel * (uint64_t)es)
		return kv_errf(err, errlen, KV_EFORMAT, "%s: tensor '%s': %llu bytes for %llu %s elements (expected %llu)",
			       path, name, (unsigned long long)(end - b), (unsigned long long)numel, dt->valuestring,
			       (unsigned long long)(numel * (uint64_t)es));
	t->name = strdup(name);
	if (!t->name)
		return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", path);
	snprintf(t->dtype_name, sizeof(t->dtype_name), "%s", dt->valuestring);
	t->dtype = strcmp(t->dtype_name, "F32") == 0 ? ST_F32 : strcmp(t->dtype_name, "F16") == 0 ? ST_F16
		 : strcmp(t->dtype_name, "BF16") == 0 ? ST_BF16 : ST_OTHER;
	t->n_dims = n_dims;
	t->data = data + b;
	t->nbytes = end - b;
	return 0;
}

static int by_data(const void *a, const void *b)
{
	const struct st_tensor *x = *(const struct st_tensor *const *)a, *y = *(const struct st_tensor *const *)b;
	return (const uint8_t *)x->data < (const uint8_t *)y->data ? -1 : (const uint8_t *)x->data > (const uint8_t *)y->data;
}

/* Two tensors whose data ranges overlap would read each other's bytes as weights (the
 * reference loader refuses such files too). */
static int check_disjoint(const struct st_file *f, char *err, size_t errlen)
{
	const struct st_tensor **v = malloc(sizeof(*v) * (size_t)(f->n_tensors ? f->n_tensors : 1));
	int rc = 0;
	if (!v)
		return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", f->path);
	for (int i = 0; i < f->n_tensors; i++)
		v[i] = &f->tensors[i];
	qsort(v, (size_t)f->n_tensors, sizeof(*v), by_data);
	for (int i = 1; i < f->n_tensors && !rc; i++) {
		const uint8_t *prev_end = (const uint8_t *)v[i - 1]->data + v[i - 1]->nbytes;
		if ((const uint8_t *)v[i]->data < prev_end)
			rc = kv_errf(err, errlen, KV_EFORMAT, "%s: tensors '%s' and '%s' overlap in the data section (data_offsets)",
				     f->path, v[i - 1]->name, v[i]->name);
	}
	free(v);
	return rc;
}

static int parse_header(struct st_file *f, char *err, size_t errlen)
{
	uint64_t n = 0;
	for (int i = 7; i >= 0; i--)
		n = (n << 8) | f->map[i];
	if (n > f->map_size - 8)
		return kv_errf(err, errlen, KV_EFORMAT,
			       "%s: header length %llu exceeds the %zu bytes that follow it (truncated file?)",
			       f->path, (unsigned long long)n, f->map_size - 8);
	if (n > ST_MAX_HEADER || n < 2)
		return kv_errf(err, errlen, KV_EFORMAT, "%s: header length %llu out of range (expected 2..%u); is this a safetensors file?",
			       f->path, (unsigned long long)n, ST_MAX_HEADER);
	const char *json = (const char *)f->map + 8, *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(json, (size_t)n, &end, 0);
	if (!root)
		return kv_errf(err, errlen, KV_EFORMAT, "%s: header is not valid JSON (error near byte %lld of %llu)",
			       f->path, end ? (long long)(end - json) + 8 : -1LL, (unsigned long long)n);
	int rc = 0;
	if (!cJSON_IsObject(root)) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: header is not a JSON object", f->path);
		goto out_free;
	}
	const uint8_t *data = f->map + 8 + n;
	uint64_t data_size = f->map_size - 8 - n;
	int count = 0;
	for (const cJSON *e = root->child; e; e = e->next)
		count += strcmp(e->string, "__metadata__") != 0;
	f->tensors = calloc(count ? (size_t)count : 1, sizeof(*f->tensors));
	if (!f->tensors) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory for %d tensors", f->path, count);
		goto out_free;
	}
	for (const cJSON *e = root->child; e; e = e->next) {
		if (strcmp(e->string, "__metadata__") == 0)
			continue;
		if (safetensors_find(f, e->string)) {
			rc = kv_errf(err, errlen, KV_EFORMAT, "%s: tensor '%s' listed twice in the header", f->path, e->string);
			goto out_free;
		}
		if ((rc = parse_entry(f->path, e, data, data_size, &f->tensors[f->n_tensors], err, errlen)))
			goto out_free;
		f->n_tensors++;
	}
	if (!rc)
		rc = check_disjoint(f, err, errlen);
out_free:
	cJSON_Delete(root);
	return rc;
}

int safetensors_open(const char *path, struct st_file **out, char *err, size_t errlen)
{
	int rc;
	struct st_file *f = calloc(1, sizeof(*f));
	if (!f)
		return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", path);
	f->path = strdup(path);
	if (!f->path) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", path);
		goto out_free;
	}
	const void *map;
	if ((rc = kv_map_file(path, "a safetensors file (8-byte header length, then JSON)", 8, &map, &f->map_size,
			      err, errlen)))
		goto out_free;
	f->map = map;
	if ((rc = parse_header(f, err, errlen)))
		goto out_free;
	*out = f;
	return 0;
out_free:
	safetensors_close(f);
	return rc;
}

void safetensors_close(struct st_file *f)
{
	if (!f)
		return;
	for (int i = 0; i < f->n_tensors; i++)
		free(f->tensors[i].name);
	free(f->tensors);
	if (f->map)
		kv_unmap_file(f->map, f->map_size);
	free(f->path);
	free(f);
}

const struct st_tensor *safetensors_find(const struct st_file *f, const char *name)
{
	for (int i = 0; i < f->n_tensors; i++)
		if (strcmp(f->tensors[i].name, name) == 0)
			return &f->tensors[i];
	return NULL;
}

int64_t safetensors_numel(const struct st_tensor *t)
{
	int64_t n = 1;
	for (int i = 0; i < t->n_dims; i++)
		n *= t->shape[i];
	return n;
}

int safetensors_read_f32(const struct st_file *f, const struct st_tensor *t, float *dst, char *err, size_t errlen)
{
	int64_t n = safetensors_numel(t);
	const uint8_t *src = t->data;
	switch (t->dtype) {
	case ST_F32:
		memcpy(dst, src, (size_t)n * sizeof(float));
		return 0;
	case ST_F16:
	case ST_BF16: {
		bool bf = t->dtype == ST_BF16;
#pragma omp parallel for schedule(static) if (n > (1 << 16))
		for (int64_t i = 0; i < n; i++) {
			uint16_t h;
			memcpy(&h, src + 2 * i, 2); /* data may be unaligned */
			dst[i] = bf ? quant_bf16_to_f32(h) : quant_f16_to_f32(h);
		}
		return 0;
	}
	case ST_OTHER:
		break;
	}
	return kv_errf(err, errlen, KV_EUNSUP, "%s: tensor '%s' has dtype %s (expected F32, F16 or BF16)",
		       f->path, t->name, t->dtype_name);
}
