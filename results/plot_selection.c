/* kvlab plot selection: what one method kept for one prompt, from a --dump_selection file
 * (eval/selection.h's JSON lines): x = token position, y = layer, one panel per cache head, a
 * box per run of consecutive kept positions, the propagated (TSP, PyramidInfer) or
 * re-prefilled (GemFilter) tokens marked in a second colour, the needle's span shaded. The
 * lines are read with SQLite's JSON functions (results/ may use SQLite, not a JSON library).
 * See plot.h. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"     // kv_errf
#include "base/grow.h"       // kv_grow
#include "results/gnuplot.h" // gp_begin, gp_terminal, gp_quote_lines, gp_legend_band, gp_finish
#include "results/plot.h"
#include "results/store.h"   // struct store (plot_method_label reads JSON through it)

#define KV_RGB "#2B6CB0"     /* kept KV rows */
#define PROP_RGB "#E07B00"   /* propagated / re-prefilled tokens */
#define NEEDLE_RGB "#F0496E" /* the needle's span (plot needle's 0 colour) */

/* A run of consecutive kept positions [a, b] at a layer (and a head for kv rows). */
struct sel_range {
	int head, layer, a, b;
};

/* The block drawn: the prompt row's fields and the kept ranges. */
struct sel_block {
	char sample[256], method[64], model[1024];
	char *params;            /* owned: the method's resolved parameters (JSON), or NULL */
	int n_prompt, n_layer, heads;
	bool needle;
	int needle_start, needle_end;
	struct sel_range *kv;    /* (n_kv,) owned, by head then layer */
	int n_kv;
	size_t cap_kv;
	struct sel_range *prop;  /* (n_prop,) owned: propagated and restart rows (head -1) */
	int n_prop;
	size_t cap_prop;
	const char *prop_what;   /* "propagated" or "re-prefilled" */
	long kv_rows;            /* kv entries over every layer and head */
};

static void sel_block_free(struct sel_block *b)
{
	free(b->params);
	free(b->kv);
	free(b->prop);
	memset(b, 0, sizeof(*b));
}

/* The SQLite statements that read one JSON line (?1). */
struct sel_reader {
	sqlite3 *db;
	sqlite3_stmt *row, *pos;
};

static const char *col_text(sqlite3_stmt *q, int i)
{
	const char *s = (const char *)sqlite3_column_text(q, i);
	return s ? s : "";
}

static int by_value(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* Splits line's "positions" into ranges of consecutive positions appended to (*v, *n). */
static int add_ranges(struct sel_reader *r, const char *line, int head, int layer, struct sel_range **v, int *n,
		      size_t *cap, long *count, const char *path, int lineno, char *err, size_t errlen)
{
	int *p = NULL, np = 0, rc = 0, st;
	size_t pcap = 0;
	sqlite3_reset(r->pos);
	sqlite3_bind_text(r->pos, 1, line, -1, SQLITE_STATIC);
	while ((st = sqlite3_step(r->pos)) == SQLITE_ROW) {
		if (sqlite3_column_type(r->pos, 0) != SQLITE_INTEGER) {
			rc = kv_errf(err, errlen, KV_EFORMAT, "--dump %s:%d: \"positions\" holds something other than integers", path,
				     lineno);
			goto out;
		}
		if (kv_grow((void **)&p, &pcap, (size_t)np + 1, sizeof(*p))) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory reading %s", path);
			goto out;
		}
		p[np++] = sqlite3_column_int(r->pos, 0);
	}
	if (st != SQLITE_DONE) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "--dump %s:%d: \"positions\" is not a JSON array", path, lineno);
		goto out;
	}
	qsort(p, (size_t)np, sizeof(*p), by_value); /* a cache keeps its own order; ranges need them sorted */
	*count += np;
	for (int i = 0; i < np;) {
		int j = i;
		while (j + 1 < np && p[j + 1] <= p[j] + 1)
			j++;
		if (kv_grow((void **)v, cap, (size_t)*n + 1, sizeof(**v))) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory reading %s", path);
			goto out;
		}
		(*v)[(*n)++] = (struct sel_range){ head, layer, p[i], p[j] };
		i = j + 1;
	}
