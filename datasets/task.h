/* The task contract: a task (needle, RULER, LongBench, ...) turns its data into
 * samples ready for the model (token ids and generation settings), and scores a
 * prediction. The runner (eval/runner.c) drives any task the same way, so a new
 * benchmark plugs in without touching the runner. */
#ifndef KVLAB_DATASETS_TASK_H
#define KVLAB_DATASETS_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct model;

#define TASK_MAX_SCORES 8
#define TASK_MAX_STOPS 8

/* One prepared sample. Every pointer is owned by the sample (task_sample_free). */
struct task_sample {
	char *id;               /* stable id, unique within the task ("len_2000_depth_50") */
	int32_t *ids;           /* (n_ids,) prompt token ids, BOS included when the task wants it */
	int n_ids;
	int max_new_tokens;
	int32_t stop_ids[TASK_MAX_STOPS]; /* extra ids that end generation besides the model's EOS ids */
	int n_stop;
	bool eos_stop;          /* stop on the model's EOS ids (default true) */
	bool min_one_token;     /* the first generated token may not be a stop id (HF min_length = n + 1) */
	int index;              /* the sample's index in the task (for the task's own lookups) */
	bool strip;             /* strip whitespace around the decoded prediction */
	char *answers_json;     /* JSON array of reference answers, stored with the sample */
	char *meta_json;        /* JSON object of task-specific fields (e.g. {"context_length":2000,"depth":50}) */
};

struct task_score {
	const char *name;       /* static metric name, e.g. "overlap" */
	double value;
};

/* Task arguments as the command line gives them (strings borrowed, NULL = default). */
struct task_args {
	const char *task;            /* "needle", "ruler:niah_single_1", "longbench:multi_news", ... */
	const char *data;            /* --data / --data_dir / --haystack_dir, task-specific */
	const char *context_lengths; /* needle: "1000,2000,..." */
	const char *depths;          /* needle: "0,11,...,100" */
	int limit;                   /* > 0: at most this many samples */
	bool chat;                   /* task-specific: use the chat template */
	const char *method;          /* filled by the runner: the method's name (LongBench's h2o/pyramidinfer cap) */
	int max_len;                 /* > 0: prompt cap in tokens (LongBench/RULER middle truncation) */
	const char *protocol;        /* ruler: "fastkv" (default) or "official" (RULER's own allowances and metrics) */
	const char *qa_data;         /* ruler qa_1/qa_2 generation: SQuAD v2 / HotpotQA dev JSON */
	const char *ruler_rev;       /* ruler generation: "2024" (default), "2024-12", "head" */
};

struct kv_task {
	const char *name;       /* "needle"; a task handles "name" and "name:SUB" */
	const char *summary;
	/* required: prepares the task for model m (tokenizer borrowed for the task's life):
	 * reads data, checks arguments (errors name the flag/file), builds the sample list. */
	int (*open)(const struct task_args *a, const struct model *m, void **state, char *err, size_t errlen);
	/* required: number of samples. */
	int (*count)(const void *state);
	/* required: builds sample i into *out (caller frees with task_sample_free). */
	int (*sample)(void *state, int i, struct task_sample *out, char *err, size_t errlen);
	/* required: scores a prediction of sample s; fills out[0..*n) (at most TASK_MAX_SCORES). */
	int (*score)(void *state, const struct task_sample *s, const char *prediction, struct task_score *out, int *n,
		     char *err, size_t errlen);
	/* required: writes the task's resolved settings as a JSON object (part of the run's identity). */
	void (*describe)(const void *state, char *buf, size_t len);
	/* required: releases the state. */
	void (*close)(void *state);
	/* optional: the metric shown first in reports ("overlap"); NULL = first score. */
	const char *primary_metric;
};

/* Releases what a sample owns and zeroes it. */
void task_sample_free(struct task_sample *s);

/* Borrowed: the task handling name ("needle" or "ruler:vt" -> the ruler task), or NULL. */
const struct kv_task *task_find(const char *name);

/* NULL-terminated table of every task (datasets/tasks.c). */
extern const struct kv_task *const kv_tasks[];

#endif
