/* Golden test of the kvpress-faithful retention methods (AdaKV, PyramidKV, TOVA): the
 * positions each keeps per layer and KV head on SmolLM2-135M-Instruct, against
 * tests/golden/kvpress_<method>.bin from scripts/ref_kvpress.py (kvpress 0.5.5's own
 * presses on transformers' fp32 model). A set is identical, equal up to ties (it differs
 * from the reference only inside the reference's tie band: scores within its TIE_RTOL of
 * the top-k boundary), or different; the test passes with 0 different. Per-head counts
 * must match, except AdaKV's, whose one cut over a layer's heads may move inside the band
 * across heads: there the layer's total must match.
 *
 * None of these methods changes the forward, so all cases of a prompt share one prefill:
 * a test-local policy calls every case's policy on each layer view and records its
 * decision, and hands the first case's (an AdaKV one: per-head lengths differ) to the
 * engine; the cache it leaves is then checked against the recorded decision (per-head
 * lengths, kv_cache_bytes) and decoded from for a few tokens. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/errors.h"        // kv_errf
#include "engine/forward.h"     // fwd_session_*, fwd_prefill, fwd_decode
#include "engine/kv_method.h"   // struct kv_method, kv_policy_prefill_layer
#include "engine/kvcache.h"     // struct kv_cache, kv_cache_bytes
#include "engine/model.h"       // model_load
#include "methods/params.h"     // struct kv_args
#include "methods/registry.h"   // kv_policy_make, kv_method_find
#include "tests/golden_sets.h" // struct pset, compare_set_counted, struct tally, args_from_params
#include "tests/test.h"

#define GOLDEN_VERSION 1
#define REGEN "regenerate with scripts/ref_kvpress.py"
#define MAX_CASES 16

static const char *const golden_files[] = { "tests/golden/kvpress_adakv.bin", "tests/golden/kvpress_pyramidkv.bin",
					    "tests/golden/kvpress_tova.bin", NULL };
static const char *const g_methods[] = { "adakv", "pyramidkv", "tova", NULL };

// ----------------------------------------------------------------------------
// golden files (format: scripts/ref_kvpress.py)

struct ghead {
	int n_kept;
	uint8_t *kept;   /* (ceil(n_alive / 8),) bit p: position p kept */
	struct pset band; /* ascending positions */
};

struct glayer {
	int n_alive, n_heads;
	struct ghead *heads;
};

struct gcase {
	char method[17];
	char params[256];
	int n_layer;
	struct glayer *layers;
};

struct golden {
	char kvpress[17];
	float tie_rtol;
	int n;
	int32_t *ids;
	int n_cases;
	struct gcase *cases;
};

struct cursor {
	const uint8_t *p, *end;
	const char *path;
	bool bad;
	char why[160];
};

static bool take(struct cursor *c, void *dst, size_t n)
{
	if (c->bad || (size_t)(c->end - c->p) < n) {
		if (!c->bad)
			snprintf(c->why, sizeof(c->why), "truncated at byte %zu", (size_t)(c->end - c->p));
		c->bad = true;
		if (dst)
			memset(dst, 0, n);
		return false;
	}
	if (dst)
		memcpy(dst, c->p, n);
	c->p += n;
	return true;
}

static uint32_t take_u32(struct cursor *c)
{
	uint32_t v = 0;
	take(c, &v, 4);
	return v;
}

static void golden_free(struct golden *g)
{
	for (int i = 0; g->cases && i < g->n_cases; i++) {
		struct gcase *gc = &g->cases[i];
		for (int l = 0; gc->layers && l < gc->n_layer; l++) {
			for (int h = 0; gc->layers[l].heads && h < gc->layers[l].n_heads; h++) {
				free(gc->layers[l].heads[h].kept);
				free(gc->layers[l].heads[h].band.p);
			}
			free(gc->layers[l].heads);
		}
		free(gc->layers);
	}
	free(g->cases);
	free(g->ids);
	memset(g, 0, sizeof(*g));
}

