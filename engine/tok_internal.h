/* Tokenizer internals shared by engine/tokenizer.c and engine/tok_*.c; nothing outside
 * the tokenizer includes this. The public contract is engine/tokenizer.h.
 *
 * Model space: the byte strings BPE merges. For byte-level BPE (GPT-2, SmolLM2,
 * Llama-3, Tekken) it is the raw UTF-8 bytes of the text: vocab strings stored in the
 * GPT-2 byte-to-unicode alphabet ("Ġthe") are mapped back to bytes (" the") at load, so
 * the merge loop never builds mapped strings. For SentencePiece-style BPE it is the
 * normalized UTF-8 text with U+2581 '▁' for spaces, as in the vocab. */
#ifndef KVLAB_ENGINE_TOK_INTERNAL_H
#define KVLAB_ENGINE_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h> // defines: pcre2_code, pcre2_match_data

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/tokenizer.h"

/* GGUF token_type values (llama.cpp's llama_token_type). */
enum tok_type {
	TOK_TYPE_UNDEFINED = 0, TOK_TYPE_NORMAL = 1, TOK_TYPE_UNKNOWN = 2, TOK_TYPE_CONTROL = 3,
	TOK_TYPE_USER_DEFINED = 4, TOK_TYPE_UNUSED = 5, TOK_TYPE_BYTE = 6
};

// ----------------------------------------------------------------------------
// growable buffers and a string arena (tok_util.c)

struct tok_buf {          /* bytes; data is NUL-terminated whenever len < cap */
	char *data;
	size_t len, cap;
};
int tok_buf_put(struct tok_buf *b, const void *p, size_t n);     /* 0 or KV_ENOMEM */
int tok_buf_putc(struct tok_buf *b, char c);

struct tok_ids {          /* int32 ids */
	int32_t *data;
	size_t len, cap;
};
int tok_ids_push(struct tok_ids *v, int32_t id);                /* 0 or KV_ENOMEM */

/* Chunked arena: everything allocated from it lives until tok_arena_free. */
struct tok_arena {
	struct tok_arena_chunk *head;
};
void *tok_arena_alloc(struct tok_arena *a, size_t n);              /* NULL on OOM */
char *tok_arena_strndup(struct tok_arena *a, const char *s, size_t n); /* NUL-terminated */
void tok_arena_free(struct tok_arena *a);

/* Length of the valid UTF-8 prefix of s[0..n) (n when all valid). */
size_t tok_utf8_valid_prefix(const uint8_t *s, size_t n);
/* Length in bytes of the UTF-8 sequence starting with lead byte c (1 for invalid leads). */
int tok_utf8_len(uint8_t c);
/* Decodes one code point at s (valid UTF-8 assumed); *n set to its length. */
uint32_t tok_utf8_decode(const uint8_t *s, size_t avail, int *n);
/* Appends bytes to out replacing ill-formed UTF-8 by U+FFFD per maximal subpart, like
 * Rust's String::from_utf8_lossy (what HF's ByteLevel decoder does). */
int tok_buf_put_lossy(struct tok_buf *out, const uint8_t *s, size_t n);

/* GPT-2 byte-level alphabet: byte b <-> code point tok_byte_to_cp(b). */
uint32_t tok_byte_to_cp(uint8_t b);
/* Byte for code point cp, or -1 when cp is not in the byte-level alphabet. */
int tok_cp_to_byte(uint32_t cp);
/* Maps a byte-level string (UTF-8 of alphabet code points) to raw bytes appended to out:
 * 0, TOK_NOT_BYTELEVEL (out undefined) when some character is outside the alphabet, or
 * KV_ENOMEM. */
#define TOK_NOT_BYTELEVEL 1
int tok_bytelevel_decode(const char *s, size_t n, struct tok_buf *out);
/* Maps raw bytes to their byte-level string (UTF-8) appended to out. */
int tok_bytelevel_encode(const uint8_t *s, size_t n, struct tok_buf *out);

// ----------------------------------------------------------------------------
// hash maps (tok_map.c)

/* Byte string -> id, keys borrowed from the tokenizer's per-id key arrays. */
struct tok_strmap {
	uint32_t mask;           /* capacity - 1 (power of two) */
	int32_t *slot;           /* (mask+1,) id or -1 */
	uint32_t *slot_hash;     /* (mask+1,) low 32 bits of the key hash */
	const uint8_t *const *key; /* (n,) borrowed */
	const uint32_t *key_len;   /* (n,) borrowed */
};
int tok_strmap_init(struct tok_strmap *m, uint32_t n_hint);
/* Inserts id (its key is key[id]); keeps the existing id when the key is present. */
void tok_strmap_put(struct tok_strmap *m, int32_t id);
int32_t tok_strmap_get(const struct tok_strmap *m, const void *s, size_t n); /* -1 if absent */
void tok_strmap_free(struct tok_strmap *m);

