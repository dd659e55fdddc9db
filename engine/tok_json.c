/* Tokenizer from a Hugging Face tokenizer.json (+ optional tokenizer_config.json), and
 * from Mistral's tekken.json, which tok_load_json recognises by its top-level
 * "config" + "vocab" keys. Supported components: model BPE (vocab, merges as "a b" or
 * [a, b], byte_fallback, ignore_merges, fuse_unk, unk_token); normalizers Sequence,
 * Prepend, Replace (string), NFC/NFD/NFKC/NFKD; pre-tokenizers Sequence, Split,
 * ByteLevel, Digits, Metaspace; decoders Sequence, ByteLevel, Metaspace, Replace,
 * ByteFallback, Fuse, Strip; post-processors TemplateProcessing, ByteLevel, Roberta/
 * Bert, Sequence. Anything else is refused by name. The BOS/EOS rule follows
 * transformers' TokenizersBackend: explicit add_bos_token / add_eos_token in
 * tokenizer_config.json rebuild the template, else the post_processor's. */
#include "engine/tokenizer.h"

#include <cjson/cJSON.h> // defines: cJSON_ParseWithLengthOpts, cJSON_GetObjectItemCaseSensitive
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"       // defines: kv_errf, KV_E*
#include "engine/tok_internal.h" // defines: struct tokenizer, tok_* builders

/* Most unused ids a tokenizer.json may leave below its largest id. */
#define TOK_JSON_MAX_ID_GAP 65536

// ----------------------------------------------------------------------------
// file and JSON helpers

static int read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return kv_errf(err, errlen, KV_EIO, "%s: cannot open: %s", path, strerror(errno));
	struct tok_buf b = { 0 };
	char chunk[1 << 16];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (tok_buf_put(&b, chunk, n)) {
			fclose(f);
			free(b.data);
			return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory reading", path);
		}
	}
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		free(b.data);
		return kv_errf(err, errlen, KV_EIO, "%s: read error", path);
	}
	if (!b.data && tok_buf_put(&b, "", 0))
		return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory reading", path);
	*out = b.data;
	*len = b.len;
	return 0;
}

static int parse_json(const char *path, const char *text, size_t len, cJSON **out, char *err, size_t errlen)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (!root) {
		size_t off = end ? (size_t)(end - text) : 0;
		size_t line = 1, col = 1;
		for (size_t i = 0; i < off && i < len; i++) {
			if (text[i] == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
		return kv_errf(err, errlen, KV_EFORMAT, "%s: malformed JSON near line %zu, column %zu (byte %zu)",
			       path, line, col, off);
	}
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return kv_errf(err, errlen, KV_EFORMAT, "%s: expected a JSON object at the top level", path);
	}
	*out = root;
	return 0;
}

