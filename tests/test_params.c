/* The table-driven method parameters (methods/params.h) and the method-list grammar
 * (methods/registry.h): defaults, ranges, enum choices, unknown keys, flags that no
 * listed method takes, and a toy eighth method defined here, with its own parameter,
 * going through the same machinery as the registered seven (its file plus one table
 * line: the table handed to kv_method_list_parse). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"      // KV_EINVAL, kv_errf
#include "methods/params.h"   // struct kv_param_def, kv_params_parse, kv_params_json
#include "methods/registry.h" // kv_methods, kv_method_list_parse, kv_policy_make
#include "test.h"

static const struct kv_shape g_shape = { .n_layer = 4, .n_head = 4, .n_head_kv = 2, .head_dim = 16, .n_embd = 64 };

// ----------------------------------------------------------------------------
// the toy method: the whole of "one new file"

struct toy_params {
	struct kv_params p;
	int stride;       /* --toy_stride 1..64 (3) */
	int shape_name;   /* --toy_shape ring|line|star (line) */
};

static const char *const toy_shapes[] = { "ring", "line", "star", NULL };
static const struct kv_param_def toy_stride = {
	.name = "toy_stride", .kind = KV_PARAM_INT, .offset = offsetof(struct toy_params, stride),
	.lo = 1, .hi = 64, .def = 3, .metavar = "N", .help = "toy: keep every N-th token",
};
static const struct kv_param_def toy_shape = {
	.name = "toy_shape", .kind = KV_PARAM_ENUM, .offset = offsetof(struct toy_params, shape_name),
	.choices = toy_shapes, .def_str = "line", .metavar = "S", .help = "toy: a three-way choice",
};
static const struct kv_param_def *const toy_table[] = {
	&kv_param_eviction_mode, &kv_param_retain_rate, &toy_stride, &toy_shape, NULL,
};

static int toy_init(const char *const *keys, const char *const *vals, int n, const struct kv_shape *shape, void **state,
		    char *err, size_t errlen)
{
	struct toy_params *t = calloc(1, sizeof(*t));
	int rc;
	if (!t)
		return kv_errf(err, errlen, KV_ENOMEM, "toy: out of memory");
	if ((rc = kv_params_parse(toy_table, t, "toy", keys, vals, n, shape, err, errlen))) {
		free(t);
		return rc;
	}
	*state = t;
	return 0;
}

static void toy_describe(const void *state, char *buf, size_t len)
{
	kv_params_json(toy_table, state, "toy", buf, len);
}

static const struct kv_method toy_method = {
	.name = "toy",
	.summary = "test-only: keeps every --toy_stride-th token",
	.init = toy_init,
	.free_state = free,
	.describe = toy_describe,
	.params = toy_table,
};

/* The registry with the toy as its last line (room for 30 methods). */
static const struct kv_method *g_table[32];

static void make_table(void)
{
	int n = 0;
	while (kv_methods[n] && n < 30)
		g_table[n] = kv_methods[n], n++;
	g_table[n++] = &toy_method;
	g_table[n] = NULL;
}

// ----------------------------------------------------------------------------
// helpers

/* Parses spec over shared (key, value, ... NULL) in g_table; builds the first entry's
 * policy and writes its describe into desc. Returns the first error code. */
static int make(const char *spec, const char *const *shared, char *desc, size_t desclen, char *err, size_t errlen)
{
	struct kv_args a = { 0 };
	struct kv_method_entry *e = NULL;
	int n = 0, rc = 0;
	for (int i = 0; !rc && shared && shared[i]; i += 2)
		rc = kv_args_set(&a, shared[i], shared[i + 1], err, errlen);
	if (!rc)
		rc = kv_method_list_parse(g_table, "--method", spec, &a, &e, &n, err, errlen);
	if (!rc) {
		struct kv_policy pol = { 0 };
		if (!(rc = kv_policy_make(e[0].m, &e[0].args, &g_shape, &pol, err, errlen)) && desc)
			kv_policy_describe(&pol, desc, desclen);
		kv_policy_free(&pol);
	}
	kv_method_list_free(e, n);
	kv_args_free(&a);
	return rc;
}

