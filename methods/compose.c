/* Composed methods, --method REDUCTION+RETENTION (design.md, "The method contract"): a
 * context-reduction half (none, tsp, gemfilter, pyramidinfer) decides which tokens go on
 * (prop) or restart, and a KV-retention half (full, snapkv, h2o, streamingllm, adakv,
 * pyramidkv, tova, expected_attention, kvzip) decides
 * which rows each layer's cache keeps, both on the same layer view; each half is the
 * method it names, built from the flags its own table takes.
 *
 * - Parameters: the union of the halves' tables (the reduction's first); a flag goes to
 *   every half that takes it, so the shared ones (--eviction_mode, --retain_rate,
 *   --max_capacity_prompts, --window_size, ...) mean the same to both halves.
 * - Budgets: a proportional --retain_rate is a fraction of the prompt after every reduction.
 *   - After TSP (spec 3.1): retention after --tsp_idx keeps retain_rate / tsp_rate of the
 *     propagated rows, as FastKV does. tsp keeps FastKV's short-prompt exit: no TSP where
 *     the TSP layer's budget reaches its rows or stays within the window. fastkv is
 *     tsp+snapkv:per_kv_head=1, selection for selection (tests/test_compose.c).
 *   - After GemFilter and PyramidInfer: a layer holding n rows of a T-token prompt keeps
 *     min(n, floor(retain_rate * T)) rows (T: the prompt before GemFilter's restart). The
 *     describe JSON says so ("retain_rate_of":"prompt"). GemFilter's own cut is
 *     --filter_rate of the prompt where given, else its KV budget, which the retention
 *     then cannot cut below: give --filter_rate above --retain_rate to compose them.
 * - Decode goes to the retention half; where it has no decode step and keeps every row
 *   (full), to the reduction's (PyramidInfer's block eviction: pyramidinfer+full is
 *   pyramidinfer). PyramidInfer's decode reads rows recorded for the uncompressed layers,
 *   so under a compressing retention it does not run.
 * - Prompt protocol: the larger prompt cap of the halves, the extra token if either asks.
 * - A retention that cuts after the prefill (kvzip: after_prefill) gets that step; it composes
 *   with none and tsp, and gemfilter / pyramidinfer before it are refused (compose_init says why).
 * - describe: {"method":"A+B","reduction":{...},"retention":{...}}, then "retain_rate_of" where
 *   the rule above says so.
 * Ownership: the composed kv_methods are static, built once at the first lookup
 * (pthread_once) and borrowed for the life of the process, like kv_methods[]. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "methods/params.h"
#include "methods/registry.h"
#include "methods/tsp.h"

struct half {
	const char *name;
	const struct kv_method *m; /* NULL: none */
};

static const struct half reductions[] = {
	{ "none", NULL }, { "tsp", &tsp_reduction_method }, { "gemfilter", &gemfilter_method },
	{ "pyramidinfer", &pyramidinfer_method },
};
static const struct half retentions[] = {
	{ "full", &fullkv_method }, { "snapkv", &snapkv_method }, { "h2o", &h2o_method },
	{ "streamingllm", &streamingllm_method }, { "adakv", &adakv_method }, { "pyramidkv", &pyramidkv_method },
	{ "tova", &tova_method }, { "expected_attention", &expected_attention_method }, { "kvzip", &kvzip_method },
};

#define N_RED ((int)(sizeof(reductions) / sizeof(reductions[0])))
#define N_RET ((int)(sizeof(retentions) / sizeof(retentions[0])))
#define N_COMP (N_RED * N_RET)
#define N_INIT 64 /* init wrappers below: at least N_COMP */
#define MAX_PARAMS 32

/* One composed method: its vtable, halves, name and union parameter table. */
struct composed {
	struct kv_method m;
	const struct kv_method *red, *ret; /* red NULL: none */
	char name[40];
	char summary[96];
	const struct kv_param_def *params[MAX_PARAMS];
};

