/* Golden test: the positions kvlab's kvpress-derived methods keep on SmolLM2-135M-Instruct,
 * per layer and KV head, against tests/golden/kvpress_<method>.bin written by
 * scripts/ref_kvpress_qa.py from kvpress 0.5.5's own presses (transformers in fp32).
 * A set must be identical, or differ only inside the reference's tie band (candidates
 * whose kvpress score lies within the file's tie_rtol of the top-k boundary) with the same
 * count; anything else is a difference and fails. Prints per method how many sets are
 * identical / equal up to ties / different.
 *
 * Time: Expected Attention never changes the forward, so all of a file's cases share one
 * prefill: a test-local policy runs every case's policy on each layer view, records its
 * decision and hands the first case's to the engine, whose cache is then read back to
 * check that the per-head lengths went through. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/errors.h"       // kv_errf
#include "base/fileio.h"       // kv_read_file
#include "engine/after_memo.h" // kv_after_memo_new, kv_after_memo_hits
#include "engine/forward.h"    // fwd_session_*, fwd_prefill
#include "engine/kv_method.h"  // struct kv_method, kv_policy_prefill_layer
#include "engine/kvcache.h"    // struct kv_cache, struct kv_layer
#include "engine/model.h"      // model_load
#include "engine/reconstruct.h" // fwd_after_prefill
#include "methods/params.h"    // struct kv_args
#include "methods/registry.h"  // kv_policy_make, kv_method_find
#include "tests/golden_sets.h"  // struct pset, compare_set_counted, struct tally, args_from_params
#include "tests/test.h"
#include "tests/test_policy.h"   // t_policy_make, t_tiny_model, t_random_ids

#define REGEN "regenerate with scripts/ref_kvpress_qa.py"
#define PARAMS_LEN 128
#define MAX_CASES 8

// ----------------------------------------------------------------------------
// golden file (format: see scripts/ref_kvpress_qa.py)

struct gold_head {
	int n_kept;
	const uint8_t *kept, *band; /* bitmaps over positions, into the file buffer */
};

struct gold_case {
	char params[PARAMS_LEN + 1];
	int n_layer, n_heads;
	struct gold_head *heads; /* (n_layer, n_heads) */
};

struct golden {
	uint8_t *buf;
	size_t len;
	char sha[65], kvpress[17];
	float rtol;
	int n;                   /* prompt tokens */
	const int32_t *ids;      /* (n,) into buf (aligned copy below) */
	int32_t *ids_copy;
	int n_cases;
	struct gold_case cases[MAX_CASES];
};

struct cursor {
	const uint8_t *p, *end;
	const char *path;
	char *err;
	size_t errlen;
	int rc;
};

static const uint8_t *take(struct cursor *c, size_t n)
{
	if (c->rc)
		return NULL;
	if ((size_t)(c->end - c->p) < n) {
		c->rc = kv_errf(c->err, c->errlen, KV_EFORMAT, "%s: truncated (%zu bytes short); " REGEN, c->path,
				n - (size_t)(c->end - c->p));
		return NULL;
	}
	const uint8_t *r = c->p;
	c->p += n;
	return r;
}

static uint32_t take_u32(struct cursor *c)
{
	const uint8_t *b = take(c, 4);
	uint32_t v = 0;
	if (b)
		memcpy(&v, b, 4);
	return v;
}

static void golden_free(struct golden *g)
{
	for (int i = 0; i < g->n_cases; i++)
		free(g->cases[i].heads);
	free(g->ids_copy);
	free(g->buf);
	memset(g, 0, sizeof(*g));
}

