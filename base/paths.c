/* Default data locations: see paths.h. */
#include "base/paths.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int exists(const char *p)
{
	return access(p, F_OK) == 0;
}

const char *kv_find_default(const char *rel, char *out, size_t len)
{
	char cand[PATH_MAX + 256], exe[PATH_MAX];
	snprintf(out, len, "%s", rel);
	if (exists(rel) || rel[0] == '/')
		return out;
	const char *home = getenv("KVLAB_HOME");
	if (home && *home) {
		snprintf(cand, sizeof(cand), "%s/%s", home, rel);
		if (exists(cand)) {
			snprintf(out, len, "%s", cand);
			return out;
		}
	}
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return out;
	exe[n] = 0;
	for (int up = 0; up < 4; up++) {
		char *slash = strrchr(exe, '/');
		if (!slash || slash == exe)
			break;
		*slash = 0; /* the folder of the binary, then its parents */
		snprintf(cand, sizeof(cand), "%s/%s", exe, rel);
		if (exists(cand)) {
			snprintf(out, len, "%s", cand);
			return out;
		}
	}
	return out;
}

const char *kv_abs_path(const char *path, char *out, size_t len)
{
	char buf[PATH_MAX];
	snprintf(out, len, "%s", path);
	if (realpath(path, buf) && strlen(buf) < len)
		snprintf(out, len, "%s", buf);
	return out;
}
