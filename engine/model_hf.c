/* Hugging Face folder loader for LlamaForCausalLM / MistralForCausalLM: config.json
 * (transformers 4.x keys rope_theta + rope_scaling, or 5.x rope_parameters), weights
 * from model.safetensors or the shards named in model.safetensors.index.json (F32,
 * F16, BF16 -> fp32), tokenizer.json (or tekken.json) + tokenizer_config.json, and the
 * chat template (chat_template.jinja, else tokenizer_config.json's "chat_template",
 * the precedence transformers uses). Defaults follow transformers' LlamaConfig and
 * MistralConfig. HF layout is the engine's layout: no permutation.
 * L = n_layer, E = n_embd, H = n_head, Hkv = n_head_kv, D = head_dim, F = n_ff, V = n_vocab */
#include <cjson/cJSON.h> // cJSON_ParseWithOpts, cJSON_GetObjectItemCaseSensitive
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/errors.h"      // kv_errf
#include "base/fileio.h"      // kv_read_file
#include "engine/model.h"       // struct model, model_alloc, model_rope_init
#include "engine/safetensors.h" // safetensors_open, safetensors_read_f32
#include "engine/tokenizer.h"   // tok_load_json

#define PATH_MAX_HF 4096

static bool is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* dir + "/" + name into buf; KV_EINVAL when it does not fit. */
static int join(char *buf, size_t n, const char *dir, const char *name, char *err, size_t errlen)
{
	size_t dl = strlen(dir);
	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	if ((size_t)snprintf(buf, n, "%.*s/%s", (int)dl, dir, name) >= n)
		return kv_errf(err, errlen, KV_EINVAL, "%s/%s: path too long", dir, name);
	return 0;
}

static int parse_json_file(const char *path, cJSON **out, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	int rc;
	if ((rc = kv_read_file(path, &text, &len, err, errlen)))
		return rc;
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
	if (!root) {
		long long at = end ? (long long)(end - text) : -1;
		free(text);
		return kv_errf(err, errlen, KV_EFORMAT, "%s: invalid JSON near byte %lld of %zu", path, at, len);
	}
	free(text);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return kv_errf(err, errlen, KV_EFORMAT, "%s: expected a JSON object at the top level", path);
	}
	*out = root;
	return 0;
}

// ----------------------------------------------------------------------------
// config.json

/* A present, non-null key (null counts as absent, as in transformers' configs). */
static const cJSON *jget(const cJSON *o, const char *key)
{
	const cJSON *j = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
	return j && !cJSON_IsNull(j) ? j : NULL;
}

/* Integer key: *out = value, or def when absent (def < 0: required). */
static int cfg_int(const char *path, const cJSON *o, const char *key, int def, int *out, char *err, size_t errlen)
{
	const cJSON *j = jget(o, key);
	if (!j) {
		if (def < 0)
			return kv_errf(err, errlen, KV_EFORMAT, "%s: missing \"%s\" (expected a positive integer)", path, key);
		*out = def;
		return 0;
	}
	double d = cJSON_IsNumber(j) ? j->valuedouble : NAN;
	if (!(d >= 1 && d <= (1 << 30)) || floor(d) != d)
		return kv_errf(err, errlen, KV_EFORMAT, "%s: \"%s\" must be a positive integer", path, key);
	*out = (int)d;
	return 0;
}

static int cfg_float(const char *path, const cJSON *o, const char *key, double def, double *out, char *err, size_t errlen)
{
	const cJSON *j = jget(o, key);
	if (!j) {
		if (isnan(def))
			return kv_errf(err, errlen, KV_EFORMAT, "%s: missing \"%s\" (expected a number)", path, key);
		*out = def;
		return 0;
	}
	if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble))
		return kv_errf(err, errlen, KV_EFORMAT, "%s: \"%s\" must be a number", path, key);
	*out = j->valuedouble;
	return 0;
}

static int cfg_bool(const char *path, const cJSON *o, const char *key, bool def, bool *out, char *err, size_t errlen)
{
	const cJSON *j = jget(o, key);
	if (!j) {
		*out = def;
		return 0;
	}
	if (!cJSON_IsBool(j))
		return kv_errf(err, errlen, KV_EFORMAT, "%s: \"%s\" must be true or false", path, key);
	*out = cJSON_IsTrue(j);
	return 0;
}

