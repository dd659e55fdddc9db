/* Tokenizer core: building the tables every loader shares, encoding (added tokens ->
 * normalizer -> pre-tokenizer -> BPE -> BOS/EOS) and decoding (HF decoder chain), and
 * the accessors of engine/tokenizer.h. Mirrors HF tokenizers' TokenizerImpl
 * encode/decode; loaders are tok_gguf.c and tok_json.c. */
#include "engine/tokenizer.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h> // defines: utf8proc_category

#include "base/errors.h"       // defines: kv_errf, KV_E*
#include "base/grow.h"         // kv_grow
#include "engine/tok_internal.h" // defines: struct tokenizer and the tok_* helpers

// ----------------------------------------------------------------------------
// building

int tok_alloc(int n_vocab, struct tokenizer **out, char *err, size_t errlen)
{
	struct tokenizer *t = calloc(1, sizeof(*t));
	if (!t)
		return kv_errf(err, errlen, KV_ENOMEM, "tokenizer: out of memory");
	t->n_vocab = n_vocab;
	t->unk = t->bos = t->eos = -1;
	for (int b = 0; b < 256; b++)
		t->byte_id[b] = -1;
	size_t n = (size_t)(n_vocab > 0 ? n_vocab : 1);
	t->piece = calloc(n, sizeof(*t->piece));
	t->piece_len = calloc(n, sizeof(*t->piece_len));
	t->key = calloc(n, sizeof(*t->key));
	t->key_len = calloc(n, sizeof(*t->key_len));
	t->type = calloc(n, sizeof(*t->type));
	t->special = calloc(n, sizeof(*t->special));
	if (!t->piece || !t->piece_len || !t->key || !t->key_len || !t->type || !t->special) {
		tok_free(t);
		return kv_errf(err, errlen, KV_ENOMEM, "tokenizer: out of memory for %d tokens", n_vocab);
	}
	*out = t;
	return 0;
}

int tok_set_piece(struct tokenizer *t, int32_t id, const char *s, size_t n, char *err, size_t errlen)
{
	char *p = tok_arena_strndup(&t->arena, s, n);
	if (!p)
		return kv_errf(err, errlen, KV_ENOMEM, "tokenizer: out of memory");
	t->piece[id] = p;
	t->piece_len[id] = (uint32_t)n;
	if (!t->byte_level) {
		t->key[id] = (const uint8_t *)p;
		t->key_len[id] = (uint32_t)n;
		return 0;
	}
	struct tok_buf b = { 0 };
	int rc = tok_bytelevel_decode(s, n, &b);
	if (rc == KV_ENOMEM) {
		free(b.data);
		return kv_errf(err, errlen, KV_ENOMEM, "tokenizer: out of memory");
	}
	if (rc == 0) {
		uint8_t *k = tok_arena_alloc(&t->arena, b.len ? b.len : 1);
		if (!k) {
			free(b.data);
			return kv_errf(err, errlen, KV_ENOMEM, "tokenizer: out of memory");
		}
		if (b.len)
			memcpy(k, b.data, b.len);
		t->key[id] = k;
		t->key_len[id] = (uint32_t)b.len;
	} else {
		/* not a byte-level string (e.g. an added token with a space): only reachable
		 * as an added token; its bytes are its UTF-8 text */
		t->key[id] = NULL;
		t->key_len[id] = 0;
	}
	free(b.data);
	return 0;
}

int tok_add_norm(struct tokenizer *t, struct tok_norm n)
{
	struct tok_norm *p = realloc(t->norm, (size_t)(t->n_norm + 1) * sizeof(*p));
	if (!p)
		return KV_ENOMEM;
	t->norm = p;
	p[t->n_norm++] = n;
	return 0;
}

int tok_add_dec(struct tokenizer *t, struct tok_dec d)
{
	struct tok_dec *p = realloc(t->dec, (size_t)(t->n_dec + 1) * sizeof(*p));
	if (!p)
		return KV_ENOMEM;
	t->dec = p;
	p[t->n_dec++] = d;
	return 0;
}

