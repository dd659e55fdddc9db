/* Golden test: the positions each method keeps on SmolLM2-135M-Instruct, per layer and
 * cache head, and the tokens FastKV / PyramidInfer propagate and GemFilter re-prefills, against
 * tests/golden/methods_<n>.bin from scripts/ref_methods.py (transformers' modules in
 * fp32, selections written from spec/methods.md). Sets must be identical except
 * inside the reference's tie band (scores within its TIE_RTOL of the top-k boundary),
 * with the same count. The last-row logits must match the reference's top 8.
 *
 * Time: SnapKV, H2O, StreamingLLM and FullKV never change the forward (C4), so all of
 * a prompt's cases of those methods share one prefill: a test-local policy calls each
 * of them on every layer view, records its decision and hands the first compressing
 * one to the engine (so one of them also goes through the cache). FastKV, GemFilter and
 * PyramidInfer change the forward and get a prefill each; where a propagated / restart set
 * differs from the reference only inside the tie band, the reference's set is used
 * from there on so that later layers stay comparable (counted and reported).
 *
 * Debugging: KVLAB_METHODS_DUMP=DIR writes each prefill's selection (the JSON lines of
 * kvlab generate --dump_selection) for scripts/ref_methods.py --check_dump;
 * KVLAB_METHODS_APPLY=METHOD picks which shared case goes through the cache.
 *
 * Ties: methods_1500_higher.bin holds cases with tie_break=higher, selected by the
 * reference with the opposite rule (ties to the higher position), and beside it
 * methods_1500_higher.ties every cut's tie record (n_tied, n_kept) computed from the
 * reference's scores. Those cases run one prefill each; their sets must be identical
 * (a difference inside an exact tie group is a failure there), and the session's tie
 * records (what --dump_selection writes) must equal the reference's, cut for cut. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/errors.h"      // kv_errf
#include "engine/forward.h"     // fwd_session_*, fwd_prefill
#include "engine/kv_method.h"   // struct kv_method, kv_policy_prefill_layer
#include "engine/kvcache.h"     // struct kv_cache, struct kv_layer
#include "engine/model.h"       // model_load
#include "methods/params.h"     // struct kv_args
#include "eval/selection.h"     // selection_dump (KVLAB_METHODS_DUMP)
#include "methods/registry.h"   // kv_policy_make, kv_method_find
#include "tests/golden_sets.h" // struct pset, compare_set, struct tally, args_from_params
#include "tests/test.h"

#define GOLDEN_VERSION 1
#define REGEN "regenerate with scripts/ref_methods.py"
#define LOGIT_TOL 2e-3f          /* |logit - reference| at the reference's top 8 */
#define MAX_TOP 16

static const char *const golden_files[] = { "tests/golden/methods_1500.bin", "tests/golden/methods_3000.bin",
					    "tests/golden/methods_1500_higher.bin", NULL };

// ----------------------------------------------------------------------------
// golden file reader (format: see scripts/ref_methods.py)

struct gold_head {
	struct pset kept, band;
};

struct gold_layer {
	int n_alive, n_heads;
	struct gold_head *heads; /* (n_heads,) */
	bool propagates;         /* fewer tokens go on to the next layer (FastKV's TSP, PyramidInfer) */
	struct pset prop, prop_band;
};

struct gold_case {
	char method[17];
	char params[256];
	int n_layer;
	struct gold_layer *layers;   /* (n_layer,) */
	int restart_layer;           /* -1: no restart */
	struct pset restart, restart_band;
	int argmax;
	float margin;
	int n_top;
	int32_t top_id[MAX_TOP];
	float top_logit[MAX_TOP];
};

struct golden {
	char sha[65];
	float rtol;
	int n;                       /* prompt tokens */
	int32_t *ids;                /* (n,) */
	int n_cases;
	struct gold_case *cases;     /* (n_cases,) */
};

struct cursor {
	const uint8_t *p, *end;
	const char *path;
	char *err;
	size_t errlen;
	int rc;
};

