/* Top-k ties (issue 24): sel_topk_cut's tie records and tie rules, --tie_break and
 * --gemfilter_fp16 as parameters (refused where a method has no top-k, absent from the
 * describe JSON at their defaults), kv_round_fp16, and on the method golden prompt
 * (tests/golden/methods_1500.bin's token ids, SmolLM2-135M-Instruct): for FastKV (KV and
 * TSP), SnapKV, H2O and GemFilter, every cut's tie record equals the one computed here
 * from the method's scores (recomputed with the same primitives, in the same order), the
 * --dump_selection file carries those records, and --tie_break higher keeps exactly the
 * upper members of each tie group where lower keeps the lower ones, everything above the
 * k-th score being the same. The golden files hold kept sets and tie bands but no scores,
 * hence scores from kvlab itself. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "engine/forward.h"     // fwd_session_*, fwd_prefill, struct fwd_trace
#include "engine/kv_method.h"   // struct kv_decision, kv_view_*, kv_round_fp16
#include "engine/model.h"       // model_load
#include "eval/selection.h"     // selection_dump
#include "methods/params.h"     // struct kv_args, kv_tie_break_parse
#include "methods/registry.h"   // kv_policy_make, kv_method_find
#include "methods/select.h"     // sel_topk_cut, sel_window_scores, sel_pool
#include "tests/test.h"

#define GOLDEN "tests/golden/methods_1500.bin"

// ----------------------------------------------------------------------------
// unit cases

static void sel_topk_cut_should_record_ties_and_order_them_by_rule(void)
{
	const float x[] = { 5, 3, 3, 3, 1, 3 }; /* the 3s at 1, 2, 3, 5 tie at the cut of 3 */
	int32_t idx[6];
	struct kv_tie t;
	struct kv_tie_break lo = { KV_TIE_LOWER, 0 }, hi = { KV_TIE_HIGHER, 0 };
	struct sel_cut c = { &lo, 0, &t };
	T_CHECK(sel_topk_cut(x, 6, 3, idx, &c) == 3 && idx[0] == 0 && idx[1] == 1 && idx[2] == 2, "lower: %d %d %d", idx[0],
		idx[1], idx[2]);
	T_CHECK(t.n_tied == 4 && t.n_kept == 2, "lower: tie %d/%d", t.n_kept, t.n_tied);
	c.tb = &hi;
	sel_topk_cut(x, 6, 3, idx, &c);
	T_CHECK(idx[0] == 0 && idx[1] == 5 && idx[2] == 3, "higher: %d %d %d", idx[0], idx[1], idx[2]);
	T_CHECK(t.n_tied == 4 && t.n_kept == 2, "higher: tie %d/%d", t.n_kept, t.n_tied);
	/* no tie at the cut: every rule keeps the same */
	sel_topk_cut(x, 6, 1, idx, &c);
	T_CHECK(idx[0] == 0 && t.n_tied == 1 && t.n_kept == 1, "k=1: %d, tie %d/%d", idx[0], t.n_kept, t.n_tied);
	/* the whole tie group fits: recorded, not inside */
	sel_topk_cut(x, 6, 5, idx, &c);
	T_CHECK(t.n_tied == 4 && t.n_kept == 4, "k=5: tie %d/%d", t.n_kept, t.n_tied);
	sel_topk_cut(x, 6, 0, idx, &c);
	T_CHECK(t.n_tied == 0 && t.n_kept == 0, "k=0: tie %d/%d", t.n_kept, t.n_tied);
	/* random: a fixed shuffle per seed and stream, only among the tied */
	int seen[6] = { 0 };
	for (uint64_t seed = 0; seed < 64; seed++) {
		struct kv_tie_break r = { KV_TIE_RANDOM, seed };
		int32_t a[3], b[3];
		struct sel_cut cr = { &r, sel_stream(3, 1, SEL_CUT_KV), &t };
		sel_topk_cut(x, 6, 3, a, &cr);
		sel_topk_cut(x, 6, 3, b, &cr);
		T_CHECK(!memcmp(a, b, sizeof(a)), "seed %llu: not deterministic", (unsigned long long)seed);
		T_CHECK(a[0] == 0 && a[1] != a[2] && x[a[1]] == 3 && x[a[2]] == 3 && t.n_tied == 4 && t.n_kept == 2,
			"seed %llu: %d %d %d", (unsigned long long)seed, a[0], a[1], a[2]);
		seen[a[1]]++;
		seen[a[2]]++;
	}
	T_CHECK(seen[1] && seen[2] && seen[3] && seen[5], "64 seeds kept 1:%d 2:%d 3:%d 5:%d times", seen[1], seen[2], seen[3],
		seen[5]);
	/* sel_topk is the lower rule */
	sel_topk(x, 6, 3, idx);
	T_CHECK(idx[1] == 1 && idx[2] == 2, "sel_topk: %d %d", idx[1], idx[2]);
}

