/* The gnuplot runner: see gnuplot.h. */
#include "results/gnuplot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/errors.h" // kv_errf, KV_E*

extern char **environ;

#define SCRIPT "plot.gp"
#define LOG "gnuplot.log"

void gp_scratch_path(const struct gp_run *g, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", g->dir, name);
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	char path[4400];
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
				snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
				unlink(path);
			}
		closedir(d);
	}
	rmdir(dir);
}

int gp_begin(struct gp_run *g, const char *out, bool allow_svg, char *err, size_t errlen)
{
	size_t olen = out ? strlen(out) : 0;
	memset(g, 0, sizeof(*g));
	g->svg = allow_svg && olen > 4 && strcasecmp(out + olen - 4, ".svg") == 0;
	if (!g->svg && !(olen > 4 && strcasecmp(out + olen - 4, ".png") == 0))
		return kv_errf(err, errlen, KV_EINVAL, "--out: expected a file name ending in .png%s, got '%s'",
			       allow_svg ? " or .svg" : "", out ? out : "");
	g->out = out;
	const char *tmpdir = getenv("TMPDIR");
	snprintf(g->dir, sizeof(g->dir), "%s/kvlab_plot_XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
	if (!mkdtemp(g->dir))
		return kv_errf(err, errlen, KV_EIO, "cannot create a temporary folder %s (%s)", g->dir, strerror(errno));
	char path[4400];
	gp_scratch_path(g, SCRIPT, path, sizeof(path));
	if (!(g->f = fopen(path, "w"))) {
		int rc = kv_errf(err, errlen, KV_EIO, "%s: cannot write (%s)", path, strerror(errno));
		remove_dir(g->dir);
		return rc;
	}
	snprintf(g->picture, sizeof(g->picture), "%s/out.%s", g->dir, g->svg ? "svg" : "png");
	return 0;
}

void gp_quote(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		fputc(*s == '\n' ? ' ' : *s, f);
	}
	fputc('\'', f);
}

void gp_set_output(struct gp_run *g)
{
	fprintf(g->f, "set output ");
	gp_quote(g->f, g->picture);
	fputc('\n', g->f);
}

/* The last lines of gnuplot's log, on one line, for the error message. */
static void log_tail(const char *path, char *buf, size_t len)
{
	char text[4096];
	buf[0] = '\0';
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
		text[--n] = '\0';
	const char *start = n > 300 ? text + n - 300 : text;
	size_t k = 0;
	for (; *start && k + 1 < len; start++)
		buf[k++] = *start == '\n' ? ' ' : *start;
	buf[k] = '\0';
}

static int run_gnuplot(const char *dir, char *err, size_t errlen)
{
	char script[4200], logp[4200], tail[512];
	snprintf(script, sizeof(script), "%s/" SCRIPT, dir);
	snprintf(logp, sizeof(logp), "%s/" LOG, dir);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	char prog[] = "gnuplot";
	char *argv[] = { prog, script, NULL };
	pid_t pid;
	int e = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (e == ENOENT)
		return kv_errf(err, errlen, KV_EIO, "gnuplot not found on PATH (install gnuplot-nox: make deps)");
	if (e)
		return kv_errf(err, errlen, KV_EIO, "cannot start gnuplot (%s)", strerror(e));
	int status = 0;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return kv_errf(err, errlen, KV_EIO, "waiting for gnuplot: %s", strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return kv_errf(err, errlen, KV_EIO, "gnuplot not found on PATH (install gnuplot-nox: make deps)");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		log_tail(logp, tail, sizeof(tail));
		return kv_errf(err, errlen, KV_EIO, "gnuplot failed (%s %d): %s", WIFEXITED(status) ? "exit status" : "signal",
			       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), tail[0] ? tail : "no message");
	}
	return 0;
}

/* Copies src to a temporary file beside dst, then renames it over dst. */
static int install_output(const char *src, const char *dst, char *err, size_t errlen)
{
	char tmp[4200];
	int rc = 0, in = open(src, O_RDONLY);
	struct stat sb;
	if (in < 0 || fstat(in, &sb) != 0 || sb.st_size == 0) {
		if (in >= 0)
			close(in);
		return kv_errf(err, errlen, KV_EIO, "gnuplot exited 0 but wrote no picture (%s)", src);
	}
	snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", dst);
	int out = mkstemp(tmp);
	if (out < 0) {
		close(in);
		return kv_errf(err, errlen, KV_EIO, "--out %s: cannot create a file there (%s)", dst, strerror(errno));
	}
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	if (n < 0 || fchmod(out, 0644) != 0 || close(out) != 0) {
		rc = kv_errf(err, errlen, KV_EIO, "--out %s: cannot write (%s)", dst, strerror(errno));
		unlink(tmp);
	} else if (rename(tmp, dst) != 0) {
		rc = kv_errf(err, errlen, KV_EIO, "--out %s: cannot replace (%s)", dst, strerror(errno));
		unlink(tmp);
	}
	close(in);
	return rc;
}

int gp_finish(struct gp_run *g, char *err, size_t errlen)
{
	int rc = 0;
	if (fclose(g->f) != 0)
		rc = kv_errf(err, errlen, KV_EIO, "%s/" SCRIPT ": cannot write (%s)", g->dir, strerror(errno));
	g->f = NULL;
	if (!rc && !(rc = run_gnuplot(g->dir, err, errlen)))
		rc = install_output(g->picture, g->out, err, errlen);
	remove_dir(g->dir);
	return rc;
}

void gp_abort(struct gp_run *g)
{
	if (g->f)
		fclose(g->f);
	g->f = NULL;
	remove_dir(g->dir);
}