static void expect_error(const char *spec, const char *const *shared, const char *want)
{
	char err[512] = "";
	int rc = make(spec, shared, NULL, 0, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL && strstr(err, want) && !strchr(err, '\n'), "%s: rc %d, '%s', expected one line with '%s'", spec, rc,
		err, want);
}

static void expect_describe(const char *spec, const char *const *shared, const char *want)
{
	char err[512] = "", desc[1024] = "";
	int rc = make(spec, shared, desc, sizeof(desc), err, sizeof(err));
	T_CHECK(rc == 0 && (!want || strcmp(desc, want) == 0), "%s: rc %d (%s), describe '%s', expected '%s'", spec, rc, err, desc,
		want ? want : "(any)");
}

// ----------------------------------------------------------------------------
// cases

static void defaults_should_fill_every_parameter_in_table_order(void)
{
	expect_describe("toy", NULL, "{\"method\":\"toy\",\"eviction_mode\":\"constant\",\"retain_rate\":0.10000000000000001,"
				     "\"toy_stride\":3,\"toy_shape\":\"line\"}");
	expect_describe("fullkv", NULL, "{\"method\":\"fullkv\"}");
	expect_describe("snapkv", NULL,
			"{\"method\":\"snapkv\",\"eviction_mode\":\"constant\",\"retain_rate\":0.10000000000000001,"
			"\"max_capacity_prompts\":512,\"window_size\":8,\"kernel_size\":7,\"pooling\":\"maxpool\",\"per_kv_head\":0}");
	expect_describe("fastkv:tsp_idx=2", NULL,
			"{\"method\":\"fastkv\",\"eviction_mode\":\"constant\",\"retain_rate\":0.10000000000000001,"
			"\"max_capacity_prompts\":512,\"window_size\":8,\"kernel_size\":7,\"pooling\":\"maxpool\",\"tsp_idx\":2,"
			"\"tsp_rate\":0.20000000000000001,\"tsp_len\":2048}");
}

/* A flag that only the other --eviction_mode reads would do nothing: refused, naming both. */
static void flags_of_the_other_eviction_mode_should_be_refused(void)
{
	static const char *const rate[] = { "retain_rate", "0.2", NULL };
	expect_error("snapkv", rate, "--retain_rate: has no effect on snapkv with --eviction_mode constant (the default); it applies "
				     "with --eviction_mode proportional");
	static const char *const tsp[] = { "tsp_rate", "0.3", NULL };
	expect_error("fastkv", tsp, "--tsp_rate: has no effect on fastkv with --eviction_mode constant (the default)");
	static const char *const cap[] = { "eviction_mode", "proportional", "max_capacity_prompts", "100", NULL };
	expect_error("h2o", cap, "--max_capacity_prompts: has no effect on h2o with --eviction_mode proportional; it applies with "
				 "--eviction_mode constant");
	static const char *const len[] = { "eviction_mode", "proportional", "tsp_len", "100", NULL };
	expect_error("fastkv", len, "--tsp_len: has no effect on fastkv with --eviction_mode proportional");
	/* PyramidInfer takes no --eviction_mode: --retain_rate chooses its preset in any mode */
	static const char *const pyr[] = { "retain_rate", "0.5", NULL };
	expect_describe("pyramidinfer", pyr, NULL);
}

static void values_should_be_parsed_and_checked_against_their_ranges(void)
{
	static const char *const toy7[] = { "toy_stride", "7", "toy_shape", "star", "eviction_mode", "proportional",
					    "retain_rate", "1", NULL };
	expect_describe("toy", toy7, "{\"method\":\"toy\",\"eviction_mode\":\"proportional\",\"retain_rate\":1,\"toy_stride\":7,"
				     "\"toy_shape\":\"star\"}");
	expect_error("toy:toy_stride=0", NULL, "--toy_stride: expected an integer in [1, 64], got '0'");
	expect_error("toy:toy_stride=65", NULL, "--toy_stride: expected an integer in [1, 64], got '65'");
	expect_error("toy:toy_stride=2x", NULL, "--toy_stride: expected an integer in [1, 64], got '2x'");
	expect_error("toy:retain_rate=0", NULL, "--retain_rate: expected a number in (0, 1], got '0'");
	expect_error("toy:retain_rate=1.5", NULL, "--retain_rate: expected a number in (0, 1], got '1.5'");
	expect_error("snapkv:kernel_size=6", NULL, "--kernel_size: expected an odd integer");
	expect_error("fastkv:tsp_idx=4", NULL, "--tsp_idx: expected a layer in [0, 3] for this 4-layer model, got 4");
	expect_error("h2o:h2o_causal=2", NULL, "--h2o_causal: expected 0 or 1, got '2'");
	expect_error("snapkv:max_capacity_prompts=8", NULL, "--max_capacity_prompts: snapkv needs a budget above --window_size (8), got 8");
}