int tok_add_pre(struct tokenizer *t, struct tok_pre s, bool at_front)
{
	struct tok_pre *p = realloc(t->pre_steps, (size_t)(t->n_pre + 1) * sizeof(*p));
	if (!p)
		return KV_ENOMEM;
	t->pre_steps = p;
	if (at_front) {
		memmove(p + 1, p, (size_t)t->n_pre * sizeof(*p));
		p[0] = s;
	} else {
		p[t->n_pre] = s;
	}
	t->n_pre++;
	return 0;
}

static bool is_byte_piece(const char *s, uint32_t n, int *byte)
{
	/* "<0xAB>" */
	if (n != 6 || s[0] != '<' || s[1] != '0' || s[2] != 'x' || s[5] != '>')
		return false;
	int v = 0;
	for (int i = 3; i < 5; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
			: c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return false;
		v = v * 16 + d;
	}
	*byte = v;
	return true;
}

int tok_build_vocab(struct tokenizer *t, const char *src, char *err, size_t errlen)
{
	t->vocab.key = t->key;
	t->vocab.key_len = t->key_len;
	if (tok_strmap_init(&t->vocab, (uint32_t)t->n_vocab))
		return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory for the vocabulary map", src);
	for (int32_t id = 0; id < t->n_vocab; id++) {
		if (!t->piece[id])
			return kv_errf(err, errlen, KV_EFORMAT, "%s: token id %d has no string (ids must be 0..%d without holes)",
				       src, id, t->n_vocab - 1);
		if (t->key[id] && t->key_len[id] > 0)
			tok_strmap_put(&t->vocab, id);
	}
	/* single-byte ids: byte-level models look up the byte; SentencePiece models
	 * use their <0xXX> byte-fallback tokens */
	for (int32_t id = 0; id < t->n_vocab; id++) {
		if (t->byte_level) {
			if (t->key[id] && t->key_len[id] == 1 && t->byte_id[t->key[id][0]] < 0 &&
			    tok_strmap_get(&t->vocab, t->key[id], 1) == id)
				t->byte_id[t->key[id][0]] = id;
		} else {
			int b;
			if (is_byte_piece(t->piece[id], t->piece_len[id], &b) && t->byte_id[b] < 0)
				t->byte_id[b] = id;
		}
	}
	return 0;
}

/* The id of a merge half given as a stored string: -1 when it is no piece, -2 when out
 * of memory. */
static int32_t lookup_stored(const struct tokenizer *t, const char *s, size_t n, struct tok_buf *tmp)
{
	if (!t->byte_level)
		return tok_strmap_get(&t->vocab, s, n);
	tmp->len = 0;
	int rc = tok_bytelevel_decode(s, n, tmp);
	if (rc)
		return rc == KV_ENOMEM ? -2 : -1;
	return tok_strmap_get(&t->vocab, tmp->data ? tmp->data : "", tmp->len);
}

int tok_add_merge_str(struct tokenizer *t, const char *a, size_t na, const char *b, size_t nb,
		      int32_t rank, const char *src, char *err, size_t errlen)
{
	struct tok_buf tmp = { 0 }, ab = { 0 };
	int rc = 0;
	int32_t l = lookup_stored(t, a, na, &tmp);
	int32_t r = lookup_stored(t, b, nb, &tmp);
	if (tok_buf_put(&ab, a, na) || tok_buf_put(&ab, b, nb)) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", src);
		goto out_free;
	}
	int32_t m = lookup_stored(t, ab.data, ab.len, &tmp);
	if (l == -2 || r == -2 || m == -2) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", src);
		goto out_free;
	}
	if (l < 0 || r < 0 || m < 0) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: merge %d '%.*s %.*s' uses a token not in the vocabulary",
			     src, rank, (int)na, a, (int)nb, b);
		goto out_free;
	}
	tok_pairmap_put(&t->merges, l, r, rank, m);
