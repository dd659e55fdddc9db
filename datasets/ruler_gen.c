/* RULER's synthetic data generator (scripts/data/prepare.py with the 'base' model
 * template and scripts/data/synthetic/{niah,variable_tracking,common_words_extraction,
 * freq_words_extraction,qa}.py), ported so that the same seed, length and tokenizer give
 * the same JSONL bytes. Every random draw happens in the official order, on
 * Python-compatible streams (datasets/pyrandom.h): G = the module-wide random, NP = numpy's
 * legacy global state (vt only), R(seed) = a fresh random.Random(seed) used to shuffle.
 * Spec and the order of draws: ../shared/spec/ruler.md sections 1-8 and 10. */
#include "datasets/ruler.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/needle.h"   // haystack_read_dir
#include "datasets/punkt.h"    // punkt_load, punkt_sentences (nltk.sent_tokenize)
#include "datasets/pyrandom.h" // struct pyrand, pyrand_*
#include "base/errors.h"
#include "base/paths.h"      // kv_find_default
#include "base/pyjson.h" // py_json_str
#include "base/fileio.h"     // kv_read_file
#include "base/grow.h"       // kv_grow
#include "engine/tokenizer.h"  // tok_encode

#include <cjson/cJSON.h>

// ----------------------------------------------------------------------------
// task table (scripts/synthetic.yaml + data/synthetic/constants.py)

const struct ruler_task_def ruler_tasks[RULER_N_TASKS] = {
	{ .name = "niah_single_1", .family = RULER_NIAH, .tokens_to_generate = 128, .haystack = "noise", .type_k = "words", .type_v = "numbers", .num_k = 1, .num_v = 1, .num_q = 1 },
	{ .name = "niah_single_2", .family = RULER_NIAH, .tokens_to_generate = 128, .haystack = "essay", .type_k = "words", .type_v = "numbers", .num_k = 1, .num_v = 1, .num_q = 1 },
	{ .name = "niah_single_3", .family = RULER_NIAH, .tokens_to_generate = 128, .haystack = "essay", .type_k = "words", .type_v = "uuids", .num_k = 1, .num_v = 1, .num_q = 1 },
	{ .name = "niah_multikey_1", .family = RULER_NIAH, .tokens_to_generate = 128, .haystack = "essay", .type_k = "words", .type_v = "numbers", .num_k = 4, .num_v = 1, .num_q = 1 },
	{ .name = "niah_multikey_2", .family = RULER_NIAH, .tokens_to_generate = 128, .haystack = "needle", .type_k = "words", .type_v = "numbers", .num_k = 1, .num_v = 1, .num_q = 1 },
	{ .name = "niah_multikey_3", .family = RULER_NIAH, .tokens_to_generate = 128, .haystack = "needle", .type_k = "uuids", .type_v = "uuids", .num_k = 1, .num_v = 1, .num_q = 1 },
	{ .name = "niah_multivalue", .family = RULER_NIAH, .tokens_to_generate = 128, .haystack = "essay", .type_k = "words", .type_v = "numbers", .num_k = 1, .num_v = 4, .num_q = 1 },
	{ .name = "niah_multiquery", .family = RULER_NIAH, .tokens_to_generate = 128, .haystack = "essay", .type_k = "words", .type_v = "numbers", .num_k = 1, .num_v = 1, .num_q = 4 },
	{ .name = "vt", .family = RULER_VT, .tokens_to_generate = 30 },
	{ .name = "cwe", .family = RULER_CWE, .tokens_to_generate = 120 },
	{ .name = "fwe", .family = RULER_FWE, .tokens_to_generate = 50 },
	{ .name = "qa_1", .family = RULER_QA, .tokens_to_generate = 32, .metric = RULER_MATCH_PART, .dataset = "squad" },
	{ .name = "qa_2", .family = RULER_QA, .tokens_to_generate = 32, .metric = RULER_MATCH_PART, .dataset = "hotpotqa" },
};

const struct ruler_task_def *ruler_task_find(const char *name)
{
	for (int i = 0; i < RULER_N_TASKS; i++)
		if (strcmp(ruler_tasks[i].name, name) == 0)
			return &ruler_tasks[i];
	return NULL;
}

int ruler_rev_parse(const char *s, enum ruler_rev *out, char *err, size_t errlen)
{
	if (strcmp(s, "2024") == 0)
		*out = RULER_REV_2024;
	else if (strcmp(s, "2024-12") == 0)
		*out = RULER_REV_2024_12;
	else if (strcmp(s, "head") == 0)
		*out = RULER_REV_HEAD;
	else
		return kv_errf(err, errlen, KV_EINVAL, "--ruler_rev: expected 2024, 2024-12 or head, got '%s'", s);
	return 0;
}

const char *ruler_rev_name(enum ruler_rev r)
{
	return r == RULER_REV_2024 ? "2024" : r == RULER_REV_2024_12 ? "2024-12" : "head";
}

// ----------------------------------------------------------------------------
// family templates (appendix A.1 of the spec: benchmark configuration strings)

static const char NIAH_TEMPLATE[] =
	"Some special magic {type_needle_v} are hidden within the following text. Make sure to memorize it. I will quiz "
	"you about the {type_needle_v} afterwards.\n{context}\nWhat are all the special magic {type_needle_v} for "
	"{query} mentioned in the provided text?";
static const char NIAH_PREFIX[] = " The special magic {type_needle_v} for {query} mentioned in the provided text are";
static const char VT_TEMPLATE[] =
	"Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n{context}\nQuestion: "
	"Find all variables that are assigned the value {query} in the text above.";
static const char VT_PREFIX_2024[] =
	" Answer: According to the chain(s) of variable assignment in the text above, {num_v} variables are assgined "
	"the value {query}, they are: ";
static const char VT_PREFIX_HEAD[] =
	" Answer: According to the chain(s) of variable assignment in the text above, {num_v} variables are assigned "
	"the value {query}, they are: ";
static const char CWE_TEMPLATE[] =
	"Below is a numbered list of words. In these words, some appear more often than others. Memorize the ones that "
	"appear most often.\n{context}\nQuestion: What are the 10 most common words in the above list?";
static const char CWE_PREFIX[] = " Answer: The top 10 words that appear most often in the list are:";
static const char FWE_TEMPLATE[] =
	"Read the following coded text and track the frequency of each coded word. Find the three most frequently "
	"appeared coded words. {context}\nQuestion: Do not provide any explanation. Please ignore the dots '....'. What "
	"are the three most frequently appeared words in the above coded text?";
static const char FWE_PREFIX[] = " Answer: According to the coded text above, the three most frequently appeared words are:";
static const char QA_TEMPLATE[] =
	"Answer the question based on the given documents. Only give me the answer and do not output any other "
	"words.\n\nThe following are given documents.\n\n{context}\n\nAnswer the question based on the given documents. "
	"Only give me the answer and do not output any other words.\n\nQuestion: {query}";
static const char QA_PREFIX[] = " Answer:";

static const char NOISE_LINE[] = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";
static const int DEPTHS[40] = { 0,  3,  5,  8,  10, 13, 15, 18, 21, 23, 26, 28, 31, 33, 36, 38, 41, 44, 46, 49,
				51, 54, 56, 59, 62, 64, 67, 69, 72, 74, 77, 79, 82, 85, 87, 90, 92, 95, 97, 100 };
static const double ZETA2 = 1.6449340668482264; /* scipy.special.zeta(2.0) */

// ----------------------------------------------------------------------------
// string builder

struct sb {
	char *p;
	size_t n, cap;
};

static int sb_add(struct sb *b, const char *s, size_t n)
{
	if (kv_grow((void **)&b->p, &b->cap, b->n + n + 1, 1))
		return KV_ENOMEM;
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
	return 0;
}

static int sb_adds(struct sb *b, const char *s)
{
	return sb_add(b, s, strlen(s));
}

static int sb_addf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sb_addf(struct sb *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= sizeof(tmp))
		return KV_EINTERNAL;
	return sb_add(b, tmp, (size_t)k);
}

static void sb_clear(struct sb *b)
{
	b->n = 0;
	if (b->p)
		b->p[0] = 0;
}

