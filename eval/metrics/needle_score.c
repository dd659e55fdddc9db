/* The needle task's two scores (eval/metrics/metrics.h):
 * - rouge1: Google rouge_score's ROUGE-1 F with its tokenizer (rouge/tokenize.py) and NLTK's
 *   PorterStemmer in its default NLTK_EXTENSIONS mode (nltk/stem/porter.py, nltk 3.10), which
 *   is what RougeScorer(use_stemmer=True) calls. The original Porter (Debian's libstemmer)
 *   differs from it (e.g. "dying", "ties", "enjoy", "generously", "fly", "ow"), so the stemmer
 *   is written out here; tests/golden/porter_nltk.txt checks it word by word against nltk.
 * - overlap: eval/visualize.py's set overlap of whitespace-split, lower-cased words. */
#include "eval/metrics/metrics.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h" // defines: KV_ENOMEM

// ----------------------------------------------------------------------------
// UTF-8 and the few Python str rules the scores depend on

/* Decodes one code point of s (NUL-terminated); invalid bytes read as U+FFFD, one byte each. */
static uint32_t utf8_next(const unsigned char **s)
{
	const unsigned char *p = *s;
	uint32_t c = p[0];
	int n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
	if (n == 1) {
		*s = p + 1;
		return c;
	}
	uint32_t min = n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
	c = n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
	for (int i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80) {
			n = 0;
			break;
		}
		c = c << 6 | (p[i] & 0x3F);
	}
	if (n == 0 || c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
		*s = p + 1;
		return 0xFFFD;
	}
	*s = p + n;
	return c;
}

