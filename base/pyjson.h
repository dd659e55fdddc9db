/* Python-compatible JSON string literals (json.dumps with ensure_ascii=True), float
 * reprs, and the lenient UTF-8 step the RULER and LongBench writers share. */
#ifndef KVLAB_BASE_PYJSON_H
#define KVLAB_BASE_PYJSON_H

#include <stddef.h>
#include <stdint.h>

/* Decodes one UTF-8 code point at s (n >= 1 bytes left) and sets *adv to the bytes it
 * took; invalid bytes decode as themselves (Latin-1), one byte each, so nothing is lost. */
uint32_t py_utf8_next(const char *s, size_t n, size_t *adv);

/* Appends s[0..n) to *buf as a JSON string literal the way Python's json.dumps writes it
 * with ensure_ascii=True (non-ASCII as \uXXXX, astral as surrogate pairs). *buf is a
 * malloc'd buffer of *cap bytes holding *len; grows it (caller frees). KV_ENOMEM or 0. */
int py_json_str(char **buf, size_t *len, size_t *cap, const char *s, size_t n);

/* A float as Python's repr / json.dumps writes it into out (caller's, len bytes): the
 * shortest %.*g that reads back, ".0" on integral values, NaN, Infinity, -Infinity. */
void py_float_repr(double v, char *out, size_t len);

#endif
