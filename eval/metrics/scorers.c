/* The scorer table: a sample names its scorer (datasets/task.h) and the runner scores it
 * here, so every task's scoring lives in eval/metrics. See metrics.h. */
#include "eval/metrics/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"

static int needle(const char *pred, const char *const *refs, int n_refs, struct metric_value *out, int *n, char *err,
		  size_t errlen)
{
	double overlap = 0, rouge = 0;
	if (n_refs < 2)
		return kv_errf(err, errlen, KV_EINVAL, "needle scorer: expected 2 references (answer, needle), got %d", n_refs);
	if (needle_overlap(pred, refs[0], &overlap) != 0 || needle_rouge1(refs[1], pred, &rouge) != 0)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory scoring a prediction");
	out[0] = (struct metric_value){ "overlap", overlap };
	out[1] = (struct metric_value){ "rouge1_x10", rouge * 10 };
	*n = 2;
	return 0;
}

static int ruler(const char *pred, bool official, bool part, const char *const *refs, int n_refs, struct metric_value *out,
		 int *n, char *err, size_t errlen)
{
	char *p = strdup(pred ? pred : "");
	if (!p)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	if (official)
		ruler_postprocess(p);
	double v = part ? ruler_match_part(p, refs, n_refs) : ruler_match_all(p, refs, n_refs);
	free(p);
	out[0] = (struct metric_value){ "score", v };
	*n = 1;
	return 0;
}

int metric_score_named(const char *scorer, const char *also_as, const char *pred, const char *const *refs, int n_refs,
		       const char *const *classes, int n_classes, struct metric_value *out, int *n, char *err,
		       size_t errlen)
{
	int rc;
	*n = 0;
	if (!strcmp(scorer, "needle"))
		rc = needle(pred, refs, n_refs, out, n, err, errlen);
	else if (!strcmp(scorer, "string_match_all"))
		rc = ruler(pred, false, false, refs, n_refs, out, n, err, errlen);
	else if (!strcmp(scorer, "ruler:string_match_all") || !strcmp(scorer, "ruler:string_match_part"))
		rc = ruler(pred, true, !strcmp(scorer, "ruler:string_match_part"), refs, n_refs, out, n, err, errlen);
	else if (!strncmp(scorer, "longbench:", 10)) {
		double v = 0.0;
		/* scorer(): first-line cut for trec/triviaqa/samsum/lsht, then the dataset's metric, max over answers */
		if (!(rc = metric_score_dataset(scorer + 10, pred, refs, n_refs, n_classes ? classes : NULL, n_classes, &v, err,
						errlen))) {
			out[0] = (struct metric_value){ "score", v };
			*n = 1;
		}
	} else
		rc = kv_errf(err, errlen, KV_EINVAL,
			     "unknown scorer '%s' (expected needle, string_match_all, ruler:string_match_all|part, longbench:DATASET)",
			     scorer);
	if (!rc && also_as && also_as[0] && *n > 0 && *n < METRIC_MAX_VALUES) {
		out[*n] = (struct metric_value){ also_as, out[0].value };
		(*n)++;
	}
	return rc;
}