static bool take(struct cursor *c, void *dst, size_t n)
{
	if (c->rc)
		return false;
	if ((size_t)(c->end - c->p) < n) {
		c->rc = kv_errf(c->err, c->errlen, KV_EFORMAT, "%s: truncated at byte %zu; " REGEN, c->path,
				(size_t)(c->end - c->p));
		return false;
	}
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

static void fail_format(struct cursor *c, const char *what)
{
	if (!c->rc)
		c->rc = kv_errf(c->err, c->errlen, KV_EFORMAT, "%s: bad %s; " REGEN, c->path, what);
}

static uint32_t varint(const uint8_t **p, const uint8_t *end, bool *ok)
{
	uint32_t v = 0;
	for (int s = 0; s < 35; s += 7) {
		if (*p >= end) {
			*ok = false;
			return 0;
		}
		uint8_t b = *(*p)++;
		v |= (uint32_t)(b & 0x7f) << s;
		if (!(b & 0x80))
			return v;
	}
	*ok = false;
	return 0;
}

/* SET = varint count; u8 enc; varint nbytes; payload (0: varint runs, 1: bitmap over
 * 0..universe-1, 2: varint gaps). */
static void take_set(struct cursor *c, int universe, struct pset *out)
{
	bool ok = true;
	uint32_t count = 0, nbytes = 0;
	uint8_t enc = 0;
	if (!c->rc) {
		count = varint(&c->p, c->end, &ok);
		if (ok && c->p < c->end)
			enc = *c->p++;
		else
			ok = false;
		nbytes = ok ? varint(&c->p, c->end, &ok) : 0;
	}
	if (c->rc)
		return;
	if (!ok || count > (uint32_t)universe || nbytes > (size_t)(c->end - c->p) || enc > 2)
		return fail_format(c, "position set header");
	out->n = (int)count;
	out->p = malloc(sizeof(int32_t) * (count ? count : 1));
	if (!out->p) {
		c->rc = kv_errf(c->err, c->errlen, KV_ENOMEM, "out of memory");
		return;
	}
	const uint8_t *p = c->p, *end = c->p + nbytes;
	int k = 0;
	if (enc == 0) {
		uint32_t at = 0;
		while (p < end && ok) {
			at += varint(&p, end, &ok);
			uint32_t run = ok ? varint(&p, end, &ok) : 0;
			for (uint32_t i = 0; ok && i < run; i++, at++) {
				if (k >= (int)count || at >= (uint32_t)universe)
					ok = false;
				else
					out->p[k++] = (int32_t)at;
			}
		}
	} else if (enc == 1) {
		if (nbytes != (uint32_t)(universe + 7) / 8)
			ok = false;
		for (int i = 0; ok && i < universe; i++)
			if (p[i >> 3] >> (i & 7) & 1) {
				if (k >= (int)count)
					ok = false;
				else
					out->p[k++] = i;
			}
	} else {
		int64_t at = -1;
		while (p < end && ok) {
			at += 1 + (int64_t)varint(&p, end, &ok);
			if (!ok || k >= (int)count || at >= universe)
				ok = false;
			else
				out->p[k++] = (int32_t)at;
		}
	}
	if (!ok || k != (int)count)
		return fail_format(c, "position set payload");
	c->p = end;
}

static void golden_free(struct golden *g)
{
	for (int i = 0; g->cases && i < g->n_cases; i++) {
		struct gold_case *gc = &g->cases[i];
		for (int l = 0; gc->layers && l < gc->n_layer; l++) {
			for (int h = 0; gc->layers[l].heads && h < gc->layers[l].n_heads; h++) {
				free(gc->layers[l].heads[h].kept.p);
				free(gc->layers[l].heads[h].band.p);
			}
			free(gc->layers[l].heads);
			free(gc->layers[l].prop.p);
			free(gc->layers[l].prop_band.p);
		}
		free(gc->layers);
		free(gc->restart.p);
		free(gc->restart_band.p);
	}
	free(g->cases);
	free(g->ids);
	memset(g, 0, sizeof(*g));
}

static void take_case(struct cursor *c, int universe, struct gold_case *gc)
{
	char tag[4];
	uint16_t plen = 0;
	gc->restart_layer = -1;
	if (take(c, tag, 4) && memcmp(tag, "CASE", 4) != 0)
		return fail_format(c, "case tag");
	take(c, gc->method, 16);
	take(c, &plen, 2);
	if (plen >= sizeof(gc->params))
		return fail_format(c, "parameter string length");
	take(c, gc->params, plen);
	gc->n_layer = (int)take_u32(c);
	if (c->rc)
		return;
	if (gc->n_layer <= 0 || gc->n_layer > 1024)
		return fail_format(c, "layer count");
	if (!(gc->layers = calloc((size_t)gc->n_layer, sizeof(*gc->layers)))) {
		c->rc = kv_errf(c->err, c->errlen, KV_ENOMEM, "out of memory");
		return;
	}
	for (int l = 0; l < gc->n_layer && !c->rc; l++) {
		struct gold_layer *L = &gc->layers[l];
		L->n_alive = (int)take_u32(c);
		L->n_heads = (int)take_u32(c);
		if (c->rc)
			return;
		if (L->n_heads <= 0 || L->n_heads > 1024 || L->n_alive > universe)
			return fail_format(c, "layer header");
		if (!(L->heads = calloc((size_t)L->n_heads, sizeof(*L->heads)))) {
			c->rc = kv_errf(c->err, c->errlen, KV_ENOMEM, "out of memory");
			return;
		}
		for (int h = 0; h < L->n_heads; h++) {
			take_set(c, universe, &L->heads[h].kept);
			take_set(c, universe, &L->heads[h].band);
		}
		uint8_t flag = 0;
		take(c, &flag, 1);
		if (flag > 1)
			return fail_format(c, "propagation flag");
		if ((L->propagates = flag)) {
			take_set(c, universe, &L->prop);
			take_set(c, universe, &L->prop_band);
		}
	}
	int32_t layer = -1;
	take(c, &layer, 4);
	if ((gc->restart_layer = layer) >= 0) {
		take_set(c, universe, &gc->restart);
		take_set(c, universe, &gc->restart_band);
	}
	take(c, &gc->argmax, 4);
	take(c, &gc->margin, 4);
	gc->n_top = (int)take_u32(c);
	if (c->rc)
		return;
	if (gc->n_top < 1 || gc->n_top > MAX_TOP)
		return fail_format(c, "top-logit count");
	for (int i = 0; i < gc->n_top; i++) {
		take(c, &gc->top_id[i], 4);
		take(c, &gc->top_logit[i], 4);
	}
}

/* Reads a golden file; caller frees with golden_free (also after a failure). */
static int golden_read(const char *path, struct golden *g, char *err, size_t errlen)
{
	memset(g, 0, sizeof(*g));
	FILE *f = fopen(path, "rb");
	if (!f)
		return kv_errf(err, errlen, KV_EIO, "%s: cannot open; " REGEN, path);
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *buf = malloc(size > 0 ? (size_t)size : 1);
	if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
		free(buf);
		fclose(f);
		return kv_errf(err, errlen, KV_EIO, "%s: cannot read", path);
	}
	fclose(f);
	struct cursor c = { .p = buf, .end = buf + size, .path = path, .err = err, .errlen = errlen };
	char magic[4] = { 0 };
	take(&c, magic, 4);
	uint32_t version = take_u32(&c);
	if (!c.rc && (memcmp(magic, "KVMS", 4) != 0 || version != GOLDEN_VERSION))
		c.rc = kv_errf(err, errlen, KV_EFORMAT, "%s: magic '%.4s' version %u, expected 'KVMS' version %d; " REGEN, path,
			       magic, version, GOLDEN_VERSION);
	take(&c, g->sha, 64);
	take(&c, &g->rtol, 4);
	g->n = (int)take_u32(&c);
	if (!c.rc && (g->n <= 0 || g->n > 1 << 20))
		fail_format(&c, "token count");
	if (!c.rc && !(g->ids = malloc(sizeof(int32_t) * (size_t)g->n)))
		c.rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	if (!c.rc)
		take(&c, g->ids, sizeof(int32_t) * (size_t)g->n);
	g->n_cases = (int)take_u32(&c);
	if (!c.rc && (g->n_cases <= 0 || g->n_cases > 4096))
		fail_format(&c, "case count");
	if (!c.rc && !(g->cases = calloc((size_t)g->n_cases, sizeof(*g->cases))))
		c.rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	for (int i = 0; !c.rc && i < g->n_cases; i++)
		take_case(&c, g->n, &g->cases[i]);
	if (!c.rc && c.p != c.end)
		fail_format(&c, "length (trailing bytes)");
	if (c.rc)
		g->n_cases = g->cases ? g->n_cases : 0;
	free(buf);
	return c.rc;
}

