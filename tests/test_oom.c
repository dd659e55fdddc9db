/* Failing-allocator mode: this program is linked with the allocation functions wrapped
 * (-Wl,--wrap=malloc,... in the Makefile), so every allocation kvlab's own code makes can
 * be made to fail. For each target (the loaders, the KV cache and a prefill, the store, the
 * runner end to end) it first counts the allocations of a clean pass, then fails the n-th
 * one for n = 1..count (every one when there are few, an even spread otherwise) and checks
 * that each failure ends in an error with a message, leaves the outputs untouched, leaks
 * nothing (LeakSanitizer, in the ASan build) and, for the runner, that no half-written
 * sample is in the database and a rerun without failures completes it. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/errors.h"
#include "datasets/task.h"   // struct task_args
#include "engine/forward.h"  // fwd_session_*
#include "engine/model.h"    // model_load
#include "eval/runner.h"     // runner_run
#include "methods/registry.h" // kv_method_find, kv_policy_make
#include "results/store.h"   // store_*
#include "tests/test.h"

#define TINY "tests/golden/tiny_llama"
#define MAX_TRIES 400 /* failure points tried per target (all of them when there are fewer) */
static long g_max_tries = MAX_TRIES;

// ----------------------------------------------------------------------------
// the wrapped allocator

static long g_count;    /* allocations seen since the last reset */
static long g_fail_at;  /* fail allocation number g_fail_at (1-based); 0 = never */
static long g_failed;   /* failures injected */

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_posix_memalign(void **p, size_t a, size_t n);

static void *g_fail_site; /* the caller of the failed allocation (for the report) */
static void *g_fail_stack[6];
int backtrace(void **buffer, int size);
int main(void);

static bool fail_now(void *site)
{
	if (++g_count == g_fail_at) {
		g_failed++;
		g_fail_site = site;
		if (getenv("KVLAB_OOM_SITES"))
			backtrace(g_fail_stack, 6);
		return true;
	}
	return false;
}

void *__wrap_malloc(size_t n) { return fail_now(__builtin_return_address(0)) ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t k, size_t n) { return fail_now(__builtin_return_address(0)) ? NULL : __real_calloc(k, n); }
void *__wrap_realloc(void *p, size_t n) { return fail_now(__builtin_return_address(0)) ? NULL : __real_realloc(p, n); }
char *__wrap_strdup(const char *s) { return fail_now(__builtin_return_address(0)) ? NULL : __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { return fail_now(__builtin_return_address(0)) ? NULL : __real_strndup(s, n); }
int __wrap_posix_memalign(void **p, size_t a, size_t n) { return fail_now(__builtin_return_address(0)) ? 12 /* ENOMEM */ : __real_posix_memalign(p, a, n); }

static void arm(long fail_at)
{
	g_count = 0;
	g_fail_at = fail_at;
	g_failed = 0;
}

/* The failure points to try for a target whose clean pass made total allocations. */
static long point(long i, long total)
{
	return total <= g_max_tries ? i + 1 : 1 + (i * total) / g_max_tries;
}

// ----------------------------------------------------------------------------
// targets: each returns its rc and says whether its outputs were left untouched

typedef int (*target_fn)(char *err, size_t errlen, bool *clean);

static int t_model_load(char *err, size_t errlen, bool *clean)
{
	struct model *m = NULL;
	int rc = model_load(TINY, &m, err, errlen);
	*clean = rc == 0 || m == NULL;
	model_free(m);
	return rc;
}

static int t_model_load_gguf(char *err, size_t errlen, bool *clean)
{
	struct model *m = NULL;
	int rc = model_load(T_MODEL, &m, err, errlen);
	*clean = rc == 0 || m == NULL;
	model_free(m);
	return rc;
}

static struct model *g_tiny; /* loaded once, before any failure is armed */

/* A session with a SnapKV policy, a 40-token prefill and two decode steps. */
static int t_session(char *err, size_t errlen, bool *clean)
{
	struct kv_shape shape = { g_tiny->cfg.n_layer, g_tiny->cfg.n_head, g_tiny->cfg.n_head_kv, g_tiny->cfg.head_dim,
				  g_tiny->cfg.n_embd };
	struct kv_args args = { 0 };
	struct kv_policy pol = { 0 };
	struct fwd_session *s = NULL;
	int32_t ids[40];
	float *logits = NULL;
	int rc;
	*clean = true;
	for (int i = 0; i < 40; i++)
		ids[i] = 3 + (i * 7) % 50;
	if ((rc = kv_args_set(&args, "max_capacity_prompts", "16", err, errlen)) ||
	    (rc = kv_policy_make(kv_method_find("snapkv"), &args, &shape, &pol, err, errlen)))
		goto out_args;
	if ((rc = fwd_session_init(g_tiny, &pol, 8, 1, &s, err, errlen)))
		goto out_pol;
	if (!(logits = malloc(sizeof(float) * (size_t)g_tiny->cfg.n_vocab))) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		goto out_session;
	}
	if ((rc = fwd_prefill(s, ids, 40, false, logits, err, errlen)))
		goto out_session;
	for (int t = 0; t < 2 && !rc; t++)
		rc = fwd_decode(s, 5 + t, logits, err, errlen);
out_session:
	free(logits);
	fwd_session_free(s);
out_pol:
	kv_policy_free(&pol);
out_args:
	kv_args_free(&args);
	return rc;
}

static int t_store(char *err, size_t errlen, bool *clean)
{
	struct store *st = NULL;
	*clean = true;
	(void)system("rm -f tests/out/oom_store.db*");
	int rc = store_open("tests/out/oom_store.db", &st, err, errlen);
	if (!rc) {
		char sha[65];
		rc = store_file_sha256(st, TINY "/config.json", sha, err, errlen);
	}
	store_close(st);
	return rc;
}

