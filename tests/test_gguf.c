/* GGUF reader and GGUF model loader: the real model's directory, and the failure
 * paths on files this test writes itself (bad magic, truncation, unsupported
 * version, tensor type and architecture). */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "base/errors.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "tests/test.h"

// ----------------------------------------------------------------------------
// a tiny GGUF writer

struct wbuf {
	uint8_t b[1 << 16];
	size_t n;
};

static void put(struct wbuf *w, const void *p, size_t n)
{
	memcpy(w->b + w->n, p, n);
	w->n += n;
}
static void put_u32(struct wbuf *w, uint32_t v) { put(w, &v, 4); }
static void put_u64(struct wbuf *w, uint64_t v) { put(w, &v, 8); }
static void put_str(struct wbuf *w, const char *s)
{
	put_u64(w, strlen(s));
	put(w, s, strlen(s));
}
static void kv_u32(struct wbuf *w, const char *k, uint32_t v)
{
	put_str(w, k);
	put_u32(w, GGUF_VT_UINT32);
	put_u32(w, v);
}
static void kv_str(struct wbuf *w, const char *k, const char *v)
{
	put_str(w, k);
	put_u32(w, GGUF_VT_STRING);
	put_str(w, v);
}

static uint32_t g_embd = 32, g_ff = 64; /* the header's embedding_length and feed_forward_length */

/* A llama-shaped header with one tensor token_embd.weight [ne0 x ne1] of type ttype at offset off. */
static void build_model_tensor(struct wbuf *w, uint32_t version, const char *arch, uint32_t ttype, size_t data_bytes,
			       uint64_t ne0, uint64_t ne1, uint64_t off)
{
	char key[64];
	w->n = 0;
	put(w, "GGUF", 4);
	put_u32(w, version);
	put_u64(w, 1); /* tensors */
	put_u64(w, 5); /* kv */
	kv_str(w, "general.architecture", arch);
	snprintf(key, sizeof(key), "%s.block_count", arch);
	kv_u32(w, key, 1);
	snprintf(key, sizeof(key), "%s.embedding_length", arch);
	kv_u32(w, key, g_embd);
	snprintf(key, sizeof(key), "%s.feed_forward_length", arch);
	kv_u32(w, key, g_ff);
	snprintf(key, sizeof(key), "%s.attention.head_count", arch);
	kv_u32(w, key, 4);
	put_str(w, "token_embd.weight");
	put_u32(w, 2);
	put_u64(w, ne0);
	put_u64(w, ne1);
	put_u32(w, ttype);
	put_u64(w, off);
	while (w->n % 32)
		w->b[w->n++] = 0;
	memset(w->b + w->n, 0, data_bytes);
	w->n += data_bytes;
}

/* A llama-shaped header with one tensor token_embd.weight [32 x 8] of type ttype. */
static void build_model(struct wbuf *w, uint32_t version, const char *arch, uint32_t ttype, size_t data_bytes)
{
	build_model_tensor(w, version, arch, ttype, data_bytes, 32, 8, 0);
}

static const char *write_tmp(const struct wbuf *w, size_t n)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/kvlab_test_gguf_%d.gguf", (int)getpid());
	FILE *f = fopen(path, "wb");
	fwrite(w->b, 1, n, f);
	fclose(f);
	return path;
}

// ----------------------------------------------------------------------------
// cases

