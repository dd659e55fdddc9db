/* Tokenizer from Mistral's tekken.json (Mistral Nemo, Ministral, Pixtral): tiktoken
 * ranks (base64 token bytes) plus the pre-tokenizer pattern, ids = rank +
 * num_special_tokens. Mirrors mistral-common's Tekkenizer and transformers'
 * MistralConverter (merges derived from the ranks, ignore_merges, every special token
 * an added special token). Unlike that converter, add_special prepends <s>, as
 * mistral-common's encode(bos=True) and the models' own tokenizer.json do. */
#include <cjson/cJSON.h> // defines: cJSON_GetObjectItemCaseSensitive
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"       // defines: kv_errf, KV_E*
#include "engine/tok_internal.h" // defines: struct tokenizer, tok_* builders

/* The special tokens of tekken files without a "special_tokens" list (versions <= v7),
 * mistral-common's Tekkenizer.DEPRECATED_SPECIAL_TOKENS; the rest are <SPECIAL_i>. */
static const char *const default_specials[] = {
	"<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]",
	"[TOOL_RESULTS]", "[/TOOL_RESULTS]", "[TOOL_CALLS]", "[IMG]", "<pad>", "[IMG_BREAK]",
	"[IMG_END]", "[PREFIX]", "[MIDDLE]", "[SUFFIX]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]",
	"[TOOL_CONTENT]",
};

/* Most special tokens a tekken.json may declare (mistral-common reserves 1000). */
#define TEKKEN_MAX_SPECIAL 65536

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

/* Decodes base64 s into out (cleared first); false when malformed. */
static bool b64decode(const char *s, struct tok_buf *out)
{
	out->len = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (; *s && *s != '='; s++) {
		int v = b64val(*s);
		if (v < 0)
			return false;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (tok_buf_putc(out, (char)((acc >> bits) & 0xFF)))
				return false;
		}
	}
	return true;
}

