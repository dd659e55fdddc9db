/* Run labels (results/run_label.c): a run's parameters other than its method's defaults, as
 * k=v and as JSON, with the defaults of the real method tables (eval/export_params.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/export_params.h"
#include "results/run_label.h"
#include "results/store.h"
#include "test.h"

static void labels_should_name_only_what_differs_from_the_defaults(void)
{
	struct store *s = NULL;
	char err[256], buf[512];
	(void)system("mkdir -p tests/out && rm -f tests/out/run_label.db*");
	T_CHECK(store_open("tests/out/run_label.db", &s, err, sizeof(err)) == 0, "store: %s", err);
	if (!s)
		return;
	const struct run_defaults *d = export_params_defaults();
	struct {
		const char *method, *json, *want;
	} cases[] = {
		{ "fullkv", "{\"method\":\"fullkv\"}", "" },
		{ "fastkv", /* FastKV's defaults but the eviction mode */
		  "{\"method\":\"fastkv\",\"eviction_mode\":\"proportional\",\"retain_rate\":0.10000000000000001,"
		  "\"max_capacity_prompts\":512,\"window_size\":8,\"kernel_size\":7,\"pooling\":\"maxpool\",\"tsp_idx\":15,"
		  "\"tsp_rate\":0.20000000000000001,\"tsp_len\":2048}",
		  "eviction_mode=proportional" },
		{ "snapkv",
		  "{\"method\":\"snapkv\",\"eviction_mode\":\"constant\",\"retain_rate\":0.20000000000000001,"
		  "\"max_capacity_prompts\":64,\"window_size\":8,\"kernel_size\":7,\"pooling\":\"maxpool\",\"per_kv_head\":0}",
		  "retain_rate=0.2 max_capacity_prompts=64" },
		{ "tsp+h2o", /* a composed method: its halves compared leaf by leaf */
		  "{\"method\":\"tsp+h2o\",\"reduction\":{\"method\":\"tsp\",\"eviction_mode\":\"constant\",\"retain_rate\":0.10000000000000001,"
		  "\"max_capacity_prompts\":512,\"window_size\":8,\"kernel_size\":7,\"pooling\":\"maxpool\",\"tsp_idx\":5,"
		  "\"tsp_rate\":0.20000000000000001,\"tsp_len\":2048},\"retention\":{\"method\":\"h2o\",\"eviction_mode\":\"constant\","
		  "\"retain_rate\":0.10000000000000001,\"max_capacity_prompts\":512,\"window_size\":8,\"h2o_causal\":0,\"per_kv_head\":0}}",
		  "tsp_idx=5" },
		{ "nosuch", "{\"method\":\"nosuch\",\"a\":1,\"b\":\"x\"}", "a=1 b=x" }, /* unknown: every parameter */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		T_CHECK(run_label_params(s, d, cases[i].method, cases[i].json, buf, sizeof(buf), err, sizeof(err)) == 0, "%s", err);
		T_CHECK(!strcmp(buf, cases[i].want), "%s: got '%s', want '%s'", cases[i].method, buf, cases[i].want);
	}
	T_CHECK(run_label_params_json(s, d, cases[2].method, cases[2].json, buf, sizeof(buf), err, sizeof(err)) == 0 &&
			!strcmp(buf, "{\"retain_rate\": 0.2, \"max_capacity_prompts\": 64}"),
		"json: %s", buf);
	T_CHECK(run_label_params_json(s, NULL, "nosuch", "{\"method\":\"nosuch\",\"b\":\"x\\\"y\"}", buf, sizeof(buf), err,
				      sizeof(err)) == 0 && !strcmp(buf, "{\"b\": \"x\\\"y\"}"),
		"json without defaults: %s", buf);
	store_close(s);
}

int main(void)
{
	T_RUN(labels_should_name_only_what_differs_from_the_defaults);
	return t_done();
}
