/* NLTK Punkt sentence splitting, inference only. Mirrors NLTK 3.10.4's
 * nltk/tokenize/punkt.py: PunktSentenceTokenizer.span_tokenize with realign_boundaries
 * (_match_potential_end_contexts, _slices_from_text, text_contains_sentbreak over
 * _annotate_first_pass / _annotate_second_pass with the orthographic, collocation and
 * sentence-starter heuristics, _realign_boundaries) and PunktLanguageVars' regular
 * expressions, written out by hand on code points. Python str semantics (re's \s \w \d on
 * str, str.lower, str.isupper/islower of one character) come from base/pystr.c.
 * All positions below are code point indices into the decoded text until the very end,
 * where they become byte offsets. */
#include "datasets/punkt.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "base/errors.h"              // kv_errf, KV_E*
#include "base/fileio.h"              // kv_read_file
#include "base/grow.h"                // kv_grow
#include "base/interner.h"            // interner_*
#include "base/pystr.h"               // py_is*, py_lower, struct pystr

// ----------------------------------------------------------------------------
// parameter table: UTF-8 keys interned (base/interner.h) with their kinds; a collocation is "T1\tT2"

enum {
	KEY_ABBREV = 1 << 0,
	KEY_STARTER = 1 << 1,
	KEY_COLLOC = 1 << 2,
	KEY_ORTHO = 1 << 3,
};

struct entry {
	int kinds; /* KEY_* */
	int ortho; /* enum punkt_ortho flags */
};

struct punkt {
	struct interner *keys; /* UTF-8 key -> index into info */
	struct entry *info;    /* (n,) */
	size_t n, cap;
};

static const struct entry *find(const struct punkt *p, const char *k, size_t n)
{
	int id = interner_find(p->keys, k, n);
	return id >= 0 ? &p->info[id] : NULL;
}

/* Adds kinds (and ortho flags) to key k, inserting it when new. */
static int add(struct punkt *p, const char *k, size_t n, int kinds, int ortho)
{
	int id = interner_id(p->keys, k, n);
	if (id < 0)
		return KV_ENOMEM;
	if ((size_t)id == p->n) {
		if (kv_grow((void **)&p->info, &p->cap, p->n + 1, sizeof(*p->info)))
			return KV_ENOMEM;
		p->info[p->n++] = (struct entry){ 0, 0 };
	}
	p->info[id].kinds |= kinds;
	p->info[id].ortho |= ortho;
	return 0;
}

void punkt_free(struct punkt *p)
{
	if (!p)
		return;
	interner_free(p->keys);
	free(p->info);
	free(p);
}

int punkt_load(const char *path, struct punkt **out, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len;
	int rc, line_no = 0;
	if (kv_read_file(path, &text, &len, NULL, 0))
		return kv_errf(err, errlen, KV_EIO,
			       "%s: cannot read the Punkt sentence-splitter parameters; run 'make model' or 'bash scripts/fetch_punkt.sh'",
			       path);
	struct punkt *p = calloc(1, sizeof(*p));
	if (!p || !(p->keys = interner_new())) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory reading %s", path);
		goto out_free;
	}
	for (char *s = text; s < text + len;) {
		char *nl = memchr(s, '\n', (size_t)(text + len - s));
		char *e = nl ? nl : text + len;
		line_no++;
		char *f[4];
		size_t fl[4];
		int nf = 0;
		for (char *q = s; nf < 4;) {
			char *t = memchr(q, '\t', (size_t)(e - q));
			f[nf] = q;
			fl[nf++] = (size_t)((t ? t : e) - q);
			if (!t)
				break;
			q = t + 1;
		}
		if (s == e || s[0] == '#') {
			rc = 0;
		} else if (nf == 2 && fl[0] == 6 && memcmp(f[0], "abbrev", 6) == 0 && fl[1]) {
			rc = add(p, f[1], fl[1], KEY_ABBREV, 0);
		} else if (nf == 2 && fl[0] == 7 && memcmp(f[0], "starter", 7) == 0 && fl[1]) {
			rc = add(p, f[1], fl[1], KEY_STARTER, 0);
		} else if (nf == 3 && fl[0] == 6 && memcmp(f[0], "colloc", 6) == 0 && fl[1] && fl[2]) {
			rc = add(p, f[1], fl[1] + 1 + fl[2], KEY_COLLOC, 0); /* "T1\tT2" as it stands */
		} else if (nf == 3 && fl[0] == 5 && memcmp(f[0], "ortho", 5) == 0 && fl[1] && fl[2] && fl[2] < 12) {
			char num[12], *end;
			memcpy(num, f[2], fl[2]);
			num[fl[2]] = 0;
			long v = strtol(num, &end, 10);
			if (*end || v < 0 || v > 0x7f) {
				rc = kv_errf(err, errlen, KV_EFORMAT, "%s:%d: ortho flags '%s' are not an integer in [0, 127]", path,
					     line_no, num);
				goto out_free;
			}
			rc = add(p, f[1], fl[1], KEY_ORTHO, (int)v);
		} else {
			rc = kv_errf(err, errlen, KV_EFORMAT,
				     "%s:%d: expected 'abbrev T', 'starter T', 'colloc T1 T2' or 'ortho T N' (tab-separated); "
				     "regenerate with bash scripts/fetch_punkt.sh",
				     path, line_no);
			goto out_free;
		}
		if (rc) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory reading %s", path);
			goto out_free;
		}
		s = nl ? nl + 1 : e;
	}
	*out = p;
	p = NULL;
	rc = 0;