static void sb_free(struct sb *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Python str.format for the named fields of tmpl in one pass: inserted values are never
 * re-scanned. names/vals have n entries; an unknown field is an internal error. */
static int fill(struct sb *out, const char *tmpl, const char *const *names, const char *const *vals, int n)
{
	sb_clear(out);
	for (const char *p = tmpl; *p;) {
		const char *o = strchr(p, '{');
		if (!o)
			return sb_adds(out, p);
		if (sb_add(out, p, (size_t)(o - p)))
			return KV_ENOMEM;
		const char *c = strchr(o, '}');
		if (!c)
			return KV_EINTERNAL;
		int k = 0;
		while (k < n && !(strlen(names[k]) == (size_t)(c - o - 1) && strncmp(names[k], o + 1, (size_t)(c - o - 1)) == 0))
			k++;
		if (k == n)
			return KV_EINTERNAL;
		if (sb_adds(out, vals[k]))
			return KV_ENOMEM;
		p = c + 1;
	}
	return 0;
}

/* Python s.replace(from, to) on a malloc'd string; returns the new string (old freed) or NULL. */
static char *replace_all(char *s, const char *from, const char *to)
{
	struct sb b = { 0 };
	size_t fl = strlen(from);
	const char *p = s, *q;
	while ((q = strstr(p, from))) {
		if (sb_add(&b, p, (size_t)(q - p)) || sb_adds(&b, to))
			goto fail;
		p = q + fl;
	}
	if (sb_adds(&b, p))
		goto fail;
	free(s);
	return b.p;
fail:
	sb_free(&b);
	free(s);
	return NULL;
}

// ----------------------------------------------------------------------------
// generator state

struct words {
	char **w;     /* (n,) owned strings */
	int n;
};

struct qa_item {
	char *query;
	char **outputs;
	int n_out;
	int *gold, n_gold;
	int *more, n_more;
};

struct gen {
	const struct ruler_gen_opts *o;
	const struct ruler_task_def *d;
	struct pyrand G, NP;
	int T, B;                 /* allowance and budget */
	char *tmpl;               /* composed template (family template + answer prefix) */
	const char *prefix;       /* the family's unformatted answer prefix */
	/* niah words: adjective-noun pairs in code-point order */
	struct words adjs, nouns, verbs;
	uint32_t *pairs;          /* (n_pairs,) adj << 16 | noun */
	size_t n_pairs;
	/* essay haystack words (Python re.sub(r'\s+', ' ', text).split(' ')) */
	char *essay;
	char **ew;                /* (n_ew,) pointers into essay */
	int n_ew;
	struct punkt *punkt;      /* NLTK Punkt English parameters (models/punkt/english.tab) */
	/* cwe word list (sorted, shuffled by R(seed)) */
	char **cw;
	int n_cw;
	/* qa */
	char **docs;
	int n_docs;
	struct qa_item *qas;
	int n_qas;
	cJSON *qa_json;
	/* vt one-shot example text (input + names + "\n\n") and its token count */
	char *vt_example;
	int vt_example_tok;
	char *err;
	size_t errlen;
};

static int ntok(struct gen *g, const char *s, size_t n, int *out)
{
	int32_t *ids = NULL;
	int k = 0, rc = tok_encode(g->o->tok, s, n, false, &ids, &k, g->err, g->errlen);
	free(ids);
	*out = k;
	return rc;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts and de-duplicates a list of owned strings (sorted(set(x)) in code-point order). */
static void sort_unique(char **w, int *n)
{
	qsort(w, (size_t)*n, sizeof(*w), str_cmp);
	int k = 0;
	for (int i = 0; i < *n; i++) {
		if (k && strcmp(w[k - 1], w[i]) == 0) {
			free(w[i]);
			continue;
		}
		w[k++] = w[i];
	}
	*n = k;
}

static void words_free(struct words *w)
{
	for (int i = 0; i < w->n; i++)
		free(w->w[i]);
	free(w->w);
	memset(w, 0, sizeof(*w));
}

/* wonderwords' _get_words_from_text_file: one word a line, trailing whitespace stripped. */
static int words_read(struct gen *g, const char *file, struct words *out)
{
	char path[1024], *text = NULL;
	size_t len;
	char words[1024];
	const char *dir = g->o->words_dir ? g->o->words_dir : kv_find_default(RULER_DEFAULT_WORDS_DIR, words, sizeof(words));
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (kv_read_file(path, &text, &len, NULL, 0))
		return kv_errf(g->err, g->errlen, KV_EIO,
			       "%s: cannot read RULER's word list; run 'make model' (scripts/fetch_wonderwords.sh) or give --words_dir",
			       path);
	size_t cap = 0;
	out->w = NULL;
	out->n = 0;
	for (char *p = text; *p;) {
		char *e = strchr(p, '\n');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		size_t k = l;
		while (k && (p[k - 1] == ' ' || p[k - 1] == '\t' || p[k - 1] == '\r' || p[k - 1] == '\f' || p[k - 1] == '\v'))
			k--;
		if (kv_grow((void **)&out->w, &cap, (size_t)out->n + 1, sizeof(*out->w)))
			goto oom;
		if (!(out->w[out->n] = strndup(p, k)))
			goto oom;
		out->n++;
		p += l + (e ? 1 : 0);
	}
	free(text);
	return 0;
oom:
	free(text);
	words_free(out);
	return kv_errf(g->err, g->errlen, KV_ENOMEM, "out of memory reading %s", path);
}

// ----------------------------------------------------------------------------
// niah word list: sorted(set(f"{adj}-{noun}")) without building 6 million strings

static struct gen *pair_gen; /* comparator context (generation is single-threaded) */

static int pair_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	const char *xs[3] = { pair_gen->adjs.w[x >> 16], "-", pair_gen->nouns.w[x & 0xffff] };
	const char *ys[3] = { pair_gen->adjs.w[y >> 16], "-", pair_gen->nouns.w[y & 0xffff] };
	int xi = 0, yi = 0;
	const char *p = xs[0], *q = ys[0];
	for (;;) {
		while (!*p && xi < 2)
			p = xs[++xi];
		while (!*q && yi < 2)
			q = ys[++yi];
		if (!*p || !*q)
			return (*p != 0) - (*q != 0);
		if (*p != *q)
			return (unsigned char)*p - (unsigned char)*q;
		p++;
		q++;
	}
}

static int niah_words_init(struct gen *g)
{
	int rc;
	if ((rc = words_read(g, "nounlist.txt", &g->nouns)) || (rc = words_read(g, "adjectivelist.txt", &g->adjs)))
		return rc;
	/* identical adjectives (or nouns) give identical pairs: set() drops them */
	sort_unique(g->adjs.w, &g->adjs.n);
	sort_unique(g->nouns.w, &g->nouns.n);
	if (g->adjs.n >= 65536 || g->nouns.n >= 65536)
		return kv_errf(g->err, g->errlen, KV_EUNSUP, "word lists too long (%d adjectives, %d nouns)", g->adjs.n, g->nouns.n);
	/* Sorted by "adj-", the pairs of two adjectives interleave only when one key is a
	 * prefix of the other; such runs are sorted as a whole, the rest block by block. */
	int na = g->adjs.n, nn = g->nouns.n;
	char **keys = malloc((size_t)na * sizeof(char *));
	int *order = malloc((size_t)na * sizeof(int));
	g->pairs = malloc((size_t)na * (size_t)nn * sizeof(uint32_t));
	if (!keys || !order || !g->pairs) {
		free(keys);
		free(order);
		return kv_errf(g->err, g->errlen, KV_ENOMEM, "out of memory building the niah word list");
	}
	for (int i = 0; i < na; i++) {
		size_t l = strlen(g->adjs.w[i]);
		keys[i] = malloc(l + 2);
		if (keys[i]) {
			memcpy(keys[i], g->adjs.w[i], l);
			keys[i][l] = '-';
			keys[i][l + 1] = 0;
		}
	}
	for (int i = 0; i < na; i++)
		order[i] = i;
	/* adjs are sorted; sort their "adj-" keys (insertion sort on the nearly sorted order) */
	for (int i = 1; i < na; i++) {
		int v = order[i], j = i;
		while (j > 0 && strcmp(keys[order[j - 1]], keys[v]) > 0) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = v;
	}
	size_t n = 0;
	pair_gen = g;
	for (int i = 0; i < na;) {
		int j = i + 1;
		size_t kl = strlen(keys[order[i]]);
		while (j < na && strncmp(keys[order[j]], keys[order[i]], kl) == 0)
			j++;
		size_t start = n;
		for (int a = i; a < j; a++)
			for (int b = 0; b < nn; b++)
				g->pairs[n++] = (uint32_t)order[a] << 16 | (uint32_t)b;
		if (j - i > 1)
			qsort(g->pairs + start, n - start, sizeof(uint32_t), pair_cmp);
		i = j;
	}
	/* drop equal strings ("a-b"+"c" == "a"+"b-c") */
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!(k && pair_cmp(&g->pairs[k - 1], &g->pairs[i]) == 0))
			g->pairs[k++] = g->pairs[i];
	g->n_pairs = k;
	for (int i = 0; i < na; i++)
		free(keys[i]);
	free(keys);
	free(order);
	return 0;
}

// ----------------------------------------------------------------------------
// essay haystack

static size_t utf8_next(const char *s, size_t i, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s + i;
	if (u[0] < 0x80) {
		*cp = u[0];
		return 1;
	}
	if ((u[0] & 0xe0) == 0xc0 && u[1]) {
		*cp = (uint32_t)(u[0] & 0x1f) << 6 | (u[1] & 0x3f);
		return 2;
	}
	if ((u[0] & 0xf0) == 0xe0 && u[1] && u[2]) {
		*cp = (uint32_t)(u[0] & 0x0f) << 12 | (uint32_t)(u[1] & 0x3f) << 6 | (u[2] & 0x3f);
		return 3;
	}
	if ((u[0] & 0xf8) == 0xf0 && u[1] && u[2] && u[3]) {
		*cp = (uint32_t)(u[0] & 0x07) << 18 | (uint32_t)(u[1] & 0x3f) << 12 | (uint32_t)(u[2] & 0x3f) << 6 | (u[3] & 0x3f);
		return 4;
	}
	*cp = u[0];
	return 1;
}

