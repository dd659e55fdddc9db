/* Shared by the task JSONL harnesses (fuzz_ruler_jsonl.c, fuzz_longbench_jsonl.c): the
 * committed tiny model (tests/golden/tiny_llama, tokenizer and chat template included),
 * loaded once, and one pass through the public task API: open, count, sample, score,
 * describe, close. Only datasets/task.h is used. */
#ifndef KVLAB_TESTS_FUZZ_TASK_COMMON_H
#define KVLAB_TESTS_FUZZ_TASK_COMMON_H

#include "datasets/task.h" // task_find, struct task_args
#include "engine/model.h"  // model_load
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

/* Opens a->task on the tiny model and builds, scores and frees its first max_samples
 * samples; every failure must keep the error contract. */
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
	t->describe(st, desc, sizeof(desc));
	int n = t->count(st);
	if (n < 0)
		abort();
	for (int i = 0; i < n && i < max_samples; i++) {
		struct task_sample s = { 0 };
		err[0] = 0;
		rc = t->sample(st, i, &s, err, sizeof(err));
		fuzz_check_error("task sample", rc, err, NULL);
		if (rc == 0) {
			for (int k = 0; k < s.n_ids; k++)
				if (s.ids[k] < 0 || s.ids[k] >= m->cfg.n_vocab) {
					fprintf(stderr, "fuzz: sample %d holds token id %d outside the vocabulary\n", i, s.ids[k]);
					abort();
				}
			static const char *const preds[] = { "", "answer 42", "  The answer is: Paris\nmore" };
			for (size_t p = 0; p < sizeof(preds) / sizeof(preds[0]); p++) {
				struct task_score sc[TASK_MAX_SCORES];
				int n_sc = 0;
				err[0] = 0;
				rc = t->score(st, &s, preds[p], sc, &n_sc, err, sizeof(err));
				fuzz_check_error("task score", rc, err, NULL);
				if (rc == 0 && (n_sc < 0 || n_sc > TASK_MAX_SCORES))
					abort();
			}
		}
		task_sample_free(&s);
	}
	t->close(st);
}

#endif
