/* The task table (datasets/task.h): every benchmark the runner can drive, searched by --task. */
#include "datasets/task.h"

#include <stdlib.h>
#include <string.h>

#include "datasets/longbench.h" // defines: longbench_task
#include "datasets/needle.h" // defines: needle_task
#include "datasets/ruler.h"  // defines: ruler_task

const struct kv_task *const kv_tasks[] = {
	&needle_task,
	&longbench_task,
	&ruler_task,
	NULL,
};

const struct kv_task *task_find(const char *name)
{
	size_t n = strcspn(name, ":"); /* "ruler:vt" is handled by the "ruler" task */
	for (int i = 0; kv_tasks[i]; i++)
		if (strlen(kv_tasks[i]->name) == n && strncmp(kv_tasks[i]->name, name, n) == 0)
			return kv_tasks[i];
	return NULL;
}

void task_sample_free(struct task_sample *s)
{
	free(s->id);
	free(s->ids);
	free(s->answers_json);
	free(s->meta_json);
	memset(s, 0, sizeof(*s));
}
