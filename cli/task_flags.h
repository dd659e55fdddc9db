/* The task flags kvlab run and kvlab sweep share (--task, the needle grid, --data, --limit,
 * the LongBench/RULER prompt options, ...): one table, copied into each command's flag
 * table at the offset of its struct task_flags. */
#ifndef KVLAB_CLI_TASK_FLAGS_H
#define KVLAB_CLI_TASK_FLAGS_H

#include <stddef.h>

#include "cli/cli.h"      // struct cli_flag
#include "eval/runner.h"  // struct task_args

/* What the task flags fill. */
struct task_flags {
	struct task_args ta;
	const char *haystack_dir; /* needle: --haystack_dir, another name for --data */
};

#define TASK_FLAGS_N 13 /* entries of the shared table */

/* Writes own's flags (terminated by { 0 }), then the task flags with their offsets moved
 * by base (offsetof the command's struct task_flags field), then the terminator into out
 * (cap entries); returns the entries written before the terminator, or -1 when cap is too
 * small (a programmer error). */
int task_flags_join(struct cli_flag *out, size_t cap, const struct cli_flag *own, size_t base);

/* Folds --haystack_dir into ta.data; KV_EINVAL naming both flags (and cmd) when both were
 * given, or naming --protocol when its value is not query_aware or context_first. */
int task_flags_resolve(struct task_flags *t, const char *cmd, char *err, size_t errlen);

#endif
