/* kvlab run: evaluate one method (or several on shared prefills) on one task, every sample stored in the database. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/backend_flag.h"
#include "cli/cli.h"
#include "cli/kv_dtype_flag.h"
#include "cli/commands.h"
#include "eval/runner.h"

struct run_cfg {
	const char *model, *db;
	struct task_args ta;
	struct cli_methods methods; /* --method and the method flags */
	int threads;
	const char *backend, *dtype, *kv_dtype;
	const char *haystack_dir;
	const char *shard;
};

static const struct cli_flag run_flags[] = {
	{ "--task", CLI_STR, offsetof(struct run_cfg, ta.task), 0, 0, "NAME", "task: needle, ruler (FastKV's 11 tasks) or ruler:SUB, longbench (every file in --data) or longbench:DATASET", true },
	{ "--model", CLI_STR, offsetof(struct run_cfg, model), 0, 0, "PATH", "GGUF file or Hugging Face model folder", false },
	{ "--db", CLI_STR, offsetof(struct run_cfg, db), 0, 0, "PATH", "SQLite results database", false },
	{ "--threads", CLI_INT, offsetof(struct run_cfg, threads), 0, 1024, "N", "worker threads (0 = all cores)", false },
	{ "--backend", CLI_STR, offsetof(struct run_cfg, backend), 0, 0, "NAME", BACKEND_FLAG_HELP " (recorded in the run)", false },
	{ "--dtype", CLI_STR, offsetof(struct run_cfg, dtype), 0, 0, "DTYPE", DTYPE_FLAG_HELP, false },
	{ "--kv_dtype", CLI_STR, offsetof(struct run_cfg, kv_dtype), 0, 0, "TYPE", KV_DTYPE_FLAG_HELP, false },
	{ "--shard", CLI_STR, offsetof(struct run_cfg, shard), 0, 0, "K/N",
	  "run only samples i with i % N == K; N processes with K = 0..N-1 fill one run (same database)", false },
	{ "--context_lengths", CLI_STR, offsetof(struct run_cfg, ta.context_lengths), 0, 0, "L1,L2,..",
	  "needle: context lengths in tokens (default: the official 16000..128000 grid)", false },
	{ "--depths", CLI_STR, offsetof(struct run_cfg, ta.depths), 0, 0, "D1,D2,..",
	  "needle: depth percents (default: 0,11,22,33,44,56,67,78,89,100)", false },
	{ "--haystack_dir", CLI_STR, offsetof(struct run_cfg, haystack_dir), 0, 0, "DIR",
	  "needle: folder of .txt essays, read in sorted order (default: ../shared/data/paul_graham_essays)", false },
	{ "--data", CLI_STR, offsetof(struct run_cfg, ta.data), 0, 0, "PATH", "task data file or folder", false },
	{ "--limit", CLI_INT, offsetof(struct run_cfg, ta.limit), 0, 1 << 30, "N", "run at most N samples (0 = all)", false },
	{ "--chat", CLI_SWITCH, offsetof(struct run_cfg, ta.chat), 0, 0, "", "wrap prompts in the model's chat template", false },
	{ "--model_max_len", CLI_INT, offsetof(struct run_cfg, ta.max_len), 0, 1 << 30, "N",
	  "LongBench/RULER: prompt cap in tokens before middle truncation (0 = the official per-model rule)", false },
	{ "--ruler_protocol", CLI_STR, offsetof(struct run_cfg, ta.protocol), 0, 0, "NAME",
	  "ruler: fastkv (chat template, 64 new tokens, string_match_all) or official (RULER's allowances and metrics)", false },
	{ "--qa_data", CLI_STR, offsetof(struct run_cfg, ta.qa_data), 0, 0, "PATH", "ruler qa_1/qa_2: SQuAD v2 / HotpotQA dev JSON", false },
	{ "--ruler_rev", CLI_STR, offsetof(struct run_cfg, ta.ruler_rev), 0, 0, "REV", "ruler without --data: generator revision (2024, 2024-12, head)", false },
	{ "--beyond_context", CLI_SWITCH, offsetof(struct run_cfg, ta.beyond_context), 0, 0, "",
	  "run needle lengths, RULER generation lengths and prompts longer than the model's context (refused otherwise)", false },
	{ "--method", CLI_METHOD, offsetof(struct run_cfg, methods), 0, 0, "LIST",
	  "KV policy, or several sharing each sample's prefill: NAME[:key=value...][,NAME...]", false },
	{ 0 },
};

static const struct cli_cmd run_cmd = {
	"run",
	"Evaluates a method on a task: builds each sample, generates greedily under the KV policy, scores and\n"
	"stores it in SQLite, one transaction per sample. Rerunning the same configuration resumes: samples\n"
	"already stored are skipped. --method may list methods (fullkv,snapkv,h2o:window_size=16): each gets\n"
	"the run it would get alone, and they share each sample's prefill (they must send the same\n"
	"tokens on, so FastKV, GemFilter and PyramidInfer run on their own); every member's prefill_s is then\n"
	"the shared prefill's time. The method flags apply to every listed method that takes them; NAME:key=value\n"
	"sets one entry's.",
	run_flags,
};

/* Runs the parsed configuration; 0 or 1 (the exit status), messages on stderr. */
static int run(struct run_cfg *cfg)
{
	char err[1024];
	if (cfg->haystack_dir) {
		if (cfg->ta.data) {
			fprintf(stderr, "kvlab run: give --haystack_dir or --data, not both\n");
			return 1;
		}
		cfg->ta.data = cfg->haystack_dir;
	}
	struct runner_opts o = { .model_path = cfg->model, .db_path = cfg->db, .task = &cfg->ta, .methods = cfg->methods.list,
				 .method_args = &cfg->methods.args, .threads = cfg->threads, .n_shards = 1 };
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
	int rc = cli_parse(&run_cmd, argc, argv, &cfg, err, sizeof(err));
	if (rc)
		return rc == 1 ? 0 : (fprintf(stderr, "kvlab: %s\n", err), 1);
	rc = run(&cfg);
	cli_methods_free(&cfg.methods);
	return rc;
}
