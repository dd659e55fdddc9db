/* LongBench classification_score (metrics.py), trec and lsht:
 *   matches = [c for c in all_classes if c in pred]
 *   for t in matches: if t in gt and t != gt: matches.remove(t)
 * where the for loop walks a list it shrinks (Python's list iterator: an index that
 * advances after every element, so the element after a removed one is skipped), and
 *   score = 1 / len(matches) if gt in matches else 0.
 * ("if em_match_list != 0" is always true, so the difflib fallback never runs.)
 * Substring tests on valid UTF-8 bytes equal Python's on code points. */
#include "eval/metrics/metrics_internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/errors.h" // defines: kv_errf, KV_EINVAL, KV_ENOMEM

int score_classification(const char *pred, const char *gt, const char *const *all_classes, int n_classes,
			 double *out, char *err, size_t errlen)
{
	if (!all_classes || n_classes < 0)
		return kv_errf(err, errlen, KV_EINVAL,
			       "classification: all_classes is missing (the record's all_classes is null); the official "
			       "scorer raises TypeError here");
	struct pystr chk = {0};
	int rc = pystr_from_utf8(&chk, pred, "classification: prediction", err, errlen);
	if (!rc)
		rc = pystr_from_utf8(&chk, gt, "classification: ground truth", err, errlen);
	for (int c = 0; c < n_classes && !rc; c++)
		rc = pystr_from_utf8(&chk, all_classes[c], "classification: all_classes", err, errlen);
	pystr_free(&chk);
	if (rc)
		return rc;
	const char **m = malloc((size_t)(n_classes ? n_classes : 1) * sizeof(*m));
	if (!m)
		return kv_errf(err, errlen, KV_ENOMEM, "classification: out of memory");
	int n = 0;
	for (int c = 0; c < n_classes; c++)
		if (strstr(pred, all_classes[c]))
			m[n++] = all_classes[c];
	for (int i = 0; i < n; i++) {
		const char *t = m[i];
		if (strstr(gt, t) && strcmp(t, gt) != 0) {
			int first = 0; /* list.remove: the first element equal to t */
			while (strcmp(m[first], t) != 0)
				first++;
			memmove(m + first, m + first + 1, (size_t)(n - first - 1) * sizeof(*m));
			n--;
		}
	}
	bool found = false;
	for (int i = 0; i < n && !found; i++)
		found = strcmp(m[i], gt) == 0;
	*out = found ? 1.0 / n : 0.0;
	free(m);
	return 0;
}