static void enum_values_should_be_one_of_the_choices(void)
{
	expect_error("toy:toy_shape=cube", NULL, "--toy_shape: expected one of ring, line, star, got 'cube'");
	expect_error("snapkv:pooling=minpool", NULL, "--pooling: expected maxpool or avgpool, got 'minpool'");
	expect_error("toy:eviction_mode=relative", NULL, "--eviction_mode: expected constant or proportional, got 'relative'");
	expect_error("pyramidinfer:pyramid_decode=never", NULL, "--pyramid_decode: expected official or layer, got 'never'");
}

static void unknown_keys_and_methods_should_be_named(void)
{
	expect_error("toy:toy_strid=3", NULL, "--method: unknown key 'toy_strid' in entry 'toy:toy_strid=3'");
	static const char *const bogus[] = { "bogus", "1", NULL };
	expect_error("toy", bogus, "--bogus: unknown method parameter");
	expect_error("nosuch", NULL, "--method: expected one of fullkv, fastkv, gemfilter, snapkv, streamingllm, h2o, pyramidinfer, adakv, pyramidkv, tova, expected_attention, kvzip, toy, got 'nosuch'");
	/* the init of a method refuses a key outside its table itself */
	const char *keys[] = { "tsp_idx" }, *vals[] = { "1" };
	void *st = NULL;
	char err[256] = "";
	T_CHECK(toy_method.init(keys, vals, 1, &g_shape, &st, err, sizeof(err)) == KV_EINVAL &&
			strstr(err, "--tsp_idx: not a parameter of toy"),
		"toy init with tsp_idx: '%s'", err);
	if (st)
		free(st);
}

static void a_flag_no_listed_method_takes_should_be_refused_naming_its_methods(void)
{
	static const char *const tsp[] = { "tsp_idx", "3", NULL };
	expect_error("snapkv", tsp, "--tsp_idx: not a parameter of snapkv (taken by fastkv)");
	expect_error("fullkv,snapkv,snapkv:retain_rate=0.5", tsp, "--tsp_idx: not a parameter of fullkv, snapkv (taken by fastkv)");
	static const char *const stride[] = { "toy_stride", "3", NULL };
	expect_error("snapkv", stride, "--toy_stride: not a parameter of snapkv (taken by toy)");
	expect_error("snapkv:toy_stride=2", NULL, "'toy_stride' in entry 'snapkv:toy_stride=2' is not a parameter of snapkv (taken by toy)");
	static const char *const per[] = { "per_kv_head", "1", NULL };
	expect_error("fullkv", per, "--per_kv_head: not a parameter of fullkv (taken by snapkv, h2o)");
	/* a shared flag reaches only the entries whose method takes it */
	struct kv_args a = { 0 };
	struct kv_method_entry *e = NULL;
	int n = 0;
	char err[512] = "";
	kv_args_set(&a, "retain_rate", "0.2", NULL, 0);
	kv_args_set(&a, "toy_stride", "5", NULL, 0);
	int rc = kv_method_list_parse(g_table, "--method", "fullkv,snapkv:retain_rate=0.3,toy", &a, &e, &n, err, sizeof(err));
	T_CHECK(rc == 0 && n == 3, "rc %d: %s", rc, err);
	if (!rc) {
		T_CHECK(e[0].args.n == 0, "fullkv got %d parameters", e[0].args.n);
		T_CHECK(e[1].args.n == 1 && !strcmp(kv_args_get(&e[1].args, "retain_rate"), "0.3"), "snapkv's own retain_rate lost");
		T_CHECK(e[2].args.n == 2 && !strcmp(kv_args_get(&e[2].args, "retain_rate"), "0.2") &&
				!strcmp(kv_args_get(&e[2].args, "toy_stride"), "5"),
			"toy's shared flags lost");
	}
	kv_method_list_free(e, n);
	kv_args_free(&a);
}

