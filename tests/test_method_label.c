/* plot_method_label (results/plot_title.c over results/run_label.c, with the real method
 * tables' defaults from eval/export_params.c): figure labels name a run's method and only
 * its non-default parameters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/export_params.h" // export_params_defaults
#include "results/plot.h"       // plot_method_label
#include "results/store.h"
#include "tests/test.h"

static struct store *g_store;

static void method_label(const char *method, const char *json, char *buf, size_t len)
{
	const struct plot_labeler l = { export_params_defaults() };
	plot_method_label(g_store, &l, method, json, buf, len);
}

static void check_label(const char *method, const char *json, const char *want)
{
	char buf[256];
	method_label(method, json, buf, sizeof(buf));
	T_CHECK(strcmp(buf, want) == 0, "%s %s -> '%s', want '%s'", method, json ? json : "NULL", buf, want);
}

static void defaults_should_be_left_out(void)
{
	/* as kv_params_json writes them: 0.1 as 0.10000000000000001 is retain_rate's default */
	check_label("snapkv",
		    "{\"method\":\"snapkv\",\"eviction_mode\":\"constant\",\"retain_rate\":0.10000000000000001,"
		    "\"max_capacity_prompts\":512,\"window_size\":8,\"kernel_size\":7,\"pooling\":\"maxpool\",\"per_kv_head\":0}",
		    "snapkv");
	check_label("fullkv", "{\"method\":\"fullkv\"}", "fullkv");
}

static void other_values_should_be_named_in_json_order(void)
{
	check_label("fastkv",
		    "{\"method\":\"fastkv\",\"eviction_mode\":\"proportional\",\"retain_rate\":0.20000000000000001,"
		    "\"max_capacity_prompts\":512,\"window_size\":8,\"kernel_size\":5,\"pooling\":\"maxpool\",\"tsp_idx\":10,"
		    "\"tsp_rate\":0.20000000000000001,\"tsp_len\":2048}",
		    "fastkv eviction_mode=proportional retain_rate=0.2 kernel_size=5 tsp_idx=10");
}

static void composed_methods_should_name_each_half_once(void)
{
	/* both halves take retain_rate: said once; the reduction's tsp_idx, the retention's window */
	check_label("tsp+snapkv",
		    "{\"method\":\"tsp+snapkv\",\"reduction\":{\"method\":\"tsp\",\"tsp_idx\":10,\"tsp_rate\":0.20000000000000001,"
		    "\"retain_rate\":0.25},\"retention\":{\"method\":\"snapkv\",\"retain_rate\":0.25,\"window_size\":16}}",
		    "tsp+snapkv tsp_idx=10 retain_rate=0.25 window_size=16");
	/* a value that only starts like one already said is its own */
	check_label("tsp+snapkv",
		    "{\"method\":\"tsp+snapkv\",\"reduction\":{\"method\":\"tsp\",\"tsp_idx\":1},"
		    "\"retention\":{\"method\":\"snapkv\",\"window_size\":16,\"max_capacity_prompts\":16}}",
		    "tsp+snapkv tsp_idx=1 window_size=16 max_capacity_prompts=16");
}

static void unknown_input_should_give_the_name_and_what_is_known(void)
{
	check_label("snapkv", "{\"method\":\"snapkv\",\"future_flag\":3}", "snapkv future_flag=3");
	check_label("nosuch", "{\"method\":\"nosuch\",\"a\":1}", "nosuch a=1"); /* unknown: every parameter */
	check_label("snapkv", "not json", "snapkv");
	check_label("snapkv", NULL, "snapkv");
	char small[8];
	method_label("snapkv", "{\"window_size\":16}", small, sizeof(small));
	T_CHECK(strcmp(small, "snapkv") == 0, "truncated to '%s'", small);
}

int main(void)
{
	char err[256];
	(void)system("mkdir -p tests/out && rm -f tests/out/method_label.db*");
	if (store_open("tests/out/method_label.db", &g_store, err, sizeof(err))) {
		printf("FAIL store: %s\n", err);
		t_n_fail++;
		return t_done();
	}
	T_RUN(defaults_should_be_left_out);
	T_RUN(other_values_should_be_named_in_json_order);
	T_RUN(composed_methods_should_name_each_half_once);
	T_RUN(unknown_input_should_give_the_name_and_what_is_known);
	store_close(g_store);
	return t_done();
}
