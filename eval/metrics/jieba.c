/* jieba 0.42.1 segmentation: jieba.cut(sentence) with cut_all=False, HMM=True.
 * Mirrors fxsjy/jieba jieba/__init__.py (gen_pfdict, get_DAG, calc, __cut_DAG, cut with
 * re_han_default / re_skip_default) and jieba/finalseg/__init__.py (viterbi, __cut, cut).
 * All arithmetic is the same double arithmetic in the same order, so routes and HMM
 * paths (ties included) come out identical. */
#include "eval/metrics/jieba.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h" // defines: kv_errf, KV_EIO, KV_EFORMAT, KV_ENOMEM
#include "base/grow.h"   // kv_grow

#define MIN_FLOAT (-3.14e100) /* finalseg's stand-in for log(0) */

enum { ST_B, ST_M, ST_E, ST_S, N_ST }; /* iteration order of 'BMES' */
static const char st_letter[N_ST] = {'B', 'M', 'E', 'S'};

struct emit_entry {
	uint32_t cp;
	double logp;
};

struct jieba {
	struct interner *words; /* every dictionary word and every prefix of one */
	int64_t *freq;          /* (n_words,) by interner id; 0 = prefix only */
	size_t freq_cap;
	double logtotal;        /* log(sum of all frequencies in dict.txt) */
	double start[N_ST];
	double trans[N_ST][N_ST]; /* MIN_FLOAT where finalseg's table has no entry */
	struct emit_entry *emit[N_ST]; /* sorted by cp */
	size_t n_emit[N_ST];
};

// ----------------------------------------------------------------------------
// loading

static int read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return kv_errf(err, errlen, KV_EIO, "%s: cannot open (%s); run 'make model' (scripts/fetch_jieba.sh)", path,
			       strerror(errno));
	int rc = 0;
	char *buf = NULL;
	if (fseek(f, 0, SEEK_END) != 0) {
		rc = kv_errf(err, errlen, KV_EIO, "%s: cannot seek (%s)", path, strerror(errno));
		goto out_close;
	}
	long n = ftell(f);
	if (n < 0 || fseek(f, 0, SEEK_SET) != 0) {
		rc = kv_errf(err, errlen, KV_EIO, "%s: cannot determine the size (%s)", path, strerror(errno));
		goto out_close;
	}
	buf = malloc((size_t)n + 1);
	if (!buf) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory reading %ld bytes", path, n);
		goto out_close;
	}
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		rc = kv_errf(err, errlen, KV_EIO, "%s: short read (expected %ld bytes)", path, n);
		free(buf);
		goto out_close;
	}
	buf[n] = 0;
	*out = buf;
	*len = (size_t)n;
out_close:
	fclose(f);
	return rc;
}

static int set_freq(struct jieba *j, int id, int64_t f)
{
	if (kv_grow((void **)&j->freq, &j->freq_cap, (size_t)id + 1, sizeof(*j->freq)))
		return KV_ENOMEM;
	j->freq[id] = f;
	return 0;
}

static bool ascii_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* gen_pfdict: word -> freq (the last line wins), every prefix -> 0 unless present,
 * total = sum over all lines. */
static int load_dict(struct jieba *j, const char *path, char *err, size_t errlen)
{
	char *text;
	size_t len;
	int rc = read_file(path, &text, &len, err, errlen);
	if (rc)
		return rc;
	struct pystr w = {0};
	int64_t total = 0;
	size_t lineno = 0;
	for (char *line = text; line < text + len;) {
		char *nl = memchr(line, '\n', (size_t)(text + len - line));
		char *end = nl ? nl : text + len;
		char *next = nl ? nl + 1 : text + len;
		lineno++;
		while (line < end && ascii_space(*line)) /* bytes.strip() */
			line++;
		while (end > line && ascii_space(end[-1]))
			end--;
		char *sp = memchr(line, ' ', (size_t)(end - line));
		if (!sp || sp == line) {
			rc = kv_errf(err, errlen, KV_EFORMAT, "%s:%zu: expected 'word freq [tag]'", path, lineno);
			goto out;
		}
		char *fs = sp + 1, *fe = memchr(fs, ' ', (size_t)(end - fs));
		if (!fe)
			fe = end;
		int64_t f = 0;
		if (fs == fe) {
			rc = kv_errf(err, errlen, KV_EFORMAT, "%s:%zu: empty frequency", path, lineno);
			goto out;
		}
		for (char *p = fs; p < fe; p++) {
			if (*p < '0' || *p > '9' || f > (INT64_MAX - 9) / 10) {
				rc = kv_errf(err, errlen, KV_EFORMAT, "%s:%zu: frequency '%.*s' is not a non-negative integer",
					     path, lineno, (int)(fe - fs), fs);
				goto out;
			}
			f = f * 10 + (*p - '0');
		}
		*sp = 0;
		w.n = 0;
		if ((rc = pystr_from_utf8(&w, line, path, err, errlen)) != 0)
			goto out;
		int id = word_id(j->words, w.cp, w.n);
		if (id < 0 || set_freq(j, id, f)) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory at line %zu", path, lineno);
			goto out;
		}
		total += f;
		for (size_t k = 1; k < w.n; k++) {
			int before = interner_count(j->words);
			int pid = word_id(j->words, w.cp, k);
			if (pid < 0 || (pid >= before && set_freq(j, pid, 0))) {
				rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory at line %zu", path, lineno);
				goto out;
			}
		}
		line = next;
	}
	if (total <= 0) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: no words (total frequency %lld)", path, (long long)total);
		goto out;
	}
	j->logtotal = log((double)total);
