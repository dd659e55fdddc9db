/* Minimal test harness: each tests/test_*.c is one program of named cases.
 * A case calls T_CHECK; a case that cannot run here (a missing model, tool or data
 * file) calls T_SKIP and returns, and is counted as skipped, never as passed. The
 * program prints one line per case (ok / FAIL / skip) and exits non-zero when any
 * failed. tests/run.sh adds the counts up. Paths are relative to the
 * repository root (tests run from there); ../shared is the shared data. */
#ifndef KVLAB_TESTS_TEST_H
#define KVLAB_TESTS_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_case_failed, t_case_skipped;
static int t_n_pass, t_n_fail, t_n_skip;
static char t_skip_reason[1024];

#define T_CHECK(cond, ...)                                                        \
	do {                                                                      \
		if (!(cond)) {                                                    \
			fprintf(stderr, "  %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                              \
			fputc('\n', stderr);                                       \
			t_case_failed = 1;                                        \
		}                                                                 \
	} while (0)

/* Marks the running case as skipped with a reason (printed); the case should return
 * at once. A check that failed before the skip still fails the case. */
#define T_SKIP(...)                                                               \
	do {                                                                      \
		snprintf(t_skip_reason, sizeof(t_skip_reason), __VA_ARGS__);      \
		t_case_skipped = 1;                                               \
	} while (0)

/* Runs fn as a case named name (write it as a sentence). */
static inline void t_run(const char *name, void (*fn)(void))
{
	t_case_failed = 0;
	t_case_skipped = 0;
	fn();
	if (t_case_skipped && !t_case_failed) {
		t_n_skip++;
		printf("skip %s: %s\n", name, t_skip_reason);
	} else if (t_case_failed) {
		t_n_fail++;
		printf("FAIL %s\n", name);
	} else {
		t_n_pass++;
		printf("ok   %s\n", name);
	}
	fflush(stdout);
}
#define T_RUN(fn) t_run(#fn, fn)

/* Ends main: prints the program's counts in the form run.sh reads. */
static inline int t_done(void)
{
	printf("# %d passed, %d failed, %d skipped\n", t_n_pass, t_n_fail, t_n_skip);
	return t_n_fail ? 1 : 0;
}

/* The default model path for golden tests. */
#define T_MODEL "models/SmolLM2-135M-Instruct.Q4_1.gguf"

#endif