/* Reads path into g (freed with golden_free); 0 or KV_EFORMAT / KV_EIO naming the file. */
static int golden_read(const char *path, struct golden *g, char *err, size_t errlen)
{
	memset(g, 0, sizeof(*g));
	int rc = kv_read_file(path, (char **)&g->buf, &g->len, err, errlen);
	if (rc)
		return rc;
	struct cursor c = { g->buf, g->buf + g->len, path, err, errlen, 0 };
	const uint8_t *magic = take(&c, 4);
	if (magic && memcmp(magic, "KVPR", 4) != 0) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: bad magic (expected 'KVPR'); " REGEN, path);
		goto out_fail;
	}
	uint32_t version = take_u32(&c);
	if (!c.rc && version != 1) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: version %u, expected 1; " REGEN, path, version);
		goto out_fail;
	}
	const uint8_t *sha = take(&c, 64), *ver = take(&c, 16), *rtol = take(&c, 4);
	uint32_t n = take_u32(&c);
	if (c.rc)
		goto out_cursor;
	memcpy(g->sha, sha, 64);
	memcpy(g->kvpress, ver, 16);
	memcpy(&g->rtol, rtol, 4);
	if (n == 0 || n > (1u << 24)) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: bad token count %u; " REGEN, path, n);
		goto out_fail;
	}
	g->n = (int)n;
	const uint8_t *ids = take(&c, sizeof(int32_t) * n);
	uint32_t n_cases = take_u32(&c);
	if (c.rc)
		goto out_cursor;
	if (n_cases == 0 || n_cases > MAX_CASES) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: bad case count %u (expected 1..%d); " REGEN, path, n_cases, MAX_CASES);
		goto out_fail;
	}
	if (!(g->ids_copy = malloc(sizeof(int32_t) * n))) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", path);
		goto out_fail;
	}
	memcpy(g->ids_copy, ids, sizeof(int32_t) * n);
	g->ids = g->ids_copy;
	size_t B = (n + 7) / 8;
	for (uint32_t i = 0; i < n_cases; i++) {
		struct gold_case *gc = &g->cases[i];
		const uint8_t *pt = take(&c, PARAMS_LEN);
		uint32_t nl = take_u32(&c), nh = take_u32(&c);
		if (c.rc)
			goto out_cursor;
		memcpy(gc->params, pt, PARAMS_LEN);
		if (nl == 0 || nl > 1024 || nh == 0 || nh > 1024) {
			rc = kv_errf(err, errlen, KV_EFORMAT, "%s: case %u: bad shape %u layers x %u heads; " REGEN, path, i, nl, nh);
			goto out_fail;
		}
		gc->n_layer = (int)nl;
		gc->n_heads = (int)nh;
		g->n_cases = (int)i + 1;
		if (!(gc->heads = calloc((size_t)nl * nh, sizeof(*gc->heads)))) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", path);
			goto out_fail;
		}
		for (size_t h = 0; h < (size_t)nl * nh; h++) {
			gc->heads[h].n_kept = (int)take_u32(&c);
			gc->heads[h].kept = take(&c, B);
			gc->heads[h].band = take(&c, B);
		}
		if (c.rc)
			goto out_cursor;
	}
	if (c.p != c.end) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: %zu trailing bytes; " REGEN, path, (size_t)(c.end - c.p));
		goto out_fail;
	}
	return 0;
out_cursor:
	rc = c.rc;
out_fail:
	golden_free(g);
	return rc;
}

static bool bit(const uint8_t *b, int p)
{
	return (b[p >> 3] >> (p & 7)) & 1;
}

// ----------------------------------------------------------------------------
// observing the cases' decisions

/* One case's kept positions: (n_layer, n_heads) bitmaps of n bits, plus counts. */
struct obs {
	int n_layer, n_heads, n;
	uint8_t *kept;  /* (n_layer, n_heads, B) */
	int *count;     /* (n_layer, n_heads) */
};

struct harness {
	int n;                          /* cases */
	struct kv_policy pol[MAX_CASES];
	struct obs obs[MAX_CASES];
	int *n_keep;                    /* (H,) scratch decision */
	int32_t *rows;                  /* (H, T) + 2 T scratch */
};

static void obs_record(struct obs *o, const struct kv_layer_view *v, const struct kv_decision *d)
{
	size_t B = ((size_t)o->n + 7) / 8;
	int nh = d->keep_all || !d->per_query_head ? v->shape->n_head_kv : v->shape->n_head;
	for (int h = 0; h < nh && h < o->n_heads; h++) {
		uint8_t *b = o->kept + ((size_t)v->layer * o->n_heads + h) * B;
		int cnt = d->keep_all ? v->n : d->n_keep[h];
		memset(b, 0, B);
		for (int i = 0; i < cnt; i++) {
			int p = v->pos[d->keep_all ? i : d->keep[(size_t)h * v->n + i]];
			b[p >> 3] |= (uint8_t)(1u << (p & 7));
		}
		o->count[v->layer * o->n_heads + h] = cnt;
	}
}

static int harness_prefill_layer(void *state, const struct kv_layer_view *v, struct kv_decision *d, char *err,
				 size_t errlen)
{
	struct harness *hs = state;
	int T = v->n, H = v->shape->n_head, rc;
	for (int c = 0; c < hs->n; c++) {
		struct kv_decision own = { .keep_all = true, .n_keep = hs->n_keep, .keep = hs->rows,
					   .prop = hs->rows + (size_t)H * T, .restart = hs->rows + (size_t)H * T + T };
		struct kv_decision *dc = c == 0 ? d : &own;
		if ((rc = kv_policy_prefill_layer(&hs->pol[c], v, dc, err, errlen)))
			return rc;
		if (dc->n_prop || dc->n_restart)
			return kv_errf(err, errlen, KV_EINTERNAL, "harness: case %d propagates or restarts", c);
		obs_record(&hs->obs[c], v, dc);
	}
	return 0;
}

