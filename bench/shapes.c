/* Model shapes for random-weight benchmarks: the known configurations (numbers from
 * each model's Hugging Face config.json) and a reader for any llama / mistral
 * config.json. Only the shape matters to latency; weights are random. */
#include <cjson/cJSON.h> // cJSON_ParseWithOpts, cJSON_GetObjectItemCaseSensitive
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "base/errors.h" // kv_errf
#include "base/fileio.h" // kv_read_file

/* .n_layer, .n_embd, .n_head, .n_head_kv, .head_dim, .n_ff, .n_vocab as
 * num_hidden_layers, hidden_size, num_attention_heads, num_key_value_heads, head_dim,
 * intermediate_size, vocab_size. */
const struct bench_shape bench_shapes[] = {
	{ "smollm2-135m", "HuggingFaceTB/SmolLM2-135M-Instruct config.json",
	  { .arch = ARCH_LLAMA, .n_layer = 30, .n_embd = 576, .n_head = 9, .n_head_kv = 3, .head_dim = 64, .n_ff = 1536,
	    .n_vocab = 49152, .max_pos = 8192, .norm_eps = 1e-5f, .rope_theta = 100000.0f, .tied_embd = true } },
	{ "llama-3.1-8b", "meta-llama/Llama-3.1-8B-Instruct config.json",
	  { .arch = ARCH_LLAMA, .n_layer = 32, .n_embd = 4096, .n_head = 32, .n_head_kv = 8, .head_dim = 128, .n_ff = 14336,
	    .n_vocab = 128256, .max_pos = 131072, .norm_eps = 1e-5f, .rope_theta = 500000.0f,
	    .rope_scaling = ROPE_SCALING_LLAMA3, .rope_factor = 8.0f, .rope_low_freq_factor = 1.0f,
	    .rope_high_freq_factor = 4.0f, .rope_orig_max_pos = 8192 } },
	{ "ministral-8b", "mistralai/Ministral-8B-Instruct-2410 config.json (sliding window 32768 not modelled)",
	  { .arch = ARCH_MISTRAL, .n_layer = 36, .n_embd = 4096, .n_head = 32, .n_head_kv = 8, .head_dim = 128,
	    .n_ff = 12288, .n_vocab = 131072, .max_pos = 32768, .norm_eps = 1e-5f, .rope_theta = 100000000.0f } },
	{ "mistral-nemo-12b", "mistralai/Mistral-Nemo-Instruct-2407 config.json (the model card's 14,436 is a typo)",
	  { .arch = ARCH_MISTRAL, .n_layer = 40, .n_embd = 5120, .n_head = 32, .n_head_kv = 8, .head_dim = 128,
	    .n_ff = 14336, .n_vocab = 131072, .max_pos = 1024000, .norm_eps = 1e-5f, .rope_theta = 1000000.0f } },
	{ "tiny", "kvlab's test shape (4 layers, GQA 2)",
	  { .arch = ARCH_LLAMA, .n_layer = 4, .n_embd = 64, .n_head = 4, .n_head_kv = 2, .head_dim = 16, .n_ff = 128,
	    .n_vocab = 256, .max_pos = 4096, .norm_eps = 1e-5f, .rope_theta = 10000.0f } },
	{ 0 },
};

const struct bench_shape *bench_shape_find(const char *name)
{
	for (const struct bench_shape *s = bench_shapes; s->name; s++)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

double bench_weight_bytes(const struct model_config *c)
{
	double E = c->n_embd, HD = (double)c->n_head * c->head_dim, KD = (double)c->n_head_kv * c->head_dim;
	double layer = 2 * E + 2 * HD * E + 2 * KD * E + 3 * (double)c->n_ff * E;
	return 4.0 * ((double)c->n_vocab * E * (c->tied_embd ? 1 : 2) + E + c->head_dim / 2 + layer * c->n_layer);
}

// ----------------------------------------------------------------------------
// config.json

/* Reads key as a number into *out; absent (or null) leaves *out and returns 0 when
 * !required. */
static int get_num(const cJSON *o, const char *key, bool required, double *out, const char *path, char *err,
		   size_t errlen)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!it || cJSON_IsNull(it)) {
		if (required)
			return kv_errf(err, errlen, KV_EFORMAT, "%s: missing \"%s\" (needed for the model shape)", path, key);
		return 0;
	}
	if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
		return kv_errf(err, errlen, KV_EFORMAT, "%s: \"%s\" must be a number", path, key);
	*out = it->valuedouble;
	return 0;
}

static int get_int(const cJSON *o, const char *key, bool required, int *out, const char *path, char *err, size_t errlen)
{
	double v = *out;
	int rc = get_num(o, key, required, &v, path, err, errlen);
	if (rc)
		return rc;
	if (v != floor(v) || v < 0 || v > 1e9)
		return kv_errf(err, errlen, KV_EFORMAT, "%s: \"%s\" must be a non-negative integer, got %g", path, key, v);
	*out = (int)v;
	return 0;
}

