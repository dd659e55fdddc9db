/* The LongBench paper table: one row per method with its parameters (and model where
 * several), one column per dataset in LongBench's order with round(100 * mean score, 2),
 * and Avg over the datasets the row holds; LongBench-E samples (from <dataset>_e files)
 * in a second table by length bucket (spec/eval.md 2.7). See report.h. */
#include "results/report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h" // kv_errf

/* LongBench's dataset order (its README and the FastKV / SnapKV tables). */
static const char *const lb_order[] = {
	"narrativeqa", "qasper", "multifieldqa_en", "multifieldqa_zh", "hotpotqa", "2wikimqa", "musique",
	"dureader", "gov_report", "qmsum", "multi_news", "vcsum", "trec", "triviaqa", "samsum", "lsht",
	"passage_count", "passage_retrieval_en", "passage_retrieval_zh", "lcc", "repobench-p",
};
#define LB_N (int)(sizeof(lb_order) / sizeof(lb_order[0]))
static const char *const lb_buckets[] = { "0-4k", "4-8k", "8k+" };

/* Rank of a column: dataset order, then bucket; unknown datasets after, in name order. */
static int rank(const char *col)
{
	char ds[64];
	const char *sp = strchr(col, ' ');
	snprintf(ds, sizeof(ds), "%.*s", sp ? (int)(sp - col) : (int)strlen(col), col);
	size_t n = strlen(ds);
	if (sp && n > 2 && !strcmp(ds + n - 2, "_e"))
		ds[n - 2] = 0;
	int b = 0;
	for (int k = 0; sp && k < 3; k++)
		if (!strcmp(sp + 1, lb_buckets[k]))
			b = k;
	for (int i = 0; i < LB_N; i++)
		if (!strcmp(ds, lb_order[i]))
			return i * 4 + b;
	return LB_N * 4;
}

static int cmp_cols(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	int rx = rank(x), ry = rank(y);
	return rx != ry ? (rx > ry) - (rx < ry) : strcmp(x, y);
}

/* Adds one table of g's columns that are (e) or are not (!e) LongBench-E buckets. */
static int add_table(struct table_list *l, const struct report_grid *g, bool e, char *err, size_t errlen)
{
	const char **cols = malloc(sizeof(char *) * ((size_t)g->n_col + 1));
	struct table *t;
	int n = 0, rc = 0;
	if (!cols)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	for (int j = 0; j < g->n_col; j++)
		if ((strchr(g->col[j], ' ') != NULL) == e)
			cols[n++] = g->col[j];
	qsort(cols, (size_t)n, sizeof(char *), cmp_cols);
	if (n == 0 && e)
		goto out;
	if (table_list_add(l, &t, e ? "LongBench-E (score x 100 per dataset and length bucket)"
				    : "LongBench (score x 100, mean per dataset; Avg over the datasets of the row)") ||
	    table_col_add(t, "method", false) < 0) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		goto out;
	}
	for (int j = 0; j < n; j++)
		if (table_col_add(t, cols[j], true) < 0) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
			goto out;
		}
	if (!e && table_col_add(t, "Avg", true) < 0) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		goto out;
	}
	for (int r = 0; r < g->n_row; r++) {
		double sum = 0;
		int k = 0, have = 0;
		for (int j = 0; j < n; j++)
			have += g->n[r * g->n_col + report_grid_col(g, cols[j])] > 0;
		if (!have)
			continue;
		int i = table_row_add(t);
		if (i < 0 || table_set(t, i, 0, "%s", g->row_label[r])) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
			goto out;
		}
		for (int j = 0; j < n; j++) {
			int c = report_grid_col(g, cols[j]);
			if (g->n[r * g->n_col + c] == 0)
				continue;
			double v = 100.0 * g->sum[r * g->n_col + c] / g->n[r * g->n_col + c];
			sum += v;
			k++;
			if (table_set_num(t, i, 1 + j, v, 2)) {
				rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
				goto out;
			}
		}
		if (!e && k && table_set_num(t, i, 1 + n, sum / k, 2)) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (!e && t->n_row == 0 && table_note(t, "(no LongBench runs)"))
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
out:
	free(cols);
	return rc;
}

int report_longbench(struct store *s, const struct report_opts *o, struct table_list *l, char *err, size_t errlen)
{
	const char *sql =
		"SELECT r.model_path, r.method, r.method_json,"
		" json_extract(sm.meta_json, '$.dataset') ||"
		"  CASE WHEN json_extract(sm.meta_json, '$.longbench_e') THEN"
		"   '_e ' || CASE WHEN json_extract(sm.meta_json, '$.length') < 4000 THEN '0-4k'"
		"              WHEN json_extract(sm.meta_json, '$.length') < 8000 THEN '4-8k' ELSE '8k+' END"
		"  ELSE '' END,"
		" sc.value"
		" FROM runs r JOIN samples sm ON sm.run_id = r.run_id"
		" JOIN scores sc ON sc.run_id = sm.run_id AND sc.sample_id = sm.sample_id AND sc.metric = 'score'"
		" WHERE r.kind = 'eval' AND r.task LIKE 'longbench%' AND (?1 IS NULL OR r.task LIKE ?1 || '%')"
		" ORDER BY r.created_at, r.run_id, sm.idx";
	struct report_grid g;
	int rc = report_grid_load(s, o, sql, &g, err, errlen);
	if (rc)
		return rc;
	if (!(rc = add_table(l, &g, false, err, errlen)))
		rc = add_table(l, &g, true, err, errlen);
	report_grid_free(&g);
	return rc;
}