/* Reads one case; sets c->bad on a malformed one. */
static void take_case(struct cursor *c, int n_tokens, struct gcase *gc)
{
	uint16_t len = 0;
	take(c, gc->method, 16);
	gc->method[16] = 0;
	take(c, &len, 2);
	if (len >= sizeof(gc->params)) {
		snprintf(c->why, sizeof(c->why), "parameter string of %u bytes", len);
		c->bad = true;
		return;
	}
	take(c, gc->params, len);
	gc->params[len] = 0;
	uint32_t nl = take_u32(c);
	if (c->bad || nl == 0 || nl > 1024 || !(gc->layers = calloc(nl, sizeof(*gc->layers)))) {
		c->bad = true;
		return;
	}
	gc->n_layer = (int)nl;
	for (int l = 0; l < gc->n_layer && !c->bad; l++) {
		struct glayer *L = &gc->layers[l];
		uint32_t na = take_u32(c), nh = take_u32(c);
		if (c->bad || na == 0 || (int)na > n_tokens || nh == 0 || nh > 256 || !(L->heads = calloc(nh, sizeof(*L->heads)))) {
			snprintf(c->why, sizeof(c->why), "layer %d: %u rows, %u heads", l, na, nh);
			c->bad = true;
			return;
		}
		L->n_alive = (int)na;
		L->n_heads = (int)nh;
		size_t nb = (na + 7) / 8;
		for (int h = 0; h < L->n_heads && !c->bad; h++) {
			struct ghead *G = &L->heads[h];
			G->n_kept = (int)take_u32(c);
			if (!(G->kept = malloc(nb)) || !take(c, G->kept, nb)) {
				c->bad = true;
				return;
			}
			uint32_t n_band = take_u32(c);
			if (c->bad || n_band > na || !(G->band.p = malloc(sizeof(int32_t) * (n_band ? n_band : 1))) ||
			    !take(c, G->band.p, sizeof(int32_t) * n_band)) {
				c->bad = true;
				return;
			}
			G->band.n = (int)n_band;
		}
	}
}

/* Reads path into g (freed with golden_free); errors name the file. */
static int golden_read(const char *path, struct golden *g, char *err, size_t errlen)
{
	memset(g, 0, sizeof(*g));
	FILE *f = fopen(path, "rb");
	if (!f)
		return kv_errf(err, errlen, KV_EIO, "%s: cannot open (%s)", path, REGEN);
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *buf = malloc(size > 0 ? (size_t)size : 1);
	if (!buf || size <= 0 || fread(buf, 1, (size_t)size, f) != (size_t)size) {
		fclose(f);
		free(buf);
		return kv_errf(err, errlen, KV_EIO, "%s: cannot read", path);
	}
	fclose(f);
	struct cursor c = { buf, buf + size, path, false, "" };
	char magic[4], sha[64];
	take(&c, magic, 4);
	uint32_t version = take_u32(&c);
	int rc = 0;
	if (memcmp(magic, "KVPR", 4) != 0 || version != GOLDEN_VERSION) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: not a kvpress golden of version %d (%s)", path, GOLDEN_VERSION, REGEN);
		goto out;
	}
	take(&c, sha, 64);
	take(&c, g->kvpress, 16);
	take(&c, &g->tie_rtol, 4);
	g->n = (int)take_u32(&c);
	if (c.bad || g->n <= 0 || g->n > 1 << 20 || !(g->ids = malloc(sizeof(int32_t) * (size_t)g->n)))
		c.bad = true;
	else
		take(&c, g->ids, sizeof(int32_t) * (size_t)g->n);
	uint32_t nc = take_u32(&c);
	if (!c.bad && (nc == 0 || nc > MAX_CASES || !(g->cases = calloc(nc, sizeof(*g->cases)))))
		c.bad = true;
	else
		g->n_cases = (int)nc;
	for (int i = 0; i < g->n_cases && !c.bad; i++)
		take_case(&c, g->n, &g->cases[i]);
	if (!c.bad && c.p != c.end)
		snprintf(c.why, sizeof(c.why), "%zu trailing bytes", (size_t)(c.end - c.p)), c.bad = true;
	if (c.bad)
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: malformed golden: %s (%s)", path, c.why[0] ? c.why : "bad counts", REGEN);
out:
	free(buf);
	if (rc)
		golden_free(g);
	return rc;
}