out_free:
	free(tmp.data);
	free(ab.data);
	return rc;
}

struct cand {
	float key;               /* primary order: -score or id */
	int32_t result, l, r;
};

static int cand_cmp(const void *pa, const void *pb)
{
	const struct cand *a = pa, *b = pb;
	if (a->key != b->key) return a->key < b->key ? -1 : 1;
	if (a->result != b->result) return a->result < b->result ? -1 : 1;
	if (a->l != b->l) return a->l < b->l ? -1 : 1;
	return a->r < b->r ? -1 : a->r > b->r;
}

int tok_synth_merges(struct tokenizer *t, bool by_score, char *err, size_t errlen)
{
	size_t n = 0, cap = (size_t)t->n_vocab * 4 + 16;
	struct cand *c = malloc(cap * sizeof(*c));
	if (!c)
		return kv_errf(err, errlen, KV_ENOMEM, "tokenizer: out of memory synthesizing merges");
	for (int32_t id = 0; id < t->n_vocab; id++) {
		if (t->type[id] != TOK_TYPE_NORMAL || !t->key[id] || t->key_len[id] < 2)
			continue;
		const uint8_t *k = t->key[id];
		uint32_t kn = t->key_len[id];
		for (uint32_t i = 1; i < kn; i++) {
			if (!t->byte_level && (k[i] & 0xC0) == 0x80)
				continue; /* SentencePiece merges whole characters */
			int32_t l = tok_strmap_get(&t->vocab, k, i);
			int32_t r = tok_strmap_get(&t->vocab, k + i, kn - i);
			if (l < 0 || r < 0 || t->type[l] == TOK_TYPE_CONTROL || t->type[r] == TOK_TYPE_CONTROL)
				continue;
			if (kv_grow((void **)&c, &cap, n + 1, sizeof(*c))) {
				free(c);
				return kv_errf(err, errlen, KV_ENOMEM, "tokenizer: out of memory synthesizing merges");
			}
			c[n++] = (struct cand){ by_score ? -t->score[id] : (float)id, id, l, r };
		}
	}
	if (!by_score) /* key == result: order by (result, l, r) */
		for (size_t i = 0; i < n; i++)
			c[i].key = 0;
	qsort(c, n, sizeof(*c), cand_cmp);
	if (tok_pairmap_init(&t->merges, (uint32_t)n)) {
		free(c);
		return kv_errf(err, errlen, KV_ENOMEM, "tokenizer: out of memory for %zu merges", n);
	}
	for (size_t i = 0; i < n; i++)
		tok_pairmap_put(&t->merges, c[i].l, c[i].r, (int32_t)i, c[i].result);
	free(c);
	return 0;
}

int tok_add_added(struct tokenizer *t, const char *text, size_t n, int32_t id, bool special,
		  bool lstrip, bool rstrip, bool single_word, char *err, size_t errlen)
{
	if (id < 0 || id >= t->n_vocab)
		return kv_errf(err, errlen, KV_EFORMAT, "added token '%.*s' has id %d outside 0..%d",
			       (int)n, text, id, t->n_vocab - 1);
	if (n == 0)
		return 0;
	struct tok_added *p = realloc(t->added, (size_t)(t->n_added + 1) * sizeof(*p));
	if (!p)
		return kv_errf(err, errlen, KV_ENOMEM, "tokenizer: out of memory");
	t->added = p;
	const char *s = tok_arena_strndup(&t->arena, text, n);
	if (!s)
		return kv_errf(err, errlen, KV_ENOMEM, "tokenizer: out of memory");
	p[t->n_added++] = (struct tok_added){ s, (uint32_t)n, id, special, lstrip, rstrip, single_word };
	if (special)
		t->special[id] = true;
	return 0;
}

