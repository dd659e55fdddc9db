/* ROUGE-L as LongBench's rouge_score computes it: pltrdy `rouge` 1.0.1,
 * Rouge().get_scores([hyp], [ref], avg=True)["rouge-l"]["f"], any exception -> 0.
 * Mirrors rouge/rouge.py (_get_avg_scores: "." sentence split, whitespace
 * normalisation) and rouge/rouge_score.py (rouge_l_summary_level with exclusive=True,
 * _union_lcs, _lcs, _recon_lcs). Quirks kept on purpose (../shared/spec/eval.md 2.6):
 *   - sentences = the non-empty pieces of text.split("."), each " ".join(piece.split());
 *     words = sentence.split(" "), so a whitespace-only piece is one empty-string word;
 *   - m, n and the LCS union are SETS of words (exclusive=True), no lower-casing;
 *   - one LCS per (reference sentence, hypothesis sentence) is rebuilt by the recursive
 *     _recon (diagonal on a match, else up when table[i-1][j] > table[i][j-1], else left);
 *     a path deeper than CPython's recursion limit raises RecursionError -> score 0.
 * rouge-1 and rouge-2, which get_scores also computes, cannot raise where rouge-l does not. */
#include "eval/metrics/metrics_internal.h"

#include <stdlib.h>

#include "base/errors.h" // defines: kv_errf, KV_ENOMEM
#include "base/grow.h"   // kv_grow

/* A text split the way _get_avg_scores and _split_into_words do: word ids in order,
 * sentence k = words[sent_off[k], sent_off[k + 1]). */
struct sents {
	int *words;
	size_t n_words, cap_words;
	size_t *sent_off; /* (n_sent + 1,) */
	size_t n_sent, cap_sent;
};

static int push_word(struct sents *s, int id)
{
	if (kv_grow((void **)&s->words, &s->cap_words, s->n_words + 1, sizeof(*s->words)))
		return KV_ENOMEM;
	s->words[s->n_words++] = id;
	return 0;
}

static int push_sent_end(struct sents *s)
{
	if (kv_grow((void **)&s->sent_off, &s->cap_sent, s->n_sent + 2, sizeof(*s->sent_off)))
		return KV_ENOMEM;
	if (s->n_sent == 0)
		s->sent_off[0] = 0;
	s->sent_off[++s->n_sent] = s->n_words;
	return 0;
}

static int split_text(const struct pystr *t, struct interner *in, struct sents *s)
{
	static const uint32_t empty[1] = {0};
	struct spans w = {0};
	int rc = 0;
	for (size_t i = 0; i <= t->n && !rc;) {
		size_t j = i;
		while (j < t->n && t->cp[j] != '.')
			j++;
		if (j > i) { /* pieces of length 0 are dropped; whitespace-only ones are kept */
			w.n = 0;
			if ((rc = py_split(t->cp + i, j - i, i, &w)) != 0)
				break;
			if (w.n == 0) { /* "" -> [""] */
				int id = word_id(in, empty, 0);
				rc = id < 0 ? id : push_word(s, id);
			}
			for (size_t k = 0; k < w.n && !rc; k++) {
				int id = word_id(in, t->cp + w.v[k].off, w.v[k].len);
				rc = id < 0 ? id : push_word(s, id);
			}
			if (!rc)
				rc = push_sent_end(s);
		}
		i = j + 1;
	}
	spans_free(&w);
	return rc;
}

static void sents_free(struct sents *s)
{
	free(s->words);
	free(s->sent_off);
}

/* Distinct words of s, marked in seen (cleared by the caller). */
static size_t distinct(const struct sents *s, unsigned char *seen)
{
	size_t n = 0;
	for (size_t k = 0; k < s->n_words; k++)
		if (!seen[s->words[k]]) {
			seen[s->words[k]] = 1;
			n++;
		}
	return n;
}

/* _recon_lcs(x = reference words, y = hypothesis words): adds the LCS words to the union
 * (in_union, *n_union). Returns 1 when the recursion would exceed max_frames. */
