/* Composed methods (methods/compose.c) on a tiny random-weight model: fastkv selects
 * exactly as tsp+snapkv:per_kv_head=1 in both eviction modes (caches, positions,
 * propagated rows, logits, bit for bit); none+X is X and gemfilter+full, pyramidinfer+full
 * are gemfilter, pyramidinfer (decode included); tsp+full keeps every propagated row in
 * every layer; composed names in method lists with per-entry flags; describe records both
 * halves; shared prefills accept composed members that propagate alike and refuse others;
 * after GemFilter and PyramidInfer a proportional retention keeps retain_rate of the prompt,
 * and --filter_rate sets GemFilter's own cut. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"      // KV_EINVAL
#include "engine/forward.h"     // fwd_session_*, fwd_prefill, fwd_prefill_shared, fwd_decode
#include "engine/kvcache.h"     // struct kv_cache
#include "engine/model.h"       // model_init_random
#include "methods/registry.h"   // kv_method_list_parse, kv_compose_find
#include "tests/test.h"
#include "tests/test_policy.h" // t_policy_make

#define N_TOK 300
#define STEPS 4

static struct model *g_tiny; /* 4 layers, E 64, H 4, Hkv 2, D 16, V 256 */

struct cfg {
	const char *method;
	const char *kv[17];
};

static int run_prefill(const struct cfg *c, const int32_t *ids, int n, struct t_run *r, char *err, size_t errlen)
{
	int rc;
	memset(r, 0, sizeof(*r));
	if (!(r->logits = malloc(sizeof(float) * (size_t)g_tiny->cfg.n_vocab)))
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	if ((rc = t_policy_make(c->method, c->kv, g_tiny, &r->pol, err, errlen)) ||
	    (rc = fwd_session_init(g_tiny, &r->pol, STEPS, 1, &r->s, err, errlen)) ||
	    (rc = fwd_prefill(r->s, ids, n, false, r->logits, err, errlen)))
		t_run_free(r);
	return rc;
}

/* Checks that a and b hold the same caches (heads, lengths, positions, K and V bytes),
 * propagated and restarted the same tokens and gave the same logits bit for bit. */
static void check_same_session(const char *what, const struct t_run *a, const struct t_run *b)
{
	const struct fwd_trace *ta = &a->s->trace, *tb = &b->s->trace;
	int L = g_tiny->cfg.n_layer, D = g_tiny->cfg.head_dim, V = g_tiny->cfg.n_vocab;
	T_CHECK(!memcmp(a->logits, b->logits, sizeof(float) * (size_t)V), "%s: logits differ", what);
	T_CHECK(ta->n_restart == tb->n_restart &&
			(!ta->n_restart || !memcmp(ta->restart_pos, tb->restart_pos, sizeof(int32_t) * (size_t)ta->n_restart)),
		"%s: restarts differ (%d, %d)", what, ta->n_restart, tb->n_restart);
	for (int l = 0; l < L; l++) {
		T_CHECK(ta->n_alive[l] == tb->n_alive[l] && ta->n_prop[l] == tb->n_prop[l], "%s: layer %d: %d/%d alive, %d/%d propagated",
			what, l, ta->n_alive[l], tb->n_alive[l], ta->n_prop[l], tb->n_prop[l]);
		if (ta->n_prop[l] == tb->n_prop[l] && ta->n_prop[l] > 0)
			T_CHECK(!memcmp(ta->prop_pos[l], tb->prop_pos[l], sizeof(int32_t) * (size_t)ta->n_prop[l]),
				"%s: layer %d propagates other tokens", what, l);
		const struct kv_layer *A = &a->s->cache->layers[l], *B = &b->s->cache->layers[l];
		T_CHECK(A->n_head == B->n_head, "%s: layer %d: %d and %d cache heads", what, l, A->n_head, B->n_head);
		for (int h = 0; h < A->n_head && A->n_head == B->n_head; h++) {
			T_CHECK(A->len[h] == B->len[h], "%s: layer %d head %d holds %d and %d", what, l, h, A->len[h], B->len[h]);
			if (A->len[h] != B->len[h])
				continue;
			const int32_t *pa = A->pos + (size_t)h * A->cap, *pb = B->pos + (size_t)h * B->cap;
			T_CHECK(!memcmp(pa, pb, sizeof(int32_t) * (size_t)A->len[h]), "%s: layer %d head %d keeps other rows", what, l, h);
			size_t row = sizeof(float) * (size_t)A->len[h] * D;
			T_CHECK(!memcmp(A->k + (size_t)h * A->cap * D, B->k + (size_t)h * B->cap * D, row) &&
					!memcmp(A->v + (size_t)h * A->cap * D, B->v + (size_t)h * B->cap * D, row),
				"%s: layer %d head %d: K/V bytes differ", what, l, h);
		}
	}
}