static int essay_init(struct gen *g)
{
	size_t len;
	int n_files, rc;
	char *text = NULL;
	char hay[1024], tab[1024];
	const char *dir = g->o->haystack_dir ? g->o->haystack_dir : kv_find_default(RULER_DEFAULT_HAYSTACK, hay, sizeof(hay));
	if ((rc = punkt_load(kv_find_default(PUNKT_DEFAULT_TAB, tab, sizeof(tab)), &g->punkt, g->err, g->errlen)))
		return rc;
	if ((rc = haystack_read_dir(dir, &text, &len, &n_files, g->err, g->errlen)))
		return rc;
	/* re.sub(r'\s+', ' ', text).split(' '): collapse in place, then cut at the spaces */
	size_t o = 0;
	bool in_ws = false;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t k = utf8_next(text, i, &cp);
		if (ruler_py_isspace(cp)) {
			if (!in_ws)
				text[o++] = ' ';
			in_ws = true;
		} else {
			memmove(text + o, text + i, k);
			o += k;
			in_ws = false;
		}
		i += k;
	}
	text[o] = 0;
	int n = 1;
	for (size_t i = 0; i < o; i++)
		n += text[i] == ' ';
	g->ew = malloc((size_t)n * sizeof(char *));
	if (!g->ew) {
		free(text);
		return kv_errf(g->err, g->errlen, KV_ENOMEM, "out of memory splitting the essays");
	}
	g->essay = text;
	g->n_ew = 0;
	g->ew[g->n_ew++] = text;
	for (size_t i = 0; i < o; i++)
		if (text[i] == ' ') {
			text[i] = 0;
			g->ew[g->n_ew++] = text + i + 1;
		}
	return 0;
}

// ----------------------------------------------------------------------------
// niah

#define NIAH_MAX_KEYS 16
#define NIAH_MAX_VALS 16
#define NIAH_STR 160

static int niah_draw(struct gen *g, const char *type, char out[NIAH_STR])
{
	if (strcmp(type, "numbers") == 0) {
		snprintf(out, NIAH_STR, "%lld", (long long)pyrand_randint(&g->G, 1000000, 9999999));
	} else if (strcmp(type, "uuids") == 0) {
		pyrand_uuid4(&g->G, out);
	} else {
		uint32_t p = g->pairs[pyrand_randbelow(&g->G, g->n_pairs)];
		snprintf(out, NIAH_STR, "%s-%s", g->adjs.w[p >> 16], g->nouns.w[p & 0xffff]);
	}
	return 0;
}

struct sample_out {
	struct sb input;
	char **ans;      /* owned strings */
	int n_ans;
};

static void sample_out_clear(struct sample_out *s)
{
	for (int i = 0; i < s->n_ans; i++)
		free(s->ans[i]);
	free(s->ans);
	s->ans = NULL;
	s->n_ans = 0;
	sb_clear(&s->input);
}

static int set_answers(struct sample_out *s, const char *const *a, int n)
{
	if (!(s->ans = calloc((size_t)(n ? n : 1), sizeof(char *))))
		return KV_ENOMEM;
	for (int i = 0; i < n; i++) {
		if (!(s->ans[i] = strdup(a[i])))
			return KV_ENOMEM;
		s->n_ans++;
	}
	return 0;
}

static int niah_gen(struct gen *g, int n, struct sample_out *out)
{
	const struct ruler_task_def *d = g->d;
	int K = d->num_k > d->num_q ? d->num_k : d->num_q, V = d->num_v, rc = KV_ENOMEM;
	if (K > NIAH_MAX_KEYS || V > NIAH_MAX_VALS || K * V > NIAH_MAX_KEYS)
		return kv_errf(g->err, g->errlen, KV_EUNSUP, "niah: too many needles (%d keys x %d values)", K, V);
	char keys[NIAH_MAX_KEYS][NIAH_STR], vals[NIAH_MAX_KEYS][NIAH_MAX_VALS][NIAH_STR];
	char *needles[NIAH_MAX_KEYS];
	int nn = 0;
	struct sb ctx = { 0 }, line = { 0 };
	size_t *pos = NULL, *sent = NULL;
	char **lines = NULL;
	sample_out_clear(out);
	for (int j = 0; j < K; j++) {
		niah_draw(g, d->type_k, keys[j]);
		for (int v = 0; v < V; v++) {
			niah_draw(g, d->type_v, vals[j][v]);
			sb_clear(&line);
			if (sb_addf(&line, "One of the special magic %s for %s is: %s.", d->type_v, keys[j], vals[j][v]))
				goto out;
			if (!(needles[nn] = strdup(line.p)))
				goto out;
			nn++;
		}
	}
	struct pyrand R;
	pyrand_seed(&R, g->o->seed);
	pyrand_shuffle(&R, needles, (size_t)nn, sizeof(char *));
	if (!(pos = malloc(sizeof(size_t) * (size_t)(nn > 40 ? nn : 40))))
		goto out;
	if (strcmp(d->haystack, "essay") == 0) {
		/* text = " ".join(words[:n]).strip(); R2024 stops at the corpus end, HEAD repeats it */
		if (n > g->n_ew && g->o->rev != RULER_REV_HEAD)
			n = g->n_ew;
		struct sb txt = { 0 };
		bool oom_t = false;
		for (int i = 0; i < n && !oom_t; i++)
			oom_t = (i && sb_add(&txt, " ", 1)) || sb_adds(&txt, g->ew[i % g->n_ew]);
		if (oom_t) {
			sb_free(&txt);
			goto out;
		}
		size_t tl = txt.n;
		size_t b = 0, e = tl;
		while (b < e && txt.p[b] == ' ')
			b++;
		while (e > b && txt.p[e - 1] == ' ')
			e--;
		/* document_sents = sent_tokenize(text.strip()) */
		int S = 0;
		if ((rc = punkt_sentences(g->punkt, txt.p + b, e - b, &sent, &S, g->err, g->errlen))) {
			sb_free(&txt);
			goto out;
		}
		if ((rc = pyrand_sample(&g->G, 40, (size_t)nn, pos))) {
			sb_free(&txt);
			goto out;
		}
		int cut[NIAH_MAX_KEYS + 2];
		cut[0] = 0;
		for (int i = 0; i < nn; i++)
			cut[i + 1] = (int)(S * (DEPTHS[pos[i]] / 100.0));
		for (int i = 1; i <= nn; i++) /* sort the cut positions */
			for (int j = i; j > 1 && cut[j - 1] > cut[j]; j--) {
				int tmp = cut[j];
				cut[j] = cut[j - 1];
				cut[j - 1] = tmp;
			}
		cut[nn + 1] = S;
		const char *base = txt.p + b;
		bool oom = false;
		for (int i = 1; i <= nn + 1 && !oom; i++) {
			int a = cut[i - 1], z = cut[i];
			if (i > 1)
				oom |= sb_add(&ctx, " ", 1) != 0;
			for (int k = a; k < z; k++) { /* " ".join(document_sents[a:z]) */
				size_t s0 = sent[2 * k], s1 = sent[2 * k + 1];
				oom |= (k > a && sb_add(&ctx, " ", 1)) || (s1 > s0 && sb_add(&ctx, base + s0, s1 - s0));
			}
			if (i - 1 < nn)
				oom |= sb_add(&ctx, " ", 1) || sb_adds(&ctx, needles[i - 1]);
		}
		sb_free(&txt);
		rc = KV_ENOMEM;
		if (oom)
			goto out;
	} else {
		bool noise = strcmp(d->haystack, "noise") == 0 || strcmp(d->haystack, "repeat") == 0;
		if (!(lines = calloc((size_t)(n ? n : 1), sizeof(char *))))
			goto out;
		if (!noise) {
			for (int i = 0; i < n; i++) {
				char k[NIAH_STR], v[NIAH_STR];
				niah_draw(g, d->type_k, k);
				niah_draw(g, d->type_v, v);
				sb_clear(&line);
				if (sb_addf(&line, "One of the special magic %s for %s is: %s.", d->type_v, k, v) ||
				    !(lines[i] = strdup(line.p)))
					goto out;
			}
		}
		if (nn > n) {
			rc = kv_errf(g->err, g->errlen, KV_EINVAL, "niah: %d needles but only %d haystack lines", nn, n);
			goto out;
		}
		if ((rc = pyrand_sample(&g->G, (size_t)n, (size_t)nn, pos)))
			goto out;
		rc = KV_ENOMEM;
		/* sorted descending; needle i goes before original line pos_sorted[i] */
		for (int i = 1; i < nn; i++)
			for (int j = i; j > 0 && pos[j - 1] < pos[j]; j--) {
				size_t tmp = pos[j];
				pos[j] = pos[j - 1];
				pos[j - 1] = tmp;
			}
		bool first = true;
		for (int i = 0; i < n; i++) {
			for (int k = 0; k < nn; k++)
				if (pos[k] == (size_t)i) {
					if ((!first && sb_add(&ctx, "\n", 1)) || sb_adds(&ctx, needles[k]))
						goto out;
					first = false;
				}
			if ((!first && sb_add(&ctx, "\n", 1)) || sb_adds(&ctx, noise ? NOISE_LINE : lines[i]))
				goto out;
			first = false;
		}
	}
	/* query and answers */
	size_t qi[NIAH_MAX_KEYS];
	if ((rc = pyrand_sample(&g->G, (size_t)K, (size_t)d->num_q, qi)))
		goto out;
	rc = KV_ENOMEM;
	const char *ans[NIAH_MAX_KEYS * NIAH_MAX_VALS];
	int na = 0;
	struct sb query = { 0 };
	for (int i = 0; i < d->num_q; i++) {
		for (int v = 0; v < V; v++)
			ans[na++] = vals[qi[i]][v];
		if (i > 0 && sb_adds(&query, i == d->num_q - 1 ? ", and " : ", "))
			goto out_q;
		if (sb_adds(&query, keys[qi[i]]))
			goto out_q;
	}
	char tv[32];
	snprintf(tv, sizeof(tv), "%s", d->type_v);
	if (d->num_q * d->num_v == 1)
		tv[strlen(tv) - 1] = 0;
	const char *names[] = { "type_needle_v", "context", "query" };
	const char *vs[] = { tv, ctx.p ? ctx.p : "", query.p ? query.p : "" };
	if ((rc = fill(&out->input, g->tmpl, names, vs, 3)) || (rc = set_answers(out, ans, na)))
		goto out_q;
	rc = 0;
out_q:
	sb_free(&query);
out:
	for (int i = 0; i < nn; i++)
		free(needles[i]);
	if (lines)
		for (int i = 0; i < n; i++)
			free(lines[i]);
	free(lines);
	free(pos);
	free(sent);
	sb_free(&ctx);
	sb_free(&line);
	return rc;
}

