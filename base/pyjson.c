/* Python-compatible JSON strings and floats: see pyjson.h. */
#include "base/pyjson.h"

#include <math.h>     // isnan, isinf
#include <stdio.h>    // snprintf
#include <stdlib.h>   // strtod
#include <string.h>   // strpbrk, strlen
#include <utf8proc.h> // utf8proc_iterate

#include "base/errors.h"
#include "base/grow.h" // kv_grow

/* Decodes one UTF-8 code point at s (n bytes left); invalid bytes decode as themselves
 * (Latin-1), one byte each, so nothing is ever lost. */
uint32_t py_utf8_next(const char *s, size_t n, size_t *adv)
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

int py_json_str(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	if (kv_grow((void **)buf, cap, *len + n * 6 + 16, 1))
		return KV_ENOMEM;
	char *o = *buf + *len;
	*o++ = '"';
	for (size_t i = 0; i < n;) {
		size_t adv;
		uint32_t cp = py_utf8_next(s + i, n - i, &adv);
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

void py_float_repr(double v, char *out, size_t len)
{
	if (isnan(v)) {
		snprintf(out, len, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(out, len, v > 0 ? "Infinity" : "-Infinity");
		return;
	}
	for (int p = 1; p <= 17; p++) {
		snprintf(out, len, "%.*g", p, v);
		if (strtod(out, NULL) == v)
			break;
	}
	if (!strpbrk(out, ".en"))
		snprintf(out + strlen(out), len - strlen(out), ".0");
}
