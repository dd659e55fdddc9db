/* The RULER paper tables: per method (with its parameters), score x 100 by task (the 13
 * tasks in the RULER paper's order, + Avg over the row's tasks) and by context length
 * (the mean of the per-task means at each length). A sample's context length is the
 * smallest power of two holding its record's "length" (its prompt tokens when absent):
 * RULER's generator fills each sample up to, never beyond, the length asked. See report.h. */
#include "results/report.h"

#include <stdlib.h>
#include <string.h>

#include "base/errors.h" // kv_errf

static const char *const ruler_order[] = {
	"niah_single_1", "niah_single_2", "niah_single_3", "niah_multikey_1", "niah_multikey_2", "niah_multikey_3",
	"niah_multivalue", "niah_multiquery", "vt", "cwe", "fwe", "qa_1", "qa_2",
};
#define RULER_N (int)(sizeof(ruler_order) / sizeof(ruler_order[0]))

static int task_rank(const char *t)
{
	for (int i = 0; i < RULER_N; i++)
		if (!strcmp(t, ruler_order[i]))
			return i;
	return RULER_N;
}

static int cmp_tasks(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	int rx = task_rank(x), ry = task_rank(y);
	return rx != ry ? (rx > ry) - (rx < ry) : strcmp(x, y);
}

static int cmp_lengths(const void *a, const void *b)
{
	long x = atol(*(const char *const *)a), y = atol(*(const char *const *)b);
	return (x > y) - (x < y);
}

#define SCORES_SQL(COL)                                                                                               \
	"SELECT r.model_path, r.method, r.method_json, " COL ", sc.value"                                             \
	" FROM runs r JOIN samples sm ON sm.run_id = r.run_id"                                                        \
	" JOIN scores sc ON sc.run_id = sm.run_id AND sc.sample_id = sm.sample_id AND sc.metric = 'score'"           \
	" WHERE r.kind = 'eval' AND r.task LIKE 'ruler%' AND (?1 IS NULL OR r.task LIKE ?1 || '%')"                  \
	" ORDER BY r.created_at, r.run_id, sm.idx"

/* 2^ceil(log2(max(length, 1))) of the record's length, else of the prompt's tokens */
#define LENGTH_SQL                                                                                                    \
	"(WITH RECURSIVE p(v) AS (SELECT 1 UNION ALL SELECT v * 2 FROM p WHERE v < 1 << 30)"                         \
	" SELECT MIN(v) FROM p WHERE v >= COALESCE(NULLIF(json_extract(sm.meta_json, '$.length'), -1), sm.n_prompt))"

static int oom(char *err, size_t errlen)
{
	return kv_errf(err, errlen, KV_ENOMEM, "out of memory building the RULER table");
}

int report_ruler(struct store *s, const struct report_opts *o, struct table_list *l, char *err, size_t errlen)
{
	struct report_grid g = { 0 }, gl = { 0 };
	struct table *t;
	const char **cols = NULL;
	int rc;
	if ((rc = report_grid_load(s, o, SCORES_SQL("json_extract(sm.meta_json, '$.task')"), &g, err, errlen)) ||
	    (rc = report_grid_load(s, o, SCORES_SQL(LENGTH_SQL " || ' ' || json_extract(sm.meta_json, '$.task')"), &gl, err,
				   errlen)))
		goto out;
	/* by task */
	if (!(cols = malloc(sizeof(char *) * ((size_t)(g.n_col > gl.n_col ? g.n_col : gl.n_col) + 1))))
		goto out_oom;
	for (int j = 0; j < g.n_col; j++)
		cols[j] = g.col[j];
	qsort(cols, (size_t)g.n_col, sizeof(char *), cmp_tasks);
	if (table_list_add(l, &t, "RULER by task (score x 100; Avg over the row's tasks)") || table_col_add(t, "method", false) < 0)
		goto out_oom;
	for (int j = 0; j < g.n_col; j++)
		if (table_col_add(t, cols[j], true) < 0)
			goto out_oom;
	if (table_col_add(t, "Avg", true) < 0)
		goto out_oom;
	for (int r = 0; r < g.n_row; r++) {
		int i = table_row_add(t), k = 0;
		double sum = 0;
		if (i < 0 || table_set(t, i, 0, "%s", g.row_label[r]))
			goto out_oom;
		for (int j = 0; j < g.n_col; j++) {
			int c = report_grid_col(&g, cols[j]);
			if (!g.n[r * g.n_col + c])
				continue;
			double v = 100.0 * g.sum[r * g.n_col + c] / g.n[r * g.n_col + c];
			sum += v;
			k++;
			if (table_set_num(t, i, 1 + j, v, 2))
				goto out_oom;
		}
		if (k && table_set_num(t, i, 1 + g.n_col, sum / k, 2))
			goto out_oom;
	}
	if (g.n_row == 0 && table_note(t, "(no RULER runs)"))
		goto out_oom;
	/* by length: columns "LENGTH TASK" folded into LENGTH, the mean of the task means */
	char **lens = NULL;
	int n_len = 0;
	for (int j = 0; j < gl.n_col; j++) {
		long L = atol(gl.col[j]);
		char buf[32];
		snprintf(buf, sizeof(buf), "%ld", L);
		int k = 0;
		while (k < n_len && strcmp(lens[k], buf))
			k++;
		if (k == n_len) {
			char **p = realloc(lens, sizeof(char *) * (size_t)(n_len + 1));
			if (p)
				lens = p;
			if (!p || !(lens[n_len] = strdup(buf))) {
				for (int x = 0; x < n_len; x++)
					free(lens[x]);
				free(lens);
				goto out_oom;
			}
			n_len++;
		}
	}
	if (n_len > 0) /* lens is NULL when no sample has a length */
		qsort(lens, (size_t)n_len, sizeof(char *), cmp_lengths);
	rc = table_list_add(l, &t, "RULER by context length (score x 100: the mean of the task means at each length)") ||
	     table_col_add(t, "method", false) < 0;
	for (int j = 0; !rc && j < n_len; j++)
		rc = table_col_add(t, lens[j], true) < 0;
	for (int r = 0; !rc && r < gl.n_row; r++) {
		int i = table_row_add(t);
		rc = i < 0 || table_set(t, i, 0, "%s", gl.row_label[r]);
		for (int j = 0; !rc && j < n_len; j++) {
			double sum = 0;
			int k = 0;
			for (int c = 0; c < gl.n_col; c++)
				if (atol(gl.col[c]) == atol(lens[j]) && gl.n[r * gl.n_col + c]) {
					sum += 100.0 * gl.sum[r * gl.n_col + c] / gl.n[r * gl.n_col + c];
					k++;
				}
			if (k)
				rc = table_set_num(t, i, 1 + j, sum / k, 2);
		}
	}
	for (int j = 0; j < n_len; j++)
		free(lens[j]);
	free(lens);
	if (rc)
		goto out_oom;
	goto out;
out_oom:
	rc = oom(err, errlen);
out:
	free(cols);
	report_grid_free(&g);
	report_grid_free(&gl);
	return rc;
}
