/* Model lifetime: loader dispatch (GGUF file or Hugging Face folder), config
 * validation, the single weight arena, RoPE frequency tables, free. */
#include "engine/model.h"

#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/errors.h"    // kv_errf
#include "base/hugemem.h"   // kv_huge_alloc, kv_huge_advise
#include "engine/chat.h"      // chat_detect
#include "engine/tokenizer.h" // tok_free

const char *model_arch_name(enum model_arch a)
{
	return a == ARCH_MISTRAL ? "mistral" : "llama";
}

int model_load(const char *path, struct model **out, char *err, size_t errlen)
{
	struct stat st;
	if (!path || !*path)
		return kv_errf(err, errlen, KV_EINVAL, "--model: expected a GGUF file or a Hugging Face model folder, got an empty path");
	if (stat(path, &st) != 0)
		return kv_errf(err, errlen, KV_EIO, "%s: no such file or folder; expected a GGUF file or a Hugging Face model folder", path);
	if (S_ISDIR(st.st_mode))
		return model_load_hf(path, out, err, errlen);
	return model_load_gguf(path, out, err, errlen);
}

int model_config_validate(const struct model_config *c, const char *src, char *err, size_t errlen)
{
#define REQ(cond, ...) do { if (!(cond)) return kv_errf(err, errlen, KV_EFORMAT, __VA_ARGS__); } while (0)
	REQ(c->n_layer > 0 && c->n_layer <= 1024, "%s: layer count %d out of range (expected 1..1024)", src, c->n_layer);
	REQ(c->n_embd > 0, "%s: embedding size %d must be positive", src, c->n_embd);
	REQ(c->n_head > 0 && c->n_head_kv > 0, "%s: head counts %d/%d must be positive", src, c->n_head, c->n_head_kv);
	REQ(c->n_head % c->n_head_kv == 0, "%s: %d query heads is not a multiple of %d KV heads", src, c->n_head, c->n_head_kv);
	REQ(c->head_dim > 0 && c->head_dim % 2 == 0, "%s: head_dim %d must be positive and even", src, c->head_dim);
	REQ(c->n_ff > 0, "%s: feed-forward size %d must be positive", src, c->n_ff);
	REQ(c->n_vocab > 0, "%s: vocabulary size %d must be positive", src, c->n_vocab);
	REQ(c->norm_eps > 0 && c->norm_eps < 1, "%s: RMSNorm epsilon %g out of range (0, 1)", src, c->norm_eps);
	REQ(c->rope_theta > 0, "%s: rope_theta %g must be positive", src, c->rope_theta);
	if (c->rope_scaling == ROPE_SCALING_LLAMA3) {
		REQ(c->rope_factor > 0 && c->rope_low_freq_factor > 0 && c->rope_high_freq_factor > c->rope_low_freq_factor &&
			    c->rope_orig_max_pos > 0,
		    "%s: llama3 rope scaling needs factor > 0, 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0",
		    src);
	}
	if (c->rope_scaling == ROPE_SCALING_LINEAR)
		REQ(c->rope_factor > 0, "%s: linear rope scaling needs factor > 0", src);
#undef REQ
	return 0;
}

// ----------------------------------------------------------------------------
// arena

static size_t al64(size_t n)
{
	return (n + 15) & ~(size_t)15; /* floats: 64-byte alignment */
}

/* model_alloc's body; untouched: the arena comes from calloc (fresh pages from the
 * kernel, zero without being written) instead of an aligned block cleared by memset. */
static int alloc_arena(const struct model_config *c, bool untouched, struct model **out, char *err, size_t errlen);

int model_alloc(const struct model_config *c, struct model **out, char *err, size_t errlen)
{
	return alloc_arena(c, false, out, err, errlen);
}

int model_alloc_untouched(const struct model_config *c, struct model **out, char *err, size_t errlen)
{
	return alloc_arena(c, true, out, err, errlen);
}

static int alloc_arena(const struct model_config *c, bool untouched, struct model **out, char *err, size_t errlen)
{
	size_t E = c->n_embd, HD = (size_t)c->n_head * c->head_dim, KD = (size_t)c->n_head_kv * c->head_dim;
	size_t F = c->n_ff, V = c->n_vocab;
	size_t per_layer = al64(E) * 2 + al64(HD * E) * 2 + al64(KD * E) * 2 + al64(F * E) * 3;
	size_t total = al64(V * E) * (c->tied_embd ? 1 : 2) + al64(E) + al64(c->head_dim / 2) + per_layer * c->n_layer;
	struct model *m = calloc(1, sizeof(*m));
	if (!m)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory for the model");
	m->layers = calloc(c->n_layer, sizeof(*m->layers));
	m->arena = NULL;
	if (m->layers && untouched) {
		m->arena = calloc(total, sizeof(float));
		kv_huge_advise(m->arena, total * sizeof(float)); /* before the first touch */
	} else if (m->layers) {
		m->arena = kv_huge_alloc(total * sizeof(float));
	}
	if (!m->layers || !m->arena) {
		free(m->layers);
		free(m);
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory: the model needs %.1f GiB of fp32 weights",
			       total * 4.0 / (1 << 30));
	}
	if (!untouched)
		memset(m->arena, 0, total * sizeof(float));
	m->arena_bytes = total * sizeof(float);
	m->cfg = *c;
	float *p = m->arena;