static const struct kv_method harness_method = {
	.name = "harness",
	.summary = "test-only: runs several policies on every layer and applies the first",
	.prefill_layer = harness_prefill_layer,
};

// ----------------------------------------------------------------------------
// comparison

/* Compares one observed set (bitmap got, got_n kept) with the reference's; prints the
 * first offenders. scratch: 3 g->n entries. */
static enum cmp compare_head(const struct golden *g, const struct gold_head *ref, const uint8_t *got, int got_n, int l, int h,
			     const char *params, bool count_may_move, int32_t *scratch)
{
	char msg[256];
	struct pset want = pset_from_bits(ref->kept, g->n, scratch), band = pset_from_bits(ref->band, g->n, scratch + g->n),
		    mine = pset_from_bits(got, g->n, scratch + 2 * (size_t)g->n);
	enum cmp r = compare_set_counted(&want, &band, &mine, ref->n_kept, got_n, count_may_move, msg, sizeof(msg));
	if (r == CMP_DIFF)
		fprintf(stderr, "  [%s] layer %d head %d: kept %d, reference %d; outside the tie band: %s\n", params, l, h, got_n,
			ref->n_kept, msg);
	return r;
}

static const struct model *g_model;
static const char *g_method, *g_path;

/* Reads g_path into *g (golden_free) and g_model's shape into *shape, printing the file's
 * header; non-zero (the case marked skipped when the file is missing, failed when it is bad,
 * nothing to free) when the case cannot go on. */
static int golden_open(struct golden *g, struct kv_shape *shape)
{
	char err[512];
	int rc = golden_read(g_path, g, err, sizeof(err));
	if (rc == KV_EIO) {
		T_SKIP("%s", err);
		return rc;
	}
	T_CHECK(rc == 0, "%s", err);
	if (rc)
		return rc;
	const struct model_config *cfg = &g_model->cfg;
	*shape = (struct kv_shape){ .n_layer = cfg->n_layer, .n_head = cfg->n_head, .n_head_kv = cfg->n_head_kv,
				    .head_dim = cfg->head_dim, .n_embd = cfg->n_embd };
	printf("  %s: %d tokens, %d cases, kvpress %s, tie band rtol %.0e, model sha256 %.12s...\n", g_path, g->n, g->n_cases,
	       g->kvpress, g->rtol, g->sha);
	return 0;
}

