/* Python str semantics on code point strings (base/pystr.c): UTF-8 decoding, the
 * character classes CPython 3.11's str methods and re use, str.lower() and str.split().
 * Shared by the LongBench metrics (eval/metrics/) and the Punkt port (datasets/punkt.c). */
#ifndef KVLAB_BASE_PYSTR_H
#define KVLAB_BASE_PYSTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A Python str: n Unicode code points. Owned; release with pystr_free. */
struct pystr {
	uint32_t *cp; /* (n,) code points */
	size_t n, cap;
};

/* A piece of a pystr: code points [off, off + len). */
struct span {
	size_t off, len;
};

/* A growable list of spans. Owned; release with spans_free. */
struct spans {
	struct span *v; /* (n,) */
	size_t n, cap;
};

/* Decodes UTF-8 text into s (appending). Invalid UTF-8 is KV_EINVAL with a message
 * naming what (e.g. "prediction") and the byte offset. */
int pystr_from_utf8(struct pystr *s, const char *utf8, const char *what, char *err, size_t errlen);
int pystr_push(struct pystr *s, uint32_t c);                      /* 0 or KV_ENOMEM */
int pystr_append(struct pystr *s, const uint32_t *cp, size_t n);  /* 0 or KV_ENOMEM */
void pystr_free(struct pystr *s);
bool cp_eq(const uint32_t *a, size_t na, const uint32_t *b, size_t nb);

int spans_push(struct spans *s, size_t off, size_t len); /* 0 or KV_ENOMEM */
void spans_free(struct spans *s);

/* Character predicates as CPython 3.11 (Unicode 14.0) defines them; code points that
 * utf8proc knows but Unicode 14.0 leaves unassigned behave as unassigned. */
bool py_isspace(uint32_t c);   /* str.isspace(), str.split(), re '\s' */
bool py_isword(uint32_t c);    /* re '\w' on str: isalnum() or '_' */
bool py_isdecimal(uint32_t c); /* re '\d' on str: isdecimal() (category Nd) */
bool py_iscased(uint32_t c);   /* Cased and not Case_Ignorable (str.lower's final-sigma test) */
bool py_iscaseignorable(uint32_t c);

/* out = s.lower() for s = cp[0..n): full case mapping (U+0130 -> "i\u0307") and Greek
 * final sigma. out is reset first; 0 or KV_ENOMEM. */
int py_lower(const uint32_t *cp, size_t n, struct pystr *out);
/* *out = Python's s.lower() for UTF-8 text s[0..n) (py_lower's rules: U+0130, final sigma);
 * bytes that are not UTF-8 pass through unchanged and count as neither cased nor
 * case-ignorable. *out is malloc'd and NUL-terminated (caller frees); 0 or KV_ENOMEM. */
int py_lower_utf8(const char *s, size_t n, char **out, size_t *out_len);
/* Appends to out the pieces of cp[0..n).split() (runs of non-whitespace), with offsets
 * relative to cp plus base. 0 or KV_ENOMEM. */
int py_split(const uint32_t *cp, size_t n, size_t base, struct spans *out);

#endif