// ----------------------------------------------------------------------------
// variable tracking

static const char NOISE_LINE_NL[] = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.\n";

/* Python repr() of a list of plain strings: "['A', 'B']" (names and answers here hold no
 * quotes that need the other quote style, except QA answers, handled by py_repr_str). */
static int py_repr_str(struct sb *b, const char *s)
{
	bool sq = strchr(s, '\'') != NULL, dq = strchr(s, '"') != NULL;
	char q = sq && !dq ? '"' : '\'';
	if (sb_add(b, &q, 1))
		return KV_ENOMEM;
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		char esc[8];
		if (c == '\\' || c == (unsigned char)q)
			snprintf(esc, sizeof(esc), "\\%c", c);
		else if (c == '\n')
			snprintf(esc, sizeof(esc), "\\n");
		else if (c == '\r')
			snprintf(esc, sizeof(esc), "\\r");
		else if (c == '\t')
			snprintf(esc, sizeof(esc), "\\t");
		else if (c < 0x20 || c == 0x7f)
			snprintf(esc, sizeof(esc), "\\x%02x", c);
		else {
			esc[0] = (char)c;
			esc[1] = 0;
		}
		if (sb_adds(b, esc))
			return KV_ENOMEM;
	}
	return sb_add(b, &q, 1);
}

static int py_repr_list(struct sb *b, char *const *a, int n)
{
	if (sb_add(b, "[", 1))
		return KV_ENOMEM;
	for (int i = 0; i < n; i++)
		if ((i && sb_add(b, ", ", 2)) || py_repr_str(b, a[i]))
			return KV_ENOMEM;
	return sb_add(b, "]", 1);
}

static void choices_upper(struct pyrand *r, int k, char *out)
{
	for (int i = 0; i < k; i++)
		out[i] = (char)('A' + pyrand_choices_index(r, 26));
	out[k] = 0;
}

/* One GEN call of variable_tracking.py (one chain set); is_icl: 3-letter names and the
 * example's template. */
static int vt_gen(struct gen *g, int n_noise, bool is_icl, struct sample_out *out)
{
	const int hops = 4, chains = 1, need = (hops + 1) * chains;
	bool head = g->o->rev == RULER_REV_HEAD;
	int k = is_icl ? 3 : 5, n_names = need, rc = KV_ENOMEM;
	char names[64][8];
	sample_out_clear(out);
	for (int i = 0; i < need; i++)
		choices_upper(&g->G, k, names[i]);
	for (;;) { /* while len(set(names)) < need: append another */
		int distinct = 0;
		for (int i = 0; i < n_names; i++) {
			bool dup = false;
			for (int j = 0; j < i && !dup; j++)
				dup = strcmp(names[i], names[j]) == 0;
			distinct += !dup;
		}
		if (distinct >= need)
			break;
		if (n_names == 64)
			return kv_errf(g->err, g->errlen, KV_EINTERNAL, "vt: cannot draw distinct names");
		choices_upper(&g->G, k, names[n_names++]);
	}
	char stmts[8][40], value[16];
	if (head && is_icl)
		snprintf(value, sizeof(value), "12345");
	else
		snprintf(value, sizeof(value), "%lld", (long long)pyrand_numpy_randint(&g->NP, 10000, 99999));
	snprintf(stmts[0], sizeof(stmts[0]), "VAR %.7s = %s", names[0], value);
	for (int j = 0; j < hops; j++)
		snprintf(stmts[j + 1], sizeof(stmts[j + 1]), "VAR %.7s = VAR %.7s ", names[j + 1], names[j]);
	int n_st = hops + 1;
	/* the pieces: noise lines (or single sentences when too few), statements inserted */
	const char *noise = head ? NOISE_LINE : NOISE_LINE_NL;
	int n_piece = n_noise;
	bool split = !head && n_noise <= n_st;
	if (split)
		n_piece = n_noise * 6;
	const char **piece = malloc((size_t)(n_piece + n_st + 1) * sizeof(char *));
	size_t *pos = malloc((size_t)(n_st + 1) * sizeof(size_t));
	struct sb ctx = { 0 };
	if (!piece || !pos)
		goto out;
	static const char *const sents[6] = { "The grass is green.", " The sky is blue.", " The sun is yellow.", " Here we go.",
					      " There and back again.", "\n" };
	for (int i = 0; i < n_piece; i++)
		piece[i] = split ? sents[i % 6] : noise;
	if (n_piece <= n_st) {
		rc = kv_errf(g->err, g->errlen, KV_EUNSUP, "vt: %d noise pieces are too few for a chain of %d", n_piece, n_st);
		goto out;
	}
	if ((rc = pyrand_sample(&g->G, (size_t)n_piece, (size_t)n_st, pos)))
		goto out;
	rc = KV_ENOMEM;
	for (int i = 1; i < n_st; i++)
		for (int j = i; j > 0 && pos[j - 1] > pos[j]; j--) {
			size_t t = pos[j];
			pos[j] = pos[j - 1];
			pos[j - 1] = t;
		}
	for (int j = 0; j < n_st; j++) { /* sentences.insert(pos[j] + j, stmt[j]) */
		size_t at = pos[j] + (size_t)j;
		memmove(piece + at + 1, piece + at, (size_t)(n_piece + j - (int)at) * sizeof(char *));
		piece[at] = stmts[j];
	}
	int total = n_piece + n_st;
	for (int i = 0; i < total; i++)
		if ((i && sb_adds(&ctx, head ? "\n" : " ")) || sb_adds(&ctx, piece[i]))
			goto out;
	if (!head) { /* context.replace(". \n", ".\n") */
		char *c = replace_all(ctx.p, ". \n", ".\n");
		ctx.p = NULL;
		sb_free(&ctx);
		if (!c || sb_adds(&ctx, c)) {
			free(c);
			goto out;
		}
		free(c);
	}
	/* the example's template (2024 rev only: the official code strips a model wrapper and
	 * the last word before the answer prefix, which with 'base' collapses the template's
	 * whitespace and drops "above.") */
	char *tmpl = strdup(g->tmpl);
	if (!tmpl)
		goto out;
	if (is_icl && g->o->rev == RULER_REV_2024) {
		char *cut_ans = strstr(tmpl, " Answer: A"); /* answer_prefix[:10] */
		char *cut = strstr(tmpl, "Memorize and track t"); /* template[:20] */
		if (!cut || !cut_ans || cut > cut_ans) {
			free(tmpl);
			rc = kv_errf(g->err, g->errlen, KV_EINTERNAL, "vt: template has no task text");
			goto out;
		}
		struct sb t = { 0 };
		/* ' '.join(template[cut:cut_ans].split()[:-1]) + template[cut_ans:] */
		char *seg = strndup(cut, (size_t)(cut_ans - cut));
		int nw = 0;
		char *words[256], *save = NULL;
		for (char *w = seg ? strtok_r(seg, " \t\n\r\f\v", &save) : NULL; w && nw < 256; w = strtok_r(NULL, " \t\n\r\f\v", &save))
			words[nw++] = w;
		for (int i = 0; i < nw - 1; i++)
			if ((i && sb_add(&t, " ", 1)) || sb_adds(&t, words[i]))
				rc = KV_ENOMEM;
		if (!seg || sb_adds(&t, cut_ans))
			rc = KV_ENOMEM;
		free(seg);
		free(tmpl);
		tmpl = t.p;
		if (!tmpl)
			goto out;
	}
	char numv[8];
	snprintf(numv, sizeof(numv), "%d", hops + 1);
	const char *fn[] = { "context", "query", "num_v" };
	const char *fv[] = { ctx.p, value, numv };
	rc = fill(&out->input, tmpl, fn, fv, 3);
	free(tmpl);
	if (rc)
		goto out;
	const char *ans[8];
	for (int i = 0; i < n_st; i++)
		ans[i] = names[i];
	rc = set_answers(out, ans, n_st);
out:
	free(piece);
	free(pos);
	sb_free(&ctx);
	return rc;
}

/* randomize_icl (2024-12 and head): rename the example's answer names everywhere. */
static char *vt_randomize(struct gen *g, const char *ex)
{
	char *s = strdup(ex);
	if (!s)
		return NULL;
	char items[16][16];
	int ni = 0;
	if (g->o->rev == RULER_REV_2024_12) {
		const char *c = strstr(s, "they are: ");
		if (!c)
			return s;
		char *tail = strdup(c + 10), *save = NULL;
		if (!tail) {
			free(s);
			return NULL;
		}
		for (char *w = strtok_r(tail, " \t\n\r\f\v", &save); w && ni < 16; w = strtok_r(NULL, " \t\n\r\f\v", &save))
			snprintf(items[ni++], sizeof(items[0]), "%s", w);
		free(tail);
	} else { /* head: the last num_hops+1 whitespace tokens */
		char *tmp = strdup(s), *save = NULL, *all[4096];
		int nw = 0;
		if (!tmp) {
			free(s);
			return NULL;
		}
		for (char *w = strtok_r(tmp, " \t\n\r\f\v", &save); w; w = strtok_r(NULL, " \t\n\r\f\v", &save)) {
			if (nw == 4096) {
				memmove(all, all + 1, sizeof(char *) * 4095);
				nw--;
			}
			all[nw++] = w;
		}
		for (int i = nw >= 5 ? nw - 5 : 0; i < nw; i++)
			snprintf(items[ni++], sizeof(items[0]), "%s", all[i]);
		free(tmp);
	}
	for (int i = 0; i < ni && s; i++) {
		char nw[16];
		choices_upper(&g->G, (int)strlen(items[i]), nw);
		s = replace_all(s, items[i], nw);
	}
	if (s && g->o->rev == RULER_REV_HEAD) {
		char v[16];
		snprintf(v, sizeof(v), "%lld", (long long)pyrand_numpy_randint(&g->NP, 10000, 99999));
		s = replace_all(s, "12345", v);
	}
	return s;
}

