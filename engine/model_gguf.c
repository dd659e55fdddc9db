/* GGUF model loader for the llama/mistral architectures: reads every shape from
 * metadata, dequantises all tensors to fp32 and undoes the Q/K row permutation
 * that llama.cpp's converter applies, so the weights are in Hugging Face order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"    // kv_errf
#include "engine/gguf.h"      // gguf_open, gguf_get_*
#include "engine/model.h"     // struct model, model_alloc
#include "engine/quant.h"     // quant_dequant_row
#include "engine/tokenizer.h" // tok_load_gguf

// ----------------------------------------------------------------------------
// metadata

static int get_req_int(const struct gguf_file *g, const char *arch, const char *suffix, int *out, char *err, size_t errlen)
{
	char key[128];
	int64_t v;
	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	if (!gguf_get_int(g, key, &v))
		return kv_errf(err, errlen, KV_EFORMAT, "%s: missing integer metadata '%s'", g->path, key);
	if (v <= 0 || v > (1 << 30))
		return kv_errf(err, errlen, KV_EFORMAT, "%s: metadata '%s' = %lld out of range", g->path, key, (long long)v);
	*out = (int)v;
	return 0;
}

/* An optional positive integer: def when the key is absent; present but not an integer in
 * [1, 2^30] is an error naming the key (never silently the default). */
static int get_opt_int(const struct gguf_file *g, const char *arch, const char *suffix, int def, int *out, char *err,
		       size_t errlen)
{
	char key[128];
	int64_t v;
	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	if (!gguf_find(g, key)) {
		*out = def;
		return 0;
	}
	if (!gguf_get_int(g, key, &v))
		return kv_errf(err, errlen, KV_EFORMAT, "%s: metadata '%s' is not an integer", g->path, key);
	if (v <= 0 || v > (1 << 30))
		return kv_errf(err, errlen, KV_EFORMAT, "%s: metadata '%s' = %lld out of range (expected 1..%d)", g->path, key,
			       (long long)v, 1 << 30);
	*out = (int)v;
	return 0;
}

static double get_opt_float(const struct gguf_file *g, const char *arch, const char *suffix, double def)
{
	char key[128];
	double v;
	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	return gguf_get_float(g, key, &v) ? v : def;
}

static int read_config(const struct gguf_file *g, struct model_config *c, char *err, size_t errlen)
{
	int rc;
	char *arch = gguf_get_strdup(g, "general.architecture");
	if (!arch)
		return kv_errf(err, errlen, KV_EFORMAT, "%s: missing 'general.architecture'", g->path);
	memset(c, 0, sizeof(*c));
	if (strcmp(arch, "llama") == 0) {
		c->arch = ARCH_LLAMA;
	} else if (strcmp(arch, "mistral") == 0) {
		c->arch = ARCH_MISTRAL;
	} else {
		rc = kv_errf(err, errlen, KV_EUNSUP, "%s: architecture '%s' is not supported (expected llama or mistral)", g->path, arch);
		goto out;
	}
	if ((rc = get_req_int(g, arch, "block_count", &c->n_layer, err, errlen)) ||
	    (rc = get_req_int(g, arch, "embedding_length", &c->n_embd, err, errlen)) ||
	    (rc = get_req_int(g, arch, "feed_forward_length", &c->n_ff, err, errlen)) ||
	    (rc = get_req_int(g, arch, "attention.head_count", &c->n_head, err, errlen)))
		goto out;
	int vdim, rope_dim;
	if ((rc = get_opt_int(g, arch, "attention.head_count_kv", c->n_head, &c->n_head_kv, err, errlen)) ||
	    (rc = get_opt_int(g, arch, "attention.key_length", c->n_embd / c->n_head, &c->head_dim, err, errlen)) ||
	    (rc = get_opt_int(g, arch, "attention.value_length", c->head_dim, &vdim, err, errlen)) ||
	    (rc = get_opt_int(g, arch, "rope.dimension_count", c->head_dim, &rope_dim, err, errlen)) ||
	    (rc = get_opt_int(g, arch, "context_length", 4096, &c->max_pos, err, errlen)))
		goto out;
	if (vdim != c->head_dim) {
		rc = kv_errf(err, errlen, KV_EUNSUP, "%s: value head size %d differs from key head size %d (not supported)",
			     g->path, vdim, c->head_dim);
		goto out;
	}
	if (rope_dim != c->head_dim) {
		rc = kv_errf(err, errlen, KV_EUNSUP, "%s: partial rotary embedding (%d of %d dims) is not supported",
			     g->path, rope_dim, c->head_dim);
		goto out;
	}
	c->norm_eps = (float)get_opt_float(g, arch, "attention.layer_norm_rms_epsilon", 1e-5);
	c->rope_theta = (float)get_opt_float(g, arch, "rope.freq_base", 10000.0);
	if ((rc = get_opt_int(g, arch, "vocab_size", 0, &c->n_vocab, err, errlen))) /* 0: from token_embd below */
		goto out;

	char key[128];
	snprintf(key, sizeof(key), "%s.rope.scaling.type", arch);
	char *stype = gguf_get_strdup(g, key);
	if (stype && strcmp(stype, "none") != 0) {
		if (strcmp(stype, "linear") == 0) {
			c->rope_scaling = ROPE_SCALING_LINEAR;
			c->rope_factor = (float)get_opt_float(g, arch, "rope.scaling.factor", 1.0);
		} else {
			rc = kv_errf(err, errlen, KV_EUNSUP, "%s: rope scaling '%s' is not supported (expected none, linear, or llama3 via rope_freqs)",
				     g->path, stype);
			free(stype);
			goto out;
		}
	}
	free(stype);
	rc = 0;
out:
	free(arch);
	return rc;
}