static void tie_break_should_parse_its_three_forms(void)
{
	struct kv_tie_break tb;
	char err[256];
	T_CHECK(kv_tie_break_parse("lower", &tb, err, sizeof(err)) == 0 && tb.rule == KV_TIE_LOWER, "lower");
	T_CHECK(kv_tie_break_parse("higher", &tb, err, sizeof(err)) == 0 && tb.rule == KV_TIE_HIGHER, "higher");
	T_CHECK(kv_tie_break_parse("random:18446744073709551615", &tb, err, sizeof(err)) == 0 && tb.rule == KV_TIE_RANDOM &&
		tb.seed == UINT64_MAX, "random:max");
	const char *bad[] = { "", "Lower", "random", "random:", "random:-1", "random:1x", "random:18446744073709551616", NULL };
	for (int i = 0; bad[i]; i++) {
		int rc = kv_tie_break_parse(bad[i], &tb, err, sizeof(err));
		T_CHECK(rc == KV_EINVAL && strstr(err, "--tie_break") && strstr(err, bad[i]), "'%s': rc %d '%s'", bad[i], rc, err);
	}
}

static const struct kv_shape g_shape = { .n_layer = 30, .n_head = 9, .n_head_kv = 3, .head_dim = 64, .n_embd = 576 };

/* Describes method m made from "k=v" pairs (NULL-terminated) into buf; returns init's code. */
static int describe(const char *m, const char *const *kv, char *buf, size_t len, char *err, size_t errlen)
{
	struct kv_args a = { 0 };
	char store[8][64];
	int n = 0, rc;
	for (; kv && kv[n]; n++) {
		snprintf(store[n], sizeof(store[n]), "%s", kv[n]);
		char *eq = strchr(store[n], '=');
		*eq = 0;
		kv_args_set(&a, store[n], eq + 1, err, errlen);
	}
	struct kv_policy p = { 0 };
	if (!(rc = kv_policy_make(kv_method_find(m), &a, &g_shape, &p, err, errlen)))
		kv_policy_describe(&p, buf, len);
	kv_policy_free(&p);
	kv_args_free(&a);
	return rc;
}

