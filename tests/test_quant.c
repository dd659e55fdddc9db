/* Dequantisation against gguf-py (which matches ggml's dequantize_row_* bit for bit):
 * tests/golden/quant_types.gguf holds one 2 x 256 tensor per type, and
 * tests/golden/quant_types.bin their dequantised values, both from
 * scripts/ref_engine.py. Every value must be bit-identical: the reference does the
 * same fp32 operations in the same order (d * sc then * q, then - dmin * m), and our
 * build does not contract them into FMAs (-std=c11 implies -ffp-contract=off). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h" // kv_errf
#include "base/fileio.h" // kv_read_file
#include "engine/gguf.h"   // gguf_open, gguf_find_tensor
#include "engine/quant.h"  // quant_dequant_row
#include "tests/test.h"

#define QGGUF "tests/golden/quant_types.gguf"
#define QBIN "tests/golden/quant_types.bin"

struct qgolden {
	char name[33];
	uint32_t type, rows, cols;
	const float *values;   /* (rows, cols), into the file buffer */
};

/* Parses the "KVQD" file in buf; returns the number of entries (<= max) or -1. */
static int parse_qbin(const char *buf, size_t len, struct qgolden *out, int max, char *err, size_t errlen)
{
	uint32_t hdr[2];
	if (len < 12 || memcmp(buf, "KVQD", 4) != 0)
		return kv_errf(err, errlen, -1, "%s: bad magic (expected KVQD); regenerate with scripts/ref_engine.py", QBIN);
	memcpy(hdr, buf + 4, 8);
	if (hdr[0] != 1 || (int)hdr[1] > max)
		return kv_errf(err, errlen, -1, "%s: version %u with %u tensors (expected version 1, at most %d); regenerate with scripts/ref_engine.py",
			       QBIN, hdr[0], hdr[1], max);
	size_t off = 12;
	for (uint32_t i = 0; i < hdr[1]; i++) {
		struct qgolden *g = &out[i];
		uint32_t dims[3];
		if (off + 44 > len)
			return kv_errf(err, errlen, -1, "%s: truncated at entry %u", QBIN, i);
		memcpy(g->name, buf + off, 32);
		g->name[32] = 0;
		memcpy(dims, buf + off + 32, 12);
		g->type = dims[0];
		g->rows = dims[1];
		g->cols = dims[2];
		off += 44;
		size_t n = (size_t)g->rows * g->cols * 4;
		if (off + n > len)
			return kv_errf(err, errlen, -1, "%s: truncated in '%s'", QBIN, g->name);
		g->values = (const float *)(buf + off); /* off is a multiple of 4: 12 + k * (44 + 4n) */
		off += n;
	}
	if (off != len)
		return kv_errf(err, errlen, -1, "%s: %zu trailing bytes", QBIN, len - off);
	return (int)hdr[1];
}

