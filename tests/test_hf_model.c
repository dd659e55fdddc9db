/* Hugging Face folder loader: the tiny random Llama (bf16, two shards, llama3 rope,
 * untied) and Mistral (f16, head_dim 24 != E/H, tied) folders against transformers'
 * logits at every position (tests/golden/tiny_*_logits.bin, from scripts/ref_engine.py),
 * and the failure paths on folders this test writes itself: missing folder, config,
 * shard or tensor, truncated safetensors, bad JSON, unknown architecture, rope type and
 * dtype, shapes that disagree with config.json. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/chat.h"        // CHAT_CHATML
#include "base/errors.h"      // KV_E*
#include "base/fileio.h"      // kv_read_file
#include "engine/forward.h"     // fwd_logits
#include "engine/model.h"       // model_load
#include "engine/safetensors.h" // safetensors_open
#include "tests/test.h"

#define GOLDEN "tests/golden/"
#define LOGITS_TOL 1e-4f

// ----------------------------------------------------------------------------
// golden logits of the tiny models

struct tiny_golden {
	int n_tokens, n_vocab;
	int32_t *tokens;   /* (n_tokens,) */
	float *logits;     /* (n_tokens, n_vocab) */
};

/* Reads a "KVLT" file; 0 or a message in err. */
static int read_tiny_golden(const char *path, struct tiny_golden *g, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = kv_read_file(path, &buf, &len, err, errlen);
	if (rc)
		return rc;
	uint32_t hdr[3];
	if (len < 16 || memcmp(buf, "KVLT", 4) != 0) {
		free(buf);
		return kv_errf(err, errlen, KV_EFORMAT, "%s: bad magic (expected KVLT); regenerate with scripts/ref_engine.py", path);
	}
	memcpy(hdr, buf + 4, sizeof(hdr));
	size_t need = 16 + (size_t)hdr[1] * 4 + (size_t)hdr[1] * hdr[2] * 4;
	if (hdr[0] != 1 || len != need) {
		free(buf);
		return kv_errf(err, errlen, KV_EFORMAT, "%s: version %u, %zu bytes (expected version 1, %zu bytes); regenerate with scripts/ref_engine.py",
			       path, hdr[0], len, need);
	}
	g->n_tokens = (int)hdr[1];
	g->n_vocab = (int)hdr[2];
	g->tokens = malloc((size_t)g->n_tokens * 4);
	g->logits = malloc((size_t)g->n_tokens * g->n_vocab * 4);
	memcpy(g->tokens, buf + 16, (size_t)g->n_tokens * 4);
	memcpy(g->logits, buf + 16 + (size_t)g->n_tokens * 4, (size_t)g->n_tokens * g->n_vocab * 4);
	free(buf);
	return 0;
}

/* Loads the folder, runs all positions, compares with the golden; returns the model
 * (caller frees) so cases can check its configuration too. */