static void describe_json_should_name_tie_break_and_fp16_only_when_not_default(void)
{
	const char *methods[] = { "fastkv", "gemfilter", "snapkv", "h2o", "pyramidinfer", NULL };
	char plain[1024], lower[1024], higher[1024], err[512];
	for (int i = 0; methods[i]; i++) {
		const char *base[] = { "retain_rate=0.5", NULL }, *lo[] = { "retain_rate=0.5", "tie_break=lower", NULL },
			   *hi[] = { "retain_rate=0.5", "tie_break=random:3", NULL };
		bool pyr = strcmp(methods[i], "pyramidinfer") == 0;
		int rc = describe(methods[i], pyr ? base : NULL, plain, sizeof(plain), err, sizeof(err)) ||
			 describe(methods[i], pyr ? lo : lo + 1, lower, sizeof(lower), err, sizeof(err)) ||
			 describe(methods[i], pyr ? hi : hi + 1, higher, sizeof(higher), err, sizeof(err));
		T_CHECK(rc == 0, "%s: %s", methods[i], err);
		T_CHECK(!strcmp(plain, lower) && !strstr(plain, "tie_break") && !strstr(plain, "fp16"), "%s: '%s' vs '%s'",
			methods[i], plain, lower);
		size_t n = strlen(plain);
		T_CHECK(!strncmp(higher, plain, n - 1) && !strcmp(higher + n - 1, ",\"tie_break\":\"random:3\"}"), "%s: '%s'",
			methods[i], higher);
	}
	const char *fp[] = { "gemfilter_fp16=1", NULL }, *fp0[] = { "gemfilter_fp16=0", NULL };
	T_CHECK(describe("gemfilter", fp, higher, sizeof(higher), err, sizeof(err)) == 0 &&
		strstr(higher, ",\"gemfilter_fp16\":1}"), "'%s'", higher);
	T_CHECK(describe("gemfilter", fp0, lower, sizeof(lower), err, sizeof(err)) == 0 &&
		describe("gemfilter", NULL, plain, sizeof(plain), err, sizeof(err)) == 0 && !strcmp(plain, lower),
		"'%s' vs '%s'", plain, lower);
	const char *no_topk[] = { "fullkv", "streamingllm", NULL };
	const char *tb[] = { "tie_break=higher", NULL };
	for (int i = 0; no_topk[i]; i++) {
		int rc = describe(no_topk[i], tb, plain, sizeof(plain), err, sizeof(err));
		T_CHECK(rc == KV_EINVAL && strstr(err, "--tie_break: not a parameter of") && strstr(err, no_topk[i]), "%s: '%s'",
			no_topk[i], err);
	}
	T_CHECK(describe("snapkv", fp, plain, sizeof(plain), err, sizeof(err)) == KV_EINVAL &&
		strstr(err, "--gemfilter_fp16: not a parameter of snapkv"), "'%s'", err);
}

static void kv_round_fp16_should_round_to_nearest_even(void)
{
	const struct { float x, want; } c[] = {
		{ 1.0f, 1.0f },
		{ 1.0f + 0x1p-11f, 1.0f },                 /* halfway, to the even 1.0 */
		{ 1.0f + 3 * 0x1p-11f, 1.0f + 0x1p-9f },    /* halfway, to the even 1 + 2^-9 */
		{ 1.0f + 0x1p-11f + 0x1p-20f, 1.0f + 0x1p-10f }, /* just above halfway */
		{ 0.1f, 0.0999755859375f },
		{ -2.5f, -2.5f },
		{ 65504.0f, 65504.0f },
		{ 65519.0f, 65504.0f },
		{ 0x1p-24f, 0x1p-24f },                    /* the least subnormal */
		{ 0x1p-25f, 0.0f },                        /* halfway to it, to the even 0 */
		{ 1e-8f, 0.0f },
		{ 3 * 0x1p-25f, 0x1p-23f },                /* 1.5 subnormal steps, to the even 2 */
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		float got = kv_round_fp16(c[i].x);
		T_CHECK(got == c[i].want, "%a -> %a, expected %a", (double)c[i].x, (double)got, (double)c[i].want);
	}
	float inf = kv_round_fp16(65520.0f);
	T_CHECK(inf > 65504.0f && inf == inf + 1.0f, "65520 -> %g, expected inf (torch: .half() overflows)", (double)inf);
}

/* q (T, H*D), k (T, Hkv*D) on the host; fp16-representable when exact. */
static void fill_qk(float *q, float *k, int T, const struct kv_shape *s, bool exact)
{
	uint32_t st = 12345;
	for (size_t i = 0; i < (size_t)T * s->n_head * s->head_dim; i++) {
		st = st * 1664525u + 1013904223u;
		q[i] = ((float)(st >> 8) / 16777216.0f - 0.5f) * 4.0f;
		if (exact)
			q[i] = kv_round_fp16(q[i]);
	}
	for (size_t i = 0; i < (size_t)T * s->n_head_kv * s->head_dim; i++) {
		st = st * 1664525u + 1013904223u;
		k[i] = ((float)(st >> 8) / 16777216.0f - 0.5f) * 4.0f;
		if (exact)
			k[i] = kv_round_fp16(k[i]);
	}
}