static struct composed g_comp[N_INIT]; /* the first N_COMP are used */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* How a proportional retention's --retain_rate reads after the reduction. */
enum budget_rule {
	BUDGET_AS_GIVEN = 0, /* of the rows at hand: no reduction, constant mode, or no --retain_rate */
	BUDGET_TSP,          /* FastKV's: retain_rate / tsp_rate after --tsp_idx */
	BUDGET_PROMPT        /* floor(retain_rate * T) rows of the T-token prompt (GemFilter, PyramidInfer) */
};

/* The state of a composed policy: both halves, and the budget rule's settings. */
struct compose_state {
	const struct composed *c;
	struct kv_policy red, ret;   /* red.m NULL: none */
	enum budget_rule rule;
	const struct tsp_params *tsp; /* BUDGET_TSP: the tsp half's parameters */
	struct kv_params *ret_p;     /* the retention half's shared parameters (its state starts with them) */
	double rate0;                /* the retention's --retain_rate as given */
	int n_prompt;                /* BUDGET_PROMPT: the prompt's tokens (pass 0's) */
};

// ----------------------------------------------------------------------------
// policy

/* Builds half m (NULL: none) from the pairs of keys/vals its table takes, in its table's order. */
static int half_make(const struct kv_method *m, const char *const *keys, const char *const *vals, int n,
		     const struct kv_shape *shape, struct kv_policy *out, char *err, size_t errlen)
{
	struct kv_args a = { 0 };
	int rc = 0;
	out->m = NULL;
	out->state = NULL;
	if (!m)
		return 0;
	for (int t = 0; m->params[t] && !rc; t++)
		for (int i = 0; i < n && !rc; i++)
			if (strcmp(keys[i], m->params[t]->name) == 0)
				rc = kv_args_set(&a, keys[i], vals[i], err, errlen);
	if (!rc)
		rc = kv_policy_make(m, &a, shape, out, err, errlen);
	kv_args_free(&a);
	return rc;
}

static void compose_free(void *state)
{
	struct compose_state *st = state;
	if (!st)
		return;
	kv_policy_free(&st->red);
	kv_policy_free(&st->ret);
	free(st);
}

static int compose_init(const struct composed *c, const char *const *keys, const char *const *vals, int n,
			const struct kv_shape *shape, void **state, char *err, size_t errlen)
{
	for (int i = 0; i < n; i++)
		if (!kv_param_find(c->params, keys[i]))
			return kv_errf(err, errlen, KV_EINVAL, "--%s: not a parameter of %s", keys[i], c->name);
	/* a cut after the prefill (KVzip) follows only reductions that keep the prompt's positions and
	 * leave the cache alone afterwards */
	if (c->ret->after_prefill && c->red == &gemfilter_method)
		return kv_errf(err, errlen, KV_EINVAL,
			       "--method %s: GemFilter re-prefills a filtered prompt at new positions, so the context %s "
			       "replays is not what the cache holds; use none+%s or tsp+%s", c->name, c->ret->name, c->ret->name,
			       c->ret->name);
	if (c->ret->after_prefill && c->red == &pyramidinfer_method)
		return kv_errf(err, errlen, KV_EINVAL,
			       "--method %s: PyramidInfer compresses the cache itself and evicts at decode from rows it "
			       "recorded at the prefill, which a later cut by %s would invalidate; use none+%s or tsp+%s", c->name,
			       c->ret->name, c->ret->name, c->ret->name);
	struct compose_state *st = calloc(1, sizeof(*st));
	int rc;
	if (!st)
		return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", c->name);
	st->c = c;
	if ((rc = half_make(c->red, keys, vals, n, shape, &st->red, err, errlen)) ||
	    (rc = half_make(c->ret, keys, vals, n, shape, &st->ret, err, errlen))) {
		compose_free(st);
		return rc;
	}
	if (kv_param_find(c->ret->params, "retain_rate")) {
		st->ret_p = st->ret.state; /* every retention method's state starts with its struct kv_params */
		st->rate0 = st->ret_p->retain_rate;
		if (c->red && st->ret_p->eviction_mode == KV_EVICT_PROPORTIONAL)
			st->rule = c->red == &tsp_reduction_method ? BUDGET_TSP : BUDGET_PROMPT;
		if (st->rule == BUDGET_TSP)
			st->tsp = st->red.state;
	}
	*state = st;
	return 0;
}