out_free:
	punkt_free(p);
	free(text);
	return rc;
}

// ----------------------------------------------------------------------------
// character classes of PunktLanguageVars

/* _re_non_word_chars: [)";}\]*:@'({[‘’“”«»?!] */
static bool non_word(uint32_t c)
{
	switch (c) {
	case ')': case '"': case ';': case '}': case ']': case '*': case ':': case '@': case '\'':
	case '(': case '{': case '[': case 0x2018: case 0x2019: case 0x201C: case 0x201D: case 0xAB:
	case 0xBB: case '?': case '!':
		return true;
	}
	return false;
}

/* The complement of _re_word_start: characters that cannot start a word token. */
static bool not_word_start(uint32_t c)
{
	return c > 0 && c < 0x80 && strchr("(\"`{[:;&#*@)}]-,", (int)c) != NULL;
}

/* re_boundary_realignment's closing characters: ["')\]}‘’“”«»] */
static bool closer(uint32_t c)
{
	switch (c) {
	case '"': case '\'': case ')': case ']': case '}': case 0x2018: case 0x2019: case 0x201C: case 0x201D:
	case 0xAB: case 0xBB:
		return true;
	}
	return false;
}

/* Length of _re_multi_char_punct (-{2,} | \.{2,} | (\.\s){2,}\.) matched at s[i], end
 * exclusive, or 0. */
static size_t multi_char(const uint32_t *s, size_t i, size_t end)
{
	size_t k = i;
	if (i >= end)
		return 0;
	if (s[i] == '-') {
		while (k < end && s[k] == '-')
			k++;
		return k - i >= 2 ? k - i : 0;
	}
	if (s[i] != '.')
		return 0;
	while (k < end && s[k] == '.')
		k++;
	if (k - i >= 2)
		return k - i;
	size_t pairs = 0; /* greedy (\.\s){2,}, then one '.', backing off one pair if needed */
	while (i + 2 * pairs + 1 < end && s[i + 2 * pairs] == '.' && py_isspace(s[i + 2 * pairs + 1]))
		pairs++;
	if (pairs >= 2 && i + 2 * pairs < end && s[i + 2 * pairs] == '.')
		return 2 * pairs + 1;
	if (pairs >= 3)
		return 2 * (pairs - 1) + 1;
	return 0;
}

/* The lookahead that ends a word token in _word_tokenize_fmt, at s[j] within [.., end). */
static bool word_end(const uint32_t *s, size_t j, size_t end)
{
	if (j == end || py_isspace(s[j]) || non_word(s[j]) || multi_char(s, j, end))
		return true;
	return s[j] == ',' && (j + 1 == end || py_isspace(s[j + 1]) || non_word(s[j + 1]) || multi_char(s, j + 1, end));
}

/* str.isupper() / str.islower() of one character: derived Uppercase / Lowercase. */
static bool py_isupper1(uint32_t c)
{
	if (c < 0x80)
		return c >= 'A' && c <= 'Z';
	if (utf8proc_get_property((utf8proc_int32_t)c)->category == UTF8PROC_CATEGORY_LU)
		return true;
	return (c >= 0x2160 && c <= 0x216F) || (c >= 0x24B6 && c <= 0x24CF) || (c >= 0x1F130 && c <= 0x1F149) ||
	       (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189);
}

