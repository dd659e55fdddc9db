/* LongBench rouge_zh_score (metrics.py): both sides become " ".join(jieba.cut(x)), then
 * rouge_score (rouge_l.c). The extra Python frame of rouge_zh_score lowers the
 * recursion cliff by one (ROUGE_ZH_MAX_FRAMES). */
#include "eval/metrics/metrics_internal.h"

#include "base/errors.h" // defines: kv_errf, KV_ENOMEM
#include "eval/metrics/jieba.h" // defines: jieba_cut

/* out = " ".join(jieba.cut(text)) */
static int cut_join(const struct jieba *jb, const struct pystr *text, struct pystr *out)
{
	struct spans sp = {0};
	int rc = jieba_cut(jb, text->cp, text->n, &sp);
	for (size_t k = 0; k < sp.n && !rc; k++) {
		if (k > 0)
			rc = pystr_push(out, ' ');
		if (!rc)
			rc = pystr_append(out, text->cp + sp.v[k].off, sp.v[k].len);
	}
	spans_free(&sp);
	return rc ? KV_ENOMEM : 0;
}

int score_rouge_zh(const char *pred, const char *gt, const char *const *all_classes, int n_classes, double *out,
		   char *err, size_t errlen)
{
	(void)all_classes, (void)n_classes;
	const struct jieba *jb;
	int rc = metrics_jieba(&jb, err, errlen);
	if (rc)
		return rc;
	struct pystr p = {0}, g = {0}, h = {0}, r = {0};
	if ((rc = pystr_from_utf8(&p, pred, "rouge_zh: prediction", err, errlen)) != 0 ||
	    (rc = pystr_from_utf8(&g, gt, "rouge_zh: ground truth", err, errlen)) != 0)
		goto out;
	if (cut_join(jb, &p, &h) || cut_join(jb, &g, &r)) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "rouge_zh: out of memory");
		goto out;
	}
	rc = rouge_l_pltrdy(&h, &r, ROUGE_ZH_MAX_FRAMES, out);
	if (rc == 1) { /* the bare except in rouge_score */
		*out = 0.0;
		rc = 0;
	} else if (rc) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "rouge_zh: out of memory (%zu x %zu code points)", h.n, r.n);
	}
out:
	pystr_free(&p);
	pystr_free(&g);
	pystr_free(&h);
	pystr_free(&r);
	return rc;
}
