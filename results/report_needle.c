/* The needle table: per method (with its parameters), the mean score x 100 over every
 * cell of the grid, then by context length and by depth (the plot's axes). The score is
 * the needle task's main metric, overlap (the FastKV needle script's). See report.h. */
#include "results/report.h"

#include <stdlib.h>
#include <string.h>

#include "base/errors.h" // kv_errf

/* col "L 1000" / "D 50" / "all" rows: three values per sample */
static const char *const needle_sql =
	"SELECT r.model_path, r.method, r.method_json,"
	" CASE kk.k WHEN 0 THEN 'all' WHEN 1 THEN 'L ' || json_extract(sm.meta_json, '$.context_length')"
	"  ELSE 'D ' || json_extract(sm.meta_json, '$.depth_percent') END, sc.value"
	" FROM runs r JOIN samples sm ON sm.run_id = r.run_id"
	" JOIN scores sc ON sc.run_id = sm.run_id AND sc.sample_id = sm.sample_id AND sc.metric = 'overlap'"
	" CROSS JOIN (SELECT 0 AS k UNION ALL SELECT 1 UNION ALL SELECT 2) AS kk"
	" WHERE r.kind = 'eval' AND r.task LIKE 'needle%' AND (?1 IS NULL OR r.task LIKE ?1 || '%')"
	" ORDER BY r.created_at, r.run_id, sm.idx, kk.k";

static int cmp_cols(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	int kx = x[0] == 'a' ? 0 : x[0] == 'L' ? 1 : 2, ky = y[0] == 'a' ? 0 : y[0] == 'L' ? 1 : 2;
	if (kx != ky)
		return (kx > ky) - (kx < ky);
	double dx = kx ? atof(x + 2) : 0, dy = ky ? atof(y + 2) : 0;
	return (dx > dy) - (dx < dy);
}

int report_needle(struct store *s, const struct report_opts *o, struct table_list *l, char *err, size_t errlen)
{
	struct report_grid g;
	struct table *t;
	const char **cols = NULL;
	int rc = report_grid_load(s, o, needle_sql, &g, err, errlen);
	if (rc)
		return rc;
	if (!(cols = malloc(sizeof(char *) * ((size_t)g.n_col + 1))))
		goto out_oom;
	for (int j = 0; j < g.n_col; j++)
		cols[j] = g.col[j];
	qsort(cols, (size_t)g.n_col, sizeof(char *), cmp_cols);
	if (table_list_add(l, &t, "Needle in a haystack (overlap x 100: mean over the grid, by context length L, by depth %% D)") ||
	    table_col_add(t, "method", false) < 0)
		goto out_oom;
	for (int j = 0; j < g.n_col; j++) {
		char name[80];
		if (!strcmp(cols[j], "all"))
			snprintf(name, sizeof(name), "mean");
		else
			snprintf(name, sizeof(name), "%s=%s", cols[j][0] == 'L' ? "L" : "D", cols[j] + 2);
		if (table_col_add(t, name, true) < 0)
			goto out_oom;
	}
	for (int r = 0; r < g.n_row; r++) {
		int i = table_row_add(t);
		if (i < 0 || table_set(t, i, 0, "%s", g.row_label[r]))
			goto out_oom;
		for (int j = 0; j < g.n_col; j++) {
			int c = report_grid_col(&g, cols[j]);
			if (g.n[r * g.n_col + c] && table_set_num(t, i, 1 + j, 100.0 * g.sum[r * g.n_col + c] / g.n[r * g.n_col + c], 2))
				goto out_oom;
		}
	}
	if (g.n_row == 0 && table_note(t, "(no needle runs)"))
		goto out_oom;
	goto out;
out_oom:
	rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory building the needle table");
out:
	free(cols);
	report_grid_free(&g);
	return rc;
}