static void every_type_should_dequantise_bit_identically_to_ggml(void)
{
	char *buf = NULL, err[512] = "";
	size_t len = 0;
	struct gguf_file *g = NULL;
	struct qgolden gold[16];
	int rc = kv_read_file(QBIN, &buf, &len, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (rc)
		return;
	int n = parse_qbin(buf, len, gold, 16, err, sizeof(err));
	T_CHECK(n == 11, "%s (%d entries, expected 11)", err, n);
	rc = gguf_open(QGGUF, &g, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (rc || n < 0)
		goto out;
	for (int i = 0; i < n; i++) {
		const struct qgolden *q = &gold[i];
		const struct gguf_tensor *t = gguf_find_tensor(g, q->name);
		T_CHECK(t != NULL, "%s: no tensor '%s'", QGGUF, q->name);
		if (!t)
			continue;
		T_CHECK(t->type == q->type && t->ne[0] == q->cols && t->ne[1] == q->rows, "%s: type %u [%llu, %llu], golden type %u [%u, %u]",
			q->name, t->type, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], q->type, q->cols, q->rows);
		T_CHECK(quant_supported(t->type), "%s: type %s unsupported", q->name, ggml_dtype_name(t->type));
		size_t rb = quant_row_bytes(t->type, q->cols);
		T_CHECK(rb * q->rows == t->nbytes, "%s: %zu bytes per row x %u rows, tensor has %llu", q->name, rb, q->rows,
			(unsigned long long)t->nbytes);
		if (t->type != q->type || rb * q->rows != t->nbytes)
			continue;
		float *row = malloc(sizeof(float) * q->cols);
		int n_diff = 0, first = -1;
		for (uint32_t r = 0; r < q->rows; r++) {
			quant_dequant_row(t->type, (const uint8_t *)t->data + r * rb, row, q->cols);
			for (uint32_t c = 0; c < q->cols; c++) {
				float want;
				memcpy(&want, &q->values[(size_t)r * q->cols + c], 4);
				if (memcmp(&row[c], &want, 4) != 0 && n_diff++ == 0) {
					first = (int)(r * q->cols + c);
					fprintf(stderr, "  %s (r=%u, c=%u): kvlab %.9g, gguf-py %.9g\n", q->name, r, c, row[c], want);
				}
			}
		}
		T_CHECK(n_diff == 0, "%s: %d of %u values differ (first at %d)", q->name, n_diff, q->rows * q->cols, first);
		if (n_diff == 0)
			printf("  %-7s %s: %u values bit-identical\n", ggml_dtype_name(t->type), q->name, q->rows * q->cols);
		free(row);
	}
out:
	gguf_close(g);
	free(buf);
}

/* The same file carries one metadata key of every value type (for the GGUF reader). */
static void quant_gguf_metadata_should_read_every_value_type(void)
{
	struct gguf_file *g = NULL;
	char err[512] = "";
	int rc = gguf_open(QGGUF, &g, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (rc)
		return;
	int64_t i;
	double f;
	bool b;
	T_CHECK(gguf_get_int(g, "kvlab.test.u8", &i) && i == 200, "u8");
	T_CHECK(gguf_get_int(g, "kvlab.test.i8", &i) && i == -100, "i8");
	T_CHECK(gguf_get_int(g, "kvlab.test.u16", &i) && i == 60000, "u16");
	T_CHECK(gguf_get_int(g, "kvlab.test.i16", &i) && i == -30000, "i16");
	T_CHECK(gguf_get_int(g, "kvlab.test.u32", &i) && i == 4000000000LL, "u32");
	T_CHECK(gguf_get_int(g, "kvlab.test.i32", &i) && i == -2000000000LL, "i32");
	T_CHECK(gguf_get_int(g, "kvlab.test.u64", &i) && i == (1LL << 40), "u64");
	T_CHECK(gguf_get_int(g, "kvlab.test.i64", &i) && i == -(1LL << 40), "i64");
	T_CHECK(gguf_get_float(g, "kvlab.test.f32", &f) && f == 0.25, "f32");
	T_CHECK(gguf_get_float(g, "kvlab.test.f64", &f) && f == -1.5, "f64");
	T_CHECK(gguf_get_bool(g, "kvlab.test.bool", &b) && b, "bool");
	char *s = gguf_get_strdup(g, "kvlab.test.str");
	T_CHECK(s && strcmp(s, "h\xc3\xa9llo") == 0, "str '%s'", s ? s : "(null)");
	free(s);
	enum gguf_vtype at;
	uint64_t n;
	const void *data;
	const struct gguf_str *strs;
	T_CHECK(gguf_get_arr(g, "kvlab.test.arr_i32", &at, &n, &data, &strs) && n == 3 &&
			gguf_arr_i64(at, data, 0) == 1 && gguf_arr_i64(at, data, 1) == -2 && gguf_arr_i64(at, data, 2) == 3,
		"arr_i32");
	T_CHECK(gguf_get_arr(g, "kvlab.test.arr_str", &at, &n, &data, &strs) && at == GGUF_VT_STRING && n == 3 && strs &&
			strs[0].n == 1 && strs[1].n == 0 && strs[2].n == 3 && memcmp(strs[2].s, "ccc", 3) == 0,
		"arr_str");
	gguf_close(g);
}

int main(void)
{
	T_RUN(every_type_should_dequantise_bit_identically_to_ggml);
	T_RUN(quant_gguf_metadata_should_read_every_value_type);
	return t_done();
}