static void kvpress_method_should_keep_the_reference_positions(void)
{
	struct golden g;
	struct kv_shape shape;
	char err[512];
	int rc;
	if (golden_open(&g, &shape))
		return;
	const struct kv_method *km = kv_method_find(g_method);
	T_CHECK(km != NULL, "method %s is not registered", g_method);
	const struct model_config *cfg = &g_model->cfg;
	static char pbuf[MAX_CASES][PARAMS_LEN + 1];
	struct harness hs = { .n = g.n_cases };
	struct fwd_session *s = NULL;
	float *logits = malloc(sizeof(float) * (size_t)cfg->n_vocab);
	size_t B = ((size_t)g.n + 7) / 8;
	hs.n_keep = malloc(sizeof(int) * (size_t)shape.n_head);
	hs.rows = malloc(sizeof(int32_t) * ((size_t)shape.n_head * g.n + 2 * (size_t)g.n));
	int32_t *scratch = malloc(sizeof(int32_t) * 3 * (size_t)g.n);
	T_CHECK(km && logits && hs.n_keep && hs.rows && scratch, "out of memory");
	for (int c = 0; km && c < g.n_cases && !t_case_failed; c++) {
		struct gold_case *gc = &g.cases[c];
		struct kv_args a = { 0 };
		T_CHECK(gc->n_layer == shape.n_layer && gc->n_heads == shape.n_head_kv, "case %d: shape %dx%d, model %dx%d", c,
			gc->n_layer, gc->n_heads, shape.n_layer, shape.n_head_kv);
		snprintf(pbuf[c], sizeof(pbuf[c]), "%s", gc->params);
		T_CHECK(args_from_params(pbuf[c], &a) == 0, "case %d: bad params '%s'", c, gc->params);
		rc = kv_policy_make(km, &a, &shape, &hs.pol[c], err, sizeof(err));
		kv_args_free(&a);
		T_CHECK(rc == 0, "[%s] %s", gc->params, err);
		hs.obs[c] = (struct obs){ .n_layer = shape.n_layer, .n_heads = shape.n_head_kv, .n = g.n,
					  .kept = calloc((size_t)shape.n_layer * shape.n_head_kv, B),
					  .count = calloc((size_t)shape.n_layer * shape.n_head_kv, sizeof(int)) };
		T_CHECK(hs.obs[c].kept && hs.obs[c].count, "out of memory");
	}
	struct kv_policy pol = { &harness_method, &hs };
	if (!t_case_failed) {
		rc = fwd_session_init(g_model, &pol, 0, 0, &s, err, sizeof(err));
		if (!rc)
			rc = fwd_prefill(s, g.ids, g.n, false, logits, err, sizeof(err));
		T_CHECK(rc == 0, "prefill: %s", err);
	}
	struct tally t = { 0 };
	for (int c = 0; !t_case_failed && c < g.n_cases; c++) {
		struct tally tc = { 0 };
		for (int l = 0; l < shape.n_layer; l++)
			for (int h = 0; h < shape.n_head_kv; h++) {
				const struct gold_head *ref = &g.cases[c].heads[l * shape.n_head_kv + h];
				const uint8_t *got = hs.obs[c].kept + ((size_t)l * shape.n_head_kv + h) * B;
				tally_add(&tc, compare_head(&g, ref, got, hs.obs[c].count[l * shape.n_head_kv + h], l, h,
							    g.cases[c].params, false, scratch));
				for (size_t i = 0; i < B; i++)
					if (ref->band[i]) {
						tc.banded++;
						break;
					}
			}
		printf("  [%s] %ld sets: %ld identical, %ld differ only inside tie bands, %ld different (%ld with a tie band)\n",
		       g.cases[c].params, tc.heads, tc.same, tc.tie, tc.diff, tc.banded);
		T_CHECK(tc.diff == 0, "[%s] %ld kept sets differ from kvpress outside the tie band", g.cases[c].params, tc.diff);
		t.heads += tc.heads;
		t.same += tc.same;
		t.tie += tc.tie;
		t.diff += tc.diff;
	}
	/* the applied case went through the cache: per-head lengths and positions as decided */
	for (int l = 0; s && !t_case_failed && l < shape.n_layer; l++) {
		const struct kv_layer *K = &s->cache->layers[l];
		T_CHECK(K->n_head == shape.n_head_kv, "layer %d: cache has %d heads", l, K->n_head);
		for (int h = 0; h < K->n_head && h < shape.n_head_kv; h++) {
			const uint8_t *want = hs.obs[0].kept + ((size_t)l * shape.n_head_kv + h) * B;
			int cnt = hs.obs[0].count[l * shape.n_head_kv + h], in = 0;
			for (int i = 0; i < K->len[h]; i++)
				in += bit(want, K->pos[(size_t)h * K->cap + i]);
			T_CHECK(K->len[h] == cnt && in == cnt, "layer %d head %d: cache holds %d entries (%d decided), %d of them decided", l,
				h, K->len[h], cnt, in);
		}
	}
	printf("  %s totals: %ld sets: %ld identical, %ld differ only inside tie bands, %ld different\n", g_method, t.heads,
	       t.same, t.tie, t.diff);
	fwd_session_free(s);
	for (int c = 0; c < g.n_cases; c++) {
		kv_policy_free(&hs.pol[c]);
		free(hs.obs[c].kept);
		free(hs.obs[c].count);
	}
	free(hs.n_keep);
	free(hs.rows);
	free(scratch);
	free(logits);
	golden_free(&g);
}

// ----------------------------------------------------------------------------
// KVzip: a cut after the prefill over all layers and heads

/* Runs one KVzip case (its own prefill, the reconstruction, the cut) and compares the
 * entries each (layer, KV head) of the cache holds with the reference's. The cut is global,
 * so an entry at the boundary may sit in another head than kvpress's: per head the count
 * may move inside the tie band, the total may not. */