// ----------------------------------------------------------------------------
// common words extraction

static int cwe_init(struct gen *g)
{
	int rc;
	if ((rc = words_read(g, "nounlist.txt", &g->nouns)) || (rc = words_read(g, "adjectivelist.txt", &g->adjs)) ||
	    (rc = words_read(g, "verblist.txt", &g->verbs)))
		return rc;
	int n = g->nouns.n + g->adjs.n + g->verbs.n;
	if (!(g->cw = malloc((size_t)n * sizeof(char *))))
		return kv_errf(g->err, g->errlen, KV_ENOMEM, "out of memory");
	struct words *l[3] = { &g->nouns, &g->adjs, &g->verbs };
	g->n_cw = 0;
	for (int i = 0; i < 3; i++) {
		memcpy(g->cw + g->n_cw, l[i]->w, (size_t)l[i]->n * sizeof(char *));
		g->n_cw += l[i]->n;
		l[i]->n = 0; /* ownership moved to cw */
	}
	sort_unique(g->cw, &g->n_cw);
	struct pyrand R;
	pyrand_seed(&R, g->o->seed);
	pyrand_shuffle(&R, g->cw, (size_t)g->n_cw, sizeof(char *));
	return 0;
}

/* get_example: the numbered list and its common words (answers). */
static int cwe_list(struct gen *g, int n, int rc_, int ru, struct sb *ctx, const char **common)
{
	size_t *idx = malloc((size_t)n * sizeof(size_t));
	const char **list = NULL;
	int rc = KV_ENOMEM;
	if (!idx)
		return rc;
	if (n > g->n_cw) {
		free(idx);
		return kv_errf(g->err, g->errlen, KV_EINVAL, "cwe: %d words asked, the word list has %d", n, g->n_cw);
	}
	if ((rc = pyrand_sample(&g->G, (size_t)g->n_cw, (size_t)n, idx)))
		goto out;
	rc = KV_ENOMEM;
	int nc = n < 10 ? n : 10, total = nc * rc_ + (n - nc) * ru;
	if (!(list = malloc((size_t)(total ? total : 1) * sizeof(char *))))
		goto out;
	int k = 0;
	for (int r = 0; r < rc_; r++)
		for (int i = 0; i < nc; i++)
			list[k++] = g->cw[idx[i]];
	for (int r = 0; r < ru; r++)
		for (int i = nc; i < n; i++)
			list[k++] = g->cw[idx[i]];
	for (int i = 0; i < nc; i++)
		common[i] = g->cw[idx[i]];
	struct pyrand R;
	pyrand_seed(&R, g->o->seed);
	pyrand_shuffle(&R, list, (size_t)total, sizeof(char *));
	sb_clear(ctx);
	for (int i = 0; i < total; i++)
		if ((i && sb_add(ctx, " ", 1)) || sb_addf(ctx, "%d. ", i + 1) || sb_adds(ctx, list[i]))
			goto out;
	rc = 0;
out:
	free(idx);
	free(list);
	return rc;
}

static int numbered(struct sb *b, const char *const *w, int n)
{
	for (int i = 0; i < n; i++)
		if ((i && sb_add(b, " ", 1)) || sb_addf(b, "%d. ", i + 1) || sb_adds(b, w[i]))
			return KV_ENOMEM;
	return 0;
}

static int cwe_gen(struct gen *g, int n, struct sample_out *out)
{
	struct sb cex = { 0 }, cmain = { 0 }, t = { 0 };
	const char *aex[10], *amain[10];
	int rc;
	bool small = g->o->length < 4096;
	sample_out_clear(out);
	if ((rc = cwe_list(g, small ? 20 : 40, small ? 3 : 10, small ? 1 : 3, &cex, aex)))
		goto out;
	if ((rc = cwe_list(g, n, small ? 6 : 30, small ? 1 : 3, &cmain, amain)))
		goto out;
	const char *fn[] = { "context", "query" };
	const char *fv1[] = { cex.p, "" };
	if ((rc = fill(&t, g->tmpl, fn, fv1, 2)) || (rc = sb_adds(&out->input, t.p)))
		goto out;
	if (g->o->rev == RULER_REV_HEAD && (rc = sb_add(&out->input, " ", 1)))
		goto out;
	int nc = n < 10 ? n : 10;
	if ((rc = numbered(&out->input, aex, 10)) || (rc = sb_add(&out->input, "\n", 1)))
		goto out;
	const char *fv2[] = { cmain.p, "" };
	if ((rc = fill(&t, g->tmpl, fn, fv2, 2)) || (rc = sb_adds(&out->input, t.p)))
		goto out;
	rc = set_answers(out, amain, nc);
out:
	sb_free(&cex);
	sb_free(&cmain);
	sb_free(&t);
	return rc;
}

// ----------------------------------------------------------------------------
// frequent words extraction

struct fwe_vocab {
	char (*w)[8]; /* (V,) 6-letter words; w[0] = "..." */
	int V;
};

static int fwe_vocab_draw(struct gen *g, int V, struct fwe_vocab *v)
{
	int n = 0;
	size_t cap = 0;
	char(*w)[8] = NULL;
	if (kv_grow((void **)&w, &cap, (size_t)V + 16, sizeof(*w)))
		return KV_ENOMEM;
	for (; n < V; n++) {
		for (int k = 0; k < 6; k++)
			w[n][k] = (char)('a' + pyrand_choices_index(&g->G, 26));
		w[n][6] = 0;
	}
	for (;;) { /* while len(set(vocab)) < V: append one more */
		char(*tmp)[8] = malloc((size_t)n * sizeof(*tmp));
		if (!tmp) {
			free(w);
			return KV_ENOMEM;
		}
		memcpy(tmp, w, (size_t)n * sizeof(*tmp));
		qsort(tmp, (size_t)n, sizeof(*tmp), (int (*)(const void *, const void *))strcmp);
		int d = 0;
		for (int i = 0; i < n; i++)
			if (!d || strcmp(tmp[d - 1], tmp[i]))
				memcpy(tmp[d++], tmp[i], 8);
		if (d >= V) {
			free(w);
			w = tmp;
			n = d;
			break;
		}
		free(tmp);
		if (kv_grow((void **)&w, &cap, (size_t)n + 1, sizeof(*w))) {
			free(w);
			return KV_ENOMEM;
		}
		for (int k = 0; k < 6; k++)
			w[n][k] = (char)('a' + pyrand_choices_index(&g->G, 26));
		w[n++][6] = 0;
	}
	struct pyrand R;
	pyrand_seed(&R, g->o->seed);
	pyrand_shuffle(&R, w, (size_t)n, sizeof(*w));
	snprintf(w[0], 8, "...");
	free(v->w);
	v->w = w;
	v->V = n;
	return 0;
}

static int fwe_text(struct gen *g, const struct fwe_vocab *v, int N, struct sample_out *out)
{
	size_t total = 0;
	int *cnt = malloc((size_t)v->V * sizeof(int));
	if (!cnt)
		return KV_ENOMEM;
	for (int k = 1; k <= v->V; k++) {
		cnt[k - 1] = (int)((double)N * pow((double)k, -2.0) / ZETA2);
		if (cnt[k - 1] < 0)
			cnt[k - 1] = 0;
		total += (size_t)cnt[k - 1];
	}
	const char **list = malloc((total ? total : 1) * sizeof(char *));
	struct sb ctx = { 0 };
	int rc = KV_ENOMEM;
	if (!list)
		goto out;
	size_t n = 0;
	for (int k = 0; k < v->V; k++)
		for (int c = 0; c < cnt[k]; c++)
			list[n++] = v->w[k];
	struct pyrand R;
	pyrand_seed(&R, g->o->seed);
	pyrand_shuffle(&R, list, n, sizeof(char *));
	if (sb_add(&ctx, "", 0))
		goto out;
	for (size_t i = 0; i < n; i++)
		if ((i && sb_add(&ctx, " ", 1)) || sb_adds(&ctx, list[i]))
			goto out;
	sample_out_clear(out);
	const char *fn[] = { "context", "query" };
	const char *fv[] = { ctx.p, "" };
	if ((rc = fill(&out->input, g->tmpl, fn, fv, 2)))
		goto out;
	const char *ans[3] = { v->w[1], v->w[2], v->w[3] };
	rc = set_answers(out, ans, v->V >= 4 ? 3 : 0);
out:
	free(cnt);
	free(list);
	sb_free(&ctx);
	return rc;
}

// ----------------------------------------------------------------------------
// qa