/* Every stored sample has its scores: nothing half-written. */
static bool db_consistent(const char *path)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
		 "test \"$(sqlite3 %s 'select count(*) from samples s where not exists (select 1 from scores c where "
		 "c.run_id = s.run_id and c.sample_id = s.sample_id)' 2>/dev/null || echo 0)\" = 0",
		 path);
	return system(cmd) == 0;
}

static int t_runner(char *err, size_t errlen, bool *clean)
{
	struct task_args ta = { .task = "needle", .data = "../shared/data/paul_graham_essays", .context_lengths = "300",
				.depths = "0,100" };
	struct runner_opts o = { .model_path = TINY, .db_path = "tests/out/oom_runner.db", .task = &ta,
				 .methods = "fullkv,snapkv:max_capacity_prompts=40", .threads = 1, .quiet = true };
	struct runner_result r;
	(void)system("rm -f tests/out/oom_runner.db*");
	int rc = runner_run(&o, &r, err, errlen);
	*clean = db_consistent(o.db_path);
	return rc;
}

// ----------------------------------------------------------------------------
// the sweep over failure points

static void sweep(const char *name, target_fn fn)
{
	char err[1024] = "";
	bool clean;
	arm(0);
	int rc = fn(err, sizeof(err), &clean);
	long total = g_count;
	T_CHECK(rc == 0, "%s: the clean pass failed: %s", name, err);
	if (rc)
		return;
	int tries = 0, failed_cleanly = 0, bad = 0;
	for (long i = 0; i < (total < g_max_tries ? total : g_max_tries); i++) {
		long at = point(i, total);
		err[0] = 0;
		arm(at);
		rc = fn(err, sizeof(err), &clean);
		long injected = g_failed;
		arm(0);
		tries++;
		if (!injected)
			continue; /* the pass made fewer allocations this time */
		/* a failed allocation may be absorbed (a cache, a fallback) but never crash, and
		 * when it surfaces it is an error with a message and untouched outputs */
		if (rc != 0 && err[0] && clean)
			failed_cleanly++;
		else if (rc == 0 && clean && getenv("KVLAB_OOM_SITES"))
			printf("  absorbed at main%+ld main%+ld main%+ld\n", (long)((char *)g_fail_stack[2] - (char *)(uintptr_t)main),
			       (long)((char *)g_fail_stack[3] - (char *)(uintptr_t)main), (long)((char *)g_fail_stack[4] - (char *)(uintptr_t)main));
		else if (rc != 0 || !clean) {
			if (bad++ < 5)
				T_CHECK(0, "%s: allocation %ld of %ld failed: rc %d, message '%s', outputs %s", name, at, total, rc, err,
					clean ? "untouched" : "half-written");
		}
	}
	T_CHECK(bad == 0, "%s: %d failure points misbehaved", name, bad);
	printf("  %s: %ld allocations in a clean pass; %d failure points tried, %d ended in an error with a message\n", name,
	       total, tries, failed_cleanly);
}

static void loaders_should_fail_cleanly_at_every_allocation(void)
{
	sweep("model_load(tiny HF folder)", t_model_load);
	if (access(T_MODEL, R_OK) == 0) {
		g_max_tries = 12; /* ~150K allocations (the vocabulary) and ~1 s a load: a spread of them */
		sweep("model_load(SmolLM2 GGUF)", t_model_load_gguf);
		g_max_tries = MAX_TRIES;
	} else
		T_SKIP("%s missing (make model)", T_MODEL);
}

static void cache_and_prefill_should_fail_cleanly_at_every_allocation(void)
{
	sweep("session: snapkv prefill + decode", t_session);
}

static void store_should_fail_cleanly_at_every_allocation(void)
{
	sweep("store open + file hash", t_store);
}

static void runner_should_fail_cleanly_and_resume(void)
{
	sweep("runner: needle, fullkv + snapkv", t_runner);
	/* after failures at every point, a run without failures completes the database */
	char err[1024] = "";
	bool clean;
	arm(g_count / 2 + 1);
	(void)system("rm -f tests/out/oom_runner.db*");
	struct task_args ta = { .task = "needle", .data = "../shared/data/paul_graham_essays", .context_lengths = "300",
				.depths = "0,100" };
	struct runner_opts o = { .model_path = TINY, .db_path = "tests/out/oom_runner.db", .task = &ta,
				 .methods = "fullkv,snapkv:max_capacity_prompts=40", .threads = 1, .quiet = true };
	struct runner_result r;
	(void)runner_run(&o, &r, err, sizeof(err));
	arm(0);
	int rc = runner_run(&o, &r, err, sizeof(err));
	clean = db_consistent(o.db_path);
	T_CHECK(rc == 0 && clean && r.n_done_before + r.n_done_now == 4, "rerun: rc %d '%s', stored before %d + now %d (want 4)", rc,
		err, r.n_done_before, r.n_done_now);
}

int main(void)
{
	char err[512];
	(void)system("mkdir -p tests/out");
	if (model_load(TINY, &g_tiny, err, sizeof(err)) != 0) {
		printf("FAIL %s\n# 0 passed, 1 failed, 0 skipped\n", err);
		return 1;
	}
	T_RUN(loaders_should_fail_cleanly_at_every_allocation);
	T_RUN(store_should_fail_cleanly_at_every_allocation);
	T_RUN(cache_and_prefill_should_fail_cleanly_at_every_allocation);
	T_RUN(runner_should_fail_cleanly_and_resume);
	model_free(g_tiny);
	return t_done();
}