static bool py_islower1(uint32_t c)
{
	if (c < 0x80)
		return c >= 'a' && c <= 'z';
	if (utf8proc_get_property((utf8proc_int32_t)c)->category == UTF8PROC_CATEGORY_LL)
		return true;
	/* Other_Lowercase */
	return c == 0xAA || c == 0xBA || (c >= 0x2B0 && c <= 0x2B8) || (c >= 0x2C0 && c <= 0x2C1) ||
	       (c >= 0x2E0 && c <= 0x2E4) || c == 0x345 || c == 0x37A || (c >= 0x1D2C && c <= 0x1D6A) || c == 0x1D78 ||
	       (c >= 0x1D9B && c <= 0x1DBF) || c == 0x2071 || c == 0x207F || (c >= 0x2090 && c <= 0x209C) ||
	       (c >= 0x2170 && c <= 0x217F) || (c >= 0x24D0 && c <= 0x24E9) || (c >= 0x2C7C && c <= 0x2C7D) ||
	       (c >= 0xA69C && c <= 0xA69D) || c == 0xA770 || (c >= 0xA7F8 && c <= 0xA7F9) || (c >= 0xAB5C && c <= 0xAB5F);
}

// ----------------------------------------------------------------------------
// tokens (PunktToken)

struct ptok {
	size_t b, e;       /* code points [b, e) of the text */
	char *type;        /* owned UTF-8: tok.lower(), or "##number##" */
	size_t type_len;
	bool period_final, sentbreak, abbr, ellipsis;
};

struct toks {
	struct ptok *v; /* (n,) */
	size_t n, cap;
};

static void toks_clear(struct toks *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].type);
	t->n = 0;
}

/* The UTF-8 encoding of cp[0, n) as a new malloc'd string (*len bytes); NULL when out of memory. */
static char *utf8_encode(const uint32_t *cp, size_t n, size_t *len)
{
	char *s = malloc(4 * n + 1);
	size_t k = 0;
	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++)
		k += (size_t)utf8proc_encode_char((utf8proc_int32_t)cp[i], (utf8proc_uint8_t *)s + k);
	s[k] = 0;
	*len = k;
	return s;
}

/* _RE_NUMERIC = ^-?[\.,]?\d[\d,\.-]*\.?$ over the whole string. */
static bool numeric(const uint32_t *s, size_t n)
{
	size_t i = 0;
	if (i < n && s[i] == '-')
		i++;
	if (i < n && (s[i] == '.' || s[i] == ','))
		i++;
	if (i >= n || !py_isdecimal(s[i]))
		return false;
	for (i++; i < n; i++)
		if (!(py_isdecimal(s[i]) || s[i] == ',' || s[i] == '.' || s[i] == '-'))
			return false;
	return true;
}

/* Lower-cases s[b, e) as str.lower() into *low (reused buffer). */
static int lower(const uint32_t *s, size_t b, size_t e, struct pystr *low)
{
	return py_lower(s + b, e - b, low);
}

static bool has(const struct punkt *p, const char *k, size_t n, int kind)
{
	const struct entry *e = find(p, k, n);
	return e && (e->kinds & kind);
}

static int ortho_of(const struct punkt *p, const char *k, size_t n)
{
	const struct entry *e = find(p, k, n);
	return e ? e->ortho : 0;
}

/* Is tok[:-1].lower() (or its last '-'-separated part) a known abbreviation? */
static int is_abbrev(const struct punkt *p, const uint32_t *s, const struct ptok *t, struct pystr *low, bool *yes)
{
	if (lower(s, t->b, t->e - 1, low))
		return KV_ENOMEM;
	size_t len;
	char *k = utf8_encode(low->cp, low->n, &len);
	if (!k)
		return KV_ENOMEM;
	*yes = has(p, k, len, KEY_ABBREV);
	if (!*yes) {
		size_t d = len;
		while (d > 0 && k[d - 1] != '-')
			d--;
		if (d > 0)
			*yes = has(p, k + d, len - d, KEY_ABBREV);
	}
	free(k);
	return 0;
}

static int push_tok(struct toks *t, const uint32_t *s, size_t b, size_t e, struct pystr *low)
{
	if (kv_grow((void **)&t->v, &t->cap, t->n + 1, sizeof(*t->v)))
		return KV_ENOMEM;
	struct ptok *k = &t->v[t->n];
	memset(k, 0, sizeof(*k));
	k->b = b;
	k->e = e;
	if (lower(s, b, e, low))
		return KV_ENOMEM;
	if (numeric(low->cp, low->n)) {
		k->type = strdup("##number##");
		k->type_len = 10;
	} else {
		k->type = utf8_encode(low->cp, low->n, &k->type_len);
	}
	if (!k->type)
		return KV_ENOMEM;
	k->period_final = s[e - 1] == '.';
	t->n++;
	return 0;
}