static int read_arch(const char *path, const cJSON *root, struct model_config *c, char *err, size_t errlen)
{
	const cJSON *archs = jget(root, "architectures"), *mt = jget(root, "model_type");
	const char *arch = NULL;
	if (archs) {
		const cJSON *a0 = cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : NULL;
		if (!cJSON_IsString(a0) || cJSON_GetArraySize(archs) != 1)
			return kv_errf(err, errlen, KV_EFORMAT, "%s: \"architectures\" must be a list of one class name", path);
		arch = a0->valuestring;
		if (strcmp(arch, "LlamaForCausalLM") == 0)
			c->arch = ARCH_LLAMA;
		else if (strcmp(arch, "MistralForCausalLM") == 0)
			c->arch = ARCH_MISTRAL;
		else
			return kv_errf(err, errlen, KV_EUNSUP,
				       "%s: architecture '%s' is not supported (expected LlamaForCausalLM or MistralForCausalLM)",
				       path, arch);
	}
	if (mt) {
		if (!cJSON_IsString(mt))
			return kv_errf(err, errlen, KV_EFORMAT, "%s: \"model_type\" must be a string", path);
		enum model_arch t;
		if (strcmp(mt->valuestring, "llama") == 0)
			t = ARCH_LLAMA;
		else if (strcmp(mt->valuestring, "mistral") == 0)
			t = ARCH_MISTRAL;
		else
			return kv_errf(err, errlen, KV_EUNSUP, "%s: model_type '%s' is not supported (expected llama or mistral)",
				       path, mt->valuestring);
		if (arch && t != c->arch)
			return kv_errf(err, errlen, KV_EFORMAT, "%s: model_type '%s' does not match architecture '%s'",
				       path, mt->valuestring, arch);
		c->arch = t;
	} else if (!arch) {
		return kv_errf(err, errlen, KV_EFORMAT, "%s: neither \"architectures\" nor \"model_type\" given", path);
	}
	return 0;
}

/* rope_theta and scaling: transformers 5 writes "rope_parameters" {rope_type, rope_theta,
 * factor, ...}; 4.x wrote top-level "rope_theta" and "rope_scaling" {type|rope_type, ...}. */
static int read_rope(const char *path, const cJSON *root, struct model_config *c, char *err, size_t errlen)
{
	const cJSON *rp = jget(root, "rope_parameters");
	const cJSON *rs = rp ? rp : jget(root, "rope_scaling");
	const char *key = rp ? "rope_parameters" : "rope_scaling";
	double theta = 10000.0, v;
	int rc;
	if ((rc = cfg_float(path, root, "rope_theta", theta, &theta, err, errlen)))
		return rc;
	c->rope_scaling = ROPE_SCALING_NONE;
	if (rs) {
		if (!cJSON_IsObject(rs))
			return kv_errf(err, errlen, KV_EFORMAT, "%s: \"%s\" must be an object or null", path, key);
		if ((rc = cfg_float(path, rs, "rope_theta", theta, &theta, err, errlen)))
			return rc;
		const cJSON *ty = jget(rs, "rope_type");
		if (!ty)
			ty = jget(rs, "type");
		const char *t = cJSON_IsString(ty) ? ty->valuestring : NULL;
		if (ty && !t)
			return kv_errf(err, errlen, KV_EFORMAT, "%s: %s.rope_type must be a string", path, key);
		if (!t || strcmp(t, "default") == 0) {
			c->rope_scaling = ROPE_SCALING_NONE;
		} else if (strcmp(t, "llama3") == 0) {
			c->rope_scaling = ROPE_SCALING_LLAMA3;
			if ((rc = cfg_float(path, rs, "factor", NAN, &v, err, errlen)))
				return rc;
			c->rope_factor = (float)v;
			if ((rc = cfg_float(path, rs, "low_freq_factor", NAN, &v, err, errlen)))
				return rc;
			c->rope_low_freq_factor = (float)v;
			if ((rc = cfg_float(path, rs, "high_freq_factor", NAN, &v, err, errlen)))
				return rc;
			c->rope_high_freq_factor = (float)v;
			if ((rc = cfg_int(path, rs, "original_max_position_embeddings", -1, &c->rope_orig_max_pos, err, errlen)))
				return rc;
		} else if (strcmp(t, "linear") == 0) {
			c->rope_scaling = ROPE_SCALING_LINEAR;
			if ((rc = cfg_float(path, rs, "factor", NAN, &v, err, errlen)))
				return rc;
			c->rope_factor = (float)v;
		} else {
			return kv_errf(err, errlen, KV_EUNSUP, "%s: rope type '%s' is not supported (expected default, llama3 or linear)",
				       path, t);
		}
	}
	c->rope_theta = (float)theta;
	return 0;
}