static void gemfilter_fp16_should_change_nothing_when_q_and_k_are_fp16(void)
{
	const struct kv_shape s = { .n_layer = 1, .n_head = 4, .n_head_kv = 2, .head_dim = 16, .n_embd = 64 };
	int T = 37;
	float *q = malloc(sizeof(float) * T * 64), *k = malloc(sizeof(float) * T * 32);
	float *a = malloc(sizeof(float) * 4 * T), *b = malloc(sizeof(float) * 4 * T), *c = malloc(sizeof(float) * 4 * T);
	char err[256];
	struct kv_layer_view v = { .shape = &s, .n = T, .n_prompt = T, .q = q, .k = k };
	fill_qk(q, k, T, &s, true);
	kv_view_dots(&v, T - 1, a);
	T_CHECK(kv_view_dots_fp16(&v, T - 1, b, err, sizeof(err)) == 0, "%s", err);
	T_CHECK(!memcmp(a, b, sizeof(float) * 4 * T), "fp16-representable q, k: the rounded dots differ");
	fill_qk(q, k, T, &s, false);
	kv_view_dots(&v, T - 1, a);
	kv_view_dots_fp16(&v, T - 1, b, err, sizeof(err));
	T_CHECK(memcmp(a, b, sizeof(float) * 4 * T) != 0, "fp32 q, k: rounding changed nothing");
	for (size_t i = 0; i < (size_t)T * 64; i++)
		q[i] = kv_round_fp16(q[i]);
	for (size_t i = 0; i < (size_t)T * 32; i++)
		k[i] = kv_round_fp16(k[i]);
	kv_view_dots(&v, T - 1, c);
	T_CHECK(!memcmp(b, c, sizeof(float) * 4 * T), "the fp16 dots are not the dots of the rounded q, k");
	free(q);
	free(k);
	free(a);
	free(b);
	free(c);
}

// ----------------------------------------------------------------------------
// the golden prompt: a harness policy runs the method with lower and higher on every
// layer view, recomputes the scores and checks both decisions' cuts

struct expect {
	int n_cuts, n_inside, n_checked; /* over the whole prefill */
	int fails;
};

struct harness {
	const char *method;
	struct kv_policy lo, hi;
	int C, w, tsp_idx, tsp_len, filter_idx;
	struct kv_tie *kv;      /* (L, H) expected records of the final pass */
	struct kv_tie *prop;    /* (L,) */
	struct kv_tie restart;
	struct expect e;
};

/* The record a cut of k from x[0..n) must carry. */
static struct kv_tie expected_tie(const float *x, int n, int k, float *kth)
{
	float *c = malloc(sizeof(float) * (size_t)n);
	memcpy(c, x, sizeof(float) * (size_t)n);
	for (int i = 0; i < k; i++) { /* partial selection sort: k is small enough here */
		int b = i;
		for (int j = i + 1; j < n; j++)
			b = c[j] > c[b] ? j : b;
		float t = c[i];
		c[i] = c[b];
		c[b] = t;
	}
	float s = c[k - 1];
	free(c);
	struct kv_tie t = { 0, k };
	for (int j = 0; j < n; j++) {
		t.n_tied += x[j] == s;
		t.n_kept -= x[j] > s;
	}
	*kth = s;
	return t;
}

/* Checks the rows[0..k) one rule chose (any order; rows >= n ignored) against x. */
static bool check_rows(const float *x, int n, float s, struct kv_tie t, const int32_t *rows, int k, bool higher)
{
	char *in = calloc((size_t)n, 1);
	int got = 0;
	for (int i = 0; i < k; i++)
		if (rows[i] < n) {
			in[rows[i]] = 1;
			got++;
		}
	bool ok = true;
	int want_tied = t.n_kept, seen = 0;
	for (int jj = 0; jj < n; jj++) {
		int j = higher ? n - 1 - jj : jj;
		if (x[j] > s)
			ok = ok && in[j];
		else if (x[j] < s)
			ok = ok && !in[j];
		else
			ok = ok && in[j] == (seen++ < want_tied);
	}
	free(in);
	return ok;
}

