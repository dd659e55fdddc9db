/* The task contract: a task (needle, RULER, LongBench, ...) turns its data into
 * method-agnostic samples (prompt text, generation settings, references and the name of
 * the scorer in eval/metrics) and declares the prompt protocol its driver follows. The
 * runner (eval/runner.c) builds each sample once, turns it into prompt ids per method with
 * eval/prompt.c, scores through eval/metrics by name, so a new benchmark plugs in without
 * touching the runner. */
#ifndef KVLAB_DATASETS_TASK_H
#define KVLAB_DATASETS_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct model;

#define TASK_MAX_SCORES 8
#define TASK_MAX_STOPS 8

/* One sample, the same for every method. Every pointer is owned by the sample (task_sample_free). */
struct task_sample {
	char *id;               /* stable id, unique within the task ("len_2000_depth_50") */
	char *text;             /* the prompt text (token placement, if any, already done by the task) */
	bool question_split;    /* question_at is set: text splits into a context part and a question part */
	size_t question_at;     /* byte offset in text where the question part begins (the question, what follows
				 * it, the answer prefix); --protocol context_first prefills and compresses
				 * text[0, question_at) alone (eval/prompt.c moves the cut back over whitespace) */
	bool chat;              /* render text as one user turn of the model's chat template (when it has one) */
	bool add_special;       /* encode with the tokenizer's special tokens (BOS) */
	int max_new_tokens;
	int32_t stop_ids[TASK_MAX_STOPS]; /* extra ids that end generation besides the model's EOS ids */
	int n_stop;
	bool eos_stop;          /* stop on the model's EOS ids (default true) */
	bool min_one_token;     /* the first generated token may not be a stop id (HF min_length = n + 1) */
	int index;              /* the sample's index in the task */
	bool strip;             /* strip whitespace around the decoded prediction */
	char *answers_json;     /* JSON array of reference answers, stored with the sample */
	char *meta_json;        /* JSON object of task-specific fields (e.g. {"context_length":2000,"depth":50}) */
	bool meta_truncation;   /* the prompt appends "truncated" and "n_tokens_full" to meta_json (LongBench) */
	char *record_json;      /* optional: the source record as exports need it (LongBench), stored with the sample */
	/* scoring (eval/metrics, by name) */
	char metric[64];        /* scorer name: "needle", "string_match_all", "ruler:string_match_part", "longbench:qasper" */
	char also_as[32];       /* optional: the first score is stored under this name too (RULER's per-task means) */
	char **refs;            /* (n_refs,) reference strings the scorer reads */
	int n_refs;
	char **classes;         /* (n_classes,) LongBench's all_classes, or NULL */
	int n_classes;
};

/* How FastKV's driver caps the prompt when no --model_max_len is given (eval/prompt.c). */
enum task_cap_rule {
	TASK_CAP_NONE,              /* no cap */
	TASK_CAP_MODEL2MAXLEN,      /* model2maxlen, method override; no key matches: no cap (RULER) */
	TASK_CAP_MODEL2MAXLEN_CTX,  /* model2maxlen, method override; no key matches: context - 242 (LongBench) */
};

/* The prompt protocol a task's driver follows (the same for all its samples). */
struct task_protocol {
	enum task_cap_rule cap_rule;
	int max_len;            /* > 0: --model_max_len, caps every method's prompt */
	bool method_gen_rules;  /* the driver applies methods' generation needs (LongBench: GemFilter's extra token) */
	bool context_first;     /* set by the runner for --protocol context_first: prompts also carry the token
				 * split between context and question (eval/prompt.c) */
};

/* A method's resolved prompt cap, as the runner hands it to describe. */
struct task_cap {
	int max_len;            /* 0: no cap */
	const char *rule;       /* static: how it was chosen */
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
	int max_len;                 /* > 0: prompt cap in tokens (LongBench/RULER middle truncation) */
	const char *protocol;        /* ruler: "fastkv" (default) or "official" (RULER's own allowances and metrics) */
	const char *qa_data;         /* ruler qa_1/qa_2 generation: SQuAD v2 / HotpotQA dev JSON */
	const char *ruler_rev;       /* ruler generation: "2024" (default), "2024-12", "head" */
	bool beyond_context;         /* allow grids, generation lengths and prompts beyond the model's context */
	const char *question_protocol; /* --protocol: "query_aware" (NULL, the default: the whole prompt prefilled and
					* compressed at once) or "context_first" (the context compressed alone, then
					* the question appended; eval/runner.c) */
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
	/* required: the prompt protocol of the task's driver into *out. */
	void (*protocol)(const void *state, struct task_protocol *out);
	/* required: writes the task's resolved settings, with a method's prompt cap, as a JSON
	 * object (part of the run's identity). */
	void (*describe)(const void *state, const struct task_cap *cap, char *buf, size_t len);
	/* required: releases the state. */
	void (*close)(void *state);
	/* optional: the metric shown first in reports ("overlap"); NULL = first score. */
	const char *primary_metric;
};

/* Releases what a sample owns and zeroes it. */
void task_sample_free(struct task_sample *s);

/* Copies strs[0..n) into s->refs (or s->classes when classes); KV_ENOMEM on failure. */
int task_sample_set_strings(struct task_sample *s, bool classes, const char *const *strs, int n);

/* Borrowed: the task handling name ("needle" or "ruler:vt" -> the ruler task), or NULL. */
const struct kv_task *task_find(const char *name);

/* NULL-terminated table of every task (datasets/tasks.c). */
extern const struct kv_task *const kv_tasks[];

#endif