static void kvzip_case(const struct golden *g, const struct gold_case *gc, const struct kv_shape *shape, struct tally *t,
		       int32_t *scratch)
{
	char err[512], pbuf[PARAMS_LEN + 1];
	struct kv_args a = { 0 };
	struct kv_policy pol = { 0 };
	struct fwd_session *s = NULL;
	size_t B = ((size_t)g->n + 7) / 8;
	uint8_t *bits = calloc(B, 1);
	float *logits = malloc(sizeof(float) * (size_t)g_model->cfg.n_vocab);
	double secs = 0;
	T_CHECK(bits && logits, "out of memory");
	snprintf(pbuf, sizeof(pbuf), "%s", gc->params);
	T_CHECK(args_from_params(pbuf, &a) == 0, "bad params '%s'", gc->params);
	int rc = t_case_failed ? -1 : kv_policy_make(kv_method_find("kvzip"), &a, shape, &pol, err, sizeof(err));
	kv_args_free(&a);
	T_CHECK(rc == 0, "[%s] %s", gc->params, err);
	if (!rc)
		rc = fwd_session_init(g_model, &pol, 0, 0, &s, err, sizeof(err));
	if (!rc)
		rc = fwd_prefill(s, g->ids, g->n, false, logits, err, sizeof(err));
	if (!rc)
		rc = fwd_after_prefill(s, g->ids, g->n, NULL, &secs, err, sizeof(err));
	T_CHECK(rc == 0, "[%s] %s", gc->params, err);
	struct tally tc = { 0 };
	long n_ref = 0, n_got = 0;
	for (int l = 0; !rc && !t_case_failed && l < shape->n_layer; l++) {
		const struct kv_layer *K = &s->cache->layers[l];
		T_CHECK(K->n_head == shape->n_head_kv, "layer %d: cache has %d heads", l, K->n_head);
		for (int h = 0; h < K->n_head && h < shape->n_head_kv; h++) {
			const struct gold_head *ref = &gc->heads[l * shape->n_head_kv + h];
			memset(bits, 0, B);
			for (int i = 0; i < K->len[h]; i++) {
				int p = K->pos[(size_t)h * K->cap + i];
				T_CHECK(p >= 0 && p < g->n && (i == 0 || p > K->pos[(size_t)h * K->cap + i - 1]),
					"layer %d head %d: entry %d holds position %d", l, h, i, p);
				if (p >= 0 && p < g->n)
					bits[p >> 3] |= (uint8_t)(1u << (p & 7));
			}
			tally_add(&tc, compare_head(g, ref, bits, K->len[h], l, h, gc->params, true, scratch));
			for (size_t i = 0; i < B; i++)
				if (ref->band[i]) {
					tc.banded++;
					break;
				}
			n_ref += ref->n_kept;
			n_got += K->len[h];
		}
	}
	printf("  [%s] %ld sets: %ld identical, %ld differ only inside tie bands, %ld different (%ld with a tie band); "
	       "%ld entries kept, reference %ld; reconstruction %.2f s\n",
	       gc->params, tc.heads, tc.same, tc.tie, tc.diff, tc.banded, n_got, n_ref, secs);
	T_CHECK(tc.diff == 0, "[%s] %ld kept sets differ from kvpress outside the tie band", gc->params, tc.diff);
	T_CHECK(n_got == n_ref, "[%s] %ld entries kept in all, kvpress %ld", gc->params, n_got, n_ref);
	t->heads += tc.heads;
	t->same += tc.same;
	t->tie += tc.tie;
	t->diff += tc.diff;
	fwd_session_free(s);
	kv_policy_free(&pol);
	free(bits);
	free(logits);
}

static void kvzip_should_keep_the_reference_positions(void)
{
	struct golden g;
	struct kv_shape shape;
	if (golden_open(&g, &shape))
		return;
	int32_t *scratch = malloc(sizeof(int32_t) * 3 * (size_t)g.n);
	T_CHECK(scratch != NULL, "out of memory");
	struct tally t = { 0 };
	for (int c = 0; scratch && c < g.n_cases && !t_case_failed; c++) {
		T_CHECK(g.cases[c].n_layer == shape.n_layer && g.cases[c].n_heads == shape.n_head_kv, "case %d: shape %dx%d", c,
			g.cases[c].n_layer, g.cases[c].n_heads);
		if (!t_case_failed)
			kvzip_case(&g, &g.cases[c], &shape, &t, scratch);
	}
	printf("  kvzip totals: %ld sets: %ld identical, %ld differ only inside tie bands, %ld different\n", t.heads, t.same,
	       t.tie, t.diff);
	free(scratch);
	golden_free(&g);
}

// ----------------------------------------------------------------------------
// the reader's failure paths

static void write_bytes(const char *path, const void *b, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (f) {
		fwrite(b, 1, n, f);
		fclose(f);
	}
}

static void golden_reader_should_reject_bad_magic_and_truncation(void)
{
	char path[] = "/tmp/kvlab_kvpress_golden_XXXXXX", err[512];
	struct golden g;
	int fd = mkstemp(path);
	T_CHECK(fd >= 0, "mkstemp");
	if (fd < 0)
		return;
	close(fd);
	write_bytes(path, "KVMS\1\0\0\0", 8);
	int rc = golden_read(path, &g, err, sizeof(err));
	T_CHECK(rc == KV_EFORMAT && strstr(err, path) && strstr(err, "bad magic"), "rc %d: %s", rc, err);
	uint8_t head[8 + 64 + 16 + 4 + 4] = "KVPR\1\0\0\0";
	uint32_t n = 10;
	memcpy(head + 8 + 64 + 16 + 4, &n, 4);
	write_bytes(path, head, sizeof(head)); /* ten ids announced, none there */
	rc = golden_read(path, &g, err, sizeof(err));
	T_CHECK(rc == KV_EFORMAT && strstr(err, path) && strstr(err, "truncated"), "rc %d: %s", rc, err);
	remove(path);
}

// ----------------------------------------------------------------------------
// the method on the tiny random model: composition, decode after unequal heads, refusals