static struct model *check_tiny(const char *name)
{
	char dir[128], gpath[128], err[512] = "";
	struct tiny_golden g = {0};
	struct model *m = NULL;
	float *logits = NULL;
	snprintf(dir, sizeof(dir), GOLDEN "tiny_%s", name);
	snprintf(gpath, sizeof(gpath), GOLDEN "tiny_%s_logits.bin", name);
	int rc = read_tiny_golden(gpath, &g, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (rc)
		return NULL;
	rc = model_load(dir, &m, err, sizeof(err));
	T_CHECK(rc == 0, "model_load(%s): %s", dir, err);
	if (rc)
		goto out;
	T_CHECK(m->cfg.n_vocab == g.n_vocab, "n_vocab %d, golden %d", m->cfg.n_vocab, g.n_vocab);
	if (m->cfg.n_vocab != g.n_vocab)
		goto out;
	rc = fwd_logits(m, g.tokens, g.n_tokens, true, 0, &logits, err, sizeof(err));
	T_CHECK(rc == 0, "fwd_logits: %s", err);
	if (rc)
		goto out;
	float worst = 0;
	int wt = 0, wv = 0;
	for (int t = 0; t < g.n_tokens; t++)
		for (int v = 0; v < g.n_vocab; v++) {
			size_t i = (size_t)t * g.n_vocab + v;
			float d = fabsf(logits[i] - g.logits[i]);
			if (!(d <= worst)) { /* also catches NaN */
				worst = d;
				wt = t;
				wv = v;
			}
		}
	T_CHECK(worst <= LOGITS_TOL, "tiny_%s: max|diff| %.3e at (t=%d, v=%d): kvlab %g, transformers %g", name, worst, wt, wv,
		logits[(size_t)wt * g.n_vocab + wv], g.logits[(size_t)wt * g.n_vocab + wv]);
	printf("  logits OK: tiny_%s n=%d all rows, max|diff| %.1e at (t=%d, v=%d), tol %.0e\n", name, g.n_tokens, worst, wt,
	       wv, LOGITS_TOL);
out:
	free(logits);
	free(g.tokens);
	free(g.logits);
	return m;
}

static void tiny_llama_should_match_transformers_at_every_position(void)
{
	struct model *m = check_tiny("llama");
	if (!m)
		return;
	const struct model_config *c = &m->cfg;
	T_CHECK(c->arch == ARCH_LLAMA && c->n_layer == 2 && c->n_embd == 64 && c->n_head == 4 && c->n_head_kv == 2 &&
			c->head_dim == 16 && c->n_ff == 96 && c->max_pos == 512 && !c->tied_embd,
		"shape L%d E%d H%d/%d D%d F%d", c->n_layer, c->n_embd, c->n_head, c->n_head_kv, c->head_dim, c->n_ff);
	T_CHECK(c->rope_theta == 500000.0f && c->rope_scaling == ROPE_SCALING_LLAMA3 && c->rope_factor == 8.0f &&
			c->rope_low_freq_factor == 1.0f && c->rope_high_freq_factor == 4.0f && c->rope_orig_max_pos == 64,
		"rope theta %g scaling %d", c->rope_theta, c->rope_scaling);
	T_CHECK(fabsf(c->norm_eps - 1e-5f) < 1e-12f, "eps %g", c->norm_eps);
	T_CHECK(m->output != m->tok_embd, "untied model shares its output");
	T_CHECK(m->source == MODEL_SRC_HF && strcmp(m->file_type, "BF16") == 0 && strcmp(m->path, GOLDEN "tiny_llama") == 0,
		"source %d type %s path %s", m->source, m->file_type, m->path);
	T_CHECK(m->tok != NULL && m->chat.family == CHAT_CHATML, "chat %d (%s)", m->chat.family, m->chat.detail);
	model_free(m);
}

static void tiny_mistral_should_match_transformers_at_every_position(void)
{
	struct model *m = check_tiny("mistral");
	if (!m)
		return;
	const struct model_config *c = &m->cfg;
	T_CHECK(c->arch == ARCH_MISTRAL && c->n_embd == 48 && c->n_head == 4 && c->n_head_kv == 2 && c->head_dim == 24 &&
			c->n_ff == 64 && c->tied_embd && c->rope_theta == 10000.0f && c->rope_scaling == ROPE_SCALING_NONE,
		"shape E%d H%d/%d D%d F%d tied %d", c->n_embd, c->n_head, c->n_head_kv, c->head_dim, c->n_ff, c->tied_embd);
	T_CHECK(m->output == m->tok_embd, "tied model has its own output");
	T_CHECK(strcmp(m->file_type, "F16") == 0, "type %s", m->file_type);
	/* chat_template is a list there; the "default" entry is the ChatML one */
	T_CHECK(m->chat_template && strstr(m->chat_template, "<|im_start|>") && m->chat.family == CHAT_CHATML,
		"chat %d (%s)", m->chat.family, m->chat.detail);
	model_free(m);
}

// ----------------------------------------------------------------------------
// folders written by the test: a 1-layer model (E 8, H 2, Hkv 1, D 4, F 16, V 288)
// with F32 weights, and the tiny Mistral's tokenizer.json

struct st_spec {
	const char *name, *dtype;
	int n_dims;
	int64_t shape[2];
};

static const struct st_spec micro[] = {
	{ "model.embed_tokens.weight", "F32", 2, { 288, 8 } },
	{ "model.norm.weight", "F32", 1, { 8 } },
	{ "model.layers.0.input_layernorm.weight", "F32", 1, { 8 } },
	{ "model.layers.0.self_attn.q_proj.weight", "F32", 2, { 8, 8 } },
	{ "model.layers.0.self_attn.k_proj.weight", "F32", 2, { 4, 8 } },
	{ "model.layers.0.self_attn.v_proj.weight", "F32", 2, { 4, 8 } },
	{ "model.layers.0.self_attn.o_proj.weight", "F32", 2, { 8, 8 } },
	{ "model.layers.0.post_attention_layernorm.weight", "F32", 1, { 8 } },
	{ "model.layers.0.mlp.gate_proj.weight", "F32", 2, { 16, 8 } },
	{ "model.layers.0.mlp.up_proj.weight", "F32", 2, { 16, 8 } },
	{ "model.layers.0.mlp.down_proj.weight", "F32", 2, { 8, 16 } },
};
#define N_MICRO ((int)(sizeof(micro) / sizeof(micro[0])))

static const char *micro_config =
	"{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 8,"
	" \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"num_key_value_heads\": 1,"
	" \"intermediate_size\": 16, \"vocab_size\": 288, \"rms_norm_eps\": 1e-5, \"rope_theta\": 10000.0,"
	" \"rope_scaling\": null, \"tie_word_embeddings\": true}";

static int elem_size(const char *dtype)
{
	return strcmp(dtype, "F32") == 0 ? 4 : strcmp(dtype, "I8") == 0 ? 1 : 2;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	fputs(text, f);
	fclose(f);
}

/* Writes a safetensors file of n tensors; keeps the first `keep` bytes (0 = all). */
static void write_st(const char *path, const struct st_spec *t, int n, size_t keep)
{
	char hdr[4096];
	size_t h = 0, off = 0;
	h += snprintf(hdr + h, sizeof(hdr) - h, "{\"__metadata__\": {\"format\": \"pt\"}");
	for (int i = 0; i < n; i++) {
		size_t numel = t[i].n_dims == 1 ? (size_t)t[i].shape[0] : (size_t)(t[i].shape[0] * t[i].shape[1]);
		size_t bytes = numel * elem_size(t[i].dtype);
		h += snprintf(hdr + h, sizeof(hdr) - h, ", \"%s\": {\"dtype\": \"%s\", \"shape\": [%lld", t[i].name,
			      t[i].dtype, (long long)t[i].shape[0]);
		if (t[i].n_dims == 2)
			h += snprintf(hdr + h, sizeof(hdr) - h, ", %lld", (long long)t[i].shape[1]);
		h += snprintf(hdr + h, sizeof(hdr) - h, "], \"data_offsets\": [%zu, %zu]}", off, off + bytes);
		off += bytes;
	}
	h += snprintf(hdr + h, sizeof(hdr) - h, "}");
	size_t total = 8 + h + off;
	uint8_t *buf = calloc(1, total);
	uint64_t hl = h;
	memcpy(buf, &hl, 8);
	memcpy(buf + 8, hdr, h);
	for (size_t k = 0; 4 * k + 4 <= off; k++) { /* F32 view: value k is 0.01 * (k % 97) */
		float v = 0.01f * (float)(k % 97);
		memcpy(buf + 8 + h + 4 * k, &v, 4);
	}
	FILE *f = fopen(path, "wb");
	fwrite(buf, 1, keep ? keep : total, f);
	fclose(f);
	free(buf);
}

static void copy_file(const char *from, const char *to)
{
	char *text = NULL;
	size_t len = 0;
	if (kv_read_file(from, &text, &len, NULL, 0) != 0)
		return;
	FILE *f = fopen(to, "wb");
	fwrite(text, 1, len, f);
	fclose(f);
	free(text);
}

static char tmpdir[64];

/* A fresh folder with the micro model (config, weights, tokenizer); returns its path. */
static const char *micro_folder(void)
{
	char p[128];
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kvlab_hf_XXXXXX");
	if (!mkdtemp(tmpdir))
		return NULL;
	snprintf(p, sizeof(p), "%s/config.json", tmpdir);
	write_text(p, micro_config);
	snprintf(p, sizeof(p), "%s/model.safetensors", tmpdir);
	write_st(p, micro, N_MICRO, 0);
	snprintf(p, sizeof(p), "%s/tokenizer.json", tmpdir);
	copy_file(GOLDEN "tiny_mistral/tokenizer.json", p);
	return tmpdir;
}

static void rm_folder(const char *dir)
{
	static const char *names[] = { "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
				       "chat_template.jinja", "model.safetensors.index.json", "model-00001-of-00002.safetensors",
				       "model-00002-of-00002.safetensors" };
	char p[128];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
}

/* Loads dir expecting failure with code want (0: any non-zero) and a message holding
 * both needles (NULL: skip); prints the message so the log shows what users see. */
static void expect_fail(const char *dir, int want, const char *needle1, const char *needle2)
{
	struct model *m = NULL;
	char err[512] = "";
	int rc = model_load(dir, &m, err, sizeof(err));
	T_CHECK(rc != 0 && (!want || rc == want) && m == NULL, "rc %d (%s), want %d: %s", rc, kv_err_name(rc), want, err);
	T_CHECK(!needle1 || strstr(err, needle1), "message lacks '%s': %s", needle1, err);
	T_CHECK(!needle2 || strstr(err, needle2), "message lacks '%s': %s", needle2, err);
	printf("  %s: %s\n", kv_err_name(rc), err);
	model_free(m);
}

static void micro_folder_should_load_with_mixed_dtypes_named(void)
{
	const char *dir = micro_folder();
	char p[128], err[512] = "";
	struct st_spec t[N_MICRO];
	memcpy(t, micro, sizeof(t));
	t[3].dtype = "BF16"; /* q_proj */
	snprintf(p, sizeof(p), "%s/model.safetensors", dir);
	write_st(p, t, N_MICRO, 0);
	struct model *m = NULL;
	int rc = model_load(dir, &m, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (rc == 0) {
		T_CHECK(strcmp(m->file_type, "mixed (F32, BF16)") == 0, "file_type %s", m->file_type);
		T_CHECK(m->cfg.head_dim == 4 && m->cfg.n_head_kv == 1 && m->cfg.tied_embd && m->output == m->tok_embd,
			"head_dim %d", m->cfg.head_dim);
		T_CHECK(m->chat.family == CHAT_NONE && m->chat_template == NULL, "chat %d", m->chat.family);
		/* embed_tokens is first in the data: its element 13 is 0.01 * 13, bit for bit */
		float want = 0.01f * 13.0f;
		T_CHECK(m->tok_embd[8 + 5] == want, "tok_embd[13] %g, want %g", m->tok_embd[8 + 5], want);
	}
	model_free(m);
	rm_folder(dir);
}

static void model_load_should_name_a_missing_folder(void)
{
	expect_fail("/tmp/kvlab_no_such_model_folder/", KV_EIO, "/tmp/kvlab_no_such_model_folder", NULL);
}

static void model_load_should_name_a_missing_config(void)
{
	const char *dir = micro_folder();
	char p[128];
	snprintf(p, sizeof(p), "%s/config.json", dir);
	unlink(p);
	expect_fail(dir, KV_EIO, p, NULL);
	rm_folder(dir);
}

static void model_load_should_reject_bad_json_in_config(void)
{
	const char *dir = micro_folder();
	char p[128];
	snprintf(p, sizeof(p), "%s/config.json", dir);
	write_text(p, "{\"hidden_size\": 8,, }");
	expect_fail(dir, KV_EFORMAT, p, "JSON");
	rm_folder(dir);
}

static void model_load_should_reject_an_unknown_architecture(void)
{
	const char *dir = micro_folder();
	char p[128];
	snprintf(p, sizeof(p), "%s/config.json", dir);
	write_text(p, "{\"architectures\": [\"GPT2LMHeadModel\"], \"model_type\": \"gpt2\", \"hidden_size\": 8}");
	expect_fail(dir, KV_EUNSUP, p, "GPT2LMHeadModel");
	rm_folder(dir);
}

static void model_load_should_reject_an_unknown_rope_type(void)
{
	const char *dir = micro_folder();
	char p[128], cfg[1024];
	snprintf(p, sizeof(p), "%s/config.json", dir);
	snprintf(cfg, sizeof(cfg), "%.*s, \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}}",
		 (int)(strstr(micro_config, ", \"rope_scaling\"") - micro_config), micro_config);
	write_text(p, cfg);
	expect_fail(dir, KV_EUNSUP, p, "yarn");
	rm_folder(dir);
}

static void model_load_should_reject_a_missing_required_key(void)
{
	const char *dir = micro_folder();
	char p[128];
	snprintf(p, sizeof(p), "%s/config.json", dir);
	write_text(p, "{\"model_type\": \"mistral\", \"hidden_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 2}");
	expect_fail(dir, KV_EFORMAT, p, "intermediate_size");
	rm_folder(dir);
}

static void safetensors_open_should_reject_overlapping_tensors(void)
{
	/* both tensors claim bytes [0, 16): each would load the other's weights */
	static const char hdr[] = "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}, "
				  "\"b\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}";
	char path[64], err[512] = "";
	snprintf(path, sizeof(path), "/tmp/kvlab_test_overlap_%d.safetensors", (int)getpid());
	uint64_t hl = sizeof(hdr) - 1;
	uint8_t data[16] = { 0 };
	FILE *f = fopen(path, "wb");
	fwrite(&hl, 8, 1, f);
	fwrite(hdr, 1, hl, f);
	fwrite(data, 1, sizeof(data), f);
	fclose(f);
	struct st_file *sf = NULL;
	int rc = safetensors_open(path, &sf, err, sizeof(err));
	T_CHECK(rc == KV_EFORMAT && sf == NULL && strstr(err, path) && strstr(err, "'a' and 'b' overlap"), "rc %d: %s", rc, err);
	safetensors_close(sf);
	unlink(path);
}

static void model_load_should_reject_truncated_safetensors(void)
{
	const char *dir = micro_folder();
	char p[128];
	snprintf(p, sizeof(p), "%s/model.safetensors", dir);
	/* data cut short: offsets point past the end */
	write_st(p, micro, N_MICRO, 4000);
	expect_fail(dir, KV_EFORMAT, p, "truncated");
	/* header itself cut: its length field promises more than the file holds */
	write_st(p, micro, N_MICRO, 300);
	expect_fail(dir, KV_EFORMAT, p, "truncated");
	/* not even the length field */
	write_st(p, micro, N_MICRO, 5);
	expect_fail(dir, KV_EFORMAT, p, NULL);
	rm_folder(dir);
}

static void safetensors_open_should_reject_every_truncation(void)
{
	const char *dir = micro_folder();
	char p[128];
	snprintf(p, sizeof(p), "%s/model.safetensors", dir);
	struct stat st;
	stat(p, &st);
	int bad = 0;
	for (size_t cut = 1; cut < (size_t)st.st_size; cut += 37) {
		write_st(p, micro, N_MICRO, cut);
		struct st_file *f = NULL;
		char err[512] = "";
		int rc = safetensors_open(p, &f, err, sizeof(err));
		if (rc == 0 || !strstr(err, p)) {
			bad++;
			fprintf(stderr, "  cut at %zu: rc %d: %s\n", cut, rc, err);
		}
		safetensors_close(f);
	}
	T_CHECK(bad == 0, "%d truncations accepted or unnamed", bad);
	rm_folder(dir);
}

static void model_load_should_reject_an_unsupported_dtype(void)
{
	const char *dir = micro_folder();
	char p[128];
	struct st_spec t[N_MICRO];
	memcpy(t, micro, sizeof(t));
	t[6].dtype = "I8"; /* o_proj */
	snprintf(p, sizeof(p), "%s/model.safetensors", dir);
	write_st(p, t, N_MICRO, 0);
	expect_fail(dir, KV_EUNSUP, "model.layers.0.self_attn.o_proj.weight", "I8");
	rm_folder(dir);
}

static void model_load_should_name_a_shape_that_disagrees_with_config(void)
{
	const char *dir = micro_folder();
	char p[128];
	struct st_spec t[N_MICRO];
	memcpy(t, micro, sizeof(t));
	t[4].shape[0] = 8; /* k_proj as if Hkv = 2 */
	snprintf(p, sizeof(p), "%s/model.safetensors", dir);
	write_st(p, t, N_MICRO, 0);
	expect_fail(dir, KV_EFORMAT, "model.layers.0.self_attn.k_proj.weight", "[8, 8], expected [4, 8]");
	rm_folder(dir);
}

static void model_load_should_name_a_missing_tensor(void)
{
	const char *dir = micro_folder();
	char p[128];
	snprintf(p, sizeof(p), "%s/model.safetensors", dir);
	write_st(p, micro, N_MICRO - 1, 0); /* no down_proj */
	expect_fail(dir, KV_EFORMAT, p, "model.layers.0.mlp.down_proj.weight");
	rm_folder(dir);
}

static void model_load_should_name_missing_weights(void)
{
	const char *dir = micro_folder();
	char p[128];
	snprintf(p, sizeof(p), "%s/model.safetensors", dir);
	unlink(p);
	expect_fail(dir, KV_EIO, dir, "model.safetensors");
	rm_folder(dir);
}

static void model_load_should_name_a_missing_shard(void)
{
	const char *dir = micro_folder();
	char p[128], idx[2048];
	size_t n = 0;
	n += snprintf(idx + n, sizeof(idx) - n, "{\"metadata\": {}, \"weight_map\": {");
	for (int i = 0; i < N_MICRO; i++)
		n += snprintf(idx + n, sizeof(idx) - n, "%s\"%s\": \"model-0000%d-of-00002.safetensors\"", i ? ", " : "",
			      micro[i].name, i < 5 ? 1 : 2);
	snprintf(idx + n, sizeof(idx) - n, "}}");
	snprintf(p, sizeof(p), "%s/model.safetensors", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/model.safetensors.index.json", dir);
	write_text(p, idx);
	snprintf(p, sizeof(p), "%s/model-00001-of-00002.safetensors", dir);
	write_st(p, micro, 5, 0);
	/* the second shard is missing */
	expect_fail(dir, KV_EIO, "model-00002-of-00002.safetensors", "model.safetensors.index.json");
	/* with it present the folder loads */
	snprintf(p, sizeof(p), "%s/model-00002-of-00002.safetensors", dir);
	write_st(p, micro + 5, N_MICRO - 5, 0);
	struct model *m = NULL;
	char err[512] = "";
	int rc = model_load(dir, &m, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	model_free(m);
	rm_folder(dir);
}

static void model_load_should_prefer_chat_template_jinja_and_survive_unknown_templates(void)
{
	const char *dir = micro_folder();
	char p[128], err[512] = "";
	snprintf(p, sizeof(p), "%s/tokenizer_config.json", dir);
	write_text(p, "{\"eos_token\": \"<|im_end|>\", \"chat_template\": \"{{ 'unrecognised' }}\"}");
	struct model *m = NULL;
	int rc = model_load(dir, &m, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (rc == 0)
		T_CHECK(m->chat.family == CHAT_NONE && m->chat_template && strstr(m->chat_template, "unrecognised"),
			"family %d template %s", m->chat.family, m->chat_template ? m->chat_template : "(null)");
	model_free(m);
	m = NULL;
	snprintf(p, sizeof(p), "%s/chat_template.jinja", dir);
	copy_file(GOLDEN "chat_smollm2.jinja", p);
	rc = model_load(dir, &m, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (rc == 0)
		T_CHECK(m->chat.family == CHAT_CHATML, "family %d (%s)", m->chat.family, m->chat.detail);
	model_free(m);
	rm_folder(dir);
}

int main(void)
{
	T_RUN(tiny_llama_should_match_transformers_at_every_position);
	T_RUN(tiny_mistral_should_match_transformers_at_every_position);
	T_RUN(micro_folder_should_load_with_mixed_dtypes_named);
	T_RUN(model_load_should_name_a_missing_folder);
	T_RUN(model_load_should_name_a_missing_config);
	T_RUN(model_load_should_reject_bad_json_in_config);
	T_RUN(model_load_should_reject_an_unknown_architecture);
	T_RUN(model_load_should_reject_an_unknown_rope_type);
	T_RUN(model_load_should_reject_a_missing_required_key);
	T_RUN(model_load_should_reject_truncated_safetensors);
	T_RUN(safetensors_open_should_reject_overlapping_tensors);
	T_RUN(safetensors_open_should_reject_every_truncation);
	T_RUN(model_load_should_reject_an_unsupported_dtype);
	T_RUN(model_load_should_name_a_shape_that_disagrees_with_config);
	T_RUN(model_load_should_name_a_missing_tensor);
	T_RUN(model_load_should_name_missing_weights);
	T_RUN(model_load_should_name_a_missing_shard);
	T_RUN(model_load_should_prefer_chat_template_jinja_and_survive_unknown_templates);
	return t_done();
}
