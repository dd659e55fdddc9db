/* LongBench code_sim_score (metrics.py) with fuzzywuzzy 0.18.0's fuzz.ratio on CPython's
 * difflib.SequenceMatcher: LongBench/FastKV install fuzzywuzzy without
 * python-Levenshtein (neither requirements.txt names it, nor does any dependency pull it),
 * so fuzz.ratio falls back to difflib.
 *   line  = first line of pred.lstrip('\n').split('\n') without '`', '#' or "//"
 *           (not stripped; "" when none qualifies)
 *   ratio = 100 if line == gt, else 0 if either is empty, else
 *           int(round(100 * SequenceMatcher(None, line, gt).ratio()))  (half to even)
 *   score = ratio / 100 */
#include "eval/metrics/metrics_internal.h"

#include <math.h>

#include "base/errors.h" // defines: kv_errf, KV_ENOMEM

static bool has_code_marker(const uint32_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '`' || s[i] == '#' || (s[i] == '/' && i + 1 < n && s[i + 1] == '/'))
			return true;
	return false;
}

/* fuzz.ratio(s1, s2) */
static int fuzz_ratio(const uint32_t *s1, size_t n1, const uint32_t *s2, size_t n2, int *out)
{
	if (cp_eq(s1, n1, s2, n2)) {
		*out = 100;
		return 0;
	}
	if (n1 == 0 || n2 == 0) {
		*out = 0;
		return 0;
	}
	size_t m;
	if (difflib_matched(s1, n1, s2, n2, &m))
		return KV_ENOMEM;
	double ratio = 2.0 * (double)m / (double)(n1 + n2);
	*out = (int)nearbyint(100 * ratio); /* Python round(): half to even in the default mode */
	return 0;
}

int score_code_sim(const char *pred, const char *gt, const char *const *all_classes, int n_classes, double *out,
		   char *err, size_t errlen)
{
	(void)all_classes, (void)n_classes;
	struct pystr p = {0}, g = {0};
	int rc;
	if ((rc = pystr_from_utf8(&p, pred, "code_sim: prediction", err, errlen)) != 0 ||
	    (rc = pystr_from_utf8(&g, gt, "code_sim: ground truth", err, errlen)) != 0)
		goto out;
	size_t i = 0;
	while (i < p.n && p.cp[i] == '\n')
		i++;
	size_t line = 0, line_n = 0;
	while (i <= p.n) {
		size_t e = i;
		while (e < p.n && p.cp[e] != '\n')
			e++;
		if (!has_code_marker(p.cp + i, e - i)) {
			line = i;
			line_n = e - i;
			break;
		}
		i = e + 1;
	}
	int r;
	if (fuzz_ratio(p.cp + line, line_n, g.cp, g.n, &r)) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "code_sim: out of memory (%zu x %zu code points)", line_n, g.n);
		goto out;
	}
	*out = r / 100.0;
out:
	pystr_free(&p);
	pystr_free(&g);
	return rc;
}