static void gguf_open_should_read_the_models_metadata_and_tensors(void)
{
	struct gguf_file *g = NULL;
	char err[512] = "";
	int rc = gguf_open(T_MODEL, &g, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (rc)
		return;
	int64_t v = 0;
	char *arch = gguf_get_strdup(g, "general.architecture");
	T_CHECK(g->version == 3, "version %u", g->version);
	T_CHECK(g->n_tensors == 272, "%llu tensors", (unsigned long long)g->n_tensors);
	T_CHECK(arch && strcmp(arch, "llama") == 0, "arch %s", arch ? arch : "(null)");
	T_CHECK(gguf_get_int(g, "llama.block_count", &v) && v == 30, "block_count %lld", (long long)v);
	enum gguf_vtype t;
	uint64_t n;
	const struct gguf_str *s;
	T_CHECK(gguf_get_arr(g, "tokenizer.ggml.tokens", &t, &n, NULL, &s) && t == GGUF_VT_STRING && n == 49152, "tokens");
	const struct gguf_tensor *te = gguf_find_tensor(g, "token_embd.weight");
	T_CHECK(te && te->type == GGML_DT_Q8_0 && te->ne[0] == 576 && te->ne[1] == 49152, "token_embd");
	free(arch);
	gguf_close(g);
}

static void gguf_open_should_reject_a_missing_file(void)
{
	struct gguf_file *g = NULL;
	char err[512] = "";
	int rc = gguf_open("/nonexistent/model.gguf", &g, err, sizeof(err));
	T_CHECK(rc == KV_EIO && strstr(err, "/nonexistent/model.gguf"), "rc %d: %s", rc, err);
}

static void gguf_open_should_reject_bad_magic(void)
{
	struct wbuf *w = calloc(1, sizeof(*w));
	build_model(w, 3, "llama", GGML_DT_F32, 32 * 8 * 4);
	memcpy(w->b, "GGML", 4);
	const char *p = write_tmp(w, w->n);
	struct gguf_file *g = NULL;
	char err[512] = "";
	int rc = gguf_open(p, &g, err, sizeof(err));
	T_CHECK(rc == KV_EFORMAT && strstr(err, p) && strstr(err, "magic"), "rc %d: %s", rc, err);
	unlink(p);
	free(w);
}

static void gguf_open_should_reject_unsupported_version(void)
{
	struct wbuf *w = calloc(1, sizeof(*w));
	build_model(w, 1, "llama", GGML_DT_F32, 32 * 8 * 4);
	const char *p = write_tmp(w, w->n);
	struct gguf_file *g = NULL;
	char err[512] = "";
	int rc = gguf_open(p, &g, err, sizeof(err));
	T_CHECK(rc == KV_EUNSUP && strstr(err, "version 1"), "rc %d: %s", rc, err);
	unlink(p);
	free(w);
}

static void gguf_open_should_read_version_2(void)
{
	struct wbuf *w = calloc(1, sizeof(*w));
	build_model(w, 2, "llama", GGML_DT_F32, 32 * 8 * 4);
	const char *p = write_tmp(w, w->n);
	struct gguf_file *g = NULL;
	char err[512] = "";
	int rc = gguf_open(p, &g, err, sizeof(err));
	T_CHECK(rc == 0 && g->version == 2 && g->n_tensors == 1, "rc %d: %s", rc, err);
	gguf_close(g);
	unlink(p);
	free(w);
}

static void gguf_open_should_reject_every_truncation(void)
{
	struct wbuf *w = calloc(1, sizeof(*w));
	build_model(w, 3, "llama", GGML_DT_F32, 32 * 8 * 4);
	int bad = 0;
	for (size_t cut = 0; cut < w->n; cut += 7) {
		const char *p = write_tmp(w, cut);
		struct gguf_file *g = NULL;
		char err[512] = "";
		int rc = gguf_open(p, &g, err, sizeof(err));
		if (rc == 0 || !strstr(err, p)) {
			bad++;
			fprintf(stderr, "  cut at %zu: rc %d: %s\n", cut, rc, err);
		}
		gguf_close(g);
		unlink(p);
	}
	T_CHECK(bad == 0, "%d truncations accepted or unnamed", bad);
	free(w);
}

static void gguf_open_should_reject_the_real_model_truncated(void)
{
	char path[64], err[512] = "";
	snprintf(path, sizeof(path), "/tmp/kvlab_test_trunc_%d.gguf", (int)getpid());
	FILE *in = fopen(T_MODEL, "rb"), *out = fopen(path, "wb");
	static uint8_t buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf), in);
	fwrite(buf, 1, n, out);
	fclose(in);
	fclose(out);
	struct gguf_file *g = NULL;
	int rc = gguf_open(path, &g, err, sizeof(err));
	T_CHECK(rc == KV_EFORMAT && strstr(err, path) && strstr(err, "truncated"), "rc %d: %s", rc, err);
	struct model *m = NULL;
	rc = model_load(path, &m, err, sizeof(err));
	T_CHECK(rc != 0 && m == NULL && strstr(err, path), "model_load rc %d: %s", rc, err);
	unlink(path);
}

