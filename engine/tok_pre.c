/* Normalizers and pre-tokenizers: the subset of HF tokenizers' components the
 * supported models use (normalizers Prepend / Replace / NFC..; pre-tokenizers Split,
 * ByteLevel, Digits, Metaspace), plus the table of GGUF tokenizer.ggml.pre names.
 * Regexes run through PCRE2 with UTF + UCP; HF runs them through Oniguruma, whose \s
 * also matches U+0085 (NEL), so \s and \S are rewritten to include it. */
#include "engine/tok_internal.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h> // defines: utf8proc_map, UTF8PROC_COMPOSE

#include "base/errors.h" // defines: kv_errf, KV_E*
#include "base/grow.h"   // kv_grow

/* The regex of HF's ByteLevel pre-tokenizer (use_regex=true), from GPT-2. */
const char tok_re_gpt2[] =
	"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
/* Llama-3's Split regex (Meta's tiktoken pat_str, as in its tokenizer.json). */
const char tok_re_llama3[] =
	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
	"|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/* Tekken v3 (Mistral Nemo, Ministral): tekken.json config.pattern. */
const char tok_re_tekken[] =
	"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
	"|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
	"|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// ----------------------------------------------------------------------------
// regex compilation

/* Rewrites \s -> [\s\x{85}] and \S -> [^\s\x{85}] (inside classes \s -> \s\x{85}). */
static int rewrite_space_classes(const char *p, struct tok_buf *out)
{
	bool in_class = false;
	for (size_t i = 0; p[i]; i++) {
		char c = p[i];
		if (c == '\\' && p[i + 1]) {
			char d = p[i + 1];
			const char *r = NULL;
			if (d == 's')
				r = in_class ? "\\s\\x{85}" : "[\\s\\x{85}]";
			else if (d == 'S' && !in_class)
				r = "[^\\s\\x{85}]";
			if (r ? tok_buf_put(out, r, strlen(r)) : tok_buf_put(out, p + i, 2))
				return KV_ENOMEM;
			i++;
			continue;
		}
		if (c == '[' && !in_class) {
			in_class = true;
			if (tok_buf_putc(out, c))
				return KV_ENOMEM;
			/* a ']' right after '[' or '[^' is literal */
			if (p[i + 1] == '^') {
				if (tok_buf_putc(out, '^'))
					return KV_ENOMEM;
				i++;
			}
			if (p[i + 1] == ']') {
				if (tok_buf_putc(out, ']'))
					return KV_ENOMEM;
				i++;
			}
			continue;
		}
		if (c == ']' && in_class)
			in_class = false;
		if (tok_buf_putc(out, c))
			return KV_ENOMEM;
	}
	return 0;
}

int tok_pre_add_regex(struct tokenizer *t, const char *pattern, bool literal,
		      enum tok_split_behavior behavior, const char *src, char *err, size_t errlen)
{
	struct tok_buf pat = { 0 };
	int rc = literal ? tok_buf_put(&pat, pattern, strlen(pattern)) : rewrite_space_classes(pattern, &pat);
	if (rc || !pat.data) {
		free(pat.data);
		return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory compiling a regex", src);
	}
	int ec;
	PCRE2_SIZE eoff;
	uint32_t opts = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP); /* UCP is invalid with LITERAL */
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat.data, pat.len, opts, &ec, &eoff, NULL);
	free(pat.data);
	if (!re) {
		PCRE2_UCHAR msg[128];
		pcre2_get_error_message(ec, msg, sizeof(msg));
		return kv_errf(err, errlen, KV_EFORMAT,
			       "%s: pre-tokenizer regex does not compile at offset %zu: %s (pattern '%.80s')",
			       src, (size_t)eoff, (const char *)msg, pattern);
	}
	pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* interpreter fallback if JIT is unavailable */
	const char *saved = tok_arena_strndup(&t->arena, pattern, strlen(pattern));
	if (!saved || tok_add_pre(t, (struct tok_pre){ .kind = TOK_PRE_SPLIT, .re = re, .pattern = saved,
						       .behavior = behavior }, false)) {
		pcre2_code_free(re);
		return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", src);
	}
	return 0;
}

int tok_pre_add_named(struct tokenizer *t, const char *name, const char *src, char *err,
		      size_t errlen)
{
	int rc;
	if (strcmp(name, "gpt2") == 0 || strcmp(name, "default") == 0) {
		if (strcmp(t->model, "spm") == 0)
			return 0; /* SentencePiece: no pre-splitting */
		return tok_pre_add_regex(t, tok_re_gpt2, false, TOK_SPLIT_ISOLATED, src, err, errlen);
	}
	if (strcmp(name, "smollm") == 0) {
		/* SmolLM2's HF pre-tokenizer: Sequence[Digits(individual_digits=true),
		 * ByteLevel(use_regex=true)] */
		if ((rc = tok_pre_add_regex(t, "\\p{N}", false, TOK_SPLIT_ISOLATED, src, err, errlen)))
			return rc;
		return tok_pre_add_regex(t, tok_re_gpt2, false, TOK_SPLIT_ISOLATED, src, err, errlen);
	}
	if (strcmp(name, "llama-bpe") == 0 || strcmp(name, "llama3") == 0) {
		t->ignore_merges = true;
		return tok_pre_add_regex(t, tok_re_llama3, false, TOK_SPLIT_ISOLATED, src, err, errlen);
	}
	if (strcmp(name, "tekken") == 0) {
		t->ignore_merges = true;
		return tok_pre_add_regex(t, tok_re_tekken, false, TOK_SPLIT_ISOLATED, src, err, errlen);
	}
	return kv_errf(err, errlen, KV_EUNSUP,
		       "%s: pre-tokenizer '%s' is not supported (supported: gpt2, smollm, llama-bpe, "
		       "tekken, default)", src, name);
}