#define TAKE(dst, n) do { (dst) = p; p += al64(n); } while (0)
	TAKE(m->tok_embd, V * E);
	if (c->tied_embd)
		m->output = m->tok_embd;
	else
		TAKE(m->output, V * E);
	TAKE(m->out_norm, E);
	TAKE(m->rope_inv_freq, c->head_dim / 2);
	for (int l = 0; l < c->n_layer; l++) {
		struct layer_weights *w = &m->layers[l];
		TAKE(w->attn_norm, E);
		TAKE(w->wq, HD * E);
		TAKE(w->wk, KD * E);
		TAKE(w->wv, KD * E);
		TAKE(w->wo, E * HD);
		TAKE(w->ffn_norm, E);
		TAKE(w->w_gate, F * E);
		TAKE(w->w_up, F * E);
		TAKE(w->w_down, E * F);
	}
#undef TAKE
	*out = m;
	return 0;
}

/* Layers with weights of their own: shared_layers models point every layer at layer 0's. */
static int n_distinct_layers(const struct model *m)
{
	return m->shared_layers ? 1 : m->cfg.n_layer;
}

size_t model_packed_bytes(const struct model *m)
{
	size_t n = qmat_bytes(&m->q_output);
	for (int l = 0; l < n_distinct_layers(m); l++)
		for (int i = 0; i < QW_COUNT; i++)
			n += qmat_bytes(&m->layers[l].q[i]);
	return n;
}

/* The packed copies of m in a fixed order (q_output, then each distinct layer's), into
 * out (room for 1 + layers x QW_COUNT); returns how many. */
static int packed_list(struct model *m, struct qmat **out)
{
	int n = 0;
	out[n++] = &m->q_output;
	for (int l = 0; l < n_distinct_layers(m); l++)
		for (int i = 0; i < QW_COUNT; i++)
			out[n++] = &m->layers[l].q[i];
	return n;
}

static size_t al64b(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

int model_gather_packed(struct model *m, char *err, size_t errlen)
{
	if (m->packed_arena)
		return 0;
	struct qmat **qs = malloc(sizeof(*qs) * (1 + (size_t)n_distinct_layers(m) * QW_COUNT));
	if (!qs)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	int n = packed_list(m, qs);
	size_t total = 0;
	for (int i = 0; i < n; i++)
		total += al64b(qmat_mem_bytes(qs[i]));
	if (total == 0) {
		free(qs);
		return 0;
	}
	char *a = kv_huge_alloc(total);
	if (!a) {
		free(qs);
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory for %.1f MiB of packed weights", total / 1048576.0);
	}
	size_t at = 0;
	for (int i = 0; i < n; i++) {
		size_t b = qmat_mem_bytes(qs[i]);
		if (b) {
			qmat_move_to(qs[i], a + at);
			at += al64b(b);
		}
	}
	m->packed_arena = a;
	free(qs);
	return 0;
}

void model_free(struct model *m)
{
	if (!m)
		return;
	tok_free(m->tok);
	free(m->chat_template);
	free(m->path);
	free(m->file_type);
	qmat_free(&m->q_output);
	for (int l = 0; m->layers && l < n_distinct_layers(m); l++)
		for (int i = 0; i < QW_COUNT; i++)
			qmat_free(&m->layers[l].q[i]);
	free(m->layers);
	free(m->packed_arena);
	free(m->arena);
	free(m);
}

// ----------------------------------------------------------------------------
// RoPE

void model_rope_init(struct model *m, const float *freq_factors)
{
	const struct model_config *c = &m->cfg;
	int half = c->head_dim / 2;
	for (int i = 0; i < half; i++) {
		/* transformers: 1 / base ** (arange(0, D, 2).float() / D), all in fp32 */
		float expo = (float)(2 * i) / (float)c->head_dim;
		float inv = 1.0f / powf(c->rope_theta, expo);
		if (freq_factors) {
			inv = inv / freq_factors[i];
		} else if (c->rope_scaling == ROPE_SCALING_LINEAR) {
			inv = inv / c->rope_factor;
		} else if (c->rope_scaling == ROPE_SCALING_LLAMA3) {
			/* transformers' _compute_llama3_parameters */
			float low_wavelen = (float)c->rope_orig_max_pos / c->rope_low_freq_factor;
			float high_wavelen = (float)c->rope_orig_max_pos / c->rope_high_freq_factor;
			float wavelen = 2.0f * (float)M_PI / inv;
			float scaled = wavelen > low_wavelen ? inv / c->rope_factor : inv;
			float smooth = ((float)c->rope_orig_max_pos / wavelen - c->rope_low_freq_factor) /
				       (c->rope_high_freq_factor - c->rope_low_freq_factor);
			float smoothed = (1.0f - smooth) * scaled / c->rope_factor + smooth * scaled;
			bool medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
			inv = medium ? smoothed : scaled;
		}
		m->rope_inv_freq[i] = inv;
	}
}

int model_chat_init(struct model *m, char *err, size_t errlen)
{
	char cerr[100];
	int rc = chat_detect(m->chat_template, &m->chat, cerr, sizeof(cerr));
	if (rc == KV_ENOMEM)
		return kv_errf(err, errlen, KV_ENOMEM, "%s: %s", m->path ? m->path : "model", cerr);
	if (rc) {
		m->chat.family = CHAT_NONE;
		snprintf(m->chat.detail, sizeof(m->chat.detail), "unrecognised template (%s)", cerr);
	}
	return 0;
}
