/* kvlab merge A.db B.db ... -o C.db: joins results databases (results/merge.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "results/merge.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: kvlab merge A.db [B.db ...] -o OUT.db\n\n"
		   "Adds every row of the input databases to OUT.db (created when missing; an existing OUT.db is kept\n"
		   "and added to). Idempotent: rows already there are skipped. Refuses, changing nothing, inputs whose\n"
		   "rows clash: a run id with another configuration, a (run, sample) with another prediction or scores.\n"
		   "Inputs are only read.\n");
}

int cmd_merge(int argc, char **argv)
{
	const char *out = NULL;
	const char **srcs = calloc((size_t)argc + 1, sizeof(char *));
	int n = 0, rc = 1;
	char err[2048];
	if (!srcs) {
		fprintf(stderr, "kvlab: out of memory\n");
		return 1;
	}
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			rc = 0;
			goto out;
		}
		if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--out")) {
			if (i + 1 >= argc || out) {
				fprintf(stderr, "kvlab merge: %s: expects one output database (-o OUT.db)\n", argv[i]);
				goto out;
			}
			out = argv[++i];
			continue;
		}
		if (!strncmp(argv[i], "-", 1)) {
			fprintf(stderr, "kvlab merge: unknown flag '%s' (see kvlab merge --help)\n", argv[i]);
			goto out;
		}
		srcs[n++] = argv[i];
	}
	if (!out || n == 0) {
		fprintf(stderr, "kvlab merge: %s (usage: kvlab merge A.db [B.db ...] -o OUT.db)\n",
			!out ? "-o OUT.db is required" : "give at least one input database");
		goto out;
	}
	for (int i = 0; i < n; i++)
		if (!strcmp(srcs[i], out)) {
			fprintf(stderr, "kvlab merge: %s is both an input and -o; an existing -o is merged into anyway\n", out);
			goto out;
		}
	struct merge_stats st;
	if (results_merge(out, srcs, n, &st, err, sizeof(err))) {
		fprintf(stderr, "kvlab: %s\n", err);
		goto out;
	}
	fprintf(stderr, "merged %d database(s) into %s:", n, out);
	for (int t = 0; t < MERGE_N_TABLES; t++)
		if (st.added[t] || st.present[t])
			fprintf(stderr, " %s +%ld (%ld present)", st.table[t], st.added[t], st.present[t]);
	fputc('\n', stderr);
	rc = 0;
out:
	free(srcs);
	return rc;
}