// ----------------------------------------------------------------------------
// what kvlab kept

/* Per case, per layer and head: a bitmap over positions and the count. */
struct obs {
	int n_layer, n_heads, n;  /* n: bits per map */
	uint8_t *kept;            /* (n_layer, n_heads, n) 0/1 */
	int *n_kept;              /* (n_layer, n_heads) */
	int *n_alive;             /* (n_layer,) */
};

static int obs_init(struct obs *o, int n_layer, int n_heads, int n)
{
	*o = (struct obs){ n_layer, n_heads, n, calloc((size_t)n_layer * n_heads * n, 1),
			   calloc((size_t)n_layer * n_heads, sizeof(int)), calloc((size_t)n_layer, sizeof(int)) };
	return o->kept && o->n_kept && o->n_alive ? 0 : -1;
}

static void obs_free(struct obs *o)
{
	free(o->kept);
	free(o->n_kept);
	free(o->n_alive);
	memset(o, 0, sizeof(*o));
}

/* Records decision d of view v (per KV head). */
static int obs_record(struct obs *o, const struct kv_layer_view *v, const struct kv_decision *d)
{
	int T = v->n, l = v->layer;
	if (!d->keep_all && d->per_query_head)
		return -1; /* kvpress keeps per KV head */
	o->n_alive[l] = T;
	for (int h = 0; h < o->n_heads; h++) {
		uint8_t *m = o->kept + ((size_t)l * o->n_heads + h) * o->n;
		memset(m, 0, (size_t)o->n);
		int nk = d->keep_all ? T : d->n_keep[h];
		for (int i = 0; i < nk; i++)
			m[v->pos[d->keep_all ? i : d->keep[(size_t)h * T + i]]] = 1;
		o->n_kept[(size_t)l * o->n_heads + h] = nk;
	}
	return 0;
}

// ----------------------------------------------------------------------------
// comparison

/* Compares one head (got: a 0/1 byte per position, n_got kept); msg says where it first
 * differs outside the band. scratch: 2 n_alive entries. */
static enum cmp compare_head(const struct ghead *G, const uint8_t *got, int n_got, int n_alive, bool count_may_move,
			     int32_t *scratch, char *msg, size_t len)
{
	struct pset ref = pset_from_bits(G->kept, n_alive, scratch), mine = pset_from_flags(got, n_alive, scratch + n_alive);
	return compare_set_counted(&ref, &G->band, &mine, G->n_kept, n_got, count_may_move, msg, len);
}

/* Compares a case; prints its line; returns how many heads differ (+1 per bad layer total). */
static int compare_case(const struct gcase *gc, const struct obs *o, struct tally *t)
{
	bool ada = strcmp(gc->method, "adakv") == 0;
	struct tally mine = { 0 };
	int bad = 0, printed = 0;
	char msg[200];
	if (gc->n_layer != o->n_layer) {
		printf("  %s %s: %d layers, kvlab %d\n", gc->method, gc->params, gc->n_layer, o->n_layer);
		return 1;
	}
	int32_t *scratch = malloc(sizeof(int32_t) * 2 * (size_t)o->n);
	if (!scratch) {
		printf("  %s %s: out of memory\n", gc->method, gc->params);
		return 1;
	}
	for (int l = 0; l < gc->n_layer; l++) {
		const struct glayer *L = &gc->layers[l];
		long ref_total = 0, got_total = 0;
		if (L->n_heads != o->n_heads || L->n_alive != o->n_alive[l]) {
			printf("  %s %s layer %d: %d heads of %d rows, kvlab %d of %d\n", gc->method, gc->params, l, L->n_heads,
			       L->n_alive, o->n_heads, o->n_alive[l]);
			bad++;
			continue;
		}
		for (int h = 0; h < L->n_heads; h++) {
			const uint8_t *got = o->kept + ((size_t)l * o->n_heads + h) * o->n;
			int n_got = o->n_kept[(size_t)l * o->n_heads + h];
			enum cmp r = compare_head(&L->heads[h], got, n_got, L->n_alive, ada, scratch, msg, sizeof(msg));
			ref_total += L->heads[h].n_kept;
			got_total += n_got;
			tally_add(&mine, r);
			if (r == CMP_DIFF && printed++ < 5)
				printf("  %s %s layer %d head %d: %s\n", gc->method, gc->params, l, h, msg);
		}
		if (ref_total != got_total) {
			printf("  %s %s layer %d: kvlab keeps %ld rows over the heads, kvpress %ld\n", gc->method, gc->params, l,
			       got_total, ref_total);
			bad++;
		}
	}
	free(scratch);
	printf("  %-9s %-72s %4ld sets: %4ld identical, %3ld equal up to ties, %ld different\n", gc->method, gc->params,
	       mine.heads, mine.same, mine.tie, mine.diff);
	t->heads += mine.heads;
	t->same += mine.same;
	t->tie += mine.tie;
	t->diff += mine.diff;
	return bad + (int)mine.diff;
}