static int read_rope_scaling(const cJSON *rs, struct model_config *c, const char *path, char *err, size_t errlen)
{
	if (!rs || cJSON_IsNull(rs))
		return 0;
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
	if (!t)
		t = cJSON_GetObjectItemCaseSensitive(rs, "type");
	const char *type = cJSON_IsString(t) ? t->valuestring : NULL;
	double f = 0, lo = 0, hi = 0;
	int orig = 0, rc;
	if (!type)
		return kv_errf(err, errlen, KV_EFORMAT, "%s: \"rope_scaling\" has no \"rope_type\"", path);
	if (strcmp(type, "default") == 0)
		return 0;
	if ((rc = get_num(rs, "factor", true, &f, path, err, errlen)))
		return rc;
	c->rope_factor = (float)f;
	if (strcmp(type, "linear") == 0) {
		c->rope_scaling = ROPE_SCALING_LINEAR;
		return 0;
	}
	if (strcmp(type, "llama3") != 0)
		return kv_errf(err, errlen, KV_EUNSUP, "%s: rope_scaling type '%s' is not supported (expected default, linear or llama3)",
			       path, type);
	if ((rc = get_num(rs, "low_freq_factor", true, &lo, path, err, errlen)) ||
	    (rc = get_num(rs, "high_freq_factor", true, &hi, path, err, errlen)) ||
	    (rc = get_int(rs, "original_max_position_embeddings", true, &orig, path, err, errlen)))
		return rc;
	c->rope_scaling = ROPE_SCALING_LLAMA3;
	c->rope_low_freq_factor = (float)lo;
	c->rope_high_freq_factor = (float)hi;
	c->rope_orig_max_pos = orig;
	return 0;
}

int bench_config_from_json(const char *path, struct model_config *out, char *err, size_t errlen)
{
	char *text = NULL;
	int rc;
	if ((rc = kv_read_file(path, &text, NULL, err, errlen)))
		return rc;
	const char *end = NULL;
	cJSON *o = cJSON_ParseWithOpts(text, &end, true);
	if (!o || !cJSON_IsObject(o)) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: not a JSON object (error near byte %ld)", path,
			     end ? (long)(end - text) : 0L);
		goto out;
	}
	const cJSON *mt = cJSON_GetObjectItemCaseSensitive(o, "model_type");
	const char *type = cJSON_IsString(mt) ? mt->valuestring : "";
	struct model_config c = { 0 };
	if (strcmp(type, "llama") == 0) {
		c.arch = ARCH_LLAMA;
		c.max_pos = 2048; /* transformers' LlamaConfig defaults */
	} else if (strcmp(type, "mistral") == 0) {
		c.arch = ARCH_MISTRAL;
		c.max_pos = 131072; /* MistralConfig: 4096 * 32 */
	} else {
		rc = kv_errf(err, errlen, KV_EUNSUP, "%s: model_type '%s' is not supported (expected llama or mistral)", path, type);
		goto out;
	}
	double eps = 1e-6, theta = 10000.0;
	c.head_dim = -1;
	c.n_head_kv = -1;
	if ((rc = get_int(o, "num_hidden_layers", true, &c.n_layer, path, err, errlen)) ||
	    (rc = get_int(o, "hidden_size", true, &c.n_embd, path, err, errlen)) ||
	    (rc = get_int(o, "num_attention_heads", true, &c.n_head, path, err, errlen)) ||
	    (rc = get_int(o, "intermediate_size", true, &c.n_ff, path, err, errlen)) ||
	    (rc = get_int(o, "vocab_size", true, &c.n_vocab, path, err, errlen)) ||
	    (rc = get_int(o, "max_position_embeddings", false, &c.max_pos, path, err, errlen)) ||
	    (rc = get_num(o, "rms_norm_eps", false, &eps, path, err, errlen)) ||
	    (rc = get_num(o, "rope_theta", false, &theta, path, err, errlen)))
		goto out;
	const cJSON *kvh = cJSON_GetObjectItemCaseSensitive(o, "num_key_value_heads");
	if (kvh && !cJSON_IsNull(kvh) && (rc = get_int(o, "num_key_value_heads", true, &c.n_head_kv, path, err, errlen)))
		goto out;
	const cJSON *hd = cJSON_GetObjectItemCaseSensitive(o, "head_dim");
	if (hd && !cJSON_IsNull(hd) && (rc = get_int(o, "head_dim", true, &c.head_dim, path, err, errlen)))
		goto out;
	if (c.n_head <= 0) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: num_attention_heads must be positive", path);
		goto out;
	}
	if (c.n_head_kv < 0)
		c.n_head_kv = c.n_head;
	if (c.head_dim < 0)
		c.head_dim = c.n_embd / c.n_head;
	c.norm_eps = (float)eps;
	c.rope_theta = (float)theta;
	const cJSON *tie = cJSON_GetObjectItemCaseSensitive(o, "tie_word_embeddings");
	c.tied_embd = cJSON_IsTrue(tie);
	if ((rc = read_rope_scaling(cJSON_GetObjectItemCaseSensitive(o, "rope_scaling"), &c, path, err, errlen)) ||
	    (rc = model_config_validate(&c, path, err, errlen)))
		goto out;
	*out = c;
	rc = 0;
out:
	cJSON_Delete(o);
	free(text);
	return rc;
}
