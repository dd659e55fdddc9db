/* Python str semantics (base/pystr.h) for the LongBench metrics and Punkt: UTF-8 <->
 * code points, the character classes CPython's str methods and re use (isspace, \w, \d),
 * str.lower() with its full mapping and final-sigma rule, and str.split(). Mirrors
 * CPython 3.11's Objects/unicodeobject.c (do_lower, handle_capital_sigma) and
 * Modules/_sre (SRE_UNI_IS_*).
 *
 * Unicode version: CPython 3.11 ships Unicode 14.0; utf8proc 2.8 ships 15.0. Every
 * code point assigned in 15.0 but not in 14.0 (the table below) is treated as
 * unassigned, so these predicates agree with CPython 3.11 on all code points
 * (tests/test_metrics.c checks all 1,112,064 against tests/golden/metrics_unicode.tsv). */
#include "base/pystr.h"

#include <stdlib.h>
#include <string.h>

#include <utf8proc.h> // defines: utf8proc_get_property, utf8proc_tolower, UTF8PROC_CATEGORY_*

#include "base/errors.h" // defines: kv_errf, KV_EINVAL, KV_ENOMEM
#include "base/grow.h"   // kv_grow

// ----------------------------------------------------------------------------
// strings and spans

int pystr_push(struct pystr *s, uint32_t c)
{
	if (kv_grow((void **)&s->cp, &s->cap, s->n + 1, sizeof(*s->cp)))
		return KV_ENOMEM;
	s->cp[s->n++] = c;
	return 0;
}

int pystr_append(struct pystr *s, const uint32_t *cp, size_t n)
{
	if (kv_grow((void **)&s->cp, &s->cap, s->n + n, sizeof(*s->cp)))
		return KV_ENOMEM;
	if (n)
		memcpy(s->cp + s->n, cp, n * sizeof(*cp));
	s->n += n;
	return 0;
}

void pystr_free(struct pystr *s)
{
	free(s->cp);
	s->cp = NULL;
	s->n = s->cap = 0;
}

bool cp_eq(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na * sizeof(*a)) == 0);
}

int spans_push(struct spans *s, size_t off, size_t len)
{
	if (kv_grow((void **)&s->v, &s->cap, s->n + 1, sizeof(*s->v)))
		return KV_ENOMEM;
	s->v[s->n].off = off;
	s->v[s->n].len = len;
	s->n++;
	return 0;
}

void spans_free(struct spans *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

int pystr_from_utf8(struct pystr *s, const char *utf8, const char *what, char *err, size_t errlen)
{
	const uint8_t *p = (const uint8_t *)utf8;
	size_t len = strlen(utf8);
	if (kv_grow((void **)&s->cp, &s->cap, s->n + len + 1, sizeof(*s->cp))) /* never NULL after */
		return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory decoding %zu bytes", what, len);
	for (size_t i = 0; i < len;) {
		utf8proc_int32_t c;
		utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &c);
		if (k < 0)
			return kv_errf(err, errlen, KV_EINVAL, "%s: invalid UTF-8 at byte %zu (0x%02x); expected UTF-8 text", what,
				       i, p[i]);
		s->cp[s->n++] = (uint32_t)c;
		i += (size_t)k;
	}
	return 0;
}

// ----------------------------------------------------------------------------
// character classes

/* Code points assigned in Unicode 15.0 (utf8proc 2.8) but unassigned in 14.0 (CPython 3.11). */
static const uint32_t unicode15_new[][2] = {
	{0x0CF3, 0x0CF3},   {0x0ECE, 0x0ECE},   {0x10EFD, 0x10EFF}, {0x1123F, 0x11241}, {0x11B00, 0x11B09},
	{0x11F00, 0x11F10}, {0x11F12, 0x11F3A}, {0x11F3E, 0x11F59}, {0x1342F, 0x1342F}, {0x13439, 0x13455},
	{0x1B132, 0x1B132}, {0x1B155, 0x1B155}, {0x1D2C0, 0x1D2D3}, {0x1DF25, 0x1DF2A}, {0x1E030, 0x1E06D},
	{0x1E08F, 0x1E08F}, {0x1E4D0, 0x1E4F9}, {0x1F6DC, 0x1F6DC}, {0x1F774, 0x1F776}, {0x1F77B, 0x1F77F},
	{0x1F7D9, 0x1F7D9}, {0x1FA75, 0x1FA77}, {0x1FA87, 0x1FA88}, {0x1FAAD, 0x1FAAF}, {0x1FABB, 0x1FABD},
	{0x1FABF, 0x1FABF}, {0x1FACE, 0x1FACF}, {0x1FADA, 0x1FADB}, {0x1FAE8, 0x1FAE8}, {0x1FAF7, 0x1FAF8},
	{0x2B739, 0x2B739}, {0x31350, 0x323AF},
};

static bool in_ranges(uint32_t c, const uint32_t (*r)[2], size_t n)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (c < r[mid][0])
			hi = mid;
		else if (c > r[mid][1])
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

/* The general category CPython 3.11 sees. */
static int category(uint32_t c)
{
	if (c > 0x10FFFF)
		return UTF8PROC_CATEGORY_CN;
	if (c >= 0x0CF3 && in_ranges(c, unicode15_new, sizeof(unicode15_new) / sizeof(unicode15_new[0])))
		return UTF8PROC_CATEGORY_CN;
	return utf8proc_get_property((utf8proc_int32_t)c)->category;
}

bool py_isspace(uint32_t c)
{
	/* Py_UNICODE_ISSPACE: bidi class WS, B or S, or category Zs (note U+001C..U+001F). */
	if (c < 0x80)
		return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
	return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
	       c == 0x202F || c == 0x205F || c == 0x3000;
}

