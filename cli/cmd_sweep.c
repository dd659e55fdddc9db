/* kvlab sweep: one run per point of a grid of method parameters (eval/sweep.c), in this
 * process, in --jobs local processes, or as a Slurm array job (one shard database per
 * array task on local disk) followed by a kvlab merge job that depends on it. */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/backend_flag.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/kv_dtype_flag.h" // cli_kv_dtype
#include "cli/task_flags.h" // struct task_flags, task_flags_join
#include "eval/sweep.h"

struct sweep_cfg {
	const char *model, *db, *grid;
	struct task_flags task; /* kvlab run's task flags (cli/task_flags.h) */
	struct cli_methods methods;
	int threads, jobs;
	const char *backend, *dtype, *kv_dtype, *shard, *part;
	bool slurm, no_submit;
	const char *partition, *time, *slurm_dir;
	int gpus_per_task, max_parallel, shards;
};

/* sweep's own flags; kvlab run's task flags follow them (sweep_flags, filled by cmd_sweep) */
static const struct cli_flag sweep_own_flags[] = {
	{ "--grid", CLI_STR, offsetof(struct sweep_cfg, grid), 0, 0, "'K=V,..  K=A:B:STEP ..'",
	  "the grid: axes method= and any method flag (without --), values listed or as ranges (STOP included)", true },
	{ "--model", CLI_STR, offsetof(struct sweep_cfg, model), 0, 0, "PATH", "GGUF file or Hugging Face model folder", false },
	{ "--db", CLI_STR, offsetof(struct sweep_cfg, db), 0, 0, "PATH", "SQLite results database (with --slurm: the merged one)", false },
	{ "--method", CLI_METHOD, offsetof(struct sweep_cfg, methods), 0, 0, "NAME",
	  "the method swept when --grid has no method= axis; the method flags given fix parameters for every point", false },
	{ "--jobs", CLI_INT, offsetof(struct sweep_cfg, jobs), 1, 256, "N", "run the grid's points as N local processes (one database)", false },
	{ "--part", CLI_STR, offsetof(struct sweep_cfg, part), 0, 0, "K/N", "run only units u with u % N == K (what --jobs gives each process)", false },
	{ "--threads", CLI_INT, offsetof(struct sweep_cfg, threads), 0, 1024, "N", "worker threads per process (0 = all cores)", false },
	{ "--backend", CLI_STR, offsetof(struct sweep_cfg, backend), 0, 0, "NAME", BACKEND_FLAG_HELP " (recorded in the runs)", false },
	{ "--dtype", CLI_STR, offsetof(struct sweep_cfg, dtype), 0, 0, "DTYPE", DTYPE_FLAG_HELP, false },
	{ "--kv_dtype", CLI_STR, offsetof(struct sweep_cfg, kv_dtype), 0, 0, "TYPE", KV_DTYPE_FLAG_HELP " (every point's run)", false },
	{ "--shard", CLI_STR, offsetof(struct sweep_cfg, shard), 0, 0, "K/N", "run only samples i with i % N == K of every point", false },
	{ "--slurm", CLI_SWITCH, offsetof(struct sweep_cfg, slurm), 0, 0, "",
	  "write and submit a Slurm array job (--shards tasks, each into a local shard database) and a merge job after it", false },
	{ "--shards", CLI_INT, offsetof(struct sweep_cfg, shards), 1, 10000, "N", "--slurm: array tasks (each runs --shard i/N)", false },
	{ "--partition", CLI_STR, offsetof(struct sweep_cfg, partition), 0, 0, "P", "--slurm: partition", false },
	{ "--gpus-per-task", CLI_INT, offsetof(struct sweep_cfg, gpus_per_task), 0, 64, "G", "--slurm: GPUs per array task (0 = none asked)", false },
	{ "--time", CLI_STR, offsetof(struct sweep_cfg, time), 0, 0, "T", "--slurm: time limit per task (sbatch --time)", false },
	{ "--max-parallel", CLI_INT, offsetof(struct sweep_cfg, max_parallel), 0, 100000, "K", "--slurm: at most K array tasks at once (0 = no limit)", false },
	{ "--slurm_dir", CLI_STR, offsetof(struct sweep_cfg, slurm_dir), 0, 0, "DIR",
	  "--slurm: folder for the scripts, logs and shard databases (default: slurm-SWEEPID12 beside --db)", false },
	{ "--no_submit", CLI_SWITCH, offsetof(struct sweep_cfg, no_submit), 0, 0, "", "--slurm: write the scripts, do not submit", false },
	{ 0 },
};

