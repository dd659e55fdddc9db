/* The task table (datasets/task.h): every benchmark the runner can drive, searched by --task. */
#include "datasets/task.h"

#include <stdlib.h>
#include <string.h>

#include "base/errors.h" // KV_ENOMEM
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

static void free_strings(char **v, int n)
{
	for (int i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void task_sample_free(struct task_sample *s)
{
	free(s->id);
	free(s->text);
	free(s->answers_json);
	free(s->meta_json);
	free(s->record_json);
	free_strings(s->refs, s->n_refs);
	free_strings(s->classes, s->n_classes);
	memset(s, 0, sizeof(*s));
}

int task_sample_set_strings(struct task_sample *s, bool classes, const char *const *strs, int n)
{
	char **v = calloc((size_t)n + 1, sizeof(char *));
	if (!v)
		return KV_ENOMEM;
	for (int i = 0; i < n; i++)
		if (!(v[i] = strdup(strs[i] ? strs[i] : ""))) {
			free_strings(v, i);
			return KV_ENOMEM;
		}
	char ***dst = classes ? &s->classes : &s->refs;
	int *dn = classes ? &s->n_classes : &s->n_refs;
	free_strings(*dst, *dn);
	*dst = v;
	*dn = n;
	return 0;
}
