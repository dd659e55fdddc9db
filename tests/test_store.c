/* Opening the results database (results/store.c) from several processes at once: a
 * sweep's --jobs start together on one new file, and each must get the schema, not
 * "database is locked" (SQLite answers the switch to WAL with BUSY at once, without
 * its busy handler, while another process makes the same switch); and a database whose
 * schema is complete opens without waiting for another connection's write lock. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
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
	const char *path = "tests/out/store_race.db";
	char err[256] = "";
	for (int r = 0; r < ROUNDS; r++) {
		(void)system("mkdir -p tests/out && rm -f tests/out/store_race.db*");
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

static void a_complete_database_should_open_while_another_holds_the_write_lock(void)
{
	const char *path = "tests/out/store_held.db";
	char err[256] = "";
	struct store *s = NULL;
	sqlite3 *db = NULL;
	(void)system("mkdir -p tests/out && rm -f tests/out/store_held.db*");
	T_CHECK(store_open(path, &s, err, sizeof(err)) == 0, "%s", err);
	store_close(s);
	s = NULL;
	T_CHECK(sqlite3_open(path, &db) == SQLITE_OK && sqlite3_exec(db, "BEGIN IMMEDIATE;", NULL, NULL, NULL) == SQLITE_OK,
		"a second connection could not take the write lock");
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = store_open(path, &s, err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double waited = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
	T_CHECK(rc == 0 && waited < 5.0, "store_open: rc %d after %.1f s (%s)", rc, waited, err);
	store_close(s);
	sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
	sqlite3_close(db);
	(void)system("rm -f tests/out/store_held.db*");
}

int main(void)
{
	T_RUN(processes_opening_one_new_database_together_should_all_get_it);
	T_RUN(a_complete_database_should_open_while_another_holds_the_write_lock);
	return t_done();
}