static int read_config(const char *path, const cJSON *root, struct model_config *c, char *err, size_t errlen)
{
	int rc;
	double eps;
	const cJSON *j;
	memset(c, 0, sizeof(*c));
	if ((rc = read_arch(path, root, c, err, errlen)))
		return rc;
	bool mistral = c->arch == ARCH_MISTRAL;
	if ((rc = cfg_int(path, root, "hidden_size", -1, &c->n_embd, err, errlen)) ||
	    (rc = cfg_int(path, root, "num_hidden_layers", -1, &c->n_layer, err, errlen)) ||
	    (rc = cfg_int(path, root, "num_attention_heads", -1, &c->n_head, err, errlen)) ||
	    (rc = cfg_int(path, root, "intermediate_size", -1, &c->n_ff, err, errlen)) ||
	    (rc = cfg_int(path, root, "vocab_size", -1, &c->n_vocab, err, errlen)) ||
	    (rc = cfg_int(path, root, "num_key_value_heads", c->n_head, &c->n_head_kv, err, errlen)) ||
	    (rc = cfg_int(path, root, "head_dim", c->n_embd / c->n_head, &c->head_dim, err, errlen)) ||
	    (rc = cfg_int(path, root, "max_position_embeddings", mistral ? 4096 * 32 : 2048, &c->max_pos, err, errlen)) ||
	    (rc = cfg_float(path, root, "rms_norm_eps", 1e-6, &eps, err, errlen)) ||
	    (rc = cfg_bool(path, root, "tie_word_embeddings", false, &c->tied_embd, err, errlen)) ||
	    (rc = read_rope(path, root, c, err, errlen)))
		return rc;
	c->norm_eps = (float)eps;
	if ((j = jget(root, "hidden_act")) && !(cJSON_IsString(j) && strcmp(j->valuestring, "silu") == 0))
		return kv_errf(err, errlen, KV_EUNSUP, "%s: hidden_act '%s' is not supported (expected silu)", path,
			       cJSON_IsString(j) ? j->valuestring : "?");
	bool bias;
	if ((rc = cfg_bool(path, root, "attention_bias", false, &bias, err, errlen)))
		return rc;
	if (bias)
		return kv_errf(err, errlen, KV_EUNSUP, "%s: attention_bias true is not supported (no bias terms in kvlab)", path);
	if ((rc = cfg_bool(path, root, "mlp_bias", false, &bias, err, errlen)))
		return rc;
	if (bias)
		return kv_errf(err, errlen, KV_EUNSUP, "%s: mlp_bias true is not supported (no bias terms in kvlab)", path);
	/* Mistral's sliding window: the engine attends to the whole cache, which equals
	 * transformers' windowed attention while the sequence fits in the window, so the
	 * usable context is capped there rather than silently diverging beyond it. */
	int window;
	if (mistral && (rc = cfg_int(path, root, "sliding_window", 0, &window, err, errlen)) == 0 && window > 0 &&
	    window < c->max_pos)
		c->max_pos = window;
	return rc;
}

// ----------------------------------------------------------------------------
// weights

struct shards {
	int n;
	struct st_file **files;   /* (n,) */
	cJSON *index;             /* weight_map of model.safetensors.index.json, or NULL */
	char index_path[PATH_MAX_HF];
	unsigned dtypes_seen;     /* bit per enum st_dtype */
};

static void shards_close(struct shards *s)
{
	for (int i = 0; i < s->n; i++)
		safetensors_close(s->files[i]);
	free(s->files);
	cJSON_Delete(s->index);
}

static int shards_add(struct shards *s, const char *path, char *err, size_t errlen)
{
	struct st_file **files = realloc(s->files, sizeof(*files) * (size_t)(s->n + 1));
	if (!files)
		return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", path);
	s->files = files;
	int rc = safetensors_open(path, &s->files[s->n], err, errlen);
	if (rc == 0)
		s->n++;
	return rc;
}