/* One cut: expected record from x; lower's and higher's records and rows checked. */
static void check_cut(struct harness *hs, const char *what, int l, int h, const float *x, int n, int k, struct kv_tie lo_t,
		      struct kv_tie hi_t, const int32_t *lo_rows, const int32_t *hi_rows, int n_rows, struct kv_tie *out)
{
	float s;
	struct kv_tie t = expected_tie(x, n, k, &s);
	*out = t;
	hs->e.n_cuts++;
	hs->e.n_inside += t.n_kept < t.n_tied;
	bool ok = lo_t.n_tied == t.n_tied && lo_t.n_kept == t.n_kept && hi_t.n_tied == t.n_tied && hi_t.n_kept == t.n_kept &&
		  check_rows(x, n, s, t, lo_rows, n_rows, false) && check_rows(x, n, s, t, hi_rows, n_rows, true);
	hs->e.n_checked++;
	if (!ok && hs->e.fails++ < 5)
		fprintf(stderr, "  %s %s layer %d head %d: expected tie %d/%d, lower %d/%d, higher %d/%d (or rows differ)\n",
			hs->method, what, l, h, t.n_kept, t.n_tied, lo_t.n_kept, lo_t.n_tied, hi_t.n_kept, hi_t.n_tied);
}

/* The method's scores for layer view v: per cache head (n_heads, np) into sc. */
static int method_scores(const struct harness *hs, const struct kv_layer_view *v, float *sc, int *n_heads, char *err,
			 size_t errlen)
{
	int H = v->shape->n_head, Hkv = v->shape->n_head_kv, G = H / Hkv, T = v->n, np = T - hs->w, rc = 0;
	if (!strcmp(hs->method, "h2o")) {
		memset(sc, 0, sizeof(float) * (size_t)H * np);
		*n_heads = H;
		return kv_view_attn_colsum(v, 0, T, np, np, sc, err, errlen);
	}
	float *pooled = malloc(sizeof(float) * (size_t)H * np);
	if ((rc = sel_window_scores(v, hs->w, 7, KV_POOLING_MAX, pooled, err, errlen)))
		goto out;
	if (!strcmp(hs->method, "snapkv")) {
		memcpy(sc, pooled, sizeof(float) * (size_t)H * np);
		*n_heads = H;
	} else { /* fastkv: pooled per query head, summed per group in head order */
		memset(sc, 0, sizeof(float) * (size_t)Hkv * np);
		for (int h = 0; h < H; h++)
			for (int j = 0; j < np; j++)
				sc[(size_t)(h / G) * np + j] += pooled[(size_t)h * np + j];
		*n_heads = Hkv;
	}
out:
	free(pooled);
	return rc;
}

static int harness_prefill_layer(void *state, const struct kv_layer_view *v, struct kv_decision *d, char *err,
				 size_t errlen)
{
	struct harness *hs = state;
	int H = v->shape->n_head, T = v->n, l = v->layer, rc;
	struct kv_decision e = { .keep_all = true, .n_keep = malloc(sizeof(int) * H), .keep = malloc(sizeof(int32_t) * (size_t)H * T),
				 .prop = malloc(sizeof(int32_t) * T), .restart = malloc(sizeof(int32_t) * T),
				 .keep_tie = calloc((size_t)H, sizeof(struct kv_tie)) };
	float *sc = malloc(sizeof(float) * (size_t)H * T + sizeof(float));
	struct kv_tie *kv = hs->kv + (size_t)l * H;
	memset(kv, 0, sizeof(*kv) * (size_t)H);
	if ((rc = kv_policy_prefill_layer(&hs->lo, v, d, err, errlen)) || (rc = kv_policy_prefill_layer(&hs->hi, v, &e, err, errlen)))
		goto out;
	if (!strcmp(hs->method, "gemfilter")) {
		if (d->n_restart > 0) {
			float *r = calloc((size_t)T, sizeof(float)), *dots = malloc(sizeof(float) * (size_t)H * T);
			kv_view_dots(v, T - 1, dots);
			for (int h = 0; h < H; h++)
				for (int j = 0; j < T; j++)
					r[j] += dots[(size_t)h * T + j];
			sel_pool(r, sc, T, 5, KV_POOLING_AVG);
			check_cut(hs, "restart", l, 0, sc, T, hs->C, d->restart_tie, e.restart_tie, d->restart, e.restart, d->n_restart,
				  &hs->restart);
			free(r);
			free(dots);
		}
		goto out;
	}
	if (!d->keep_all && T >= hs->C) { /* a KV cut on every cache head */
		int nh, np = T - hs->w;
		if ((rc = method_scores(hs, v, sc, &nh, err, errlen)))
			goto out;
		for (int h = 0; h < nh; h++)
			check_cut(hs, "kv", l, h, sc + (size_t)h * np, np, hs->C - hs->w, d->keep_tie[h], e.keep_tie[h],
				  d->keep + (size_t)h * T, e.keep + (size_t)h * T, d->n_keep[h], &kv[h]);
		if (d->n_prop > 0) { /* TSP: the total over KV heads */
			int tl = hs->tsp_len;
			float *tot = malloc(sizeof(float) * (size_t)np);
			for (int j = 0; j < np; j++) {
				float s = 0.0f;
				for (int g = 0; g < nh; g++)
					s += sc[(size_t)g * np + j];
				tot[j] = s;
			}
			check_cut(hs, "propagated", l, 0, tot, np, tl - hs->w, d->prop_tie, e.prop_tie, d->prop, e.prop, d->n_prop,
				  &hs->prop[l]);
			free(tot);
		}
	}
out:
	free(e.n_keep);
	free(e.keep);
	free(e.prop);
	free(e.restart);
	free(e.keep_tie);
	free(sc);
	return rc;
}