static int trie_add(struct tokenizer *t, int idx, size_t *cap)
{
	const uint8_t *s = (const uint8_t *)t->added[idx].text;
	int32_t node = 0;
	for (uint32_t i = 0; i < t->added[idx].len; i++) {
		int32_t c = t->trie[node].child;
		while (c >= 0 && t->trie[c].byte != s[i])
			c = t->trie[c].sibling;
		if (c < 0) {
			if (kv_grow((void **)&t->trie, cap, (size_t)t->n_trie + 1, sizeof(*t->trie)))
				return KV_ENOMEM;
			c = t->n_trie++;
			t->trie[c] = (struct tok_trie_node){ -1, t->trie[node].child, -1, s[i] };
			t->trie[node].child = c;
		}
		node = c;
	}
	if (t->trie[node].added < 0) /* first registration of a string wins */
		t->trie[node].added = idx;
	return 0;
}

static void eos_add(struct tokenizer *t, int32_t id)
{
	if (id < 0 || id >= t->n_vocab)
		return;
	for (int i = 0; i < t->n_eos; i++)
		if (t->eos_ids[i] == id)
			return;
	if (t->n_eos < (int)(sizeof(t->eos_ids) / sizeof(t->eos_ids[0])))
		t->eos_ids[t->n_eos++] = id;
}

int tok_finish(struct tokenizer *t, const char *src, char *err, size_t errlen)
{
	size_t cap = 0;
	if (kv_grow((void **)&t->trie, &cap, 256, sizeof(*t->trie)))
		return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", src);
	t->trie[0] = (struct tok_trie_node){ -1, -1, -1, 0 };
	t->n_trie = 1;
	for (int i = 0; i < t->n_added; i++)
		if (trie_add(t, i, &cap))
			return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", src);

	/* ids that end generation: EOS, plus the end-of-turn / end-of-text tokens the
	 * model defines (llama.cpp's EOG heuristic) */
	static const char *const eog[] = {
		"<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
		"<|end_of_text|>", "<EOT>", "<|end▁of▁sentence|>", "<｜end▁of▁sentence｜>", "</s>",
	};
	eos_add(t, t->eos);
	for (int i = 0; i < t->n_added; i++) {
		if (!t->added[i].special)
			continue;
		for (size_t k = 0; k < sizeof(eog) / sizeof(eog[0]); k++)
			if (strcmp(t->added[i].text, eog[k]) == 0)
				eos_add(t, t->added[i].id);
	}
	for (int i = 0; i < t->n_prefix; i++)
		if (t->prefix[i] < 0 || t->prefix[i] >= t->n_vocab)
			return kv_errf(err, errlen, KV_EFORMAT, "%s: BOS id %d outside the vocabulary", src, t->prefix[i]);
	for (int i = 0; i < t->n_suffix; i++)
		if (t->suffix[i] < 0 || t->suffix[i] >= t->n_vocab)
			return kv_errf(err, errlen, KV_EFORMAT, "%s: EOS id %d outside the vocabulary", src, t->suffix[i]);
	return 0;
}

void tok_free(struct tokenizer *t)
{
	if (!t)
		return;
	free(t->piece);
	free(t->piece_len);
	free(t->key);
	free(t->key_len);
	free(t->type);
	free(t->special);
	free(t->score);
	tok_strmap_free(&t->vocab);
	tok_pairmap_free(&t->merges);
	free(t->added);
	free(t->trie);
	for (int i = 0; i < t->n_pre; i++)
		if (t->pre_steps[i].re)
			pcre2_code_free(t->pre_steps[i].re);
	free(t->pre_steps);
	free(t->norm);
	free(t->dec);
	tok_arena_free(&t->arena);
	free(t);
}

// ----------------------------------------------------------------------------
// encoding

/* Rust's char::is_whitespace (Unicode White_Space). */
static bool cp_is_space(uint32_t c)
{
	return (c >= 9 && c <= 13) || c == ' ' || c == 0x85 || c == 0xA0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
	       c == 0x205F || c == 0x3000;
}

