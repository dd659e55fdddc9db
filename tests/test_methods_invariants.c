/* Method invariants on tiny random-weight models (no files needed): cache lengths per
 * layer from the budget arithmetic of spec/methods.md (sections 3.6 and 9), written
 * here independently of methods/; the window and the sinks always kept; full budgets
 * and short prompts changing nothing; FastKV's TSP list sorted with the window;
 * GemFilter's second pass on the selected tokens at positions 0..k-1; decode
 * positions (C7, GemFilter k + t); and bad parameters failing with one line naming the
 * flag. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"      // KV_EINVAL
#include "engine/forward.h"     // fwd_session_*, fwd_prefill, fwd_decode
#include "engine/kv_method.h"   // struct kv_method, kv_policy_prefill_layer
#include "engine/kvcache.h"     // struct kv_cache
#include "engine/model.h"       // model_init_random
#include "methods/registry.h"   // kv_policy_make, kv_method_find
#include "tests/test.h"
#include "tests/test_policy.h" // t_policy_make

#define N_SINK 4
#define MAX_KV 16

static struct model *g_tiny;   /* 4 layers, E 64, H 4, Hkv 2, D 16, V 256 */

/* A method and up to 8 key/value pairs, e.g. { "fastkv", { "eviction_mode", "proportional", ... } }. */
struct cfg {
	const char *method;
	const char *kv[MAX_KV + 1];
};

static int policy_from(const struct cfg *c, const struct model *m, struct kv_policy *pol, char *err, size_t errlen)
{
	return t_policy_make(c->method, c->kv, m, pol, err, errlen);
}

static const char *cfg_get(const struct cfg *c, const char *key, const char *def)
{
	for (int i = 0; c->kv[i]; i += 2)
		if (strcmp(c->kv[i], key) == 0)
			return c->kv[i + 1];
	return def;
}

static void cfg_name(const struct cfg *c, char *buf, size_t len)
{
	size_t o = (size_t)snprintf(buf, len, "%s", c->method);
	for (int i = 0; c->kv[i] && o < len; i += 2)
		o += (size_t)snprintf(buf + o, len - o, " %s=%s", c->kv[i], c->kv[i + 1]);
}

static int run_prefill(const struct model *m, const struct cfg *c, const int32_t *ids, int n, int reserve, struct t_run *r,
		       char *err, size_t errlen)
{
	int rc;
	memset(r, 0, sizeof(*r));
	if (!(r->logits = malloc(sizeof(float) * (size_t)m->cfg.n_vocab)))
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	if ((rc = policy_from(c, m, &r->pol, err, errlen)) ||
	    (rc = fwd_session_init(m, &r->pol, reserve, 1, &r->s, err, errlen)) ||
	    (rc = fwd_prefill(r->s, ids, n, false, r->logits, err, errlen)))
		t_run_free(r);
	return rc;
}

// ----------------------------------------------------------------------------
// the budget arithmetic, from the spec (not from methods/)

struct expect {
	int n_alive[64];    /* tokens entering each layer */
	int len[64];        /* entries per cache head after prefill */
	int heads[64];      /* cache heads */
	int window;         /* rows at the end of every compressed layer that must be kept (0: none) */
	int prop_layer;     /* FastKV TSP layer, -1 none */
	int n_prop;
	int n_restart;      /* GemFilter, 0 none */
};

static int floor_rate(int n, double rate)
{
	return (int)floor((double)n * rate); /* P16: in double, truncated */
}

