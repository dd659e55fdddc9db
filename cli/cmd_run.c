/* kvlab run: evaluate one method (or several on shared prefills) on one task, every sample stored in the database. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/backend_flag.h"
#include "cli/cli.h"
#include "cli/kv_dtype_flag.h"
#include "cli/commands.h"
#include "cli/task_flags.h" // struct task_flags, task_flags_join
#include "eval/runner.h"

struct run_cfg {
	const char *model, *db;
	struct task_flags task;     /* the task flags (cli/task_flags.h) */
	struct cli_methods methods; /* --method and the method flags */
	int threads;
	const char *backend, *dtype, *kv_dtype;
	const char *shard;
	const char *dump_selection;
};

/* run's own flags; the task flags follow them (run_flags, filled by cmd_run) */
static const struct cli_flag run_own_flags[] = {
	{ "--model", CLI_STR, offsetof(struct run_cfg, model), 0, 0, "PATH", "GGUF file or Hugging Face model folder", false },
	{ "--db", CLI_STR, offsetof(struct run_cfg, db), 0, 0, "PATH", "SQLite results database", false },
	{ "--threads", CLI_INT, offsetof(struct run_cfg, threads), 0, 1024, "N", "worker threads (0 = all cores)", false },
	{ "--backend", CLI_STR, offsetof(struct run_cfg, backend), 0, 0, "NAME", BACKEND_FLAG_HELP " (recorded in the run)", false },
	{ "--dtype", CLI_STR, offsetof(struct run_cfg, dtype), 0, 0, "DTYPE", DTYPE_FLAG_HELP, false },
	{ "--kv_dtype", CLI_STR, offsetof(struct run_cfg, kv_dtype), 0, 0, "TYPE", KV_DTYPE_FLAG_HELP, false },
	{ "--shard", CLI_STR, offsetof(struct run_cfg, shard), 0, 0, "K/N",
	  "run only samples i with i % N == K; N processes with K = 0..N-1 fill one run (same database)", false },
	{ "--dump_selection", CLI_STR, offsetof(struct run_cfg, dump_selection), 0, 0, "FILE",
	  "write each generated sample's kept positions per layer and head as JSON lines (kvlab plot selection)", false },
	{ "--method", CLI_METHOD, offsetof(struct run_cfg, methods), 0, 0, "LIST",
	  "KV policy, or several sharing each sample's prefill: NAME[:key=value...][,NAME...]", false },
	{ 0 },
};

static struct cli_flag run_flags[sizeof(run_own_flags) / sizeof(run_own_flags[0]) + TASK_FLAGS_N];

static const struct cli_cmd run_cmd = {
	"run",
	"Evaluates a method on a task: builds each sample, generates greedily under the KV policy, scores and\n"
	"stores it in SQLite, one transaction per sample. Rerunning the same configuration resumes: samples\n"
	"already stored are skipped. --method may list methods (fullkv,snapkv,h2o:window_size=16): each gets\n"
	"the run it would get alone, and they share each sample's prefill (they must send the same\n"
	"tokens on, so FastKV, GemFilter and PyramidInfer run on their own); every member's prefill_s is then\n"
	"the shared prefill's time. The method flags apply to every listed method that takes them; NAME:key=value\n"
	"sets one entry's. A method may be composed, REDUCTION+RETENTION (tsp+h2o, gemfilter+snapkv): a context\n"
	"reduction (none, tsp, gemfilter, pyramidinfer) then a KV retention; a proportional --retain_rate stays\n"
	"a fraction of the prompt after the reduction, and --filter_rate sets GemFilter's own cut apart from it.",
	run_flags,
};

/* Runs the parsed configuration; 0 or 1 (the exit status), messages on stderr. */
static int run(struct run_cfg *cfg)
{
	char err[1024];
	if (task_flags_resolve(&cfg->task, "kvlab run", err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	struct runner_opts o = { .model_path = cfg->model, .db_path = cfg->db, .task = &cfg->task.ta, .methods = cfg->methods.list,
				 .method_args = &cfg->methods.args, .threads = cfg->threads, .n_shards = 1,
				 .dump_selection = cfg->dump_selection };
	if (cli_backend(cfg->backend, cfg->dtype, &o.backend, err, sizeof(err)) ||
	    cli_kv_dtype(cfg->kv_dtype, o.backend, &o.kv_dtype, err, sizeof(err))) {
		fprintf(stderr, "kvlab: %s\n", err);
		return 1;
	}
	if (cfg->shard) {
		char *end;
		long k = strtol(cfg->shard, &end, 10), n = end != cfg->shard && *end == '/' ? strtol(end + 1, &end, 10) : 0;
		if (*end || n < 1 || n > 1000 || k < 0 || k >= n) {
			fprintf(stderr, "kvlab: --shard: expected K/N with 0 <= K < N <= 1000 (e.g. 1/2), got '%s'\n", cfg->shard);
			return 1;
		}
		o.shard = (int)k;
		o.n_shards = (int)n;
	}
	struct runner_result r;
	if (runner_run(&o, &r, err, sizeof(err))) {
		fprintf(stderr, "kvlab: %s\n", err);
		return 1;
	}
	for (int i = 0; i < r.n_runs; i++)
		printf("%s\n", r.run_id[i]);
	return 0;
}

int cmd_run(int argc, char **argv)
{
	struct run_cfg cfg = { .model = cli_default_model(), .db = "results/kvlab.db", .backend = "cpu" };
	char err[1024];
	if (task_flags_join(run_flags, sizeof(run_flags) / sizeof(run_flags[0]), run_own_flags, offsetof(struct run_cfg, task)) < 0)
		return fprintf(stderr, "kvlab run: internal error: the flag table is too small\n"), 1;
	int rc = cli_parse(&run_cmd, argc, argv, &cfg, err, sizeof(err));
	if (rc)
		return rc == 1 ? 0 : (fprintf(stderr, "kvlab: %s\n", err), 1);
	rc = run(&cfg);
	cli_methods_free(&cfg.methods);
	return rc;
}