/* Prefills N_TOK tokens with a and b, compares, decodes STEPS tokens and compares again. */
static void check_same(const struct cfg *ca, const struct cfg *cb, uint64_t seed)
{
	char err[512], what[512];
	size_t o = (size_t)snprintf(what, sizeof(what), "%s vs %s", ca->method, cb->method);
	for (int i = 0; cb->kv[i] && o < sizeof(what); i += 2)
		o += (size_t)snprintf(what + o, sizeof(what) - o, " %s=%s", cb->kv[i], cb->kv[i + 1]);
	int32_t *ids = t_random_ids(N_TOK, seed, g_tiny->cfg.n_vocab);
	struct t_run a, b;
	int rc = run_prefill(ca, ids, N_TOK, &a, err, sizeof(err));
	T_CHECK(rc == 0, "%s: %s", ca->method, err);
	if (!rc && (rc = run_prefill(cb, ids, N_TOK, &b, err, sizeof(err)))) {
		T_CHECK(rc == 0, "%s: %s", cb->method, err);
		t_run_free(&a);
	}
	if (rc) {
		free(ids);
		return;
	}
	check_same_session(what, &a, &b);
	int32_t tok = ids[N_TOK - 1];
	for (int t = 0; t < STEPS && !rc; t++) {
		if ((rc = fwd_decode(a.s, tok, a.logits, err, sizeof(err))) || (rc = fwd_decode(b.s, tok, b.logits, err, sizeof(err))))
			T_CHECK(rc == 0, "%s: decode: %s", what, err);
		tok = (tok * 7 + 3) % g_tiny->cfg.n_vocab;
	}
	if (!rc) {
		snprintf(what + o, sizeof(what) - o, " after %d decode steps", STEPS);
		check_same_session(what, &a, &b);
	}
	t_run_free(&a);
	t_run_free(&b);
	free(ids);
}

// ----------------------------------------------------------------------------

/* The flags of one FastKV setting, given alike to fastkv and to the composition. */
#define PROP "eviction_mode", "proportional", "retain_rate", "0.1", "tsp_rate", "0.2", "tsp_idx", "1", "window_size", "8"
#define PROP_BIG "eviction_mode", "proportional", "retain_rate", "0.3", "tsp_rate", "0.2", "tsp_idx", "2" /* 1.5 after TSP */
#define CONST "eviction_mode", "constant", "max_capacity_prompts", "40", "tsp_len", "100", "tsp_idx", "2"
#define CONST_SHORT "eviction_mode", "constant", "max_capacity_prompts", "400", "tsp_len", "100", "tsp_idx", "1" /* no TSP */
#define CONST_AVG "eviction_mode", "constant", "max_capacity_prompts", "64", "tsp_len", "120", "tsp_idx", "0", \
	"pooling", "avgpool", "kernel_size", "5", "window_size", "6"

static void fastkv_should_select_exactly_as_tsp_snapkv_per_kv_head(void)
{
	static const struct cfg pairs[][2] = {
		{ { "fastkv", { PROP, NULL } }, { "tsp+snapkv", { PROP, "per_kv_head", "1", NULL } } },
		{ { "fastkv", { PROP_BIG, NULL } }, { "tsp+snapkv", { PROP_BIG, "per_kv_head", "1", NULL } } },
		{ { "fastkv", { CONST, NULL } }, { "tsp+snapkv", { CONST, "per_kv_head", "1", NULL } } },
		{ { "fastkv", { CONST_SHORT, NULL } }, { "tsp+snapkv", { CONST_SHORT, "per_kv_head", "1", NULL } } },
		{ { "fastkv", { CONST_AVG, NULL } }, { "tsp+snapkv", { CONST_AVG, "per_kv_head", "1", NULL } } },
	};
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		check_same(&pairs[i][0], &pairs[i][1], 11 + i);
	/* and TSP did happen where it should */
	char err[512];
	int32_t *ids = t_random_ids(N_TOK, 11, g_tiny->cfg.n_vocab);
	struct t_run r;
	struct cfg c = { "tsp+snapkv", { PROP, "per_kv_head", "1", NULL } };
	if (run_prefill(&c, ids, N_TOK, &r, err, sizeof(err)) == 0) {
		T_CHECK(r.s->trace.n_prop[1] == 60 && r.s->cache->layers[3].len[0] == 30, "TSP: %d propagated, %d cached after",
			r.s->trace.n_prop[1], r.s->cache->layers[3].len[0]);
		t_run_free(&r);
	} else
		T_CHECK(0, "%s", err);
	free(ids);
}