static int compose_prefill_layer(void *state, const struct kv_layer_view *v, struct kv_decision *d, char *err,
				 size_t errlen)
{
	struct compose_state *st = state;
	int rc = kv_policy_prefill_layer(&st->red, v, d, err, errlen);
	if (rc)
		return rc;
	if (v->pass == 0)
		st->n_prompt = v->n_prompt;
	if (st->rule == BUDGET_TSP) /* spec 3.1, the same arithmetic as tsp_layer_rate */
		st->ret_p->retain_rate = v->layer <= st->tsp->tsp_idx ? st->rate0 : st->rate0 / st->tsp->tsp_rate;
	if (st->rule == BUDGET_PROMPT) { /* a rate whose n * rate is K and a hair (floor: exactly K) */
		double k = floor((double)st->n_prompt * st->rate0);
		st->ret_p->retain_rate = k >= v->n ? 1.0 : (k + 1e-6) / v->n;
	}
	rc = kv_policy_prefill_layer(&st->ret, v, d, err, errlen);
	if (st->ret_p)
		st->ret_p->retain_rate = st->rate0;
	return rc;
}

static int compose_decode_layer(void *state, const struct kv_decode_view *v, struct kv_decision *d, char *err,
				size_t errlen)
{
	struct compose_state *st = state;
	if (st->ret.m->decode_layer)
		return kv_policy_decode_layer(&st->ret, v, d, err, errlen);
	return kv_policy_decode_layer(&st->red, v, d, err, errlen); /* only set when the retention is full */
}

static int compose_after_prefill(void *state, const struct kv_session_view *v, struct kv_decision *d, char *err,
				 size_t errlen)
{
	struct compose_state *st = state;
	return kv_policy_after_prefill(&st->ret, v, d, err, errlen);
}

static void compose_describe(const void *state, char *buf, size_t len)
{
	const struct compose_state *st = state;
	char red[1024], ret[1024];
	if (st->red.m)
		kv_policy_describe(&st->red, red, sizeof(red));
	else
		snprintf(red, sizeof(red), "{\"method\":\"none\"}");
	kv_policy_describe(&st->ret, ret, sizeof(ret));
	snprintf(buf, len, "{\"method\":\"%s\",\"reduction\":%s,\"retention\":%s%s}", st->c->name, red, ret,
		 st->rule == BUDGET_PROMPT ? ",\"retain_rate_of\":\"prompt\"" : "");
}

// ----------------------------------------------------------------------------
// the composed methods

#define COMPOSE_INIT(name, i)                                                                                         \
	static int compose_init_##name(const char *const *keys, const char *const *vals, int n,                       \
				       const struct kv_shape *shape, void **state, char *err, size_t errlen)           \
	{                                                                                                             \
		return compose_init(&g_comp[i], keys, vals, n, shape, state, err, errlen);                            \
	}