out:
	pystr_free(&w);
	free(text);
	return rc;
}

static int state_index(const char *s)
{
	if (!s || !s[0] || s[1])
		return -1;
	const char *p = strchr("BMES", s[0]);
	return p ? (int)(p - "BMES") : -1;
}

static int cmp_emit(const void *a, const void *b)
{
	uint32_t x = ((const struct emit_entry *)a)->cp, y = ((const struct emit_entry *)b)->cp;
	return x < y ? -1 : x > y;
}

static bool parse_double(const char *s, double *v)
{
	char *end;
	errno = 0;
	*v = strtod(s, &end);
	return s[0] && !*end && errno == 0;
}

/* hmm.tsv as scripts/fetch_jieba.sh writes it. */
static int load_hmm(struct jieba *j, const char *path, char *err, size_t errlen)
{
	char *text;
	size_t len;
	int rc = read_file(path, &text, &len, err, errlen);
	if (rc)
		return rc;
	size_t cap[N_ST] = {0}, lineno = 0, n_emit = 0;
	bool have_start[N_ST] = {0}, ended = false;
	for (int a = 0; a < N_ST; a++)
		for (int b = 0; b < N_ST; b++)
			j->trans[a][b] = MIN_FLOAT;
	for (char *line = text; line < text + len && !ended;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		lineno++;
		char *f[5];
		int nf = 0;
		for (char *p = line; nf < 5;) {
			f[nf++] = p;
			char *t = strchr(p, '\t');
			if (!t)
				break;
			*t = 0;
			p = t + 1;
		}
		int s = nf > 1 ? state_index(f[1]) : -1;
		double v;
		if (line[0] == '#' || line[0] == 0) {
			/* comment */
		} else if (!strcmp(f[0], "start") && nf == 3 && s >= 0 && parse_double(f[2], &v)) {
			j->start[s] = v;
			have_start[s] = true;
		} else if (!strcmp(f[0], "trans") && nf == 4 && s >= 0 && state_index(f[2]) >= 0 && parse_double(f[3], &v)) {
			j->trans[s][state_index(f[2])] = v;
		} else if (!strcmp(f[0], "emit") && nf == 4 && s >= 0 && parse_double(f[3], &v)) {
			char *end;
			unsigned long cp = strtoul(f[2], &end, 10);
			if (!f[2][0] || *end || cp > 0x10FFFF) {
				rc = kv_errf(err, errlen, KV_EFORMAT, "%s:%zu: bad code point '%s'", path, lineno, f[2]);
				goto out;
			}
			if (kv_grow((void **)&j->emit[s], &cap[s], j->n_emit[s] + 1, sizeof(*j->emit[s]))) {
				rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", path);
				goto out;
			}
			j->emit[s][j->n_emit[s]++] = (struct emit_entry){.cp = (uint32_t)cp, .logp = v};
			n_emit++;
		} else if (!strcmp(f[0], "end") && nf == 2) {
			if (strtoul(f[1], NULL, 10) != n_emit) {
				rc = kv_errf(err, errlen, KV_EFORMAT, "%s: %zu emission lines but the end line says %s; truncated?",
					     path, n_emit, f[1]);
				goto out;
			}
			ended = true;
		} else {
			rc = kv_errf(err, errlen, KV_EFORMAT, "%s:%zu: expected start/trans/emit/end line", path, lineno);
			goto out;
		}
		line = nl ? nl + 1 : text + len;
	}
	if (!ended || !have_start[ST_B] || !have_start[ST_M] || !have_start[ST_E] || !have_start[ST_S]) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: missing start probabilities or end line; rerun scripts/fetch_jieba.sh",
			     path);
		goto out;
	}
	for (int k = 0; k < N_ST; k++)
		qsort(j->emit[k], j->n_emit[k], sizeof(*j->emit[k]), cmp_emit);
out:
	free(text);
	return rc;
}

