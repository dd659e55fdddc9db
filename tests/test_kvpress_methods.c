/* The kvpress-faithful retention methods on the tiny random LLaMA (no model file): the
 * budget arithmetic each promises, read back from the cache after a real prefill.
 * PyramidKV's per-layer budgets against kvpress's get_layer_budget written out again here
 * (pyramid and fallback branches); AdaKV's heads summing to Hkv * n_kept with the safeguard
 * and the window in every head, and alpha_safeguard 1 reducing it to equal per-head top-k;
 * TOVA's heads agreeing; none+X being X; decode appending to ragged heads. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/forward.h"   // fwd_session_init, fwd_prefill, fwd_decode
#include "engine/kvcache.h"   // struct kv_cache, kv_cache_bytes
#include "engine/model.h"     // model_free
#include "tests/test.h"
#include "tests/test_policy.h" // t_tiny_model, t_policy_make, t_random_ids, struct t_run

#define N_PROMPT 300

static struct model *g_m;
static int32_t *g_ids;

/* Prefills the shared prompt under method with kv (key, value, ..., NULL); 0 on success. */
static int run(const char *method, const char *const *kv, struct t_run *r)
{
	char err[512] = "";
	memset(r, 0, sizeof(*r));
	int rc = t_policy_make(method, kv, g_m, &r->pol, err, sizeof(err));
	if (!rc && !(r->logits = malloc(sizeof(float) * (size_t)g_m->cfg.n_vocab)))
		rc = -1;
	if (!rc)
		rc = fwd_session_init(g_m, &r->pol, 8, 1, &r->s, err, sizeof(err));
	if (!rc)
		rc = fwd_prefill(r->s, g_ids, N_PROMPT, false, r->logits, err, sizeof(err));
	T_CHECK(rc == 0, "%s: %s", method, err);
	if (rc)
		t_run_free(r);
	return rc;
}

static bool head_has(const struct kv_layer *L, int h, int32_t p)
{
	for (int i = 0; i < L->len[h]; i++)
		if (L->pos[(size_t)h * L->cap + i] == p)
			return true;
	return false;
}

/* kvpress 0.5.5 PyramidKVPress.get_layer_budget, written from its source. */
static int pyramid_budget(int q_len, double cr, int w, int beta, int l, int L)
{
	double mcp = w + q_len * (1 - cr);
	double min_num = (mcp - w) / beta, max_num = (mcp - w) * 2 - min_num;
	if (max_num >= q_len - w) {
		max_num = q_len - w;
		min_num = (mcp - w) * 2 - max_num;
	}
	if (!(q_len >= max_num && max_num >= min_num && min_num >= w)) {
		double r = nearbyint(q_len * (1 - cr));
		return r < 1 ? 1 : (int)r;
	}
	return (int)nearbyint(max_num - l * ((max_num - min_num) / (L - 1)));
}

static void pyramidkv_should_keep_kvpress_layer_budgets(void)
{
	static const struct {
		const char *rate, *w, *beta;
		bool pyramid; /* which branch of get_layer_budget */
	} c[] = { { "0.5", "8", "20", true }, { "0.25", "8", "4", true }, { "0.25", "64", "20", false } };
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		const char *kv[] = { "eviction_mode", "proportional", "retain_rate", c[i].rate, "window_size", c[i].w, "beta", c[i].beta, NULL };
		struct t_run r;
		if (run("pyramidkv", kv, &r))
			continue;
		const struct kv_cache *k = r.s->cache;
		int first = -1, last = -1;
		for (int l = 0; l < k->n_layer; l++) {
			int want = pyramid_budget(N_PROMPT, 1 - atof(c[i].rate), atoi(c[i].w), atoi(c[i].beta), l, k->n_layer);
			for (int h = 0; h < k->layers[l].n_head; h++) {
				T_CHECK(k->layers[l].len[h] == want, "rate %s w %s layer %d head %d: %d kept, kvpress's budget %d", c[i].rate,
					c[i].w, l, h, k->layers[l].len[h], want);
				T_CHECK(head_has(&k->layers[l], h, N_PROMPT - 1), "layer %d head %d lost the window", l, h);
			}
			first = l == 0 ? want : first;
			last = want;
		}
		T_CHECK(c[i].pyramid ? first > last : first == last, "rate %s w %s: budgets %d .. %d", c[i].rate, c[i].w, first, last);
		T_CHECK(k->layers[0].n_head == g_m->cfg.n_head_kv, "kvpress keeps per KV head: %d heads", k->layers[0].n_head);
		t_run_free(&r);
	}
}