#define COMPOSE_INIT8(i)                                                                                              \
	COMPOSE_INIT(i##0, i * 8 + 0) COMPOSE_INIT(i##1, i * 8 + 1) COMPOSE_INIT(i##2, i * 8 + 2)                     \
	COMPOSE_INIT(i##3, i * 8 + 3) COMPOSE_INIT(i##4, i * 8 + 4) COMPOSE_INIT(i##5, i * 8 + 5)                     \
	COMPOSE_INIT(i##6, i * 8 + 6) COMPOSE_INIT(i##7, i * 8 + 7)
COMPOSE_INIT8(0) COMPOSE_INIT8(1) COMPOSE_INIT8(2) COMPOSE_INIT8(3) COMPOSE_INIT8(4) COMPOSE_INIT8(5) COMPOSE_INIT8(6)
COMPOSE_INIT8(7)

typedef int (*init_fn)(const char *const *, const char *const *, int, const struct kv_shape *, void **, char *, size_t);
#define INITS8(i) compose_init_##i##0, compose_init_##i##1, compose_init_##i##2, compose_init_##i##3, \
	compose_init_##i##4, compose_init_##i##5, compose_init_##i##6, compose_init_##i##7
static const init_fn g_inits[N_INIT] = { INITS8(0), INITS8(1), INITS8(2), INITS8(3), INITS8(4), INITS8(5), INITS8(6), INITS8(7) };

/* Appends the definitions of table not yet in c->params. */
static void add_params(struct composed *c, int *n, const struct kv_param_def *const *table)
{
	for (int t = 0; table && table[t]; t++)
		if (!kv_param_find(c->params, table[t]->name) && *n < MAX_PARAMS - 1)
			c->params[(*n)++] = table[t];
	c->params[*n] = NULL;
}

static void build_all(void)
{
	_Static_assert(N_COMP <= N_INIT, "one init wrapper per composition: add COMPOSE_INIT8 rows");
	for (int a = 0; a < N_RED; a++)
		for (int b = 0; b < N_RET; b++) {
			struct composed *c = &g_comp[a * N_RET + b];
			const struct kv_method *red = reductions[a].m, *ret = retentions[b].m;
			int n = 0;
			c->red = red;
			c->ret = ret;
			snprintf(c->name, sizeof(c->name), "%s+%s", reductions[a].name, retentions[b].name);
			snprintf(c->summary, sizeof(c->summary), "%s reduces the context, %s retains the KV", reductions[a].name,
				 retentions[b].name);
			if (red)
				add_params(c, &n, red->params);
			add_params(c, &n, ret->params);
			bool red_decode = ret == &fullkv_method && red && red->decode_layer;
			int cap_a = red ? red->prompt_cap : 0, cap_b = ret->prompt_cap;
			c->m = (struct kv_method){
				.name = c->name,
				.summary = c->summary,
				.init = g_inits[a * N_RET + b],
				.free_state = compose_free,
				.prefill_layer = compose_prefill_layer,
				.decode_layer = ret->decode_layer || red_decode ? compose_decode_layer : NULL,
				.describe = compose_describe,
				.after_prefill = ret->after_prefill ? compose_after_prefill : NULL,
				.prompt_cap = cap_a > cap_b ? cap_a : cap_b,
				.gen_extra_token = (red && red->gen_extra_token) || ret->gen_extra_token,
				.params = c->params,
			};
		}
}

static int half_index(const struct half *h, int n, const char *name, size_t len)
{
	for (int i = 0; i < n; i++)
		if (strlen(h[i].name) == len && strncmp(h[i].name, name, len) == 0)
			return i;
	return -1;
}

const struct kv_method *kv_compose_find(const char *name)
{
	const char *plus = strchr(name, '+');
	if (!plus || strchr(plus + 1, '+'))
		return NULL;
	const char *b = plus + 1;
	int ia = half_index(reductions, N_RED, name, (size_t)(plus - name));
	int ib = strcmp(b, "fullkv") == 0 ? 0 : half_index(retentions, N_RET, b, strlen(b));
	if (ia < 0 || ib < 0)
		return NULL;
	pthread_once(&g_once, build_all);
	return &g_comp[ia * N_RET + ib].m;
}

int kv_compose_halves(const struct kv_method *m, const struct kv_method **reduction, const struct kv_method **retention)
{
	for (int i = 0; m && i < N_COMP; i++)
		if (m == &g_comp[i].m && g_comp[i].ret) {
			*reduction = g_comp[i].red;
			*retention = g_comp[i].ret;
			return 1;
		}
	return 0;
}

int kv_compose_error(const char *flag, const char *name, char *err, size_t errlen)
{
	char a[128] = "", b[256] = "";
	size_t o = 0;
	for (int i = 0; i < N_RED; i++)
		o += (size_t)snprintf(a + o, sizeof(a) - o, "%s%s", i ? ", " : "", reductions[i].name);
	o = 0;
	for (int i = 0; i < N_RET; i++)
		o += (size_t)snprintf(b + o, sizeof(b) - o, "%s%s", i ? ", " : "", retentions[i].name);
	return kv_errf(err, errlen, KV_EINVAL,
		       "%s: '%s' is not a composition: expected REDUCTION+RETENTION, REDUCTION one of %s, RETENTION one of %s "
		       "(or fullkv)", flag, name, a, b);
}