out:
	free(p);
	return rc;
}

/* Whether prompt row q (the reader's row statement) is the block asked for: its method
 * matches (NULL: any) and its sample id is `sample`, or `sample` is the block's index among
 * those of the method when by_index. */
static bool block_wanted(sqlite3_stmt *q, const struct plot_selection_opts *o, int index, bool by_index)
{
	if (o->method && strcmp(col_text(q, 5), o->method) != 0)
		return false;
	if (!o->sample)
		return index == 0;
	if (by_index)
		return index == atoi(o->sample);
	return strcmp(col_text(q, 4), o->sample) == 0;
}

/* Reads the dump, finding the block o asks for into b. Errors name --dump (file:line),
 * --sample and --method. */
static int read_dump(struct sel_reader *r, const struct plot_selection_opts *o, struct sel_block *b, char *err,
		     size_t errlen)
{
	FILE *f = fopen(o->dump, "r");
	char *line = NULL;
	size_t lcap = 0;
	int rc = 0, lineno = 0, index = -1, n_blocks = 0;
	bool in = false, done = false, by_index = false;
	if (!f)
		return kv_errf(err, errlen, KV_EIO, "--dump %s: cannot read (%s)", o->dump, strerror(errno));
	/* --sample N: an id first, else the N-th block (0-based) */
	for (int pass = 0; pass < 2 && !rc && !done; pass++) {
		if (pass == 1) {
			const char *c = o->sample;
			for (; c && *c >= '0' && *c <= '9'; c++)
				;
			if (!o->sample || *c || !o->sample[0] || strlen(o->sample) > 6)
				break;
			by_index = true;
			rewind(f);
			lineno = 0;
			index = -1;
		}
		while (!rc && !done && getline(&line, &lcap, f) > 0) {
			lineno++;
			if (line[strspn(line, " \t\r\n")] == '\0')
				continue;
			sqlite3_reset(r->row);
			sqlite3_bind_text(r->row, 1, line, -1, SQLITE_STATIC);
			if (sqlite3_step(r->row) != SQLITE_ROW || !sqlite3_column_int(r->row, 13)) {
				rc = kv_errf(err, errlen, KV_EFORMAT, "--dump %s:%d: not a JSON line of kvlab's --dump_selection", o->dump,
					     lineno);
				break;
			}
			const char *kind = col_text(r->row, 0);
			if (!strcmp(kind, "prompt")) {
				if (in) {
					done = true;
					break;
				}
				bool mine = !o->method || !strcmp(col_text(r->row, 5), o->method);
				index += mine;
				n_blocks += pass == 0;
				if (!mine || !block_wanted(r->row, o, index, by_index))
					continue;
				in = true;
				snprintf(b->sample, sizeof(b->sample), "%s", col_text(r->row, 4));
				snprintf(b->method, sizeof(b->method), "%s", col_text(r->row, 5));
				snprintf(b->model, sizeof(b->model), "%s", col_text(r->row, 6));
				if (sqlite3_column_type(r->row, 7) == SQLITE_TEXT && !(b->params = strdup(col_text(r->row, 7))))
					rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory reading %s", o->dump);
				b->needle = sqlite3_column_type(r->row, 8) == SQLITE_INTEGER && sqlite3_column_type(r->row, 9) == SQLITE_INTEGER;
				b->needle_start = sqlite3_column_int(r->row, 8);
				b->needle_end = sqlite3_column_int(r->row, 9);
				b->n_prompt = sqlite3_column_int(r->row, 10);
				b->n_layer = sqlite3_column_int(r->row, 11);
				if (b->n_prompt < 1 || b->n_layer < 1 || (b->needle && (b->needle_start < 0 || b->needle_end <= b->needle_start ||
											b->needle_end > b->n_prompt)))
					rc = kv_errf(err, errlen, KV_EFORMAT,
						     "--dump %s:%d: the prompt row needs n_prompt > 0, n_layer > 0 and a needle span inside the prompt",
						     o->dump, lineno);
				continue;
			}
			if (!in)
				continue;
			int layer = sqlite3_column_int(r->row, 1), head = sqlite3_column_int(r->row, 2);
			bool kv = !strcmp(kind, "kv"), prop = !strcmp(kind, "propagated") || !strcmp(kind, "restart");
			if ((kv || prop) && (layer < 0 || layer >= b->n_layer || head < 0)) {
				rc = kv_errf(err, errlen, KV_EFORMAT, "--dump %s:%d: layer %d or head %d out of range (%d layers)", o->dump,
					     lineno, layer, head, b->n_layer);
			} else if (kv) {
				if (sqlite3_column_int(r->row, 3) > b->heads)
					b->heads = sqlite3_column_int(r->row, 3);
				if (head + 1 > b->heads)
					b->heads = head + 1;
				rc = add_ranges(r, line, head, layer, &b->kv, &b->n_kv, &b->cap_kv, &b->kv_rows, o->dump, lineno, err, errlen);
			} else if (prop) {
				long ignored = 0;
				b->prop_what = !strcmp(kind, "restart") ? "re-prefilled (GemFilter)" : "propagated to the next layer";
				rc = add_ranges(r, line, -1, layer, &b->prop, &b->n_prop, &b->cap_prop, &ignored, o->dump, lineno, err,
						errlen);
			}
		}
		if (!rc && ferror(f))
			rc = kv_errf(err, errlen, KV_EIO, "--dump %s: read error (%s)", o->dump, strerror(errno));
		if (in)
			done = true;
	}
	free(line);
	fclose(f);
	if (!rc && !in) {
		if (n_blocks == 0)
			rc = kv_errf(err, errlen, KV_EFORMAT, "--dump %s: no \"prompt\" row; is it a kvlab --dump_selection file?",
				     o->dump);
		else
			rc = kv_errf(err, errlen, KV_EINVAL, "--sample %s%s%s: no such sample in %s (%d prompt blocks; give a sample id or a 0-based index)",
				     o->sample ? o->sample : "0", o->method ? " --method " : "", o->method ? o->method : "", o->dump,
				     n_blocks);
	}
	if (!rc && b->heads == 0)
		rc = kv_errf(err, errlen, KV_EFORMAT, "--dump %s: the sample's block has no \"kv\" rows", o->dump);
	if (!rc && b->heads > PLOT_SELECTION_MAX_HEADS)
		rc = kv_errf(err, errlen, KV_EUNSUP, "--dump %s: %d cache heads; plot selection draws at most %d panels", o->dump,
			     b->heads, PLOT_SELECTION_MAX_HEADS);
	return rc;
}

