/* The evaluation runner: for one (model, method(s), task) builds every sample, generates,
 * scores and stores it, one SQLite transaction per sample; samples already stored for
 * the same run configuration are skipped, so an interrupted run resumes. */
#ifndef KVLAB_EVAL_RUNNER_H
#define KVLAB_EVAL_RUNNER_H

#include <stddef.h>

#include "datasets/task.h"
#include "methods/registry.h"

struct backend_ops;

struct runner_opts {
	const char *model_path;
	const char *db_path;
	const struct task_args *task;
	const struct method_args *method;
	int threads;
	const struct backend_ops *backend; /* borrowed; NULL: backend_cpu (recorded in each run's config) */
	int shard, n_shards; /* this process runs samples i with i % n_shards == shard (0 and 1: all) */
};

#define RUNNER_MAX_METHODS 8

struct runner_result {
	int n_runs;                             /* one run per --method name */
	char run_id[RUNNER_MAX_METHODS][65];    /* in --method order */
	int n_total;                            /* samples in the task */
	int n_done_before, n_done_now;          /* (run, sample) pairs found stored / stored now */
};

/* Runs the evaluation; progress on stderr. o->method->method may list several methods
 * ("fullkv,snapkv,h2o"): each gets its own run, identical to the run it would get alone,
 * and methods whose prompts are equal share each sample's prefill (gen_greedy_shared), so
 * they must agree on token propagation. Shards are not part of the run's configuration:
 * processes running shards 0..N-1 of one configuration fill one run between them. */
int runner_run(const struct runner_opts *o, struct runner_result *res, char *err, size_t errlen);

#endif