/* (left id, right id) -> (rank, merged id). */
struct tok_pairmap {
	uint32_t mask;
	uint64_t *keys;          /* UINT64_MAX = empty */
	int32_t *rank, *result;
};
int tok_pairmap_init(struct tok_pairmap *m, uint32_t n_hint);
/* Inserts unless the pair is present (first rank wins). */
void tok_pairmap_put(struct tok_pairmap *m, int32_t l, int32_t r, int32_t rank, int32_t result);
bool tok_pairmap_get(const struct tok_pairmap *m, int32_t l, int32_t r, int32_t *rank, int32_t *result);
void tok_pairmap_free(struct tok_pairmap *m);

// ----------------------------------------------------------------------------
// pipeline steps (normalizer, pre-tokenizer, decoder: HF tokenizers' components)

enum tok_norm_kind { TOK_NORM_PREPEND, TOK_NORM_REPLACE, TOK_NORM_NFC, TOK_NORM_NFD,
		     TOK_NORM_NFKC, TOK_NORM_NFKD };
struct tok_norm {
	enum tok_norm_kind kind;
	const char *a, *b;       /* PREPEND: a = text; REPLACE: a -> b (literal strings) */
};

enum tok_split_behavior { TOK_SPLIT_ISOLATED, TOK_SPLIT_REMOVED, TOK_SPLIT_MERGED_PREV,
			  TOK_SPLIT_MERGED_NEXT };
enum tok_prepend { TOK_PREPEND_ALWAYS, TOK_PREPEND_FIRST, TOK_PREPEND_NEVER };
enum tok_pre_kind { TOK_PRE_SPLIT, TOK_PRE_METASPACE, TOK_PRE_PREFIX_SPACE };
struct tok_pre {
	enum tok_pre_kind kind;
	pcre2_code *re;          /* SPLIT: compiled with UTF|UCP (JIT when available) */
	const char *pattern;     /* SPLIT: the pattern as given (arena), for naming */
	enum tok_split_behavior behavior;
	const char *repl;        /* METASPACE: the replacement character (UTF-8), usually '▁' */
	enum tok_prepend prepend;
	bool split;              /* METASPACE: split on repl, merged with next */
};

enum tok_dec_kind { TOK_DEC_BYTELEVEL, TOK_DEC_REPLACE, TOK_DEC_BYTEFALLBACK, TOK_DEC_FUSE,
		    TOK_DEC_STRIP, TOK_DEC_METASPACE, TOK_DEC_JOIN_SPACE };
struct tok_dec {
	enum tok_dec_kind kind;
	const char *a, *b;       /* REPLACE a -> b; STRIP/METASPACE: a = the character */
	int start, stop;         /* STRIP */
	enum tok_prepend prepend; /* METASPACE */
};

struct tok_added {
	const char *text;        /* into the arena, NUL-terminated */
	uint32_t len;
	int32_t id;
	bool special, lstrip, rstrip, single_word;
};

struct tok_trie_node {
	int32_t child, sibling;  /* node indices, -1 = none */
	int32_t added;           /* index into added[] ending here, or -1 */
	uint8_t byte;
};

// ----------------------------------------------------------------------------
// the tokenizer

struct tokenizer {
	char model[8];           /* "bpe" or "spm" */
	char *pre;               /* pre-tokenizer name, in the arena */
	bool byte_level;         /* keys are raw bytes of byte-level vocab strings */
	int n_vocab;

	/* per id (n_vocab,) */
	const char **piece;      /* stored vocab strings (NUL-terminated), NULL for holes */
	uint32_t *piece_len;
	const uint8_t **key;     /* model-space bytes, NULL when the string has none */
	uint32_t *key_len;
	uint8_t *type;           /* enum tok_type */
	bool *special;           /* special added token: skip_special drops it */
	float *score;            /* spm merge scores (NULL when unused) */

	struct tok_strmap vocab; /* key -> id (normal, byte, user-defined, control tokens) */
	struct tok_pairmap merges;
	int32_t byte_id[256];    /* id of the single byte b (byte-level) or of <0xXX> (spm); -1 */
	bool ignore_merges;      /* a pre-token that is itself in the vocab is emitted whole */
	bool byte_fallback, fuse_unk;
	int32_t unk;             /* -1 if none */

