/* GGUF v2/v3 reader: header, metadata key/values, tensor directory, data section.
 * Layout per ggml/docs/gguf.md: magic "GGUF", u32 version, u64 n_tensors, u64 n_kv,
 * then n_kv (string key, u32 type, value), then n_tensors (string name, u32 n_dims,
 * u64 ne[n_dims], u32 type, u64 offset), padding to general.alignment, data. */
#include "engine/gguf.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <stdint.h>

#include "base/errors.h" // kv_errf, KV_E*
#include "base/fileio.h" // kv_map_file
#include "engine/quant.h"  // quant_row_bytes, quant_supported

// ----------------------------------------------------------------------------
// bounded cursor over the mapping

struct cursor {
	const uint8_t *base, *p, *end;
	const char *path;
	char *err;
	size_t errlen;
};

static int need(struct cursor *c, uint64_t n, const char *what)
{
	if ((uint64_t)(c->end - c->p) < n)
		return kv_errf(c->err, c->errlen, KV_EFORMAT,
			       "%s: truncated GGUF file (needed %llu more bytes for %s at offset %lld)",
			       c->path, (unsigned long long)n, what, (long long)(c->p - c->base));
	return 0;
}

static int rd(struct cursor *c, void *dst, size_t n, const char *what)
{
	int rc = need(c, n, what);
	if (rc)
		return rc;
	memcpy(dst, c->p, n);
	c->p += n;
	return 0;
}

static int rd_str(struct cursor *c, struct gguf_str *s, const char *what)
{
	uint64_t n;
	int rc = rd(c, &n, 8, what);
	if (rc)
		return rc;
	if ((rc = need(c, n, what)))
		return rc;
	s->s = (const char *)c->p;
	s->n = n;
	c->p += n;
	return 0;
}

static size_t vtype_size(enum gguf_vtype t)
{
	switch (t) {
	case GGUF_VT_UINT8: case GGUF_VT_INT8: case GGUF_VT_BOOL: return 1;
	case GGUF_VT_UINT16: case GGUF_VT_INT16: return 2;
	case GGUF_VT_UINT32: case GGUF_VT_INT32: case GGUF_VT_FLOAT32: return 4;
	case GGUF_VT_UINT64: case GGUF_VT_INT64: case GGUF_VT_FLOAT64: return 8;
	default: return 0;
	}
}

static char *strndup_s(const struct gguf_str *s)
{
	char *r = malloc(s->n + 1);
	if (!r)
		return NULL;
	memcpy(r, s->s, s->n);
	r[s->n] = 0;
	return r;
}

/* Reads one scalar of type t into kv->v. */
static int rd_scalar(struct cursor *c, enum gguf_vtype t, struct gguf_kv *kv, const char *key)
{
	uint8_t b[8] = {0};
	size_t sz = vtype_size(t);
	int rc;
	if (t == GGUF_VT_STRING)
		return rd_str(c, &kv->v.str, key);
	if (!sz)
		return kv_errf(c->err, c->errlen, KV_EFORMAT, "%s: metadata '%s' has unknown value type %u",
			       c->path, key, (unsigned)t);
	if ((rc = rd(c, b, sz, key)))
		return rc;
	switch (t) {
	case GGUF_VT_UINT8: kv->v.u = b[0]; break;
	case GGUF_VT_BOOL: kv->v.u = b[0] != 0; break;
	case GGUF_VT_INT8: kv->v.i = (int8_t)b[0]; break;
	case GGUF_VT_UINT16: { uint16_t x; memcpy(&x, b, 2); kv->v.u = x; break; }
	case GGUF_VT_INT16: { int16_t x; memcpy(&x, b, 2); kv->v.i = x; break; }
	case GGUF_VT_UINT32: { uint32_t x; memcpy(&x, b, 4); kv->v.u = x; break; }
	case GGUF_VT_INT32: { int32_t x; memcpy(&x, b, 4); kv->v.i = x; break; }
	case GGUF_VT_FLOAT32: { float x; memcpy(&x, b, 4); kv->v.f = x; break; }
	case GGUF_VT_UINT64: { uint64_t x; memcpy(&x, b, 8); kv->v.u = x; break; }
	case GGUF_VT_INT64: { int64_t x; memcpy(&x, b, 8); kv->v.i = x; break; }
	case GGUF_VT_FLOAT64: { double x; memcpy(&x, b, 8); kv->v.f = x; break; }
	default: break;
	}
	return 0;
}

