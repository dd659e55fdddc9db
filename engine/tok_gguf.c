/* Tokenizer from GGUF metadata (tokenizer.ggml.*), the keys llama.cpp's
 * convert_hf_to_gguf.py writes. tokenizer.ggml.model 'gpt2' is byte-level BPE with a
 * merges list and the regexes named by tokenizer.ggml.pre; 'llama' is SentencePiece-
 * style BPE whose merges follow the token scores (as transformers' LlamaConverter
 * builds them) with <0xXX> byte fallback. The pipeline mirrors the model's original
 * Hugging Face tokenizer.json, which is what the ids must agree with. */
#include "engine/tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "base/errors.h"       // defines: kv_errf, KV_E*
#include "engine/gguf.h"         // defines: gguf_get_arr, gguf_get_int, gguf_get_strdup
#include "engine/tok_internal.h" // defines: struct tokenizer, tok_* builders

/* A special token id: -1 when the key is absent; present but not an id in [0, n_vocab) is
 * an error naming the key (never silently dropped). */
static int get_id(const struct gguf_file *g, const char *src, const char *key, int n_vocab, int32_t *out, char *err,
		  size_t errlen)
{
	int64_t v;
	*out = -1;
	if (!gguf_find(g, key))
		return 0;
	if (!gguf_get_int(g, key, &v) || v < 0 || v >= n_vocab)
		return kv_errf(err, errlen, KV_EFORMAT, "%s: %s is not a token id of this %d-token vocabulary", src, key,
			       n_vocab);
	*out = (int32_t)v;
	return 0;
}

static bool get_bool(const struct gguf_file *g, const char *key, bool dflt)
{
	bool b;
	return gguf_get_bool(g, key, &b) ? b : dflt;
}

