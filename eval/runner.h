/* The evaluation runner: for one (model, method, task) builds every sample, generates,
 * scores and stores it, one SQLite transaction per sample; samples already stored for
 * the same run configuration are skipped, so an interrupted run resumes. */
#ifndef KVLAB_EVAL_RUNNER_H
#define KVLAB_EVAL_RUNNER_H

#include <stddef.h>

#include "eval/task.h"
#include "methods/registry.h"

struct runner_opts {
	const char *model_path;
	const char *db_path;
	const struct task_args *task;
	const struct method_args *method;
	int threads;
	int shard, n_shards; /* this process runs samples i with i % n_shards == shard (0 and 1: all) */
};

struct runner_result {
	char run_id[65];
	int n_total, n_done_before, n_done_now;
};

/* Runs the evaluation; progress on stderr. Shards are not part of the run's configuration:
 * processes running shards 0..N-1 of one configuration fill one run between them. */
int runner_run(const struct runner_opts *o, struct runner_result *res, char *err, size_t errlen);

#endif