static void none_x_should_be_x_and_x_full_the_reduction_alone(void)
{
	static const struct cfg pairs[][2] = {
		{ { "snapkv", { "max_capacity_prompts", "40", NULL } }, { "none+snapkv", { "max_capacity_prompts", "40", NULL } } },
		{ { "snapkv", { "eviction_mode", "proportional", "per_kv_head", "1", NULL } },
		  { "none+snapkv", { "eviction_mode", "proportional", "per_kv_head", "1", NULL } } },
		{ { "h2o", { "max_capacity_prompts", "40", NULL } }, { "none+h2o", { "max_capacity_prompts", "40", NULL } } },
		{ { "streamingllm", { "eviction_mode", "proportional", "retain_rate", "0.2", NULL } },
		  { "none+streamingllm", { "eviction_mode", "proportional", "retain_rate", "0.2", NULL } } },
		{ { "fullkv", { NULL } }, { "none+fullkv", { NULL } } },
		{ { "gemfilter", { "max_capacity_prompts", "60", "filter_idx", "2", NULL } },
		  { "gemfilter+full", { "max_capacity_prompts", "60", "filter_idx", "2", NULL } } },
		{ { "pyramidinfer", { "retain_rate", "0.5", NULL } }, { "pyramidinfer+full", { "retain_rate", "0.5", NULL } } },
	};
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		check_same(&pairs[i][0], &pairs[i][1], 21 + i);
}

static void tsp_full_should_keep_every_propagated_row_in_every_layer(void)
{
	static const struct cfg cfgs[] = {
		{ "tsp+full", { PROP, NULL } },
		{ "tsp+fullkv", { CONST, NULL } },
	};
	char err[512];
	int32_t *ids = t_random_ids(N_TOK, 31, g_tiny->cfg.n_vocab);
	for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
		struct t_run r;
		if (run_prefill(&cfgs[i], ids, N_TOK, &r, err, sizeof(err))) {
			T_CHECK(0, "%s: %s", cfgs[i].method, err);
			continue;
		}
		const struct fwd_trace *t = &r.s->trace;
		int tsp = i == 0 ? 1 : 2, np = t->n_prop[tsp];
		T_CHECK(np == (i == 0 ? 60 : 100), "%s: %d propagated", cfgs[i].method, np);
		for (int l = 0; l < g_tiny->cfg.n_layer && np > 0; l++) {
			const struct kv_layer *K = &r.s->cache->layers[l];
			int want = l <= tsp ? N_TOK : np;
			T_CHECK(t->n_alive[l] == want, "%s: layer %d: %d alive, want %d", cfgs[i].method, l, t->n_alive[l], want);
			for (int h = 0; h < K->n_head; h++) {
				T_CHECK(K->len[h] == want, "%s: layer %d head %d holds %d, want %d", cfgs[i].method, l, h, K->len[h], want);
				const int32_t *pos = K->pos + (size_t)h * K->cap;
				bool same = K->len[h] == want;
				for (int j = 0; j < want && same; j++)
					same = pos[j] == (l <= tsp ? j : t->prop_pos[tsp][j]);
				T_CHECK(same, "%s: layer %d head %d does not hold the rows that entered it", cfgs[i].method, l, h);
			}
		}
		t_run_free(&r);
	}
	free(ids);
}

/* After GemFilter and PyramidInfer a proportional retention keeps retain_rate of the prompt:
 * min(rows at hand, floor(0.1 * N_TOK)) per head and layer; --filter_rate cuts GemFilter's
 * restart apart from that budget. */
