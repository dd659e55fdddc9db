/* The evaluation runner: for one (model, method(s), task) builds every sample, generates,
 * scores and stores it, one SQLite transaction per sample; samples already stored for
 * the same run configuration are skipped, so an interrupted run resumes. */
#ifndef KVLAB_EVAL_RUNNER_H
#define KVLAB_EVAL_RUNNER_H

#include <stdbool.h>
#include <stddef.h>

#include "datasets/task.h"
#include "engine/backend.h"  // enum kv_dtype
#include "methods/registry.h"

struct backend_ops;
struct model;
struct store;
struct runner_result;

struct runner_opts {
	const char *model_path;
	const char *db_path;
	const struct task_args *task;
	const char *methods;                 /* --method: "NAME[:key=value...][,...]" (NULL = fullkv) */
	const struct kv_args *method_args;   /* the method flags, shared by every listed method that takes them */
	int threads;
	const struct backend_ops *backend; /* borrowed; NULL: backend_cpu (recorded in each run's config) */
	enum kv_dtype kv_dtype; /* KV cache element type; recorded in the run's config when not f32 (f32 runs keep their ids) */
	int shard, n_shards; /* this process runs samples i with i % n_shards == shard (0 and 1: all) */
	const char *dump_selection; /* optional: JSON lines of every generated sample's selection (eval/selection.h), one
				     * block per (sample, method), written via a temporary file renamed at the end */
	/* optional, for drivers of many runs (eval/sweep.c): */
	struct model *model;   /* borrowed, already loaded from model_path; NULL: the runner loads (and frees) it */
	bool quiet;            /* no progress or summary lines on stderr (the driver prints its own) */
	void *ctx;             /* handed to the callbacks */
	/* called once the runs' ids are known, before any sample (res: run_id, n_runs, n_total);
	 * st is the runner's open store; a non-zero return stops the runner with that code */
	int (*on_start)(void *ctx, struct store *st, const struct runner_result *res, char *err, size_t errlen);
	/* called after each sample of this shard: seen of n_seen visited, stored_now when any
	 * listed method stored it now (else every method had it) */
	void (*on_sample)(void *ctx, int seen, int n_seen, bool stored_now);
};

#define RUNNER_MAX_METHODS 16

struct runner_result {
	int n_runs;                             /* one run per --method name */
	char run_id[RUNNER_MAX_METHODS][65];    /* in --method order */
	int n_total;                            /* samples in the task */
	int n_done_before, n_done_now;          /* (run, sample) pairs found stored / stored now */
	int n_left_to_other;                    /* pairs another live process of the same run held */
	int n_samples_built;                    /* task samples built (once per sample, whatever the methods) */
	int n_texts_tokenized;                  /* prompt texts templated and tokenized (once per sample with work) */
	int n_truncations;                      /* middle truncations (once per sample and distinct cap that cuts) */
	/* --protocol context_first: */
	int n_contexts;                         /* contexts prefilled and compressed (one per shared prefill) */
	int n_questions;                        /* questions answered from them (consecutive samples with the same
						 * context ids reuse its compression) */
};

/* Runs the evaluation; progress on stderr. Under o->task->question_protocol
 * "context_first" each prompt is split into its context and question parts
 * (prompt_split): the context is prefilled and compressed alone, the question forwarded
 * over the compressed cache, then decoding; when consecutive samples have the same
 * context ids (several questions on one context) the compression is made once and each
 * question answered from it. That protocol joins the run's configuration (and id); the
 * default, query_aware, leaves both as they were. o->methods may list several methods
 * ("fullkv,snapkv,h2o:window_size=16", kv_method_list_parse's grammar): each gets its own run,
 * identical to the run it would get alone; each sample is built and tokenized once for all of
 * them (eval/prompt.c), and methods whose prompt protocols give the same ids share each
 * sample's prefill (gen_greedy_shared), so
 * they must agree on token propagation. Shards are not part of the run's configuration:
 * processes running shards 0..N-1 of one configuration fill one run between them. */
int runner_run(const struct runner_opts *o, struct runner_result *res, char *err, size_t errlen);

#endif