static int recon_lcs(const int *x, size_t nx, const int *y, size_t ny, int max_frames, unsigned char *in_union,
		     size_t *n_union)
{
	/* The path from (nx, ny) needs at least min(nx, ny) steps, one frame each, plus the
	 * frame that hits the border: too deep for sure, whatever the table says. */
	if ((nx < ny ? nx : ny) + 1 > (size_t)max_frames)
		return 1;
	/* _lcs: table[i][j] <= min(nx, ny) < max_frames, so 16 bits hold it */
	uint16_t *tab = malloc((nx + 1) * (ny + 1) * sizeof(*tab));
	if (!tab)
		return KV_ENOMEM;
#define T(i, j) tab[(i) * (ny + 1) + (j)]
	for (size_t i = 0; i <= nx; i++) {
		for (size_t j = 0; j <= ny; j++) {
			if (i == 0 || j == 0)
				T(i, j) = 0;
			else if (x[i - 1] == y[j - 1])
				T(i, j) = (uint16_t)(T(i - 1, j - 1) + 1);
			else
				T(i, j) = T(i - 1, j) > T(i, j - 1) ? T(i - 1, j) : T(i, j - 1);
		}
	}
	/* _recon, unrolled: count its frames first, as CPython fails before any result */
	size_t i = nx, j = ny, frames = 1;
	while (i > 0 && j > 0) {
		if (x[i - 1] == y[j - 1])
			i--, j--;
		else if (T(i - 1, j) > T(i, j - 1))
			i--;
		else
			j--;
		frames++;
	}
	int rc = 0;
	if (frames > (size_t)max_frames) {
		rc = 1;
		goto out;
	}
	for (i = nx, j = ny; i > 0 && j > 0;) {
		if (x[i - 1] == y[j - 1]) {
			if (!in_union[x[i - 1]]) {
				in_union[x[i - 1]] = 1;
				(*n_union)++;
			}
			i--, j--;
		} else if (T(i - 1, j) > T(i, j - 1)) {
			i--;
		} else {
			j--;
		}
	}
#undef T
out:
	free(tab);
	return rc;
}

int rouge_l_pltrdy(const struct pystr *hyp, const struct pystr *ref, int max_frames, double *f)
{
	struct interner *in = interner_new();
	struct sents h = {0}, r = {0};
	unsigned char *seen = NULL;
	int rc;
	if (!in)
		return KV_ENOMEM;
	if ((rc = split_text(hyp, in, &h)) != 0 || (rc = split_text(ref, in, &r)) != 0)
		goto out;
	if (h.n_sent == 0 || r.n_sent == 0) { /* ValueError("Collections must contain at least 1 sentence.") */
		rc = 1;
		goto out;
	}
	size_t n_ids = (size_t)interner_count(in);
	seen = calloc(n_ids * 2, 1);
	if (!seen) {
		rc = KV_ENOMEM;
		goto out;
	}
	size_t m = distinct(&r, seen);                       /* distinct reference words */
	size_t n = distinct(&h, seen + n_ids);               /* distinct hypothesis words */
	unsigned char *in_union = seen;                      /* reuse: cleared below */
	for (size_t k = 0; k < n_ids; k++)
		in_union[k] = 0;
	size_t llcs = 0;
	for (size_t a = 0; a < r.n_sent; a++) {
		for (size_t b = 0; b < h.n_sent; b++) {
			rc = recon_lcs(r.words + r.sent_off[a], r.sent_off[a + 1] - r.sent_off[a], h.words + h.sent_off[b],
				       h.sent_off[b + 1] - h.sent_off[b], max_frames, in_union, &llcs);
			if (rc)
				goto out;
		}
	}
	double r_lcs = (double)llcs / (double)m;
	double p_lcs = (double)llcs / (double)n;
	*f = 2.0 * ((p_lcs * r_lcs) / (p_lcs + r_lcs + 1e-8));
out:
	free(seen);
	sents_free(&h);
	sents_free(&r);
	interner_free(in);
	return rc;
}

int score_rouge(const char *pred, const char *gt, const char *const *all_classes, int n_classes, double *out,
		char *err, size_t errlen)
{
	(void)all_classes, (void)n_classes;
	struct pystr h = {0}, r = {0};
	int rc;
	if ((rc = pystr_from_utf8(&h, pred, "rouge: prediction", err, errlen)) != 0 ||
	    (rc = pystr_from_utf8(&r, gt, "rouge: ground truth", err, errlen)) != 0)
		goto out;
	rc = rouge_l_pltrdy(&h, &r, ROUGE_MAX_FRAMES, out);
	if (rc == 1) { /* the bare except in rouge_score */
		*out = 0.0;
		rc = 0;
	} else if (rc) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "rouge: out of memory (%zu x %zu code points)", h.n, r.n);
	}
out:
	pystr_free(&h);
	pystr_free(&r);
	return rc;
}
