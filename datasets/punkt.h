/* NLTK Punkt sentence splitting (inference only) with trained parameters read from a
 * table file: the C port of PunktSentenceTokenizer.span_tokenize(text) with realigned
 * boundaries in NLTK 3.10.4's nltk/tokenize/punkt.py, which nltk.sent_tokenize (and so
 * RULER's essay haystack) uses. The English tables come from scripts/fetch_punkt.sh
 * (models/punkt/english.tab). All text is UTF-8; spans are byte offsets. */
#ifndef KVLAB_DATASETS_PUNKT_H
#define KVLAB_DATASETS_PUNKT_H

#include <stddef.h>

#define PUNKT_DEFAULT_TAB "models/punkt/english.tab"

/* Orthographic context flags of a word type, NLTK's _ORTHO_* bit values. */
enum punkt_ortho {
	PUNKT_ORTHO_BEG_UC = 1 << 1, /* seen upper-case at a sentence start */
	PUNKT_ORTHO_MID_UC = 1 << 2, /* upper-case inside a sentence */
	PUNKT_ORTHO_UNK_UC = 1 << 3, /* upper-case, position unknown */
	PUNKT_ORTHO_BEG_LC = 1 << 4, /* lower-case at a sentence start */
	PUNKT_ORTHO_MID_LC = 1 << 5, /* lower-case inside a sentence */
	PUNKT_ORTHO_UNK_LC = 1 << 6, /* lower-case, position unknown */
	PUNKT_ORTHO_UC = PUNKT_ORTHO_BEG_UC | PUNKT_ORTHO_MID_UC | PUNKT_ORTHO_UNK_UC,
	PUNKT_ORTHO_LC = PUNKT_ORTHO_BEG_LC | PUNKT_ORTHO_MID_LC | PUNKT_ORTHO_UNK_LC,
};

struct punkt; /* opaque: abbreviation types, collocations, sentence starters, ortho contexts */

/* Reads a Punkt parameter table (rows 'abbrev T', 'starter T', 'colloc T1 T2', 'ortho T N',
 * tab-separated; '#' comments) into *out, which the caller releases with punkt_free;
 * *out is untouched on failure. 0 or KV_EIO (missing file, with a hint to fetch it),
 * KV_EFORMAT, KV_ENOMEM. */
int punkt_load(const char *path, struct punkt **out, char *err, size_t errlen);

/* Splits text[0, n) into sentences as NLTK's PunktSentenceTokenizer.tokenize(text) does:
 * *spans gets *n_out (start, end) byte offset pairs, (n_out, 2) row-major, sentence i =
 * text[start, end) (empty when end <= start, as a Python slice would be); the caller frees
 * *spans with free(). p is only read. 0, KV_EFORMAT (invalid UTF-8) or KV_ENOMEM. */
int punkt_sentences(const struct punkt *p, const char *text, size_t n, size_t **spans, int *n_out, char *err, size_t errlen);

/* Releases a table from punkt_load; NULL is a no-op. */
void punkt_free(struct punkt *p);

#endif