static int reader_open(struct sel_reader *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	if (sqlite3_open_v2(":memory:", &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(r->db,
			       "SELECT json_extract(?1, '$.kind'), json_extract(?1, '$.layer'), json_extract(?1, '$.head'),"
			       " json_extract(?1, '$.heads'), json_extract(?1, '$.sample'), json_extract(?1, '$.method'),"
			       " json_extract(?1, '$.model'), json_extract(?1, '$.params'), json_extract(?1, '$.needle[0]'),"
			       " json_extract(?1, '$.needle[1]'), json_extract(?1, '$.n_prompt'), json_extract(?1, '$.n_layer'),"
			       " NULL, json_valid(?1) AND json_type(?1) = 'object'",
			       -1, &r->row, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(r->db, "SELECT value FROM json_each(?1, '$.positions')", -1, &r->pos, NULL) != SQLITE_OK)
		return kv_errf(err, errlen, KV_EINTERNAL, "plot selection: SQLite's JSON functions are unavailable (%s)",
			       r->db ? sqlite3_errmsg(r->db) : "out of memory");
	return 0;
}

static void reader_close(struct sel_reader *r)
{
	sqlite3_finalize(r->row);
	sqlite3_finalize(r->pos);
	sqlite3_close(r->db);
}

// ----------------------------------------------------------------------------
// the figure

/* Writes the ranges of head h (h < 0: the propagated ones) as datablock $name: x centre,
 * layer, x from, x to (positions as unit-wide cells). */
static void write_ranges(FILE *f, const char *name, const struct sel_range *v, int n, int h)
{
	fprintf(f, "$%s << EOD\n", name);
	for (int i = 0; i < n; i++)
		if (v[i].head == h)
			fprintf(f, "%.1f %d %.1f %.1f\n", (v[i].a + v[i].b) / 2.0, v[i].layer, v[i].a - 0.5, v[i].b + 0.5);
	fprintf(f, "EOD\n");
}

static void write_script(struct gp_run *g, const struct sel_block *b, const char *label)
{
	FILE *f = g->f;
	/* pixels: the figure title, per row a panel title, the panel and its x axis; the legend band below */
	int cols = b->heads <= 3 ? b->heads : b->heads <= 9 ? 3 : 4, rows = (b->heads + cols - 1) / cols;
	int plot_w = cols <= 2 ? 640 : 440, plot_h = b->n_layer * 14 < 260 ? 260 : b->n_layer * 14 > 460 ? 460 : b->n_layer * 14;
	const int title_px = 90, ptitle_px = 34, xaxis_px = 62, left_px = 78, gap_px = 56, right_px = 30, legend_px = 54;
	int width = left_px + cols * plot_w + (cols - 1) * gap_px + right_px;
	int height = title_px + rows * (ptitle_px + plot_h + xaxis_px) + legend_px;
	char model[256], title[2048], span[96] = "";
	plot_model_name(b->model, model, sizeof(model));
	if (b->needle)
		snprintf(span, sizeof(span), " \xC2\xB7 needle tokens %d\xE2\x80\x93%d", b->needle_start, b->needle_end - 1);
	snprintf(title, sizeof(title), "%s%s%s%s%s\n%ld KV rows kept (%.1f%%) of %d prompt tokens x %d layers x %d cache heads%s",
		 model[0] ? model : "", model[0] ? " \xC2\xB7 " : "", label, b->sample[0] ? " \xC2\xB7 sample " : "", b->sample,
		 b->kv_rows, 100.0 * (double)b->kv_rows / ((double)b->n_prompt * b->n_layer * b->heads), b->n_prompt, b->n_layer,
		 b->heads, span);
	gp_terminal(g, width, height, 11);
	gp_set_output(g);
	for (int h = 0; h < b->heads; h++) {
		char name[32];
		snprintf(name, sizeof(name), "kv%d", h);
		write_ranges(f, name, b->kv, b->n_kv, h);
	}
	if (b->n_prop)
		write_ranges(f, "prop", b->prop, b->n_prop, -1);
	/* a layer's row: kv boxes below, the propagated band above when there is one */
	double kv_lo = b->n_prop ? -0.42 : -0.4, kv_hi = b->n_prop ? 0.08 : 0.4;
	fprintf(f, "set multiplot title ");
	gp_quote_lines(f, title);
	fprintf(f, " noenhanced font ',14'\n"
		   "set style fill solid 1.0 noborder\nunset key\nset border 3 lc rgb '#666666'\nset tics nomirror out scale 0.6\n"
		   "set xrange [-0.5:%d.5]\nset yrange [-0.5:%d.5]\nset ytics 0, %d\nset mytics %d\nset xtics out\n"
		   "set grid ytics lc rgb '#EEEEEE'\nset xlabel 'token position' offset 0, 0.4\nset ylabel 'layer' offset 1.5, 0\n",
		b->n_prompt - 1, b->n_layer - 1, b->n_layer > 12 ? 5 : 1, b->n_layer > 12 ? 5 : 1);
	if (b->needle) /* the needle's span behind every panel */
		fprintf(f, "set object 1 rectangle from first %.1f, graph 0 to first %.1f, graph 1 behind "
			   "fillcolor rgb '" NEEDLE_RGB "' fillstyle transparent solid 0.25 noborder\n",
			b->needle_start - 0.5, b->needle_end - 0.5);
	for (int h = 0; h < b->heads; h++) {
		int r = h / cols, c = h % cols;
		double x0 = left_px + c * (plot_w + gap_px), top = title_px + r * (ptitle_px + plot_h + xaxis_px) + ptitle_px;
		fprintf(f, "set lmargin at screen %.4f\nset rmargin at screen %.4f\nset tmargin at screen %.4f\nset bmargin at screen %.4f\n",
			x0 / width, (x0 + plot_w) / width, 1.0 - top / height, 1.0 - (top + plot_h) / height);
		fprintf(f, "set title 'cache head %d' font ',11' offset 0, -0.6\n", h);
		fprintf(f, "plot $kv%d using 1:2:3:4:($2%+.2f):($2%+.2f) with boxxyerror lc rgb '" KV_RGB "'", h, kv_lo, kv_hi);
		if (b->n_prop)
			fprintf(f, ", $prop using 1:2:3:4:($2+0.14):($2+0.42) with boxxyerror lc rgb '" PROP_RGB "'");
		fprintf(f, "\n");
	}
	fprintf(f, "unset object 1\n");
	gp_legend_band(f, (double)legend_px / height, 3);
	fprintf(f, "plot NaN with boxes fillstyle solid lc rgb '" KV_RGB "' title 'KV row kept (runs of positions)'");
	if (b->n_prop) {
		fprintf(f, ", NaN with boxes fillstyle solid lc rgb '" PROP_RGB "' title ");
		gp_quote(f, b->prop_what);
	}
	if (b->needle)
		fprintf(f, ", NaN with boxes fillstyle transparent solid 0.25 lc rgb '" NEEDLE_RGB "' title 'needle span'");
	fprintf(f, "\nunset multiplot\n");
}

int plot_selection(const struct plot_selection_opts *o, struct plot_selection_summary *sum, char *err, size_t errlen)
{
	struct sel_reader r;
	struct sel_block b = { 0 };
	struct gp_run g;
	char label[512];
	int rc;
	if ((rc = gp_check_out(o->out, GP_PNG | GP_SVG | GP_PDF, err, errlen)))
		return rc;
	if ((rc = reader_open(&r, err, errlen)) || (rc = read_dump(&r, o, &b, err, errlen)))
		goto out;
	/* the method's non-default parameters, compared by the reader's SQLite */
	char mem_name[] = "--dump";
	struct store mem = { .db = r.db, .path = mem_name, .readonly = true };
	plot_method_label(&mem, &o->labels, b.method, b.params, label, sizeof(label));
	if ((rc = gp_begin(&g, o->out, GP_PNG | GP_SVG | GP_PDF, err, errlen)))
		goto out;
	write_script(&g, &b, label);
	if ((rc = gp_finish(&g, err, errlen)))
		goto out;
	*sum = (struct plot_selection_summary){ .n_prompt = b.n_prompt, .n_layer = b.n_layer, .heads = b.heads,
						.kv_rows = b.kv_rows, .n_ranges = b.n_kv, .needle = b.needle,
						.needle_start = b.needle_start, .needle_end = b.needle_end,
						.propagated = b.n_prop > 0 };
	snprintf(sum->sample, sizeof(sum->sample), "%s", b.sample);
	snprintf(sum->label, sizeof(sum->label), "%s", label);
out:
	reader_close(&r);
	sel_block_free(&b);
	return rc;
}