static const struct kv_param_def *const no_params[] = { NULL };
static const struct kv_method harness_method = {
	.name = "tie_harness", .prefill_layer = harness_prefill_layer, .params = no_params,
};

/* Reads the token ids of a methods golden (header: magic, version, sha, rtol, n, ids). */
static int32_t *golden_ids(const char *path, int *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t head[80];
	int32_t *ids = NULL;
	uint32_t cnt = 0;
	if (!f)
		return NULL;
	if (fread(head, 1, 80, f) == 80 && !memcmp(head, "KVMS", 4)) {
		memcpy(&cnt, head + 76, 4);
		if (cnt > 0 && cnt < (1u << 20) && (ids = malloc(sizeof(int32_t) * cnt)) && fread(ids, 4, cnt, f) != cnt) {
			free(ids);
			ids = NULL;
		}
	}
	fclose(f);
	*n = (int)cnt;
	return ids;
}

/* Checks the dump's "tie" fields against the expected records. Returns mismatches. */
static int check_dump(const char *path, const struct harness *hs, int L, int H)
{
	FILE *f = fopen(path, "r");
	static char line[1 << 20];
	int bad = 0, rows = 0;
	if (!f)
		return 1;
	while (fgets(line, sizeof(line), f)) {
		struct kv_tie got = { 0, 0 }, want = { 0, 0 };
		int l = -1, h = 0;
		const char *t = strstr(line, "\"tie\":{");
		if (t && sscanf(t, "\"tie\":{\"n_tied\":%d,\"n_kept\":%d}", &got.n_tied, &got.n_kept) != 2)
			bad++;
		if (!strncmp(line, "{\"kind\":\"kv\"", 12) && sscanf(line, "{\"kind\":\"kv\",\"layer\":%d,\"head\":%d", &l, &h) == 2)
			want = h < H && l < L ? hs->kv[(size_t)l * H + h] : want;
		else if (!strncmp(line, "{\"kind\":\"propagated\"", 20) && sscanf(line, "{\"kind\":\"propagated\",\"layer\":%d", &l) == 1)
			want = hs->prop[l];
		else if (!strncmp(line, "{\"kind\":\"restart\"", 17))
			want = hs->restart;
		else
			continue;
		rows++;
		bad += got.n_tied != want.n_tied || got.n_kept != want.n_kept;
	}
	fclose(f);
	return rows ? bad : 1;
}

static const struct model *g_model;