/* Opens model.safetensors, else every file the index's weight_map names (each once);
 * transformers looks for them in this order too. */
static int shards_open(const char *dir, struct shards *s, char *err, size_t errlen)
{
	char path[PATH_MAX_HF];
	int rc;
	memset(s, 0, sizeof(*s));
	if ((rc = join(path, sizeof(path), dir, "model.safetensors", err, errlen)))
		return rc;
	if (is_file(path))
		return shards_add(s, path, err, errlen);
	if ((rc = join(s->index_path, sizeof(s->index_path), dir, "model.safetensors.index.json", err, errlen)) ||
	    (rc = join(path, sizeof(path), dir, "pytorch_model.bin", err, errlen)))
		return rc;
	if (!is_file(s->index_path)) {
		s->index_path[0] = 0;
		return kv_errf(err, errlen, KV_EIO,
			       "%s: no model.safetensors or model.safetensors.index.json (expected Hugging Face safetensors weights%s)",
			       dir, is_file(path) ? "; pytorch_model.bin is not supported" : "");
	}
	cJSON *root = NULL;
	if ((rc = parse_json_file(s->index_path, &root, err, errlen)))
		return rc;
	cJSON *wm = cJSON_DetachItemFromObjectCaseSensitive(root, "weight_map");
	cJSON_Delete(root);
	if (!cJSON_IsObject(wm)) {
		cJSON_Delete(wm);
		return kv_errf(err, errlen, KV_EFORMAT, "%s: expected a \"weight_map\" object {tensor: file}", s->index_path);
	}
	s->index = wm;
	for (const cJSON *e = wm->child; e; e = e->next) {
		if (!cJSON_IsString(e) || !*e->valuestring || strchr(e->valuestring, '/') || e->valuestring[0] == '.')
			return kv_errf(err, errlen, KV_EFORMAT, "%s: weight_map[\"%s\"] must be a file name in the folder",
				       s->index_path, e->string);
		bool seen = false;
		for (const cJSON *p = wm->child; p != e && !seen; p = p->next)
			seen = strcmp(p->valuestring, e->valuestring) == 0;
		if (seen)
			continue;
		if ((rc = join(path, sizeof(path), dir, e->valuestring, err, errlen)))
			return rc;
		if (!is_file(path))
			return kv_errf(err, errlen, KV_EIO, "%s: shard '%s' named by %s is missing", path, e->valuestring,
				       s->index_path);
		if ((rc = shards_add(s, path, err, errlen)))
			return rc;
	}
	if (s->n == 0)
		return kv_errf(err, errlen, KV_EFORMAT, "%s: weight_map names no tensors", s->index_path);
	return 0;
}

/* Finds name (via the index when there is one), checks its shape is exactly
 * (rows, cols) (cols == 0: a vector of rows), and converts it to fp32 into dst (dst NULL:
 * only the checks, before any weight memory is allocated). */
static int load_tensor(struct shards *s, const char *name, int64_t rows, int64_t cols, float *dst, char *err, size_t errlen)
{
	const struct st_file *f = NULL;
	const struct st_tensor *t = NULL;
	if (s->index) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(s->index, name);
		if (!e)
			return kv_errf(err, errlen, KV_EFORMAT, "%s: missing tensor '%s' (not in weight_map)", s->index_path, name);
		for (int i = 0; i < s->n && !f; i++) {
			const char *base = strrchr(s->files[i]->path, '/');
			if (strcmp(base ? base + 1 : s->files[i]->path, e->valuestring) == 0)
				f = s->files[i];
		}
		if (!f || !(t = safetensors_find(f, name)))
			return kv_errf(err, errlen, KV_EFORMAT, "%s: missing tensor '%s' (weight_map names this file)",
				       f ? f->path : e->valuestring, name);
	} else {
		f = s->files[0];
		if (!(t = safetensors_find(f, name)))
			return kv_errf(err, errlen, KV_EFORMAT, "%s: missing tensor '%s'", f->path, name);
	}
	bool ok = cols ? t->n_dims == 2 && t->shape[0] == rows && t->shape[1] == cols
		       : t->n_dims == 1 && t->shape[0] == rows;
	if (!ok) {
		char got[128] = "";
		for (int i = 0, n = 0; i < t->n_dims && n < (int)sizeof(got) - 24; i++)
			n += snprintf(got + n, sizeof(got) - n, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
		if (cols)
			return kv_errf(err, errlen, KV_EFORMAT, "%s: tensor '%s' has shape [%s], expected [%lld, %lld] from config.json",
				       f->path, name, got, (long long)rows, (long long)cols);
		return kv_errf(err, errlen, KV_EFORMAT, "%s: tensor '%s' has shape [%s], expected [%lld] from config.json",
			       f->path, name, got, (long long)rows);
	}
	if (!dst)
		return 0;
	int rc = safetensors_read_f32(f, t, dst, err, errlen);
	if (rc == 0)
		s->dtypes_seen |= 1u << t->dtype;
	return rc;
}