// ----------------------------------------------------------------------------
// the shared prefill

struct harness {
	int n;
	struct kv_policy pol[3 * MAX_CASES];
	struct obs obs[3 * MAX_CASES];
	int *n_keep;         /* (H,) scratch decision of the cases not applied */
	int32_t *rows;       /* (H, T) */
	struct kv_tie *ties; /* (H,) */
	int failed_record;   /* a case kept per query head */
};

/* Case 0 decides for the engine; the others into scratch. */
static int harness_prefill_layer(void *state, const struct kv_layer_view *v, struct kv_decision *d, char *err,
				 size_t errlen)
{
	struct harness *hs = state;
	int rc;
	for (int c = 0; c < hs->n; c++) {
		struct kv_decision own = { .keep_all = true, .n_keep = hs->n_keep, .keep = hs->rows, .keep_tie = hs->ties };
		struct kv_decision *dc = c == 0 ? d : &own;
		if ((rc = kv_policy_prefill_layer(&hs->pol[c], v, dc, err, errlen)))
			return rc;
		if (dc->n_prop || dc->n_restart)
			return kv_errf(err, errlen, KV_EINTERNAL, "harness: case %d propagates or restarts", c);
		if (obs_record(&hs->obs[c], v, dc))
			hs->failed_record++;
	}
	return 0;
}

static const struct kv_method harness_method = {
	.name = "harness",
	.summary = "test-only: runs several policies on every layer and applies the first",
	.prefill_layer = harness_prefill_layer,
};

static const struct model *g_model;
static struct tally g_tally[4];

/* The cache the engine kept for case 0 must be what the policy decided, per head; its
 * bytes the sum of the heads' lengths; and decode must run over it. */