static const cJSON *jget(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = jget(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool jbool(const cJSON *o, const char *k, bool dflt)
{
	const cJSON *v = jget(o, k);
	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

static const char *jtype(const cJSON *o)
{
	const char *s = jstr(o, "type");
	return s ? s : "?";
}

/* A pattern object {"String": s} or {"Regex": r}. */
static const char *jpattern(const cJSON *o, bool *is_regex)
{
	const cJSON *p = jget(o, "pattern");
	const char *s;
	if ((s = jstr(p, "String"))) {
		*is_regex = false;
		return s;
	}
	if ((s = jstr(p, "Regex"))) {
		*is_regex = true;
		return s;
	}
	return NULL;
}

static const char *arena_str(struct tokenizer *t, const char *s)
{
	return tok_arena_strndup(&t->arena, s, strlen(s));
}

static enum tok_prepend parse_prepend(const cJSON *o)
{
	const char *s = jstr(o, "prepend_scheme");
	if (s)
		return strcmp(s, "never") == 0 ? TOK_PREPEND_NEVER : strcmp(s, "first") == 0
		       ? TOK_PREPEND_FIRST : TOK_PREPEND_ALWAYS;
	/* older files: add_prefix_space */
	return jbool(o, "add_prefix_space", true) ? TOK_PREPEND_ALWAYS : TOK_PREPEND_NEVER;
}

// ----------------------------------------------------------------------------
// pipeline components

static int load_normalizer(struct tokenizer *t, const cJSON *o, const char *src, char *err, size_t errlen)
{
	if (!o || cJSON_IsNull(o))
		return 0;
	const char *ty = jtype(o);
	int rc;
	if (strcmp(ty, "Sequence") == 0) {
		const cJSON *it;
		cJSON_ArrayForEach(it, jget(o, "normalizers"))
			if ((rc = load_normalizer(t, it, src, err, errlen)))
				return rc;
		return 0;
	}
	struct tok_norm n = { 0 };
	if (strcmp(ty, "Prepend") == 0 && jstr(o, "prepend")) {
		n.kind = TOK_NORM_PREPEND;
		n.a = arena_str(t, jstr(o, "prepend"));
	} else if (strcmp(ty, "Replace") == 0) {
		bool re;
		const char *p = jpattern(o, &re);
		if (!p || re || !jstr(o, "content"))
			return kv_errf(err, errlen, KV_EUNSUP, "%s: normalizer Replace: only a String pattern with "
				       "a content string is supported", src);
		n.kind = TOK_NORM_REPLACE;
		n.a = arena_str(t, p);
		n.b = arena_str(t, jstr(o, "content"));
	} else if (strcmp(ty, "NFC") == 0) {
		n.kind = TOK_NORM_NFC;
	} else if (strcmp(ty, "NFD") == 0) {
		n.kind = TOK_NORM_NFD;
	} else if (strcmp(ty, "NFKC") == 0) {
		n.kind = TOK_NORM_NFKC;
	} else if (strcmp(ty, "NFKD") == 0) {
		n.kind = TOK_NORM_NFKD;
	} else {
		return kv_errf(err, errlen, KV_EUNSUP, "%s: normalizer '%s' is not supported (supported: "
			       "Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD)", src, ty);
	}
	if ((n.kind == TOK_NORM_PREPEND && !n.a) || (n.kind == TOK_NORM_REPLACE && (!n.a || !n.b)) ||
	    tok_add_norm(t, n))
		return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", src);
	return 0;
}

static int load_pre(struct tokenizer *t, const cJSON *o, const char *src, char *err, size_t errlen)
{
	if (!o || cJSON_IsNull(o))
		return 0;
	const char *ty = jtype(o);
	int rc;
	if (strcmp(ty, "Sequence") == 0) {
		const cJSON *it;
		cJSON_ArrayForEach(it, jget(o, "pretokenizers"))
			if ((rc = load_pre(t, it, src, err, errlen)))
				return rc;
		return 0;
	}
	if (strcmp(ty, "Split") == 0) {
		bool re;
		const char *p = jpattern(o, &re);
		const char *beh = jstr(o, "behavior");
		if (!p || !beh)
			return kv_errf(err, errlen, KV_EFORMAT, "%s: pre_tokenizer Split needs a pattern and a behavior", src);
		if (jbool(o, "invert", false))
			return kv_errf(err, errlen, KV_EUNSUP, "%s: pre_tokenizer Split with invert=true is not supported", src);
		enum tok_split_behavior b;
		if (strcmp(beh, "Isolated") == 0) b = TOK_SPLIT_ISOLATED;
		else if (strcmp(beh, "Removed") == 0) b = TOK_SPLIT_REMOVED;
		else if (strcmp(beh, "MergedWithPrevious") == 0) b = TOK_SPLIT_MERGED_PREV;
		else if (strcmp(beh, "MergedWithNext") == 0) b = TOK_SPLIT_MERGED_NEXT;
		else
			return kv_errf(err, errlen, KV_EUNSUP, "%s: pre_tokenizer Split behavior '%s' is not supported "
				       "(supported: Isolated, Removed, MergedWithPrevious, MergedWithNext)", src, beh);
		return tok_pre_add_regex(t, p, !re, b, src, err, errlen);
	}
	if (strcmp(ty, "ByteLevel") == 0) {
		t->byte_level = true;
		if (jbool(o, "add_prefix_space", false)) {
			if (t->n_pre > 0)
				return kv_errf(err, errlen, KV_EUNSUP, "%s: ByteLevel add_prefix_space=true is supported "
					       "only as the first pre-tokenizer", src);
			if (tok_add_pre(t, (struct tok_pre){ .kind = TOK_PRE_PREFIX_SPACE }, false))
				return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", src);
		}
		if (jbool(o, "use_regex", true))
			return tok_pre_add_regex(t, tok_re_gpt2, false, TOK_SPLIT_ISOLATED, src, err, errlen);
		return 0;
	}
	if (strcmp(ty, "Digits") == 0) {
		const char *re = jbool(o, "individual_digits", false) ? "\\p{N}" : "\\p{N}+";
		return tok_pre_add_regex(t, re, false, TOK_SPLIT_ISOLATED, src, err, errlen);
	}
	if (strcmp(ty, "Metaspace") == 0) {
		if (t->n_pre > 0)
			return kv_errf(err, errlen, KV_EUNSUP, "%s: Metaspace is supported only as the first pre-tokenizer", src);
		const char *r = jstr(o, "replacement");
		struct tok_pre p = { .kind = TOK_PRE_METASPACE, .prepend = parse_prepend(o),
				     .split = jbool(o, "split", true) };
		p.repl = arena_str(t, r ? r : "\xE2\x96\x81");
		if (!p.repl || tok_add_pre(t, p, false))
			return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", src);
		return 0;
	}
	return kv_errf(err, errlen, KV_EUNSUP, "%s: pre_tokenizer '%s' is not supported (supported: Sequence, "
		       "Split, ByteLevel, Digits, Metaspace)", src, ty);
}

static int load_decoder(struct tokenizer *t, const cJSON *o, const char *src, char *err, size_t errlen)
{
	const char *ty = jtype(o);
	int rc;
	if (strcmp(ty, "Sequence") == 0) {
		const cJSON *it;
		cJSON_ArrayForEach(it, jget(o, "decoders"))
			if ((rc = load_decoder(t, it, src, err, errlen)))
				return rc;
		return 0;
	}
	struct tok_dec d = { 0 };
	if (strcmp(ty, "ByteLevel") == 0) {
		d.kind = TOK_DEC_BYTELEVEL;
	} else if (strcmp(ty, "ByteFallback") == 0) {
		d.kind = TOK_DEC_BYTEFALLBACK;
	} else if (strcmp(ty, "Fuse") == 0) {
		d.kind = TOK_DEC_FUSE;
	} else if (strcmp(ty, "Replace") == 0) {
		bool re;
		const char *p = jpattern(o, &re);
		if (!p || re || !jstr(o, "content"))
			return kv_errf(err, errlen, KV_EUNSUP, "%s: decoder Replace: only a String pattern is supported", src);
		d.kind = TOK_DEC_REPLACE;
		if (!(d.a = arena_str(t, p)) || !(d.b = arena_str(t, jstr(o, "content"))))
			return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", src);
	} else if (strcmp(ty, "Strip") == 0) {
		const char *c = jstr(o, "content");
		const cJSON *st = jget(o, "start"), *sp = jget(o, "stop");
		d.kind = TOK_DEC_STRIP;
		if (!(d.a = arena_str(t, c ? c : " ")))
			return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", src);
		d.start = cJSON_IsNumber(st) ? st->valueint : 0;
		d.stop = cJSON_IsNumber(sp) ? sp->valueint : 0;
	} else if (strcmp(ty, "Metaspace") == 0) {
		const char *r = jstr(o, "replacement");
		d.kind = TOK_DEC_METASPACE;
		d.prepend = parse_prepend(o);
		if (!(d.a = arena_str(t, r ? r : "\xE2\x96\x81")))
			return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", src);
	} else {
		return kv_errf(err, errlen, KV_EUNSUP, "%s: decoder '%s' is not supported (supported: Sequence, "
			       "ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip)", src, ty);
	}
	if (tok_add_dec(t, d))
		return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", src);
	return 0;
}

/* id of an added token / vocab string as written in the file (stored form), or -1. */
static int32_t find_token(const struct tokenizer *t, const char *s)
{
	size_t n = strlen(s);
	for (int i = 0; i < t->n_added; i++)
		if (t->added[i].len == n && memcmp(t->added[i].text, s, n) == 0)
			return t->added[i].id;
	for (int32_t id = 0; id < t->n_vocab; id++)
		if (t->piece[id] && t->piece_len[id] == n && memcmp(t->piece[id], s, n) == 0)
			return id;
	return -1;
}

static int push_special(struct tokenizer *t, bool prefix, const cJSON *specials, const char *name,
			const char *src, char *err, size_t errlen)
{
	const cJSON *ids = jget(jget(specials, name), "ids");
	const cJSON *it;
	int32_t *arr = prefix ? t->prefix : t->suffix;
	int *n = prefix ? &t->n_prefix : &t->n_suffix;
	if (!cJSON_IsArray(ids))
		return kv_errf(err, errlen, KV_EFORMAT, "%s: post_processor special token '%s' has no ids", src, name);
	cJSON_ArrayForEach(it, ids) {
		if (*n >= 4)
			return kv_errf(err, errlen, KV_EUNSUP, "%s: post_processor adds more than 4 tokens on a side", src);
		arr[(*n)++] = it->valueint;
	}
	return 0;
}

static int load_post(struct tokenizer *t, const cJSON *o, const char *src, char *err, size_t errlen)
{
	if (!o || cJSON_IsNull(o))
		return 0;
	const char *ty = jtype(o);
	int rc;
	if (strcmp(ty, "Sequence") == 0) {
		const cJSON *it;
		cJSON_ArrayForEach(it, jget(o, "processors"))
			if ((rc = load_post(t, it, src, err, errlen)))
				return rc;
		return 0;
	}
	if (strcmp(ty, "ByteLevel") == 0)
		return 0;
	if (strcmp(ty, "TemplateProcessing") == 0) {
		const cJSON *it, *specials = jget(o, "special_tokens");
		bool seen_a = false;
		cJSON_ArrayForEach(it, jget(o, "single")) {
			const cJSON *sp = jget(it, "SpecialToken");
			if (jget(it, "Sequence")) {
				seen_a = true;
			} else if (sp && jstr(sp, "id")) {
				if ((rc = push_special(t, !seen_a, specials, jstr(sp, "id"), src, err, errlen)))
					return rc;
			}
		}
		return 0;
	}
	if (strcmp(ty, "RobertaProcessing") == 0 || strcmp(ty, "BertProcessing") == 0) {
		const cJSON *cls = jget(o, "cls"), *sep = jget(o, "sep");
		if (cJSON_GetArraySize(cls) == 2 && cJSON_GetArraySize(sep) == 2) {
			t->prefix[t->n_prefix++] = cJSON_GetArrayItem(cls, 1)->valueint;
			t->suffix[t->n_suffix++] = cJSON_GetArrayItem(sep, 1)->valueint;
		}
		return 0;
	}
	return kv_errf(err, errlen, KV_EUNSUP, "%s: post_processor '%s' is not supported (supported: "
		       "TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, Sequence)", src, ty);
}

/* A special-token entry in tokenizer_config.json: "text" or {"content": "text"}. */
static const char *config_token(const cJSON *cfg, const char *key)
{
	const cJSON *v = jget(cfg, key);
	if (cJSON_IsString(v))
		return v->valuestring;
	return jstr(v, "content");
}

// ----------------------------------------------------------------------------
// tokenizer.json

/* Names the pre-tokenizer after llama.cpp's tokenizer.ggml.pre when its regexes are
 * one of the known ones ("custom" otherwise). */
static const char *pre_name_of(const struct tokenizer *t)
{
	bool digits = false, gpt2 = false, llama3 = false, tekken = false, meta = false, other = false;
	for (int i = 0; i < t->n_pre; i++) {
		const struct tok_pre *p = &t->pre_steps[i];
		if (p->kind == TOK_PRE_METASPACE) { meta = true; continue; }
		if (p->kind != TOK_PRE_SPLIT) continue;
		if (strcmp(p->pattern, "\\p{N}") == 0) digits = true;
		else if (strcmp(p->pattern, tok_re_gpt2) == 0) gpt2 = true;
		else if (strcmp(p->pattern, tok_re_llama3) == 0) llama3 = true;
		else if (strcmp(p->pattern, tok_re_tekken) == 0) tekken = true;
		else other = true;
	}
	if (other) return "custom";
	if (meta) return "metaspace";
	if (llama3 && !digits && !gpt2 && !tekken) return "llama-bpe";
	if (tekken && !digits && !gpt2 && !llama3) return "tekken";
	if (gpt2 && digits && !llama3 && !tekken) return "smollm";
	if (gpt2 && !digits && !llama3 && !tekken) return "gpt2";
	if (t->n_pre == 0) return "default";
	return "custom";
}

static int load_hf(const cJSON *root, const cJSON *cfg, const char *path, const char *cfg_path,
		   struct tokenizer **out, char *err, size_t errlen)
{
	const cJSON *model = jget(root, "model");
	if (!cJSON_IsObject(model))
		return kv_errf(err, errlen, KV_EFORMAT, "%s: no \"model\" object; expected a Hugging Face tokenizer.json "
			       "(or a tekken.json with \"config\" and \"vocab\")", path);
	const char *mty = jstr(model, "type");
	if (!mty || strcmp(mty, "BPE") != 0)
		return kv_errf(err, errlen, KV_EUNSUP, "%s: model.type '%s' is not supported (supported: BPE)", path,
			       mty ? mty : "(missing)");
	const cJSON *vocab = jget(model, "vocab"), *merges = jget(model, "merges");
	if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges))
		return kv_errf(err, errlen, KV_EFORMAT, "%s: model.vocab must be an object and model.merges an array", path);
	const cJSON *d = jget(model, "dropout");
	if (cJSON_IsNumber(d) && d->valuedouble > 0)
		return kv_errf(err, errlen, KV_EUNSUP, "%s: BPE dropout %g is not supported", path, d->valuedouble);
	const char *csp = jstr(model, "continuing_subword_prefix"), *eow = jstr(model, "end_of_word_suffix");
	if ((csp && *csp) || (eow && *eow))
		return kv_errf(err, errlen, KV_EUNSUP, "%s: BPE continuing_subword_prefix / end_of_word_suffix are not supported", path);

	/* id range: model vocab plus added tokens */
	int n_vocab = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, vocab) {
		if (!cJSON_IsNumber(it) || it->valueint < 0 || it->valueint >= INT32_MAX / 2)
			return kv_errf(err, errlen, KV_EFORMAT, "%s: model.vocab['%s'] is not a valid id", path, it->string);
		if (it->valueint + 1 > n_vocab)
			n_vocab = it->valueint + 1;
	}
	const cJSON *added = jget(root, "added_tokens");
	cJSON_ArrayForEach(it, added) {
		const cJSON *id = jget(it, "id");
		if (!cJSON_IsNumber(id) || id->valueint < 0 || id->valueint >= INT32_MAX / 2 || !jstr(it, "content"))
			return kv_errf(err, errlen, KV_EFORMAT, "%s: added_tokens entries need an id and a content", path);
		if (id->valueint + 1 > n_vocab)
			n_vocab = id->valueint + 1;
	}
	if (n_vocab == 0)
		return kv_errf(err, errlen, KV_EFORMAT, "%s: empty vocabulary", path);
	/* ids are dense in real files; a lone huge id would size the tables for GiBs */
	int n_listed = cJSON_GetArraySize(vocab) + cJSON_GetArraySize(added);
	if (n_vocab - n_listed > TOK_JSON_MAX_ID_GAP)
		return kv_errf(err, errlen, KV_EFORMAT, "%s: token ids reach %d but only %d tokens are listed "
			       "(expected dense ids, at most %d unused)", path, n_vocab - 1, n_listed, TOK_JSON_MAX_ID_GAP);

	struct tokenizer *t;
	int rc = tok_alloc(n_vocab, &t, err, errlen);
	if (rc)
		return rc;
	strcpy(t->model, "bpe");
	/* byte-level is a property of the pre-tokenizer: learn it before the vocab */
	if ((rc = load_pre(t, jget(root, "pre_tokenizer"), path, err, errlen)))
		goto out_free;
	bool spm = false;
	for (int i = 0; i < t->n_pre; i++)
		spm |= t->pre_steps[i].kind == TOK_PRE_METASPACE;
	if ((rc = load_normalizer(t, jget(root, "normalizer"), path, err, errlen)))
		goto out_free;
	for (int i = 0; i < t->n_norm; i++)
		spm |= t->norm[i].kind == TOK_NORM_REPLACE && strcmp(t->norm[i].b, "\xE2\x96\x81") == 0;
	if (spm && !t->byte_level)
		strcpy(t->model, "spm");

	cJSON_ArrayForEach(it, vocab) {
		if (t->piece[it->valueint])
			continue;
		if ((rc = tok_set_piece(t, it->valueint, it->string, strlen(it->string), err, errlen)))
			goto out_free;
		t->type[it->valueint] = TOK_TYPE_NORMAL;
	}
	/* added tokens outside the model vocab: decodable strings, not BPE keys */
	cJSON_ArrayForEach(it, added) {
		int id = jget(it, "id")->valueint;
		const char *c = jstr(it, "content");
		if (!t->piece[id]) {
			if ((rc = tok_set_piece(t, id, c, strlen(c), err, errlen)))
				goto out_free;
			t->key[id] = NULL;
			t->key_len[id] = 0;
		}
		t->type[id] = jbool(it, "special", false) ? TOK_TYPE_CONTROL : TOK_TYPE_USER_DEFINED;
	}
	for (int id = 0; id < n_vocab; id++) { /* holes: empty, unreachable */
		if (!t->piece[id]) {
			if ((rc = tok_set_piece(t, id, "", 0, err, errlen)))
				goto out_free;
			t->type[id] = TOK_TYPE_UNUSED;
		}
	}
	if ((rc = tok_build_vocab(t, path, err, errlen)))
		goto out_free;
	/* an added token decodes as its content even when the model vocab has the id */
	cJSON_ArrayForEach(it, added) {
		int id = jget(it, "id")->valueint;
		const char *c = jstr(it, "content");
		size_t n = strlen(c);
		if (t->piece_len[id] != n || memcmp(t->piece[id], c, n) != 0) {
			if (!(t->piece[id] = tok_arena_strndup(&t->arena, c, n))) {
				rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", path);
				goto out_free;
			}
			t->piece_len[id] = (uint32_t)n;
		}
		if ((rc = tok_add_added(t, c, n, id, jbool(it, "special", false), jbool(it, "lstrip", false),
					jbool(it, "rstrip", false), jbool(it, "single_word", false), err, errlen)))
			goto out_free;
	}

	int n_merges = cJSON_GetArraySize(merges);
	if (tok_pairmap_init(&t->merges, (uint32_t)n_merges)) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory for %d merges", path, n_merges);
		goto out_free;
	}
	int32_t rank = 0;
	cJSON_ArrayForEach(it, merges) {
		const char *a, *b;
		size_t na, nb;
		if (cJSON_IsString(it)) {
			const char *s = it->valuestring, *sp = strchr(s, ' ');
			if (!sp) {
				rc = kv_errf(err, errlen, KV_EFORMAT, "%s: model.merges[%d] '%s' is not 'left right'", path, rank, s);
				goto out_free;
			}
			a = s;
			na = (size_t)(sp - s);
			b = sp + 1;
			nb = strlen(b);
		} else if (cJSON_GetArraySize(it) == 2 && cJSON_IsString(cJSON_GetArrayItem(it, 0)) &&
			   cJSON_IsString(cJSON_GetArrayItem(it, 1))) {
			a = cJSON_GetArrayItem(it, 0)->valuestring;
			b = cJSON_GetArrayItem(it, 1)->valuestring;
			na = strlen(a);
			nb = strlen(b);
		} else {
			rc = kv_errf(err, errlen, KV_EFORMAT, "%s: model.merges[%d] is neither \"a b\" nor [a, b]", path, rank);
			goto out_free;
		}
		if ((rc = tok_add_merge_str(t, a, na, b, nb, rank, path, err, errlen)))
			goto out_free;
		rank++;
	}
	t->byte_fallback = jbool(model, "byte_fallback", false);
	t->ignore_merges = jbool(model, "ignore_merges", false);
	t->fuse_unk = jbool(model, "fuse_unk", false);
	if (jstr(model, "unk_token")) {
		t->unk = tok_strmap_get(&t->vocab, jstr(model, "unk_token"), strlen(jstr(model, "unk_token")));
		if (t->unk < 0)
			t->unk = find_token(t, jstr(model, "unk_token"));
	}

	const cJSON *dec = jget(root, "decoder");
	if (!dec || cJSON_IsNull(dec)) {
		if (tok_add_dec(t, (struct tok_dec){ .kind = TOK_DEC_JOIN_SPACE })) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", path);
			goto out_free;
		}
	} else if ((rc = load_decoder(t, dec, path, err, errlen))) {
		goto out_free;
	}
	if ((rc = load_post(t, jget(root, "post_processor"), path, err, errlen)))
		goto out_free;

	/* tokenizer_config.json: BOS/EOS strings, and add_bos_token / add_eos_token
	 * which (when present) replace the template, as transformers does */
	const char *bos_s = cfg ? config_token(cfg, "bos_token") : NULL;
	const char *eos_s = cfg ? config_token(cfg, "eos_token") : NULL;
	t->bos = bos_s ? find_token(t, bos_s) : t->n_prefix ? t->prefix[0] : -1;
	t->eos = eos_s ? find_token(t, eos_s) : t->n_suffix ? t->suffix[t->n_suffix - 1] : -1;
	bool explicit_rule = cfg && (jget(cfg, "add_bos_token") || jget(cfg, "add_eos_token"));
	if (explicit_rule || !jget(root, "post_processor") || cJSON_IsNull(jget(root, "post_processor"))) {
		t->n_prefix = t->n_suffix = 0;
		if (cfg && jbool(cfg, "add_bos_token", false) && t->bos >= 0)
			t->prefix[t->n_prefix++] = t->bos;
		if (cfg && jbool(cfg, "add_eos_token", false) && t->eos >= 0)
			t->suffix[t->n_suffix++] = t->eos;
	}
	(void)cfg_path;

	const char *pre_name = pre_name_of(t);
	if (!(t->pre = tok_arena_strndup(&t->arena, pre_name, strlen(pre_name)))) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", path);
		goto out_free;
	}
	if ((rc = tok_finish(t, path, err, errlen)))
		goto out_free;
	*out = t;
	return 0;