static void model_load_should_reject_an_unknown_architecture(void)
{
	struct wbuf *w = calloc(1, sizeof(*w));
	build_model(w, 3, "gpt2", GGML_DT_F32, 32 * 8 * 4);
	const char *p = write_tmp(w, w->n);
	struct model *m = NULL;
	char err[512] = "";
	int rc = model_load(p, &m, err, sizeof(err));
	T_CHECK(rc == KV_EUNSUP && strstr(err, "gpt2") && strstr(err, p), "rc %d: %s", rc, err);
	unlink(p);
	free(w);
}

static void model_load_should_reject_an_unsupported_tensor_type(void)
{
	struct wbuf *w = calloc(1, sizeof(*w));
	build_model(w, 3, "llama", 10 /* Q2_K */, 1024);
	const char *p = write_tmp(w, w->n);
	struct model *m = NULL;
	char err[512] = "";
	int rc = model_load(p, &m, err, sizeof(err));
	T_CHECK(rc == KV_EUNSUP && strstr(err, "Q2_K") && strstr(err, "token_embd.weight"), "rc %d: %s", rc, err);
	unlink(p);
	free(w);
}

static void model_load_should_read_smollm2_shapes(void)
{
	struct model *m = NULL;
	char err[512] = "";
	int rc = model_load(T_MODEL, &m, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (rc)
		return;
	const struct model_config *c = &m->cfg;
	T_CHECK(c->arch == ARCH_LLAMA && c->n_layer == 30 && c->n_embd == 576 && c->n_head == 9 && c->n_head_kv == 3 &&
			c->head_dim == 64 && c->n_ff == 1536 && c->n_vocab == 49152 && c->tied_embd && c->max_pos == 8192,
		"shape L%d E%d H%d/%d D%d F%d V%d", c->n_layer, c->n_embd, c->n_head, c->n_head_kv, c->head_dim, c->n_ff, c->n_vocab);
	T_CHECK(c->rope_theta == 100000.0f && c->rope_scaling == ROPE_SCALING_NONE, "rope %g", c->rope_theta);
	T_CHECK(m->chat.family == CHAT_CHATML, "chat family %d (%s)", m->chat.family, m->chat.detail);
	model_free(m);
}

// ----------------------------------------------------------------------------
// hostile headers: each was a crash, a wrap-around or a silent default before

/* Opens w as a GGUF file and checks it is refused with KV_EFORMAT and a message holding want. */
static void expect_refused(struct wbuf *w, const char *want, const char *what)
{
	const char *p = write_tmp(w, w->n);
	struct gguf_file *g = NULL;
	char err[512] = "";
	int rc = gguf_open(p, &g, err, sizeof(err));
	T_CHECK(rc == KV_EFORMAT && g == NULL && strstr(err, p) && strstr(err, want), "%s: rc %d: %s", what, rc, err);
	gguf_close(g);
	unlink(p);
}

static void gguf_open_should_reject_a_zero_dimension(void)
{
	struct wbuf *w = calloc(1, sizeof(*w));
	build_model_tensor(w, 3, "llama", GGML_DT_F32, 1024, 0, 8, 0); /* was SIGFPE: nel / ne[0] */
	expect_refused(w, "dimension 0 is 0 (expected 1..", "ne[0] = 0");
	build_model_tensor(w, 3, "llama", GGML_DT_F32, 1024, 32, 0, 0);
	expect_refused(w, "dimension 1 is 0", "ne[1] = 0");
	free(w);
}

static void gguf_open_should_reject_absurd_dimensions(void)
{
	struct wbuf *w = calloc(1, sizeof(*w));
	build_model_tensor(w, 3, "llama", GGML_DT_F32, 1024, 32, 1ull << 40, 0); /* was "vocabulary size 0" */
	expect_refused(w, "dimension 1 is 1099511627776", "ne[1] = 2^40");
	build_model_tensor(w, 3, "llama", GGML_DT_F32, 1024, 1u << 30, 1u << 30, 0);
	expect_refused(w, "more than a", "2^60 elements");
	free(w);
}

static void gguf_open_should_reject_an_offset_that_wraps_around(void)
{
	struct wbuf *w = calloc(1, sizeof(*w));
	build_model_tensor(w, 3, "llama", GGML_DT_F32, 32 * 8 * 4, 32, 8, UINT64_MAX - 31); /* data_off + offset wrapped */
	expect_refused(w, "lies outside the file", "offset 2^64 - 32");
	free(w);
}

/* A header whose only metadata entry is an array of element type at claiming n elements. */
static void build_array(struct wbuf *w, uint32_t at, uint64_t n)
{
	w->n = 0;
	put(w, "GGUF", 4);
	put_u32(w, 3);
	put_u64(w, 0); /* tensors */
	put_u64(w, 1); /* kv */
	put_str(w, "tokenizer.ggml.tokens");
	put_u32(w, GGUF_VT_ARRAY);
	put_u32(w, at);
	put_u64(w, n);
	memset(w->b + w->n, 0, 64);
	w->n += 64;
}

static void gguf_open_should_reject_array_counts_that_overflow(void)
{
	struct wbuf *w = calloc(1, sizeof(*w));
	build_array(w, GGUF_VT_STRING, 1ull << 61); /* n * 8 wrapped to 0: recorded with no data before */
	expect_refused(w, "claims 2305843009213693952 strings", "string array of 2^61");
	build_array(w, GGUF_VT_UINT64, 1ull << 61);
	expect_refused(w, "claims 2305843009213693952 elements of 8 bytes", "u64 array of 2^61");
	build_array(w, GGUF_VT_UINT8, 65);
	expect_refused(w, "claims 65 elements of 1 bytes, but only 64 bytes remain", "u8 array one too long");
	free(w);
}

/* A 1-KB file whose header claims a 60000-wide model must fail on its tensors' shapes
 * before the weights' memory (about 86 GB here) is allocated (found by fuzz_gguf). */
static void model_load_should_check_shapes_before_allocating(void)
{
	struct wbuf *w = calloc(1, sizeof(*w));
	g_embd = 60000;
	g_ff = 60000;
	build_model(w, 3, "llama", GGML_DT_F32, 32 * 8 * 4);
	g_embd = 32;
	g_ff = 64;
	const char *p = write_tmp(w, w->n);
	struct model *m = NULL;
	char err[512] = "";
	int rc = model_load(p, &m, err, sizeof(err));
	T_CHECK(rc == KV_EFORMAT && m == NULL && strstr(err, "token_embd.weight' has shape [32, 8], expected [60000,"),
		"rc %d: %s", rc, err);
	model_free(m);
	unlink(p);
	free(w);
}

/* Copies the bundled model to a temporary file with the UINT32 metadata value of key set to v. */
static const char *model_with_u32(const char *key, uint32_t v, char *path, size_t len)
{
	snprintf(path, len, "/tmp/kvlab_test_patch_%d.gguf", (int)getpid());
	FILE *in = fopen(T_MODEL, "rb"), *out = fopen(path, "wb");
	static uint8_t buf[1 << 23];
	bool patched = false;
	size_t n, off = 0;
	while (in && out && (n = fread(buf, 1, sizeof(buf), in)) > 0) {
		if (off == 0) { /* the metadata sits in the first 8 MiB: the key, its u32 type, then the value */
			size_t kl = strlen(key);
			for (size_t i = 8; i + kl + 8 <= n && !patched; i++)
				if (!memcmp(buf + i, key, kl) && !memcmp(buf + i - 8, &(uint64_t){ kl }, 8)) {
					uint32_t ty;
					memcpy(&ty, buf + i + kl, 4);
					if (ty == GGUF_VT_UINT32) {
						memcpy(buf + i + kl + 4, &v, 4);
						patched = true;
					}
				}
		}
		fwrite(buf, 1, n, out);
		off += n;
	}
	if (in)
		fclose(in);
	if (out)
		fclose(out);
	return patched ? path : NULL;
}

static void model_load_should_refuse_a_zero_context_length(void)
{
	char path[64], err[512] = "";
	if (access(T_MODEL, R_OK) != 0) {
		T_SKIP("%s missing (make model)", T_MODEL);
		return;
	}
	const char *p = model_with_u32("llama.context_length", 0, path, sizeof(path));
	T_CHECK(p != NULL, "llama.context_length is not a UINT32 in %s", T_MODEL);
	struct model *m = NULL;
	int rc = p ? model_load(p, &m, err, sizeof(err)) : -1;
	T_CHECK(rc == KV_EFORMAT && m == NULL && strstr(err, "'llama.context_length' = 0 out of range"), "was 4096 silently: rc %d: %s",
		rc, err);
	model_free(m);
	unlink(path);
}

static void model_load_should_refuse_an_out_of_range_bos_id(void)
{
	char path[64], err[512] = "";
	if (access(T_MODEL, R_OK) != 0) {
		T_SKIP("%s missing (make model)", T_MODEL);
		return;
	}
	const char *p = model_with_u32("tokenizer.ggml.bos_token_id", 49152, path, sizeof(path));
	T_CHECK(p != NULL, "tokenizer.ggml.bos_token_id is not a UINT32 in %s", T_MODEL);
	struct model *m = NULL;
	int rc = p ? model_load(p, &m, err, sizeof(err)) : -1;
	T_CHECK(rc == KV_EFORMAT && m == NULL && strstr(err, "tokenizer.ggml.bos_token_id is not a token id of this 49152-token vocabulary"),
		"was dropped silently: rc %d: %s", rc, err);
	model_free(m);
	unlink(path);
}

int main(void)
{
	T_RUN(gguf_open_should_read_the_models_metadata_and_tensors);
	T_RUN(gguf_open_should_reject_a_missing_file);
	T_RUN(gguf_open_should_reject_bad_magic);
	T_RUN(gguf_open_should_reject_unsupported_version);
	T_RUN(gguf_open_should_read_version_2);
	T_RUN(gguf_open_should_reject_every_truncation);
	T_RUN(gguf_open_should_reject_the_real_model_truncated);
	T_RUN(model_load_should_reject_an_unknown_architecture);
	T_RUN(model_load_should_reject_an_unsupported_tensor_type);
	T_RUN(model_load_should_read_smollm2_shapes);
	T_RUN(gguf_open_should_reject_a_zero_dimension);
	T_RUN(gguf_open_should_reject_absurd_dimensions);
	T_RUN(gguf_open_should_reject_an_offset_that_wraps_around);
	T_RUN(gguf_open_should_reject_array_counts_that_overflow);
	T_RUN(model_load_should_refuse_a_zero_context_length);
	T_RUN(model_load_should_check_shapes_before_allocating);
	T_RUN(model_load_should_refuse_an_out_of_range_bos_id);
	return t_done();
}