/* Loads every weight of config c into m; with m NULL only checks that each tensor is there
 * with its shape, so a config.json that claims shapes its tensors do not have fails before
 * the weights' memory is allocated. */
static int load_weights(struct shards *s, const struct model_config *c, struct model *m, char *err, size_t errlen)
{
	int64_t E = c->n_embd, D = c->head_dim, F = c->n_ff, V = c->n_vocab;
	int rc;
	char name[128];
	if ((rc = load_tensor(s, "model.embed_tokens.weight", V, E, m ? m->tok_embd : NULL, err, errlen)) ||
	    (rc = load_tensor(s, "model.norm.weight", E, 0, m ? m->out_norm : NULL, err, errlen)))
		return rc;
	/* tied: transformers ignores a stored lm_head.weight and uses the embeddings */
	if (!c->tied_embd && (rc = load_tensor(s, "lm_head.weight", V, E, m ? m->output : NULL, err, errlen)))
		return rc;
	static const struct layer_weights none = { 0 };
	for (int l = 0; l < c->n_layer; l++) {
		const struct layer_weights *w = m ? &m->layers[l] : &none;
		const struct { const char *n; int64_t rows, cols; float *dst; } tabs[] = {
			{ "input_layernorm", E, 0, w->attn_norm },
			{ "self_attn.q_proj", c->n_head * D, E, w->wq },
			{ "self_attn.k_proj", c->n_head_kv * D, E, w->wk },
			{ "self_attn.v_proj", c->n_head_kv * D, E, w->wv },
			{ "self_attn.o_proj", E, c->n_head * D, w->wo },
			{ "post_attention_layernorm", E, 0, w->ffn_norm },
			{ "mlp.gate_proj", F, E, w->w_gate },
			{ "mlp.up_proj", F, E, w->w_up },
			{ "mlp.down_proj", E, F, w->w_down },
		};
		for (size_t i = 0; i < sizeof(tabs) / sizeof(tabs[0]); i++) {
			snprintf(name, sizeof(name), "model.layers.%d.%s.weight", l, tabs[i].n);
			if ((rc = load_tensor(s, name, tabs[i].rows, tabs[i].cols, tabs[i].dst, err, errlen)))
				return rc;
		}
	}
	return 0;
}

/* "BF16", or "mixed (BF16, F32)" when tensors differ. */
static char *summarise_dtypes(unsigned seen)
{
	char buf[64] = "";
	int n = 0, k = 0;
	for (int d = ST_F32; d <= ST_BF16; d++)
		if (seen & (1u << d))
			k++;
	if (k > 1)
		n = snprintf(buf, sizeof(buf), "mixed (");
	for (int d = ST_F32, i = 0; d <= ST_BF16; d++)
		if (seen & (1u << d))
			n += snprintf(buf + n, sizeof(buf) - n, "%s%s", i++ ? ", " : "", safetensors_dtype_name(d));
	if (k > 1)
		snprintf(buf + n, sizeof(buf) - n, ")");
	return strdup(buf);
}

// ----------------------------------------------------------------------------
// tokenizer and chat template