static struct cli_flag sweep_flags[sizeof(sweep_own_flags) / sizeof(sweep_own_flags[0]) + TASK_FLAGS_N];

static const struct cli_cmd sweep_cmd = {
	"sweep",
	"Evaluates one task at every point of a grid, one run per point in one database, e.g.\n"
	"  kvlab sweep --task needle --method fastkv --grid 'tsp_idx=5,10 tsp_rate=0.1,0.2 retain_rate=0.05:0.2:0.05'\n"
	"Points whose forward is the same share each sample's prefill, up to 16 at a time: any points of the\n"
	"methods that keep every token (fullkv, SnapKV, H2O, AdaKV, TOVA, none+X, ...), and points of FastKV\n"
	"or of one reduction (tsp+snapkv, tsp+h2o, ...) equal but for what the caches retain. KVzip points\n"
	"that differ only in budget also share its replay (each still reports the reconstruction it would pay alone).\n"
	"Rerunning resumes; the sweep and its points are recorded for kvlab report --sweep. Prints the sweep id.",
	sweep_flags,
};

/* Parses "K/N" of flag into *k, *n. */
static int parse_kn(const char *flag, const char *s, int *k, int *n)
{
	char *end;
	long kk = strtol(s, &end, 10), nn = end != s && *end == '/' ? strtol(end + 1, &end, 10) : 0;
	if (*end || nn < 1 || nn > 10000 || kk < 0 || kk >= nn) {
		fprintf(stderr, "kvlab: %s: expected K/N with 0 <= K < N (e.g. 1/2), got '%s'\n", flag, s);
		return 1;
	}
	*k = (int)kk;
	*n = (int)nn;
	return 0;
}

// ----------------------------------------------------------------------------
// --jobs: N copies of this command, each with --part k/N

/* True when argv[i] is flag (as "--flag V" or "--flag=V"); *skip = the words it spans. */
static bool is_flag(char **argv, int argc, int i, const char *flag, bool has_value, int *skip)
{
	size_t n = strlen(flag);
	if (strncmp(argv[i], flag, n) != 0 || (argv[i][n] && argv[i][n] != '='))
		return false;
	*skip = has_value && !argv[i][n] && i + 1 < argc ? 2 : 1;
	return true;
}

/* argv without the flags named in drop (each "NAME" or "NAME=" for valued ones), NULL-terminated
 * with room for extra more words; caller frees the array (not the strings). */
static char **argv_without(int argc, char **argv, const char *const *drop, int extra, int *n_out)
{
	char **v = calloc((size_t)argc + (size_t)extra + 1, sizeof(char *));
	int n = 0;
	if (!v)
		return NULL;
	for (int i = 0; i < argc;) {
		int skip = 0;
		for (int d = 0; drop[d] && !skip; d++) {
			size_t l = strlen(drop[d]);
			bool valued = drop[d][l - 1] == '=';
			char name[64];
			snprintf(name, sizeof(name), "%.*s", (int)(valued ? l - 1 : l), drop[d]);
			if (!is_flag(argv, argc, i, name, valued, &skip))
				skip = 0;
		}
		if (skip) {
			i += skip;
			continue;
		}
		v[n++] = argv[i++];
	}
	*n_out = n;
	return v;
}