// ----------------------------------------------------------------------------
// normalizer

static int replace_all(const char *s, size_t n, const char *a, const char *b, struct tok_buf *out)
{
	size_t na = strlen(a), nb = strlen(b);
	size_t i = 0;
	while (i < n) {
		if (na && i + na <= n && memcmp(s + i, a, na) == 0) {
			if (tok_buf_put(out, b, nb))
				return KV_ENOMEM;
			i += na;
		} else {
			if (tok_buf_putc(out, s[i]))
				return KV_ENOMEM;
			i++;
		}
	}
	return 0;
}

int tok_normalize(const struct tokenizer *t, const char *seg, size_t n, struct tok_buf *out)
{
	out->len = 0;
	if (tok_buf_put(out, seg, n))
		return KV_ENOMEM;
	struct tok_buf tmp = { 0 };
	for (int k = 0; k < t->n_norm; k++) {
		const struct tok_norm *m = &t->norm[k];
		tmp.len = 0;
		int rc = 0;
		switch (m->kind) {
		case TOK_NORM_PREPEND:
			if (out->len == 0)
				continue;
			rc = tok_buf_put(&tmp, m->a, strlen(m->a));
			if (!rc)
				rc = tok_buf_put(&tmp, out->data, out->len);
			break;
		case TOK_NORM_REPLACE:
			rc = replace_all(out->data, out->len, m->a, m->b, &tmp);
			break;
		case TOK_NORM_NFC: case TOK_NORM_NFD: case TOK_NORM_NFKC: case TOK_NORM_NFKD: {
			if (out->len == 0)
				continue;
			int opt = UTF8PROC_STABLE;
			if (m->kind == TOK_NORM_NFC) opt |= UTF8PROC_COMPOSE;
			if (m->kind == TOK_NORM_NFD) opt |= UTF8PROC_DECOMPOSE;
			if (m->kind == TOK_NORM_NFKC) opt |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
			if (m->kind == TOK_NORM_NFKD) opt |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
			utf8proc_uint8_t *dst = NULL;
			utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)out->data,
							  (utf8proc_ssize_t)out->len, &dst, opt);
			if (r < 0) {
				free(dst);
				rc = KV_ENOMEM;
				break;
			}
			rc = tok_buf_put(&tmp, dst, (size_t)r);
			free(dst);
			break;
		}
		}
		if (rc) {
			free(tmp.data);
			return rc;
		}
		struct tok_buf swap = *out;
		*out = tmp;
		tmp = swap;
	}
	free(tmp.data);
	return 0;
}

// ----------------------------------------------------------------------------
// pre-tokenization

static int spans_push(struct tok_spans *v, size_t off, size_t len)
{
	if (len == 0)
		return 0;
	if (kv_grow((void **)&v->data, &v->cap, v->len + 1, sizeof(*v->data)))
		return KV_ENOMEM;
	v->data[v->len++] = (struct tok_span){ (uint32_t)off, (uint32_t)len };
	return 0;
}