static void retention_should_keep_retain_rate_of_the_prompt_after_gemfilter_and_pyramidinfer(void)
{
#define P01 "eviction_mode", "proportional", "retain_rate", "0.1"
	static const struct cfg cfgs[] = {
		{ "pyramidinfer+snapkv", { P01, "window_size", "4", "pyramid_decay_ratio", "0.5", NULL } },
		{ "pyramidinfer+h2o", { P01, "pyramid_decay_ratio", "0.2", NULL } },
		{ "gemfilter+snapkv", { P01, "window_size", "4", "filter_rate", "0.5", "filter_idx", "2", NULL } },
		{ "gemfilter+tova", { P01, "filter_rate", "0.05", "filter_idx", "1", NULL } },
		{ "gemfilter+full", { P01, "filter_rate", "0.5", "filter_idx", "2", NULL } },
	};
	static const int restart[] = { 0, 0, 150, 15, 150 };
	char err[512];
	int32_t *ids = t_random_ids(N_TOK, 41, g_tiny->cfg.n_vocab);
	for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
		struct t_run r;
		const char *m = cfgs[i].method;
		if (run_prefill(&cfgs[i], ids, N_TOK, &r, err, sizeof(err))) {
			T_CHECK(0, "%s: %s", m, err);
			continue;
		}
		const struct fwd_trace *t = &r.s->trace;
		T_CHECK(t->n_restart == restart[i], "%s: %d restarted, want %d", m, t->n_restart, restart[i]);
		int below = 0;
		for (int l = 0; l < g_tiny->cfg.n_layer; l++) {
			const struct kv_layer *K = &r.s->cache->layers[l];
			int rows = t->n_alive[l], want = strstr(m, "+full") ? rows : rows < 30 ? rows : 30;
			below += rows < N_TOK;
			for (int h = 0; h < K->n_head; h++)
				T_CHECK(K->len[h] == want, "%s: layer %d head %d holds %d of %d rows, want %d", m, l, h, K->len[h], rows, want);
		}
		T_CHECK(below > 0, "%s: the reduction cut nothing", m);
		t_run_free(&r);
	}
	free(ids);
	/* --filter_rate is GemFilter's cut alone: the same tokens as a constant budget of that many */
	static const struct cfg same[][2] = {
		{ { "gemfilter", { "max_capacity_prompts", "150", "filter_idx", "2", NULL } },
		  { "gemfilter", { "filter_rate", "0.5", "filter_idx", "2", NULL } } },
		{ { "gemfilter", { "eviction_mode", "proportional", "retain_rate", "0.2", "filter_idx", "1", NULL } },
		  { "gemfilter", { "eviction_mode", "proportional", "retain_rate", "0.7", "filter_rate", "0.2", "filter_idx", "1", NULL } } },
	};
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		check_same(&same[i][0], &same[i][1], 43 + i);
#undef P01
}

