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

static const struct {
	enum gp_format format;
	const char *ext;
} formats_ext[] = { { GP_PNG, ".png" }, { GP_SVG, ".svg" }, { GP_PDF, ".pdf" } };

/* The format out's extension names among formats, or 0. */
static enum gp_format format_of(const char *out, unsigned formats)
{
	size_t olen = out ? strlen(out) : 0;
	for (size_t i = 0; i < sizeof(formats_ext) / sizeof(formats_ext[0]); i++)
		if ((formats & formats_ext[i].format) && olen > 4 && strcasecmp(out + olen - 4, formats_ext[i].ext) == 0)
			return formats_ext[i].format;
	return 0;
}

int gp_check_out(const char *out, unsigned formats, char *err, size_t errlen)
{
	char want[64] = "";
	size_t k = 0, n = 0, total = 0;
	if (format_of(out, formats))
		return 0;
	for (size_t i = 0; i < sizeof(formats_ext) / sizeof(formats_ext[0]); i++)
		total += (formats & formats_ext[i].format) != 0;
	for (size_t i = 0; i < sizeof(formats_ext) / sizeof(formats_ext[0]); i++)
		if (formats & formats_ext[i].format) {
			n++;
			k += (size_t)snprintf(want + k, sizeof(want) - k, "%s%s", n == 1 ? "" : n == total ? " or " : ", ",
					      formats_ext[i].ext);
		}
	return kv_errf(err, errlen, KV_EINVAL, "--out: expected a file name ending in %s, got '%s'", want, out ? out : "");
}

int gp_begin(struct gp_run *g, const char *out, unsigned formats, char *err, size_t errlen)
{
	int rc;
	memset(g, 0, sizeof(*g));
	if ((rc = gp_check_out(out, formats, err, errlen)))
		return rc;
	g->format = format_of(out, formats);
	g->svg = g->format == GP_SVG;
	g->out = out;
	const char *tmpdir = getenv("TMPDIR");
	snprintf(g->dir, sizeof(g->dir), "%s/kvlab_plot_XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
	if (!mkdtemp(g->dir))
		return kv_errf(err, errlen, KV_EIO, "cannot create a temporary folder %s (%s)", g->dir, strerror(errno));
	char path[4400];
	gp_scratch_path(g, SCRIPT, path, sizeof(path));
	if (!(g->f = fopen(path, "w"))) {
		rc = kv_errf(err, errlen, KV_EIO, "%s: cannot write (%s)", path, strerror(errno));
		remove_dir(g->dir);
		return rc;
	}
	snprintf(g->picture, sizeof(g->picture), "%s/out%s", g->dir,
		 g->format == GP_SVG ? ".svg" : g->format == GP_PDF ? ".pdf" : ".png");
	return 0;
}

void gp_terminal(struct gp_run *g, int width, int height, int font_pt)
{
	fprintf(g->f, "set encoding utf8\n");
	if (g->format == GP_SVG)
		fprintf(g->f, "set terminal svg noenhanced size %d,%d dynamic font 'Sans,%d' background rgb 'white'\n", width, height, font_pt);
	else if (g->format == GP_PDF)
		fprintf(g->f, "set terminal pdfcairo noenhanced size %.3fin,%.3fin font 'Sans,%d' background rgb 'white'\n", width / 72.0,
			height / 72.0, font_pt);
	else
		fprintf(g->f, "set terminal pngcairo noenhanced size %d,%d font 'Sans,%d' background rgb 'white'\n", width, height, font_pt);
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

void gp_quote_lines(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '\n')
			fputs("\\n", f);
		else if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

void gp_legend_band(FILE *f, double top, int max_cols)
{
	fprintf(f, "unset border\nunset tics\nunset xlabel\nunset ylabel\nunset grid\nunset logscale\nunset title\n"
		   "set offsets 0, 0, 0, 0\nset xrange [0:1]\nset yrange [0:1]\n"
		   "set lmargin at screen 0.01\nset rmargin at screen 0.99\nset tmargin at screen %.4f\nset bmargin at screen 0\n"
		   "set key center center horizontal maxcols %d nobox noenhanced spacing 1.2 width 2 samplen 4\n",
		top, max_cols);
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

/* Copies src to a temporary file beside dst, then renames it over dst; errors name what
 * ("--out", "KVLAB_KEEP_GP=") and dst. An empty or missing src is gnuplot's failure. */
static int install_copy(const char *src, const char *dst, const char *what, char *err, size_t errlen)
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
		return kv_errf(err, errlen, KV_EIO, "%s%s: cannot create a file there (%s)", what, dst, strerror(errno));
	}
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	int e = n < 0 ? errno : 0;
	if (!e && fchmod(out, 0644) != 0)
		e = errno;
	if (close(out) != 0 && !e)
		e = errno;
	if (e) {
		rc = kv_errf(err, errlen, KV_EIO, "%s%s: cannot write (%s)", what, dst, strerror(e));
		unlink(tmp);
	} else if (rename(tmp, dst) != 0) {
		rc = kv_errf(err, errlen, KV_EIO, "%s%s: cannot replace (%s)", what, dst, strerror(errno));
		unlink(tmp);
	}
	close(in);
	return rc;
}

int gp_finish(struct gp_run *g, char *err, size_t errlen)
{
	int rc = 0;
	const char *keep = getenv("KVLAB_KEEP_GP");
	char script[4400];
	if (fclose(g->f) != 0)
		rc = kv_errf(err, errlen, KV_EIO, "%s/" SCRIPT ": cannot write (%s)", g->dir, strerror(errno));
	g->f = NULL;
	gp_scratch_path(g, SCRIPT, script, sizeof(script));
	if (!rc && keep && *keep)
		rc = install_copy(script, keep, "KVLAB_KEEP_GP=", err, errlen);
	if (!rc && !(rc = run_gnuplot(g->dir, err, errlen)))
		rc = install_copy(g->picture, g->out, "--out ", err, errlen);
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