	struct tok_added *added; /* (n_added,) matched in the text before anything else */
	int n_added;
	struct tok_trie_node *trie; /* root is node 0 */
	int n_trie;

	struct tok_norm *norm;   int n_norm;
	struct tok_pre *pre_steps; int n_pre;
	struct tok_dec *dec;     int n_dec;

	int32_t bos, eos;        /* -1 if none */
	int32_t prefix[4], suffix[4]; /* what add_special puts around the ids */
	int n_prefix, n_suffix;
	int32_t eos_ids[16];
	int n_eos;

	struct tok_arena arena;
};

/* Allocates an empty tokenizer with n_vocab zeroed id slots (unk/bos/eos = -1). */
int tok_alloc(int n_vocab, struct tokenizer **out, char *err, size_t errlen);
/* Sets id's stored string (copied) and, for byte-level models, its key. */
int tok_set_piece(struct tokenizer *t, int32_t id, const char *s, size_t n, char *err, size_t errlen);
/* Builds vocab map and byte ids; call after every piece and type is set. */
int tok_build_vocab(struct tokenizer *t, const char *src, char *err, size_t errlen);
/* Adds a merge "a b" given as stored strings (tokenizer.json / GGUF merges). */
int tok_add_merge_str(struct tokenizer *t, const char *a, size_t na, const char *b, size_t nb,
		      int32_t rank, const char *src, char *err, size_t errlen);
/* Synthesizes merges from the vocab: every split of a normal token into two vocab
 * tokens. by_score: order by score desc (SentencePiece); else by id (tiktoken ranks);
 * ties by (result id, left id, right id), as transformers' converters order them. */
int tok_synth_merges(struct tokenizer *t, bool by_score, char *err, size_t errlen);
/* Registers an added token (text copied); its id must exist. */
int tok_add_added(struct tokenizer *t, const char *text, size_t n, int32_t id, bool special,
		  bool lstrip, bool rstrip, bool single_word, char *err, size_t errlen);
/* Builds the added-token trie, EOS list; checks ids. Last step of every loader. */
int tok_finish(struct tokenizer *t, const char *src, char *err, size_t errlen);

/* Append a pipeline step (copied; strings must outlive t: literals or arena). */
int tok_add_norm(struct tokenizer *t, struct tok_norm n);         /* 0 or KV_ENOMEM */
int tok_add_dec(struct tokenizer *t, struct tok_dec d);
int tok_add_pre(struct tokenizer *t, struct tok_pre p, bool at_front);

/* Pre-tokenizer steps: compiles pattern (UTF-8 PCRE2 syntax) into a SPLIT step. */
int tok_pre_add_regex(struct tokenizer *t, const char *pattern, bool literal,
		      enum tok_split_behavior behavior, const char *src, char *err, size_t errlen);
/* Appends the named pre-tokenizer's steps (GGUF tokenizer.ggml.pre); KV_EUNSUP if unknown. */
int tok_pre_add_named(struct tokenizer *t, const char *name, const char *src, char *err,
		      size_t errlen);
/* Known regexes (HF's own patterns). */
extern const char tok_re_gpt2[], tok_re_llama3[], tok_re_tekken[];

/* Applies the normalizer to seg[0..n) into out (cleared first). */
int tok_normalize(const struct tokenizer *t, const char *seg, size_t n, struct tok_buf *out);
/* Splits s[0..n) (normalized segment starting at text offset seg_off) into pre-tokens,
 * calling emit for each; s may be rewritten by Metaspace, so it is a tok_buf. */
struct tok_span { uint32_t off, len; };
struct tok_spans { struct tok_span *data; size_t len, cap; };
int tok_pretokenize(const struct tokenizer *t, struct tok_buf *s, size_t seg_off,
		    pcre2_match_data *md, pcre2_match_context *mc, struct tok_spans *out,
		    struct tok_spans *tmp, char *err, size_t errlen);

/* BPE on one pre-token (model-space bytes); appends ids to out. */
struct tok_bpe_scratch;
int tok_bpe_word(const struct tokenizer *t, const uint8_t *s, size_t n, struct tok_ids *out,
		 struct tok_bpe_scratch **scratch);
void tok_bpe_scratch_free(struct tok_bpe_scratch *s);

/* Mistral's tekken.json (tiktoken ranks + pattern), already parsed; tok_load_json
 * calls it when the file has top-level "config" and "vocab" instead of "model". */
struct cJSON;
int tok_load_tekken(const struct cJSON *root, const char *path, struct tokenizer **out,
		    char *err, size_t errlen);

#endif