static void spec_expect(const struct cfg *c, int N, const struct model_config *mc, struct expect *e)
{
	bool prop = strcmp(cfg_get(c, "eviction_mode", "constant"), "proportional") == 0;
	double retain = atof(cfg_get(c, "retain_rate", "0.1")), tsp_rate = atof(cfg_get(c, "tsp_rate", "0.2"));
	int cap = atoi(cfg_get(c, "max_capacity_prompts", "512")), w = atoi(cfg_get(c, "window_size", "8"));
	int tsp_idx = atoi(cfg_get(c, "tsp_idx", "15")), tsp_len = atoi(cfg_get(c, "tsp_len", "2048"));
	int L = mc->n_layer, H = mc->n_head, Hkv = mc->n_head_kv;
	memset(e, 0, sizeof(*e));
	e->prop_layer = -1;
	int n = N;
	for (int l = 0; l < L; l++) {
		e->n_alive[l] = n;
		e->heads[l] = Hkv;
		e->len[l] = n;
		if (strcmp(c->method, "fastkv") == 0) {
			double rate = l <= tsp_idx ? retain : retain / tsp_rate;      /* 3.1 */
			int C = prop ? floor_rate(n, rate) : cap;
			if (n < C || C <= w)                                            /* 3.2 step 2, A10 */
				continue;
			e->len[l] = C;
			e->window = w;
			if (l == tsp_idx) {
				int T = prop ? floor_rate(n, tsp_rate) : tsp_len;
				if (n > T && T > w) {
					e->prop_layer = l;
					e->n_prop = T;
					n = T;                                                  /* 3.3: later layers see T */
				}
			}
		} else if (strcmp(c->method, "snapkv") == 0 || strcmp(c->method, "h2o") == 0) {
			int C = prop ? floor_rate(n, retain) : cap;
			e->heads[l] = H;                                                    /* P11 */
			if (n < C || C <= w)
				continue;
			e->len[l] = C;
			e->window = w;
		} else if (strcmp(c->method, "streamingllm") == 0) {
			int C = prop ? floor_rate(n, retain) : cap;
			if (n < C || C <= N_SINK)
				continue;
			e->len[l] = C;
		} else if (strcmp(c->method, "gemfilter") == 0) {
			int K = prop ? floor_rate(N, retain) : cap;
			if (K < N && K > 0) {
				e->n_restart = K;
				e->n_alive[l] = e->len[l] = K;
			}
		}
	}
}

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return (x > y) - (x < y);
}

static bool contains(const int32_t *p, int n, int32_t x)
{
	for (int i = 0; i < n; i++)
		if (p[i] == x)
			return true;
	return false;
}

/* Checks a prefilled session against the spec's numbers and the structural rules:
 * per layer n_alive, heads, entries per head; positions distinct and alive in that
 * layer; the window (last w alive positions) in every head of a compressed layer;
 * StreamingLLM's exact sinks + recent; TSP sorted with the window. */
static void check_session(const struct cfg *c, const struct t_run *r, int N)
{
	const struct model_config *mc = &r->s->m->cfg;
	const struct fwd_trace *tr = &r->s->trace;
	const struct kv_cache *kc = r->s->cache;
	struct expect e;
	char name[200];
	cfg_name(c, name, sizeof(name));
	spec_expect(c, N, mc, &e);
	/* the alive positions of each layer: 0..N-1, then the TSP list */
	int32_t *alive = malloc(sizeof(int32_t) * (size_t)N), *sorted = malloc(sizeof(int32_t) * (size_t)N);
	int n_alive = N;
	for (int i = 0; i < N; i++)
		alive[i] = i;
	T_CHECK((tr->n_restart > 0 ? tr->n_restart : 0) == e.n_restart, "%s: restart of %d tokens, spec %d", name, tr->n_restart,
		e.n_restart);
	if (e.n_restart > 0) {
		n_alive = e.n_restart;          /* GemFilter's second pass: renumbered */
		for (int i = 0; i < n_alive; i++)
			alive[i] = i;
	}
	for (int l = 0; l < mc->n_layer; l++) {
		const struct kv_layer *K = &kc->layers[l];
		T_CHECK(tr->n_alive[l] == e.n_alive[l], "%s: layer %d: %d tokens alive, spec %d", name, l, tr->n_alive[l],
			e.n_alive[l]);
		T_CHECK(K->n_head == e.heads[l], "%s: layer %d: %d cache heads, spec %d", name, l, K->n_head, e.heads[l]);
		for (int h = 0; h < K->n_head && h < e.heads[l]; h++) {
			const int32_t *p = K->pos + (size_t)h * K->cap;
			int len = K->len[h];
			T_CHECK(len == e.len[l], "%s: layer %d head %d: %d entries, spec %d", name, l, h, len, e.len[l]);
			if (len > N)
				continue;
			memcpy(sorted, p, sizeof(int32_t) * (size_t)len);
			qsort(sorted, (size_t)len, sizeof(int32_t), cmp_i32);
			bool distinct = true, alive_ok = true;
			for (int i = 0; i < len; i++) {
				distinct &= i == 0 || sorted[i] != sorted[i - 1];
				alive_ok &= bsearch(&sorted[i], alive, (size_t)n_alive, sizeof(int32_t), cmp_i32) != NULL;
			}
			T_CHECK(distinct && alive_ok, "%s: layer %d head %d: positions %s", name, l, h,
				!distinct ? "repeat" : "include a token not alive in the layer");
			if (len < n_alive && e.window > 0)
				for (int i = n_alive - e.window; i < n_alive; i++)
					T_CHECK(contains(p, len, alive[i]), "%s: layer %d head %d: window position %d dropped", name, l, h,
						alive[i]);
			if (strcmp(c->method, "streamingllm") == 0 && len < n_alive) {
				bool exact = true; /* 4 sinks then the len-4 most recent, nothing else */
				for (int i = 0; i < len; i++)
					exact &= sorted[i] == (i < N_SINK ? i : N - (len - i));
				T_CHECK(exact, "%s: layer %d head %d: not exactly sinks 0..3 + the %d most recent", name, l, h, len - N_SINK);
			}
		}
		if (l == e.prop_layer) {
			T_CHECK(tr->n_prop[l] == e.n_prop, "%s: TSP at layer %d propagated %d tokens, spec %d", name, l, tr->n_prop[l],
				e.n_prop);
			if (tr->n_prop[l] == e.n_prop) {
				bool asc = true;
				for (int i = 1; i < e.n_prop; i++)
					asc &= tr->prop_pos[l][i] > tr->prop_pos[l][i - 1];
				T_CHECK(asc, "%s: TSP positions are not strictly ascending", name);
				for (int i = N - e.window; i < N; i++)
					T_CHECK(contains(tr->prop_pos[l], e.n_prop, i), "%s: TSP dropped window position %d", name, i);
				memcpy(alive, tr->prop_pos[l], sizeof(int32_t) * (size_t)e.n_prop);
				n_alive = e.n_prop;
			}
		} else {
			T_CHECK(tr->n_prop[l] == 0, "%s: layer %d propagated %d tokens; spec: no TSP here", name, l, tr->n_prop[l]);
		}
	}
	free(alive);
	free(sorted);
}

