/* Shared by the task JSONL harnesses (fuzz_ruler_jsonl.c, fuzz_longbench_jsonl.c): the
 * committed tiny model (tests/golden/tiny_llama, tokenizer and chat template included),
 * loaded once, and one pass through the public task API (open, count, sample, describe,
 * close) with each sample prompted and scored the runner's way (tests/task_prompt.h). */
#ifndef KVLAB_TESTS_FUZZ_TASK_COMMON_H
#define KVLAB_TESTS_FUZZ_TASK_COMMON_H

#include "datasets/task.h"     // task_find, struct task_args
#include "engine/model.h"      // model_load
#include "tests/task_prompt.h" // tp_prepare, tp_score, tp_describe
#include "tests/fuzz/fuzz_io.h"

/* Borrowed: the tiny model, loaded on first use and kept for the process. */
static inline const struct model *fuzz_tiny_model(void)
{
	static struct model *m;
	if (!m) {
		char dir[PATH_MAX], err[512];
		fuzz_repo_path("tests/golden/tiny_llama", dir);
		if (model_load(dir, &m, err, sizeof(err)) != 0) {
			fprintf(stderr, "fuzz: %s\n", err);
			abort();
		}
	}
	return m;
}

/* Opens a->task on the tiny model and builds, prompts (eval/prompt.c, as the runner does),
 * scores and frees its first max_samples samples; every failure must keep the error contract. */
static inline void fuzz_task_pass(const struct task_args *a, int max_samples)
{
	const struct model *m = fuzz_tiny_model();
	const struct kv_task *t = task_find(a->task);
	if (!t) {
		fprintf(stderr, "fuzz: no task %s\n", a->task);
		abort();
	}
	void *st = NULL;
	char err[512] = "";
	int rc = t->open(a, m, &st, err, sizeof(err));
	fuzz_check_error(a->task, rc, err, st);
	if (rc)
		return;
	char desc[2048];
	tp_describe(t, st, m, NULL, desc, sizeof(desc));
	int n = t->count(st);
	if (n < 0)
		abort();
	for (int i = 0; i < n && i < max_samples; i++) {
		struct task_sample s = { 0 };
		struct prompt_set ps;
		err[0] = 0;
		rc = tp_prepare(t, st, m, NULL, i, &s, &ps, err, sizeof(err));
		fuzz_check_error("task sample", rc, err, NULL);
		if (rc == 0) {
			const struct prompt *p = &ps.p[0];
			for (int k = 0; k < p->n_ids; k++)
				if (p->ids[k] < 0 || p->ids[k] >= m->cfg.n_vocab) {
					fprintf(stderr, "fuzz: sample %d holds token id %d outside the vocabulary\n", i, p->ids[k]);
					abort();
				}
			static const char *const preds[] = { "", "answer 42", "  The answer is: Paris\nmore" };
			for (size_t q = 0; q < sizeof(preds) / sizeof(preds[0]); q++) {
				struct metric_value sc[METRIC_MAX_VALUES];
				int n_sc = 0;
				err[0] = 0;
				rc = tp_score(&s, preds[q], sc, &n_sc, err, sizeof(err));
				fuzz_check_error("task score", rc, err, NULL);
				if (rc == 0 && (n_sc < 0 || n_sc > METRIC_MAX_VALUES))
					abort();
			}
		}
		prompt_set_free(&ps);
		task_sample_free(&s);
	}
	t->close(st);
}

#endif