static int rd_kv(struct cursor *c, struct gguf_kv *kv)
{
	struct gguf_str key;
	uint32_t t;
	int rc;
	if ((rc = rd_str(c, &key, "metadata key")))
		return rc;
	if (!(kv->key = strndup_s(&key)))
		return kv_errf(c->err, c->errlen, KV_ENOMEM, "%s: out of memory", c->path);
	if ((rc = rd(c, &t, 4, kv->key)))
		return rc;
	if (t >= GGUF_VT_COUNT)
		return kv_errf(c->err, c->errlen, KV_EFORMAT, "%s: metadata '%s' has unknown value type %u",
			       c->path, kv->key, t);
	kv->type = t;
	if (t != GGUF_VT_ARRAY)
		return rd_scalar(c, t, kv, kv->key);

	uint32_t at;
	uint64_t n;
	if ((rc = rd(c, &at, 4, kv->key)) || (rc = rd(c, &n, 8, kv->key)))
		return rc;
	if (at >= GGUF_VT_COUNT || at == GGUF_VT_ARRAY)
		return kv_errf(c->err, c->errlen, KV_EUNSUP, "%s: metadata array '%s' has element type %u (nested or unknown)",
			       c->path, kv->key, at);
	kv->arr_type = at;
	kv->arr_n = n;
	uint64_t left = (uint64_t)(c->end - c->p);
	if (at == GGUF_VT_STRING) {
		if (n > left / 8) /* each string needs its 8-byte length at least; n * 8 may overflow */
			return kv_errf(c->err, c->errlen, KV_EFORMAT,
				       "%s: truncated GGUF file or corrupt count: metadata array '%s' claims %llu strings, but only %llu bytes remain at offset %lld",
				       c->path, kv->key, (unsigned long long)n, (unsigned long long)left, (long long)(c->p - c->base));
		kv->arr_str = malloc((n ? n : 1) * sizeof(*kv->arr_str));
		if (!kv->arr_str)
			return kv_errf(c->err, c->errlen, KV_ENOMEM, "%s: out of memory for '%s'", c->path, kv->key);
		for (uint64_t i = 0; i < n; i++)
			if ((rc = rd_str(c, &kv->arr_str[i], kv->key)))
				return rc;
		return 0;
	}
	size_t sz = vtype_size(at);
	if (n > left / sz)
		return kv_errf(c->err, c->errlen, KV_EFORMAT,
			       "%s: truncated GGUF file or corrupt count: metadata array '%s' claims %llu elements of %zu bytes, but only %llu bytes remain at offset %lld",
			       c->path, kv->key, (unsigned long long)n, sz, (unsigned long long)left, (long long)(c->p - c->base));
	kv->arr_data = c->p;
	c->p += n * sz;
	return 0;
}

static int rd_tensor(struct cursor *c, struct gguf_tensor *t)
{
	struct gguf_str name;
	int rc;
	if ((rc = rd_str(c, &name, "tensor name")))
		return rc;
	if (!(t->name = strndup_s(&name)))
		return kv_errf(c->err, c->errlen, KV_ENOMEM, "%s: out of memory", c->path);
	if ((rc = rd(c, &t->n_dims, 4, t->name)))
		return rc;
	if (t->n_dims < 1 || t->n_dims > 4)
		return kv_errf(c->err, c->errlen, KV_EFORMAT, "%s: tensor '%s' has %u dimensions (expected 1..4)",
			       c->path, t->name, t->n_dims);
	for (int d = 0; d < 4; d++)
		t->ne[d] = 1;
	for (uint32_t d = 0; d < t->n_dims; d++) {
		if ((rc = rd(c, &t->ne[d], 8, t->name)))
			return rc;
		if (t->ne[d] < 1 || t->ne[d] > INT32_MAX) /* kvlab indexes dimensions with int */
			return kv_errf(c->err, c->errlen, KV_EFORMAT, "%s: tensor '%s' dimension %u is %llu (expected 1..%d)",
				       c->path, t->name, d, (unsigned long long)t->ne[d], INT32_MAX);
	}
	if ((rc = rd(c, &t->type, 4, t->name)) || (rc = rd(c, &t->offset, 8, t->name)))
		return rc;
	return 0;
}

