/* Helpers shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.c): a private scratch
 * folder per process (removed at exit), writing the fuzz input into a file there, linking
 * the committed tiny model's files beside it, and the error-contract check every parser
 * must keep (a failing call returns a KV_E* code with a message and leaves *out alone);
 * KVLAB_FUZZ_VERBOSE=1 prints each checked result, to see how far the seeds get.
 * Header-only: each harness is one program. */
#ifndef KVLAB_TESTS_FUZZ_IO_H
#define KVLAB_TESTS_FUZZ_IO_H

#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h> // mkdir
#include <unistd.h>

static char fuzz_scratch[PATH_MAX];

static inline int fuzz_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

static inline void fuzz_rm_scratch(void)
{
	if (fuzz_scratch[0])
		nftw(fuzz_scratch, fuzz_rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Borrowed: this process's scratch folder, made on first use; aborts when it cannot be. */
static inline const char *fuzz_dir(void)
{
	if (!fuzz_scratch[0]) {
		const char *tmp = getenv("TMPDIR");
		snprintf(fuzz_scratch, sizeof(fuzz_scratch), "%s/kvlab-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(fuzz_scratch)) {
			perror("fuzz: mkdtemp");
			abort();
		}
		atexit(fuzz_rm_scratch);
	}
	return fuzz_scratch;
}

/* Writes buf into dir/name (replacing it) and returns the path in out; aborts on I/O errors. */
static inline const char *fuzz_put(const char *dir, const char *name, const void *buf, size_t n, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s", dir, name);
	FILE *f = fopen(out, "wb");
	if (!f || (n && fwrite(buf, 1, n, f) != n) || fclose(f) != 0) {
		perror(out);
		abort();
	}
	return out;
}

/* Symlinks dir/name to the repository file src (relative to the repository root, the
 * harness's working folder, or to $KVLAB_ROOT); aborts when src is missing. */
static inline void fuzz_link(const char *dir, const char *name, const char *src)
{
	char rel[PATH_MAX], abs[PATH_MAX], dst[PATH_MAX];
	const char *root = getenv("KVLAB_ROOT");
	snprintf(rel, sizeof(rel), "%s/%s", root && *root ? root : ".", src);
	if (!realpath(rel, abs)) {
		fprintf(stderr, "fuzz: %s: missing (run the harness from the repository root or set KVLAB_ROOT)\n", rel);
		abort();
	}
	snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	unlink(dst);
	if (symlink(abs, dst) != 0) {
		perror(dst);
		abort();
	}
}

/* Resolves the repository file src into out (see fuzz_link); aborts when missing. */
static inline const char *fuzz_repo_path(const char *src, char *out)
{
	char rel[PATH_MAX];
	const char *root = getenv("KVLAB_ROOT");
	snprintf(rel, sizeof(rel), "%s/%s", root && *root ? root : ".", src);
	if (!realpath(rel, out)) {
		fprintf(stderr, "fuzz: %s: missing (run the harness from the repository root or set KVLAB_ROOT)\n", rel);
		abort();
	}
	return out;
}

/* The error contract: rc is 0 or a KV_E* code (-1..-6); a failure carries a message and
 * leaves the output pointer NULL. Aborts (a fuzz finding) when broken. */
static inline void fuzz_check_error(const char *what, int rc, const char *err, const void *out)
{
	static int verbose = -1; /* KVLAB_FUZZ_VERBOSE=1: print every result (to see what the seeds reach) */
	if (verbose < 0)
		verbose = getenv("KVLAB_FUZZ_VERBOSE") != NULL;
	if (verbose)
		fprintf(stderr, "fuzz: %s: %s\n", what, rc ? err : "ok");
	if (rc > 0 || rc < -6 || (rc != 0 && (!err[0] || out))) {
		fprintf(stderr, "fuzz: %s broke the error contract: rc %d, message '%s', output %s\n", what, rc, err,
			out ? "set" : "NULL");
		abort();
	}
}

#endif
