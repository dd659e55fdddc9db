/* RULER text helpers: Python's whitespace set, json.dumps(ensure_ascii=True) strings, and
 * the official scorer's post-processing and match functions (scripts/eval/synthetic/
 * constants.py and evaluate.py, ../shared/spec/ruler.md sections 9.2-9.3 and 10.4). */
#include "datasets/ruler.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h> // utf8proc_iterate, utf8proc_tolower, utf8proc_encode_char

#include "engine/errors.h"
#include "engine/grow.h" // kv_grow

bool ruler_py_isspace(uint32_t cp)
{
	return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
	       (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
	       cp == 0x3000;
}

/* Decodes one UTF-8 code point at s (n bytes left); invalid bytes decode as themselves
 * (Latin-1), one byte each, so nothing is ever lost. */
static uint32_t next_cp(const char *s, size_t n, size_t *adv)
{
	utf8proc_int32_t cp;
	utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &cp);
	if (k <= 0) {
		*adv = 1;
		return (unsigned char)s[0];
	}
	*adv = (size_t)k;
	return (uint32_t)cp;
}

int ruler_json_str(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	if (kv_grow((void **)buf, cap, *len + n * 6 + 16, 1))
		return KV_ENOMEM;
	char *o = *buf + *len;
	*o++ = '"';
	for (size_t i = 0; i < n;) {
		size_t adv;
		uint32_t cp = next_cp(s + i, n - i, &adv);
		i += adv;
		if (cp == '"' || cp == '\\') {
			*o++ = '\\';
			*o++ = (char)cp;
		} else if (cp >= 0x20 && cp < 0x7f) {
			*o++ = (char)cp;
		} else if (cp == '\n' || cp == '\r' || cp == '\t' || cp == '\b' || cp == '\f') {
			*o++ = '\\';
			*o++ = cp == '\n' ? 'n' : cp == '\r' ? 'r' : cp == '\t' ? 't' : cp == '\b' ? 'b' : 'f';
		} else {
			uint32_t units[2] = { cp, 0 };
			int nu = 1;
			if (cp >= 0x10000) {
				units[0] = 0xd800 + ((cp - 0x10000) >> 10);
				units[1] = 0xdc00 + ((cp - 0x10000) & 0x3ff);
				nu = 2;
			}
			for (int u = 0; u < nu; u++) {
				*o++ = '\\';
				*o++ = 'u';
				for (int sh = 12; sh >= 0; sh -= 4)
					*o++ = hex[(units[u] >> sh) & 15];
			}
		}
	}
	*o++ = '"';
	*len = (size_t)(o - *buf);
	(*buf)[*len] = 0;
	return 0;
}

// ----------------------------------------------------------------------------
// scoring

/* Python strip() in place: returns the first kept byte, cuts the tail. */
static char *py_strip(char *s)
{
	size_t n = strlen(s), b = 0, e = n;
	while (b < n) {
		size_t adv;
		uint32_t cp = next_cp(s + b, n - b, &adv);
		if (!ruler_py_isspace(cp))
			break;
		b += adv;
	}
	/* scan forward remembering where the last non-space ended */
	size_t last = b;
	for (size_t i = b; i < n;) {
		size_t adv;
		uint32_t cp = next_cp(s + i, n - i, &adv);
		i += adv;
		if (!ruler_py_isspace(cp))
			last = i;
	}
	e = last;
	s[e] = 0;
	return s + b;
}

char *ruler_postprocess(char *pred)
{
	char *p = py_strip(pred);
	for (char *q = p; *q; q++)
		if ((unsigned char)*q < 0x20)
			*q = '\n';
	p = py_strip(p);
	if (p != pred)
		memmove(pred, p, strlen(p) + 1);
	return pred;
}

/* malloc'd Unicode lower-case copy of s (simple case mapping per code point). */
static char *lower_dup(const char *s)
{
	size_t n = strlen(s);
	char *o = malloc(n * 4 + 1);
	if (!o)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n;) {
		size_t adv;
		uint32_t cp = next_cp(s + i, n - i, &adv);
		if (adv == 1 && cp >= 0x80) { /* invalid byte: keep it */
			o[k++] = s[i];
		} else {
			k += (size_t)utf8proc_encode_char(utf8proc_tolower((utf8proc_int32_t)cp), (utf8proc_uint8_t *)o + k);
		}
		i += adv;
	}
	o[k] = 0;
	return o;
}

static double match(const char *pred, const char *const *refs, int n, bool all)
{
	if (n <= 0)
		return 0.0;
	char *lp = lower_dup(pred);
	if (!lp)
		return 0.0;
	int hits = 0;
	for (int i = 0; i < n; i++) {
		char *lr = lower_dup(refs[i] ? refs[i] : "");
		if (lr && strstr(lp, lr))
			hits++;
		free(lr);
	}
	free(lp);
	return all ? (double)hits / n : (hits > 0 ? 1.0 : 0.0);
}

double ruler_match_all(const char *pred, const char *const *refs, int n)
{
	return match(pred, refs, n, true);
}

double ruler_match_part(const char *pred, const char *const *refs, int n)
{
	return match(pred, refs, n, false);
}
