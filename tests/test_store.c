/* Opening the results database (results/store.c) from several processes at once: a
 * sweep's --jobs start together on one new file, and each must get the schema, not
 * "database is locked" (SQLite answers the switch to WAL with BUSY at once, without
 * its busy handler, while another process makes the same switch). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "results/store.h"
#include "test.h"

#define PROCS 8
#define ROUNDS 6

/* PROCS children open path at once (a pipe releases them together); how many failed */
static int open_together(const char *path)
{
	int go[2];
	if (pipe(go) != 0)
		return PROCS;
	pid_t pid[PROCS];
	for (int i = 0; i < PROCS; i++) {
		pid[i] = fork();
		if (pid[i] == 0) {
			char c, err[256] = "";
			close(go[1]);
			if (read(go[0], &c, 1) < 0)
				_exit(3);
			struct store *s = NULL;
			int rc = store_open(path, &s, err, sizeof(err));
			if (rc)
				fprintf(stderr, "  child %d: %s\n", i, err);
			store_close(s);
			_exit(rc ? 1 : 0);
		}
	}
	close(go[0]);
	close(go[1]); /* EOF: every child's read returns at once */
	int failed = 0;
	for (int i = 0; i < PROCS; i++) {
		int st = 0;
		failed += pid[i] < 0 || waitpid(pid[i], &st, 0) != pid[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	}
	return failed;
}

static void processes_opening_one_new_database_together_should_all_get_it(void)
{
	char path[64], err[256] = "";
	for (int r = 0; r < ROUNDS; r++) {
		(void)system("mkdir -p tests/out && rm -f tests/out/store_race.db*");
		snprintf(path, sizeof(path), "tests/out/store_race.db");
		int failed = open_together(path);
		T_CHECK(failed == 0, "round %d: %d of %d processes could not open the new database", r, failed, PROCS);
		struct store *s = NULL;
		T_CHECK(store_open_read(path, &s, err, sizeof(err)) == 0 && store_has_table(s, "runs"), "round %d: %s", r, err);
		store_close(s);
		if (failed)
			return;
	}
	(void)system("rm -f tests/out/store_race.db*");
}

int main(void)
{
	T_RUN(processes_opening_one_new_database_together_should_all_get_it);
	return t_done();
}