/* Python str.isspace() (what str.split() splits on). */
static bool py_isspace(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// ----------------------------------------------------------------------------
// NLTK Porter stemmer (NLTK_EXTENSIONS)

struct word {
	char *s;
	int n;
};

/* Consonant per the paper: not a vowel, and a 'y' only when first or after a vowel.
 * prev_cons is the answer for the previous letter. */
static bool cons_next(char ch, int i, bool prev_cons)
{
	if (ch == 'a' || ch == 'e' || ch == 'i' || ch == 'o' || ch == 'u')
		return false;
	return ch == 'y' ? i == 0 || !prev_cons : true;
}

static bool is_cons(const char *s, int i)
{
	bool c = true;
	for (int j = 0; j <= i; j++)
		c = cons_next(s[j], j, c);
	return c;
}

/* m in [C](VC)^m[V] for s[0..n): the number of vowel -> consonant transitions. */
static int measure(const char *s, int n)
{
	int m = 0;
	bool c = true;
	for (int i = 0; i < n; i++) {
		bool next = cons_next(s[i], i, c);
		m += i > 0 && next && !c;
		c = next;
	}
	return m;
}

static bool has_vowel(const char *s, int n)
{
	bool c = true;
	for (int i = 0; i < n; i++)
		if (!(c = cons_next(s[i], i, c)))
			return true;
	return false;
}

/* *d: ends with a double consonant. */
static bool ends_double(const char *s, int n)
{
	return n >= 2 && s[n - 1] == s[n - 2] && is_cons(s, n - 1);
}

/* *o: ends consonant-vowel-consonant, the last not w, x or y; NLTK adds any two-letter
 * vowel-consonant word (without the w/x/y exclusion). */
static bool ends_cvc(const char *s, int n)
{
	if (n >= 3 && is_cons(s, n - 3) && !is_cons(s, n - 2) && is_cons(s, n - 1) && s[n - 1] != 'w' &&
	    s[n - 1] != 'x' && s[n - 1] != 'y')
		return true;
	return n == 2 && !is_cons(s, 0) && is_cons(s, 1);
}

static bool ends(const struct word *w, const char *suf)
{
	int k = (int)strlen(suf);
	return w->n >= k && memcmp(w->s + w->n - k, suf, (size_t)k) == 0;
}

/* Replaces the last k chars with rep. */
static void set_end(struct word *w, int k, const char *rep)
{
	int r = (int)strlen(rep);
	memcpy(w->s + w->n - k, rep, (size_t)r);
	w->n += r - k;
	w->s[w->n] = '\0';
}

enum cond { C_M_GT0, C_M_GT1, C_ION, C_LOGI };

struct rule {
	const char *suf, *rep;
	enum cond cond;
};

/* NLTK's _apply_rule_list: the first rule whose suffix matches decides; if its condition
 * on the stem fails the word stays as it is. */
static void apply_rules(struct word *w, const struct rule *rules, int n_rules)
{
	for (int i = 0; i < n_rules; i++) {
		const struct rule *r = &rules[i];
		if (!ends(w, r->suf))
			continue;
		int k = (int)strlen(r->suf), stem = w->n - k;
		bool ok = false;
		switch (r->cond) {
		case C_M_GT0: ok = measure(w->s, stem) > 0; break;
		case C_M_GT1: ok = measure(w->s, stem) > 1; break;
		case C_ION: ok = measure(w->s, stem) > 1 && stem > 0 && (w->s[stem - 1] == 's' || w->s[stem - 1] == 't'); break;
		case C_LOGI: ok = measure(w->s, w->n - 3) > 0; break; /* NLTK tests word[:-3], not the stem */
		}
		if (ok)
			set_end(w, k, r->rep);
		return;
	}
}

static void step1a(struct word *w)
{
	if (ends(w, "ies") && w->n == 4) { /* NLTK: "ties" -> "tie" */
		set_end(w, 3, "ie");
		return;
	}
	static const char *const sufs[] = { "sses", "ies", "ss", "s" };
	static const char *const reps[] = { "ss", "i", "ss", "" };
	for (int i = 0; i < 4; i++)
		if (ends(w, sufs[i])) {
			set_end(w, (int)strlen(sufs[i]), reps[i]);
			return;
		}
}

static void step1b(struct word *w)
{
	if (ends(w, "ied")) { /* NLTK: "died" -> "die", "cried" -> "cri" */
		set_end(w, 3, w->n == 4 ? "ie" : "i");
		return;
	}
	if (ends(w, "eed")) {
		if (measure(w->s, w->n - 3) > 0)
			set_end(w, 1, "");
		return;
	}
	int k = ends(w, "ed") ? 2 : ends(w, "ing") ? 3 : 0;
	if (!k || !has_vowel(w->s, w->n - k))
		return;
	set_end(w, k, "");
	if (ends(w, "at") || ends(w, "bl") || ends(w, "iz")) {
		set_end(w, 0, "e");
	} else if (ends_double(w->s, w->n)) {
		char last = w->s[w->n - 1];
		if (last != 'l' && last != 's' && last != 'z')
			set_end(w, 1, "");
	} else if (measure(w->s, w->n) == 1 && ends_cvc(w->s, w->n)) {
		set_end(w, 0, "e");
	}
}

static void step1c(struct word *w)
{
	/* NLTK: y -> i after a consonant that is not the whole stem ("happy", "fly"; not "enjoy") */
	if (ends(w, "y") && w->n - 1 > 1 && is_cons(w->s, w->n - 2))
		set_end(w, 1, "i");
}

static void step2(struct word *w)
{
	if (ends(w, "alli") && measure(w->s, w->n - 4) > 0) { /* NLTK: alli -> al, then step 2 again */
		set_end(w, 4, "al");
		step2(w);
		return;
	}
	static const struct rule rules[] = {
		{ "ational", "ate", C_M_GT0 }, { "tional", "tion", C_M_GT0 }, { "enci", "ence", C_M_GT0 },
		{ "anci", "ance", C_M_GT0 },   { "izer", "ize", C_M_GT0 },    { "bli", "ble", C_M_GT0 },
		{ "alli", "al", C_M_GT0 },     { "entli", "ent", C_M_GT0 },   { "eli", "e", C_M_GT0 },
		{ "ousli", "ous", C_M_GT0 },   { "ization", "ize", C_M_GT0 }, { "ation", "ate", C_M_GT0 },
		{ "ator", "ate", C_M_GT0 },    { "alism", "al", C_M_GT0 },    { "iveness", "ive", C_M_GT0 },
		{ "fulness", "ful", C_M_GT0 }, { "ousness", "ous", C_M_GT0 }, { "aliti", "al", C_M_GT0 },
		{ "iviti", "ive", C_M_GT0 },   { "biliti", "ble", C_M_GT0 },  { "fulli", "ful", C_M_GT0 },
		{ "logi", "log", C_LOGI },
	};
	apply_rules(w, rules, (int)(sizeof(rules) / sizeof(rules[0])));
}

static void step3(struct word *w)
{
	static const struct rule rules[] = {
		{ "icate", "ic", C_M_GT0 }, { "ative", "", C_M_GT0 }, { "alize", "al", C_M_GT0 }, { "iciti", "ic", C_M_GT0 },
		{ "ical", "ic", C_M_GT0 },  { "ful", "", C_M_GT0 },   { "ness", "", C_M_GT0 },
	};
	apply_rules(w, rules, (int)(sizeof(rules) / sizeof(rules[0])));
}

static void step4(struct word *w)
{
	static const struct rule rules[] = {
		{ "al", "", C_M_GT1 },   { "ance", "", C_M_GT1 }, { "ence", "", C_M_GT1 },  { "er", "", C_M_GT1 },
		{ "ic", "", C_M_GT1 },   { "able", "", C_M_GT1 }, { "ible", "", C_M_GT1 },  { "ant", "", C_M_GT1 },
		{ "ement", "", C_M_GT1 }, { "ment", "", C_M_GT1 }, { "ent", "", C_M_GT1 },  { "ion", "", C_ION },
		{ "ou", "", C_M_GT1 },   { "ism", "", C_M_GT1 },  { "ate", "", C_M_GT1 },   { "iti", "", C_M_GT1 },
		{ "ous", "", C_M_GT1 },  { "ive", "", C_M_GT1 },  { "ize", "", C_M_GT1 },
	};
	apply_rules(w, rules, (int)(sizeof(rules) / sizeof(rules[0])));
}

static void step5(struct word *w)
{
	if (ends(w, "e")) {
		int m = measure(w->s, w->n - 1);
		if (m > 1 || (m == 1 && !ends_cvc(w->s, w->n - 1)))
			set_end(w, 1, "");
	}
	if (ends(w, "ll") && measure(w->s, w->n - 1) > 1)
		set_end(w, 1, "");
}

void porter_stem(const char *word, char *out)
{
	/* NLTK's irregular forms, looked up before anything else */
	static const char *const pool[][2] = {
		{ "sky", "sky" },         { "skies", "sky" },    { "dying", "die" },     { "lying", "lie" },
		{ "tying", "tie" },       { "news", "news" },    { "innings", "inning" }, { "inning", "inning" },
		{ "outings", "outing" },  { "outing", "outing" }, { "cannings", "canning" }, { "canning", "canning" },
		{ "howe", "howe" },       { "proceed", "proceed" }, { "exceed", "exceed" }, { "succeed", "succeed" },
	};
	size_t len = strlen(word);
	memcpy(out, word, len + 1);
	for (size_t i = 0; i < sizeof(pool) / sizeof(pool[0]); i++)
		if (strcmp(word, pool[i][0]) == 0) {
			strcpy(out, pool[i][1]);
			return;
		}
	if (len <= 2)
		return;
	struct word w = { out, (int)len };
	step1a(&w);
	step1b(&w);
	step1c(&w);
	step2(&w);
	step3(&w);
	step4(&w);
	step5(&w);
}

// ----------------------------------------------------------------------------
// ROUGE-1

/* rouge_score's tokenize(text, stemmer): the tokens, each NUL-terminated in one malloc'd
 * buffer (*buf, caller frees), pointers in *toks (caller frees). */
static int rouge_tokens(const char *text, char **buf, char ***toks, int *n)
{
	size_t len = strlen(text);
	/* lower-case + separator mapping never grows the text; stems add at most one char and
	 * a token is at least 1 char + NUL, so 2 * len + 2 bytes always suffice */
	char *flat = malloc(len + 1), *out = malloc(2 * len + 2);
	char **t = malloc((len / 2 + 1) * sizeof(*t));
	if (!flat || !out || !t) {
		free(flat);
		free(out);
		free(t);
		return KV_ENOMEM;
	}
	size_t k = 0;
	for (const unsigned char *p = (const unsigned char *)text; *p;) {
		uint32_t c = utf8_next(&p);
		char ch = ' ';
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			ch = (char)c;
		else if (c >= 'A' && c <= 'Z')
			ch = (char)(c - 'A' + 'a');
		else if (c == 0x212A) /* KELVIN SIGN lower-cases to 'k' */
			ch = 'k';
		else if (c == 0x130) /* 'İ' lower-cases to "i" + U+0307 (a separator) */
			flat[k++] = 'i';
		flat[k++] = ch;
	}
	flat[k] = '\0';
	int nt = 0;
	size_t o = 0;
	char *save = NULL;
	for (char *s = strtok_r(flat, " ", &save); s; s = strtok_r(NULL, " ", &save)) {
		t[nt++] = out + o;
		if (strlen(s) > 3)
			porter_stem(s, out + o);
		else
			strcpy(out + o, s);
		o += strlen(out + o) + 1;
	}
	free(flat);
	*buf = out;
	*toks = t;
	*n = nt;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int needle_rouge1(const char *target, const char *prediction, double *f)
{
	char *tb = NULL, *pb = NULL, **tt = NULL, **pt = NULL;
	int nt = 0, np = 0, rc;
	if ((rc = rouge_tokens(target, &tb, &tt, &nt)) != 0)
		return rc;
	if ((rc = rouge_tokens(prediction, &pb, &pt, &np)) != 0)
		goto out_target;
	/* clipped overlap sum(min(count_t, count_p)) by merging the sorted token lists */
	qsort(tt, (size_t)nt, sizeof(*tt), cmp_str);
	qsort(pt, (size_t)np, sizeof(*pt), cmp_str);
	int hit = 0;
	for (int i = 0, j = 0; i < nt && j < np;) {
		int c = strcmp(tt[i], pt[j]);
		if (c == 0) {
			hit++;
			i++;
			j++;
		} else if (c < 0) {
			i++;
		} else {
			j++;
		}
	}
	double p = (double)hit / (np > 1 ? np : 1), r = (double)hit / (nt > 1 ? nt : 1);
	*f = p + r > 0 ? 2 * p * r / (p + r) : 0.0;
	free(pb);
	free(pt);
out_target:
	free(tb);
	free(tt);
	return rc;
}

// ----------------------------------------------------------------------------
// visualize.py overlap

/* set(text.lower().split()) as a sorted, duplicate-free list of words in one buffer. */
static int word_set(const char *text, char **buf, char ***words, int *n)
{
	size_t len = strlen(text);
	char *out = malloc(2 * len + 1); /* U+0130 (2 bytes) lower-cases to 3 bytes */
	char **w = malloc((len / 2 + 1) * sizeof(*w));
	if (!out || !w) {
		free(out);
		free(w);
		return KV_ENOMEM;
	}
	size_t o = 0;
	int nw = 0;
	bool in_word = false;
	for (const unsigned char *p = (const unsigned char *)text; *p;) {
		const unsigned char *start = p;
		uint32_t c = utf8_next(&p);
		if (py_isspace(c)) {
			if (in_word)
				out[o++] = '\0';
			in_word = false;
			continue;
		}
		if (!in_word)
			w[nw++] = out + o;
		in_word = true;
		if (c >= 'A' && c <= 'Z') {
			out[o++] = (char)(c - 'A' + 'a');
		} else if (c == 0x212A) {
			out[o++] = 'k';
		} else if (c == 0x130) {
			memcpy(out + o, "i\xCC\x87", 3);
			o += 3;
		} else {
			memcpy(out + o, start, (size_t)(p - start));
			o += (size_t)(p - start);
		}
	}
	out[o] = '\0';
	qsort(w, (size_t)nw, sizeof(*w), cmp_str);
	int u = 0;
	for (int i = 0; i < nw; i++)
		if (u == 0 || strcmp(w[u - 1], w[i]) != 0)
			w[u++] = w[i];
	*buf = out;
	*words = w;
	*n = u;
	return 0;
}

int needle_overlap(const char *response, const char *expected, double *score)
{
	char *rb = NULL, *eb = NULL, **rw = NULL, **ew = NULL;
	int nr = 0, ne = 0, rc;
	if ((rc = word_set(expected, &eb, &ew, &ne)) != 0)
		return rc;
	if ((rc = word_set(response, &rb, &rw, &nr)) != 0)
		goto out_expected;
	int hit = 0;
	for (int i = 0, j = 0; i < ne && j < nr;) {
		int c = strcmp(ew[i], rw[j]);
		hit += c == 0;
		i += c <= 0;
		j += c >= 0;
	}
	*score = ne ? (double)hit / ne : 0.0;
	free(rb);
	free(rw);
out_expected:
	free(eb);
	free(ew);
	return rc;
}