// ----------------------------------------------------------------------------
// what kvlab kept

struct obs_layer {
	int n_alive, n_heads;
	struct pset *heads;   /* (n_heads,) ascending positions */
	bool propagates;
	struct pset prop;     /* the tokens kvlab's policy sent on (before any substitution) */
};

struct obs {
	int n_layer;
	struct obs_layer *layers;
	int restart_layer;
	struct pset restart;
	int n_substituted;    /* prop/restart sets replaced by the reference's tie-equivalent one */
};

static void obs_free(struct obs *o)
{
	for (int l = 0; o->layers && l < o->n_layer; l++) {
		for (int h = 0; o->layers[l].heads && h < o->layers[l].n_heads; h++)
			free(o->layers[l].heads[h].p);
		free(o->layers[l].heads);
		free(o->layers[l].prop.p);
	}
	free(o->layers);
	free(o->restart.p);
	memset(o, 0, sizeof(*o));
}

/* Sorted copy of pos[rows[i]] (rows == NULL: pos[0..n)). */
static void pset_from_rows(struct pset *s, const int32_t *pos, const int32_t *rows, int n)
{
	s->n = n;
	if (!(s->p = malloc(sizeof(int32_t) * (n ? n : 1)))) {
		s->n = 0; /* shows up as a count mismatch */
		return;
	}
	for (int i = 0; i < n; i++)
		s->p[i] = rows ? pos[rows[i]] : pos[i];
	qsort(s->p, (size_t)n, sizeof(int32_t), cmp_i32);
}

static void obs_layer_set(struct obs_layer *L, int n_alive, int n_heads)
{
	for (int h = 0; L->heads && h < L->n_heads; h++)
		free(L->heads[h].p);
	free(L->heads);
	L->n_alive = n_alive;
	L->heads = calloc((size_t)n_heads, sizeof(*L->heads));
	L->n_heads = L->heads ? n_heads : 0; /* no memory: shows up as a head-count mismatch */
}