static int docs_find(struct gen *g, const char *doc)
{
	int lo = 0, hi = g->n_docs - 1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2, c = strcmp(g->docs[mid], doc);
		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

static int docs_add(struct gen *g, size_t *cap, const char *doc)
{
	if (kv_grow((void **)&g->docs, cap, (size_t)g->n_docs + 1, sizeof(*g->docs)))
		return KV_ENOMEM;
	if (!(g->docs[g->n_docs] = strdup(doc)))
		return KV_ENOMEM;
	g->n_docs++;
	return 0;
}

/* malloc'd f"{title}\n{''.join(sentences)}" of one HotpotQA context entry, or NULL. */
static char *hotpot_doc(const cJSON *entry)
{
	const cJSON *t = cJSON_GetArrayItem(entry, 0), *ss = cJSON_GetArrayItem(entry, 1), *s;
	if (!cJSON_IsString(t) || !cJSON_IsArray(ss))
		return NULL;
	struct sb b = { 0 };
	if (sb_adds(&b, t->valuestring) || sb_add(&b, "\n", 1))
		goto fail;
	cJSON_ArrayForEach(s, ss) if (cJSON_IsString(s) && sb_adds(&b, s->valuestring)) goto fail;
	return b.p;
fail:
	sb_free(&b);
	return NULL;
}

static int qa_init(struct gen *g)
{
	const char *path = g->o->qa_data;
	bool squad = strcmp(g->d->dataset, "squad") == 0;
	if (!path)
		return kv_errf(g->err, g->errlen, KV_EINVAL,
			       "%s needs %s: give --qa_data PATH (%s; RULER's download_qa_dataset.sh fetches it; "
			       "it is not shipped with kvlab)",
			       g->d->name, squad ? "SQuAD v2.0 dev (dev-v2.0.json)" : "HotpotQA dev distractor (hotpot_dev_distractor_v1.json)",
			       squad ? "qa_1 = SQuAD" : "qa_2 = HotpotQA");
	char *text = NULL;
	size_t len;
	int rc;
	size_t cap = 0;
	if ((rc = kv_read_file(path, &text, &len, g->err, g->errlen)))
		return rc;
	const char *end = NULL;
	g->qa_json = cJSON_ParseWithOpts(text, &end, false);
	free(text);
	if (!g->qa_json)
		return kv_errf(g->err, g->errlen, KV_EFORMAT, "--qa_data %s: not valid JSON", path);
	const cJSON *root = g->qa_json, *art, *par, *q, *a, *ent;
	const cJSON *data = squad ? cJSON_GetObjectItemCaseSensitive(root, "data") : root;
	if (!cJSON_IsArray(data))
		return kv_errf(g->err, g->errlen, KV_EFORMAT, "--qa_data %s: expected %s", path,
			       squad ? "SQuAD's {\"data\": [...]} (dev-v2.0.json)" : "HotpotQA's top-level list");
	/* documents: sorted(set(...)) */
	cJSON_ArrayForEach(art, data)
	{
		if (squad) {
			cJSON_ArrayForEach(par, cJSON_GetObjectItemCaseSensitive(art, "paragraphs"))
			{
				const cJSON *c = cJSON_GetObjectItemCaseSensitive(par, "context");
				if (cJSON_IsString(c) && docs_add(g, &cap, c->valuestring))
					return kv_errf(g->err, g->errlen, KV_ENOMEM, "out of memory");
			}
		} else {
			cJSON_ArrayForEach(ent, cJSON_GetObjectItemCaseSensitive(art, "context"))
			{
				char *d = hotpot_doc(ent);
				int r2 = d ? docs_add(g, &cap, d) : KV_EFORMAT;
				free(d);
				if (r2)
					return kv_errf(g->err, g->errlen, r2, "--qa_data %s: bad context entry", path);
			}
		}
	}
	sort_unique(g->docs, &g->n_docs);
	/* questions, in file order */
	size_t qcap = 0;
	cJSON_ArrayForEach(art, data)
	{
		int *more = NULL, n_more = 0;
		if (squad) {
			const cJSON *pars = cJSON_GetObjectItemCaseSensitive(art, "paragraphs");
			more = malloc((size_t)(cJSON_GetArraySize(pars) + 1) * sizeof(int));
			if (!more)
				return kv_errf(g->err, g->errlen, KV_ENOMEM, "out of memory");
			cJSON_ArrayForEach(par, pars) more[n_more++] = docs_find(g, cJSON_GetObjectItemCaseSensitive(par, "context")->valuestring);
		}
		const cJSON *items = squad ? cJSON_GetObjectItemCaseSensitive(art, "paragraphs") : NULL;
		const cJSON *one = squad ? (items ? items->child : NULL) : art;
		for (; one; one = squad ? one->next : NULL) {
			const cJSON *qs = squad ? cJSON_GetObjectItemCaseSensitive(one, "qas") : NULL;
			const cJSON *qq = squad ? (qs ? qs->child : NULL) : one;
			int own = squad ? docs_find(g, cJSON_GetObjectItemCaseSensitive(one, "context")->valuestring) : -1;
			for (; qq; qq = squad ? qq->next : NULL) {
				if (squad && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(qq, "is_impossible")))
					continue;
				if (kv_grow((void **)&g->qas, &qcap, (size_t)g->n_qas + 1, sizeof(*g->qas))) {
					free(more);
					return kv_errf(g->err, g->errlen, KV_ENOMEM, "out of memory");
				}
				struct qa_item *it = &g->qas[g->n_qas];
				memset(it, 0, sizeof(*it));
				g->n_qas++;
				q = cJSON_GetObjectItemCaseSensitive(qq, "question");
				it->query = strdup(cJSON_IsString(q) ? q->valuestring : "");
				if (squad) {
					const cJSON *as = cJSON_GetObjectItemCaseSensitive(qq, "answers");
					it->outputs = calloc((size_t)cJSON_GetArraySize(as) + 1, sizeof(char *));
					cJSON_ArrayForEach(a, as) if (it->outputs) it->outputs[it->n_out++] = strdup(cJSON_GetObjectItemCaseSensitive(a, "text")->valuestring);
					it->gold = malloc(sizeof(int));
					if (it->gold)
						it->gold[it->n_gold++] = own;
					it->more = malloc((size_t)(n_more + 1) * sizeof(int));
					for (int m = 0; m < n_more && it->more; m++)
						if (more[m] != own)
							it->more[it->n_more++] = more[m];
				} else {
					const cJSON *ans = cJSON_GetObjectItemCaseSensitive(qq, "answer");
					it->outputs = calloc(2, sizeof(char *));
					if (it->outputs)
						it->outputs[it->n_out++] = strdup(cJSON_IsString(ans) ? ans->valuestring : "");
					const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(qq, "context");
					it->gold = malloc((size_t)(cJSON_GetArraySize(ctx) + 1) * sizeof(int));
					cJSON_ArrayForEach(ent, ctx)
					{
						char *d = hotpot_doc(ent);
						if (d && it->gold)
							it->gold[it->n_gold++] = docs_find(g, d);
						free(d);
					}
				}
				if (!it->query || !it->outputs || !it->gold || (squad && !it->more)) {
					free(more);
					return kv_errf(g->err, g->errlen, KV_ENOMEM, "out of memory");
				}
			}
		}
		free(more);
	}
	if (g->n_qas == 0)
		return kv_errf(g->err, g->errlen, KV_EFORMAT, "--qa_data %s: no answerable questions", path);
	return 0;
}

static int qa_gen(struct gen *g, int qi, int n, struct sample_out *out)
{
	if (qi >= g->n_qas)
		return kv_errf(g->err, g->errlen, KV_EINVAL, "%s: sample %d asked, the QA file has %d questions", g->d->name, qi, g->n_qas);
	const struct qa_item *it = &g->qas[qi];
	int nd = n < g->n_docs ? n : g->n_docs, rc = KV_ENOMEM, k = 0;
	bool head = g->o->rev == RULER_REV_HEAD;
	if (head && n > g->n_docs)
		nd = n;
	int *all = malloc((size_t)(nd + it->n_gold + it->n_more + 1) * sizeof(int));
	size_t *pick = malloc((size_t)(g->n_docs + 1) * sizeof(size_t));
	int *add = NULL;
	struct sb ctx = { 0 };
	sample_out_clear(out);
	if (!all || !pick)
		goto out;
	if (n < g->n_docs) {
		for (int i = 0; i < it->n_gold; i++)
			all[k++] = it->gold[i];
		if (n - it->n_gold > it->n_more) {
			for (int i = 0; i < it->n_more; i++)
				all[k++] = it->more[i];
			if (!(add = malloc((size_t)g->n_docs * sizeof(int))))
				goto out;
			int na = 0;
			for (int i = 0; i < g->n_docs; i++) {
				bool used = false;
				for (int j = 0; j < k && !used; j++)
					used = all[j] == i;
				if (!used)
					add[na++] = i;
			}
			int want = n - it->n_gold - it->n_more;
			if (want < 0)
				want = 0;
			if (want > na)
				want = na;
			if ((rc = pyrand_sample(&g->G, (size_t)na, (size_t)want, pick)))
				goto out;
			for (int i = 0; i < want; i++)
				all[k++] = add[pick[i]];
		} else {
			int want = n - it->n_gold;
			if (want < 0 || want > it->n_more) {
				rc = kv_errf(g->err, g->errlen, KV_EINVAL, "%s: cannot pick %d distractors from %d", g->d->name, want, it->n_more);
				goto out;
			}
			if ((rc = pyrand_sample(&g->G, (size_t)it->n_more, (size_t)want, pick)))
				goto out;
			for (int i = 0; i < want; i++)
				all[k++] = it->more[pick[i]];
		}
	} else if (head) {
		for (int i = 0; i < n; i++)
			all[k++] = i % g->n_docs;
	} else {
		/* R2024 shuffles the global DOCS list itself (aliasing), which later calls see */
		struct pyrand R;
		pyrand_seed(&R, g->o->seed);
		pyrand_shuffle(&R, g->docs, (size_t)g->n_docs, sizeof(char *));
		for (int i = 0; i < g->n_docs; i++)
			all[k++] = i;
		goto render;
	}
	{
		struct pyrand R;
		pyrand_seed(&R, g->o->seed);
		pyrand_shuffle(&R, all, (size_t)k, sizeof(int));
	}
render:
	rc = KV_ENOMEM;
	for (int i = 0; i < k; i++)
		if ((i && sb_adds(&ctx, "\n\n")) || sb_addf(&ctx, "Document %d:\n", i + 1) || sb_adds(&ctx, g->docs[all[i]]))
			goto out;
	const char *fn[] = { "context", "query" };
	const char *fv[] = { ctx.p ? ctx.p : "", it->query };
	if ((rc = fill(&out->input, g->tmpl, fn, fv, 2)))
		goto out;
	rc = set_answers(out, (const char *const *)it->outputs, it->n_out);
out:
	free(all);
	free(pick);
	free(add);
	sb_free(&ctx);
	return rc;
}

