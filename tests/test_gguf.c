/* GGUF reader and GGUF model loader: the real model's directory, and the failure
 * paths on files this test writes itself (bad magic, truncation, unsupported
 * version, tensor type and architecture). */
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

/* A llama-shaped header with one tensor token_embd.weight [32 x 8] of type ttype. */
static void build_model(struct wbuf *w, uint32_t version, const char *arch, uint32_t ttype, size_t data_bytes)
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
	kv_u32(w, key, 32);
	snprintf(key, sizeof(key), "%s.feed_forward_length", arch);
	kv_u32(w, key, 64);
	snprintf(key, sizeof(key), "%s.attention.head_count", arch);
	kv_u32(w, key, 4);
	put_str(w, "token_embd.weight");
	put_u32(w, 2);
	put_u64(w, 32);
	put_u64(w, 8);
	put_u32(w, ttype);
	put_u64(w, 0);
	while (w->n % 32)
		w->b[w->n++] = 0;
	memset(w->b + w->n, 0, data_bytes);
	w->n += data_bytes;
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
	return t_done();
}