// ----------------------------------------------------------------------------
// open / close

int gguf_open(const char *path, struct gguf_file **out, char *err, size_t errlen)
{
	int rc = 0;
	struct gguf_file *g = calloc(1, sizeof(*g));
	if (!g)
		return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", path);
	if (!(g->path = strdup(path))) {
		free(g);
		return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", path);
	}
	const void *map;
	if ((rc = kv_map_file(path, "a GGUF model file", 24, &map, &g->map_size, err, errlen)))
		goto out_free;
	g->map = map;

	struct cursor c = { .base = g->map, .p = g->map, .end = g->map + g->map_size, .path = path, .err = err, .errlen = errlen };
	uint32_t magic;
	memcpy(&magic, c.p, 4);
	c.p += 4;
	if (memcmp(&magic, "GGUF", 4) != 0) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: bad GGUF magic 0x%08x (expected 'GGUF'); is this a GGUF model?",
			     path, magic);
		goto out_free;
	}
	memcpy(&g->version, c.p, 4);
	c.p += 4;
	if (g->version != 2 && g->version != 3) {
		rc = kv_errf(err, errlen, KV_EUNSUP, "%s: GGUF version %u not supported (expected 2 or 3)", path, g->version);
		goto out_free;
	}
	if ((rc = rd(&c, &g->n_tensors, 8, "header")) || (rc = rd(&c, &g->n_kv, 8, "header")))
		goto out_free;
	/* each kv needs >= 12 bytes and each tensor >= 28: reject absurd counts before allocating */
	if (g->n_kv > g->map_size / 12 || g->n_tensors > g->map_size / 28) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: implausible GGUF counts (%llu tensors, %llu metadata entries) for a %zu-byte file",
			     path, (unsigned long long)g->n_tensors, (unsigned long long)g->n_kv, g->map_size);
		goto out_free;
	}
	g->kv = calloc(g->n_kv ? g->n_kv : 1, sizeof(*g->kv));
	g->tensors = calloc(g->n_tensors ? g->n_tensors : 1, sizeof(*g->tensors));
	if (!g->kv || !g->tensors) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", path);
		goto out_free;
	}
	for (uint64_t i = 0; i < g->n_kv; i++)
		if ((rc = rd_kv(&c, &g->kv[i])))
			goto out_free;
	for (uint64_t i = 0; i < g->n_tensors; i++)
		if ((rc = rd_tensor(&c, &g->tensors[i])))
			goto out_free;

	int64_t align = 32;
	if (gguf_find(g, "general.alignment") && (!gguf_get_int(g, "general.alignment", &align) || align <= 0 || (align & (align - 1)))) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: general.alignment must be a positive power of two", path);
		goto out_free;
	}
	g->alignment = (uint64_t)align;
	uint64_t off = (uint64_t)(c.p - g->map);
	uint64_t data_off = (off + g->alignment - 1) / g->alignment * g->alignment;
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		struct gguf_tensor *t = &g->tensors[i];
		uint64_t nel, nel01, nel012;
		if (__builtin_mul_overflow(t->ne[0], t->ne[1], &nel01) || __builtin_mul_overflow(nel01, t->ne[2], &nel012) ||
		    __builtin_mul_overflow(nel012, t->ne[3], &nel) || nel / 8 > g->map_size) { /* no format stores 8 elements in a byte */
			rc = kv_errf(err, errlen, KV_EFORMAT, "%s: tensor '%s' has %llu x %llu x %llu x %llu elements, more than a %zu-byte file can hold",
				     path, t->name, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
				     (unsigned long long)t->ne[2], (unsigned long long)t->ne[3], g->map_size);
			goto out_free;
		}
		if (!quant_supported(t->type)) {
			t->nbytes = 0; /* unknown type: refused by whoever asks for this tensor */
			t->data = NULL;
			continue;
		}
		if (t->ne[0] % (uint64_t)quant_block_elems(t->type) != 0) {
			rc = kv_errf(err, errlen, KV_EFORMAT, "%s: tensor '%s' row of %llu elements is not a multiple of the %s block (%d)",
				     path, t->name, (unsigned long long)t->ne[0], ggml_dtype_name(t->type), quant_block_elems(t->type));
			goto out_free;
		}
		t->nbytes = quant_row_bytes(t->type, (int64_t)t->ne[0]) * (nel / t->ne[0]);
		if (t->offset % g->alignment || data_off > g->map_size || t->offset > g->map_size - data_off ||
		    t->nbytes > g->map_size - data_off - t->offset) { /* written so that nothing wraps around */
			rc = kv_errf(err, errlen, KV_EFORMAT,
				     "%s: tensor '%s' (%llu bytes at offset %llu) lies outside the file (%zu bytes); truncated download?",
				     path, t->name, (unsigned long long)t->nbytes, (unsigned long long)(data_off + t->offset), g->map_size);
			goto out_free;
		}
		t->data = g->map + data_off + t->offset;
	}
	*out = g;
	return 0;