// ----------------------------------------------------------------------------
// cases

#define N_MAIN 300

static const struct cfg budget_cfgs[] = {
	{ "fullkv", { NULL } },
	{ "fastkv", { "eviction_mode", "proportional", "retain_rate", "0.1", "tsp_idx", "1", "tsp_rate", "0.3", NULL } },
	{ "fastkv", { "eviction_mode", "proportional", "retain_rate", "0.2", "tsp_idx", "2", "tsp_rate", "0.4", "window_size", "5",
		      "kernel_size", "3", "pooling", "avgpool", NULL } },
	{ "fastkv", { "eviction_mode", "constant", "max_capacity_prompts", "40", "tsp_idx", "1", "tsp_len", "100", NULL } },
	{ "fastkv", { "eviction_mode", "constant", "max_capacity_prompts", "64", "tsp_idx", "0", "tsp_len", "400", NULL } }, /* no TSP: N <= tsp_len */
	{ "fastkv", { "eviction_mode", "constant", "max_capacity_prompts", "40", "tsp_idx", "3", "tsp_len", "100", NULL } }, /* TSP at the last layer */
	{ "snapkv", { "eviction_mode", "proportional", "retain_rate", "0.1", NULL } },
	{ "snapkv", { "eviction_mode", "constant", "max_capacity_prompts", "50", "pooling", "avgpool", NULL } },
	{ "h2o", { "eviction_mode", "proportional", "retain_rate", "0.15", NULL } },
	{ "h2o", { "eviction_mode", "constant", "max_capacity_prompts", "33", "window_size", "16", NULL } },
	{ "streamingllm", { "eviction_mode", "proportional", "retain_rate", "0.1", NULL } },
	{ "streamingllm", { "eviction_mode", "constant", "max_capacity_prompts", "20", NULL } },
	{ "gemfilter", { "eviction_mode", "proportional", "retain_rate", "0.1", "filter_idx", "1", NULL } },
	{ "gemfilter", { "eviction_mode", "constant", "max_capacity_prompts", "64", "filter_idx", "3", NULL } },
	{ NULL, { NULL } },
};

static void every_method_should_keep_the_spec_budget_in_both_modes(void)
{
	int32_t *ids = t_random_ids(N_MAIN, 1, g_tiny->cfg.n_vocab);
	char err[512];
	for (int i = 0; budget_cfgs[i].method; i++) {
		struct t_run r;
		int rc = run_prefill(g_tiny, &budget_cfgs[i], ids, N_MAIN, 0, &r, err, sizeof(err));
		T_CHECK(rc == 0, "%s: %s", budget_cfgs[i].method, err);
		if (rc)
			continue;
		check_session(&budget_cfgs[i], &r, N_MAIN);
		t_run_free(&r);
	}
	free(ids);
}

