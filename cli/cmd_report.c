/* kvlab report: tables of what a results database holds, as Markdown, CSV or JSON. */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/errors.h" // kv_errf
#include "cli/cli.h"
#include "cli/commands.h"
#include "eval/export_params.h" // export_params_defaults
#include "results/report.h"
#include "results/store.h"

struct report_cfg {
	const char *db, *task, *table, *format;
	bool bench, selection;
	struct sweep_query sweep;
};

static const struct cli_flag report_flags[] = {
	{ "--db", CLI_STR, offsetof(struct report_cfg, db), 0, 0, "PATH", "SQLite results database", false },
	{ "--table", CLI_STR, offsetof(struct report_cfg, table), 0, 0, "NAME",
	  "runs (default), longbench, ruler, needle, bench, sweep or selection", false },
	{ "--format", CLI_STR, offsetof(struct report_cfg, format), 0, 0, "md|csv|json", "output format (default: md)", false },
	{ "--task", CLI_STR, offsetof(struct report_cfg, task), 0, 0, "PREFIX",
	  "only runs whose task starts with PREFIX (longbench, ruler or needle without --table: the runs, then the task's table)", false },
	{ "--bench", CLI_SWITCH, offsetof(struct report_cfg, bench), 0, 0, "", "same as --table bench", false },
	{ "--selection", CLI_SWITCH, offsetof(struct report_cfg, selection), 0, 0, "", "same as --table selection", false },
	{ "--sweep", CLI_STR, offsetof(struct report_cfg, sweep.sweep), 0, 0, "ID[,ID..]",
	  "--table sweep of the sweep with this id prefix (default: the only sweep); several ids of one task: their points pivoted together (--y method: each run's method; refused where two runs share a cell)", false },
	{ "--x", CLI_STR, offsetof(struct report_cfg, sweep.x), 0, 0, "AXIS", "sweep: the axis across (default: the grid's first)", false },
	{ "--y", CLI_STR, offsetof(struct report_cfg, sweep.y), 0, 0, "AXIS", "sweep: the axis down (default: the grid's second)", false },
	{ "--metric", CLI_STR, offsetof(struct report_cfg, sweep.metric), 0, 0, "NAME", "sweep: the score averaged (default: overlap or score)", false },
	{ 0 },
};

static const struct cli_cmd report_cmd = {
	"report",
	"Prints a table of a results database. Tables (--table):\n"
	"  runs       one line per run: id, task, method, parameters other than the method's defaults,\n"
	"             samples, mean main score, prefill seconds (and recon_s, KVzip's reconstruction part), KV MiB kept\n"
	"  longbench  methods x LongBench datasets (LongBench's order) + Avg, score x 100; LongBench-E buckets\n"
	"  ruler      methods x RULER tasks (paper order) + Avg, and methods x context length, score x 100\n"
	"  needle     per method: mean overlap x 100, by context length and by depth\n"
	"  bench      latency medians and speedups over fullkv per method and context length, then each\n"
	"             invocation's roofline (bound, median, achieved %, and bound_x_fullkv: fullkv's bound over\n"
	"             the method's, the speedup its work alone allows)\n"
	"  sweep      a sweep pivoted: --y values down, --x values across, mean score per cell\n"
	"  selection  layers x methods: mean KV rows kept per sample and needle-token recall (kept needle rows /\n"
	"             needle tokens x heads), the same for propagated / re-prefilled tokens; then per method and\n"
	"             kind of top-k cut, how often the cut fell inside a tie group\n"
	"Every table prints as md (Markdown, columns never cut), csv (RFC 4180 quoting; several tables\n"
	"separated by an empty line) or json ({\"tables\": [{\"title\", \"columns\", \"rows\"}]}).",
	report_flags,
};

/* The table the flags ask for; errors name the flags that disagree. */
static int pick_table(const struct report_cfg *c, enum report_table *which, bool *given, char *err, size_t errlen)
{
	const char *asked[4] = { 0 };
	int n = 0;
	if (c->table)
		asked[n++] = c->table;
	if (c->bench)
		asked[n++] = "bench";
	if (c->selection)
		asked[n++] = "selection";
	if (c->sweep.sweep || c->sweep.x || c->sweep.y || c->sweep.metric)
		asked[n++] = "sweep";
	for (int i = 1; i < n; i++)
		if (strcmp(asked[i], asked[0]))
			return kv_errf(err, errlen, KV_EINVAL,
				       "--table: %s and %s asked together (--bench, --selection, --sweep/--x/--y/--metric name their "
				       "tables); give one", asked[0], asked[i]);
	*given = n > 0;
	*which = REPORT_RUNS;
	return n ? report_table_parse(asked[0], which, err, errlen) : 0;
}

int cmd_report(int argc, char **argv)
{
	struct report_cfg cfg = { .db = "results/kvlab.db" };
	struct report_opts o = { .defaults = export_params_defaults() };
	enum report_table which;
	struct table_list l = { 0 };
	char err[1024];
	struct store *s = NULL;
	bool given;
	int rc = cli_parse(&report_cmd, argc, argv, &cfg, err, sizeof(err));
	if (rc)
		return rc == 1 ? 0 : (fprintf(stderr, "kvlab: %s\n", err), 1);
	if (pick_table(&cfg, &which, &given, err, sizeof(err)) || table_format_parse(cfg.format, &o.format, err, sizeof(err))) {
		fprintf(stderr, "kvlab: %s\n", err);
		return 1;
	}
	o.task_prefix = cfg.task;
	o.sweep = cfg.sweep;
	if (store_open_read(cfg.db, &s, err, sizeof(err)))
		rc = 1;
	else if (!given && cfg.task && (!strncmp(cfg.task, "longbench", 9) || !strncmp(cfg.task, "ruler", 5) ||
					!strncmp(cfg.task, "needle", 6))) /* the runs, then the task's paper table */
		rc = report_runs(s, &o, &l, err, sizeof(err)) ||
		     (cfg.task[0] == 'l' ? report_longbench(s, &o, &l, err, sizeof(err))
		      : cfg.task[0] == 'r' ? report_ruler(s, &o, &l, err, sizeof(err)) : report_needle(s, &o, &l, err, sizeof(err))) ||
		     table_list_print(&l, stdout, o.format, err, sizeof(err));
	else
		rc = report_print(s, stdout, which, &o, err, sizeof(err)) != 0;
	table_list_free(&l);
	store_close(s);
	if (rc) {
		fprintf(stderr, "kvlab: %s\n", err);
		return 1;
	}
	return 0;
}