/* Records a prefill decision d for view v as positions. */
static void obs_record(struct obs *o, const struct kv_layer_view *v, const struct kv_decision *d)
{
	struct obs_layer *L = &o->layers[v->layer];
	int H = v->shape->n_head, Hkv = v->shape->n_head_kv, T = v->n;
	int nh = d->keep_all ? Hkv : (d->per_query_head ? H : Hkv);
	obs_layer_set(L, T, nh);
	for (int h = 0; h < nh; h++) {
		if (d->keep_all)
			pset_from_rows(&L->heads[h], v->pos, NULL, T);
		else
			pset_from_rows(&L->heads[h], v->pos, d->keep + (size_t)h * T, d->n_keep[h]);
	}
}

/* Reads what the session's cache and trace hold after prefill. */
static void obs_from_session(struct obs *o, const struct fwd_session *s)
{
	const struct kv_cache *c = s->cache;
	for (int l = 0; l < c->n_layer; l++) {
		const struct kv_layer *K = &c->layers[l];
		obs_layer_set(&o->layers[l], s->trace.n_alive[l], K->n_head);
		for (int h = 0; h < K->n_head; h++)
			pset_from_rows(&o->layers[l].heads[h], K->pos + (size_t)h * K->cap, NULL, K->len[h]);
	}
}

// ----------------------------------------------------------------------------
// comparison

/* Compares a case's observations with its golden; prints a summary line and the first
 * few differences. Returns the number of failures. */
static int compare_case(const struct golden *g, const struct gold_case *gc, const struct obs *o, const float *logits,
			struct tally *tot)
{
	struct tally t = { 0 };
	int fails = 0, shown = 0;
	char msg[256];
	for (int l = 0; l < gc->n_layer; l++) {
		const struct gold_layer *R = &gc->layers[l];
		const struct obs_layer *G = l < o->n_layer ? &o->layers[l] : NULL;
		if (!G || G->n_alive != R->n_alive || G->n_heads != R->n_heads) {
			fails++;
			if (shown++ < 5)
				fprintf(stderr, "  %s %s: layer %d: %d tokens alive, %d cache heads; reference %d, %d\n", gc->method,
					gc->params, l, G ? G->n_alive : -1, G ? G->n_heads : -1, R->n_alive, R->n_heads);
			continue;
		}
		for (int h = 0; h < R->n_heads; h++) {
			t.heads++;
			t.banded += R->heads[h].band.n > 0;
			enum cmp r = compare_set(&R->heads[h].kept, &R->heads[h].band, &G->heads[h], msg, sizeof(msg));
			if (r == CMP_SAME)
				t.same++;
			else if (r == CMP_TIE)
				t.tie++;
			else {
				t.diff++;
				fails++;
				if (shown++ < 5)
					fprintf(stderr, "  %s %s: layer %d head %d differs outside the tie band: %s\n", gc->method, gc->params,
						l, h, msg);
			}
		}
	}
	/* propagated sets (FastKV's TSP, PyramidInfer), then GemFilter's restart */
	struct tally tp = { 0 };
	for (int l = 0; l < gc->n_layer && l < o->n_layer; l++) {
		const struct gold_layer *R = &gc->layers[l];
		const struct obs_layer *G = &o->layers[l];
		if (!R->propagates && !G->propagates)
			continue;
		tp.heads++;
		if (R->propagates != G->propagates) {
			fails++;
			tp.diff++;
			fprintf(stderr, "  %s %s: layer %d %s fewer tokens on; the reference %s\n", gc->method, gc->params, l,
				G->propagates ? "sends" : "does not send", R->propagates ? "does" : "does not");
			continue;
		}
		enum cmp r = compare_set(&R->prop, &R->prop_band, &G->prop, msg, sizeof(msg));
		tp.same += r == CMP_SAME;
		tp.tie += r == CMP_TIE;
		if (r == CMP_DIFF) {
			fails++;
			tp.diff++;
			fprintf(stderr, "  %s %s: tokens propagated after layer %d differ outside the tie band: %s\n", gc->method,
				gc->params, l, msg);
		}
	}
	char extra[200] = "";
	size_t eo = 0;
	if (tp.heads)
		eo += (size_t)snprintf(extra, sizeof(extra), "; propagated sets %ld: %ld identical, %ld ties only, %ld different",
				       tp.heads, tp.same, tp.tie, tp.diff);
	if (gc->restart_layer >= 0 || o->restart_layer >= 0) {
		enum cmp r = CMP_DIFF;
		if (gc->restart_layer != o->restart_layer)
			fprintf(stderr, "  %s %s: restart at layer %d, reference at layer %d\n", gc->method, gc->params, o->restart_layer,
				gc->restart_layer);
		else if ((r = compare_set(&gc->restart, &gc->restart_band, &o->restart, msg, sizeof(msg))) == CMP_DIFF)
			fprintf(stderr, "  %s %s: restart set differs outside the tie band: %s\n", gc->method, gc->params, msg);
		fails += r == CMP_DIFF;
		snprintf(extra + eo, sizeof(extra) - eo, "; restart %d tokens at layer %d: %s", o->restart.n, o->restart_layer,
			 r == CMP_SAME ? "identical" : r == CMP_TIE ? "ties only" : "DIFFERENT");
	}
	float worst = 0.0f;
	int worst_id = gc->top_id[0], best = 0;
	for (int i = 0; i < gc->n_top; i++) {
		float dlt = logits[gc->top_id[i]] - gc->top_logit[i];
		dlt = dlt < 0 ? -dlt : dlt;
		if (dlt > worst) {
			worst = dlt;
			worst_id = gc->top_id[i];
		}
	}
	for (int i = 1; i < gc->n_top; i++)
		if (logits[gc->top_id[i]] > logits[gc->top_id[best]])
			best = i;
	bool argmax_ok = gc->top_id[best] == gc->argmax || gc->margin < 2 * LOGIT_TOL;
	if (!(worst <= LOGIT_TOL) || !argmax_ok) {
		fails++;
		fprintf(stderr, "  %s %s: last-row logits differ from the reference by %.2e at id %d (tol %.0e), argmax %d vs %d "
			"(is the model the one the golden was made from, sha256 %.12s...?)\n", gc->method, gc->params, worst, worst_id,
			LOGIT_TOL, gc->top_id[best], gc->argmax, g->sha);
	}
	printf("  %-12s %-70s heads %5ld: %5ld identical, %4ld ties only (%ld with a tie band), %ld different; logits max|diff| %.1e%s%s\n",
	       gc->method, gc->params, t.heads, t.same, t.tie, t.banded, t.diff, worst, extra,
	       o->n_substituted ? " (reference set used after the tie)" : "");
	tot->heads += t.heads;
	tot->same += t.same;
	tot->tie += t.tie;
	tot->diff += t.diff;
	tot->banded += t.banded;
	return fails;
}