int jieba_load(const char *dir, struct jieba **out, char *err, size_t errlen)
{
	char path[4096];
	struct jieba *j = calloc(1, sizeof(*j));
	if (!j)
		return kv_errf(err, errlen, KV_ENOMEM, "jieba: out of memory");
	int rc = KV_ENOMEM;
	j->words = interner_new();
	if (!j->words) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "jieba: out of memory");
		goto out_free;
	}
	snprintf(path, sizeof(path), "%s/dict.txt", dir);
	if ((rc = load_dict(j, path, err, errlen)) != 0)
		goto out_free;
	snprintf(path, sizeof(path), "%s/hmm.tsv", dir);
	if ((rc = load_hmm(j, path, err, errlen)) != 0)
		goto out_free;
	*out = j;
	return 0;
out_free:
	jieba_free(j);
	return rc;
}

void jieba_free(struct jieba *j)
{
	if (!j)
		return;
	interner_free(j->words);
	free(j->freq);
	for (int k = 0; k < N_ST; k++)
		free(j->emit[k]);
	free(j);
}

// ----------------------------------------------------------------------------
// finalseg: HMM for runs of single characters the dictionary does not know

static double emit_p(const struct jieba *j, int s, uint32_t c)
{
	size_t lo = 0, hi = j->n_emit[s];
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (j->emit[s][mid].cp < c)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < j->n_emit[s] && j->emit[s][lo].cp == c ? j->emit[s][lo].logp : MIN_FLOAT;
}

/* finalseg.viterbi + __cut on a run of U+4E00..U+9FD5 characters text[s, e). */
static int hmm_cut(const struct jieba *j, const uint32_t *text, size_t s, size_t e, struct spans *out)
{
	/* PrevStatus: the states a state may follow, in finalseg's order */
	static const int prev[N_ST][2] = {[ST_B] = {ST_E, ST_S}, [ST_M] = {ST_M, ST_B}, [ST_S] = {ST_S, ST_E},
					  [ST_E] = {ST_B, ST_M}};
	size_t T = e - s;
	double *V = malloc(T * N_ST * sizeof(*V)); /* (T, 4) best log-probability ending in state */
	unsigned char *bp = malloc(T * N_ST);      /* (T, 4) the previous state on that path */
	int rc = 0;
	if (!V || !bp) {
		rc = KV_ENOMEM;
		goto out;
	}
	for (int y = 0; y < N_ST; y++)
		V[y] = j->start[y] + emit_p(j, y, text[s]);
	for (size_t t = 1; t < T; t++) {
		for (int y = 0; y < N_ST; y++) {
			double em = emit_p(j, y, text[s + t]);
			int best = -1;
			double bestp = 0;
			for (int k = 0; k < 2; k++) { /* max over (prob, state letter) tuples */
				int y0 = prev[y][k];
				double p = V[(t - 1) * N_ST + y0] + j->trans[y0][y] + em;
				if (best < 0 || p > bestp || (p == bestp && st_letter[y0] > st_letter[best])) {
					best = y0;
					bestp = p;
				}
			}
			V[t * N_ST + y] = bestp;
			bp[t * N_ST + y] = (unsigned char)best;
		}
	}
	/* the last state is E or S; on a tie 'S' > 'E' wins */
	int state = V[(T - 1) * N_ST + ST_S] >= V[(T - 1) * N_ST + ST_E] ? ST_S : ST_E;
	for (size_t t = T; t-- > 0;) { /* bp[t] of the path into state at t; reuse bp row as the path */
		int prev_state = t > 0 ? bp[t * N_ST + state] : 0;
		bp[t * N_ST] = (unsigned char)state; /* column 0 of row t is no longer needed after this */
		state = prev_state;
	}
	size_t begin = 0, nexti = 0;
	for (size_t i = 0; i < T && !rc; i++) {
		int pos = bp[i * N_ST];
		if (pos == ST_B) {
			begin = i;
		} else if (pos == ST_E) {
			rc = spans_push(out, s + begin, i + 1 - begin);
			nexti = i + 1;
		} else if (pos == ST_S) {
			rc = spans_push(out, s + i, 1);
			nexti = i + 1;
		}
	}
	if (!rc && nexti < T)
		rc = spans_push(out, s + nexti, T - nexti);
out:
	free(V);
	free(bp);
	return rc;
}