/* Splits s[off..off+len) by the step's regex into out per its behavior. */
static int split_span(const struct tok_pre *p, const char *s, size_t off, size_t len,
		      pcre2_match_data *md, pcre2_match_context *mc, struct tok_spans *out,
		      char *err, size_t errlen)
{
	const PCRE2_SPTR subj = (PCRE2_SPTR)(s + off);
	size_t pos = 0;          /* next unsearched byte */
	size_t gap = 0;          /* start of the text not yet emitted */
	/* pending piece for the merged behaviors */
	size_t pend_off = 0, pend_len = 0;
	bool pend = false, pend_from_match = false;
	int rc;
	while (pos <= len) {
		int m = pcre2_match(p->re, subj, len, pos, PCRE2_NO_UTF_CHECK, md, mc);
		if (m == PCRE2_ERROR_NOMATCH)
			break;
		if (m < 0) {
			PCRE2_UCHAR msg[128];
			pcre2_get_error_message(m, msg, sizeof(msg));
			return kv_errf(err, errlen, KV_EINTERNAL, "pre-tokenizer regex failed: %s",
				       (const char *)msg);
		}
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
		size_t ms = ov[0], me = ov[1];
		if (me == ms) { /* empty match: skip one character */
			if (ms >= len)
				break;
			pos = ms + (size_t)tok_utf8_len((uint8_t)s[off + ms]);
			continue;
		}
		/* the gap [gap, ms) then the match [ms, me) */
		switch (p->behavior) {
		case TOK_SPLIT_ISOLATED:
			if ((rc = spans_push(out, off + gap, ms - gap)) || (rc = spans_push(out, off + ms, me - ms)))
				return rc;
			break;
		case TOK_SPLIT_REMOVED:
			if ((rc = spans_push(out, off + gap, ms - gap)))
				return rc;
			break;
		case TOK_SPLIT_MERGED_PREV:
			/* the gap and the match that follows it form one piece */
			if ((rc = spans_push(out, off + gap, me - gap)))
				return rc;
			break;
		case TOK_SPLIT_MERGED_NEXT:
			if (ms > gap) {
				if (pend && pend_from_match) {
					pend_len += ms - gap;
				} else {
					if (pend && (rc = spans_push(out, pend_off, pend_len)))
						return rc;
					pend_off = off + gap;
					pend_len = ms - gap;
				}
				pend = true;
			}
			if (pend && (rc = spans_push(out, pend_off, pend_len)))
				return rc;
			pend = true;
			pend_from_match = true;
			pend_off = off + ms;
			pend_len = me - ms;
			break;
		}
		gap = me;
		pos = me;
	}
	if (p->behavior == TOK_SPLIT_MERGED_NEXT) {
		if (gap < len) {
			if (pend && pend_from_match) {
				pend_len += len - gap;
			} else {
				if (pend && (rc = spans_push(out, pend_off, pend_len)))
					return rc;
				pend_off = off + gap;
				pend_len = len - gap;
			}
			pend = true;
		}
		if (pend && (rc = spans_push(out, pend_off, pend_len)))
			return rc;
		return 0;
	}
	return spans_push(out, off + gap, len - gap);
}

/* Metaspace: spaces -> repl, prepend per scheme, optionally split before each repl. */
static int metaspace(const struct tok_pre *p, struct tok_buf *s, size_t seg_off, struct tok_spans *out)
{
	struct tok_buf tmp = { 0 };
	size_t nr = strlen(p->repl);
	int rc = replace_all(s->data ? s->data : "", s->len, " ", p->repl, &tmp);
	if (rc)
		goto out_free;
	bool starts = tmp.len >= nr && memcmp(tmp.data, p->repl, nr) == 0;
	bool prepend = tmp.len > 0 && !starts &&
		       (p->prepend == TOK_PREPEND_ALWAYS || (p->prepend == TOK_PREPEND_FIRST && seg_off == 0));
	s->len = 0;
	if ((prepend && (rc = tok_buf_put(s, p->repl, nr))) || (rc = tok_buf_put(s, tmp.data, tmp.len)))
		goto out_free;
	if (!p->split) {
		rc = spans_push(out, 0, s->len);
		goto out_free;
	}
	size_t start = 0;
	for (size_t i = 1; i + nr <= s->len; i++) {
		if (memcmp(s->data + i, p->repl, nr) == 0) {
			if ((rc = spans_push(out, start, i - start)))
				goto out_free;
			start = i;
		}
	}
	rc = spans_push(out, start, s->len - start);
out_free:
	free(tmp.data);
	return rc;
}

int tok_pretokenize(const struct tokenizer *t, struct tok_buf *s, size_t seg_off,
		    pcre2_match_data *md, pcre2_match_context *mc, struct tok_spans *out,
		    struct tok_spans *tmp, char *err, size_t errlen)
{
	int rc;
	out->len = 0;
	int k = 0;
	if (t->n_pre > 0 && t->pre_steps[0].kind == TOK_PRE_METASPACE) {
		if ((rc = metaspace(&t->pre_steps[0], s, seg_off, out)))
			return rc;
		k = 1;
	} else if (t->n_pre > 0 && t->pre_steps[0].kind == TOK_PRE_PREFIX_SPACE) {
		if (s->len > 0 && s->data[0] != ' ') {
			struct tok_buf n2 = { 0 };
			if (tok_buf_putc(&n2, ' ') || tok_buf_put(&n2, s->data, s->len)) {
				free(n2.data);
				return KV_ENOMEM;
			}
			free(s->data);
			*s = n2;
		}
		if ((rc = spans_push(out, 0, s->len)))
			return rc;
		k = 1;
	} else if ((rc = spans_push(out, 0, s->len))) {
		return rc;
	}
	for (; k < t->n_pre; k++) {
		const struct tok_pre *p = &t->pre_steps[k];
		if (p->kind != TOK_PRE_SPLIT)
			continue; /* loaders only allow Metaspace / prefix space first */
		tmp->len = 0;
		for (size_t i = 0; i < out->len; i++)
			if ((rc = split_span(p, s->data, out->data[i].off, out->data[i].len, md, mc, tmp,
					     err, errlen)))
				return rc;
		struct tok_spans swap = *out;
		*out = *tmp;
		*tmp = swap;
	}
	return 0;
}