static int load_tokenizer(const char *dir, struct model *m, char *err, size_t errlen)
{
	char tj[PATH_MAX_HF], tc[PATH_MAX_HF];
	int rc;
	if ((rc = join(tj, sizeof(tj), dir, "tokenizer.json", err, errlen)) ||
	    (rc = join(tc, sizeof(tc), dir, "tokenizer_config.json", err, errlen)))
		return rc;
	if (!is_file(tj)) {
		if ((rc = join(tj, sizeof(tj), dir, "tekken.json", err, errlen)))
			return rc;
		if (!is_file(tj))
			return kv_errf(err, errlen, KV_EIO, "%s: no tokenizer.json (or tekken.json) in the model folder", dir);
	}
	if ((rc = tok_load_json(tj, is_file(tc) ? tc : NULL, &m->tok, err, errlen)))
		return rc;
	if (tok_n_vocab(m->tok) > m->cfg.n_vocab)
		return kv_errf(err, errlen, KV_EFORMAT, "%s: tokenizer has %d tokens but config.json's vocab_size is %d",
			       tj, tok_n_vocab(m->tok), m->cfg.n_vocab);
	return 0;
}

/* chat_template.jinja wins over tokenizer_config.json's "chat_template" (a string, or a
 * list of {name, template} of which "default" is taken), as in transformers. */
static int load_chat_template(const char *dir, struct model *m, char *err, size_t errlen)
{
	char path[PATH_MAX_HF];
	int rc;
	if ((rc = join(path, sizeof(path), dir, "chat_template.jinja", err, errlen)))
		return rc;
	if (is_file(path))
		return kv_read_file(path, &m->chat_template, NULL, err, errlen);
	if ((rc = join(path, sizeof(path), dir, "tokenizer_config.json", err, errlen)))
		return rc;
	if (!is_file(path))
		return 0;
	cJSON *root = NULL;
	if ((rc = parse_json_file(path, &root, err, errlen)))
		return rc;
	const cJSON *ct = jget(root, "chat_template");
	const char *text = NULL;
	if (cJSON_IsString(ct)) {
		text = ct->valuestring;
	} else if (cJSON_IsArray(ct)) {
		for (const cJSON *e = ct->child; e && !text; e = e->next) {
			const cJSON *nm = jget(e, "name"), *tp = jget(e, "template");
			if (cJSON_IsString(nm) && strcmp(nm->valuestring, "default") == 0 && cJSON_IsString(tp))
				text = tp->valuestring;
		}
	} else if (ct) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: \"chat_template\" must be a string or a list of {name, template}", path);
	}
	if (text && !(m->chat_template = strdup(text)))
		rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", path);
	cJSON_Delete(root);
	return rc;
}

// ----------------------------------------------------------------------------
// entry point

int model_load_hf(const char *dir, struct model **out, char *err, size_t errlen)
{
	char path[PATH_MAX_HF];
	struct stat st;
	struct model_config c;
	struct model *m = NULL;
	struct shards s;
	cJSON *root = NULL;
	int rc;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return kv_errf(err, errlen, KV_EIO, "%s: not a folder (expected a Hugging Face model folder with config.json)", dir);
	if ((rc = join(path, sizeof(path), dir, "config.json", err, errlen)))
		return rc;
	if (!is_file(path))
		return kv_errf(err, errlen, KV_EIO, "%s: missing (expected the model's config.json in the folder)", path);
	if ((rc = parse_json_file(path, &root, err, errlen)))
		return rc;
	rc = read_config(path, root, &c, err, errlen);
	cJSON_Delete(root);
	if (rc || (rc = model_config_validate(&c, path, err, errlen)))
		return rc;
	if ((rc = shards_open(dir, &s, err, errlen)) || (rc = load_weights(&s, &c, NULL, err, errlen)))
		goto out_close;
	if ((rc = model_alloc(&c, &m, err, errlen)))
		goto out_close;
	m->source = MODEL_SRC_HF;
	if ((rc = load_weights(&s, &m->cfg, m, err, errlen)))
		goto out_free_model;
	m->path = strdup(dir);
	m->file_type = summarise_dtypes(s.dtypes_seen);
	if (!m->path || !m->file_type) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", dir);
		goto out_free_model;
	}
	model_rope_init(m, NULL);
	if ((rc = load_tokenizer(dir, m, err, errlen)) || (rc = load_chat_template(dir, m, err, errlen)))
		goto out_free_model;
	if ((rc = model_chat_init(m, err, errlen)))
		goto out_free_model;
	*out = m;
	m = NULL;
out_free_model:
	model_free(m);
out_close:
	shards_close(&s);
	return rc;
}
