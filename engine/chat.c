/* Chat formatting without a Jinja engine (engine/chat.h). chat_detect() lexes the template the
 * way jinja2 does under transformers' settings (trim_blocks, lstrip_blocks, one trailing newline
 * dropped), collects evidence (string literals, names, the concatenation that emits a user turn,
 * literal text outside tags) and maps it onto a table of known variants; chat_render_user()
 * then writes what transformers' apply_chat_template([{"role": "user", "content": msg}],
 * tokenize=False, add_generation_prompt=True) returns for that variant. Anything the evidence
 * does not pin down exactly is refused with KV_EUNSUP rather than guessed.
 * Goldens: scripts/ref_chat.py -> tests/golden/chat_* (sources of each template listed there).
 *
 * Variants (struct chat_format.variant, per family):
 *   CHAT_CHATML  0 chatml          '<|im_start|>' + role + '\n' + content + '<|im_end|>\n', no default system
 *                1 chatml-smollm2  + default system "You are a helpful AI assistant named SmolLM, ..."
 *                2 chatml-qwen2    + default system "You are a helpful assistant."
 *                3 chatml-qwen2.5  + default system "You are Qwen, created by Alibaba Cloud. ..."
 *                4 chatml-qwen3    no default system; enable_thinking left unset (no <think> block)
 *   CHAT_LLAMA3  0 llama3          bos + header turns, content|trim, no system block
 *                1 llama3.1        + system block "Cutting Knowledge Date ... Today Date: 26 Jul 2024"
 *                2 llama3.2        same block, date from strftime_now in the template (see below)
 *   CHAT_MISTRAL 0 mistral-v1        bos + '[INST] ' + content + ' [/INST]'  (v0.1/v0.2 2023 templates)
 *                1 mistral-v1-spaced bos + ' [INST] ' + content + ' [/INST]' (2024 v0.1/v0.2/Mixtral)
 *                2 mistral-v3        bos + '[INST] ' + content + '[/INST]'   (v0.3, V7 one-liners)
 *                3 mistral-tekken    bos + '[INST]' + content + '[/INST]'    (Nemo, Ministral)
 *
 * Dates: transformers gives Llama-3.2 templates strftime_now, so its prompt carries today's date
 * and changes every day. kvlab renders the date the template falls back to without a clock,
 * "26 Jul 2024", so runs are reproducible; the environment variable KVLAB_CHAT_DATE plays the
 * role of transformers' date_string argument for both 3.1 and 3.2: a date such as "05 Mar 2025",
 * or "today" for strftime("%d %b %Y") of the local time (English month names), i.e. what
 * transformers renders today.
 *
 * BOS: bos is written only where the template emits bos_token (Llama-3, Mistral; never ChatML);
 * NULL or "" renders as nothing, as an undefined bos_token does in jinja (the early Llama-3
 * one-liner would raise there instead). The rendered text therefore already holds the BOS
 * text: the tokenizer must not add a second BOS.
 * Not modelled: conditions are never evaluated, so tools, documents, explicit system messages
 * and defaults set by {% set %} are outside the supported set and refused. */
#include "engine/chat.h"   // defines: struct chat_format, enum chat_family, chat_detect, chat_render_user
#include "base/errors.h" // defines: kv_errf, KV_EINVAL, KV_EFORMAT, KV_EUNSUP, KV_ENOMEM

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// ----------------------------------------------------------------------------
// variant table

enum { CHATML_PLAIN, CHATML_SMOLLM2, CHATML_QWEN2, CHATML_QWEN25, CHATML_QWEN3 };
enum { LLAMA3_0, LLAMA3_1, LLAMA3_2 };
enum { MISTRAL_V1, MISTRAL_V1_SPACED, MISTRAL_V3, MISTRAL_TEKKEN };

enum date_src {
	DATE_NONE,  /* no system block */
	DATE_FIXED, /* date_string defaults to "26 Jul 2024" in the template */
	DATE_CLOCK  /* strftime_now("%d %b %Y"), falling back to "26 Jul 2024" */
};

struct variant {
	enum chat_family family;
	int id;
	const char *name;
	const char *default_system; /* ChatML: system text inserted before a first non-system turn */
	const char *inst_open;      /* Mistral: literal before the user content */
	const char *inst_close;     /* Mistral: literal after the user content */
	enum date_src date;         /* Llama-3 */
};