out_free:
	gguf_close(g);
	return rc;
}

void gguf_close(struct gguf_file *g)
{
	if (!g)
		return;
	if (g->kv)
		for (uint64_t i = 0; i < g->n_kv; i++) {
			free(g->kv[i].key);
			free(g->kv[i].arr_str);
		}
	if (g->tensors)
		for (uint64_t i = 0; i < g->n_tensors; i++)
			free(g->tensors[i].name);
	free(g->kv);
	free(g->tensors);
	if (g->map)
		kv_unmap_file(g->map, g->map_size);
	free(g->path);
	free(g);
}

// ----------------------------------------------------------------------------
// lookups

const struct gguf_kv *gguf_find(const struct gguf_file *g, const char *key)
{
	for (uint64_t i = 0; i < g->n_kv; i++)
		if (g->kv[i].key && strcmp(g->kv[i].key, key) == 0)
			return &g->kv[i];
	return NULL;
}

const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *g, const char *name)
{
	for (uint64_t i = 0; i < g->n_tensors; i++)
		if (g->tensors[i].name && strcmp(g->tensors[i].name, name) == 0)
			return &g->tensors[i];
	return NULL;
}

static bool is_signed(enum gguf_vtype t)
{
	return t == GGUF_VT_INT8 || t == GGUF_VT_INT16 || t == GGUF_VT_INT32 || t == GGUF_VT_INT64;
}

static bool is_unsigned(enum gguf_vtype t)
{
	return t == GGUF_VT_UINT8 || t == GGUF_VT_UINT16 || t == GGUF_VT_UINT32 || t == GGUF_VT_UINT64 || t == GGUF_VT_BOOL;
}

bool gguf_get_int(const struct gguf_file *g, const char *key, int64_t *out)
{
	const struct gguf_kv *kv = gguf_find(g, key);
	if (!kv)
		return false;
	if (is_signed(kv->type)) {
		*out = kv->v.i;
		return true;
	}
	if (is_unsigned(kv->type) && kv->v.u <= (uint64_t)INT64_MAX) {
		*out = (int64_t)kv->v.u;
		return true;
	}
	return false;
}

bool gguf_get_float(const struct gguf_file *g, const char *key, double *out)
{
	const struct gguf_kv *kv = gguf_find(g, key);
	int64_t i;
	if (!kv)
		return false;
	if (kv->type == GGUF_VT_FLOAT32 || kv->type == GGUF_VT_FLOAT64) {
		*out = kv->v.f;
		return true;
	}
	if (gguf_get_int(g, key, &i)) {
		*out = (double)i;
		return true;
	}
	return false;
}

bool gguf_get_bool(const struct gguf_file *g, const char *key, bool *out)
{
	const struct gguf_kv *kv = gguf_find(g, key);
	if (!kv || kv->type != GGUF_VT_BOOL)
		return false;
	*out = kv->v.u != 0;
	return true;
}