// ----------------------------------------------------------------------------
// tie records: the golden's .ties sidecar against the session's trace

struct tie_rec {
	int case_i, kind, layer, head, n_tied, n_kept; /* kind 0 kv, 1 prop, 2 restart; head -1 for 1 and 2 */
};

struct tie_file {
	struct tie_rec *r;
	int n;
};

static const char *const tie_kinds[] = { "kv", "prop", "restart" };

/* Reads PATH.ties beside the golden PATH.bin into tf (tf->r malloc'd, caller frees); returns
 * 0 and n = 0 when there is none, KV_EFORMAT on a malformed line. */
static int ties_read(const char *golden_path, struct tie_file *tf, char *err, size_t errlen)
{
	char path[512];
	size_t len = strlen(golden_path);
	memset(tf, 0, sizeof(*tf));
	if (len < 4 || len + 2 >= sizeof(path))
		return 0;
	snprintf(path, sizeof(path), "%.*s.ties", (int)(len - 4), golden_path);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char line[256], kind[16];
	int lineno = 0, cap = 0, rc = 0;
	while (!rc && fgets(line, sizeof(line), f)) {
		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		struct tie_rec r = { .kind = -1 };
		if (sscanf(line, "%d %15s %d %d %d %d", &r.case_i, kind, &r.layer, &r.head, &r.n_tied, &r.n_kept) != 6) {
			rc = kv_errf(err, errlen, KV_EFORMAT, "%s:%d: expected case, cut, layer, head, n_tied, n_kept; " REGEN, path, lineno);
			break;
		}
		for (int k = 0; k < 3; k++)
			if (!strcmp(kind, tie_kinds[k]))
				r.kind = k;
		if (r.kind < 0) {
			rc = kv_errf(err, errlen, KV_EFORMAT, "%s:%d: unknown cut '%s'; " REGEN, path, lineno, kind);
			break;
		}
		if (tf->n == cap) {
			cap = cap ? 2 * cap : 256;
			struct tie_rec *g = realloc(tf->r, sizeof(*g) * (size_t)cap);
			if (!g) {
				rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
				break;
			}
			tf->r = g;
		}
		tf->r[tf->n++] = r;
	}
	fclose(f);
	return rc;
}

/* The session's tie record of one cut (zeros: no cut there). */
static struct kv_tie trace_tie(const struct fwd_trace *t, int kind, int layer, int head)
{
	if (kind == 2)
		return t->restart_layer == layer ? t->restart_tie : (struct kv_tie){ 0, 0 };
	if (layer < 0 || layer >= t->n_layer)
		return (struct kv_tie){ 0, 0 };
	if (kind == 1)
		return t->prop_tie[layer];
	return head >= 0 && head < t->tie_heads ? t->kv_tie[(size_t)layer * t->tie_heads + head] : (struct kv_tie){ 0, 0 };
}

static const struct tie_file *g_ties; /* the current golden's .ties, or NULL */
static long g_tie_cuts, g_tie_inside;

/* Compares the tie records of case ci with the session's: every reference record equal, and
 * no session record (n_tied > 0) the reference lacks. Returns failures. */
