/* Shared prefill (fwd_prefill_shared / gen_greedy_shared): methods that keep different
 * KV but propagate the same tokens generate on one prefill exactly what each generates
 * alone (tokens, cache bytes, statistics), and methods that propagate differently are
 * refused with an error naming both. Runs on a tiny random model (4 layers, GQA 4/2). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"   // KV_EINVAL
#include "engine/generate.h" // gen_greedy, gen_greedy_shared
#include "engine/model.h"    // model_init_random
#include "methods/registry.h" // kv_policy_free
#include "tests/test.h"
#include "tests/test_policy.h" // t_policy_make

#define N_PROMPT 300
#define MAX_NEW 12
#define MAX_MB 6

static struct model *g_tiny;
static int32_t g_prompt[N_PROMPT];

/* A method and its key/value pairs (NULL-terminated). */
struct member_cfg {
	const char *method;
	const char *kv[9];
};

/* Generates with every member alone and all together; checks they agree, or that the
 * shared call fails with an error containing want_err. */
static void check_group(const struct member_cfg *cfg, int n, const char *want_err)
{
	struct kv_policy pol[MAX_MB] = { 0 };
	struct gen_opts o[MAX_MB];
	const struct gen_opts *op[MAX_MB];
	int32_t *alone[MAX_MB] = { 0 }, *shared[MAX_MB] = { 0 };
	int n_alone[MAX_MB], n_shared[MAX_MB];
	struct gen_stats st_alone[MAX_MB], st_shared[MAX_MB];
	char err[512] = "";
	int rc = 0;
	for (int i = 0; i < n && !rc; i++) {
		rc = t_policy_make(cfg[i].method, cfg[i].kv, g_tiny, &pol[i], err, sizeof(err));
		o[i] = (struct gen_opts){ .max_new_tokens = MAX_NEW, .n_threads = 1, .policy = &pol[i], .no_eos_stop = true };
		op[i] = &o[i];
	}
	T_CHECK(rc == 0, "%s", err);
	for (int i = 0; i < n && !rc; i++) {
		rc = gen_greedy(g_tiny, g_prompt, N_PROMPT, &o[i], &alone[i], &n_alone[i], &st_alone[i], err, sizeof(err));
		T_CHECK(rc == 0, "%s alone: %s", cfg[i].method, err);
	}
	if (!rc) {
		rc = gen_greedy_shared(g_tiny, g_prompt, N_PROMPT, op, n, shared, n_shared, st_shared, err, sizeof(err));
		if (want_err) {
			T_CHECK(rc == KV_EINVAL && strstr(err, want_err), "expected an error with '%s', got rc %d: %s", want_err, rc,
				err);
			for (int i = 0; i < n; i++)
				T_CHECK(!shared[i], "member %d got output from a refused call", i);
		} else {
			T_CHECK(rc == 0, "shared: %s", err);
		}
	}
	for (int i = 0; i < n && !rc && !want_err; i++) {
		T_CHECK(n_shared[i] == n_alone[i] && !memcmp(shared[i], alone[i], sizeof(int32_t) * (size_t)n_alone[i]),
			"%s: shared generation differs from its own (%d vs %d tokens)", cfg[i].method, n_shared[i], n_alone[i]);
		T_CHECK(st_shared[i].kv_bytes_prefill == st_alone[i].kv_bytes_prefill && st_shared[i].n_prompt == N_PROMPT &&
				st_shared[i].n_generated == st_alone[i].n_generated,
			"%s: cache after the shared prefill holds %zu bytes, alone %zu", cfg[i].method,
			st_shared[i].kv_bytes_prefill, st_alone[i].kv_bytes_prefill);
		T_CHECK(st_shared[i].prefill_s == st_shared[0].prefill_s, "%s: every member's prefill_s is the shared one",
			cfg[i].method);
	}
	for (int i = 0; i < n; i++) {
		free(alone[i]);
		free(shared[i]);
		kv_policy_free(&pol[i]);
	}
}

#define PROP "eviction_mode", "proportional", "retain_rate"

static void methods_that_keep_different_kv_should_generate_on_one_prefill_what_they_generate_alone(void)
{
	const struct member_cfg g[] = {
		{ "fullkv", { NULL } },
		{ "snapkv", { PROP, "0.1", NULL } },
		{ "h2o", { PROP, "0.1", NULL } },
		{ "streamingllm", { PROP, "0.1", NULL } },
	};
	check_group(g, 4, NULL);
}

static void fastkv_at_one_tsp_setting_should_share_a_prefill_across_kv_budgets(void)
{
	const struct member_cfg g[] = {
		{ "fastkv", { PROP, "0.1", "tsp_idx", "2", "tsp_rate", "0.2", NULL } },
		{ "fastkv", { PROP, "0.3", "tsp_idx", "2", "tsp_rate", "0.2", NULL } },
	};
	check_group(g, 2, NULL);
}

static void methods_that_propagate_different_tokens_should_be_refused_naming_both(void)
{
	const struct member_cfg a[] = {
		{ "snapkv", { PROP, "0.1", NULL } },
		{ "fastkv", { PROP, "0.1", "tsp_idx", "2", "tsp_rate", "0.2", NULL } },
	};
	check_group(a, 2, "snapkv and fastkv send different tokens on after layer 2");
	const struct member_cfg b[] = {
		{ "fullkv", { NULL } },
		{ "gemfilter", { "max_capacity_prompts", "64", "filter_idx", "1", NULL } },
	};
	check_group(b, 2, "fullkv and gemfilter send different tokens on after layer 1");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct model_config c = { .arch = ARCH_LLAMA, .n_layer = 4, .n_embd = 64, .n_head = 4, .n_head_kv = 2, .head_dim = 16,
				  .n_ff = 128, .n_vocab = 256, .max_pos = 16384, .norm_eps = 1e-5f, .rope_theta = 10000.0f };
	char err[512];
	if (model_init_random(&c, 7, &g_tiny, err, sizeof(err))) {
		fprintf(stderr, "tiny model: %s\n", err);
		return 1;
	}
	uint32_t x = 12345;
	for (int i = 0; i < N_PROMPT; i++) {
		x = x * 1664525u + 1013904223u;
		g_prompt[i] = (int32_t)(x >> 24);
	}
	T_RUN(methods_that_keep_different_kv_should_generate_on_one_prefill_what_they_generate_alone);
	T_RUN(fastkv_at_one_tsp_setting_should_share_a_prefill_across_kv_budgets);
	T_RUN(methods_that_propagate_different_tokens_should_be_refused_naming_both);
	model_free(g_tiny);
	return t_done();
}