static void adakv_heads_should_share_the_layer_budget_unequally(void)
{
	const char *kv[] = { "eviction_mode", "proportional", "retain_rate", "0.25", "window_size", "16", NULL };
	struct t_run r;
	if (run("adakv", kv, &r))
		return;
	const struct kv_cache *k = r.s->cache;
	int n_kept = N_PROMPT / 4, n_safe = (int)(n_kept * 0.2), uneven = 0;
	long entries = 0;
	for (int l = 0; l < k->n_layer; l++) {
		const struct kv_layer *L = &k->layers[l];
		int sum = 0;
		for (int h = 0; h < L->n_head; h++) {
			sum += L->len[h];
			T_CHECK(L->len[h] >= n_safe, "layer %d head %d keeps %d < the safeguard's %d", l, h, L->len[h], n_safe);
			for (int p = N_PROMPT - 16; p < N_PROMPT; p++)
				T_CHECK(head_has(L, h, p), "layer %d head %d lost window position %d", l, h, p);
		}
		T_CHECK(sum == L->n_head * n_kept, "layer %d: heads keep %d, expected %d", l, sum, L->n_head * n_kept);
		uneven += L->len[0] != L->len[1];
		entries += sum;
	}
	T_CHECK(uneven > 0, "no layer split its budget unequally");
	T_CHECK(kv_cache_bytes(k) == (size_t)entries * k->head_dim * 2 * sizeof(float), "bytes %zu for %ld entries",
		kv_cache_bytes(k), entries);
	/* decode appends one entry to every (ragged) head */
	int len0 = k->layers[0].len[0], len1 = k->layers[0].len[1];
	char err[256] = "";
	for (int step = 0; step < 4; step++)
		T_CHECK(fwd_decode(r.s, 7, r.logits, err, sizeof(err)) == 0, "decode: %s", err);
	T_CHECK(k->layers[0].len[0] == len0 + 4 && k->layers[0].len[1] == len1 + 4, "after 4 steps: %d, %d", k->layers[0].len[0],
		k->layers[0].len[1]);
	for (int v = 0; v < g_m->cfg.n_vocab; v++)
		T_CHECK(isfinite(r.logits[v]), "logit %d is %g after decoding over ragged heads", v, r.logits[v]);
	t_run_free(&r);
}

static void adakv_with_full_safeguard_should_be_per_head_top_k(void)
{
	const char *kv[] = { "eviction_mode", "constant", "max_capacity_prompts", "90", "window_size", "8", "alpha_safeguard", "1", NULL };
	struct t_run r;
	if (run("adakv", kv, &r))
		return;
	const struct kv_cache *k = r.s->cache;
	for (int l = 0; l < k->n_layer; l++)
		for (int h = 0; h < k->layers[l].n_head; h++)
			T_CHECK(k->layers[l].len[h] == 90, "layer %d head %d keeps %d, not 90", l, h, k->layers[l].len[h]);
	t_run_free(&r);
}

static void tova_heads_should_keep_the_same_rows_and_the_last(void)
{
	const char *kv[] = { "eviction_mode", "proportional", "retain_rate", "0.1", NULL };
	struct t_run r, n;
	if (run("tova", kv, &r))
		return;
	if (run("none+tova", kv, &n)) {
		t_run_free(&r);
		return;
	}
	const struct kv_cache *k = r.s->cache, *kn = n.s->cache;
	for (int l = 0; l < k->n_layer; l++) {
		const struct kv_layer *L = &k->layers[l];
		T_CHECK(L->len[0] == N_PROMPT / 10 && head_has(L, 0, N_PROMPT - 1), "layer %d: %d kept", l, L->len[0]);
		for (int h = 1; h < L->n_head; h++) {
			T_CHECK(L->len[h] == L->len[0], "layer %d head %d: %d vs %d", l, h, L->len[h], L->len[0]);
			for (int i = 0; i < L->len[h]; i++)
				T_CHECK(head_has(L, 0, L->pos[(size_t)h * L->cap + i]), "layer %d: head %d keeps a row head 0 does not", l, h);
		}
		for (int h = 0; h < L->n_head; h++)
			T_CHECK(kn->layers[l].len[h] == L->len[h] &&
					!memcmp(kn->layers[l].pos + (size_t)h * kn->layers[l].cap, L->pos + (size_t)h * L->cap,
						sizeof(int32_t) * (size_t)L->len[h]),
				"layer %d head %d: none+tova differs from tova", l, h);
	}
	t_run_free(&r);
	t_run_free(&n);
}

static void tsp_plus_adakv_should_retain_within_the_propagated_rows(void)
{
	const char *kv[] = { "eviction_mode", "proportional", "retain_rate", "0.1", "tsp_idx", "1", "tsp_rate", "0.5", NULL };
	struct t_run r;
	if (run("tsp+adakv", kv, &r))
		return;
	const struct kv_cache *k = r.s->cache;
	for (int l = 0; l < k->n_layer; l++) {
		int alive = r.s->trace.n_alive[l], sum = 0;
		for (int h = 0; h < k->layers[l].n_head; h++)
			sum += k->layers[l].len[h];
		/* FastKV's rule: after the TSP layer retain_rate / tsp_rate of the propagated rows */
		int n_kept = (int)floor(alive * (l <= 1 ? 0.1 : 0.1 / 0.5));
		T_CHECK(sum == k->layers[l].n_head * n_kept, "layer %d (%d alive): heads keep %d, expected %d", l, alive, sum,
			k->layers[l].n_head * n_kept);
		T_CHECK(l <= 1 || alive == N_PROMPT / 2, "layer %d: %d rows alive after TSP", l, alive);
	}
	t_run_free(&r);
}

int main(void)
{
	char err[256];
	if (t_tiny_model(&g_m, err, sizeof(err)) || !(g_ids = t_random_ids(N_PROMPT, 5, g_m->cfg.n_vocab))) {
		printf("FAIL tiny model: %s\n", err);
		return 1;
	}
	T_RUN(pyramidkv_should_keep_kvpress_layer_budgets);
	T_RUN(adakv_heads_should_share_the_layer_budget_unequally);
	T_RUN(adakv_with_full_safeguard_should_be_per_head_top_k);
	T_RUN(tova_heads_should_keep_the_same_rows_and_the_last);
	T_RUN(tsp_plus_adakv_should_retain_within_the_propagated_rows);
	free(g_ids);
	model_free(g_m);
	return t_done();
}