static int run_jobs(const struct sweep_cfg *cfg, int argc, char **argv)
{
	static const char *const drop[] = { "--jobs=", "--part=", NULL };
	int n = 0, failed = 0;
	char **base = argv_without(argc, argv, drop, 0, &n);
	pid_t *pids = calloc((size_t)cfg->jobs, sizeof(pid_t));
	char **v = calloc((size_t)n + 6, sizeof(char *));
	if (!base || !pids || !v) {
		fprintf(stderr, "kvlab: out of memory\n");
		free(base);
		free(pids);
		free(v);
		return 1;
	}
	fprintf(stderr, "kvlab sweep: %d local jobs on one database\n", cfg->jobs);
	for (int j = 0; j < cfg->jobs; j++) {
		char part[32];
		snprintf(part, sizeof(part), "%d/%d", j, cfg->jobs);
		v[0] = "kvlab";
		v[1] = "sweep";
		memcpy(v + 2, base, sizeof(char *) * (size_t)n);
		v[n + 2] = "--part";
		v[n + 3] = part;
		v[n + 4] = NULL;
		fflush(NULL);
		pids[j] = fork();
		if (pids[j] == 0) {
			execv("/proc/self/exe", v);
			fprintf(stderr, "kvlab sweep: cannot start job %d (%s)\n", j, strerror(errno));
			_exit(127);
		}
		if (pids[j] < 0) {
			fprintf(stderr, "kvlab sweep: cannot fork job %d (%s)\n", j, strerror(errno));
			failed++;
		}
	}
	for (int j = 0; j < cfg->jobs; j++) {
		int status = 0;
		if (pids[j] > 0 && (waitpid(pids[j], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
			fprintf(stderr, "kvlab sweep: job %d/%d failed\n", j, cfg->jobs);
			failed++;
		}
	}
	free(base);
	free(pids);
	free(v);
	return failed ? 1 : 0;
}

// ----------------------------------------------------------------------------
// --slurm

/* Writes s to f as one single-quoted shell word. */
static void sh_quote(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++)
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	fputc('\'', f);
}

static void sbatch_common(FILE *f, const struct sweep_cfg *cfg, const char *cwd)
{
	fprintf(f, "#SBATCH --chdir=%s\n#SBATCH --ntasks=1\n", cwd);
	if (cfg->partition)
		fprintf(f, "#SBATCH --partition=%s\n", cfg->partition);
	if (cfg->time)
		fprintf(f, "#SBATCH --time=%s\n", cfg->time);
}

/* Writes DIR/array.sh and DIR/merge.sh for the sweep; 0 or 1 with a message. */
static int write_slurm(const struct sweep_cfg *cfg, int argc, char **argv, const char *id, const char *dir,
		       const char *exe, const char *cwd)
{
	static const char *const drop[] = { "--slurm", "--no_submit", "--shards=", "--partition=", "--gpus-per-task=", "--time=",
					    "--max-parallel=", "--slurm_dir=", "--db=", "--shard=", "--jobs=", "--part=", NULL };
	char path[4200];
	int n = 0;
	char **args = argv_without(argc, argv, drop, 0, &n);
	if (!args) {
		fprintf(stderr, "kvlab: out of memory\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/array.sh", dir);
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "kvlab: --slurm_dir %s: cannot write %s (%s)\n", dir, path, strerror(errno));
		free(args);
		return 1;
	}
	fprintf(f, "#!/bin/bash\n#SBATCH --job-name=kvlab-sweep-%.12s\n#SBATCH --array=0-%d", id, cfg->shards - 1);
	if (cfg->max_parallel > 0)
		fprintf(f, "%%%d", cfg->max_parallel);
	fprintf(f, "\n#SBATCH --output=%s/logs/shard-%%a.log\n", dir);
	sbatch_common(f, cfg, cwd);
	if (cfg->gpus_per_task > 0)
		fprintf(f, "#SBATCH --gpus-per-task=%d\n", cfg->gpus_per_task);
	fprintf(f, "# Shard i of sweep %s: every point's samples k with k %% %d == i, into a database on\n"
		   "# local disk (SQLite must not be shared over NFS or Lustre), then a consistent copy installed\n"
		   "# in %s/shards by kvlab merge. Resubmit a failed shard with sbatch --array=i %s/array.sh:\n"
		   "# it resumes from what it stored.\n",
		id, cfg->shards, dir, dir);
	fprintf(f, "set -euo pipefail\ni=${SLURM_ARRAY_TASK_ID:?submit with sbatch}\n");
	fprintf(f, "local_dir=${KVLAB_LOCAL_DIR:-${TMPDIR:-/tmp}}\nmkdir -p \"$local_dir\"\n");
	fprintf(f, "local_db=\"$local_dir/kvlab-sweep-%.12s-shard-$i.db\"\nshard_db=", id);
	sh_quote(f, dir);
	fprintf(f, "\"/shards/shard-$i.db\"\n");
	fprintf(f, "if [ ! -f \"$local_db\" ] && [ -f \"$shard_db\" ]; then cp \"$shard_db\" \"$local_db\"; fi\n");
	sh_quote(f, exe);
	fprintf(f, " sweep");
	for (int i = 0; i < n; i++) {
		fputc(' ', f);
		sh_quote(f, args[i]);
	}
	fprintf(f, " --shard \"$i/%d\" --db \"$local_db\"\n", cfg->shards);
	fprintf(f, "rm -f \"$shard_db.part\"\n");
	sh_quote(f, exe);
	fprintf(f, " merge \"$local_db\" -o \"$shard_db.part\"\nmv -f \"$shard_db.part\" \"$shard_db\"\n");
	fprintf(f, "rm -f \"$local_db\" \"$local_db-wal\" \"$local_db-shm\"\n");
	free(args);
	if (fclose(f) != 0) {
		fprintf(stderr, "kvlab: cannot write %s\n", path);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/merge.sh", dir);
	if (!(f = fopen(path, "w"))) {
		fprintf(stderr, "kvlab: --slurm_dir %s: cannot write %s (%s)\n", dir, path, strerror(errno));
		return 1;
	}
	fprintf(f, "#!/bin/bash\n#SBATCH --job-name=kvlab-merge-%.12s\n#SBATCH --output=%s/logs/merge.log\n", id, dir);
	sbatch_common(f, cfg, cwd);
	fprintf(f, "# Joins the %d shard databases of sweep %s into --db (run after array.sh: afterok).\n", cfg->shards, id);
	fprintf(f, "set -euo pipefail\nshards=()\nfor i in $(seq 0 %d); do\n\tdb=", cfg->shards - 1);
	sh_quote(f, dir);
	fprintf(f, "\"/shards/shard-$i.db\"\n\t[ -f \"$db\" ] || { echo \"shard $i has no database ($db): resubmit it\" >&2; exit 1; }\n"
		   "\tshards+=(\"$db\")\ndone\n");
	sh_quote(f, exe);
	fprintf(f, " merge \"${shards[@]}\" -o ");
	sh_quote(f, cfg->db);
	fputc('\n', f);
	if (fclose(f) != 0) {
		fprintf(stderr, "kvlab: cannot write %s\n", path);
		return 1;
	}
	return 0;
}

/* Runs `sbatch --parsable EXTRA SCRIPT` and reads the job id into id. */
static int sbatch(const char *extra, const char *script, char *id, size_t len)
{
	char cmd[9000];
	snprintf(cmd, sizeof(cmd), "sbatch --parsable %s '%s'", extra, script);
	FILE *p = popen(cmd, "r");
	if (!p) {
		fprintf(stderr, "kvlab: --slurm: cannot run sbatch (%s)\n", strerror(errno));
		return 1;
	}
	char line[256] = "";
	if (!fgets(line, sizeof(line), p))
		line[0] = 0;
	int st = pclose(p);
	line[strcspn(line, ";\r\n")] = 0;
	if (st != 0 || !line[0]) {
		fprintf(stderr, "kvlab: --slurm: sbatch %s failed (exit %d); the scripts stay for a manual sbatch\n", script,
			WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		return 1;
	}
	snprintf(id, len, "%s", line);
	return 0;
}

static int run_slurm(struct sweep_cfg *cfg, const struct sweep_opts *so, int argc, char **argv)
{
	struct sweep_plan plan;
	char err[1024], exe[PATH_MAX], cwd[PATH_MAX], dir[PATH_MAX + 64], sub[PATH_MAX + 128];
	if (sweep_plan_make(so, &plan, err, sizeof(err))) {
		fprintf(stderr, "kvlab: %s\n", err);
		sweep_plan_free(&plan);
		return 1;
	}
	char id[65];
	memcpy(id, plan.sweep_id, sizeof(id));
	int n_points = plan.n_points;
	sweep_plan_free(&plan);
	ssize_t k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (k <= 0 || !getcwd(cwd, sizeof(cwd))) {
		fprintf(stderr, "kvlab: --slurm: cannot find the kvlab binary or the working folder\n");
		return 1;
	}
	exe[k] = 0;
	if (cfg->slurm_dir)
		snprintf(dir, sizeof(dir), "%s", cfg->slurm_dir);
	else {
		const char *slash = strrchr(cfg->db, '/');
		snprintf(dir, sizeof(dir), "%.*sslurm-%.12s", slash ? (int)(slash - cfg->db + 1) : 0, cfg->db, id);
	}
	if (dir[0] != '/') { /* the jobs run in cwd too, but the logs' paths are read by Slurm */
		char abs[sizeof(dir)];
		if ((size_t)snprintf(abs, sizeof(abs), "%s/%s", cwd, dir) >= sizeof(abs)) {
			fprintf(stderr, "kvlab: --slurm_dir %s: path too long\n", dir);
			return 1;
		}
		memcpy(dir, abs, sizeof(dir));
	}
	const char *subs[] = { "", "/logs", "/shards" };
	for (int i = 0; i < 3; i++) {
		snprintf(sub, sizeof(sub), "%s%s", dir, subs[i]);
		if (mkdir(sub, 0777) != 0 && errno != EEXIST) {
			fprintf(stderr, "kvlab: --slurm_dir %s: cannot create %s (%s)\n", dir, sub, strerror(errno));
			return 1;
		}
	}
	if (write_slurm(cfg, argc, argv, id, dir, exe, cwd))
		return 1;
	fprintf(stderr, "sweep %.12s: %d points, %d shards: %s/array.sh, %s/merge.sh\n", id, n_points, cfg->shards, dir, dir);
	if (cfg->no_submit) {
		printf("%s\n", id);
		return 0;
	}
	char array_id[128], merge_id[128], dep[200];
	snprintf(sub, sizeof(sub), "%s/array.sh", dir);
	if (sbatch("", sub, array_id, sizeof(array_id)))
		return 1;
	snprintf(dep, sizeof(dep), "--dependency=afterok:%s", array_id);
	snprintf(sub, sizeof(sub), "%s/merge.sh", dir);
	if (sbatch(dep, sub, merge_id, sizeof(merge_id)))
		return 1;
	fprintf(stderr, "sweep %.12s: submitted array job %s (%d tasks) and merge job %s (afterok:%s) into %s\n", id, array_id,
		cfg->shards, merge_id, array_id, cfg->db);
	printf("%s\n%s %s\n", id, array_id, merge_id);
	return 0;
}

// ----------------------------------------------------------------------------

int cmd_sweep(int argc, char **argv)
{
	struct sweep_cfg cfg = { .model = cli_default_model(), .db = "results/kvlab.db", .backend = "cpu",
				 .jobs = 1, .shards = 4 };
	char err[1024];
	if (task_flags_join(sweep_flags, sizeof(sweep_flags) / sizeof(sweep_flags[0]), sweep_own_flags, offsetof(struct sweep_cfg, task)) < 0)
		return fprintf(stderr, "kvlab sweep: internal error: the flag table is too small\n"), 1;
	int rc = cli_parse(&sweep_cmd, argc, argv, &cfg, err, sizeof(err));
	if (rc)
		return rc == 1 ? 0 : (fprintf(stderr, "kvlab: %s\n", err), 1);
	rc = 1;
	if (task_flags_resolve(&cfg.task, "kvlab sweep", err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		goto out;
	}
	struct sweep_opts so = { .run = { .model_path = cfg.model, .db_path = cfg.db, .task = &cfg.task.ta, .methods = cfg.methods.list,
					  .method_args = &cfg.methods.args, .threads = cfg.threads, .n_shards = 1 },
				 .grid = cfg.grid, .n_parts = 1 };
	if (cli_backend(cfg.backend, cfg.dtype, &so.run.backend, err, sizeof(err)) ||
	    cli_kv_dtype(cfg.kv_dtype, so.run.backend, &so.run.kv_dtype, err, sizeof(err))) {
		fprintf(stderr, "kvlab: %s\n", err);
		goto out;
	}
	if ((cfg.shard && parse_kn("--shard", cfg.shard, &so.run.shard, &so.run.n_shards)) ||
	    (cfg.part && parse_kn("--part", cfg.part, &so.part, &so.n_parts)))
		goto out;
	if (cfg.slurm) {
		if (cfg.shard || cfg.part || cfg.jobs > 1) {
			fprintf(stderr, "kvlab: --slurm: shards are the array's (--shards N); drop --shard, --part and --jobs\n");
			goto out;
		}
		rc = run_slurm(&cfg, &so, argc, argv);
		goto out;
	}
	if (cfg.jobs > 1) {
		if (cfg.part) {
			fprintf(stderr, "kvlab: --jobs: give --jobs or --part, not both\n");
			goto out;
		}
		/* the whole grid is checked once here, so a bad point fails before any job starts */
		struct sweep_plan plan;
		int bad = sweep_plan_make(&so, &plan, err, sizeof(err));
		sweep_plan_free(&plan);
		if (bad) {
			fprintf(stderr, "kvlab: %s\n", err);
			goto out;
		}
		rc = run_jobs(&cfg, argc, argv);
		goto out;
	}
	struct sweep_result res;
	if (sweep_run(&so, &res, err, sizeof(err))) {
		fprintf(stderr, "kvlab: %s\n", err);
		goto out;
	}
	printf("%s\n", res.sweep_id);
	rc = 0;
out:
	cli_methods_free(&cfg.methods);
	return rc;
}
