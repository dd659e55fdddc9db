/* LongBench metric dispatch: name -> metric function, the max over answers
 * (eval_longbench.py scorer), the dataset -> metric table (eval.md 2.4) and the
 * process-wide jieba segmenter the zh metrics share. */
#include "eval/metrics/metrics.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h" // defines: kv_errf, KV_EINVAL, KV_ENOMEM
#include "base/paths.h"        // kv_find_default
#include "eval/metrics/jieba.h" // defines: jieba_load, jieba_free, JIEBA_DEFAULT_DIR
#include "eval/metrics/metrics_internal.h" // defines: score_* functions

// ----------------------------------------------------------------------------
// metric table

struct metric_def {
	const char *name;
	int (*pair)(const char *pred, const char *gt, const char *const *all_classes, int n_classes, double *out,
		    char *err, size_t errlen);
};

static const struct metric_def metric_defs[] = {
	{.name = "qa_f1", .pair = score_qa_f1},
	{.name = "qa_f1_zh", .pair = score_qa_f1_zh},
	{.name = "rouge", .pair = score_rouge},
	{.name = "rouge_zh", .pair = score_rouge_zh},
	{.name = "classification", .pair = score_classification},
	{.name = "count", .pair = score_count},
	{.name = "retrieval", .pair = score_retrieval},
	{.name = "retrieval_zh", .pair = score_retrieval_zh},
	{.name = "code_sim", .pair = score_code_sim},
};
#define N_METRICS (sizeof(metric_defs) / sizeof(metric_defs[0]))

const char *const metric_names[] = {"qa_f1", "qa_f1_zh", "rouge", "rouge_zh", "classification", "count",
				    "retrieval", "retrieval_zh", "code_sim", NULL};
_Static_assert(sizeof(metric_names) / sizeof(metric_names[0]) == N_METRICS + 1, "metric_names out of sync");

int metric_score(const char *name, const char *pred, const char *const *answers, int n_answers,
		 const char *const *all_classes, int n_classes, double *out, char *err, size_t errlen)
{
	const struct metric_def *d = NULL;
	for (size_t i = 0; i < N_METRICS && name; i++)
		if (!strcmp(metric_defs[i].name, name))
			d = &metric_defs[i];
	if (!d)
		return kv_errf(err, errlen, KV_EINVAL,
			       "metric '%s' is unknown; expected qa_f1, qa_f1_zh, rouge, rouge_zh, classification, count, "
			       "retrieval, retrieval_zh or code_sim", name ? name : "(null)");
	if (!pred || (n_answers > 0 && !answers))
		return kv_errf(err, errlen, KV_EINVAL, "%s: prediction or answers is NULL", d->name);
	double score = 0.0;
	for (int i = 0; i < n_answers; i++) {
		double s;
		if (!answers[i])
			return kv_errf(err, errlen, KV_EINVAL, "%s: answer %d is NULL", d->name, i);
		int rc = d->pair(pred, answers[i], all_classes, n_classes, &s, err, errlen);
		if (rc)
			return rc;
		if (s > score) /* Python max(score, s) keeps score unless s is larger */
			score = s;
	}
	*out = score;
	return 0;
}

// ----------------------------------------------------------------------------
// datasets (eval.md 2.4, 2.5)

static const struct {
	const char *dataset, *metric;
	bool first_line;
} datasets[] = {
	{"narrativeqa", "qa_f1", false},
	{"qasper", "qa_f1", false},
	{"multifieldqa_en", "qa_f1", false},
	{"multifieldqa_zh", "qa_f1_zh", false},
	{"hotpotqa", "qa_f1", false},
	{"2wikimqa", "qa_f1", false},
	{"musique", "qa_f1", false},
	{"dureader", "rouge_zh", false},
	{"gov_report", "rouge", false},
	{"qmsum", "rouge", false},
	{"multi_news", "rouge", false},
	{"vcsum", "rouge_zh", false},
	{"trec", "classification", true},
	{"triviaqa", "qa_f1", true},
	{"samsum", "rouge", true},
	{"lsht", "classification", true},
	{"passage_count", "count", false},
	{"passage_retrieval_en", "retrieval", false},
	{"passage_retrieval_zh", "retrieval_zh", false},
	{"lcc", "code_sim", false},
	{"repobench-p", "code_sim", false},
};

static int dataset_index(const char *dataset)
{
	if (!dataset)
		return -1;
	size_t n = strlen(dataset);
	if (n > 2 && !strcmp(dataset + n - 2, "_e")) /* LongBench-E: same lookups as the base */
		n -= 2;
	for (size_t i = 0; i < sizeof(datasets) / sizeof(datasets[0]); i++)
		if (strlen(datasets[i].dataset) == n && !strncmp(datasets[i].dataset, dataset, n))
			return (int)i;
	return -1;
}

const char *metric_for_dataset(const char *dataset)
{
	int i = dataset_index(dataset);
	return i < 0 ? NULL : datasets[i].metric;
}

bool metric_first_line_only(const char *dataset)
{
	int i = dataset_index(dataset);
	return i >= 0 && datasets[i].first_line;
}

int metric_score_dataset(const char *dataset, const char *pred, const char *const *answers, int n_answers,
			 const char *const *all_classes, int n_classes, double *out, char *err, size_t errlen)
{
	int i = dataset_index(dataset);
	if (i < 0)
		return kv_errf(err, errlen, KV_EINVAL, "dataset '%s' is not a LongBench dataset (see eval.md 2.4)",
			       dataset ? dataset : "(null)");
	if (!pred)
		return kv_errf(err, errlen, KV_EINVAL, "%s: prediction is NULL", dataset);
	if (!datasets[i].first_line)
		return metric_score(datasets[i].metric, pred, answers, n_answers, all_classes, n_classes, out, err,
				    errlen);
	while (*pred == '\n')
		pred++;
	size_t n = strcspn(pred, "\n");
	char *line = malloc(n + 1);
	if (!line)
		return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", dataset);
	memcpy(line, pred, n);
	line[n] = 0;
	int rc = metric_score(datasets[i].metric, line, answers, n_answers, all_classes, n_classes, out, err, errlen);
	free(line);
	return rc;
}

// ----------------------------------------------------------------------------
// the shared segmenter

static pthread_mutex_t jieba_lock = PTHREAD_MUTEX_INITIALIZER;
static struct jieba *jieba_shared; /* guarded by jieba_lock; immutable once loaded */

static int jieba_get(const char *dir, const struct jieba **out, char *err, size_t errlen)
{
	int rc = 0;
	char found[1024];
	pthread_mutex_lock(&jieba_lock);
	if (!jieba_shared)
		rc = jieba_load(dir ? dir : kv_find_default(JIEBA_DEFAULT_DIR, found, sizeof(found)), &jieba_shared, err, errlen);
	if (out)
		*out = jieba_shared;
	pthread_mutex_unlock(&jieba_lock);
	return rc;
}

int metrics_jieba_init(const char *dir, char *err, size_t errlen)
{
	return jieba_get(dir, NULL, err, errlen);
}

void metrics_jieba_release(void)
{
	pthread_mutex_lock(&jieba_lock);
	jieba_free(jieba_shared);
	jieba_shared = NULL;
	pthread_mutex_unlock(&jieba_lock);
}

int metrics_jieba(const struct jieba **out, char *err, size_t errlen)
{
	return jieba_get(NULL, out, err, errlen);
}