/* The numbers of spec section 3.6 / the section 9 table: N = 8192, proportional 0.1,
 * tsp_rate 0.2. A 2-layer model (TSP and the filter at layer 0) keeps it quick. */
static void methods_should_match_the_spec_table_at_8192_tokens(void)
{
	const int N = 8192;
	struct model_config mc = g_tiny->cfg;
	struct model *m2 = NULL;
	char err[512];
	mc.n_layer = 2;
	int rc = model_init_random(&mc, 7, &m2, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (rc)
		return;
	int32_t *ids = t_random_ids(N, 2, mc.n_vocab);
	static const struct cfg cfgs[] = {
		{ "fastkv", { "eviction_mode", "proportional", "retain_rate", "0.1", "tsp_rate", "0.2", "tsp_idx", "0", NULL } },
		{ "snapkv", { "eviction_mode", "proportional", "retain_rate", "0.1", NULL } },
		{ "streamingllm", { "eviction_mode", "proportional", "retain_rate", "0.1", NULL } },
		{ "gemfilter", { "eviction_mode", "proportional", "retain_rate", "0.1", "filter_idx", "0", NULL } },
	};
	for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
		struct t_run r;
		rc = run_prefill(m2, &cfgs[i], ids, N, 0, &r, err, sizeof(err));
		T_CHECK(rc == 0, "%s: %s", cfgs[i].method, err);
		if (rc)
			continue;
		check_session(&cfgs[i], &r, N);
		const struct kv_cache *kc = r.s->cache;
		for (int l = 0; l < kc->n_layer; l++) /* every layer keeps 819 per head, whatever the method */
			T_CHECK(kc->layers[l].len[0] == 819, "%s: layer %d keeps %d, table 819", cfgs[i].method, l, kc->layers[l].len[0]);
		if (i == 0)
			T_CHECK(r.s->trace.n_prop[0] == 1638, "fastkv: TSP carries %d tokens, table 1638", r.s->trace.n_prop[0]);
		t_run_free(&r);
	}
	free(ids);
	model_free(m2);
}

static const struct cfg full_cfg = { "fullkv", { NULL } };

/* Prefill logits bitwise equal to fullkv's; decode logits within tol of fullkv's for
 * steps decode steps (the cache may hold the same entries in another order). */
static void check_same_as_fullkv(const struct cfg *c, const int32_t *ids, int n, int steps, float tol)
{
	char err[512], name[200];
	struct t_run a, b;
	int V = g_tiny->cfg.n_vocab;
	cfg_name(c, name, sizeof(name));
	int rc = run_prefill(g_tiny, &full_cfg, ids, n, steps, &a, err, sizeof(err));
	T_CHECK(rc == 0, "fullkv: %s", err);
	if (rc)
		return;
	rc = run_prefill(g_tiny, c, ids, n, steps, &b, err, sizeof(err));
	T_CHECK(rc == 0, "%s: %s", name, err);
	if (rc) {
		t_run_free(&a);
		return;
	}
	T_CHECK(memcmp(a.logits, b.logits, sizeof(float) * (size_t)V) == 0, "%s: prefill logits differ from fullkv's", name);
	T_CHECK(b.s->trace.n_restart == 0, "%s: restarted", name);
	for (int l = 0; l < g_tiny->cfg.n_layer; l++) {
		T_CHECK(b.s->trace.n_alive[l] == n && b.s->trace.n_prop[l] == 0, "%s: layer %d: %d alive, %d propagated", name, l,
			b.s->trace.n_alive[l], b.s->trace.n_prop[l]);
		const struct kv_layer *K = &b.s->cache->layers[l];
		for (int h = 0; h < K->n_head; h++)
			T_CHECK(K->len[h] == n, "%s: layer %d head %d holds %d of %d", name, l, h, K->len[h], n);
	}
	float worst = 0.0f;
	int32_t tok = ids[n - 1];
	for (int t = 0; t < steps; t++) {
		rc = fwd_decode(a.s, tok, a.logits, err, sizeof(err));
		if (!rc)
			rc = fwd_decode(b.s, tok, b.logits, err, sizeof(err));
		T_CHECK(rc == 0, "%s: decode: %s", name, err);
		if (rc)
			break;
		for (int v = 0; v < V; v++) {
			float d = fabsf(a.logits[v] - b.logits[v]);
			worst = d > worst ? d : worst;
		}
		tok = (tok * 7 + 3) % V;
	}
	T_CHECK(worst <= tol, "%s: decode logits differ from fullkv's by %.3g (tol %.1g)", name, worst, tol);
	t_run_free(&a);
	t_run_free(&b);
}