// ----------------------------------------------------------------------------
// sizing, per-sample loop, records

/* One GEN call of the task's family with haystack size n (qa: question qi). */
static int gen_one(struct gen *g, int n, int qi, bool is_icl, struct fwe_vocab *fv, struct sample_out *out)
{
	switch (g->d->family) {
	case RULER_NIAH: return niah_gen(g, n, out);
	case RULER_VT: return vt_gen(g, n, is_icl, out);
	case RULER_CWE: return cwe_gen(g, n, out);
	case RULER_QA: return qa_gen(g, qi, n, out);
	case RULER_FWE: return fwe_text(g, fv, n, out);
	}
	return KV_EINTERNAL;
}

/* The text whose tokens the 2024 linear search counts: a little longer than the input. */
static int probe_text(struct gen *g, const struct sample_out *s, struct sb *b)
{
	sb_clear(b);
	if (sb_add(b, s->input.p, s->input.n))
		return KV_ENOMEM;
	switch (g->d->family) {
	case RULER_NIAH:
		for (int i = 0; i < s->n_ans; i++)
			if ((i && sb_add(b, " ", 1)) || sb_adds(b, s->ans[i]))
				return KV_ENOMEM;
		return 0;
	case RULER_CWE: return sb_add(b, " ", 1) || numbered(b, (const char *const *)s->ans, s->n_ans) ? KV_ENOMEM : 0;
	default: return sb_add(b, " ", 1) || py_repr_list(b, s->ans, s->n_ans) ? KV_ENOMEM : 0;
	}
}

/* The haystack size for budget B: R2024's linear search (step s, one step back on
 * overflow) or HEAD's binary search. T = allowance, E = extra tokens (vt example). */
static int find_size(struct gen *g, int B, int T, int E, int s, bool is_icl, int *n_out)
{
	struct sample_out so = { 0 };
	struct sb pb = { 0 };
	int rc = 0, t = 0, n = s;
	const struct ruler_task_def *d = g->d;
	if (g->o->rev != RULER_REV_HEAD) {
		while (t + T + E < B) {
			if ((rc = gen_one(g, n, 0, is_icl, NULL, &so)) || (rc = probe_text(g, &so, &pb)) || (rc = ntok(g, pb.p, pb.n, &t)))
				goto out;
			if (t + T + E > B) {
				n -= s;
				break;
			}
			if (d->family == RULER_NIAH && strcmp(d->haystack, "essay") == 0 && n > g->n_ew) {
				n = g->n_ew;
				break;
			}
			n += s;
			if (d->family == RULER_CWE && n > g->n_cw) {
				n = g->n_cw;
				break;
			}
			if (d->family == RULER_QA && n > g->n_docs) {
				n = g->n_docs;
				break;
			}
		}
	} else {
		int est = d->family == RULER_CWE ? 4096 : s, u_tok;
		if (d->family == RULER_CWE && est > g->n_cw)
			est = g->n_cw;
		if ((rc = gen_one(g, est, 0, is_icl, NULL, &so)) || (rc = ntok(g, so.input.p, so.input.n, &u_tok)))
			goto out;
		double u = (double)u_tok / est;
		int hi = d->family == RULER_CWE ? (int)floor(B / u) * 2 : (int)(B / u * 3), lo = s, best = -1;
		if (hi < 2 * s)
			hi = 2 * s;
		while (lo <= hi) {
			int mid = (lo + hi) / 2;
			if ((rc = gen_one(g, mid, 0, is_icl, NULL, &so)) || (rc = ntok(g, so.input.p, so.input.n, &t)))
				goto out;
			if (t + T + E <= B) {
				best = mid;
				lo = mid + 1;
			} else {
				hi = mid - 1;
			}
		}
		n = best >= 0 ? best : s;
	}
	if (n < 1)
		n = 1;
out:
	sample_out_clear(&so);
	sb_free(&so.input);
	sb_free(&pb);
	*n_out = n;
	return rc;
}

static int write_record(struct gen *g, FILE *f, int index, const char *input, size_t in_len, struct sample_out *s, int length)
{
	char *b = NULL;
	size_t len = 0, cap = 0;
	int rc = KV_ENOMEM;
	bool head = g->o->rev == RULER_REV_HEAD;
	struct sb h = { 0 };
	size_t cut = in_len;
	if (head) { /* input cut before the last occurrence of answer_prefix[:10] */
		char key[16];
		snprintf(key, sizeof(key), "%.10s", g->prefix);
		for (const char *p = input; (p = strstr(p, key)); p++)
			cut = (size_t)(p - input);
		if (g->d->family == RULER_NIAH && s->n_ans) { /* HEAD's niah 'index' bug: the first answer's offset */
			const char *p = strstr(input, s->ans[0]);
			if (p) {
				size_t bytes = (size_t)(p - input);
				int cps = 0;
				for (size_t i = 0; i < bytes; i++)
					cps += ((unsigned char)input[i] & 0xc0) != 0x80;
				index = cps;
			}
		}
	}
	if (sb_addf(&h, "{\"index\": %d, \"input\": ", index))
		goto out;
	b = h.p;
	len = h.n;
	cap = h.cap;
	h.p = NULL;
	if (py_json_str(&b, &len, &cap, input, cut))
		goto out;
	struct sb t = { .p = b, .n = len, .cap = cap };
	b = NULL;
	if (sb_adds(&t, ", \"outputs\": ["))
		goto out_t;
	for (int i = 0; i < s->n_ans; i++) {
		if (i && sb_adds(&t, ", "))
			goto out_t;
		if (py_json_str(&t.p, &t.n, &t.cap, s->ans[i], strlen(s->ans[i])))
			goto out_t;
	}
	if (sb_addf(&t, "], \"length\": %d", length))
		goto out_t;
	if (head) {
		if (sb_addf(&t, ", \"length_w_model_temp\": %d, \"answer_prefix\": ", length) ||
		    py_json_str(&t.p, &t.n, &t.cap, input + cut, in_len - cut))
			goto out_t;
		if (g->d->family == RULER_NIAH && s->n_ans) {
			const char *p = strstr(input, s->ans[0]);
			int tp = 0;
			if (p && (rc = ntok(g, input, (size_t)(p - input), &tp)))
				goto out_t;
			if (sb_addf(&t, ", \"token_position_answer\": %d", tp)) {
				rc = KV_ENOMEM;
				goto out_t;
			}
		}
	}
	if (sb_adds(&t, "}\n"))
		goto out_t;
	rc = fwrite(t.p, 1, t.n, f) == t.n ? 0 : kv_errf(g->err, g->errlen, KV_EIO, "writing the JSONL output failed");
out_t:
	sb_free(&t);
out:
	free(b);
	sb_free(&h);
	return rc == KV_ENOMEM && !g->err[0] ? kv_errf(g->err, g->errlen, KV_ENOMEM, "out of memory") : rc;
}

static void gen_free(struct gen *g)
{
	free(g->tmpl);
	words_free(&g->adjs);
	words_free(&g->nouns);
	words_free(&g->verbs);
	free(g->pairs);
	free(g->essay);
	free(g->ew);
	punkt_free(g->punkt);
	for (int i = 0; i < g->n_cw; i++)
		free(g->cw[i]);
	free(g->cw);
	for (int i = 0; i < g->n_docs; i++)
		free(g->docs[i]);
	free(g->docs);
	for (int i = 0; i < g->n_qas; i++) {
		free(g->qas[i].query);
		for (int j = 0; j < g->qas[i].n_out; j++)
			free(g->qas[i].outputs[j]);
		free(g->qas[i].outputs);
		free(g->qas[i].gold);
		free(g->qas[i].more);
	}
	free(g->qas);
	cJSON_Delete(g->qa_json);
	free(g->vt_example);
}

static int compose_template(struct gen *g)
{
	const char *t = NULL, *p = NULL;
	switch (g->d->family) {
	case RULER_NIAH: t = NIAH_TEMPLATE, p = NIAH_PREFIX; break;
	case RULER_VT: t = VT_TEMPLATE, p = g->o->rev == RULER_REV_HEAD ? VT_PREFIX_HEAD : VT_PREFIX_2024; break;
	case RULER_CWE: t = CWE_TEMPLATE, p = CWE_PREFIX; break;
	case RULER_FWE: t = FWE_TEMPLATE, p = FWE_PREFIX; break;
	case RULER_QA: t = QA_TEMPLATE, p = QA_PREFIX; break;
	}
	g->prefix = p;
	size_t lt = strlen(t), lp = strlen(p);
	if (!(g->tmpl = malloc(lt + lp + 1)))
		return KV_ENOMEM;
	memcpy(g->tmpl, t, lt);
	memcpy(g->tmpl + lt, p, lp + 1);
	if (g->d->family == RULER_NIAH && g->d->num_q * g->d->num_v == 1) {
		static const char *const rep[4][2] = { { "Some", "A" }, { "are all", "is" }, { "are", "is" }, { "answers", "answer" } };
		for (int i = 0; i < 4 && g->tmpl; i++)
			g->tmpl = replace_all(g->tmpl, rep[i][0], rep[i][1]);
	}
	return g->tmpl ? 0 : KV_ENOMEM;
}

