/* LongBench retrieval_score / retrieval_zh_score (metrics.py), passage_retrieval_en/zh:
 * id = the first re.findall(r'Paragraph (\d+)', gt) (r'段落(\d+)' for zh); the score is
 * the fraction of the \d+ numbers in pred whose text equals id, 0 when there are none.
 * A ground truth without the pattern raises IndexError in the official scorer, which
 * aborts the dataset's evaluation: here it is KV_EINVAL. */
#include "eval/metrics/metrics_internal.h"

#include <stdio.h>

#include "base/errors.h" // defines: kv_errf, KV_EINVAL

static int retrieval(const char *name, const uint32_t *prefix, size_t prefix_n, const char *pred, const char *gt,
		     double *out, char *err, size_t errlen)
{
	struct pystr p = {0}, g = {0};
	char what[64];
	int rc;
	snprintf(what, sizeof(what), "%s: prediction", name);
	if ((rc = pystr_from_utf8(&p, pred, what, err, errlen)) != 0)
		goto out;
	snprintf(what, sizeof(what), "%s: ground truth", name);
	if ((rc = pystr_from_utf8(&g, gt, what, err, errlen)) != 0)
		goto out;
	/* re.findall(...)[0]: the leftmost prefix followed by at least one digit, digits greedy */
	for (size_t i = 0; i + prefix_n < g.n; i++) {
		if (!cp_eq(g.cp + i, prefix_n, prefix, prefix_n) || !py_isdecimal(g.cp[i + prefix_n]))
			continue;
		size_t b = i + prefix_n, e = b;
		while (e < g.n && py_isdecimal(g.cp[e]))
			e++;
		*out = digit_runs_share(&p, g.cp + b, e - b);
		goto out;
	}
	rc = kv_errf(err, errlen, KV_EINVAL,
		     "%s: ground truth '%.40s' has no %s number; the official scorer raises IndexError here", name, gt,
		     prefix_n == 10 ? "'Paragraph N'" : "'段落N'");
out:
	pystr_free(&p);
	pystr_free(&g);
	return rc;
}

int score_retrieval(const char *pred, const char *gt, const char *const *all_classes, int n_classes, double *out,
		    char *err, size_t errlen)
{
	(void)all_classes, (void)n_classes;
	static const uint32_t prefix[] = {'P', 'a', 'r', 'a', 'g', 'r', 'a', 'p', 'h', ' '};
	return retrieval("retrieval", prefix, 10, pred, gt, out, err, errlen);
}

int score_retrieval_zh(const char *pred, const char *gt, const char *const *all_classes, int n_classes,
		       double *out, char *err, size_t errlen)
{
	(void)all_classes, (void)n_classes;
	static const uint32_t prefix[] = {0x6BB5, 0x843D}; /* 段落 */
	return retrieval("retrieval_zh", prefix, 2, pred, gt, out, err, errlen);
}