static void describe_should_record_both_halves_and_keep_fastkv(void)
{
	char err[512], buf[4096];
	struct kv_policy pol;
	static const struct cfg c = { "tsp+h2o", { "tsp_idx", "2", "window_size", "4", NULL } };
	if (t_policy_make(c.method, c.kv, g_tiny, &pol, err, sizeof(err)) == 0) {
		kv_policy_describe(&pol, buf, sizeof(buf));
		T_CHECK(!strcmp(buf, "{\"method\":\"tsp+h2o\",\"reduction\":{\"method\":\"tsp\",\"eviction_mode\":\"constant\","
				     "\"retain_rate\":0.10000000000000001,\"max_capacity_prompts\":512,\"window_size\":4,\"kernel_size\":7,"
				     "\"pooling\":\"maxpool\",\"tsp_idx\":2,\"tsp_rate\":0.20000000000000001,\"tsp_len\":2048},"
				     "\"retention\":{\"method\":\"h2o\",\"eviction_mode\":\"constant\",\"retain_rate\":0.10000000000000001,"
				     "\"max_capacity_prompts\":512,\"window_size\":4,\"h2o_causal\":0,\"per_kv_head\":0}}"),
			"describe: %s", buf);
		kv_policy_free(&pol);
	} else
		T_CHECK(0, "%s", err);
	static const struct cfg f = { "fastkv", { "tsp_idx", "3", NULL } };
	if (t_policy_make(f.method, f.kv, g_tiny, &pol, err, sizeof(err)) == 0) {
		kv_policy_describe(&pol, buf, sizeof(buf));
		T_CHECK(!strcmp(buf, "{\"method\":\"fastkv\",\"eviction_mode\":\"constant\",\"retain_rate\":0.10000000000000001,"
				     "\"max_capacity_prompts\":512,\"window_size\":8,\"kernel_size\":7,\"pooling\":\"maxpool\",\"tsp_idx\":3,"
				     "\"tsp_rate\":0.20000000000000001,\"tsp_len\":2048}"),
			"fastkv describe changed: %s", buf);
		kv_policy_free(&pol);
	} else
		T_CHECK(0, "%s", err);
	/* the prompt budget rule is recorded where it applies; an unset --filter_rate is not */
	static const struct cfg rec[] = {
		{ "pyramidinfer+h2o", { "eviction_mode", "proportional", "pyramid_decay_ratio", "0.3", NULL } },
		{ "gemfilter+snapkv", { "eviction_mode", "proportional", "filter_rate", "0.5", "filter_idx", "1", NULL } },
		{ "gemfilter+snapkv", { "max_capacity_prompts", "64", "filter_idx", "1", NULL } },
		{ "tsp+snapkv", { "eviction_mode", "proportional", "tsp_idx", "1", NULL } },
		{ "gemfilter+full", { "eviction_mode", "proportional", "filter_idx", "1", NULL } },
	};
	static const bool has_rule[] = { true, true, false, false, false }, has_filter[] = { false, true, false, false, false };
	for (size_t i = 0; i < sizeof(rec) / sizeof(rec[0]); i++) {
		if (t_policy_make(rec[i].method, rec[i].kv, g_tiny, &pol, err, sizeof(err))) {
			T_CHECK(0, "%s: %s", rec[i].method, err);
			continue;
		}
		kv_policy_describe(&pol, buf, sizeof(buf));
		T_CHECK(!!strstr(buf, ",\"retain_rate_of\":\"prompt\"}") == has_rule[i] &&
				!!strstr(buf, "\"filter_rate\":0.5") == has_filter[i] && !!strstr(buf, "filter_rate") == has_filter[i],
			"%s (%zu): describe %s", rec[i].method, i, buf);
		kv_policy_free(&pol);
	}
	const struct kv_method *m = kv_compose_find("gemfilter+h2o"), *red = NULL, *ret = NULL;
	T_CHECK(m && m->gen_extra_token && m->prompt_cap == 7950 && kv_compose_halves(m, &red, &ret) &&
			red == kv_method_find("gemfilter") && ret == kv_method_find("h2o"),
		"gemfilter+h2o: the halves' protocol and halves");
	T_CHECK(kv_compose_find("fullkv+fullkv") == NULL && kv_compose_find("tsp+h2o+x") == NULL && kv_compose_find("tsp") == NULL &&
			kv_compose_find("tsp+fullkv") == kv_compose_find("tsp+full") && !kv_compose_halves(kv_method_find("fastkv"), &red, &ret),
		"composition names");
}

/* Parses spec with the shared flags kv (key, value, ..., NULL); returns rc, err filled. */
static int parse(const char *spec, const char *const *kv, char *err, size_t errlen)
{
	struct kv_args shared = { 0 };
	struct kv_method_entry *e = NULL;
	int n = 0, rc = 0;
	for (int i = 0; kv && kv[i] && !rc; i += 2)
		rc = kv_args_set(&shared, kv[i], kv[i + 1], err, errlen);
	if (!rc)
		rc = kv_method_list_parse(kv_methods, "--method", spec, &shared, &e, &n, err, errlen);
	struct kv_shape shape = { .n_layer = 4, .n_head = 4, .n_head_kv = 2, .head_dim = 16, .n_embd = 64 };
	for (int i = 0; !rc && i < n; i++) {
		struct kv_policy pol;
		if (!(rc = kv_policy_make(e[i].m, &e[i].args, &shape, &pol, err, errlen)))
			kv_policy_free(&pol);
	}
	kv_method_list_free(e, n);
	kv_args_free(&shared);
	return rc;
}