/* Prefills ids with method (params kv) on m and decodes n_dec tokens into r. */
static int run_method(const struct model *m, const char *method, const char *const *kv, const int32_t *ids, int n,
		      int n_dec, struct t_run *r, char *err, size_t errlen)
{
	int rc = t_policy_make(method, kv, m, &r->pol, err, errlen);
	if (!rc)
		rc = fwd_session_init(m, &r->pol, n_dec, 1, &r->s, err, errlen);
	if (!rc && !(r->logits = malloc(sizeof(float) * (size_t)m->cfg.n_vocab)))
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	if (!rc)
		rc = fwd_prefill(r->s, ids, n, false, r->logits, err, errlen);
	for (int t = 0; !rc && t < n_dec; t++)
		rc = fwd_decode(r->s, (int32_t)(t + 1), r->logits, err, errlen);
	return rc;
}

static void none_plus_expected_attention_should_be_expected_attention_and_decode(void)
{
	struct model *m = NULL;
	char err[512];
	T_CHECK(t_tiny_model(&m, err, sizeof(err)) == 0, "%s", err);
	int32_t *ids = t_random_ids(300, 7, 256);
	static const char *const kv[] = { "compression_ratio", "0.6", "n_future_positions", "64", NULL };
	struct t_run a = { 0 }, b = { 0 };
	int ra = m && ids ? run_method(m, "expected_attention", kv, ids, 300, 3, &a, err, sizeof(err)) : -1;
	T_CHECK(ra == 0, "expected_attention: %s", err);
	int rb = m && ids ? run_method(m, "none+expected_attention", kv, ids, 300, 3, &b, err, sizeof(err)) : -1;
	T_CHECK(rb == 0, "none+expected_attention: %s", err);
	for (int l = 0; !ra && !rb && l < m->cfg.n_layer; l++) {
		const struct kv_layer *A = &a.s->cache->layers[l], *B = &b.s->cache->layers[l];
		T_CHECK(A->n_head == m->cfg.n_head_kv && B->n_head == A->n_head, "layer %d: %d and %d heads", l, A->n_head, B->n_head);
		for (int h = 0; h < A->n_head && h < B->n_head; h++) {
			/* 120 of 300 prompt rows (int(300 * 0.4)) plus the 3 decoded ones */
			T_CHECK(A->len[h] == 123 && B->len[h] == 123, "layer %d head %d: %d and %d entries", l, h, A->len[h], B->len[h]);
			T_CHECK(memcmp(A->pos + (size_t)h * A->cap, B->pos + (size_t)h * B->cap, sizeof(int32_t) * (size_t)A->len[h]) == 0,
				"layer %d head %d: different rows", l, h);
		}
	}
	T_CHECK(!ra && !rb && memcmp(a.logits, b.logits, sizeof(float) * (size_t)m->cfg.n_vocab) == 0, "decode logits differ");
	t_run_free(&a);
	t_run_free(&b);
	free(ids);
	model_free(m);
}

static void kvzip_should_refuse_a_model_without_tokenizer(void)
{
	struct model *m = NULL;
	char err[512] = "";
	T_CHECK(t_tiny_model(&m, err, sizeof(err)) == 0, "%s", err);
	int32_t *ids = t_random_ids(64, 3, 256);
	static const char *const kv[] = { "compression_ratio", "0.5", NULL };
	struct t_run r = { 0 };
	int rc = m && ids ? run_method(m, "kvzip", kv, ids, 64, 0, &r, err, sizeof(err)) : -1;
	T_CHECK(rc == 0, "prefill: %s", err);
	if (!rc)
		rc = fwd_after_prefill(r.s, ids, 64, NULL, NULL, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL && strstr(err, "kvzip") && strstr(err, "tokenizer"), "rc %d: %s", rc, err);
	t_run_free(&r);
	free(ids);
	model_free(m);
}

/* Reads the kvzip golden file for its prompt; KV_EIO (the test skipped) when it is missing. */
static int kvzip_golden_open(struct golden *g, char *err, size_t errlen)
{
	int rc = golden_read("tests/golden/kvpress_kvzip.bin", g, err, errlen);
	if (rc == KV_EIO)
		T_SKIP("%s", err);
	else
		T_CHECK(rc == 0, "%s", err);
	return rc;
}

/* On the real model and a short prompt: none+kvzip keeps what kvzip keeps, the heads keep
 * unequal counts, and decoding after the cut gives the same logits. */