static uint32_t cp_before(const uint8_t *s, size_t i, size_t *start)
{
	size_t j = i;
	do
		j--;
	while (j > 0 && (s[j] & 0xC0) == 0x80);
	int k;
	*start = j;
	return tok_utf8_decode(s + j, i - j, &k);
}

/* The regex crate's \w, which HF uses for single_word added tokens: letters, marks,
 * decimal and letter numbers, connector punctuation, joiners. */
static bool cp_is_word(uint32_t c)
{
	if (c < 0x80)
		return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
	if (c == 0x200C || c == 0x200D)
		return true;
	switch (utf8proc_category((utf8proc_int32_t)c)) {
	case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
	case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
	case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
	case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
		return true;
	default:
		return false;
	}
}

/* Finds the leftmost-longest added token in s[from..n); returns its index (or -1)
 * and the span it consumes including lstrip/rstrip whitespace. */
static int find_added(const struct tokenizer *t, const uint8_t *s, size_t from, size_t n,
		      size_t *ms, size_t *me)
{
	for (size_t i = from; i < n; i++) {
		int32_t node = 0, best = -1;
		size_t best_end = 0;
		for (size_t j = i; j < n; j++) {
			int32_t c = t->trie[node].child;
			while (c >= 0 && t->trie[c].byte != s[j])
				c = t->trie[c].sibling;
			if (c < 0)
				break;
			node = c;
			if (t->trie[node].added >= 0) {
				best = t->trie[node].added;
				best_end = j + 1;
			}
		}
		if (best < 0)
			continue;
		const struct tok_added *a = &t->added[best];
		if (a->single_word) {
			size_t st;
			int k;
			bool before = i > 0 && cp_is_word(cp_before(s, i, &st));
			bool after = best_end < n && cp_is_word(tok_utf8_decode(s + best_end, n - best_end, &k));
			if (before || after)
				continue;
		}
		size_t a0 = i, a1 = best_end;
		while (a->lstrip && a0 > from) {
			size_t st;
			if (!cp_is_space(cp_before(s, a0, &st)))
				break;
			a0 = st;
		}
		while (a->rstrip && a1 < n) {
			int k;
			if (!cp_is_space(tok_utf8_decode(s + a1, n - a1, &k)))
				break;
			a1 += (size_t)k;
		}
		*ms = a0;
		*me = a1;
		return best;
	}
	return -1;
}

struct enc_ctx {
	pcre2_match_data *md;
	pcre2_match_context *mc;
	pcre2_jit_stack *js;
	struct tok_buf norm;
	struct tok_spans spans, tmp;
	struct tok_bpe_scratch *bpe;
};

static int encode_segment(const struct tokenizer *t, struct enc_ctx *c, const char *seg, size_t n,
			  size_t seg_off, struct tok_ids *out, char *err, size_t errlen)
{
	int rc;
	if ((rc = tok_normalize(t, seg, n, &c->norm)))
		return kv_errf(err, errlen, rc, "tok_encode: out of memory normalizing");
	if ((rc = tok_pretokenize(t, &c->norm, seg_off, c->md, c->mc, &c->spans, &c->tmp, err, errlen)))
		return rc == KV_ENOMEM ? kv_errf(err, errlen, rc, "tok_encode: out of memory") : rc;
	for (size_t i = 0; i < c->spans.len; i++) {
		const struct tok_span *sp = &c->spans.data[i];
		if ((rc = tok_bpe_word(t, (const uint8_t *)c->norm.data + sp->off, sp->len, out, &c->bpe)))
			return kv_errf(err, errlen, rc, "tok_encode: out of memory in BPE");
	}
	return 0;
}