static void method_lists_should_take_composed_names_and_their_flags(void)
{
	char err[512];
	static const char *const ws[] = { "window_size", "4", "tsp_idx", "2", NULL }, *const tsp[] = { "tsp_idx", "2", NULL };
	T_CHECK(parse("tsp+snapkv,tsp+h2o:tsp_idx=1,fastkv,gemfilter+streamingllm:filter_idx=3", ws, err, sizeof(err)) == 0,
		"list: %s", err);
	T_CHECK(parse("pyramidinfer+snapkv:pyramid_preset=llama31_8b_50%", NULL, err, sizeof(err)) == 0, "pyramidinfer+snapkv: %s", err);
	int rc = parse("none+snapkv", tsp, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL && strstr(err, "--tsp_idx"), "a TSP flag without a TSP method: rc %d '%s'", rc, err);
	rc = parse("tsp+h2o:filter_idx=3", NULL, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL && strstr(err, "'filter_idx'") && strstr(err, "tsp+h2o"), "foreign key: rc %d '%s'", rc, err);
	rc = parse("tsp+h2o:tsp_idx=9", NULL, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL && strstr(err, "--tsp_idx") && !strchr(err, '\n'), "layer out of range: rc %d '%s'", rc, err);
	rc = parse("tsp+h2o:tsp_rate=0.5", NULL, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL && strstr(err, "--tsp_rate") && strstr(err, "proportional"), "mode: rc %d '%s'", rc, err);
	rc = parse("fastkv,snapkv+h2o", NULL, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL && strstr(err, "'snapkv+h2o' is not a composition") && strstr(err, "REDUCTION one of none, tsp"),
		"bad composition: rc %d '%s'", rc, err);
	rc = parse("tsp+h2o,tsp+h2o", NULL, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL && strstr(err, "listed twice"), "twice: rc %d '%s'", rc, err);
}

/* Members share a prefill when their reductions send the same tokens on; others are refused. */
static void shared_prefills_should_refuse_composed_members_that_propagate_differently(void)
{
	char err[512];
	int32_t *ids = t_random_ids(N_TOK, 41, g_tiny->cfg.n_vocab);
	static const struct cfg groups[][3] = {
		{ { "tsp+h2o", { PROP, NULL } }, { "tsp+snapkv", { PROP, NULL } }, { "fastkv", { PROP, NULL } } },
		{ { "tsp+h2o", { PROP, NULL } }, { "none+h2o", { "eviction_mode", "proportional", NULL } }, { NULL, { NULL } } },
	};
	for (int g = 0; g < 2; g++) {
		struct kv_policy pol[3] = { 0 };
		struct fwd_session *ss[3] = { 0 };
		float *logits = malloc(sizeof(float) * 3 * (size_t)g_tiny->cfg.n_vocab);
		int n = 0, rc = 0;
		for (; n < 3 && groups[g][n].method && !rc; n++)
			if (!(rc = t_policy_make(groups[g][n].method, groups[g][n].kv, g_tiny, &pol[n], err, sizeof(err))))
				rc = fwd_session_init(g_tiny, &pol[n], 0, 1, &ss[n], err, sizeof(err));
		T_CHECK(rc == 0, "group %d: %s", g, err);
		if (!rc) {
			rc = fwd_prefill_shared(ss, n, ids, N_TOK, false, logits, err, sizeof(err));
			if (g == 0)
				T_CHECK(rc == 0, "tsp+h2o, tsp+snapkv and fastkv share a prefill: %s", err);
			else
				T_CHECK(rc == KV_EINVAL && strstr(err, "send different tokens on after layer 1"), "refused: rc %d '%s'", rc, err);
		}
		for (int i = 0; i < 3; i++) {
			fwd_session_free(ss[i]);
			kv_policy_free(&pol[i]);
		}
		free(logits);
	}
	free(ids);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	char err[512];
	if (t_tiny_model(&g_tiny, err, sizeof(err))) {
		printf("FAIL tiny model: %s\n", err);
		t_n_fail++;
		return t_done();
	}
	T_RUN(fastkv_should_select_exactly_as_tsp_snapkv_per_kv_head);
	T_RUN(none_x_should_be_x_and_x_full_the_reduction_alone);
	T_RUN(tsp_full_should_keep_every_propagated_row_in_every_layer);
	T_RUN(retention_should_keep_retain_rate_of_the_prompt_after_gemfilter_and_pyramidinfer);
	T_RUN(describe_should_record_both_halves_and_keep_fastkv);
	T_RUN(method_lists_should_take_composed_names_and_their_flags);
	T_RUN(shared_prefills_should_refuse_composed_members_that_propagate_differently);
	model_free(g_tiny);
	return t_done();
}
