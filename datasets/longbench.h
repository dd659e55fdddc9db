/* LongBench task (datasets/longbench.c). */
#ifndef KVLAB_DATASETS_LONGBENCH_H
#define KVLAB_DATASETS_LONGBENCH_H

#include <stdbool.h>
#include <stddef.h>

#include "datasets/task.h"

extern const struct kv_task longbench_task;

/* LongBench's 21 datasets in the official order (the 16 English ones the FastKV driver runs,
 * then the 5 Chinese ones), NULL-ended. */
extern const char *const longbench_datasets[];

/* Copies a data file's name ("qasper" or LongBench-E's "qasper_e") into base[n] without the
 * "_e"; returns whether it had one. */
bool longbench_base_name(const char *file, char *base, size_t n);

/* Sort key of a data file in the official order, the _e files after every plain one; unknown
 * names sort last (2 x 21). */
int longbench_file_rank(const char *file);

#endif