static void none_plus_kvzip_should_be_kvzip_and_decode(void)
{
	static const char *const kv[] = { "compression_ratio", "0.6", "kvzip_prefix", "24", NULL };
	struct golden g;
	char err[512];
	int rc = kvzip_golden_open(&g, err, sizeof(err));
	if (rc == KV_EIO)
		return;
	int n = 120;
	struct t_run a = { 0 }, b = { 0 };
	const char *names[2] = { "kvzip", "none+kvzip" };
	struct t_run *runs[2] = { &a, &b };
	for (int i = 0; !rc && i < 2; i++) {
		rc = run_method(g_model, names[i], kv, g.ids, n, 0, runs[i], err, sizeof(err));
		if (!rc)
			rc = fwd_after_prefill(runs[i]->s, g.ids, n, NULL, NULL, err, sizeof(err));
		for (int t = 0; !rc && t < 2; t++)
			rc = fwd_decode(runs[i]->s, g.ids[n + t], runs[i]->logits, err, sizeof(err));
		T_CHECK(rc == 0, "%s: %s", names[i], err);
	}
	long kept = 0, lo = n, hi = 0;
	for (int l = 0; !rc && l < g_model->cfg.n_layer; l++) {
		const struct kv_layer *A = &a.s->cache->layers[l], *B = &b.s->cache->layers[l];
		T_CHECK(A->n_head == B->n_head, "layer %d: %d and %d heads", l, A->n_head, B->n_head);
		for (int h = 0; h < A->n_head && h < B->n_head; h++) {
			T_CHECK(A->len[h] == B->len[h] && memcmp(A->pos + (size_t)h * A->cap, B->pos + (size_t)h * B->cap,
								  sizeof(int32_t) * (size_t)A->len[h]) == 0,
				"layer %d head %d: different entries", l, h);
			kept += A->len[h] - 2; /* the two decoded tokens */
			lo = A->len[h] - 2 < lo ? A->len[h] - 2 : lo;
			hi = A->len[h] - 2 > hi ? A->len[h] - 2 : hi;
		}
	}
	long all = (long)g_model->cfg.n_layer * g_model->cfg.n_head_kv * n;
	T_CHECK(rc || kept == all - (long)((double)all * 0.6), "kept %ld of %ld entries", kept, all);
	T_CHECK(rc || lo < hi, "every head keeps %ld entries", lo);
	T_CHECK(rc || memcmp(a.logits, b.logits, sizeof(float) * (size_t)g_model->cfg.n_vocab) == 0, "decode logits differ");
	t_run_free(&a);
	t_run_free(&b);
	golden_free(&g);
}

/* Do sessions a and b hold the same positions in every layer and head? */
static bool same_entries(const struct fwd_session *a, const struct fwd_session *b)
{
	for (int l = 0; l < a->cache->n_layer; l++) {
		const struct kv_layer *A = &a->cache->layers[l], *B = &b->cache->layers[l];
		if (A->n_head != B->n_head)
			return false;
		for (int h = 0; h < A->n_head; h++)
			if (A->len[h] != B->len[h] ||
			    memcmp(A->pos + (size_t)h * A->cap, B->pos + (size_t)h * B->cap, sizeof(int32_t) * (size_t)A->len[h]))
				return false;
	}
	return true;
}

/* A sweep's points that differ only in budget share one prefill: their KVzip steps must
 * replay once (the second finds the first's scores in the memo) and keep what each keeps
 * alone; a point with another --chunk_size, or a session on another cache, finds nothing. */