int tok_encode(const struct tokenizer *t, const char *text, size_t len, bool add_special,
	       int32_t **ids, int *n_ids, char *err, size_t errlen)
{
	const uint8_t *s = (const uint8_t *)(text ? text : "");
	size_t bad = tok_utf8_valid_prefix(s, len);
	if (bad < len)
		return kv_errf(err, errlen, KV_EINVAL, "tok_encode: text is not valid UTF-8 at byte %zu (0x%02x)",
			       bad, s[bad]);
	int rc = 0;
	struct tok_ids out = { 0 };
	struct enc_ctx c = { 0 };
	c.md = pcre2_match_data_create(4, NULL);
	c.mc = pcre2_match_context_create(NULL);
	c.js = pcre2_jit_stack_create(32 * 1024, 16 * 1024 * 1024, NULL);
	if (!c.md || !c.mc || !c.js) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "tok_encode: out of memory");
		goto out_free;
	}
	pcre2_jit_stack_assign(c.mc, NULL, c.js);

	if (add_special)
		for (int i = 0; i < t->n_prefix; i++)
			if ((rc = tok_ids_push(&out, t->prefix[i])))
				goto out_oom;
	size_t pos = 0;
	while (pos <= len) {
		size_t ms = len, me = len;
		int a = t->n_added ? find_added(t, s, pos, len, &ms, &me) : -1;
		if (a < 0)
			ms = me = len;
		if (ms > pos && (rc = encode_segment(t, &c, (const char *)s + pos, ms - pos, pos, &out, err, errlen)))
			goto out_free;
		if (a < 0)
			break;
		if ((rc = tok_ids_push(&out, t->added[a].id)))
			goto out_oom;
		pos = me;
	}
	if (add_special)
		for (int i = 0; i < t->n_suffix; i++)
			if ((rc = tok_ids_push(&out, t->suffix[i])))
				goto out_oom;
	if (out.len > (size_t)INT32_MAX) {
		rc = kv_errf(err, errlen, KV_EINVAL, "tok_encode: %zu tokens do not fit an int", out.len);
		goto out_free;
	}
	if (!out.data && (rc = tok_ids_push(&out, 0)) == 0)
		out.len = 0; /* callers get a freeable pointer even for no tokens */
	if (rc)
		goto out_oom;
	*ids = out.data;
	*n_ids = (int)out.len;
	out.data = NULL;
	goto out_free;
out_oom:
	rc = kv_errf(err, errlen, KV_ENOMEM, "tok_encode: out of memory");
out_free:
	free(out.data);
	free(c.norm.data);
	free(c.spans.data);
	free(c.tmp.data);
	tok_bpe_scratch_free(c.bpe);
	if (c.js)
		pcre2_jit_stack_free(c.js);
	if (c.mc)
		pcre2_match_context_free(c.mc);
	if (c.md)
		pcre2_match_data_free(c.md);
	return rc;
}

// ----------------------------------------------------------------------------
// decoding: HF's decoder chain over the token strings

struct strv {            /* a list of strings stored back to back */
	struct tok_buf text;
	size_t *end;         /* (n,) end offset of each string in text */
	size_t n, cap;
};

static int strv_push(struct strv *v, const char *s, size_t n)
{
	if (kv_grow((void **)&v->end, &v->cap, v->n + 1, sizeof(*v->end)))
		return KV_ENOMEM;
	if (tok_buf_put(&v->text, s, n))
		return KV_ENOMEM;
	v->end[v->n++] = v->text.len;
	return 0;
}

static void strv_reset(struct strv *v)
{
	v->n = 0;
	v->text.len = 0;
}

#define STRV_AT(v, i) ((v)->text.data + ((i) ? (v)->end[(i) - 1] : 0))
#define STRV_LEN(v, i) ((v)->end[i] - ((i) ? (v)->end[(i) - 1] : 0))