static void full_budgets_should_reproduce_fullkv_exactly(void)
{
	int32_t *ids = t_random_ids(N_MAIN, 3, g_tiny->cfg.n_vocab);
	static const struct cfg cfgs[] = {
		{ "fastkv", { "eviction_mode", "proportional", "retain_rate", "1", "tsp_rate", "1", "tsp_idx", "1", NULL } },
		{ "snapkv", { "eviction_mode", "constant", "max_capacity_prompts", "300", NULL } },   /* budget == n */
		{ "snapkv", { "eviction_mode", "proportional", "retain_rate", "1", NULL } },
		{ "h2o", { "eviction_mode", "constant", "max_capacity_prompts", "1000", NULL } },
		{ "streamingllm", { "eviction_mode", "proportional", "retain_rate", "1", NULL } },
		{ "gemfilter", { "eviction_mode", "constant", "max_capacity_prompts", "300", "filter_idx", "2", NULL } },
	};
	for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++)
		check_same_as_fullkv(&cfgs[i], ids, N_MAIN, 4, 1e-5f);
	free(ids);
}

/* A10/P16: a budget at or below the window, or above n, keeps everything. */
static void methods_should_change_nothing_below_their_budget(void)
{
	int32_t *ids = t_random_ids(80, 4, g_tiny->cfg.n_vocab);
	static const struct cfg above[] = { /* constant budget above n = 60 */
		{ "fastkv", { "eviction_mode", "constant", "max_capacity_prompts", "512", "tsp_idx", "1", "tsp_len", "30", NULL } },
		{ "snapkv", { "eviction_mode", "constant", "max_capacity_prompts", "61", NULL } },
		{ "h2o", { "eviction_mode", "constant", "max_capacity_prompts", "512", NULL } },
		{ "streamingllm", { "eviction_mode", "constant", "max_capacity_prompts", "61", NULL } },
		{ "gemfilter", { "eviction_mode", "constant", "max_capacity_prompts", "512", "filter_idx", "0", NULL } },
	};
	static const struct cfg within_window[] = { /* floor(60 * 0.1) = 6 <= window 8; StreamingLLM 60 * 0.05 = 3 <= 4 sinks */
		{ "fastkv", { "eviction_mode", "proportional", "retain_rate", "0.1", "tsp_idx", "3", "tsp_rate", "0.5", NULL } },
		{ "snapkv", { "eviction_mode", "proportional", "retain_rate", "0.1", NULL } },
		{ "h2o", { "eviction_mode", "proportional", "retain_rate", "0.1", NULL } },
		{ "streamingllm", { "eviction_mode", "proportional", "retain_rate", "0.05", NULL } },
		{ "gemfilter", { "eviction_mode", "proportional", "retain_rate", "0.01", "filter_idx", "1", NULL } }, /* K = 0 */
	};
	for (size_t i = 0; i < sizeof(above) / sizeof(above[0]); i++)
		check_same_as_fullkv(&above[i], ids, 60, 3, 1e-5f);
	for (size_t i = 0; i < sizeof(within_window) / sizeof(within_window[0]); i++)
		check_same_as_fullkv(&within_window[i], ids, 60, 3, 1e-5f);
	/* exactly at the window: floor(80 * 0.1) = 8 = w */
	static const struct cfg at = { "fastkv", { "eviction_mode", "proportional", "retain_rate", "0.1", "tsp_idx", "3", NULL } };
	check_same_as_fullkv(&at, ids, 80, 2, 1e-5f);
	free(ids);
}

// ----------------------------------------------------------------------------
// GemFilter's second pass, seen through a wrapper policy

struct spy {
	struct kv_policy inner;
	int n2;              /* tokens of the second pass, seen at its layer 0 */
	int32_t *pos2, *ids2;
	int layers2;         /* layers seen in the second pass */
	bool pass2_sizes_ok; /* every second-pass layer saw n2 tokens */
};