static bool ascii_alnum(uint32_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool han(uint32_t c)
{
	return c >= 0x4E00 && c <= 0x9FD5;
}

/* finalseg.cut(text[s, e)): HMM on Han runs; elsewhere re_skip
 * ([a-zA-Z0-9]+(?:\.\d+)?%?) matches and the text between them, as tokens. */
static int finalseg_cut(const struct jieba *j, const uint32_t *text, size_t s, size_t e, struct spans *out)
{
	size_t i = s;
	while (i < e) {
		size_t b = i;
		int rc;
		if (han(text[i])) {
			while (i < e && han(text[i]))
				i++;
			rc = hmm_cut(j, text, b, i, out);
		} else if (ascii_alnum(text[i])) {
			while (i < e && ascii_alnum(text[i]))
				i++;
			if (i + 1 < e && text[i] == '.' && py_isdecimal(text[i + 1])) {
				i += 2;
				while (i < e && py_isdecimal(text[i]))
					i++;
			}
			if (i < e && text[i] == '%')
				i++;
			rc = spans_push(out, b, i - b);
		} else {
			while (i < e && !han(text[i]) && !ascii_alnum(text[i]))
				i++;
			rc = spans_push(out, b, i - b);
		}
		if (rc)
			return rc;
	}
	return 0;
}

// ----------------------------------------------------------------------------
// dictionary route

static int64_t freq_of(const struct jieba *j, const uint32_t *w, size_t n)
{
	int id = word_find(j->words, w, n);
	return id < 0 ? 0 : j->freq[id];
}

/* Flushes __cut_DAG's buffer of consecutive single-character words text[b, e). */
static int flush_buf(const struct jieba *j, const uint32_t *text, size_t b, size_t e, struct spans *out)
{
	if (e - b == 1)
		return spans_push(out, b, 1);
	if (freq_of(j, text + b, e - b) == 0)
		return finalseg_cut(j, text, b, e, out);
	for (size_t i = b; i < e; i++)
		if (spans_push(out, i, 1))
			return KV_ENOMEM;
	return 0;
}

/* __cut_DAG on a block text[s, e) of re_han_default characters: the maximum-probability
 * route over the dictionary DAG (calc), runs of single characters through finalseg. */
static int dag_cut(const struct jieba *j, const uint32_t *text, size_t s, size_t e, struct spans *out)
{
	size_t N = e - s;
	const uint32_t *sent = text + s;
	double *rp = malloc((N + 1) * sizeof(*rp)); /* (N+1,) route[idx][0] */
	size_t *rx = malloc((N + 1) * sizeof(*rx)); /* (N+1,) route[idx][1] */
	int rc = 0;
	if (!rp || !rx) {
		rc = KV_ENOMEM;
		goto out;
	}
	rp[N] = 0;
	rx[N] = 0;
	for (size_t idx = N; idx-- > 0;) {
		/* get_DAG: ends x of dictionary words starting at idx (x = idx when none) */
		bool any = false;
		double bestp = 0;
		size_t bestx = idx;
		for (size_t i = idx; i < N; i++) {
			int id = word_find(j->words, sent + idx, i - idx + 1);
			if (id < 0)
				break;
			if (j->freq[id] == 0)
				continue;
			double p = log((double)j->freq[id]) - j->logtotal + rp[i + 1];
			if (!any || p > bestp || (p == bestp && i > bestx)) {
				bestp = p;
				bestx = i;
			}
			any = true;
		}
		if (!any) { /* FREQ.get(char) or 1 */
			bestp = log(1.0) - j->logtotal + rp[idx + 1];
			bestx = idx;
		}
		rp[idx] = bestp;
		rx[idx] = bestx;
	}
	size_t x = 0, buf = 0, buf_n = 0;
	while (x < N && !rc) {
		size_t y = rx[x] + 1;
		if (y - x == 1) {
			if (buf_n == 0)
				buf = x;
			buf_n++;
		} else {
			if (buf_n)
				rc = flush_buf(j, text, s + buf, s + buf + buf_n, out);
			buf_n = 0;
			if (!rc)
				rc = spans_push(out, s + x, y - x);
		}
		x = y;
	}
	if (!rc && buf_n)
		rc = flush_buf(j, text, s + buf, s + buf + buf_n, out);
out:
	free(rp);
	free(rx);
	return rc;
}

// ----------------------------------------------------------------------------
// cut

/* re_han_default's class: [\u4E00-\u9FD5a-zA-Z0-9+#&\._%\-] */
static bool han_default(uint32_t c)
{
	return han(c) || ascii_alnum(c) || c == '+' || c == '#' || c == '&' || c == '.' || c == '_' || c == '%' ||
	       c == '-';
}

int jieba_cut(const struct jieba *j, const uint32_t *text, size_t n, struct spans *out)
{
	size_t i = 0;
	while (i < n) {
		size_t b = i;
		if (han_default(text[i])) {
			while (i < n && han_default(text[i]))
				i++;
			if (dag_cut(j, text, b, i, out))
				return KV_ENOMEM;
			continue;
		}
		/* other blocks: re_skip_default (\r\n|\s) pieces and every other character alone */
		while (i < n && !han_default(text[i])) {
			size_t len = text[i] == '\r' && i + 1 < n && text[i + 1] == '\n' ? 2 : 1;
			if (spans_push(out, i, len))
				return KV_ENOMEM;
			i += len;
		}
	}
	return 0;
}