static int dec_step(const struct tok_dec *d, struct strv *in, struct strv *out)
{
	strv_reset(out);
	struct tok_buf tmp = { 0 };
	int rc = 0;
	switch (d->kind) {
	case TOK_DEC_BYTELEVEL: {
		/* every token through the byte map (its raw UTF-8 when a character is outside
		 * the alphabet), all bytes joined, then lossy UTF-8 */
		struct tok_buf bytes = { 0 };
		for (size_t i = 0; i < in->n && !rc; i++) {
			size_t before = bytes.len;
			int bl = tok_bytelevel_decode(STRV_AT(in, i), STRV_LEN(in, i), &bytes);
			if (bl == TOK_NOT_BYTELEVEL) {
				bytes.len = before;
				rc = tok_buf_put(&bytes, STRV_AT(in, i), STRV_LEN(in, i));
			} else {
				rc = bl;
			}
		}
		if (!rc)
			rc = tok_buf_put_lossy(&tmp, (const uint8_t *)(bytes.data ? bytes.data : ""), bytes.len);
		if (!rc)
			rc = strv_push(out, tmp.data ? tmp.data : "", tmp.len);
		free(bytes.data);
		break;
	}
	case TOK_DEC_REPLACE:
		for (size_t i = 0; i < in->n && !rc; i++) {
			tmp.len = 0;
			const char *s = STRV_AT(in, i);
			size_t n = STRV_LEN(in, i), na = strlen(d->a), nb = strlen(d->b);
			for (size_t j = 0; j < n && !rc;) {
				if (na && j + na <= n && memcmp(s + j, d->a, na) == 0) {
					rc = tok_buf_put(&tmp, d->b, nb);
					j += na;
				} else {
					rc = tok_buf_putc(&tmp, s[j++]);
				}
			}
			if (!rc)
				rc = strv_push(out, tmp.data ? tmp.data : "", tmp.len);
		}
		break;
	case TOK_DEC_BYTEFALLBACK: {
		/* runs of <0xXX> tokens become their bytes when valid UTF-8, else one U+FFFD
		 * per byte token */
		size_t i = 0;
		while (i < in->n && !rc) {
			int b;
			size_t j = i;
			tmp.len = 0;
			while (j < in->n && is_byte_piece(STRV_AT(in, j), (uint32_t)STRV_LEN(in, j), &b)) {
				char c = (char)b;
				if ((rc = tok_buf_put(&tmp, &c, 1)))
					break;
				j++;
			}
			if (rc)
				break;
			if (j > i) {
				if (tok_utf8_valid_prefix((const uint8_t *)tmp.data, tmp.len) == tmp.len) {
					rc = strv_push(out, tmp.data, tmp.len);
				} else {
					for (size_t k = i; k < j && !rc; k++)
						rc = strv_push(out, "\xEF\xBF\xBD", 3);
				}
				i = j;
				continue;
			}
			rc = strv_push(out, STRV_AT(in, i), STRV_LEN(in, i));
			i++;
		}
		break;
	}
	case TOK_DEC_FUSE:
	case TOK_DEC_JOIN_SPACE:
		for (size_t i = 0; i < in->n && !rc; i++) {
			if (d->kind == TOK_DEC_JOIN_SPACE && i > 0)
				rc = tok_buf_putc(&tmp, ' ');
			if (!rc)
				rc = tok_buf_put(&tmp, STRV_AT(in, i), STRV_LEN(in, i));
		}
		if (!rc)
			rc = strv_push(out, tmp.data ? tmp.data : "", tmp.len);
		break;
	case TOK_DEC_STRIP: {
		size_t nc = strlen(d->a);
		for (size_t i = 0; i < in->n && !rc; i++) {
			const char *s = STRV_AT(in, i);
			size_t n = STRV_LEN(in, i), a = 0, b = n;
			for (int k = 0; k < d->start && nc && a + nc <= b && memcmp(s + a, d->a, nc) == 0; k++)
				a += nc;
			for (int k = 0; k < d->stop && nc && b >= a + nc && memcmp(s + b - nc, d->a, nc) == 0; k++)
				b -= nc;
			rc = strv_push(out, s + a, b - a);
		}
		break;
	}
	case TOK_DEC_METASPACE: {
		/* repl -> ' '; the first token loses its leading space unless prepend_scheme
		 * is never */
		size_t nr = strlen(d->a);
		for (size_t i = 0; i < in->n && !rc; i++) {
			tmp.len = 0;
			const char *s = STRV_AT(in, i);
			size_t n = STRV_LEN(in, i);
			for (size_t j = 0; j < n && !rc;) {
				if (nr && j + nr <= n && memcmp(s + j, d->a, nr) == 0) {
					rc = tok_buf_putc(&tmp, ' ');
					j += nr;
				} else {
					rc = tok_buf_putc(&tmp, s[j++]);
				}
			}
			size_t a = 0;
			if (i == 0 && d->prepend != TOK_PREPEND_NEVER && tmp.len > 0 && tmp.data[0] == ' ')
				a = 1;
			if (!rc)
				rc = strv_push(out, tmp.data ? tmp.data + a : "", tmp.len - a);
		}
		break;
	}
	}
	free(tmp.data);
	return rc;
}