static void check_applied_cache(struct fwd_session *s, const struct obs *o, const char *what)
{
	const struct kv_cache *c = s->cache;
	long entries = 0;
	int uneven_layers = 0;
	for (int l = 0; l < c->n_layer; l++) {
		const struct kv_layer *L = &c->layers[l];
		T_CHECK(L->n_head == o->n_heads, "%s layer %d: the cache holds %d heads, expected %d", what, l, L->n_head, o->n_heads);
		bool uneven = false;
		for (int h = 0; h < L->n_head && h < o->n_heads; h++) {
			int want = o->n_kept[(size_t)l * o->n_heads + h];
			T_CHECK(L->len[h] == want, "%s layer %d head %d: the cache holds %d entries, the policy kept %d", what, l, h,
				L->len[h], want);
			uneven = uneven || L->len[h] != L->len[0];
			for (int i = 0; i < L->len[h]; i++)
				T_CHECK(o->kept[((size_t)l * o->n_heads + h) * o->n + L->pos[(size_t)h * L->cap + i]],
					"%s layer %d head %d: cache entry %d holds a position the policy dropped", what, l, h, i);
			entries += L->len[h];
		}
		uneven_layers += uneven;
	}
	T_CHECK(kv_cache_bytes(c) == (size_t)entries * c->head_dim * 2 * sizeof(float),
		"%s: kv_cache_bytes %zu for %ld entries", what, kv_cache_bytes(c), entries);
	T_CHECK(uneven_layers > 0, "%s: AdaKV kept the same count in every head of every layer", what);
	printf("  %s: the cache holds unequal head lengths in %d of %d layers, %ld entries, %zu bytes\n", what, uneven_layers,
	       c->n_layer, entries, kv_cache_bytes(c));
	float *logits = malloc(sizeof(float) * (size_t)g_model->cfg.n_vocab);
	char err[512];
	int32_t id = 0;
	for (int step = 0; logits && step < 3; step++) {
		int rc = fwd_decode(s, id, logits, err, sizeof(err));
		T_CHECK(rc == 0, "%s: decode step %d: %s", what, step, err);
		if (rc)
			break;
		for (int v = 1; v < g_model->cfg.n_vocab; v++)
			id = logits[v] > logits[id] ? v : id;
		for (int l = 0; l < c->n_layer; l++)
			for (int h = 0; h < c->layers[l].n_head; h++)
				T_CHECK(c->layers[l].len[h] == o->n_kept[(size_t)l * o->n_heads + h] + step + 1,
					"%s: decode step %d did not append one entry to layer %d head %d", what, step, l, h);
	}
	free(logits);
}