// ----------------------------------------------------------------------------
// tensors

/* Dequantises the tensor name, checking it is (rows, cols) in HF terms (ggml ne = {cols, rows});
 * when q is given and the type has a block-quantised form, also fills *q (engine/qmat.h).
 * dst NULL: only the checks (before any weight memory is allocated). */
static int load_tensor(const struct gguf_file *g, const char *name, int64_t rows, int64_t cols, float *dst,
		       struct qmat *q, char *err, size_t errlen)
{
	const struct gguf_tensor *t = gguf_find_tensor(g, name);
	if (!t)
		return kv_errf(err, errlen, KV_EFORMAT, "%s: missing tensor '%s'", g->path, name);
	if (!quant_supported(t->type))
		return kv_errf(err, errlen, KV_EUNSUP,
			       "%s: tensor '%s' has type %s (%u), which kvlab cannot read (expected F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K or Q6_K)",
			       g->path, name, ggml_dtype_name(t->type), t->type);
	int64_t ne1 = (int64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
	if ((int64_t)t->ne[0] != cols || ne1 != rows)
		return kv_errf(err, errlen, KV_EFORMAT, "%s: tensor '%s' has shape [%llu, %llu], expected [%lld, %lld]",
			       g->path, name, (unsigned long long)t->ne[0], (unsigned long long)ne1, (long long)cols, (long long)rows);
	if (!dst)
		return 0;
	size_t rb = quant_row_bytes(t->type, cols);
	const uint8_t *src = t->data;
#pragma omp parallel for schedule(static)
	for (int64_t r = 0; r < rows; r++)
		quant_dequant_row(t->type, src + (size_t)r * rb, dst + r * cols, cols);
	if (q && qmat_type_of_ggml(t->type) != QMAT_NONE && qmat_from_ggml(q, t->type, src, (int)rows, (int)cols))
		return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", g->path);
	return 0;
}

/* llama.cpp stores Q/K rows of each head as interleaved pairs (i, j) -> row 2i + j;
 * Hugging Face keeps halves: row j*(D/2) + i. The file's row within a head that row k
 * (Hugging Face's order) comes from. */
static int unpermuted_from(int k, int head_dim)
{
	int half = head_dim / 2;
	return 2 * (k % half) + k / half;
}

/* Reorders rows of row_bytes in place per head, as unpermuted_from says. */
static int unpermute_rows(void *w, int n_head, int head_dim, size_t row_bytes)
{
	char *tmp = malloc((size_t)head_dim * row_bytes);
	if (!tmp)
		return KV_ENOMEM;
	for (int h = 0; h < n_head; h++) {
		char *blk = (char *)w + (size_t)h * head_dim * row_bytes;
		memcpy(tmp, blk, (size_t)head_dim * row_bytes);
		for (int k = 0; k < head_dim; k++)
			memcpy(blk + (size_t)k * row_bytes, tmp + (size_t)unpermuted_from(k, head_dim) * row_bytes, row_bytes);
	}
	free(tmp);
	return 0;
}

/* unpermute_rows on the fp32 matrix (cols wide), and the same moves on its
 * block-quantised copy, if any (qmat_reorder_rows: its rows interleave). */
static int unpermute_qk(float *w, struct qmat *q, int n_head, int head_dim, int cols)
{
	if (unpermute_rows(w, n_head, head_dim, (size_t)cols * sizeof(float)))
		return KV_ENOMEM;
	if (q->type == QMAT_NONE)
		return 0;
	int *from = malloc(sizeof(*from) * (size_t)q->rows);
	if (!from)
		return KV_ENOMEM;
	for (int r = 0; r < q->rows; r++)
		from[r] = r - r % head_dim + unpermuted_from(r % head_dim, head_dim);
	int rc = qmat_reorder_rows(q, from);
	free(from);
	return rc;
}

/* Loads every weight of config c into m; with m NULL only checks that each tensor is there
 * with its shape and a readable type, so a header that claims shapes its tensors do not
 * have fails before the weights' memory is allocated. */
static int load_weights(const struct gguf_file *g, const struct model_config *c, struct model *m, char *err, size_t errlen)
{
	int E = c->n_embd, D = c->head_dim, F = c->n_ff;
	int rc;
	char name[96];
	if ((rc = load_tensor(g, "token_embd.weight", c->n_vocab, E, m ? m->tok_embd : NULL,
			      m && c->tied_embd ? &m->q_output : NULL, err, errlen)) ||
	    (rc = load_tensor(g, "output_norm.weight", 1, E, m ? m->out_norm : NULL, NULL, err, errlen)))
		return rc;
	if (!c->tied_embd &&
	    (rc = load_tensor(g, "output.weight", c->n_vocab, E, m ? m->output : NULL, m ? &m->q_output : NULL, err, errlen)))
		return rc;
	static const struct layer_weights none = { 0 };
	for (int l = 0; l < c->n_layer; l++) {
		struct layer_weights *w = m ? &m->layers[l] : NULL;
		const struct layer_weights *r = w ? w : &none;
		struct { const char *n; int64_t rows, cols; float *dst; struct qmat *q; } tabs[] = {
			{ "attn_norm", 1, E, r->attn_norm, NULL },
			{ "attn_q", (int64_t)c->n_head * D, E, r->wq, w ? &w->q[QW_Q] : NULL },
			{ "attn_k", (int64_t)c->n_head_kv * D, E, r->wk, w ? &w->q[QW_K] : NULL },
			{ "attn_v", (int64_t)c->n_head_kv * D, E, r->wv, w ? &w->q[QW_V] : NULL },
			{ "attn_output", E, (int64_t)c->n_head * D, r->wo, w ? &w->q[QW_O] : NULL },
			{ "ffn_norm", 1, E, r->ffn_norm, NULL },
			{ "ffn_gate", F, E, r->w_gate, w ? &w->q[QW_GATE] : NULL },
			{ "ffn_up", F, E, r->w_up, w ? &w->q[QW_UP] : NULL },
			{ "ffn_down", E, F, r->w_down, w ? &w->q[QW_DOWN] : NULL },
		};
		for (size_t i = 0; i < sizeof(tabs) / sizeof(tabs[0]); i++) {
			snprintf(name, sizeof(name), "blk.%d.%s.weight", l, tabs[i].n);
			if ((rc = load_tensor(g, name, tabs[i].rows, tabs[i].cols, tabs[i].dst, tabs[i].q, err, errlen)))
				return rc;
		}
		if (w && (unpermute_qk(w->wq, &w->q[QW_Q], c->n_head, D, E) || unpermute_qk(w->wk, &w->q[QW_K], c->n_head_kv, D, E)))
			return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", g->path);
	}
	return 0;
}

/* The storage type most tensors use, e.g. "Q4_1 (210), F32 (61), Q8_0 (1)". */
static char *summarise_types(const struct gguf_file *g)
{
	int counts[64] = {0};
	char buf[256] = "";
	for (uint64_t i = 0; i < g->n_tensors; i++)
		if (g->tensors[i].type < 64)
			counts[g->tensors[i].type]++;
	for (int pass = 0; pass < 64; pass++) {
		int best = -1;
		for (int t = 0; t < 64; t++)
			if (counts[t] > 0 && (best < 0 || counts[t] > counts[best]))
				best = t;
		if (best < 0)
			break;
		size_t n = strlen(buf);
		snprintf(buf + n, sizeof(buf) - n, "%s%s (%d)", n ? ", " : "", ggml_dtype_name((uint32_t)best), counts[best]);
		counts[best] = 0;
	}
	return strdup(buf);
}

int model_load_gguf(const char *path, struct model **out, char *err, size_t errlen)
{
	struct gguf_file *g = NULL;
	struct model *m = NULL;
	struct model_config c;
	float *ff = NULL;
	int rc;
	if ((rc = gguf_open(path, &g, err, errlen)))
		return rc;
	if ((rc = read_config(g, &c, err, errlen)))
		goto out_close;
	const struct gguf_tensor *te = gguf_find_tensor(g, "token_embd.weight");
	if (!te) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: missing tensor 'token_embd.weight'", path);
		goto out_close;
	}
	if (!c.n_vocab)
		c.n_vocab = (int)te->ne[1];
	c.tied_embd = gguf_find_tensor(g, "output.weight") == NULL;
	const struct gguf_tensor *rf = gguf_find_tensor(g, "rope_freqs.weight");
	if (rf) {
		/* Llama-3.1-style scaling, precomputed by the converter as per-frequency divisors */
		c.rope_scaling = ROPE_SCALING_LLAMA3;
		if (rf->ne[0] != (uint64_t)c.head_dim / 2 || rf->type != GGML_DT_F32) {
			rc = kv_errf(err, errlen, KV_EFORMAT, "%s: rope_freqs.weight must be F32 [%d]", path, c.head_dim / 2);
			goto out_close;
		}
		ff = malloc(sizeof(float) * (size_t)c.head_dim / 2);
		if (!ff) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", path);
			goto out_close;
		}
		memcpy(ff, rf->data, sizeof(float) * (size_t)c.head_dim / 2);
	}
	if ((rc = model_config_validate(&c, path, err, errlen)) || (rc = load_weights(g, &c, NULL, err, errlen)))
		goto out_close;
	if ((rc = model_alloc(&c, &m, err, errlen)))
		goto out_close;
	m->source = MODEL_SRC_GGUF;
	m->path = strdup(path);
	m->file_type = summarise_types(g);
	if (!m->path || !m->file_type) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", path);
		goto out_free_model;
	}
	if ((rc = load_weights(g, &m->cfg, m, err, errlen)) || (rc = model_gather_packed(m, err, errlen)))
		goto out_free_model;
	model_rope_init(m, ff);
	if ((rc = tok_load_gguf(g, &m->tok, err, errlen)))
		goto out_free_model;
	if (tok_n_vocab(m->tok) > c.n_vocab) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: tokenizer has %d tokens but the embedding only %d rows",
			     path, tok_n_vocab(m->tok), c.n_vocab);
		goto out_free_model;
	}
	m->chat_template = gguf_get_strdup(g, "tokenizer.chat_template");
	if (!m->chat_template && gguf_find(g, "tokenizer.chat_template")) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory for the chat template", path);
		goto out_free_model;
	}
	if ((rc = model_chat_init(m, err, errlen)))
		goto out_free_model;
	*out = m;
	m = NULL;
	rc = 0;
out_free_model:
	model_free(m);
out_close:
	free(ff);
	gguf_close(g);
	return rc;
}
