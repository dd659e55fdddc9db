/* The LongBench paper table: one row per run (method and budget), one column per
 * dataset with round(100 * mean score, 2), and the average over the datasets present;
 * LongBench-E samples (from <dataset>_e files) by length bucket (spec/eval.md 2.7). */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "base/grow.h" // kv_grow
#include "results/report.h"
#include "results/store.h"

#define LB_MAX_COLS 64

struct lb_cell {
	char run[65];
	char label[160];
	char col[48];
	double mean;
	int n;
};

static int col_index(char cols[][48], int *n_cols, const char *c)
{
	for (int i = 0; i < *n_cols; i++)
		if (!strcmp(cols[i], c))
			return i;
	if (*n_cols >= LB_MAX_COLS)
		return -1;
	snprintf(cols[*n_cols], 48, "%s", c);
	return (*n_cols)++;
}

int report_longbench(struct store *s, FILE *out, char *err, size_t errlen)
{
	const char *sql =
		"SELECT r.run_id, r.method, r.method_json,"
		" json_extract(sm.meta_json, '$.dataset') ||"
		"  CASE WHEN json_extract(sm.meta_json, '$.longbench_e') THEN"
		"   '_e:' || CASE WHEN json_extract(sm.meta_json, '$.length') < 4000 THEN '0-4k'"
		"              WHEN json_extract(sm.meta_json, '$.length') < 8000 THEN '4-8k' ELSE '8k+' END"
		"  ELSE '' END AS col,"
		" AVG(sc.value), COUNT(*)"
		" FROM runs r JOIN samples sm ON sm.run_id = r.run_id"
		" JOIN scores sc ON sc.run_id = sm.run_id AND sc.sample_id = sm.sample_id AND sc.metric = 'score'"
		" WHERE r.kind = 'eval' AND r.task LIKE 'longbench%'"
		" GROUP BY r.run_id, col ORDER BY r.created_at, r.run_id, col";
	sqlite3_stmt *q = NULL;
	struct lb_cell *cells = NULL;
	int n_cells = 0, rc = 0;
	size_t cap = 0;
	char cols[LB_MAX_COLS][48];
	int n_cols = 0;
	if ((rc = store_query(s, sql, NULL, NULL, &q, "reading LongBench results", err, errlen)))
		return rc;
	while (sqlite3_step(q) == SQLITE_ROW) {
		if (kv_grow((void **)&cells, &cap, (size_t)n_cells + 1, sizeof(*cells))) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
			goto out;
		}
		struct lb_cell *c = &cells[n_cells++];
		snprintf(c->run, sizeof(c->run), "%s", sqlite3_column_text(q, 0));
		const char *mj = (const char *)sqlite3_column_text(q, 2);
		const char *params = mj ? strchr(mj, ',') : NULL;
		snprintf(c->label, sizeof(c->label), "%s %.12s %s", sqlite3_column_text(q, 1), c->run, params ? params + 1 : "");
		snprintf(c->col, sizeof(c->col), "%s", sqlite3_column_text(q, 3) ? (const char *)sqlite3_column_text(q, 3) : "?");
		c->mean = sqlite3_column_double(q, 4);
		c->n = sqlite3_column_int(q, 5);
		col_index(cols, &n_cols, c->col);
	}
	if (n_cells == 0) {
		fprintf(out, "(no LongBench runs)\n");
		goto out;
	}
	fprintf(out, "LongBench (score x 100, mean per dataset; avg over the datasets shown)\n%-24s", "run");
	for (int j = 0; j < n_cols; j++)
		fprintf(out, "  %14.14s", cols[j]);
	fprintf(out, "  %8s  parameters\n", "avg");
	for (int i = 0; i < n_cells;) {
		int k = i;
		double row[LB_MAX_COLS];
		int nrow[LB_MAX_COLS] = { 0 };
		while (k < n_cells && !strcmp(cells[k].run, cells[i].run)) {
			int j = col_index(cols, &n_cols, cells[k].col);
			if (j >= 0) {
				row[j] = cells[k].mean * 100.0;
				nrow[j] = cells[k].n;
			}
			k++;
		}
		char head[32];
		snprintf(head, sizeof(head), "%.24s", cells[i].label);
		char *sp = strchr(head, ' ');
		if (sp)
			sp = strchr(sp + 1, ' ');
		if (sp)
			*sp = 0;
		fprintf(out, "%-24s", head);
		double sum = 0;
		int nsum = 0;
		for (int j = 0; j < n_cols; j++) {
			if (nrow[j]) {
				fprintf(out, "  %8.2f (%3d)", row[j], nrow[j]);
				if (!strstr(cols[j], "_e:")) {
					sum += row[j];
					nsum++;
				}
			} else {
				fprintf(out, "  %14s", "-");
			}
		}
		const char *params = strchr(cells[i].label, ' ');
		params = params ? strchr(params + 1, ' ') : NULL;
		if (nsum)
			fprintf(out, "  %8.2f  %s\n", sum / nsum, params ? params + 1 : "");
		else
			fprintf(out, "  %8s  %s\n", "-", params ? params + 1 : "");
		i = k;
	}
out:
	sqlite3_finalize(q);
	free(cells);
	return rc;
}
