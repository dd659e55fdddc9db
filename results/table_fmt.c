/* The report table writer: cells as text, printed as Markdown (padded, never cut), CSV
 * (RFC 4180: a field holding a comma, quote, CR or LF is quoted, quotes doubled) or one
 * JSON document. See table_fmt.h. */
#include "results/table_fmt.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h" // kv_errf
#include "base/grow.h"   // kv_grow
#include "base/pyjson.h" // py_json_str

int table_format_parse(const char *text, enum table_format *out, char *err, size_t errlen)
{
	if (!text || !strcmp(text, "md"))
		*out = TABLE_MD;
	else if (!strcmp(text, "csv"))
		*out = TABLE_CSV;
	else if (!strcmp(text, "json"))
		*out = TABLE_JSON;
	else
		return kv_errf(err, errlen, KV_EINVAL, "--format: expected md, csv or json, got '%s'", text);
	return 0;
}

/* A malloc'd printf of fmt/ap, or NULL. */
static char *vfmt(const char *fmt, va_list ap)
{
	va_list aq;
	va_copy(aq, ap);
	int n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (s)
		vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

static void table_free(struct table *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->n_col; i++)
		free(t->col[i].name);
	for (int i = 0; i < t->n_row * t->n_col; i++)
		free(t->cell[i]);
	free(t->col);
	free(t->cell);
	free(t->title);
	free(t->note);
	free(t);
}

int table_list_add(struct table_list *l, struct table **out, const char *title, ...)
{
	struct table *t = calloc(1, sizeof(*t));
	va_list ap;
	va_start(ap, title);
	if (t)
		t->title = vfmt(title, ap);
	va_end(ap);
	if (!t || !t->title || kv_grow((void **)&l->t, &l->cap, (size_t)l->n + 1, sizeof(*l->t))) {
		table_free(t);
		return KV_ENOMEM;
	}
	l->t[l->n++] = t;
	*out = t;
	return 0;
}

void table_list_free(struct table_list *l)
{
	for (int i = 0; i < l->n; i++)
		table_free(l->t[i]);
	free(l->t);
	memset(l, 0, sizeof(*l));
}

int table_col_add(struct table *t, const char *name, bool num)
{
	if (t->n_row > 0 || kv_grow((void **)&t->col, &t->cap_col, (size_t)t->n_col + 1, sizeof(*t->col)))
		return KV_ENOMEM;
	if (!(t->col[t->n_col].name = strdup(name)))
		return KV_ENOMEM;
	t->col[t->n_col].num = num;
	return t->n_col++;
}

int table_col_find(const struct table *t, const char *name)
{
	for (int i = 0; i < t->n_col; i++)
		if (!strcmp(t->col[i].name, name))
			return i;
	return -1;
}

int table_row_add(struct table *t)
{
	size_t need = (size_t)(t->n_row + 1) * (size_t)t->n_col;
	if (kv_grow((void **)&t->cell, &t->cap_cell, need ? need : 1, sizeof(*t->cell)))
		return KV_ENOMEM;
	for (int j = 0; j < t->n_col; j++)
		t->cell[t->n_row * t->n_col + j] = NULL;
	return t->n_row++;
}

