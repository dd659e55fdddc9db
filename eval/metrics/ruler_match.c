/* RULER's scoring (scripts/eval/synthetic/constants.py and evaluate.py: postprocess_pred,
 * string_match_all, string_match_part; ../shared/spec/ruler.md sections 9.2-9.3 and 10.4). */
#include "eval/metrics/metrics.h"

#include <stdlib.h>
#include <string.h>

#include "base/pyjson.h"    // py_utf8_next
#include "base/pystr.h"     // py_lower_utf8
#include "datasets/ruler.h" // ruler_py_isspace

// ----------------------------------------------------------------------------
// scoring

/* Python strip() in place: returns the first kept byte, cuts the tail. */
static char *py_strip(char *s)
{
	size_t n = strlen(s), b = 0, e = n;
	while (b < n) {
		size_t adv;
		uint32_t cp = py_utf8_next(s + b, n - b, &adv);
		if (!ruler_py_isspace(cp))
			break;
		b += adv;
	}
	/* scan forward remembering where the last non-space ended */
	size_t last = b;
	for (size_t i = b; i < n;) {
		size_t adv;
		uint32_t cp = py_utf8_next(s + i, n - i, &adv);
		i += adv;
		if (!ruler_py_isspace(cp))
			last = i;
	}
	e = last;
	s[e] = 0;
	return s + b;
}

char *ruler_postprocess(char *pred)
{
	char *p = py_strip(pred);
	for (char *q = p; *q; q++)
		if ((unsigned char)*q < 0x20)
			*q = '\n';
	p = py_strip(p);
	if (p != pred)
		memmove(pred, p, strlen(p) + 1);
	return pred;
}

/* malloc'd copy of s lower-cased as Python's str.lower() does (U+0130 to two code points,
 * final sigma by context); NULL when out of memory. */
static char *lower_dup(const char *s)
{
	char *o = NULL;
	return py_lower_utf8(s, strlen(s), &o, NULL) ? NULL : o;
}

static double match(const char *pred, const char *const *refs, int n, bool all)
{
	if (n <= 0)
		return 0.0;
	char *lp = lower_dup(pred);
	if (!lp)
		return 0.0;
	int hits = 0;
	for (int i = 0; i < n; i++) {
		char *lr = lower_dup(refs[i] ? refs[i] : "");
		if (lr && strstr(lp, lr))
			hits++;
		free(lr);
	}
	free(lp);
	return all ? (double)hits / n : (hits > 0 ? 1.0 : 0.0);
}

double ruler_match_all(const char *pred, const char *const *refs, int n)
{
	return match(pred, refs, n, true);
}

double ruler_match_part(const char *pred, const char *const *refs, int n)
{
	return match(pred, refs, n, false);
}