out_free:
	tok_free(t);
	return rc;
}

int tok_load_json(const char *tokenizer_json, const char *tokenizer_config_json,
		  struct tokenizer **out, char *err, size_t errlen)
{
	char *text = NULL, *ctext = NULL;
	size_t len = 0, clen = 0;
	cJSON *root = NULL, *cfg = NULL;
	int rc;
	if (!tokenizer_json)
		return kv_errf(err, errlen, KV_EINVAL, "tok_load_json: no tokenizer.json path given");
	if ((rc = read_file(tokenizer_json, &text, &len, err, errlen)))
		return rc;
	if ((rc = parse_json(tokenizer_json, text, len, &root, err, errlen)))
		goto out_free;
	if (tokenizer_config_json) {
		if ((rc = read_file(tokenizer_config_json, &ctext, &clen, err, errlen)) ||
		    (rc = parse_json(tokenizer_config_json, ctext, clen, &cfg, err, errlen)))
			goto out_free;
	}
	if (!jget(root, "model") && jget(root, "config") && cJSON_IsArray(jget(root, "vocab")))
		rc = tok_load_tekken(root, tokenizer_json, out, err, errlen);
	else
		rc = load_hf(root, cfg, tokenizer_json, tokenizer_config_json, out, err, errlen);
out_free:
	cJSON_Delete(root);
	cJSON_Delete(cfg);
	free(text);
	free(ctext);
	return rc;
}