/* Runs every case of g on one shared prefill and compares them. Returns failures. */
static int run_cases(const struct golden *g)
{
	static char pbuf[3 * MAX_CASES][256];
	struct harness *hs = calloc(1, sizeof(*hs));
	struct fwd_session *s = NULL;
	char err[512];
	int fails = 0, rc;
	const struct model_config *mc = &g_model->cfg; /* engine/model.h */
	const struct kv_shape shape = { .n_layer = mc->n_layer, .n_head = mc->n_head, .n_head_kv = mc->n_head_kv,
					.head_dim = mc->head_dim, .n_embd = mc->n_embd };
	float *logits = malloc(sizeof(float) * (size_t)mc->n_vocab);
	if (!hs || !logits) {
		free(hs);
		free(logits);
		return 1;
	}
	for (int c = 0; c < g->n_cases; c++) {
		struct kv_args a = { 0 };
		const struct gcase *gc = &g->cases[c];
		const struct kv_method *km = kv_method_find(gc->method);
		snprintf(pbuf[c], sizeof(pbuf[c]), "%s", gc->params);
		if (!km || args_from_params(pbuf[c], &a) != 0) {
			printf("  bad method or parameters '%s %s' in the golden; " REGEN "\n", gc->method, gc->params);
			kv_args_free(&a);
			fails++;
			goto out;
		}
		rc = kv_policy_make(km, &a, &shape, &hs->pol[c], err, sizeof(err));
		kv_args_free(&a);
		hs->n = c + 1;
		if (rc || obs_init(&hs->obs[c], shape.n_layer, shape.n_head_kv, g->n)) {
			printf("  %s %s: %s\n", gc->method, gc->params, rc ? err : "out of memory");
			fails++;
			goto out;
		}
	}
	hs->n_keep = malloc(sizeof(int) * (size_t)shape.n_head);
	hs->rows = malloc(sizeof(int32_t) * (size_t)shape.n_head * g->n);
	hs->ties = calloc((size_t)shape.n_head, sizeof(struct kv_tie));
	if (!hs->n_keep || !hs->rows || !hs->ties) {
		fails++;
		goto out;
	}
	struct kv_policy pol = { .m = &harness_method, .state = hs };
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((rc = fwd_session_init(g_model, &pol, 4, 0, &s, err, sizeof(err))) ||
	    (rc = fwd_prefill(s, g->ids, g->n, false, logits, err, sizeof(err)))) {
		printf("  prefill: %s\n", err);
		fails++;
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("  one prefill of %d tokens ran %d policies (kvpress %s goldens, %s applied to the cache): %.1f s\n", g->n,
	       g->n_cases, g->kvpress, g->cases[0].method,
	       (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
	T_CHECK(hs->failed_record == 0, "%d decisions kept per query head; kvpress keeps per KV head", hs->failed_record);
	for (int c = 0; c < g->n_cases; c++)
		fails += compare_case(&g->cases[c], &hs->obs[c], &g_tally[method_index(g_methods, g->cases[c].method)]);
	if (strcmp(g->cases[0].method, "adakv") == 0) {
		char what[300];
		snprintf(what, sizeof(what), "adakv %s", g->cases[0].params);
		check_applied_cache(s, &hs->obs[0], what);
	}
out:
	fwd_session_free(s);
	for (int c = 0; c < hs->n; c++) {
		kv_policy_free(&hs->pol[c]);
		obs_free(&hs->obs[c]);
	}
	free(hs->n_keep);
	free(hs->rows);
	free(hs->ties);
	free(hs);
	free(logits);
	return fails;
}

// ----------------------------------------------------------------------------
// cases

/* Merges every golden into one (same prompt ids: one prefill); AdaKV's first case first. */
static void kvpress_methods_should_keep_kvpress_positions(void)
{
	struct golden all = { 0 }, g;
	char err[512];
	if (!(all.cases = calloc(3 * MAX_CASES, sizeof(*all.cases)))) {
		T_CHECK(0, "out of memory");
		return;
	}
	for (int i = 0; golden_files[i]; i++) {
		int rc = golden_read(golden_files[i], &g, err, sizeof(err));
		T_CHECK(rc == 0, "%s", err);
		if (rc)
			continue;
		if (!all.ids) { /* the first golden's prompt and header */
			snprintf(all.kvpress, sizeof(all.kvpress), "%s", g.kvpress);
			all.tie_rtol = g.tie_rtol;
			all.n = g.n;
			all.ids = g.ids;
		} else {
			T_CHECK(g.n == all.n && memcmp(g.ids, all.ids, sizeof(int32_t) * (size_t)g.n) == 0,
				"%s: token ids differ from the first golden's; " REGEN, golden_files[i]);
			free(g.ids);
		}
		for (int c = 0; c < g.n_cases; c++) /* the cases move into all */
			all.cases[all.n_cases++] = g.cases[c];
		free(g.cases);
	}
	if (all.ids && all.n_cases > 0 && !t_case_failed) {
		int fails = run_cases(&all);
		T_CHECK(fails == 0, "%d kept sets (or layer totals) differ from kvpress outside the tie bands", fails);
	}
	golden_free(&all);
}

static void golden_reader_should_reject_a_bad_magic(void)
{
	const char *path = "build/kvpress_bad.bin";
	FILE *f = fopen(path, "wb");
	if (!f) {
		T_SKIP("cannot write %s", path);
		return;
	}
	fwrite("KVMS\1\0\0\0", 1, 8, f);
	fclose(f);
	struct golden g;
	char err[512] = "";
	T_CHECK(golden_read(path, &g, err, sizeof(err)) == KV_EFORMAT && strstr(err, path) && strstr(err, "ref_kvpress.py"),
		"got '%s'", err);
	remove(path);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct model *m = NULL;
	char err[512];
	T_RUN(golden_reader_should_reject_a_bad_magic);
	int rc = model_load(T_MODEL, &m, err, sizeof(err));
	if (rc) {
		printf("skip kvpress_methods_should_keep_kvpress_positions: %s (run 'make model')\n", err);
		t_n_skip++;
		return t_done();
	}
	g_model = m;
	T_RUN(kvpress_methods_should_keep_kvpress_positions);
	printf("  totals (kept sets per layer and KV head against kvpress):\n");
	for (int i = 0; g_methods[i]; i++)
		if (g_tally[i].heads)
			printf("    %-10s %5ld compared: %5ld identical, %4ld equal up to ties, %ld different\n", g_methods[i],
			       g_tally[i].heads, g_tally[i].same, g_tally[i].tie, g_tally[i].diff);
	model_free(m);
	return t_done();
}