static void ties_should_match_the_scores_on_the_golden_prompt(void)
{
	int n = 0;
	int32_t *ids = golden_ids(GOLDEN, &n);
	if (!ids) {
		T_SKIP("%s: no token ids (regenerate with scripts/ref_methods.py)", GOLDEN);
		return;
	}
	const struct model_config *c = &g_model->cfg;
	const struct kv_shape shape = { c->n_layer, c->n_head, c->n_head_kv, c->head_dim, c->n_embd };
	const struct {
		const char *method;
		const char *args[6];
	} cases[] = {
		{ "fastkv", { "max_capacity_prompts=256", "tsp_idx=10", "tsp_len=512", NULL } },
		{ "snapkv", { "max_capacity_prompts=128", NULL } },
		{ "h2o", { "max_capacity_prompts=128", NULL } },
		{ "gemfilter", { "max_capacity_prompts=256", "filter_idx=10", NULL } },
	};
	float *logits = malloc(sizeof(float) * (size_t)c->n_vocab);
	printf("  %s: %d tokens\n", GOLDEN, n);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct harness hs = { .method = cases[i].method, .C = 256, .w = 8, .tsp_idx = 10, .tsp_len = 512, .filter_idx = 10 };
		struct kv_args lo = { 0 }, hi = { 0 };
		char kb[6][64], err[512];
		for (int a = 0; cases[i].args[a]; a++) {
			snprintf(kb[a], sizeof(kb[a]), "%s", cases[i].args[a]);
			char *eq = strchr(kb[a], '=');
			*eq = 0;
			kv_args_set(&lo, kb[a], eq + 1, err, sizeof(err));
			kv_args_set(&hi, kb[a], eq + 1, err, sizeof(err));
			if (!strcmp(kb[a], "max_capacity_prompts"))
				hs.C = atoi(eq + 1);
		}
		kv_args_set(&hi, "tie_break", "higher", err, sizeof(err));
		hs.kv = calloc((size_t)c->n_layer * c->n_head, sizeof(struct kv_tie));
		hs.prop = calloc((size_t)c->n_layer, sizeof(struct kv_tie));
		struct fwd_session *s = NULL;
		int rc = kv_policy_make(kv_method_find(hs.method), &lo, &shape, &hs.lo, err, sizeof(err));
		if (!rc)
			rc = kv_policy_make(kv_method_find(hs.method), &hi, &shape, &hs.hi, err, sizeof(err));
		struct kv_policy pol = { &harness_method, &hs };
		if (!rc)
			rc = fwd_session_init(g_model, &pol, 0, 0, &s, err, sizeof(err));
		if (!rc)
			rc = fwd_prefill(s, ids, n, false, logits, err, sizeof(err));
		T_CHECK(rc == 0, "%s: %s", hs.method, err);
		const char *dump = "build/test_ties_dump.jsonl";
		if (!rc)
			rc = selection_dump(s, dump, err, sizeof(err));
		int bad = rc ? -1 : check_dump(dump, &hs, c->n_layer, c->n_head);
		T_CHECK(rc == 0 && bad == 0, "%s: %d dump rows disagree with the expected tie records (%s)", hs.method, bad, rc ? err : dump);
		T_CHECK(hs.e.fails == 0 && hs.e.n_checked > 0, "%s: %d of %d cuts wrong (details above)", hs.method, hs.e.fails,
			hs.e.n_checked);
		printf("    %-9s %4d cuts checked, %4d inside a tie group; lower keeps the lower, higher the upper members\n",
		       hs.method, hs.e.n_cuts, hs.e.n_inside);
		remove(dump);
		fwd_session_free(s);
		kv_policy_free(&hs.lo);
		kv_policy_free(&hs.hi);
		kv_args_free(&lo);
		kv_args_free(&hi);
		free(hs.kv);
		free(hs.prop);
	}
	free(logits);
	free(ids);
}

int main(void)
{
	T_RUN(sel_topk_cut_should_record_ties_and_order_them_by_rule);
	T_RUN(tie_break_should_parse_its_three_forms);
	T_RUN(describe_json_should_name_tie_break_and_fp16_only_when_not_default);
	T_RUN(kv_round_fp16_should_round_to_nearest_even);
	T_RUN(gemfilter_fp16_should_change_nothing_when_q_and_k_are_fp16);
	struct model *m = NULL;
	char err[512];
	if (model_load(T_MODEL, &m, err, sizeof(err))) {
		printf("skip ties_should_match_the_scores_on_the_golden_prompt: %s (run 'make model')\n", err);
		t_n_skip++;
		return t_done();
	}
	g_model = m;
	T_RUN(ties_should_match_the_scores_on_the_golden_prompt);
	model_free(m);
	return t_done();
}