static int compare_ties(const struct tie_file *tf, int ci, const char *label, const struct fwd_trace *t)
{
	int fails = 0, n_ref = 0, inside = 0;
	for (int i = 0; i < tf->n; i++) {
		const struct tie_rec *r = &tf->r[i];
		if (r->case_i != ci)
			continue;
		n_ref++;
		inside += r->n_kept < r->n_tied;
		struct kv_tie got = trace_tie(t, r->kind, r->layer, r->head);
		if (got.n_tied != r->n_tied || got.n_kept != r->n_kept) {
			if (fails++ < 5)
				fprintf(stderr, "  %s: %s cut of layer %d head %d: n_tied %d n_kept %d, reference %d %d\n", label,
					tie_kinds[r->kind], r->layer, r->head, got.n_tied, got.n_kept, r->n_tied, r->n_kept);
		}
	}
	int n_got = 0; /* the session's records; each must be one of the reference's */
	for (int l = 0; l < t->n_layer; l++) {
		for (int h = 0; h < t->tie_heads; h++)
			n_got += t->kv_tie[(size_t)l * t->tie_heads + h].n_tied > 0;
		n_got += t->prop_tie[l].n_tied > 0;
	}
	n_got += t->restart_tie.n_tied > 0;
	if (n_got != n_ref) {
		fails++;
		fprintf(stderr, "  %s: the session recorded %d cuts with ties, the reference %d\n", label, n_got, n_ref);
	}
	printf("  %-12s tie records: %d cuts, %d inside a tie group (the rule decided), %d disagreeing\n", label, n_ref, inside,
	       fails);
	g_tie_cuts += n_ref;
	g_tie_inside += inside;
	return fails;
}

// ----------------------------------------------------------------------------
// the harness policy: runs several policies on every layer view, applies one

struct harness {
	int n;                            /* child policies */
	struct kv_policy pol[32];
	const struct gold_case *gc[32];
	struct obs obs[32];
	int applied;                      /* child whose decision the engine applies (its obs come from the session) */
	int *n_keep;                      /* (H,) scratch decision for the other children */
	int32_t *rows;                    /* (H*N + 2N) */
};

/* Positions -> rows of the view (ascending, binary search); false when one is not alive. */
static bool rows_from_positions(const struct kv_layer_view *v, const struct pset *s, int32_t *rows)
{
	for (int i = 0; i < s->n; i++) {
		const int32_t *hit = bsearch(&s->p[i], v->pos, (size_t)v->n, sizeof(int32_t), cmp_i32);
		if (!hit)
			return false;
		rows[i] = (int32_t)(hit - v->pos);
	}
	return true;
}

/* Records a propagate/restart list as positions; when it differs from the reference only
 * inside the tie band, replaces it with the reference's rows so that the next layers
 * stay comparable. ref == NULL: the reference has no list here. */
static void guide_list(struct harness *hs, int c, const struct kv_layer_view *v, int *n, int32_t *rows, struct pset *obs_set,
		       const struct pset *ref, const struct pset *band)
{
	free(obs_set->p);
	pset_from_rows(obs_set, v->pos, rows, *n);
	char msg[256];
	if (ref && compare_set(ref, band, obs_set, msg, sizeof(msg)) == CMP_TIE && rows_from_positions(v, ref, rows)) {
		*n = ref->n;
		hs->obs[c].n_substituted++;
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
		struct kv_decision *dc = c == hs->applied ? d : &own;
		if ((rc = kv_policy_prefill_layer(&hs->pol[c], v, dc, err, errlen)))
			return rc;
		if (c != hs->applied) {
			if (dc->n_prop || dc->n_restart)
				return kv_errf(err, errlen, KV_EINTERNAL, "harness: %s propagates or restarts; run it alone",
					       hs->gc[c]->method);
			obs_record(&hs->obs[c], v, dc);
			continue;
		}
		const struct gold_case *gc = hs->gc[c];
		if (d->n_prop > 0 && d->n_prop < T && v->layer < gc->n_layer) {
			const struct gold_layer *R = &gc->layers[v->layer];
			hs->obs[c].layers[v->layer].propagates = true;
			guide_list(hs, c, v, &d->n_prop, d->prop, &hs->obs[c].layers[v->layer].prop, R->propagates ? &R->prop : NULL,
				   &R->prop_band);
		}
		if (d->n_restart > 0) {
			hs->obs[c].restart_layer = v->layer;
			guide_list(hs, c, v, &d->n_restart, d->restart, &hs->obs[c].restart,
				   gc->restart_layer == v->layer ? &gc->restart : NULL, &gc->restart_band);
		}
	}
	return 0;
}

/* Built by hand in run_group (no init / free_state: its state is a struct harness). */
static const struct kv_method harness_method = {
	.name = "harness",
	.summary = "test-only: runs several policies on every layer and applies the first",
	.prefill_layer = harness_prefill_layer,
};

static const struct model *g_model;
static double g_seconds, g_cpu;
static struct tally g_tally[8];
static const char *const g_methods[] = { "fullkv", "snapkv", "h2o", "streamingllm", "fastkv", "gemfilter", "pyramidinfer",
					 NULL };
