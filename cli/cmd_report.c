/* kvlab report: tables of what a results database holds. */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "results/bench_store.h" // bench_report_print
#include "results/report.h"
#include "results/store.h"

struct report_cfg {
	const char *db, *task;
	bool bench, selection;
	struct sweep_query sweep;
	const char *format;
};

static const struct cli_flag report_flags[] = {
	{ "--db", CLI_STR, offsetof(struct report_cfg, db), 0, 0, "PATH", "SQLite results database", false },
	{ "--task", CLI_STR, offsetof(struct report_cfg, task), 0, 0, "PREFIX",
	  "only runs whose task starts with PREFIX (longbench: also the paper table, methods x datasets)", false },
	{ "--bench", CLI_SWITCH, offsetof(struct report_cfg, bench), 0, 0, "",
	  "print the latency benchmark table instead (speedups over fullkv per method and context length)", false },
	{ "--sweep", CLI_STR, offsetof(struct report_cfg, sweep.sweep), 0, 0, "ID",
	  "print the sweep with this id prefix pivoted: --y values down, --x values across, mean score per cell", false },
	{ "--x", CLI_STR, offsetof(struct report_cfg, sweep.x), 0, 0, "AXIS", "--sweep: the axis across (default: the grid's first)", false },
	{ "--y", CLI_STR, offsetof(struct report_cfg, sweep.y), 0, 0, "AXIS", "--sweep: the axis down (default: the grid's second)", false },
	{ "--metric", CLI_STR, offsetof(struct report_cfg, sweep.metric), 0, 0, "NAME", "--sweep: the score averaged (default: overlap or score)", false },
	{ "--format", CLI_STR, offsetof(struct report_cfg, format), 0, 0, "md|csv|json", "--sweep: table format (default: md)", false },
	{ "--selection", CLI_SWITCH, offsetof(struct report_cfg, selection), 0, 0, "",
	  "print the top-k tie summary instead: per method and kind of cut, how often the cut fell inside a tie group", false },
	{ 0 },
};

static const struct cli_cmd report_cmd = {
	"report",
	"Prints the evaluation runs in a results database: samples, mean scores, prefill time, KV kept;\n"
	"with --bench, the latency benchmark rows as a speedup table; with --selection, how often each\n"
	"method's top-k cuts fell inside a group of tied scores (--tie_break decided those).",
	report_flags,
};

int cmd_report(int argc, char **argv)
{
	struct report_cfg cfg = { .db = "results/kvlab.db" };
	char err[1024];
	struct store *s = NULL;
	int rc = cli_parse(&report_cmd, argc, argv, &cfg, err, sizeof(err));
	if (rc)
		return rc == 1 ? 0 : (fprintf(stderr, "kvlab: %s\n", err), 1);
	bool lb = cfg.task && !strncmp(cfg.task, "longbench", 9);
	if (store_open_read(cfg.db, &s, err, sizeof(err)))
		rc = 1;
	else if (cfg.sweep.sweep || cfg.format || cfg.sweep.x)
		rc = report_sweep(s, stdout, &cfg.sweep, cfg.format, err, sizeof(err));
	else if (cfg.bench)
		rc = bench_report_print(s, stdout, err, sizeof(err));
	else if (cfg.selection)
		rc = report_selection(s, stdout, cfg.task, err, sizeof(err));
	else
		rc = report_runs(s, stdout, cfg.task, err, sizeof(err)) ||
		     (lb && (fputc('\n', stdout), report_longbench(s, stdout, err, sizeof(err))));
	if (rc) {
		fprintf(stderr, "kvlab: %s\n", err);
		store_close(s);
		return 1;
	}
	store_close(s);
	return 0;
}
