/* The runner builds and tokenizes each sample once per command, whatever the methods
 * (runner_result's counters), and eval/prompt.c makes each distinct prompt once: methods
 * with equal caps share one buffer, a different cap gets its own truncation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model.h"
#include "eval/prompt.h"
#include "eval/runner.h"
#include "methods/registry.h" // kv_method_find
#include "tests/test.h"

static void run_should_build_and_tokenize_each_sample_once_for_four_methods(void)
{
	(void)system("mkdir -p tests/out && rm -f tests/out/runner_once.db*");
	struct task_args ta = { .task = "needle", .data = "../shared/data/paul_graham_essays", .context_lengths = "300,400",
				.depths = "50" };
	struct runner_opts o = { .model_path = T_MODEL, .db_path = "tests/out/runner_once.db", .task = &ta,
				 .methods = "fullkv,snapkv,h2o,streamingllm", .threads = 1 };
	struct runner_result r;
	char err[512];
	int rc = runner_run(&o, &r, err, sizeof(err));
	T_CHECK(rc == 0, "run: %s", err);
	if (rc)
		return;
	T_CHECK(r.n_runs == 4 && r.n_total == 2 && r.n_done_now == 8, "runs %d total %d stored %d", r.n_runs, r.n_total,
		r.n_done_now);
	T_CHECK(r.n_samples_built == 2 && r.n_texts_tokenized == 2 && r.n_truncations == 0,
		"2 samples x 4 methods: built %d, tokenized %d, truncated %d (want 2, 2, 0)", r.n_samples_built,
		r.n_texts_tokenized, r.n_truncations);
	/* resuming: every sample is stored, so nothing is tokenized again */
	rc = runner_run(&o, &r, err, sizeof(err));
	T_CHECK(rc == 0 && r.n_done_before == 8 && r.n_done_now == 0 && r.n_texts_tokenized == 0,
		"resume: rc %d before %d now %d tokenized %d", rc, r.n_done_before, r.n_done_now, r.n_texts_tokenized);
}

static void prompts_should_share_equal_caps_and_truncate_once_per_distinct_cap(void)
{
	struct model *m = NULL;
	char err[512];
	if (model_load(T_MODEL, &m, err, sizeof(err))) {
		T_SKIP("%s: %s (make model)", T_MODEL, err);
		return;
	}
	/* a path with FastKV's "llama2" key: cap 3950; h2o declares 7950 */
	char *path = m->path;
	char fake[] = "x/llama2-like";
	m->path = fake;
	size_t n = 12 * 5000;
	char *text = malloc(n + 1);
	for (size_t i = 0; text && i < n; i += 12)
		memcpy(text + i, "hello world ", 12);
	if (!text) {
		T_CHECK(0, "out of memory");
		goto out;
	}
	text[n] = 0;
	struct task_sample s = { .text = text, .add_special = true, .max_new_tokens = 4, .min_one_token = true };
	struct task_protocol proto = { .cap_rule = TASK_CAP_MODEL2MAXLEN };
	const struct kv_method *meths[4] = { kv_method_find("fullkv"), kv_method_find("snapkv"), kv_method_find("h2o"),
					     kv_method_find("streamingllm") };
	struct prompt_set ps;
	int rc = prompt_set_build(&ps, m, &s, &proto, meths, NULL, 4, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (!rc) {
		T_CHECK(ps.n_encoded == 1 && ps.n_truncated == 2, "encoded %d truncated %d (want 1, 2)", ps.n_encoded,
			ps.n_truncated);
		T_CHECK(ps.p[0].ids == ps.p[1].ids && ps.p[1].ids == ps.p[3].ids && ps.p[2].ids != ps.p[0].ids,
			"fullkv, snapkv, streamingllm share one buffer; h2o has its own");
		T_CHECK(ps.p[0].n_ids <= 3950 && ps.p[2].n_ids <= 7950 && ps.p[2].n_ids > 3950 && ps.p[0].truncated &&
				ps.p[2].truncated && ps.p[0].n_full > 7950,
			"caps: %d and %d ids of %d", ps.p[0].n_ids, ps.p[2].n_ids, ps.p[0].n_full);
	}
	prompt_set_free(&ps);
out:
	free(text);
	m->path = path;
	model_free(m);
}

int main(void)
{
	T_RUN(run_should_build_and_tokenize_each_sample_once_for_four_methods);
	T_RUN(prompts_should_share_equal_caps_and_truncate_once_per_distinct_cap);
	return t_done();
}