/* The vt one-shot example: one sample at budget 500, step 5, 3-letter names. */
static int vt_example(struct gen *g)
{
	bool head = g->o->rev == RULER_REV_HEAD;
	int T = head ? 0 : g->T, n, rc, L;
	struct sample_out so = { 0 };
	struct sb b = { 0 };
	if ((rc = find_size(g, 500, T, 0, 5, true, &n)))
		goto out;
	for (int tries = 0;; tries++) {
		if ((rc = gen_one(g, n, 0, true, NULL, &so)) || (rc = ntok(g, so.input.p, so.input.n, &L)))
			goto out;
		if (L + T <= 500)
			break;
		if (n > 5)
			n -= 5;
		else if (tries > 1000) {
			rc = kv_errf(g->err, g->errlen, KV_EINVAL, "vt: the one-shot example does not fit 500 tokens");
			goto out;
		}
	}
	rc = KV_ENOMEM;
	if (sb_add(&b, so.input.p, so.input.n) || sb_add(&b, " ", 1))
		goto out;
	for (int i = 0; i < so.n_ans; i++)
		if ((i && sb_add(&b, " ", 1)) || sb_adds(&b, so.ans[i]))
			goto out;
	if (sb_adds(&b, head ? "\n" : "\n\n"))
		goto out;
	if ((rc = ntok(g, b.p, b.n, &g->vt_example_tok)))
		goto out;
	g->vt_example = b.p;
	b.p = NULL;
out:
	sample_out_clear(&so);
	sb_free(&so.input);
	sb_free(&b);
	return rc;
}

/* Inserts the vt example before the task text of s->input (position 0 with 'base'). */
static int vt_insert(struct gen *g, struct sample_out *s)
{
	const char *at = strstr(s->input.p, "Memorize and track t");
	size_t cut = at ? (size_t)(at - s->input.p) : 0;
	struct sb b = { 0 };
	char *ex = g->o->rev == RULER_REV_2024 ? NULL : vt_randomize(g, g->vt_example);
	if (g->o->rev != RULER_REV_2024 && !ex)
		return KV_ENOMEM;
	int rc = KV_ENOMEM;
	if (sb_add(&b, s->input.p, cut))
		goto out;
	if (g->o->rev == RULER_REV_2024) {
		if (sb_add(&b, " ", 1) || sb_adds(&b, g->vt_example) || sb_adds(&b, "\n\n"))
			goto out;
	} else if (sb_adds(&b, ex) || sb_adds(&b, g->o->rev == RULER_REV_HEAD ? "\n" : "\n\n")) {
		goto out;
	}
	if (sb_adds(&b, s->input.p + cut))
		goto out;
	sb_free(&s->input);
	s->input = b;
	b.p = NULL;
	rc = 0;
out:
	free(ex);
	sb_free(&b);
	return rc;
}

/* One stderr line at every tenth of the samples (long lengths take minutes per task). */
static void progress(const struct ruler_gen_opts *o, int i)
{
	int every = o->samples >= 10 ? o->samples / 10 : 1;
	if (!o->quiet && ((i + 1) % every == 0 || i + 1 == o->samples))
		fprintf(stderr, "ruler: %s: %d/%d samples\n", o->task, i + 1, o->samples);
}

int ruler_generate(const struct ruler_gen_opts *o, FILE *f, int *n_done, char *err, size_t errlen)
{
	struct gen g = { .o = o, .err = err, .errlen = errlen };
	struct sample_out so = { 0 };
	struct fwe_vocab fv = { 0 };
	int rc;
	if (n_done)
		*n_done = 0;
	if (err && errlen)
		err[0] = 0;
	if (!(g.d = ruler_task_find(o->task ? o->task : ""))) {
		char list[512] = "";
		for (int i = 0; i < RULER_N_TASKS; i++) {
			size_t l = strlen(list);
			snprintf(list + l, sizeof(list) - l, "%s%s", i ? ", " : "", ruler_tasks[i].name);
		}
		return kv_errf(err, errlen, KV_EINVAL, "--task: expected one of %s, got '%s'", list, o->task ? o->task : "");
	}
	if (!o->tok)
		return kv_errf(err, errlen, KV_EINVAL, "ruler: a tokenizer is required (the lengths are counted in its tokens)");
	if (o->length < 256)
		return kv_errf(err, errlen, KV_EINVAL, "--length: expected at least 256 tokens, got %d", o->length);
	if (o->samples < 1)
		return kv_errf(err, errlen, KV_EINVAL, "--samples: expected at least 1, got %d", o->samples);
	const struct ruler_task_def *d = g.d;
	bool head = o->rev == RULER_REV_HEAD;
	g.T = d->tokens_to_generate;
	g.B = o->length;
	pyrand_seed(&g.G, o->seed);
	pyrand_seed_numpy(&g.NP, (uint32_t)o->seed);
	if ((rc = compose_template(&g))) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		goto out;
	}
	switch (d->family) {
	case RULER_NIAH:
		if (strcmp(d->type_k, "words") == 0 || strcmp(d->type_v, "words") == 0)
			rc = niah_words_init(&g);
		if (!rc && strcmp(d->haystack, "essay") == 0)
			rc = essay_init(&g);
		break;
	case RULER_CWE: rc = cwe_init(&g); break;
	case RULER_QA: rc = qa_init(&g); break;
	default: break;
	}
	if (rc)
		goto out;
	int step = 10, E = 0, n = 0;
	if (d->family == RULER_NIAH)
		step = strcmp(d->haystack, "essay") == 0 ? 500 : o->length < 4096 ? 5 : 25;
	if (d->family == RULER_VT) {
		if ((rc = vt_example(&g)))
			goto out;
		E = g.vt_example_tok;
		if (head && o->length < 4096)
			step = 5;
	}
	if (d->family == RULER_FWE) {
		/* fwe: its own search, step budget // 32, vocabulary budget // 50, no allowance in R2024 */
		int B = head ? o->length - g.T : o->length, inc = B / 32, V = B / 50, t;
		if ((rc = fwe_vocab_draw(&g, V, &fv)))
			goto out_oom;
		n = B / 6;
		if ((rc = fwe_text(&g, &fv, n, &so)) || (rc = ntok(&g, so.input.p, so.input.n, &t)))
			goto out;
		while (t < B) {
			n += inc;
			if ((rc = fwe_text(&g, &fv, n, &so)) || (rc = ntok(&g, so.input.p, so.input.n, &t)))
				goto out;
		}
		n -= inc;
		for (int i = 0; i < o->samples; i++) {
			int m = n;
			if ((rc = fwe_vocab_draw(&g, V, &fv)))
				goto out_oom;
			if ((rc = fwe_text(&g, &fv, m, &so)) || (rc = ntok(&g, so.input.p, so.input.n, &t)))
				goto out;
			while (t > B) {
				m -= inc;
				if ((rc = fwe_text(&g, &fv, m, &so)) || (rc = ntok(&g, so.input.p, so.input.n, &t)))
					goto out;
			}
			if ((rc = write_record(&g, f, i, so.input.p, so.input.n, &so, t + g.T)))
				goto out;
			if (n_done)
				(*n_done)++;
			progress(o, i);
		}
		goto out;
	}
	if ((rc = find_size(&g, g.B, g.T, head && d->family == RULER_VT ? E : E, step, false, &n)))
		goto out;
	if (!o->quiet)
		fprintf(stderr, "ruler: %s at %d tokens: haystack size %d\n", d->name, o->length, n);
	for (int i = 0; i < o->samples; i++) {
		int m = n, L = 0;
		for (int tries = 0;; tries++) {
			if ((rc = gen_one(&g, m, i, false, NULL, &so)))
				goto out;
			if (d->family == RULER_VT && head && (rc = vt_insert(&g, &so)))
				goto out_oom;
			if ((rc = ntok(&g, so.input.p, so.input.n, &L)))
				goto out;
			L += g.T + (d->family == RULER_VT && !head ? E : 0);
			if (L <= g.B)
				break;
			if (m > step)
				m -= step;
			else if (tries > 1000) {
				rc = kv_errf(err, errlen, KV_EINVAL, "%s: sample %d does not fit %d tokens even at the smallest haystack",
					     d->name, i, o->length);
				goto out;
			}
		}
		if (d->family == RULER_VT && !head && (rc = vt_insert(&g, &so)))
			goto out_oom;
		if ((rc = write_record(&g, f, i, so.input.p, so.input.n, &so, L)))
			goto out;
		if (n_done)
			(*n_done)++;
		progress(o, i);
	}
	rc = 0;
	goto out;
out_oom:
	if (rc == KV_ENOMEM && err && !err[0])
		kv_errf(err, errlen, KV_ENOMEM, "out of memory");
out:
	if (rc == KV_ENOMEM && err && !err[0])
		kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	sample_out_clear(&so);
	sb_free(&so.input);
	free(fv.w);
	gen_free(&g);
	return rc;
}
