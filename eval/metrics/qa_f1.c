/* LongBench qa_f1_score and qa_f1_zh_score (metrics.py): token-level F1 with a multiset
 * overlap (Counter &), on normalize_answer(x).split() tokens, or on jieba.cut(x) tokens
 * each passed through normalize_zh_answer with the empty ones dropped. */
#include "eval/metrics/metrics_internal.h"

#include <stdlib.h>

#include "base/errors.h" // defines: kv_errf, KV_ENOMEM
#include "eval/metrics/jieba.h" // defines: jieba_cut

int f1_ids(const int *pred, size_t np, const int *gt, size_t ng, int n_ids, double *f)
{
	int *cnt = calloc((size_t)n_ids * 2 + 1, sizeof(*cnt)); /* (2, n_ids) counts in pred, gt */
	if (!cnt)
		return KV_ENOMEM;
	for (size_t i = 0; i < np; i++)
		cnt[pred[i]]++;
	for (size_t i = 0; i < ng; i++)
		cnt[n_ids + gt[i]]++;
	long num_same = 0;
	for (int k = 0; k < n_ids; k++)
		num_same += cnt[k] < cnt[n_ids + k] ? cnt[k] : cnt[n_ids + k];
	free(cnt);
	if (num_same == 0) {
		*f = 0.0;
		return 0;
	}
	double precision = 1.0 * (double)num_same / (double)np;
	double recall = 1.0 * (double)num_same / (double)ng;
	*f = (2 * precision * recall) / (precision + recall);
	return 0;
}

/* Interns the tokens text[spans] into ids (appended to *ids). */
static int intern_spans(struct interner *in, const uint32_t *text, const struct spans *sp, int **ids)
{
	*ids = malloc((sp->n ? sp->n : 1) * sizeof(**ids));
	if (!*ids)
		return KV_ENOMEM;
	for (size_t k = 0; k < sp->n; k++) {
		int id = word_id(in, text + sp->v[k].off, sp->v[k].len);
		if (id < 0)
			return KV_ENOMEM;
		(*ids)[k] = id;
	}
	return 0;
}

int score_qa_f1(const char *pred, const char *gt, const char *const *all_classes, int n_classes,
		double *out, char *err, size_t errlen)
{
	(void)all_classes, (void)n_classes;
	struct pystr p = {0}, g = {0}, np = {0}, ng = {0};
	struct spans tp = {0}, tg = {0};
	struct interner *in = interner_new();
	int *ip = NULL, *ig = NULL;
	int rc;
	if (!in) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "qa_f1: out of memory");
		goto out;
	}
	if ((rc = pystr_from_utf8(&p, pred, "qa_f1: prediction", err, errlen)) != 0 ||
	    (rc = pystr_from_utf8(&g, gt, "qa_f1: ground truth", err, errlen)) != 0)
		goto out;
	if (normalize_answer_en(&p, &np) || normalize_answer_en(&g, &ng) || py_split(np.cp, np.n, 0, &tp) ||
	    py_split(ng.cp, ng.n, 0, &tg) || intern_spans(in, np.cp, &tp, &ip) || intern_spans(in, ng.cp, &tg, &ig) ||
	    f1_ids(ip, tp.n, ig, tg.n, interner_count(in), out)) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "qa_f1: out of memory");
		goto out;
	}
out:
	free(ip);
	free(ig);
	interner_free(in);
	spans_free(&tp);
	spans_free(&tg);
	pystr_free(&p);
	pystr_free(&g);
	pystr_free(&np);
	pystr_free(&ng);
	return rc;
}

/* jieba.cut(text), each token through normalize_zh_answer, empty ones dropped; the
 * surviving tokens are interned into *ids (*n of them). */
static int zh_tokens(const struct jieba *jb, const struct pystr *text, struct interner *in, int **ids, size_t *n)
{
	struct spans sp = {0};
	struct pystr norm = {0};
	int rc = jieba_cut(jb, text->cp, text->n, &sp);
	*n = 0;
	*ids = malloc((sp.n ? sp.n : 1) * sizeof(**ids));
	if (rc || !*ids) {
		rc = KV_ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < sp.n; k++) {
		if ((rc = normalize_answer_zh(text->cp + sp.v[k].off, sp.v[k].len, &norm)) != 0)
			goto out;
		if (norm.n == 0)
			continue;
		int id = word_id(in, norm.cp, norm.n);
		if (id < 0) {
			rc = KV_ENOMEM;
			goto out;
		}
		(*ids)[(*n)++] = id;
	}
out:
	pystr_free(&norm);
	spans_free(&sp);
	return rc;
}

int score_qa_f1_zh(const char *pred, const char *gt, const char *const *all_classes, int n_classes,
		   double *out, char *err, size_t errlen)
{
	(void)all_classes, (void)n_classes;
	const struct jieba *jb;
	int rc = metrics_jieba(&jb, err, errlen);
	if (rc)
		return rc;
	struct pystr p = {0}, g = {0};
	struct interner *in = interner_new();
	int *ip = NULL, *ig = NULL;
	size_t np = 0, ng = 0;
	if (!in) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "qa_f1_zh: out of memory");
		goto out;
	}
	if ((rc = pystr_from_utf8(&p, pred, "qa_f1_zh: prediction", err, errlen)) != 0 ||
	    (rc = pystr_from_utf8(&g, gt, "qa_f1_zh: ground truth", err, errlen)) != 0)
		goto out;
	if (zh_tokens(jb, &p, in, &ip, &np) || zh_tokens(jb, &g, in, &ig, &ng) ||
	    f1_ids(ip, np, ig, ng, interner_count(in), out)) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "qa_f1_zh: out of memory");
		goto out;
	}
out:
	free(ip);
	free(ig);
	interner_free(in);
	pystr_free(&p);
	pystr_free(&g);
	return rc;
}