static const cJSON *jget(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

int tok_load_tekken(const struct cJSON *root, const char *path, struct tokenizer **out,
		    char *err, size_t errlen)
{
	const cJSON *cfg = jget(root, "config"), *vocab = jget(root, "vocab");
	const cJSON *pat = jget(cfg, "pattern"), *nsp = jget(cfg, "default_num_special_tokens");
	const cJSON *nvs = jget(cfg, "default_vocab_size");
	const cJSON *specials = jget(root, "special_tokens");
	if (!cJSON_IsString(pat) || !cJSON_IsNumber(nsp) || !cJSON_IsArray(vocab))
		return kv_errf(err, errlen, KV_EFORMAT, "%s: tekken.json needs config.pattern, "
			       "config.default_num_special_tokens and a vocab array", path);
	/* bounded: a hostile count would ask for GiBs */
	if (nsp->valuedouble < 3 || nsp->valuedouble > TEKKEN_MAX_SPECIAL)
		return kv_errf(err, errlen, KV_EFORMAT, "%s: tekken.json's config.default_num_special_tokens is %g "
			       "(expected 3..%d)", path, nsp->valuedouble, TEKKEN_MAX_SPECIAL);
	int n_special = nsp->valueint;
	int n_ranks = cJSON_GetArraySize(vocab);
	if (cJSON_IsNumber(nvs) && nvs->valuedouble - n_special < n_ranks) /* the live vocabulary, as mistral-common */
		n_ranks = nvs->valuedouble - n_special < 0 ? 0 : (int)(nvs->valuedouble - n_special);
	if (n_special < 3 || n_ranks < 256)
		return kv_errf(err, errlen, KV_EFORMAT, "%s: tekken.json has %d special tokens and %d ranks "
			       "(expected >= 3 and >= 256)", path, n_special, n_ranks);

	struct tokenizer *t;
	int rc = tok_alloc(n_special + n_ranks, &t, err, errlen);
	if (rc)
		return rc;
	struct tok_buf raw = { 0 }, str = { 0 };
	char name[32];
	strcpy(t->model, "bpe");
	t->byte_level = true;
	t->ignore_merges = true;

	/* special tokens: declared ones by rank, then fillers */
	const char **sp_text = calloc((size_t)n_special, sizeof(*sp_text));
	if (!sp_text) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", path);
		goto out_free;
	}
	if (cJSON_IsArray(specials)) {
		const cJSON *it;
		cJSON_ArrayForEach(it, specials) {
			const cJSON *r = jget(it, "rank"), *s = jget(it, "token_str");
			if (!cJSON_IsNumber(r) || !cJSON_IsString(s) || r->valueint < 0 || r->valueint >= n_special) {
				rc = kv_errf(err, errlen, KV_EFORMAT, "%s: special_tokens entries need a rank in 0..%d "
					     "and a token_str", path, n_special - 1);
				goto out_free;
			}
			sp_text[r->valueint] = s->valuestring;
		}
	} else {
		for (size_t i = 0; i < sizeof(default_specials) / sizeof(default_specials[0]) && (int)i < n_special; i++)
			sp_text[i] = default_specials[i];
	}
	for (int i = 0; i < n_special; i++) {
		const char *s = sp_text[i];
		if (!s) {
			snprintf(name, sizeof(name), "<SPECIAL_%d>", i);
			s = name;
		}
		if ((rc = tok_set_piece(t, i, s, strlen(s), err, errlen)))
			goto out_free;
		t->key[i] = NULL; /* specials are not BPE keys */
		t->key_len[i] = 0;
		t->type[i] = TOK_TYPE_CONTROL;
	}

	/* ranks: raw bytes are the keys; the stored string is their byte-level form */
	const cJSON *it;
	int r = 0;
	cJSON_ArrayForEach(it, vocab) {
		if (r >= n_ranks)
			break;
		const cJSON *rank = jget(it, "rank"), *tb = jget(it, "token_bytes");
		if (!cJSON_IsNumber(rank) || rank->valueint != r || !cJSON_IsString(tb) || !b64decode(tb->valuestring, &raw)) {
			rc = kv_errf(err, errlen, KV_EFORMAT, "%s: vocab[%d] needs rank %d and base64 token_bytes", path, r, r);
			goto out_free;
		}
		int32_t id = n_special + r;
		str.len = 0;
		if (tok_bytelevel_encode((const uint8_t *)(raw.data ? raw.data : ""), raw.len, &str) ||
		    (rc = tok_set_piece(t, id, str.data ? str.data : "", str.len, err, errlen))) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", path);
			goto out_free;
		}
		t->type[id] = TOK_TYPE_NORMAL;
		r++;
	}
	if ((rc = tok_build_vocab(t, path, err, errlen)) || (rc = tok_synth_merges(t, false, err, errlen)))
		goto out_free;
	for (int i = 0; i < n_special; i++)
		if ((rc = tok_add_added(t, t->piece[i], t->piece_len[i], i, true, false, false, false, err, errlen)))
			goto out_free;
	if ((rc = tok_pre_add_regex(t, pat->valuestring, false, TOK_SPLIT_ISOLATED, path, err, errlen)))
		goto out_free;
	if (tok_add_dec(t, (struct tok_dec){ .kind = TOK_DEC_BYTELEVEL }) ||
	    !(t->pre = tok_arena_strndup(&t->arena, "tekken", 6))) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", path);
		goto out_free;
	}
	t->unk = -1;
	for (int i = 0; i < n_special; i++) {
		if (strcmp(t->piece[i], "<s>") == 0)
			t->bos = i;
		if (strcmp(t->piece[i], "</s>") == 0)
			t->eos = i;
	}
	if (t->bos >= 0)
		t->prefix[t->n_prefix++] = t->bos;
	if ((rc = tok_finish(t, path, err, errlen)))
		goto out_free;
	*out = t;
	t = NULL;
out_free:
	free(sp_text);
	free(raw.data);
	free(str.data);
	tok_free(t);
	return rc;
}