/* PunktLanguageVars.word_tokenize on one line s[b, e). */
static int word_tokenize(const uint32_t *s, size_t b, size_t e, struct toks *t, struct pystr *low)
{
	for (size_t i = b; i < e;) {
		size_t m = multi_char(s, i, e), j;
		if (m)
			j = i + m;
		else if (py_isspace(s[i])) {
			i++;
			continue;
		} else if (not_word_start(s[i]))
			j = i + 1;
		else
			for (j = i + 1; !word_end(s, j, e); j++)
				;
		if (push_tok(t, s, i, j, low))
			return KV_ENOMEM;
		i = j;
	}
	return 0;
}

/* _tokenize_words: lines split at '\n', blank ones (str.strip() empty) skipped. */
static int tokenize_words(const uint32_t *s, size_t b, size_t e, struct toks *t, struct pystr *low)
{
	toks_clear(t);
	for (size_t i = b; i <= e;) {
		size_t j = i;
		while (j < e && s[j] != '\n')
			j++;
		if (word_tokenize(s, i, j, t, low))
			return KV_ENOMEM;
		i = j + 1;
	}
	return 0;
}

// ----------------------------------------------------------------------------
// annotation (first and second pass)

static void first_pass(const struct punkt *p, const uint32_t *s, struct ptok *t, struct pystr *low, int *rc)
{
	size_t n = t->e - t->b;
	const uint32_t *c = s + t->b;
	if (n == 1 && (c[0] == '.' || c[0] == '?' || c[0] == '!')) {
		t->sentbreak = true;
		return;
	}
	bool dots = n >= 2;
	for (size_t i = 0; i < n && dots; i++)
		dots = c[i] == '.';
	if (dots) {
		t->ellipsis = true;
		return;
	}
	if (t->period_final && !(n >= 2 && c[n - 2] == '.')) {
		bool ab = false;
		if ((*rc = is_abbrev(p, s, t, low, &ab)))
			return;
		if (ab)
			t->abbr = true;
		else
			t->sentbreak = true;
	}
}

static const char *type_no_period(const struct ptok *t, size_t *len)
{
	*len = t->type_len > 1 && t->type[t->type_len - 1] == '.' ? t->type_len - 1 : t->type_len;
	return t->type;
}

static const char *type_no_sentperiod(const struct ptok *t, size_t *len)
{
	if (t->sentbreak)
		return type_no_period(t, len);
	*len = t->type_len;
	return t->type;
}

static bool is_initial(const uint32_t *s, const struct ptok *t)
{
	return t->e - t->b == 2 && s[t->b + 1] == '.' && py_isword(s[t->b]) && !py_isdecimal(s[t->b]);
}

enum ortho_answer { ORTHO_NO, ORTHO_YES, ORTHO_UNKNOWN };

/* _ortho_heuristic: is t the first token of a sentence? */
static enum ortho_answer ortho_heuristic(const struct punkt *p, const uint32_t *s, const struct ptok *t)
{
	if (t->e - t->b == 1 && s[t->b] > 0 && s[t->b] < 0x80 && strchr(";:,.!?", (int)s[t->b]))
		return ORTHO_NO;
	size_t len;
	const char *typ = type_no_sentperiod(t, &len);
	int oc = ortho_of(p, typ, len);
	uint32_t c0 = s[t->b];
	if (py_isupper1(c0) && (oc & PUNKT_ORTHO_LC) && !(oc & PUNKT_ORTHO_MID_UC))
		return ORTHO_YES;
	if (py_islower1(c0) && ((oc & PUNKT_ORTHO_UC) || !(oc & PUNKT_ORTHO_BEG_LC)))
		return ORTHO_NO;
	return ORTHO_UNKNOWN;
}

