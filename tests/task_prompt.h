/* Test helpers: a task's sample made ready for one method by eval/prompt.c, scored by its
 * scorer name and described with the method's cap, the way eval/runner.c does it. */
#ifndef KVLAB_TESTS_TASK_PROMPT_H
#define KVLAB_TESTS_TASK_PROMPT_H

#include <string.h> // memset

#include "datasets/task.h"
#include "eval/metrics/metrics.h" // metric_score_named
#include "eval/prompt.h"          // prompt_cap, prompt_set_build
#include "methods/registry.h"     // kv_method_find

/* Sample i of t (state st) into *s and its prompt for method (NULL: fullkv) into ps->p[0];
 * free both (task_sample_free, prompt_set_free) also after a failure. */
static inline int tp_prepare(const struct kv_task *t, void *st, const struct model *m, const char *method, int i,
			     struct task_sample *s, struct prompt_set *ps, char *err, size_t errlen)
{
	struct task_protocol proto;
	const struct kv_method *km = kv_method_find(method ? method : "fullkv");
	memset(ps, 0, sizeof(*ps));
	int rc = t->sample(st, i, s, err, errlen);
	t->protocol(st, &proto);
	return rc ? rc : prompt_set_build(ps, m, s, &proto, &km, NULL, 1, err, errlen);
}

/* Scores pred on sample s with its scorer. */
static inline int tp_score(const struct task_sample *s, const char *pred, struct metric_value *out, int *n, char *err,
			   size_t errlen)
{
	return metric_score_named(s->metric, s->also_as, pred, (const char *const *)s->refs, s->n_refs,
				  (const char *const *)s->classes, s->n_classes, out, n, err, errlen);
}

/* t's describe JSON with method's prompt cap (NULL: fullkv). */
static inline void tp_describe(const struct kv_task *t, void *st, const struct model *m, const char *method, char *buf,
			       size_t len)
{
	struct task_protocol proto;
	t->protocol(st, &proto);
	struct task_cap cap = prompt_cap(&proto, m, kv_method_find(method ? method : "fullkv"));
	t->describe(st, &cap, buf, len);
}

#endif