static int spy_prefill_layer(void *state, const struct kv_layer_view *v, struct kv_decision *d, char *err, size_t errlen)
{
	struct spy *sp = state;
	if (v->pass == 1) {
		if (v->layer == 0) {
			sp->n2 = v->n;
			sp->pos2 = malloc(sizeof(int32_t) * (size_t)v->n);
			sp->ids2 = malloc(sizeof(int32_t) * (size_t)v->n);
			memcpy(sp->pos2, v->pos, sizeof(int32_t) * (size_t)v->n);
			memcpy(sp->ids2, v->ids, sizeof(int32_t) * (size_t)v->n);
			sp->pass2_sizes_ok = true;
		}
		sp->layers2++;
		sp->pass2_sizes_ok &= v->n == sp->n2;
	}
	return kv_policy_prefill_layer(&sp->inner, v, d, err, errlen);
}

static const struct kv_method spy_method = { .name = "spy", .prefill_layer = spy_prefill_layer };

static void gemfilter_second_pass_should_see_the_selected_tokens_at_0_to_k(void)
{
	const int N = 200;
	int32_t *ids = t_random_ids(N, 5, g_tiny->cfg.n_vocab);
	static const struct cfg c = { "gemfilter", { "eviction_mode", "proportional", "retain_rate", "0.2", "filter_idx", "2", NULL } };
	struct spy sp = { 0 };
	struct fwd_session *s = NULL;
	char err[512];
	float *logits = malloc(sizeof(float) * (size_t)g_tiny->cfg.n_vocab);
	int rc = policy_from(&c, g_tiny, &sp.inner, err, sizeof(err));
	struct kv_policy pol = { .m = &spy_method, .state = &sp };
	if (!rc)
		rc = fwd_session_init(g_tiny, &pol, 4, 1, &s, err, sizeof(err));
	if (!rc)
		rc = fwd_prefill(s, ids, N, false, logits, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (rc)
		goto out;
	const int K = 40; /* floor(200 * 0.2) */
	const struct fwd_trace *tr = &s->trace;
	T_CHECK(tr->n_restart == K && tr->restart_layer == 2, "restart of %d tokens at layer %d, expected %d at 2", tr->n_restart,
		tr->restart_layer, K);
	T_CHECK(sp.n2 == K && sp.layers2 == g_tiny->cfg.n_layer && sp.pass2_sizes_ok,
		"second pass: %d tokens, %d layers (expected %d tokens through all %d layers)", sp.n2, sp.layers2, K,
		g_tiny->cfg.n_layer);
	if (sp.n2 == K && tr->n_restart == K) {
		bool asc = true, renum = true, same_ids = true;
		for (int i = 0; i < K; i++) {
			asc &= i == 0 || tr->restart_pos[i] > tr->restart_pos[i - 1];
			renum &= sp.pos2[i] == i;
			same_ids &= tr->restart_pos[i] >= 0 && tr->restart_pos[i] < N && sp.ids2[i] == ids[tr->restart_pos[i]];
		}
		T_CHECK(asc, "selected positions are not ascending");
		T_CHECK(renum, "second pass positions are not 0..%d", K - 1);
		T_CHECK(same_ids, "second pass token ids are not the selected tokens' ids in order");
	}
	for (int l = 0; l < s->cache->n_layer; l++) {
		const struct kv_layer *L = &s->cache->layers[l];
		for (int h = 0; h < L->n_head; h++) {
			bool ok = L->len[h] == K;
			for (int i = 0; ok && i < K; i++)
				ok = L->pos[(size_t)h * L->cap + i] == i;
			T_CHECK(ok, "layer %d head %d does not hold positions 0..%d", l, h, K - 1);
		}
	}
	/* the same logits as fullkv on the selected ids alone */
	if (sp.n2 == K) {
		float *ref = NULL;
		rc = fwd_logits(g_tiny, sp.ids2, K, false, 1, &ref, err, sizeof(err));
		T_CHECK(rc == 0, "%s", err);
		T_CHECK(rc || memcmp(ref, logits, sizeof(float) * (size_t)g_tiny->cfg.n_vocab) == 0,
			"logits differ from a fresh prefill of the selected ids");
		free(ref);
	}
out:
	fwd_session_free(s);
	kv_policy_free(&sp.inner);
	free(sp.pos2);
	free(sp.ids2);
	free(logits);
	free(ids);
}

// ----------------------------------------------------------------------------
// decode

static void decode_should_append_at_n_plus_t_and_never_evict(void)
{
	const int N = 150, steps = 5;
	int32_t *ids = t_random_ids(N, 6, g_tiny->cfg.n_vocab);
	char err[512];
	for (int i = 0; budget_cfgs[i].method; i++) {
		const struct cfg *c = &budget_cfgs[i];
		char name[200];
		cfg_name(c, name, sizeof(name));
		struct t_run r;
		int rc = run_prefill(g_tiny, c, ids, N, 2, &r, err, sizeof(err)); /* reserve < steps: the cache must grow */
		T_CHECK(rc == 0, "%s: %s", name, err);
		if (rc)
			continue;
		bool gem = strcmp(c->method, "gemfilter") == 0;
		int base = gem && r.s->trace.n_restart > 0 ? r.s->trace.n_restart : N; /* C7; GemFilter k + t (4.3) */
		int L = r.s->cache->n_layer;
		int len0[64][32];
		for (int l = 0; l < L; l++)
			for (int h = 0; h < r.s->cache->layers[l].n_head && h < 32; h++)
				len0[l][h] = r.s->cache->layers[l].len[h];
		int32_t tok = ids[N - 1];
		for (int t = 0; t < steps && !rc; t++) {
			T_CHECK(r.s->next_pos == base + t, "%s: step %d would use position %d, expected %d", name, t, r.s->next_pos, base + t);
			rc = fwd_decode(r.s, tok, r.logits, err, sizeof(err));
			T_CHECK(rc == 0, "%s: decode step %d: %s", name, t, err);
			for (int l = 0; !rc && l < L; l++) {
				const struct kv_layer *K = &r.s->cache->layers[l];
				for (int h = 0; h < K->n_head && h < 32; h++) {
					int len = K->len[h];
					T_CHECK(len == len0[l][h] + t + 1, "%s: step %d layer %d head %d: %d entries, expected %d (P10)", name, t, l,
						h, len, len0[l][h] + t + 1);
					if (len > 0)
						T_CHECK(K->pos[(size_t)h * K->cap + len - 1] == base + t, "%s: step %d layer %d head %d: newest at %d, expected %d",
							name, t, l, h, K->pos[(size_t)h * K->cap + len - 1], base + t);
				}
			}
			tok = (tok * 5 + 1) % g_tiny->cfg.n_vocab;
		}
		t_run_free(&r);
	}
	free(ids);
}

// ----------------------------------------------------------------------------
// bad parameters

static void check_rejected(const char *method, const char *key, const char *val, const char *flag)
{
	struct cfg c = { method, { key, val, NULL } };
	struct kv_policy pol = { 0 };
	char err[512] = "";
	int rc = policy_from(&c, g_tiny, &pol, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL, "%s --%s %s: rc %d, expected KV_EINVAL (%s)", method, key ? key : "-", val ? val : "-", rc, err);
	T_CHECK(strstr(err, flag) != NULL && strchr(err, '\n') == NULL && err[0],
		"%s --%s %s: message '%s' should be one line naming %s", method, key ? key : "-", val ? val : "-", err, flag);
	if (!rc)
		kv_policy_free(&pol);
}

static void bad_parameters_should_fail_naming_the_flag(void)
{
	static const char *const window_methods[] = { "fastkv", "snapkv", "h2o", NULL };
	for (int i = 0; window_methods[i]; i++) {
		/* --tsp_idx (inside the 4 layers) only for FastKV: the others do not take it */
		const char *tsp = strcmp(window_methods[i], "fastkv") == 0 ? "tsp_idx" : NULL;
		struct cfg c = { window_methods[i], { "max_capacity_prompts", "8", tsp, "1", NULL } }; /* = the default window */
		struct kv_policy pol = { 0 };
		char err[512] = "";
		int rc = policy_from(&c, g_tiny, &pol, err, sizeof(err));
		T_CHECK(rc == KV_EINVAL && strstr(err, "--max_capacity_prompts") && !strchr(err, '\n'),
			"%s: budget 8 with window 8 should fail naming --max_capacity_prompts: rc %d '%s'", window_methods[i], rc, err);
		if (!rc)
			kv_policy_free(&pol);
		struct cfg big = { window_methods[i], { "max_capacity_prompts", "20", "window_size", "32", tsp, "1", NULL } };
		rc = policy_from(&big, g_tiny, &pol, err, sizeof(err));
		T_CHECK(rc == KV_EINVAL && strstr(err, "--max_capacity_prompts"), "%s: budget 20 with window 32: rc %d '%s'",
			window_methods[i], rc, err);
		if (!rc)
			kv_policy_free(&pol);
		struct cfg ok = { window_methods[i], { "max_capacity_prompts", "9", tsp, "1", NULL } };
		rc = policy_from(&ok, g_tiny, &pol, err, sizeof(err));
		T_CHECK(rc == 0, "%s: budget 9 with window 8 should be accepted: %s", window_methods[i], err);
		if (!rc)
			kv_policy_free(&pol);
	}
	check_rejected("fastkv", "tsp_idx", "4", "--tsp_idx");     /* the tiny model has layers 0..3 */
	check_rejected("fastkv", "tsp_idx", "-1", "--tsp_idx");
	check_rejected("fastkv", NULL, NULL, "--tsp_idx");         /* the default 15 is outside too */
	check_rejected("snapkv", "tsp_idx", "4", "--tsp_idx: not a parameter of snapkv (taken by fastkv)");
	check_rejected("gemfilter", "filter_idx", "4", "--filter_idx");
	check_rejected("gemfilter", "filter_idx", "x", "--filter_idx");
	check_rejected("gemfilter", NULL, NULL, "--filter_idx");   /* the default 13 */
	/* methods that never read --tsp_idx / --filter_idx run with the defaults on a small model */
	static const char *const plain[] = { "fullkv", "snapkv", "h2o", "streamingllm", NULL };
	for (int i = 0; plain[i]; i++) {
		struct cfg c = { plain[i], { NULL } };
		struct kv_policy pol = { 0 };
		char err[512] = "";
		T_CHECK(policy_from(&c, g_tiny, &pol, err, sizeof(err)) == 0, "%s with default parameters on a 4-layer model: %s",
			plain[i], err);
		kv_policy_free(&pol);
	}
	static const char *const bad_rates[] = { "0", "-0.1", "1.5", "1.0000001", "nan", "abc", "", NULL };
	for (int i = 0; bad_rates[i]; i++) {
		check_rejected("snapkv", "retain_rate", bad_rates[i], "--retain_rate");
		check_rejected("fastkv", "tsp_rate", bad_rates[i], "--tsp_rate");
	}
	check_rejected("snapkv", "kernel_size", "6", "--kernel_size");
	check_rejected("fastkv", "kernel_size", "0", "--kernel_size");
	check_rejected("fastkv", "eviction_mode", "relative", "--eviction_mode");
	check_rejected("snapkv", "pooling", "minpool", "--pooling");
	check_rejected("nosuchmethod", NULL, NULL, "--method");
	check_rejected("h2o", "tsp_idxx", "3", "--tsp_idxx: unknown method parameter");
	/* a method's own init refuses keys outside its table too */
	const struct kv_method *m = kv_method_find("snapkv");
	T_CHECK(m != NULL, "snapkv not registered");
	if (m) {
		const char *keys[] = { "retain_rate", "tsp_idxx" }, *vals[] = { "0.5", "3" };
		struct kv_shape shape = { .n_layer = 4, .n_head = 4, .n_head_kv = 2, .head_dim = 16, .n_embd = 64 };
		void *st = NULL;
		char err[512] = "";
		int rc = m->init(keys, vals, 2, &shape, &st, err, sizeof(err));
		T_CHECK(rc == KV_EINVAL && strstr(err, "--tsp_idxx") && !strchr(err, '\n'), "unknown key: rc %d '%s'", rc, err);
		if (!rc)
			m->free_state(st);
	}
	/* rates at the top of the range are fine */
	struct cfg one = { "fastkv", { "eviction_mode", "proportional", "retain_rate", "1", "tsp_rate", "1", "tsp_idx", "3", NULL } };
	struct kv_policy pol = { 0 };
	char err[512] = "";
	T_CHECK(policy_from(&one, g_tiny, &pol, err, sizeof(err)) == 0, "rates of 1 should be accepted: %s", err);
	kv_policy_free(&pol);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0); /* keep stdout lines in order with the stderr details */
	char err[512];
	if (t_tiny_model(&g_tiny, err, sizeof(err))) {
		printf("FAIL tiny model: %s\n", err);
		t_n_fail++;
		return t_done();
	}
	T_RUN(every_method_should_keep_the_spec_budget_in_both_modes);
	T_RUN(methods_should_match_the_spec_table_at_8192_tokens);
	T_RUN(full_budgets_should_reproduce_fullkv_exactly);
	T_RUN(methods_should_change_nothing_below_their_budget);
	T_RUN(gemfilter_second_pass_should_see_the_selected_tokens_at_0_to_k);
	T_RUN(decode_should_append_at_n_plus_t_and_never_evict);
	T_RUN(bad_parameters_should_fail_naming_the_flag);
	model_free(g_tiny);
	return t_done();
}
