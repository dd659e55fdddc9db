/* RULER (NVIDIA/RULER) for kvlab: the synthetic data generator for its 13 tasks, ported
 * from the official Python generator so that the same seed, length and tokenizer give the
 * same JSONL bytes (../shared/spec/ruler.md); the reader of official RULER JSONL files
 * (2024 layout: answer prefix inside "input"; head layout: separate "answer_prefix");
 * and the task object (ruler_task) that the runner drives with FastKV's settings or RULER's
 * own (RULER's scoring is in eval/metrics/ruler_match.c).
 *
 * Revisions: RULER_REV_2024 is the generator from 4f6507e..c5341b4 (2024) with
 * variable_tracking as of f682453..5973c2a, the revision FastKV's RULER files come from;
 * RULER_REV_2024_12 differs only in vt (c5341b4: a re-randomized one-shot example per
 * sample); RULER_REV_HEAD follows the 2025 generator (binary-search sizing, separate
 * answer_prefix, essay/qa corpora repeated past their end, fwe budget minus the allowance,
 * cwe example spaced, vt one line per statement): its niah is checked against the official
 * script, the other families follow ../shared/spec/ruler.md without a reference run. */
#ifndef KVLAB_DATASETS_RULER_H
#define KVLAB_DATASETS_RULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "datasets/task.h" // defines: struct kv_task

struct tokenizer;

#define RULER_N_TASKS 13
#define RULER_DEFAULT_WORDS_DIR "models/wonderwords"
#define RULER_DEFAULT_HAYSTACK "../shared/data/paul_graham_essays"

enum ruler_rev { RULER_REV_2024 = 0, RULER_REV_2024_12 = 1, RULER_REV_HEAD = 2 };
enum ruler_family { RULER_NIAH, RULER_VT, RULER_CWE, RULER_FWE, RULER_QA };
enum ruler_metric { RULER_MATCH_ALL, RULER_MATCH_PART };

/* One task of synthetic.yaml with its family's settings (constants.py). */
struct ruler_task_def {
	const char *name;            /* "niah_single_1" */
	enum ruler_family family;
	int tokens_to_generate;      /* RULER's allowance T for the family */
	enum ruler_metric metric;    /* RULER's metric (qa: part, others: all) */
	/* niah */
	const char *haystack;        /* "noise", "essay", "needle" */
	const char *type_k, *type_v; /* "words", "numbers", "uuids" */
	int num_k, num_v, num_q;
	/* qa */
	const char *dataset;         /* "squad", "hotpotqa" */
};

/* The 13 tasks in synthetic.yaml order (RULER's summary order). */
extern const struct ruler_task_def ruler_tasks[RULER_N_TASKS];
/* Borrowed: the task named name, or NULL. */
const struct ruler_task_def *ruler_task_find(const char *name);
/* Parses "2024", "2024-12" or "head"; KV_EINVAL naming --ruler_rev otherwise. */
int ruler_rev_parse(const char *s, enum ruler_rev *out, char *err, size_t errlen);
const char *ruler_rev_name(enum ruler_rev r);

// ----------------------------------------------------------------------------
// generator

struct ruler_gen_opts {
	const char *task;            /* one of ruler_tasks[].name */
	int length;                  /* max_seq_length: input tokens + allowance */
	int samples;
	uint64_t seed;               /* RULER's random_seed (42) */
	enum ruler_rev rev;
	const struct tokenizer *tok; /* borrowed: the target model's tokenizer (ntok = encode without BOS) */
	const char *words_dir;       /* wonderwords nounlist/adjectivelist/verblist.txt (NULL = default) */
	const char *haystack_dir;    /* Paul Graham essays *.txt (NULL = default) */
	const char *qa_data;         /* qa_1: SQuAD v2 dev JSON, qa_2: HotpotQA dev distractor JSON */
	bool quiet;                  /* no progress on stderr */
};

/* Generates o->samples records of o->task into out as RULER's JSONL (json.dumps with
 * ensure_ascii, one record a line). Errors name the flag or file. *n_done (optional)
 * counts the records written. */
int ruler_generate(const struct ruler_gen_opts *o, FILE *out, int *n_done, char *err, size_t errlen);

// ----------------------------------------------------------------------------
// text helpers shared by the generator and the scorer (ruler_text.c, eval/metrics/ruler_match.c)

/* Python's str.isspace() for one code point. */
bool ruler_py_isspace(uint32_t cp);

// ----------------------------------------------------------------------------
// task (datasets/task.h)

extern const struct kv_task ruler_task;

#endif
