/* Tokenizer utilities: growable buffers, a string arena, hashing, UTF-8 helpers and
 * the GPT-2 byte-level alphabet (bytes_to_unicode of openai/gpt-2's encoder.py). */
#include "engine/tok_internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/errors.h" // defines: KV_ENOMEM
#include "base/grow.h"   // kv_grow

// ----------------------------------------------------------------------------
// buffers

static int buf_reserve(struct tok_buf *b, size_t extra)
{
	return kv_grow((void **)&b->data, &b->cap, b->len + extra + 1, 1);
}

int tok_buf_put(struct tok_buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n))
		return KV_ENOMEM;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
	return 0;
}

int tok_buf_putc(struct tok_buf *b, char c)
{
	return tok_buf_put(b, &c, 1);
}

int tok_ids_push(struct tok_ids *v, int32_t id)
{
	if (kv_grow((void **)&v->data, &v->cap, v->len + 1, sizeof(*v->data)))
		return KV_ENOMEM;
	v->data[v->len++] = id;
	return 0;
}

// ----------------------------------------------------------------------------
// arena

struct tok_arena_chunk {
	struct tok_arena_chunk *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
};

void *tok_arena_alloc(struct tok_arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	struct tok_arena_chunk *c = a->head;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > (1u << 20) ? n : (1u << 20);
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->used = 0;
		c->cap = cap;
		c->next = a->head;
		a->head = c;
	}
	void *p = c->data + c->used;
	c->used += n;
	return p;
}

char *tok_arena_strndup(struct tok_arena *a, const char *s, size_t n)
{
	char *p = tok_arena_alloc(a, n + 1);
	if (!p)
		return NULL;
	if (n)
		memcpy(p, s, n);
	p[n] = 0;
	return p;
}

void tok_arena_free(struct tok_arena *a)
{
	struct tok_arena_chunk *c = a->head;
	while (c) {
		struct tok_arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	a->head = NULL;
}

// ----------------------------------------------------------------------------
// UTF-8

int tok_utf8_len(uint8_t c)
{
	if (c < 0x80) return 1;
	if (c >= 0xC2 && c <= 0xDF) return 2;
	if (c >= 0xE0 && c <= 0xEF) return 3;
	if (c >= 0xF0 && c <= 0xF4) return 4;
	return 1;
}

/* Length of the well-formed sequence at s, or the negated length of the maximal
 * ill-formed subpart (>= 1 byte) to replace by one U+FFFD. */
static int utf8_step(const uint8_t *s, size_t avail)
{
	uint8_t c = s[0];
	if (c < 0x80)
		return 1;
	int need;
	uint8_t lo = 0x80, hi = 0xBF;
	if (c >= 0xC2 && c <= 0xDF) need = 1;
	else if (c == 0xE0) { need = 2; lo = 0xA0; }
	else if (c == 0xED) { need = 2; hi = 0x9F; }
	else if (c >= 0xE1 && c <= 0xEF) need = 2;
	else if (c == 0xF0) { need = 3; lo = 0x90; }
	else if (c == 0xF4) { need = 3; hi = 0x8F; }
	else if (c >= 0xF1 && c <= 0xF3) need = 3;
	else return -1;
	for (int k = 1; k <= need; k++) {
		if ((size_t)k >= avail || s[k] < lo || s[k] > hi)
			return -k;
		lo = 0x80;
		hi = 0xBF;
	}
	return need + 1;
}

size_t tok_utf8_valid_prefix(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		int k = utf8_step(s + i, n - i);
		if (k < 0)
			return i;
		i += (size_t)k;
	}
	return n;
}

uint32_t tok_utf8_decode(const uint8_t *s, size_t avail, int *n)
{
	int k = tok_utf8_len(s[0]);
	if ((size_t)k > avail)
		k = 1;
	*n = k;
	switch (k) {
	case 1: return s[0];
	case 2: return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
	case 3: return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
	default:
		return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
		       ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
	}
}

static int put_cp(struct tok_buf *b, uint32_t cp)
{
	char u[4];
	int n;
	if (cp < 0x80) { u[0] = (char)cp; n = 1; }
	else if (cp < 0x800) { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
	else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
	} else {
		u[0] = (char)(0xF0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
	}
	return tok_buf_put(b, u, (size_t)n);
}

int tok_buf_put_lossy(struct tok_buf *out, const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		while (j < n) {           /* longest valid run */
			int k = s[j] < 0x80 ? 1 : utf8_step(s + j, n - j);
			if (k < 0)
				break;
			j += (size_t)k;
		}
		if (tok_buf_put(out, s + i, j - i))
			return KV_ENOMEM;
		if (j == n)
			break;
		int k = utf8_step(s + j, n - j);
		if (tok_buf_put(out, "\xEF\xBF\xBD", 3))
			return KV_ENOMEM;
		i = j + (size_t)(-k);
	}
	return 0;
}

// ----------------------------------------------------------------------------
// byte-level alphabet: printable bytes map to themselves, the other 68 bytes to
// U+0100.. in byte order

static bool byte_is_printable(unsigned b)
{
	return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

uint32_t tok_byte_to_cp(uint8_t b)
{
	if (byte_is_printable(b))
		return b;
	if (b <= 32)
		return 256u + b;
	if (b >= 127 && b <= 160)
		return 256u + 33u + (b - 127u);
	return 256u + 67u; /* 173, soft hyphen */
}

int tok_cp_to_byte(uint32_t cp)
{
	if (cp < 256)
		return byte_is_printable(cp) ? (int)cp : -1;
	uint32_t n = cp - 256;
	if (n < 33)
		return (int)n;
	if (n < 67)
		return (int)(127 + n - 33);
	if (n == 67)
		return 173;
	return -1;
}

int tok_bytelevel_decode(const char *s, size_t n, struct tok_buf *out)
{
	const uint8_t *u = (const uint8_t *)s;
	size_t i = 0;
	while (i < n) {
		int k;
		uint32_t cp = tok_utf8_decode(u + i, n - i, &k);
		int b = tok_cp_to_byte(cp);
		if (b < 0)
			return TOK_NOT_BYTELEVEL;
		if (tok_buf_putc(out, (char)b))
			return KV_ENOMEM;
		i += (size_t)k;
	}
	return 0;
}

int tok_bytelevel_encode(const uint8_t *s, size_t n, struct tok_buf *out)
{
	for (size_t i = 0; i < n; i++)
		if (put_cp(out, tok_byte_to_cp(s[i])))
			return KV_ENOMEM;
	return 0;
}
