/* kvlab export: a results database in an official tool's layout (RULER, LongBench, kvpress). */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "eval/export_kvpress.h"
#include "eval/export_longbench.h"
#include "eval/export_ruler.h"
#include "results/store.h"

struct export_cfg {
	const char *format, *db, *out, *run, *method;
};

static const struct cli_flag export_flags[] = {
	{ "--format", CLI_STR, offsetof(struct export_cfg, format), 0, 0, "NAME", "ruler (RULER's evaluate.py layout), longbench (FastKV's run_longbench.py layout) or kvpress (kvpress evaluate.py's folders)", true },
	{ "--db", CLI_STR, offsetof(struct export_cfg, db), 0, 0, "PATH", "SQLite results database", false },
	{ "--out", CLI_STR, offsetof(struct export_cfg, out), 0, 0, "DIR", "output folder (created if missing)", true },
	{ "--run", CLI_STR, offsetof(struct export_cfg, run), 0, 0, "ID", "only this run (id or prefix)", false },
	{ "--method", CLI_STR, offsetof(struct export_cfg, method), 0, 0, "NAME", "only runs of this method", false },
	{ 0 },
};

static const struct cli_cmd export_cmd = {
	"export",
	"Writes stored predictions in an official evaluator's layout. --format ruler: one {task}.jsonl per\n"
	"RULER task (index, pred, input, outputs, others, truncation, length) and summary.csv scored as\n"
	"RULER's evaluate.py scores, so the official evaluator can re-score kvlab's predictions.\n"
	"--format longbench: {out}/{dataset}/{method}.json records as FastKV's run_longbench.py writes them\n"
	"(prompt, input and context re-read from the run's data dir), {dataset}/metrics.json and results.csv\n"
	"as eval_longbench.py writes them (with correct row labels), except that metrics.json names every\n"
	"method with its score, run id, model and non-default parameters.\n"
	"--format kvpress: one folder per run and kvpress data unit (ruler: context length; longbench:\n"
	"dataset; needle: length and depth), named as kvpress names them, holding predictions.csv,\n"
	"metrics.json and config.yaml as kvpress's evaluation writes them (see eval/export_kvpress.h\n"
	"for the mapping and the fields kvlab cannot fill).",
	export_flags,
};

int cmd_export(int argc, char **argv)
{
	struct export_cfg c = { .db = "results/kvlab.db" };
	char err[1024];
	struct store *s = NULL;
	int rc = cli_parse(&export_cmd, argc, argv, &c, err, sizeof(err));
	if (rc)
		return rc == 1 ? 0 : (fprintf(stderr, "kvlab: %s\n", err), 1);
	bool lb = strcmp(c.format, "longbench") == 0, kp = strcmp(c.format, "kvpress") == 0;
	if (!lb && !kp && strcmp(c.format, "ruler") != 0) {
		fprintf(stderr, "kvlab: --format: expected ruler, longbench or kvpress, got '%s'\n", c.format);
		return 1;
	}
	struct export_ruler_opts o = { .out_dir = c.out, .run = c.run, .method = c.method };
	struct export_longbench_opts lo = { .out_dir = c.out, .run = c.run, .method = c.method };
	struct export_kvpress_opts ko = { .out_dir = c.out, .run = c.run, .method = c.method };
	if (store_open_read(c.db, &s, err, sizeof(err)) ||
	    (lb ? export_longbench(s, &lo, stderr, err, sizeof(err))
		: kp ? export_kvpress(s, &ko, stderr, err, sizeof(err)) : export_ruler(s, &o, stderr, err, sizeof(err)))) {
		fprintf(stderr, "kvlab: %s\n", err);
		store_close(s);
		return 1;
	}
	store_close(s);
	return 0;
}