/* Replaces *dst (freed) with the formatted string; KV_ENOMEM leaves it as it was. */
static int vset(char **dst, const char *fmt, va_list ap)
{
	char *s = vfmt(fmt, ap);
	if (!s)
		return KV_ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

int table_set(struct table *t, int row, int col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vset(&t->cell[row * t->n_col + col], fmt, ap);
	va_end(ap);
	return rc;
}

int table_set_num(struct table *t, int row, int col, double v, int decimals)
{
	if (isnan(v))
		return 0;
	return table_set(t, row, col, "%.*f", decimals, v);
}

int table_note(struct table *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vset(&t->note, fmt, ap);
	va_end(ap);
	return rc;
}

const char *table_get(const struct table *t, int row, int col)
{
	return t->cell[row * t->n_col + col];
}

// ----------------------------------------------------------------------------
// writers

/* Display width of UTF-8 text: its code points (continuation bytes not counted). */
static int width(const char *s)
{
	int w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

/* A markdown cell: '|' escaped, line breaks as spaces. */
static void md_cell(FILE *out, const char *s, int w, bool right)
{
	int pad = w - width(s);
	for (const char *c = s; *c; c++)
		pad -= *c == '|';
	if (right)
		fprintf(out, "%*s", pad > 0 ? pad : 0, "");
	for (const char *c = s; *c; c++)
		*c == '|' ? fputs("\\|", out) : fputc(*c == '\n' || *c == '\r' ? ' ' : *c, out);
	if (!right)
		fprintf(out, "%*s", pad > 0 ? pad : 0, "");
}

static void print_md(const struct table *t, FILE *out)
{
	int *w = calloc((size_t)t->n_col + 1, sizeof(int));
	fprintf(out, "## %s\n\n", t->title);
	for (int j = 0; w && j < t->n_col; j++) {
		w[j] = width(t->col[j].name) < 3 ? 3 : width(t->col[j].name);
		for (int i = 0; i < t->n_row; i++) {
			const char *s = table_get(t, i, j);
			int k = width(s ? s : "-");
			for (const char *c = s; c && *c; c++)
				k += *c == '|';
			w[j] = k > w[j] ? k : w[j];
		}
	}
	for (int j = 0; j < t->n_col; j++) {
		fputs(j ? " | " : "| ", out);
		md_cell(out, t->col[j].name, w ? w[j] : 0, t->col[j].num);
	}
	fputs(" |\n", out);
	for (int j = 0; j < t->n_col; j++) {
		int n = w ? w[j] : 3;
		fputc('|', out);
		for (int k = 0; k < n + 2 - (t->col[j].num ? 1 : 0); k++)
			fputc('-', out);
		if (t->col[j].num)
			fputc(':', out);
	}
	fputs("|\n", out);
	for (int i = 0; i < t->n_row; i++) {
		for (int j = 0; j < t->n_col; j++) {
			const char *s = table_get(t, i, j);
			fputs(j ? " | " : "| ", out);
			md_cell(out, s ? s : "-", w ? w[j] : 0, t->col[j].num);
		}
		fputs(" |\n", out);
	}
	if (t->note)
		fprintf(out, "\n%s\n", t->note);
	free(w);
}

static void csv_field(FILE *out, const char *s)
{
	if (!s)
		return;
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (const char *c = s; *c; c++)
		*c == '"' ? fputs("\"\"", out) : fputc(*c, out);
	fputc('"', out);
}

static void print_csv(const struct table *t, FILE *out)
{
	for (int j = 0; j < t->n_col; j++) {
		if (j)
			fputc(',', out);
		csv_field(out, t->col[j].name);
	}
	fputc('\n', out);
	for (int i = 0; i < t->n_row; i++) {
		for (int j = 0; j < t->n_col; j++) {
			if (j)
				fputc(',', out);
			csv_field(out, table_get(t, i, j));
		}
		fputc('\n', out);
	}
}

/* Writes s as a JSON string literal. KV_ENOMEM or 0. */
static int json_str(FILE *out, const char *s)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	if (py_json_str(&buf, &len, &cap, s, strlen(s))) {
		free(buf);
		return KV_ENOMEM;
	}
	fwrite(buf, 1, len, out);
	free(buf);
	return 0;
}

/* True when s is a whole finite JSON-compatible number ("12", "-0.5", "1e3"). */
static bool is_number(const char *s)
{
	char *end;
	if (!*s || !(*s == '-' || (*s >= '0' && *s <= '9')))
		return false;
	double v = strtod(s, &end);
	return !*end && isfinite(v) && !(s[0] == '0' && s[1] >= '0' && s[1] <= '9') &&
	       !(s[0] == '-' && s[1] == '0' && s[2] >= '0' && s[2] <= '9') && s[strlen(s) - 1] != '.';
}

static int print_json(const struct table *t, FILE *out)
{
	int rc = 0;
	fputs("{\"title\": ", out);
	rc |= json_str(out, t->title);
	if (t->note) {
		fputs(", \"note\": ", out);
		rc |= json_str(out, t->note);
	}
	fputs(", \"columns\": [", out);
	for (int j = 0; j < t->n_col; j++) {
		fputs(j ? ", " : "", out);
		rc |= json_str(out, t->col[j].name);
	}
	fputs("], \"rows\": [", out);
	for (int i = 0; i < t->n_row; i++) {
		fputs(i ? ",\n    {" : "\n    {", out);
		for (int j = 0; j < t->n_col; j++) {
			const char *s = table_get(t, i, j);
			fputs(j ? ", " : "", out);
			rc |= json_str(out, t->col[j].name);
			fputs(": ", out);
			if (!s)
				fputs("null", out);
			else if (t->col[j].num && is_number(s))
				fputs(s, out);
			else
				rc |= json_str(out, s);
		}
		fputc('}', out);
	}
	fputs(t->n_row ? "\n  ]}" : "]}", out);
	return rc ? KV_ENOMEM : 0;
}

int table_list_print(const struct table_list *l, FILE *out, enum table_format f, char *err, size_t errlen)
{
	if (f == TABLE_JSON)
		fputs("{\"tables\": [", out);
	for (int i = 0; i < l->n; i++) {
		if (f == TABLE_JSON) {
			fputs(i ? ",\n  " : "\n  ", out);
			if (print_json(l->t[i], out))
				return kv_errf(err, errlen, KV_ENOMEM, "out of memory writing JSON");
		} else {
			if (i)
				fputc('\n', out);
			f == TABLE_MD ? print_md(l->t[i], out) : print_csv(l->t[i], out);
		}
	}
	if (f == TABLE_JSON)
		fputs(l->n ? "\n]}\n" : "]}\n", out);
	if (fflush(out) != 0 || ferror(out))
		return kv_errf(err, errlen, KV_EIO, "cannot write the report (disk full or closed pipe?)");
	return 0;
}
