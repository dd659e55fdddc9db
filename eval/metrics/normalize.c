/* LongBench's answer normalisation (metrics.py normalize_answer, normalize_zh_answer),
 * with Python's Unicode str.lower(), re '\b' and str.split() (base/pystr.c). */
#include "eval/metrics/metrics_internal.h"

#include "base/errors.h" // defines: KV_ENOMEM

/* string.punctuation */
static bool ascii_punct(uint32_t c)
{
	return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
	       (c >= 0x7B && c <= 0x7E);
}

/* metrics.py cn_punctuation (../shared/spec/eval.md Appendix D3) */
static const uint32_t cn_punct[] = {
	0xFF01, 0xFF1F, 0xFF61, 0x3002, 0xFF02, 0xFF03, 0xFF04, 0xFF05, 0xFF06, 0xFF07, 0xFF08, 0xFF09, 0xFF0A,
	0xFF0B, 0xFF0C, 0xFF0D, 0xFF0F, 0xFF1A, 0xFF1B, 0xFF1C, 0xFF1D, 0xFF1E, 0xFF20, 0xFF3B, 0xFF3C, 0xFF3D,
	0xFF3E, 0xFF3F, 0xFF40, 0xFF5B, 0xFF5C, 0xFF5D, 0xFF5E, 0xFF5F, 0xFF60, 0xFF62, 0xFF63, 0xFF64, 0x3001,
	0x3003, 0x300B, 0x300C, 0x300D, 0x300E, 0x300F, 0x3010, 0x3011, 0x3014, 0x3015, 0x3016, 0x3017, 0x3018,
	0x3019, 0x301A, 0x301B, 0x301C, 0x301D, 0x301E, 0x301F, 0x3030, 0x303E, 0x303F, 0x2013, 0x2014, 0x2018,
	0x2019, 0x201B, 0x201C, 0x201D, 0x201E, 0x201F, 0x2026, 0x2027, 0xFE4F, 0x002E,
};

static bool zh_punct(uint32_t c)
{
	if (ascii_punct(c))
		return true;
	for (size_t i = 0; i < sizeof(cn_punct) / sizeof(cn_punct[0]); i++)
		if (cn_punct[i] == c)
			return true;
	return false;
}

static bool is_article(const uint32_t *w, size_t n)
{
	static const uint32_t an[] = {'a', 'n'}, the[] = {'t', 'h', 'e'};
	return (n == 1 && w[0] == 'a') || cp_eq(w, n, an, 2) || cp_eq(w, n, the, 3);
}

int normalize_answer_en(const struct pystr *in, struct pystr *out)
{
	struct pystr low = {0};
	int rc = py_lower(in->cp, in->n, &low);
	if (rc)
		goto out;
	/* remove_punc, in place */
	size_t k = 0;
	for (size_t i = 0; i < low.n; i++)
		if (!ascii_punct(low.cp[i]))
			low.cp[k++] = low.cp[i];
	low.n = k;
	/* remove_articles: re.sub(r"\b(a|an|the)\b", " ", s) replaces exactly the maximal
	 * runs of word characters that spell a, an or the */
	out->n = 0;
	for (size_t i = 0; i < low.n && !rc;) {
		if (!py_isword(low.cp[i])) {
			rc = pystr_push(out, low.cp[i++]);
			continue;
		}
		size_t b = i;
		while (i < low.n && py_isword(low.cp[i]))
			i++;
		rc = is_article(low.cp + b, i - b) ? pystr_push(out, ' ') : pystr_append(out, low.cp + b, i - b);
	}
	/* white_space_fix is left to the caller's split(): " ".join(s.split()).split() == s.split() */
out:
	pystr_free(&low);
	return rc ? KV_ENOMEM : 0;
}

int normalize_answer_zh(const uint32_t *in, size_t len, struct pystr *out)
{
	struct pystr low = {0};
	int rc = py_lower(in, len, &low);
	out->n = 0;
	for (size_t i = 0; i < low.n && !rc; i++)
		if (!zh_punct(low.cp[i]) && !py_isspace(low.cp[i]))
			rc = pystr_push(out, low.cp[i]);
	pystr_free(&low);
	return rc ? KV_ENOMEM : 0;
}