/* _second_pass_annotation of t1 followed by t2. */
static int second_pass(const struct punkt *p, const uint32_t *s, struct ptok *t1, const struct ptok *t2)
{
	if (!t1->period_final)
		return 0;
	size_t tl, nl;
	const char *typ = type_no_period(t1, &tl);
	const char *next = type_no_sentperiod(t2, &nl);
	bool initial = is_initial(s, t1);
	char *pair = malloc(tl + nl + 2);
	if (!pair)
		return KV_ENOMEM;
	memcpy(pair, typ, tl);
	pair[tl] = '\t';
	memcpy(pair + tl + 1, next, nl);
	pair[tl + 1 + nl] = 0;
	bool colloc = has(p, pair, tl + 1 + nl, KEY_COLLOC);
	free(pair);
	if (colloc) {
		t1->sentbreak = false;
		t1->abbr = true;
		return 0;
	}
	if ((t1->abbr || t1->ellipsis) && !initial) {
		if (ortho_heuristic(p, s, t2) == ORTHO_YES) {
			t1->sentbreak = true;
			return 0;
		}
		if (py_isupper1(s[t2->b]) && has(p, next, nl, KEY_STARTER)) {
			t1->sentbreak = true;
			return 0;
		}
	}
	if (initial || (tl == 10 && memcmp(typ, "##number##", 10) == 0)) {
		enum ortho_answer a = ortho_heuristic(p, s, t2);
		if (a == ORTHO_NO) {
			t1->sentbreak = false;
			t1->abbr = true;
			return 0;
		}
		if (a == ORTHO_UNKNOWN && initial && py_isupper1(s[t2->b]) && !(ortho_of(p, next, nl) & PUNKT_ORTHO_LC)) {
			t1->sentbreak = false;
			t1->abbr = true;
		}
	}
	return 0;
}

/* text_contains_sentbreak(s[b, e)): a sentence break before the context's last token. */
static int contains_sentbreak(const struct punkt *p, const uint32_t *s, size_t b, size_t e, struct toks *t,
			      struct pystr *low, bool *yes)
{
	int rc = 0;
	*yes = false;
	if (tokenize_words(s, b, e, t, low))
		return KV_ENOMEM;
	for (size_t i = 0; i < t->n && !rc; i++)
		first_pass(p, s, &t->v[i], low, &rc);
	for (size_t i = 0; i + 1 < t->n && !rc && !*yes; i++) {
		rc = second_pass(p, s, &t->v[i], &t->v[i + 1]);
		*yes = t->v[i].sentbreak;
	}
	return rc;
}

// ----------------------------------------------------------------------------
// sentence spans

struct slices {
	size_t (*v)[2]; /* (n, 2) code point [start, stop) */
	size_t n, cap;
};

static int slice_push(struct slices *sl, size_t a, size_t b)
{
	if (kv_grow((void **)&sl->v, &sl->cap, sl->n + 1, sizeof(*sl->v)))
		return KV_ENOMEM;
	sl->v[sl->n][0] = a;
	sl->v[sl->n][1] = b;
	sl->n++;
	return 0;
}

/* One match of period_context_re: the end character at i, its after_tok ending at
 * after_end, and next_tok's start (SIZE_MAX when after_tok is one punctuation mark). */
struct pmatch {
	size_t i, after_end, next_tok;
};

/* Finds the next period_context_re match at or after *from; false when none. */
static bool next_match(const uint32_t *s, size_t n, size_t from, struct pmatch *m)
{
	for (size_t i = from; i < n; i++) {
		if (s[i] != '.' && s[i] != '?' && s[i] != '!')
			continue;
		if (i + 1 < n && non_word(s[i + 1])) {
			*m = (struct pmatch){ i, i + 2, SIZE_MAX };
			return true;
		}
		size_t j = i + 1;
		while (j < n && py_isspace(s[j]))
			j++;
		if (j > i + 1 && j < n) {
			size_t k = j;
			while (k < n && !py_isspace(s[k]))
				k++;
			*m = (struct pmatch){ i, k, j };
			return true;
		}
	}
	return false;
}

/* string.whitespace: ASCII only, unlike re's \s. */
static bool ascii_space(uint32_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0x0b || c == 0x0c;
}