static void kvzip_points_differing_in_budget_should_replay_once(void)
{
	static const char *const kv[3][7] = {
		{ "compression_ratio", "0.6", "kvzip_prefix", "24", NULL },
		{ "compression_ratio", "0.3", "kvzip_prefix", "24", NULL },
		{ "compression_ratio", "0.3", "kvzip_prefix", "24", "chunk_size", "32", NULL },
	};
	struct golden g;
	char err[512];
	int rc = kvzip_golden_open(&g, err, sizeof(err));
	if (rc == KV_EIO)
		return;
	int n = 120;
	struct t_run solo[2] = { 0 }, sh[3] = { 0 }, other = { 0 };
	struct kv_after_memo *memo = kv_after_memo_new();
	T_CHECK(memo != NULL, "out of memory");
	/* each budget alone, no memo */
	for (int i = 0; !rc && i < 2; i++) {
		rc = run_method(g_model, "kvzip", kv[i], g.ids, n, 0, &solo[i], err, sizeof(err));
		if (!rc)
			rc = fwd_after_prefill(solo[i].s, g.ids, n, NULL, NULL, err, sizeof(err));
	}
	T_CHECK(rc == 0, "alone: %s", err);
	/* the three points on one shared prefill, one memo; the third with another chunk size */
	struct fwd_session *ss[3] = { 0 };
	float *logits = malloc(sizeof(float) * (size_t)g_model->cfg.n_vocab);
	for (int i = 0; !rc && i < 3; i++) {
		rc = t_policy_make("kvzip", kv[i], g_model, &sh[i].pol, err, sizeof(err));
		if (!rc)
			rc = fwd_session_init(g_model, &sh[i].pol, 0, 1, &sh[i].s, err, sizeof(err));
		ss[i] = sh[i].s;
	}
	if (!rc)
		rc = fwd_prefill_shared(ss, 3, g.ids, n, false, logits, err, sizeof(err));
	double secs[3] = { 0 };
	for (int i = 0; !rc && i < 3; i++)
		rc = fwd_after_prefill(ss[i], g.ids, n, memo, &secs[i], err, sizeof(err));
	T_CHECK(rc == 0, "shared: %s", err);
	T_CHECK(rc || kv_after_memo_hits(memo) == 1, "%d hits in the memo, expected 1 (the second budget's)",
		kv_after_memo_hits(memo));
	for (int i = 0; !rc && i < 2; i++)
		T_CHECK(same_entries(sh[i].s, solo[i].s), "point %d keeps other entries shared than alone", i);
	T_CHECK(rc || !same_entries(sh[0].s, sh[1].s), "the two budgets keep the same entries");
	T_CHECK(rc || secs[1] >= secs[0] * 0.5, "the second point reports %.4f s, the first's replay took %.4f s", secs[1],
		secs[0]);
	/* another prompt length: another cache, nothing found */
	if (!rc)
		rc = run_method(g_model, "kvzip", kv[1], g.ids, n - 8, 0, &other, err, sizeof(err));
	if (!rc)
		rc = fwd_after_prefill(other.s, g.ids, n - 8, memo, NULL, err, sizeof(err));
	T_CHECK(rc == 0, "other cache: %s", err);
	T_CHECK(rc || kv_after_memo_hits(memo) == 1, "a session on another cache found %d results",
		kv_after_memo_hits(memo) - 1);
	free(logits);
	for (int i = 0; i < 3; i++)
		t_run_free(&sh[i]);
	for (int i = 0; i < 2; i++)
		t_run_free(&solo[i]);
	t_run_free(&other);
	kv_after_memo_free(memo);
	golden_free(&g);
}

static void expected_attention_should_refuse_a_view_without_rope_frequencies(void)
{
	const struct kv_shape shape = { .n_layer = 1, .n_head = 2, .n_head_kv = 1, .head_dim = 4, .n_embd = 8 };
	static const char *const keys[] = { "compression_ratio" }, *const vals[] = { "0.5" };
	void *st = NULL;
	char err[256] = "";
	int rc = expected_attention_method.init(keys, vals, 1, &shape, &st, err, sizeof(err));
	T_CHECK(rc == 0, "init: %s", err);
	float q[8 * 8] = { 0 }, k[8 * 4] = { 0 }, v[8 * 4] = { 0 };
	int32_t pos[8] = { 0, 1, 2, 3, 4, 5, 6, 7 }, rows[2 * 8];
	int n_keep[2];
	struct kv_layer_view view = { .shape = &shape, .n = 8, .n_prompt = 8, .pos = pos, .ids = pos, .q = q, .k = k, .v = v };
	struct kv_decision d = { .keep_all = true, .n_keep = n_keep, .keep = rows };
	if (!rc)
		rc = expected_attention_method.prefill_layer(st, &view, &d, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL && strstr(err, "expected_attention") && strstr(err, "RoPE") && d.keep_all, "rc %d: %s", rc, err);
	expected_attention_method.free_state(st);
}

int main(void)
{
	static const char *const files[][2] = {
		{ "expected_attention", "tests/golden/kvpress_expected_attention.bin" },
	};
	setvbuf(stdout, NULL, _IOLBF, 0);
	T_RUN(golden_reader_should_reject_bad_magic_and_truncation);
	T_RUN(none_plus_expected_attention_should_be_expected_attention_and_decode);
	T_RUN(expected_attention_should_refuse_a_view_without_rope_frequencies);
	T_RUN(kvzip_should_refuse_a_model_without_tokenizer);
	struct model *m = NULL;
	char err[512];
	if (model_load(T_MODEL, &m, err, sizeof(err))) {
		printf("FAIL model: %s (run 'make model')\n", err);
		t_n_fail++;
		return t_done();
	}
	g_model = m;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char name[160];
		g_method = files[i][0];
		g_path = files[i][1];
		snprintf(name, sizeof(name), "kvpress_method_should_keep_the_reference_positions (%s)", g_method);
		t_run(name, kvpress_method_should_keep_the_reference_positions);
	}
	g_method = "kvzip";
	g_path = "tests/golden/kvpress_kvzip.bin";
	T_RUN(none_plus_kvzip_should_be_kvzip_and_decode);
	T_RUN(kvzip_points_differing_in_budget_should_replay_once);
	T_RUN(kvzip_should_keep_the_reference_positions);
	model_free(m);
	return t_done();
}