int tok_load_gguf(const struct gguf_file *g, struct tokenizer **out, char *err, size_t errlen)
{
	const char *src = g->path ? g->path : "gguf";
	char *model = gguf_get_strdup(g, "tokenizer.ggml.model");
	char *pre = gguf_get_strdup(g, "tokenizer.ggml.pre");
	struct tokenizer *t = NULL;
	int rc = 0;
	if (!model) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: no tokenizer.ggml.model string; not a model GGUF with a tokenizer?", src);
		goto out_free;
	}
	bool spm = strcmp(model, "llama") == 0;
	if (!spm && strcmp(model, "gpt2") != 0) {
		rc = kv_errf(err, errlen, KV_EUNSUP,
			     "%s: tokenizer.ggml.model '%s' is not supported (supported: gpt2, llama)", src, model);
		goto out_free;
	}

	enum gguf_vtype ty;
	uint64_t n;
	const void *data;
	const struct gguf_str *strs;
	if (!gguf_get_arr(g, "tokenizer.ggml.tokens", &ty, &n, &data, &strs) || ty != GGUF_VT_STRING || !strs) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: tokenizer.ggml.tokens missing or not a string array", src);
		goto out_free;
	}
	if (n == 0 || n > INT32_MAX / 2) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: tokenizer.ggml.tokens has %llu entries", src,
			     (unsigned long long)n);
		goto out_free;
	}
	int n_vocab = (int)n;
	if ((rc = tok_alloc(n_vocab, &t, err, errlen)))
		goto out_free;
	strcpy(t->model, spm ? "spm" : "bpe");
	t->byte_level = !spm;
	t->pre = tok_arena_strndup(&t->arena, pre ? pre : "default", strlen(pre ? pre : "default"));
	if (!t->pre) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", src);
		goto out_free;
	}

	/* token types: a missing array means every token is normal */
	uint64_t nt = 0;
	const void *tdata = NULL;
	enum gguf_vtype tty = GGUF_VT_INT32;
	if (gguf_get_arr(g, "tokenizer.ggml.token_type", &tty, &nt, &tdata, NULL) && nt != n) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: tokenizer.ggml.token_type has %llu entries, tokens has %llu",
			     src, (unsigned long long)nt, (unsigned long long)n);
		goto out_free;
	}
	for (int i = 0; i < n_vocab; i++) {
		if ((rc = tok_set_piece(t, i, strs[i].s, (size_t)strs[i].n, err, errlen)))
			goto out_free;
		int64_t ty_i = tdata ? gguf_arr_i64(tty, tdata, (uint64_t)i) : TOK_TYPE_NORMAL;
		t->type[i] = (uint8_t)(ty_i >= 0 && ty_i <= 6 ? ty_i : TOK_TYPE_NORMAL);
	}
	if ((rc = tok_build_vocab(t, src, err, errlen)))
		goto out_free;

	if (spm) {
		uint64_t ns = 0;
		const void *sdata = NULL;
		enum gguf_vtype sty;
		t->score = calloc((size_t)n_vocab, sizeof(*t->score));
		if (!t->score) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", src);
			goto out_free;
		}
		if (!gguf_get_arr(g, "tokenizer.ggml.scores", &sty, &ns, &sdata, NULL) || ns != n ||
		    sty == GGUF_VT_STRING || sty == GGUF_VT_ARRAY) {
			rc = kv_errf(err, errlen, KV_EFORMAT,
				     "%s: tokenizer.ggml.scores missing or not %llu numbers (SentencePiece merges need them)",
				     src, (unsigned long long)n);
			goto out_free;
		}
		for (int i = 0; i < n_vocab; i++)
			t->score[i] = (float)gguf_arr_f64(sty, sdata, (uint64_t)i);
		if ((rc = tok_synth_merges(t, true, err, errlen)))
			goto out_free;
		t->byte_fallback = true;
		t->fuse_unk = true;
		if ((rc = get_id(g, src, "tokenizer.ggml.unknown_token_id", n_vocab, &t->unk, err, errlen)))
			goto out_free;
	} else {
		uint64_t nm;
		const struct gguf_str *ms;
		if (!gguf_get_arr(g, "tokenizer.ggml.merges", &ty, &nm, NULL, &ms) || ty != GGUF_VT_STRING || !ms) {
			rc = kv_errf(err, errlen, KV_EFORMAT, "%s: tokenizer.ggml.merges missing or not a string array "
				     "(byte-level BPE needs it)", src);
			goto out_free;
		}
		if (tok_pairmap_init(&t->merges, (uint32_t)nm)) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory for %llu merges", src, (unsigned long long)nm);
			goto out_free;
		}
		for (uint64_t i = 0; i < nm; i++) {
			const char *s = ms[i].s;
			size_t len = (size_t)ms[i].n;
			const char *sp = memchr(s, ' ', len);
			if (!sp || sp == s || sp + 1 == s + len) {
				rc = kv_errf(err, errlen, KV_EFORMAT, "%s: tokenizer.ggml.merges[%llu] '%.*s' is not 'left right'",
					     src, (unsigned long long)i, (int)len, s);
				goto out_free;
			}
			if ((rc = tok_add_merge_str(t, s, (size_t)(sp - s), sp + 1, (size_t)(s + len - sp - 1),
						    (int32_t)i, src, err, errlen)))
				goto out_free;
		}
	}

	bool add_space_prefix = get_bool(g, "tokenizer.ggml.add_space_prefix", spm);
	if ((rc = tok_pre_add_named(t, t->pre, src, err, errlen)))
		goto out_free;
	if (!spm && add_space_prefix) {
		/* HF ByteLevel(add_prefix_space=true): runs before the regex split */
		if (tok_add_pre(t, (struct tok_pre){ .kind = TOK_PRE_PREFIX_SPACE }, true)) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", src);
			goto out_free;
		}
	}
	/* HF's legacy Llama/Mistral pipeline: normalizer Prepend('▁') + Replace(' ', '▁');
	 * decoder Replace('▁', ' '), ByteFallback, Fuse, Strip(' ', 1, 0) */
	if (spm) {
		if ((add_space_prefix && tok_add_norm(t, (struct tok_norm){ TOK_NORM_PREPEND, "\xE2\x96\x81", NULL })) ||
		    tok_add_norm(t, (struct tok_norm){ TOK_NORM_REPLACE, " ", "\xE2\x96\x81" }) ||
		    tok_add_dec(t, (struct tok_dec){ .kind = TOK_DEC_REPLACE, .a = "\xE2\x96\x81", .b = " " }) ||
		    tok_add_dec(t, (struct tok_dec){ .kind = TOK_DEC_BYTEFALLBACK }) ||
		    tok_add_dec(t, (struct tok_dec){ .kind = TOK_DEC_FUSE }) ||
		    (add_space_prefix && tok_add_dec(t, (struct tok_dec){ .kind = TOK_DEC_STRIP, .a = " ", .start = 1 }))) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", src);
			goto out_free;
		}
	} else if (tok_add_dec(t, (struct tok_dec){ .kind = TOK_DEC_BYTELEVEL })) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", src);
		goto out_free;
	}

	/* control and unknown tokens are special added tokens (HF: special=true);
	 * user-defined ones are added but not special */
	for (int i = 0; i < n_vocab; i++) {
		uint8_t ty_i = t->type[i];
		if (ty_i != TOK_TYPE_CONTROL && ty_i != TOK_TYPE_USER_DEFINED && ty_i != TOK_TYPE_UNKNOWN)
			continue;
		if ((rc = tok_add_added(t, t->piece[i], t->piece_len[i], i, ty_i != TOK_TYPE_USER_DEFINED,
					false, false, false, err, errlen)))
			goto out_free;
	}

	if ((rc = get_id(g, src, "tokenizer.ggml.bos_token_id", n_vocab, &t->bos, err, errlen)) ||
	    (rc = get_id(g, src, "tokenizer.ggml.eos_token_id", n_vocab, &t->eos, err, errlen)))
		goto out_free;
	if (get_bool(g, "tokenizer.ggml.add_bos_token", spm) && t->bos >= 0)
		t->prefix[t->n_prefix++] = t->bos;
	if (get_bool(g, "tokenizer.ggml.add_eos_token", false) && t->eos >= 0)
		t->suffix[t->n_suffix++] = t->eos;
	if ((rc = tok_finish(t, src, err, errlen)))
		goto out_free;
	/* after tok_finish: explicit end-of-turn ids join the EOS list */
	{
		static const char *const keys[] = { "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id" };
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			int32_t id;
			if ((rc = get_id(g, src, keys[k], n_vocab, &id, err, errlen)))
				goto out_free;
			bool have = false;
			for (int i = 0; i < t->n_eos; i++)
				have |= t->eos_ids[i] == id;
			if (id >= 0 && !have && t->n_eos < (int)(sizeof(t->eos_ids) / sizeof(t->eos_ids[0])))
				t->eos_ids[t->n_eos++] = id;
		}
	}
	*out = t;
	t = NULL;
out_free:
	tok_free(t);
	free(model);
	free(pre);
	return rc;
}
