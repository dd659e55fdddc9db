/* The task flags of kvlab run and kvlab sweep: see task_flags.h. */
#include "cli/task_flags.h"

#include <string.h>

#include "base/errors.h" // kv_errf

#define F(field) offsetof(struct task_flags, field)

static const struct cli_flag task_flags[TASK_FLAGS_N] = {
	{ "--task", CLI_STR, F(ta.task), 0, 0, "NAME", "task: needle, ruler (FastKV's 11 tasks) or ruler:SUB, longbench (every file in --data) or longbench:DATASET", true },
	{ "--context_lengths", CLI_STR, F(ta.context_lengths), 0, 0, "L1,L2,..",
	  "needle: context lengths in tokens (default: the official 16000..128000 grid)", false },
	{ "--depths", CLI_STR, F(ta.depths), 0, 0, "D1,D2,..", "needle: depth percents (default: 0,11,22,33,44,56,67,78,89,100)", false },
	{ "--haystack_dir", CLI_STR, F(haystack_dir), 0, 0, "DIR",
	  "needle: folder of .txt essays, read in sorted order (default: ../shared/data/paul_graham_essays)", false },
	{ "--data", CLI_STR, F(ta.data), 0, 0, "PATH", "task data file or folder", false },
	{ "--limit", CLI_INT, F(ta.limit), 0, 1 << 30, "N", "run at most N samples (0 = all)", false },
	{ "--chat", CLI_SWITCH, F(ta.chat), 0, 0, "", "wrap prompts in the model's chat template", false },
	{ "--model_max_len", CLI_INT, F(ta.max_len), 0, 1 << 30, "N",
	  "LongBench/RULER: prompt cap in tokens before middle truncation (0 = the official per-model rule)", false },
	{ "--ruler_protocol", CLI_STR, F(ta.protocol), 0, 0, "NAME",
	  "ruler: fastkv (chat template, 64 new tokens, string_match_all) or official (RULER's allowances and metrics)", false },
	{ "--qa_data", CLI_STR, F(ta.qa_data), 0, 0, "PATH", "ruler qa_1/qa_2: SQuAD v2 / HotpotQA dev JSON", false },
	{ "--ruler_rev", CLI_STR, F(ta.ruler_rev), 0, 0, "REV", "ruler without --data: generator revision (2024, 2024-12, head)", false },
	{ "--protocol", CLI_STR, F(ta.question_protocol), 0, 0, "NAME",
	  "query_aware (default: the whole prompt prefilled and compressed at once) or context_first (the context "
	  "compressed alone, then the question appended; recorded in the run)", false },
	{ "--beyond_context", CLI_SWITCH, F(ta.beyond_context), 0, 0, "",
	  "run needle lengths, RULER generation lengths and prompts longer than the model's context (refused otherwise)", false },
};

int task_flags_join(struct cli_flag *out, size_t cap, const struct cli_flag *own, size_t base)
{
	size_t n = 0;
	for (; own[n].name; n++)
		if (n >= cap)
			return -1;
	if (n + TASK_FLAGS_N + 1 > cap)
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = own[i];
	for (size_t i = 0; i < TASK_FLAGS_N; i++) {
		out[n + i] = task_flags[i];
		out[n + i].offset += base;
	}
	out[n + TASK_FLAGS_N] = (struct cli_flag){ 0 };
	return (int)(n + TASK_FLAGS_N);
}

int task_flags_resolve(struct task_flags *t, const char *cmd, char *err, size_t errlen)
{
	const char *qp = t->ta.question_protocol;
	if (qp && strcmp(qp, "query_aware") != 0 && strcmp(qp, "context_first") != 0)
		return kv_errf(err, errlen, KV_EINVAL, "--protocol: expected query_aware or context_first, got '%s'", qp);
	if (!t->haystack_dir)
		return 0;
	if (t->ta.data)
		return kv_errf(err, errlen, KV_EINVAL, "%s: give --haystack_dir or --data, not both", cmd);
	t->ta.data = t->haystack_dir;
	return 0;
}