int tok_decode(const struct tokenizer *t, const int32_t *ids, int n_ids, bool skip_special,
	       char **text, size_t *len, char *err, size_t errlen)
{
	struct strv a = { 0 }, b = { 0 };
	int rc = 0;
	for (int i = 0; i < n_ids; i++) {
		int32_t id = ids[i];
		if (id < 0 || id >= t->n_vocab) {
			rc = kv_errf(err, errlen, KV_EINVAL, "tok_decode: id %d at position %d outside 0..%d",
				     id, i, t->n_vocab - 1);
			goto out_free;
		}
		if (skip_special && t->special[id])
			continue;
		if ((rc = strv_push(&a, t->piece[id], t->piece_len[id])))
			goto out_oom;
	}
	struct strv *cur = &a, *nxt = &b;
	for (int k = 0; k < t->n_dec; k++) {
		if ((rc = dec_step(&t->dec[k], cur, nxt)))
			goto out_oom;
		struct strv *s = cur;
		cur = nxt;
		nxt = s;
	}
	struct tok_buf res = { 0 };
	for (size_t i = 0; i < cur->n; i++)
		if ((rc = tok_buf_put(&res, STRV_AT(cur, i), STRV_LEN(cur, i)))) {
			free(res.data);
			goto out_oom;
		}
	if (!res.data && (rc = tok_buf_put(&res, "", 0)))
		goto out_oom;
	*text = res.data;
	*len = res.len;
	goto out_free;
out_oom:
	rc = kv_errf(err, errlen, KV_ENOMEM, "tok_decode: out of memory");
out_free:
	free(a.text.data);
	free(a.end);
	free(b.text.data);
	free(b.end);
	return rc;
}

// ----------------------------------------------------------------------------
// accessors

int tok_n_vocab(const struct tokenizer *t) { return t->n_vocab; }
int tok_bos(const struct tokenizer *t) { return t->bos; }

bool tok_add_bos(const struct tokenizer *t)
{
	return t->bos >= 0 && t->n_prefix > 0 && t->prefix[0] == t->bos;
}

const int32_t *tok_eos_ids(const struct tokenizer *t, int *n)
{
	*n = t->n_eos;
	return t->eos_ids;
}

bool tok_is_special(const struct tokenizer *t, int32_t id)
{
	return id >= 0 && id < t->n_vocab && t->special[id];
}

const char *tok_piece(const struct tokenizer *t, int32_t id)
{
	return id >= 0 && id < t->n_vocab ? t->piece[id] : NULL;
}

const char *tok_model_name(const struct tokenizer *t) { return t->model; }
const char *tok_pre_name(const struct tokenizer *t) { return t->pre ? t->pre : ""; }