char *gguf_get_strdup(const struct gguf_file *g, const char *key)
{
	const struct gguf_kv *kv = gguf_find(g, key);
	if (!kv || kv->type != GGUF_VT_STRING)
		return NULL;
	return strndup_s(&kv->v.str);
}

bool gguf_get_arr(const struct gguf_file *g, const char *key, enum gguf_vtype *type,
		  uint64_t *n, const void **data, const struct gguf_str **strs)
{
	const struct gguf_kv *kv = gguf_find(g, key);
	if (!kv || kv->type != GGUF_VT_ARRAY)
		return false;
	if (type)
		*type = kv->arr_type;
	if (n)
		*n = kv->arr_n;
	if (data)
		*data = kv->arr_data;
	if (strs)
		*strs = kv->arr_str;
	return true;
}

int64_t gguf_arr_i64(enum gguf_vtype type, const void *data, uint64_t i)
{
	const uint8_t *p = (const uint8_t *)data + i * vtype_size(type);
	switch (type) {
	case GGUF_VT_UINT8: case GGUF_VT_BOOL: return *p;
	case GGUF_VT_INT8: return (int8_t)*p;
	case GGUF_VT_UINT16: { uint16_t x; memcpy(&x, p, 2); return x; }
	case GGUF_VT_INT16: { int16_t x; memcpy(&x, p, 2); return x; }
	case GGUF_VT_UINT32: { uint32_t x; memcpy(&x, p, 4); return x; }
	case GGUF_VT_INT32: { int32_t x; memcpy(&x, p, 4); return x; }
	case GGUF_VT_UINT64: { uint64_t x; memcpy(&x, p, 8); return (int64_t)x; }
	case GGUF_VT_INT64: { int64_t x; memcpy(&x, p, 8); return x; }
	case GGUF_VT_FLOAT32: { float x; memcpy(&x, p, 4); return (int64_t)x; }
	case GGUF_VT_FLOAT64: { double x; memcpy(&x, p, 8); return (int64_t)x; }
	default: return 0;
	}
}

double gguf_arr_f64(enum gguf_vtype type, const void *data, uint64_t i)
{
	const uint8_t *p = (const uint8_t *)data + i * vtype_size(type);
	if (type == GGUF_VT_FLOAT32) {
		float x;
		memcpy(&x, p, 4);
		return x;
	}
	if (type == GGUF_VT_FLOAT64) {
		double x;
		memcpy(&x, p, 8);
		return x;
	}
	return (double)gguf_arr_i64(type, data, i);
}

const char *gguf_vtype_name(enum gguf_vtype t)
{
	static const char *const names[GGUF_VT_COUNT] = {
		"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
		"bool", "string", "array", "uint64", "int64", "float64",
	};
	return (unsigned)t < GGUF_VT_COUNT ? names[t] : "?";
}

const char *ggml_dtype_name(uint32_t t)
{
	switch (t) {
	case GGML_DT_F32: return "F32";
	case GGML_DT_F16: return "F16";
	case GGML_DT_Q4_0: return "Q4_0";
	case GGML_DT_Q4_1: return "Q4_1";
	case GGML_DT_Q5_0: return "Q5_0";
	case GGML_DT_Q5_1: return "Q5_1";
	case GGML_DT_Q8_0: return "Q8_0";
	case 9: return "Q8_1";
	case 10: return "Q2_K";
	case 11: return "Q3_K";
	case GGML_DT_Q4_K: return "Q4_K";
	case GGML_DT_Q5_K: return "Q5_K";
	case GGML_DT_Q6_K: return "Q6_K";
	case 15: return "Q8_K";
	case 16: return "IQ2_XXS";
	case 17: return "IQ2_XS";
	case 18: return "IQ3_XXS";
	case 19: return "IQ1_S";
	case 20: return "IQ4_NL";
	case 21: return "IQ3_S";
	case 22: return "IQ2_S";
	case 23: return "IQ4_XS";
	case 24: return "I8";
	case 25: return "I16";
	case 26: return "I32";
	case 27: return "I64";
	case 28: return "F64";
	case 29: return "IQ1_M";
	case GGML_DT_BF16: return "BF16";
	case 34: return "TQ1_0";
	case 35: return "TQ2_0";
	case 39: return "MXFP4";
	}
	return "?";
}