static void the_list_grammar_should_refuse_malformed_entries(void)
{
	expect_error("toy,toy", NULL, "--method: 'toy' is listed twice");
	expect_error("toy,,fullkv", NULL, "--method: empty entry at position 2");
	expect_error("toy:toy_stride", NULL, "'toy_stride' in entry 'toy:toy_stride' is not key=value");
	expect_error(":toy_stride=2", NULL, "entry ':toy_stride=2' has no method name");
	expect_error("fullkv,toyy", NULL, "--method entry 'toyy': --method: expected one of");
	/* the same method with different settings is two entries */
	expect_describe("toy:toy_stride=2,toy:toy_stride=4", NULL,
			"{\"method\":\"toy\",\"eviction_mode\":\"constant\",\"retain_rate\":0.10000000000000001,\"toy_stride\":2,"
			"\"toy_shape\":\"line\"}");
}

static void the_last_value_of_a_key_should_win(void)
{
	struct kv_args a = { 0 };
	kv_args_set(&a, "retain_rate", "0.2", NULL, 0);
	kv_args_set(&a, "retain_rate", "0.4", NULL, 0);
	T_CHECK(a.n == 1 && !strcmp(kv_args_get(&a, "retain_rate"), "0.4"), "n %d", a.n);
	kv_args_free(&a);
	expect_describe("toy:toy_stride=2:toy_stride=9", NULL,
			"{\"method\":\"toy\",\"eviction_mode\":\"constant\",\"retain_rate\":0.10000000000000001,\"toy_stride\":9,"
			"\"toy_shape\":\"line\"}");
}

static void every_registered_parameter_should_have_help_a_metavar_and_one_meaning_per_name(void)
{
	for (int i = 0; g_table[i]; i++) {
		T_CHECK(g_table[i]->params != NULL, "%s has no parameter table", g_table[i]->name);
		for (const struct kv_param_def *const *d = g_table[i]->params; d && *d; d++) {
			T_CHECK((*d)->help && (*d)->help[0] && (*d)->metavar && (*d)->metavar[0], "%s: --%s lacks help or metavar",
				g_table[i]->name, (*d)->name);
			T_CHECK((*d)->kind != KV_PARAM_ENUM || ((*d)->choices && (*d)->def_str), "--%s: enum without choices", (*d)->name);
			/* a name shared by methods is one definition, or one that differs only in its default
			 * and help (kvpress's window_size / kernel_size: same field, kind and range) */
			for (int j = 0; g_table[j]; j++)
				for (const struct kv_param_def *const *e = g_table[j]->params; e && *e; e++)
					T_CHECK(strcmp((*d)->name, (*e)->name) != 0 || *d == *e ||
							((*d)->kind == (*e)->kind && (*d)->offset == (*e)->offset && (*d)->lo == (*e)->lo &&
							 (*d)->hi == (*e)->hi && (*d)->flags == (*e)->flags && (*d)->choices == (*e)->choices),
						"--%s is defined twice (%s, %s)", (*d)->name, g_table[i]->name, g_table[j]->name);
		}
	}
}

int main(void)
{
	make_table();
	T_RUN(defaults_should_fill_every_parameter_in_table_order);
	T_RUN(values_should_be_parsed_and_checked_against_their_ranges);
	T_RUN(flags_of_the_other_eviction_mode_should_be_refused);
	T_RUN(enum_values_should_be_one_of_the_choices);
	T_RUN(unknown_keys_and_methods_should_be_named);
	T_RUN(a_flag_no_listed_method_takes_should_be_refused_naming_its_methods);
	T_RUN(the_list_grammar_should_refuse_malformed_entries);
	T_RUN(the_last_value_of_a_key_should_win);
	T_RUN(every_registered_parameter_should_have_help_a_metavar_and_one_meaning_per_name);
	return t_done();
}