bool py_isword(uint32_t c)
{
	if (c < 0x80)
		return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
	/* isalpha (L*) or isdecimal/isdigit/isnumeric (N*; numeric Han ideographs are Lo). */
	switch (category(c)) {
	case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
	case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
	case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
		return true;
	}
	return false;
}

bool py_isdecimal(uint32_t c)
{
	if (c < 0x80)
		return c >= '0' && c <= '9';
	return category(c) == UTF8PROC_CATEGORY_ND;
}

/* Word_Break MidLetter / MidNumLet / Single_Quote: Case_Ignorable outside the categories. */
static const uint32_t ci_extra[][2] = {
	{0x0027, 0x0027}, {0x002E, 0x002E}, {0x003A, 0x003A}, {0x00B7, 0x00B7}, {0x0387, 0x0387}, {0x055F, 0x055F},
	{0x05F4, 0x05F4}, {0x2018, 0x2019}, {0x2024, 0x2024}, {0x2027, 0x2027}, {0xFE13, 0xFE13}, {0xFE52, 0xFE52},
	{0xFE55, 0xFE55}, {0xFF07, 0xFF07}, {0xFF0E, 0xFF0E}, {0xFF1A, 0xFF1A},
};

/* Other_Lowercase / Other_Uppercase characters that are not Case_Ignorable. */
static const uint32_t cased_extra[][2] = {
	{0x00AA, 0x00AA}, {0x00BA, 0x00BA}, {0x2160, 0x217F}, {0x24B6, 0x24E9},
	{0x1F130, 0x1F149}, {0x1F150, 0x1F169}, {0x1F170, 0x1F189},
};

bool py_iscaseignorable(uint32_t c)
{
	switch (category(c)) {
	case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_CF:
	case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_SK:
		return true;
	}
	return in_ranges(c, ci_extra, sizeof(ci_extra) / sizeof(ci_extra[0]));
}

bool py_iscased(uint32_t c)
{
	if (py_iscaseignorable(c))
		return false;
	switch (category(c)) {
	case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
		return true;
	}
	return in_ranges(c, cased_extra, sizeof(cased_extra) / sizeof(cased_extra[0]));
}

// ----------------------------------------------------------------------------
// lower() and split()

/* CPython's handle_capital_sigma: U+03A3 lowers to final U+03C2 when a cased letter
 * precedes it and none follows (case-ignorable characters skipped both ways). */
static bool final_sigma(const uint32_t *s, size_t n, size_t i)
{
	size_t j = i;
	while (j > 0 && py_iscaseignorable(s[j - 1]))
		j--;
	if (j == 0 || !py_iscased(s[j - 1]))
		return false;
	for (j = i + 1; j < n && py_iscaseignorable(s[j]); j++)
		;
	return j == n || !py_iscased(s[j]);
}

int py_lower(const uint32_t *cp, size_t n, struct pystr *out)
{
	out->n = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t c = cp[i];
		int rc;
		if (c < 0x80)
			rc = pystr_push(out, c >= 'A' && c <= 'Z' ? c + 32 : c);
		else if (c == 0x03A3)
			rc = pystr_push(out, final_sigma(cp, n, i) ? 0x03C2 : 0x03C3);
		else if (c == 0x0130) /* the one unconditional multi-character lowercase in SpecialCasing */
			rc = pystr_push(out, 'i') || pystr_push(out, 0x0307);
		else if (category(c) == UTF8PROC_CATEGORY_CN)
			rc = pystr_push(out, c);
		else
			rc = pystr_push(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)c));
		if (rc)
			return KV_ENOMEM;
	}
	return 0;
}

/* Raw bytes that are not UTF-8 ride through py_lower as code points above Unicode's range:
 * py_lower leaves them alone (no case, not case-ignorable) and the encoder writes them back. */
#define RAW_BYTE 0x110000u

int py_lower_utf8(const char *s, size_t n, char **out, size_t *out_len)
{
	struct pystr in = { 0 }, low = { 0 };
	int rc = KV_ENOMEM;
	char *o = NULL;
	*out = NULL;
	if (kv_grow((void **)&in.cp, &in.cap, n + 1, sizeof(*in.cp)))
		goto out;
	for (size_t i = 0; i < n;) {
		utf8proc_int32_t c;
		utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &c);
		if (k <= 0) {
			in.cp[in.n++] = RAW_BYTE + (unsigned char)s[i];
			i++;
		} else {
			in.cp[in.n++] = (uint32_t)c;
			i += (size_t)k;
		}
	}
	if (py_lower(in.cp, in.n, &low) || !(o = malloc(low.n * 4 + 1)))
		goto out;
	size_t k = 0;
	for (size_t i = 0; i < low.n; i++)
		if (low.cp[i] >= RAW_BYTE)
			o[k++] = (char)(low.cp[i] - RAW_BYTE);
		else
			k += (size_t)utf8proc_encode_char((utf8proc_int32_t)low.cp[i], (utf8proc_uint8_t *)o + k);
	o[k] = 0;
	*out = o;
	if (out_len)
		*out_len = k;
	o = NULL;
	rc = 0;
out:
	free(o);
	pystr_free(&in);
	pystr_free(&low);
	return rc;
}

int py_split(const uint32_t *cp, size_t n, size_t base, struct spans *out)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && py_isspace(cp[i]))
			i++;
		if (i == n)
			break;
		size_t start = i;
		while (i < n && !py_isspace(cp[i]))
			i++;
		if (spans_push(out, base + start, i - start))
			return KV_ENOMEM;
	}
	return 0;
}