/* _slices_from_text over _match_potential_end_contexts. */
static int slices_from_text(const struct punkt *p, const uint32_t *s, size_t n, struct slices *out)
{
	struct toks t = { 0 };
	struct pystr low = { 0 };
	struct pmatch m, prev_m = { 0 };
	bool have_prev = false;
	size_t prev_a = 0, prev_b = 0, last_break = 0; /* previous_slice = [prev_a, prev_b) */
	int rc = 0;
	for (size_t from = 0;; from = m.i + 1) {
		bool more = next_match(s, n, from, &m);
		bool emit = false;
		size_t word_a = 0;
		if (more) {
			/* the word before the match: after the last whitespace since previous_slice */
			size_t idx = 0;
			for (size_t q = m.i; q > prev_b; q--)
				if (ascii_space(s[q - 1])) {
					idx = q - 1 - prev_b;
					break;
				}
			word_a = idx ? idx + prev_b + 1 : prev_a;
			emit = have_prev && prev_b <= word_a;
		} else {
			emit = have_prev;
		}
		if (emit) { /* context = text[previous_slice] + match + after_tok, one contiguous piece */
			bool brk;
			if ((rc = contains_sentbreak(p, s, prev_a, prev_m.after_end, &t, &low, &brk)))
				goto out;
			if (brk) {
				if ((rc = slice_push(out, last_break, prev_m.i + 1)))
					goto out;
				last_break = prev_m.next_tok != SIZE_MAX ? prev_m.next_tok : prev_m.i + 1;
			}
		}
		if (!more)
			break;
		prev_m = m;
		have_prev = true;
		prev_a = word_a;
		prev_b = m.i;
	}
	size_t end = n;
	while (end > 0 && py_isspace(s[end - 1]))
		end--;
	rc = slice_push(out, last_break, end);
out:
	toks_clear(&t);
	free(t.v);
	pystr_free(&low);
	return rc;
}

/* re_boundary_realignment.match(text[a:b]): closing marks then whitespace, '--' or the end
 * (of the slice or a line); *kept = the closing marks, *used = the whole match. */
static bool realign_match(const uint32_t *s, size_t a, size_t b, size_t *kept, size_t *used)
{
	for (size_t q = a; q < b && closer(s[q]);) {
		q++;
		if (q < b && py_isspace(s[q])) {
			size_t r = q;
			while (r < b && py_isspace(s[r]))
				r++;
			*kept = q - a;
			*used = r - a;
			return true;
		}
		if ((q + 1 < b && s[q] == '-' && s[q + 1] == '-') || q == b || s[q] == '\n') {
			*kept = *used = q - a;
			return true;
		}
	}
	return false;
}

/* _realign_boundaries, in place over sl (never more slices out than in). */
static void realign(const uint32_t *s, struct slices *sl)
{
	size_t realign_by = 0, k = 0;
	for (size_t i = 0; i < sl->n; i++) {
		size_t a = sl->v[i][0] + realign_by, b = sl->v[i][1];
		if (i + 1 == sl->n) {
			if (a < b) {
				sl->v[k][0] = a;
				sl->v[k++][1] = b;
			}
			continue;
		}
		size_t kept, used, a2 = sl->v[i + 1][0];
		if (realign_match(s, a2, sl->v[i + 1][1], &kept, &used)) {
			sl->v[k][0] = a;
			sl->v[k++][1] = a2 + kept;
			realign_by = used;
		} else {
			realign_by = 0;
			if (a < b) {
				sl->v[k][0] = a;
				sl->v[k++][1] = b;
			}
		}
	}
	sl->n = k;
}

int punkt_sentences(const struct punkt *p, const char *text, size_t n, size_t **spans, int *n_out, char *err, size_t errlen)
{
	int rc = KV_ENOMEM;
	uint32_t *cp = malloc((n + 1) * sizeof(*cp));
	size_t *byte = malloc((n + 1) * sizeof(*byte)); /* (n_cp + 1,) byte offset of each code point */
	struct slices sl = { 0 };
	size_t ncp = 0;
	if (!cp || !byte)
		goto out;
	for (size_t i = 0; i < n;) {
		utf8proc_int32_t c;
		utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(n - i), &c);
		if (k <= 0) {
			rc = kv_errf(err, errlen, KV_EFORMAT, "punkt: invalid UTF-8 at byte %zu of the text", i);
			goto out;
		}
		byte[ncp] = i;
		cp[ncp++] = (uint32_t)c;
		i += (size_t)k;
	}
	byte[ncp] = n;
	if ((rc = slices_from_text(p, cp, ncp, &sl)))
		goto out;
	realign(cp, &sl);
	size_t *v = malloc((sl.n ? sl.n : 1) * 2 * sizeof(size_t));
	if (!v) {
		rc = KV_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < sl.n; i++) {
		v[2 * i] = byte[sl.v[i][0] < ncp ? sl.v[i][0] : ncp];
		v[2 * i + 1] = byte[sl.v[i][1] < ncp ? sl.v[i][1] : ncp];
	}
	*spans = v;
	*n_out = (int)sl.n;
	rc = 0;
out:
	if (rc == KV_ENOMEM)
		kv_errf(err, errlen, KV_ENOMEM, "punkt: out of memory splitting %zu bytes", n);
	free(sl.v);
	free(byte);
	free(cp);
	return rc;
}