static int g_n_substituted, g_n_dumps;

/* Runs one prefill on the golden's prompt with the given cases as children (the first
 * non-fullkv one applied) and compares every case. Returns failures. */
static int run_group(const struct golden *g, const struct gold_case *const *cases, int n_cases)
{
	static char pbuf[32][256];
	struct harness *hs = calloc(1, sizeof(*hs));
	struct fwd_session *s = NULL;
	char err[512];
	int fails = 0, rc;
	const struct kv_shape shape = { .n_layer = g_model->cfg.n_layer, .n_head = g_model->cfg.n_head,
					.n_head_kv = g_model->cfg.n_head_kv, .head_dim = g_model->cfg.head_dim,
					.n_embd = g_model->cfg.n_embd };
	float *logits = malloc(sizeof(float) * (size_t)g_model->cfg.n_vocab);
	if (!hs || !logits || n_cases > 32) {
		free(hs);
		free(logits);
		return 1;
	}
	hs->n = n_cases;
	hs->applied = 0;
	bool applied_set = false;
	for (int c = 0; c < n_cases; c++) {
		struct kv_args a = { 0 };
		const struct kv_method *km = kv_method_find(cases[c]->method);
		snprintf(pbuf[c], sizeof(pbuf[c]), "%s", cases[c]->params);
		hs->gc[c] = cases[c];
		hs->obs[c] = (struct obs){ .n_layer = shape.n_layer, .restart_layer = -1 };
		if (!(hs->obs[c].layers = calloc((size_t)shape.n_layer, sizeof(struct obs_layer)))) {
			fprintf(stderr, "  out of memory\n");
			fails++;
			goto out;
		}
		if (!km || args_from_params(pbuf[c], &a) != 0) {
			fprintf(stderr, "  bad method or parameter string '%s %s' in the golden; " REGEN "\n", cases[c]->method,
				cases[c]->params);
			kv_args_free(&a);
			fails++;
			goto out;
		}
		rc = kv_policy_make(km, &a, &shape, &hs->pol[c], err, sizeof(err));
		kv_args_free(&a);
		if (rc) {
			fprintf(stderr, "  %s %s: %s\n", cases[c]->method, cases[c]->params, err);
			fails++;
			goto out;
		}
		const char *want = getenv("KVLAB_METHODS_APPLY"); /* debugging: which shared case goes to the cache */
		bool pick = want ? strcmp(cases[c]->method, want) == 0 : strcmp(cases[c]->method, "fullkv") != 0;
		if (!applied_set && pick) {
			hs->applied = c;
			applied_set = true;
		}
	}
	hs->n_keep = malloc(sizeof(int) * (size_t)shape.n_head);
	hs->rows = malloc(sizeof(int32_t) * ((size_t)shape.n_head * g->n + 2 * (size_t)g->n));
	if (!hs->n_keep || !hs->rows) {
		fprintf(stderr, "  out of memory\n");
		fails++;
		goto out;
	}
	struct kv_policy pol = { .m = &harness_method, .state = hs };
	struct timespec t0, t1;
	clock_t c0 = clock();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((rc = fwd_session_init(g_model, &pol, 0, 0, &s, err, sizeof(err))) ||
	    (rc = fwd_prefill(s, g->ids, g->n, false, logits, err, sizeof(err)))) {
		fprintf(stderr, "  prefill (%s ...): %s\n", cases[0]->method, err);
		fails++;
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double sec = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
	g_seconds += sec;
	obs_from_session(&hs->obs[hs->applied], s);
	if (g_ties && n_cases == 1)
		fails += compare_ties(g_ties, (int)(cases[0] - g->cases), cases[0]->method, &s->trace);
	const char *dump_dir = getenv("KVLAB_METHODS_DUMP"); /* debugging: scripts/ref_methods.py --check_dump reads these */
	if (dump_dir) {
		char path[512];
		snprintf(path, sizeof(path), "%s/%d_%s_%d.jsonl", dump_dir, g->n, cases[hs->applied]->method, g_n_dumps++);
		if (selection_dump(s, path, err, sizeof(err)) == 0)
			printf("  wrote %s (%s %s)\n", path, cases[hs->applied]->method, cases[hs->applied]->params);
	}
	double cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
	g_cpu += cpu;
	printf("  prefill of %d tokens with %d polic%s (%s%s applied to the cache): %.1f s, %.1f s CPU\n", g->n, n_cases,
	       n_cases > 1 ? "ies" : "y", cases[hs->applied]->method, n_cases > 1 ? " cases" : "", sec, cpu);
	for (int c = 0; c < n_cases; c++) {
		fails += compare_case(g, cases[c], &hs->obs[c], logits, &g_tally[method_index(g_methods, cases[c]->method)]);
		g_n_substituted += hs->obs[c].n_substituted;
	}
out:
	fwd_session_free(s);
	for (int c = 0; c < n_cases; c++) {
		kv_policy_free(&hs->pol[c]);
		obs_free(&hs->obs[c]);
	}
	free(hs->n_keep);
	free(hs->rows);
	free(hs);
	free(logits);
	return fails;
}

// ----------------------------------------------------------------------------
// cases

static const char *g_path;

static bool shares_forward(const char *m)
{
	return strcmp(m, "fullkv") == 0 || strcmp(m, "snapkv") == 0 || strcmp(m, "h2o") == 0 ||
	       strcmp(m, "streamingllm") == 0;
}

static void methods_should_keep_the_reference_positions(void)
{
	struct golden g;
	char err[512];
	int rc = golden_read(g_path, &g, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (rc) {
		golden_free(&g);
		return;
	}
	for (int i = 0; i < g.n_cases; i++)
		if (g.cases[i].n_layer != g_model->cfg.n_layer) {
			T_CHECK(false, "%s: case %d has %d layers, the model %d; " REGEN, g_path, i, g.cases[i].n_layer,
				g_model->cfg.n_layer);
			golden_free(&g);
			return;
		}
	printf("  %s: %d tokens, %d cases, tie band rtol %.0e, model sha256 %.12s...\n", g_path, g.n, g.n_cases, g.rtol, g.sha);
	const struct gold_case *shared[32];
	int n_shared = 0, fails = 0;
	struct tie_file tf;
	rc = ties_read(g_path, &tf, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	g_ties = tf.n > 0 ? &tf : NULL; /* with tie records every case runs alone: the session traces its cuts */
	long tie_only_before = 0;
	for (int i = 0; i < 8; i++)
		tie_only_before += g_tally[i].tie;
	for (int i = 0; i < g.n_cases; i++)
		if (!kv_method_find(g.cases[i].method))
			T_SKIP("%s %s: no such method in this build", g.cases[i].method, g.cases[i].params);
		else if (!g_ties && shares_forward(g.cases[i].method) && n_shared < 32)
			shared[n_shared++] = &g.cases[i];
	if (n_shared)
		fails += run_group(&g, shared, n_shared);
	for (int i = 0; i < g.n_cases; i++)
		if (kv_method_find(g.cases[i].method) && (g_ties || !shares_forward(g.cases[i].method))) {
			const struct gold_case *one = &g.cases[i];
			fails += run_group(&g, &one, 1);
		}
	T_CHECK(fails == 0, "%d disagreements with %s (details above)", fails, g_path);
	if (g_ties) { /* the opposite rule: exact ties must resolve exactly as the reference resolved them */
		long tie_only = -tie_only_before;
		for (int i = 0; i < 8; i++)
			tie_only += g_tally[i].tie;
		T_CHECK(tie_only == 0, "%s: %ld sets differ from the reference inside tie groups (the tie rule is not applied as the reference applies it)",
			g_path, tie_only);
		T_CHECK(g_tie_inside > 0, "%s: no cut fell inside a tie group, so the file proves nothing about the rule; " REGEN,
			g_path);
	}
	g_ties = NULL;
	free(tf.r);
	golden_free(&g);
}

static void golden_reader_should_reject_a_bad_magic(void)
{
	const char *path = "build/methods_golden_bad.bin";
	FILE *f = fopen(path, "wb");
	T_CHECK(f != NULL, "cannot write %s", path);
	if (!f)
		return;
	fwrite("KVMX\1\0\0\0", 1, 8, f);
	fclose(f);
	struct golden g;
	char err[512];
	int rc = golden_read(path, &g, err, sizeof(err));
	T_CHECK(rc == KV_EFORMAT && strstr(err, "ref_methods.py") && strstr(err, path), "rc %d, '%s'", rc, err);
	golden_free(&g);
	remove(path);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0); /* keep stdout lines in order with the stderr details */
	struct model *m = NULL;
	char err[512];
	T_RUN(golden_reader_should_reject_a_bad_magic);
	int rc = model_load(T_MODEL, &m, err, sizeof(err));
	if (rc) {
		printf("FAIL model: %s (run 'make model')\n", err);
		t_n_fail++;
		return t_done();
	}
	g_model = m;
	for (int i = 0; golden_files[i]; i++) {
		char name[160];
		g_path = golden_files[i];
		snprintf(name, sizeof(name), "methods_should_keep_the_reference_positions (%s)", g_path);
		t_run(name, methods_should_keep_the_reference_positions);
	}
	printf("  totals (kept sets per layer and cache head):\n");
	for (int i = 0; g_methods[i]; i++)
		if (g_tally[i].heads)
			printf("    %-12s %6ld compared: %6ld identical, %4ld differ only inside tie bands, %ld different\n", g_methods[i],
			       g_tally[i].heads, g_tally[i].same, g_tally[i].tie, g_tally[i].diff);
	printf("  %d propagated/restart sets replaced by the reference's after a tie; prefills took %.1f s (%.1f s CPU)\n",
	       g_n_substituted, g_seconds, g_cpu);
	model_free(m);
	return t_done();
}