static const struct variant variants[] = {
	{ .family = CHAT_CHATML, .id = CHATML_PLAIN, .name = "chatml" },
	{ .family = CHAT_CHATML, .id = CHATML_SMOLLM2, .name = "chatml-smollm2",
	  .default_system = "You are a helpful AI assistant named SmolLM, trained by Hugging Face" },
	{ .family = CHAT_CHATML, .id = CHATML_QWEN2, .name = "chatml-qwen2",
	  .default_system = "You are a helpful assistant." },
	{ .family = CHAT_CHATML, .id = CHATML_QWEN25, .name = "chatml-qwen2.5",
	  .default_system = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant." },
	{ .family = CHAT_CHATML, .id = CHATML_QWEN3, .name = "chatml-qwen3" },
	{ .family = CHAT_LLAMA3, .id = LLAMA3_0, .name = "llama3", .date = DATE_NONE },
	{ .family = CHAT_LLAMA3, .id = LLAMA3_1, .name = "llama3.1", .date = DATE_FIXED },
	{ .family = CHAT_LLAMA3, .id = LLAMA3_2, .name = "llama3.2", .date = DATE_CLOCK },
	{ .family = CHAT_MISTRAL, .id = MISTRAL_V1, .name = "mistral-v1",
	  .inst_open = "[INST] ", .inst_close = " [/INST]" },
	{ .family = CHAT_MISTRAL, .id = MISTRAL_V1_SPACED, .name = "mistral-v1-spaced",
	  .inst_open = " [INST] ", .inst_close = " [/INST]" },
	{ .family = CHAT_MISTRAL, .id = MISTRAL_V3, .name = "mistral-v3",
	  .inst_open = "[INST] ", .inst_close = "[/INST]" },
	{ .family = CHAT_MISTRAL, .id = MISTRAL_TEKKEN, .name = "mistral-tekken",
	  .inst_open = "[INST]", .inst_close = "[/INST]" },
};
#define N_VARIANTS (sizeof(variants) / sizeof(variants[0]))

static const char *const family_names[] = {
	[CHAT_NONE] = "none", [CHAT_CHATML] = "chatml", [CHAT_LLAMA3] = "llama3",
	[CHAT_MISTRAL] = "mistral",
};
_Static_assert(sizeof(family_names) / sizeof(family_names[0]) == CHAT_FAMILY_COUNT,
	       "family_names out of sync with enum chat_family");

#define LLAMA3_FALLBACK_DATE "26 Jul 2024"
#define LLAMA3_SYS_HEAD "<|start_header_id|>system<|end_header_id|>\n\n"
#define LLAMA3_CUTOFF "Cutting Knowledge Date: December 2023\n"
#define LLAMA3_USER_HEAD "<|start_header_id|>user<|end_header_id|>\n\n"
#define LLAMA3_GEN "<|start_header_id|>assistant<|end_header_id|>\n\n"
#define CHATML_GEN "<|im_start|>assistant\n"

/* A flattened user-turn concatenation: literals verbatim, references as these markers. */
#define SHAPE_ROLE "\x01R"
#define SHAPE_CONTENT "\x01" "C"
#define SHAPE_CONTENT_TRIM "\x01T"
static const char shape_chatml[] = "<|im_start|>" SHAPE_ROLE "\n" SHAPE_CONTENT "<|im_end|>\n";
static const char shape_llama3[] =
	"<|start_header_id|>" SHAPE_ROLE "<|end_header_id|>\n\n" SHAPE_CONTENT_TRIM "<|eot_id|>";

static const struct variant *find_variant(enum chat_family family, int id)
{
	for (size_t i = 0; i < N_VARIANTS; i++)
		if (variants[i].family == family && variants[i].id == id)
			return &variants[i];
	return NULL;
}

const char *chat_family_name(enum chat_family f)
{
	if ((int)f < 0 || f >= CHAT_FAMILY_COUNT)
		return "unknown";
	return family_names[f];
}

// ----------------------------------------------------------------------------
// lexing (jinja2's lexer, the subset chat templates use)

enum tk_kind { TK_STR, TK_NAME, TK_NUM, TK_OP };

struct token {
	enum tk_kind kind;
	const char *s; /* TK_STR: decoded text in the arena; otherwise the source span */
	size_t n;
};

struct tag {
	size_t first, count; /* token range */
	bool is_block;       /* {% %} statement (else a {{ }} expression) */
};

struct scan {
	const char *src;
	size_t len;              /* without the trailing newline jinja drops */
	struct token *tok;       /* (n_tok,) */
	size_t n_tok, cap_tok;
	struct tag *tags;        /* (n_tag,) expression and statement tags, in order */
	size_t n_tag, cap_tag;
	char *arena;             /* decoded string literals; never longer than their source */
	size_t arena_used;
	bool emits_text;         /* text outside tags survives whitespace control */
	char text_preview[32];   /* the first such text */
};

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(char c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}

static bool starts(const char *s, size_t n, size_t at, const char *lit)
{
	size_t k = strlen(lit);
	return at + k <= n && memcmp(s + at, lit, k) == 0;
}

/* Copies up to 31 bytes of s into out, control characters shown as spaces. */
static void preview(const char *s, size_t n, char out[32])
{
	size_t k = n < 31 ? n : 31;
	for (size_t i = 0; i < k; i++)
		out[i] = (unsigned char)s[i] < 0x20 ? ' ' : s[i];
	out[k] = '\0';
}

static int oom(char *err, size_t errlen)
{
	return kv_errf(err, errlen, KV_ENOMEM, "chat template: out of memory while lexing");
}

static int push_token(struct scan *sc, enum tk_kind kind, const char *s, size_t n)
{
	if (sc->n_tok == sc->cap_tok) {
		size_t cap = sc->cap_tok ? 2 * sc->cap_tok : 256;
		struct token *t = realloc(sc->tok, cap * sizeof(*t));
		if (!t)
			return KV_ENOMEM;
		sc->tok = t;
		sc->cap_tok = cap;
	}
	sc->tok[sc->n_tok++] = (struct token){ .kind = kind, .s = s, .n = n };
	return 0;
}

static int push_tag(struct scan *sc, size_t first, bool is_block)
{
	if (sc->n_tag == sc->cap_tag) {
		size_t cap = sc->cap_tag ? 2 * sc->cap_tag : 64;
		struct tag *t = realloc(sc->tags, cap * sizeof(*t));
		if (!t)
			return KV_ENOMEM;
		sc->tags = t;
		sc->cap_tag = cap;
	}
	sc->tags[sc->n_tag++] =
		(struct tag){ .first = first, .count = sc->n_tok - first, .is_block = is_block };
	return 0;
}

static size_t put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes the string literal body [b, e) as jinja2 does (newlines normalised to \n, then
 * Python's unicode-escape) into out; returns the length or -1 on a bad/unsupported escape.
 * The result is never longer than the source. */
static long decode_literal(const char *b, const char *e, char *out)
{
	char *o = out;
	while (b < e) {
		char c = *b++;
		if (c == '\r') {
			*o++ = '\n';
			if (b < e && *b == '\n')
				b++;
			continue;
		}
		if (c != '\\') {
			*o++ = c;
			continue;
		}
		if (b >= e)
			return -1;
		char x = *b++;
		uint32_t cp = 0;
		int nd = 0;
		switch (x) {
		case '\n': continue; /* line continuation */
		case '\r':
			if (b < e && *b == '\n')
				b++;
			continue;
		case '\\': case '\'': case '"': *o++ = x; continue;
		case 'a': *o++ = '\a'; continue;
		case 'b': *o++ = '\b'; continue;
		case 'f': *o++ = '\f'; continue;
		case 'n': *o++ = '\n'; continue;
		case 'r': *o++ = '\r'; continue;
		case 't': *o++ = '\t'; continue;
		case 'v': *o++ = '\v'; continue;
		case 'x': nd = 2; break;
		case 'u': nd = 4; break;
		case 'U': nd = 8; break;
		case 'N': return -1; /* \N{NAME}: not needed by any known template */
		default:
			if (x >= '0' && x <= '7') {
				cp = (uint32_t)(x - '0');
				for (int k = 0; k < 2 && b < e && *b >= '0' && *b <= '7'; k++)
					cp = cp * 8 + (uint32_t)(*b++ - '0');
				o += put_utf8(o, cp);
				continue;
			}
			*o++ = '\\'; /* Python keeps unknown escapes as they are */
			*o++ = x;
			continue;
		}
		if (e - b < nd)
			return -1;
		for (int k = 0; k < nd; k++) {
			int h = hex_val(b[k]);
			if (h < 0)
				return -1;
			cp = cp * 16 + (uint32_t)h;
		}
		b += nd;
		if (cp > 0x10FFFF)
			return -1;
		o += put_utf8(o, cp);
	}
	return o - out;
}

/* Lexes the inside of a {{ }} or {% %} tag starting at *pos; on success *pos is past the closer
 * and *close_mod holds '-', '+' or 0. */
static int lex_tag(struct scan *sc, size_t *pos, bool is_block, char *close_mod, char *err,
		   size_t errlen)
{
	static const char *const ops2[] = { "==", "!=", ">=", "<=", "//", "**" };
	const char *s = sc->src;
	size_t n = sc->len, p = *pos, open = *pos;
	int depth = 0;
	for (;;) {
		while (p < n && is_ws(s[p]))
			p++;
		if (p >= n)
			return kv_errf(err, errlen, KV_EFORMAT,
				       "chat template: tag opened at byte %zu is never closed", open);
		if (depth == 0) {
			const char *closer = is_block ? "%}" : "}}";
			if ((s[p] == '-' || (is_block && s[p] == '+')) && starts(s, n, p + 1, closer)) {
				*close_mod = s[p];
				*pos = p + 3;
				return 0;
			}
			if (starts(s, n, p, closer)) {
				*close_mod = 0;
				*pos = p + 2;
				return 0;
			}
		}
		char c = s[p];
		if (c == '\'' || c == '"') {
			size_t q = p + 1;
			while (q < n && s[q] != c)
				q += s[q] == '\\' ? 2 : 1;
			if (q >= n)
				return kv_errf(err, errlen, KV_EFORMAT,
					       "chat template: string literal at byte %zu is never closed", p);
			char *out = sc->arena + sc->arena_used;
			long k = decode_literal(s + p + 1, s + q, out);
			if (k < 0)
				return kv_errf(err, errlen, KV_EUNSUP,
					       "chat template: string literal at byte %zu has an escape kvlab "
					       "cannot decode", p);
			sc->arena_used += (size_t)k;
			if (push_token(sc, TK_STR, out, (size_t)k) != 0)
				return oom(err, errlen);
			p = q + 1;
		} else if (is_name_start(c)) {
			size_t q = p;
			while (q < n && is_name_char(s[q]))
				q++;
			if (push_token(sc, TK_NAME, s + p, q - p) != 0)
				return oom(err, errlen);
			p = q;
		} else if (c >= '0' && c <= '9') {
			size_t q = p;
			while (q < n && (is_name_char(s[q]) || s[q] == '.'))
				q++;
			if (push_token(sc, TK_NUM, s + p, q - p) != 0)
				return oom(err, errlen);
			p = q;
		} else {
			size_t k = 1;
			for (size_t i = 0; i < sizeof(ops2) / sizeof(ops2[0]); i++)
				if (starts(s, n, p, ops2[i]))
					k = 2;
			if (c == '(' || c == '[' || c == '{')
				depth++;
			else if ((c == ')' || c == ']' || c == '}') && depth > 0)
				depth--;
			if (push_token(sc, TK_OP, s + p, k) != 0)
				return oom(err, errlen);
			p += k;
		}
	}
}

/* Applies jinja2's whitespace control to the text [b, e) between two tags and records it when
 * something is left: that text would be part of every render. */
static void check_text(struct scan *sc, size_t b, size_t e, char prev_close, bool line_starting,
		       int next_kind, char next_open)
{
	const char *s = sc->src;
	if (prev_close == '-')
		while (b < e && is_ws(s[b]))
			b++;
	if (next_kind != 0) {
		if (next_open == '-') {
			while (e > b && is_ws(s[e - 1]))
				e--;
		} else if (next_kind != '{' && next_open != '+') {
			/* lstrip_blocks: whitespace between the line start and a {% or {# goes */
			size_t l = e;
			while (l > b && s[l - 1] != '\n')
				l--;
			bool blank = true;
			for (size_t i = l; i < e; i++)
				if (!is_ws(s[i]))
					blank = false;
			if (blank && (l > b || line_starting))
				e = l;
		}
	}
	if (e > b && !sc->emits_text) {
		sc->emits_text = true;
		preview(s + b, e - b, sc->text_preview);
	}
}

/* Splits the template into text and tags and lexes every tag. */
static int scan_template(struct scan *sc, const char *text, char *err, size_t errlen)
{
	int rc;
	memset(sc, 0, sizeof(*sc));
	sc->src = text;
	sc->len = strlen(text);
	if (sc->len > 0 && text[sc->len - 1] == '\n') /* keep_trailing_newline=False */
		sc->len -= (sc->len > 1 && text[sc->len - 2] == '\r') ? 2 : 1;
	sc->arena = malloc(sc->len + 1);
	if (!sc->arena)
		return kv_errf(err, errlen, KV_ENOMEM, "chat template: out of memory (%zu bytes)", sc->len);

	const char *s = sc->src;
	size_t n = sc->len, pos = 0;
	char prev_close = 0;
	bool prev_is_block = false, line_starting = true;
	for (;;) {
		size_t open = pos;
		while (open + 1 < n && !(s[open] == '{' && (s[open + 1] == '{' || s[open + 1] == '%' ||
							    s[open + 1] == '#')))
			open++;
		if (open + 1 >= n) {
			check_text(sc, pos, n, prev_close, line_starting, 0, 0);
			return 0;
		}
		char kind = s[open + 1];
		char open_mod = (open + 2 < n && (s[open + 2] == '-' || s[open + 2] == '+')) ? s[open + 2] : 0;
		check_text(sc, pos, open, prev_close, line_starting, kind, open_mod);
		size_t p = open + 2 + (open_mod ? 1 : 0);
		char close_mod = 0;
		if (kind == '#') {
			const char *end = NULL;
			for (size_t q = p; q + 1 < n; q++)
				if (s[q] == '#' && s[q + 1] == '}') {
					end = s + q;
					break;
				}
			if (!end)
				return kv_errf(err, errlen, KV_EFORMAT,
					       "chat template: comment opened at byte %zu is never closed", open);
			if (end > s + p && end[-1] == '-')
				close_mod = '-';
			pos = (size_t)(end - s) + 2;
		} else {
			size_t first = sc->n_tok;
			pos = p;
			if ((rc = lex_tag(sc, &pos, kind == '%', &close_mod, err, errlen)) != 0)
				return rc;
			if (kind == '%' && sc->n_tok > first && sc->tok[first].kind == TK_NAME &&
			    sc->tok[first].n == 3 && memcmp(sc->tok[first].s, "raw", 3) == 0)
				return kv_errf(err, errlen, KV_EUNSUP,
					       "chat template: {%% raw %%} blocks are not supported");
			if (push_tag(sc, first, kind == '%') != 0)
				return oom(err, errlen);
		}
		prev_close = close_mod;
		prev_is_block = kind != '{';
		line_starting = false;
		if (close_mod == '-') {
			while (pos < n && is_ws(s[pos]))
				pos++;
			line_starting = pos > 0 && s[pos - 1] == '\n';
		} else if (prev_is_block && close_mod != '+' && pos < n && s[pos] == '\n') {
			pos++; /* trim_blocks */
			line_starting = true;
		}
	}
}

static bool tok_is(const struct token *t, enum tk_kind kind, const char *lit)
{
	size_t k = strlen(lit);
	return t->kind == kind && t->n == k && memcmp(t->s, lit, k) == 0;
}

/* Checks that statement blocks nest ({% if %}..{% endif %}, for, macro, call, filter, block-set),
 * as jinja2's parser requires before it renders anything. */
static int check_nesting(const struct scan *sc, char *err, size_t errlen)
{
	static const char *const openers[] = { "if", "for", "macro", "call", "filter", "set", "with",
					       "block" };
	char stack[64][8];
	int depth = 0;
	for (size_t g = 0; g < sc->n_tag; g++) {
		const struct token *t = sc->tok + sc->tags[g].first;
		size_t n = sc->tags[g].count;
		if (!sc->tags[g].is_block || n == 0 || t[0].kind != TK_NAME || t[0].n >= 8)
			continue;
		char word[8];
		memcpy(word, t[0].s, t[0].n);
		word[t[0].n] = '\0';
		bool assign = false; /* {% set x = v %} is a statement, {% set x %}..{% endset %} a block */
		for (size_t i = 1; i < n; i++)
			assign |= tok_is(&t[i], TK_OP, "=");
		for (size_t i = 0; i < sizeof(openers) / sizeof(openers[0]); i++) {
			if (strcmp(word, openers[i]) != 0 || (strcmp(word, "set") == 0 && assign))
				continue;
			if (depth == 64)
				return kv_errf(err, errlen, KV_EUNSUP, "chat template: blocks nest deeper than 64");
			memcpy(stack[depth++], word, sizeof(word));
		}
		if (strncmp(word, "end", 3) == 0) {
			if (depth == 0 || strcmp(stack[depth - 1], word + 3) != 0)
				return kv_errf(err, errlen, KV_EFORMAT,
					       "chat template: {%% %s %%} does not match the open block (%s)",
					       word, depth ? stack[depth - 1] : "none");
			depth--;
		}
	}
	if (depth > 0)
		return kv_errf(err, errlen, KV_EFORMAT, "chat template: {%% %s %%} is never closed",
			       stack[depth - 1]);
	return 0;
}

static void scan_free(struct scan *sc)
{
	free(sc->tok);
	free(sc->tags);
	free(sc->arena);
}

// ----------------------------------------------------------------------------
// evidence

struct evidence {
	bool has_im_start, has_header, has_inst, has_sys_tag; /* markers in string literals */
	bool bos_token, strftime_now, enable_thinking, default_system_name, add_generation_prompt;
	char chatml_default[160]; /* text of a '<|im_start|>system\n...<|im_end|>\n' literal */
	bool chatml_default_found, chatml_default_conflict, chatml_default_long;
	char set_system[48];      /* first non-empty literal assigned to system_message */
	bool set_system_found;
	char user_shape[256];     /* flattened user-turn concatenation (SHAPE_* markers) */
	bool user_found, user_conflict;
	char other_shape[256];    /* a second, different user-turn shape (for the message) */
};

static bool has_literal(const struct scan *sc, const char *lit)
{
	for (size_t i = 0; i < sc->n_tok; i++)
		if (tok_is(&sc->tok[i], TK_STR, lit))
			return true;
	return false;
}

/* The generation prompt lit is emitted under {% if add_generation_prompt %}, or unconditionally
 * by the template's last tag (early Llama-3 templates). */
static bool has_generation_prompt(const struct scan *sc, const struct evidence *ev, const char *lit)
{
	if (!has_literal(sc, lit))
		return false;
	if (ev->add_generation_prompt)
		return true;
	const struct tag *last = sc->n_tag ? &sc->tags[sc->n_tag - 1] : NULL;
	return last && !last->is_block && last->count == 1 && tok_is(&sc->tok[last->first], TK_STR, lit);
}

static bool mem_has(const char *s, size_t n, const char *lit)
{
	size_t k = strlen(lit);
	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(s + i, lit, k) == 0)
			return true;
	return false;
}

/* Skips a bracketed group starting at tokens[i] (an opening bracket); returns the index after. */
static size_t skip_group(const struct token *t, size_t i, size_t end)
{
	int depth = 0;
	for (; i < end; i++) {
		if (t[i].kind != TK_OP)
			continue;
		char c = t[i].s[0];
		if (c == '(' || c == '[' || c == '{')
			depth++;
		else if ((c == ')' || c == ']' || c == '}') && --depth == 0)
			return i + 1;
	}
	return end;
}

enum opd_kind { OPD_STR, OPD_CONTENT, OPD_ROLE, OPD_OTHER };

struct operand {
	enum opd_kind kind;
	const struct token *str; /* OPD_STR */
	bool trim, other_filter; /* filters applied to the operand */
};

static bool is_keyword(const struct token *t)
{
	static const char *const kw[] = { "not", "and", "or", "in", "is", "if", "else", "elif",
					  "for", "set", "endif", "endfor", "none", "true", "false" };
	for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
		if (tok_is(t, TK_NAME, kw[i]))
			return true;
	return false;
}

/* Parses one operand of a concatenation at t[i]: a literal, or a name with .attr / ['key']
 * accessors, each optionally followed by |filters. Returns the index after it. */
static size_t parse_operand(const struct token *t, size_t i, size_t end, struct operand *o)
{
	memset(o, 0, sizeof(*o));
	o->kind = OPD_OTHER;
	if (t[i].kind == TK_STR) {
		o->kind = OPD_STR;
		o->str = &t[i];
		i++;
	} else if (t[i].kind == TK_NAME && !is_keyword(&t[i])) {
		bool is_message = tok_is(&t[i], TK_NAME, "message"), plain = true;
		const struct token *attr = NULL;
		int n_attr = 0;
		i++;
		while (i < end && t[i].kind == TK_OP) {
			if (tok_is(&t[i], TK_OP, ".") && i + 1 < end && t[i + 1].kind == TK_NAME) {
				attr = &t[i + 1];
				n_attr++;
				i += 2;
			} else if (tok_is(&t[i], TK_OP, "[") && i + 2 < end && t[i + 1].kind == TK_STR &&
				   tok_is(&t[i + 2], TK_OP, "]")) {
				attr = &t[i + 1];
				n_attr++;
				i += 3;
			} else if (tok_is(&t[i], TK_OP, "[") || tok_is(&t[i], TK_OP, "(")) {
				plain = false; /* subscript or call */
				i = skip_group(t, i, end);
			} else {
				break;
			}
		}
		if (is_message && plain && n_attr == 1) {
			if (attr->n == 7 && memcmp(attr->s, "content", 7) == 0)
				o->kind = OPD_CONTENT;
			else if (attr->n == 4 && memcmp(attr->s, "role", 4) == 0)
				o->kind = OPD_ROLE;
		}
	} else if (tok_is(&t[i], TK_OP, "(")) {
		i = skip_group(t, i, end);
	} else {
		return i + 1;
	}
	while (i + 1 < end && tok_is(&t[i], TK_OP, "|") && t[i + 1].kind == TK_NAME) {
		if (tok_is(&t[i + 1], TK_NAME, "trim") && !o->other_filter && !o->trim)
			o->trim = true;
		else
			o->other_filter = true;
		i += 2;
		if (i < end && tok_is(&t[i], TK_OP, "("))
			i = skip_group(t, i, end);
	}
	return i;
}

static void shape_add(char *shape, size_t cap, size_t *n, const char *s, size_t k)
{
	if (*n + k >= cap) {
		*n = cap; /* too long: marks the shape as unusable */
		return;
	}
	memcpy(shape + *n, s, k);
	*n += k;
	shape[*n] = '\0';
}

/* Records a concatenation chain: a user turn when it emits message content after a literal
 * carrying a turn marker and refers to nothing but the role and the content. */
static void note_chain(struct evidence *ev, const struct operand *ops, size_t n_ops)
{
	char shape[256] = "";
	size_t n = 0;
	bool content = false, marker = false;
	for (size_t i = 0; i < n_ops; i++) {
		const struct operand *o = &ops[i];
		switch (o->kind) {
		case OPD_STR:
			if (!content && (mem_has(o->str->s, o->str->n, "<|im_start|>") ||
					 mem_has(o->str->s, o->str->n, "<|start_header_id|>") ||
					 mem_has(o->str->s, o->str->n, "[INST]")))
				marker = true;
			shape_add(shape, sizeof(shape), &n, o->str->s, o->str->n);
			if (o->trim || o->other_filter)
				shape_add(shape, sizeof(shape), &n, "\x01?", 2);
			break;
		case OPD_CONTENT:
			content = true;
			shape_add(shape, sizeof(shape), &n,
				  o->other_filter ? "\x01?" : o->trim ? SHAPE_CONTENT_TRIM : SHAPE_CONTENT, 2);
			break;
		case OPD_ROLE:
			shape_add(shape, sizeof(shape), &n, o->trim || o->other_filter ? "\x01?" : SHAPE_ROLE, 2);
			break;
		case OPD_OTHER:
			return; /* refers to something else (system_message, ...): not a plain user turn */
		}
	}
	if (!content || !marker || n >= sizeof(shape))
		return;
	if (!ev->user_found) {
		memcpy(ev->user_shape, shape, n + 1);
		ev->user_found = true;
	} else if (strcmp(ev->user_shape, shape) != 0 && !ev->user_conflict) {
		ev->user_conflict = true;
		memcpy(ev->other_shape, shape, n + 1);
	}
}

static void gather(const struct scan *sc, struct evidence *ev)
{
	static const char im_sys[] = "<|im_start|>system\n", im_end[] = "<|im_end|>\n";
	const size_t k_sys = sizeof(im_sys) - 1, k_end = sizeof(im_end) - 1;
	memset(ev, 0, sizeof(*ev));
	for (size_t i = 0; i < sc->n_tok; i++) {
		const struct token *t = &sc->tok[i];
		if (t->kind == TK_NAME) {
			ev->bos_token |= tok_is(t, TK_NAME, "bos_token");
			ev->strftime_now |= tok_is(t, TK_NAME, "strftime_now");
			ev->enable_thinking |= tok_is(t, TK_NAME, "enable_thinking");
			ev->default_system_name |= tok_is(t, TK_NAME, "default_system_message");
			ev->add_generation_prompt |= tok_is(t, TK_NAME, "add_generation_prompt");
			continue;
		}
		if (t->kind != TK_STR)
			continue;
		ev->has_im_start |= mem_has(t->s, t->n, "<|im_start|>");
		ev->has_header |= mem_has(t->s, t->n, "<|start_header_id|>");
		ev->has_inst |= mem_has(t->s, t->n, "[INST]");
		ev->has_sys_tag |= mem_has(t->s, t->n, "<<SYS>>");
		if (t->n > k_sys + k_end && memcmp(t->s, im_sys, k_sys) == 0 &&
		    memcmp(t->s + t->n - k_end, im_end, k_end) == 0) {
			size_t k = t->n - k_sys - k_end;
			if (k >= sizeof(ev->chatml_default)) {
				ev->chatml_default_long = true;
				k = sizeof(ev->chatml_default) - 1;
			}
			if (ev->chatml_default_found && (strlen(ev->chatml_default) != k ||
							 memcmp(ev->chatml_default, t->s + k_sys, k) != 0))
				ev->chatml_default_conflict = true;
			if (!ev->chatml_default_found) {
				memcpy(ev->chatml_default, t->s + k_sys, k);
				ev->chatml_default[k] = '\0';
				ev->chatml_default_found = true;
			}
		}
	}
	for (size_t g = 0; g < sc->n_tag; g++) {
		const struct token *t = sc->tok + sc->tags[g].first;
		size_t end = sc->tags[g].count;
		/* {% set system_message = 'literal' %}: a default system message */
		if (end == 4 && tok_is(&t[0], TK_NAME, "set") && tok_is(&t[1], TK_NAME, "system_message") &&
		    tok_is(&t[2], TK_OP, "=") && t[3].kind == TK_STR && t[3].n > 0 && !ev->set_system_found) {
			preview(t[3].s, t[3].n, ev->set_system);
			ev->set_system_found = true;
		}
		struct operand ops[32];
		size_t i = 0;
		while (i < end) {
			size_t n_ops = 0, next = parse_operand(t, i, end, &ops[0]);
			if (next == i + 1 && ops[0].kind == OPD_OTHER && t[i].kind != TK_NAME) {
				i = next; /* an operator or punctuation */
				continue;
			}
			n_ops = 1;
			while (next + 1 < end && (tok_is(&t[next], TK_OP, "+") || tok_is(&t[next], TK_OP, "~")) &&
			       n_ops < sizeof(ops) / sizeof(ops[0]))
				next = parse_operand(t, next + 1, end, &ops[n_ops++]);
			if (n_ops > 1)
				note_chain(ev, ops, n_ops);
			i = next > i ? next : i + 1;
		}
	}
}

// ----------------------------------------------------------------------------
// detection

/* Writes "<name>: <evidence>" into out->detail. */
static void set_detail(struct chat_format *out, const struct variant *v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_detail(struct chat_format *out, const struct variant *v, const char *fmt, ...)
{
	int k = snprintf(out->detail, sizeof(out->detail), "%s: ", v->name);
	if (k < 0 || (size_t)k >= sizeof(out->detail))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out->detail + k, sizeof(out->detail) - (size_t)k, fmt, ap);
	va_end(ap);
}

static int detect_chatml(const struct scan *sc, const struct evidence *ev, struct chat_format *out,
			 char *err, size_t errlen)
{
	const struct variant *v = NULL;
	if (ev->bos_token)
		return kv_errf(err, errlen, KV_EUNSUP,
			       "chat template: ChatML template that emits bos_token is not a known variant");
	if (!has_generation_prompt(sc, ev, CHATML_GEN))
		return kv_errf(err, errlen, KV_EUNSUP,
			       "chat template: ChatML markers but no '<|im_start|>assistant\\n' generation prompt");
	if (ev->chatml_default_conflict || ev->chatml_default_long)
		return kv_errf(err, errlen, KV_EUNSUP,
			       "chat template: ChatML template with several or overlong default system messages");
	if (ev->chatml_default_found) {
		for (size_t i = 0; i < N_VARIANTS && !v; i++)
			if (variants[i].family == CHAT_CHATML && variants[i].default_system &&
			    strcmp(variants[i].default_system, ev->chatml_default) == 0)
				v = &variants[i];
		if (!v)
			return kv_errf(err, errlen, KV_EUNSUP,
				       "chat template: ChatML template with an unknown default system message "
				       "'%.60s' (known: SmolLM2, Qwen2, Qwen2.5)", ev->chatml_default);
		set_detail(out, v, "<|im_start|> turns; default system '%.40s...'", v->default_system);
	} else if (ev->enable_thinking) {
		v = find_variant(CHAT_CHATML, CHATML_QWEN3);
		set_detail(out, v, "<|im_start|> turns, no default system; enable_thinking unset, no <think>");
	} else {
		v = find_variant(CHAT_CHATML, CHATML_PLAIN);
		set_detail(out, v, "<|im_start|> turns, no default system message");
	}
	out->family = CHAT_CHATML;
	out->variant = v->id;
	return 0;
}

static int detect_llama3(const struct scan *sc, const struct evidence *ev, struct chat_format *out,
			 char *err, size_t errlen)
{
	const struct variant *v;
	if (!ev->bos_token)
		return kv_errf(err, errlen, KV_EUNSUP,
			       "chat template: Llama-3 header turns without bos_token is not a known variant");
	if (!has_generation_prompt(sc, ev, LLAMA3_GEN))
		return kv_errf(err, errlen, KV_EUNSUP,
			       "chat template: Llama-3 markers but no assistant-header generation prompt");
	if (has_literal(sc, LLAMA3_CUTOFF)) {
		if (!has_literal(sc, LLAMA3_SYS_HEAD) || !has_literal(sc, "Today Date: ") ||
		    !has_literal(sc, LLAMA3_FALLBACK_DATE))
			return kv_errf(err, errlen, KV_EUNSUP,
				       "chat template: Llama-3.1-style 'Cutting Knowledge Date' block without the "
				       "known system header, 'Today Date: ' or '" LLAMA3_FALLBACK_DATE "' default");
		if (ev->strftime_now) {
			if (!has_literal(sc, "%d %b %Y"))
				return kv_errf(err, errlen, KV_EUNSUP,
					       "chat template: Llama-3 template calls strftime_now with a "
					       "format other than '%%d %%b %%Y'");
			v = find_variant(CHAT_LLAMA3, LLAMA3_2);
			set_detail(out, v, "header turns, content|trim, Cutting Knowledge block, date from "
				   "strftime_now (kvlab: " LLAMA3_FALLBACK_DATE " or $KVLAB_CHAT_DATE)");
		} else {
			v = find_variant(CHAT_LLAMA3, LLAMA3_1);
			set_detail(out, v, "header turns, content|trim, Cutting Knowledge block, date_string "
				   "default '" LLAMA3_FALLBACK_DATE "'");
		}
	} else {
		for (size_t i = 0; i < sc->n_tok; i++)
			if (sc->tok[i].kind == TK_STR &&
			    mem_has(sc->tok[i].s, sc->tok[i].n, "<|start_header_id|>system"))
				return kv_errf(err, errlen, KV_EUNSUP,
					       "chat template: Llama-3 template with an unknown system block");
		v = find_variant(CHAT_LLAMA3, LLAMA3_0);
		set_detail(out, v, "<|start_header_id|> turns, content|trim, bos_token, no system block");
	}
	out->family = CHAT_LLAMA3;
	out->variant = v->id;
	return 0;
}

static int detect_mistral(const struct evidence *ev, struct chat_format *out, char *err, size_t errlen)
{
	if (!ev->bos_token)
		return kv_errf(err, errlen, KV_EUNSUP,
			       "chat template: [INST] template without bos_token is not a known Mistral variant");
	for (size_t i = 0; i < N_VARIANTS; i++) {
		const struct variant *v = &variants[i];
		if (v->family != CHAT_MISTRAL)
			continue;
		char want[64];
		snprintf(want, sizeof(want), "%s" SHAPE_CONTENT "%s", v->inst_open, v->inst_close);
		if (strcmp(want, ev->user_shape) != 0)
			continue;
		set_detail(out, v, "bos_token + '%s' + content + '%s'", v->inst_open, v->inst_close);
		out->family = CHAT_MISTRAL;
		out->variant = v->id;
		return 0;
	}
	char shown[64];
	preview(ev->user_shape, strlen(ev->user_shape), shown);
	return kv_errf(err, errlen, KV_EUNSUP,
		       "chat template: [INST] user turn '%s' (content shown as ' C') matches no known "
		       "Mistral spacing (v1, v1-spaced, v3, tekken)", shown);
}

int chat_detect(const char *template_text, struct chat_format *out, char *err, size_t errlen)
{
	struct chat_format f = { 0 };
	struct scan sc;
	struct evidence ev;
	char head[32];
	int rc, n_fam;
	if (!out)
		return kv_errf(err, errlen, KV_EINVAL, "chat_detect: out must not be NULL");
	if (!template_text) {
		f.family = CHAT_NONE;
		snprintf(f.detail, sizeof(f.detail), "none: no chat template, the prompt is used as is");
		*out = f;
		return 0;
	}
	if ((rc = scan_template(&sc, template_text, err, errlen)) != 0 ||
	    (rc = check_nesting(&sc, err, errlen)) != 0)
		goto out_free;
	gather(&sc, &ev);

	preview(template_text, strlen(template_text), head);
	if (sc.emits_text) {
		rc = kv_errf(err, errlen, KV_EUNSUP,
			     "chat template: emits literal text '%s' outside {{ }} (not a known template)",
			     sc.text_preview);
		goto out_free;
	}
	n_fam = ev.has_im_start + ev.has_header + ev.has_inst;
	if (n_fam == 0) {
		rc = kv_errf(err, errlen, KV_EUNSUP,
			     "chat template (%zu bytes, starts '%s'): no known chat markers (<|im_start|>, "
			     "<|start_header_id|>, [INST]); supported: chatml, llama3, mistral",
			     strlen(template_text), head);
		goto out_free;
	}
	if (n_fam > 1) {
		rc = kv_errf(err, errlen, KV_EUNSUP,
			     "chat template (starts '%s'): markers of more than one family", head);
		goto out_free;
	}
	if (ev.has_inst && ev.has_sys_tag) {
		rc = kv_errf(err, errlen, KV_EUNSUP,
			     "chat template: Llama-2 style [INST] <<SYS>> template is not supported");
		goto out_free;
	}
	if (ev.default_system_name || ev.set_system_found) {
		rc = kv_errf(err, errlen, KV_EUNSUP,
			     "chat template: sets a default system message%s%s%s; not a known variant",
			     ev.set_system_found ? " '" : " (default_system_message)",
			     ev.set_system_found ? ev.set_system : "", ev.set_system_found ? "...'" : "");
		goto out_free;
	}
	if (!ev.user_found) {
		rc = kv_errf(err, errlen, KV_EUNSUP,
			     "chat template: no user-turn expression of the form marker + message content "
			     "(+ marker) found");
		goto out_free;
	}
	if (ev.user_conflict) {
		char a[32], b[32];
		preview(ev.user_shape, strlen(ev.user_shape), a);
		preview(ev.other_shape, strlen(ev.other_shape), b);
		rc = kv_errf(err, errlen, KV_EUNSUP,
			     "chat template: two different user-turn expressions ('%s' and '%s')", a, b);
		goto out_free;
	}
	if (ev.has_im_start) {
		if (strcmp(ev.user_shape, shape_chatml) != 0) {
			rc = kv_errf(err, errlen, KV_EUNSUP,
				     "chat template: ChatML user turn is not '<|im_start|>' + role + '\\n' + "
				     "content + '<|im_end|>\\n' (content transformed?)");
			goto out_free;
		}
		rc = detect_chatml(&sc, &ev, &f, err, errlen);
	} else if (ev.has_header) {
		if (strcmp(ev.user_shape, shape_llama3) != 0) {
			rc = kv_errf(err, errlen, KV_EUNSUP,
				     "chat template: Llama-3 user turn is not header + content|trim + "
				     "'<|eot_id|>'");
			goto out_free;
		}
		rc = detect_llama3(&sc, &ev, &f, err, errlen);
	} else {
		rc = detect_mistral(&ev, &f, err, errlen);
	}
	if (rc == 0)
		*out = f;
out_free:
	scan_free(&sc);
	return rc;
}

// ----------------------------------------------------------------------------
// rendering

struct span {
	const char *p;
	size_t n;
};

static struct span sp(const char *s)
{
	return (struct span){ s, strlen(s) };
}

/* Python's str.isspace(), which jinja's |trim (str.strip) uses. */
static bool py_space(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
	       c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
	       c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Decodes one UTF-8 sequence at s (n bytes left); returns its length, 0 if invalid. */
static size_t utf8_dec(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t k;
	uint32_t c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xC2 && c <= 0xDF) {
		k = 2;
		c &= 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		k = 3;
		c &= 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		k = 4;
		c &= 0x07;
	} else {
		return 0;
	}
	if (n < k)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	*cp = c;
	return k;
}

/* str.strip() on UTF-8 text; invalid sequences count as non-space. */
static struct span py_strip(const char *s)
{
	const unsigned char *b = (const unsigned char *)s, *e = b + strlen(s);
	uint32_t cp;
	size_t k;
	while (b < e && (k = utf8_dec(b, (size_t)(e - b), &cp)) != 0 && py_space(cp))
		b += k;
	while (e > b) {
		const unsigned char *q = e - 1;
		while (q > b && e - q < 4 && (*q & 0xC0) == 0x80)
			q--;
		if ((k = utf8_dec(q, (size_t)(e - q), &cp)) != (size_t)(e - q) || !py_space(cp))
			break;
		e = q;
	}
	return (struct span){ (const char *)b, (size_t)(e - b) };
}

/* The date a Llama-3.1/3.2 system block shows (see the file header). */
static int llama3_date(char *buf, size_t cap, char *err, size_t errlen)
{
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	const char *env = getenv("KVLAB_CHAT_DATE");
	if (!env || !*env) {
		snprintf(buf, cap, "%s", LLAMA3_FALLBACK_DATE);
		return 0;
	}
	if (strcmp(env, "today") == 0) {
		time_t now = time(NULL);
		struct tm tm;
		if (now == (time_t)-1 || !localtime_r(&now, &tm))
			return kv_errf(err, errlen, KV_EINVAL, "KVLAB_CHAT_DATE=today: cannot read the clock");
		snprintf(buf, cap, "%02d %s %04d", tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900);
		return 0;
	}
	size_t n = strlen(env);
	bool printable = n < cap;
	for (size_t i = 0; i < n && printable; i++)
		printable = (unsigned char)env[i] >= 0x20 && env[i] != 0x7F;
	if (!printable)
		return kv_errf(err, errlen, KV_EINVAL,
			       "KVLAB_CHAT_DATE: expected 'today' or a date like '26 Jul 2024' (printable, "
			       "under %zu bytes), got %zu bytes", cap, n);
	memcpy(buf, env, n + 1);
	return 0;
}

/* Joins parts into one malloc'd NUL-terminated string. */
static int join(const struct span *parts, size_t n_parts, char **out, char *err, size_t errlen)
{
	size_t total = 1;
	for (size_t i = 0; i < n_parts; i++)
		total += parts[i].n;
	char *s = malloc(total), *p = s;
	if (!s)
		return kv_errf(err, errlen, KV_ENOMEM, "chat_render_user: out of memory (%zu bytes)", total);
	for (size_t i = 0; i < n_parts; i++) {
		memcpy(p, parts[i].p, parts[i].n);
		p += parts[i].n;
	}
	*p = '\0';
	*out = s;
	return 0;
}

int chat_render_user(const struct chat_format *f, const char *bos, const char *user_msg,
		     char **out, char *err, size_t errlen)
{
	struct span parts[12];
	size_t n = 0;
	char date[64];
	int rc;
	if (!f || !user_msg || !out)
		return kv_errf(err, errlen, KV_EINVAL,
			       "chat_render_user: f, user_msg and out must not be NULL");
	if (!bos)
		bos = ""; /* bos_token undefined renders as nothing */
	if (f->family == CHAT_NONE)
		return join((struct span[]){ sp(user_msg) }, 1, out, err, errlen);
	const struct variant *v = find_variant(f->family, f->variant);
	if (!v)
		return kv_errf(err, errlen, KV_EINVAL,
			       "chat_render_user: unknown variant %d of family '%s' (fill f with chat_detect)",
			       f->variant, chat_family_name(f->family));
	switch (v->family) {
	case CHAT_CHATML:
		if (v->default_system) {
			parts[n++] = sp("<|im_start|>system\n");
			parts[n++] = sp(v->default_system);
			parts[n++] = sp("<|im_end|>\n");
		}
		parts[n++] = sp("<|im_start|>user\n");
		parts[n++] = sp(user_msg);
		parts[n++] = sp("<|im_end|>\n" CHATML_GEN);
		break;
	case CHAT_LLAMA3:
		parts[n++] = sp(bos);
		if (v->date != DATE_NONE) {
			if ((rc = llama3_date(date, sizeof(date), err, errlen)) != 0)
				return rc;
			parts[n++] = sp(LLAMA3_SYS_HEAD LLAMA3_CUTOFF "Today Date: ");
			parts[n++] = sp(date);
			parts[n++] = sp("\n\n<|eot_id|>");
		}
		parts[n++] = sp(LLAMA3_USER_HEAD);
		parts[n++] = py_strip(user_msg);
		parts[n++] = sp("<|eot_id|>" LLAMA3_GEN);
		break;
	case CHAT_MISTRAL:
		parts[n++] = sp(bos);
		parts[n++] = sp(v->inst_open);
		parts[n++] = sp(user_msg);
		parts[n++] = sp(v->inst_close);
		break;
	default:
		return kv_errf(err, errlen, KV_EINTERNAL, "chat_render_user: family %d has no renderer",
			       (int)v->family);
	}
	return join(parts, n, out, err, errlen);
}
