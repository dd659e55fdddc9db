/* Report tables as data, printed as Markdown, CSV (RFC 4180 quoting) or JSON: every
 * kvlab report table is built as a struct table and printed by one writer, so the three
 * formats always hold the same cells. */
#ifndef KVLAB_RESULTS_TABLE_FMT_H
#define KVLAB_RESULTS_TABLE_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum table_format { TABLE_MD, TABLE_CSV, TABLE_JSON };

/* Parses "md", "csv" or "json" (NULL: md); the error names --format. */
int table_format_parse(const char *text, enum table_format *out, char *err, size_t errlen);

struct table_col {
	char *name; /* owned */
	bool num;   /* cells are numbers: right-aligned in md, JSON numbers */
};

/* One table: columns fixed first (table_col_add), then rows of cells. */
struct table {
	char *title;            /* owned; md: the line above, json: "title", csv: not printed */
	char *note;             /* owned, optional; md: the line below, json: "note" */
	int n_col, n_row;
	struct table_col *col;  /* (n_col,) owned */
	char **cell;            /* (n_row * n_col) owned strings; NULL = absent */
	size_t cap_col, cap_cell;
};

/* A list of tables printed as one document (json: {"tables": [...]}; csv: tables
 * separated by an empty line; md: by a blank line). Zero-initialised = empty. */
struct table_list {
	struct table **t; /* (n,) owned */
	int n;
	size_t cap;
};

/* Appends an empty table titled title (printf format) to l; *out is borrowed from l
 * (valid until table_list_free). KV_ENOMEM or 0. */
int table_list_add(struct table_list *l, struct table **out, const char *title, ...) __attribute__((format(printf, 3, 4)));
/* Releases every table of l and empties it. */
void table_list_free(struct table_list *l);

/* Adds a column (before any row); returns its index, or KV_ENOMEM. */
int table_col_add(struct table *t, const char *name, bool num);
/* Index of the column called name, or -1. */
int table_col_find(const struct table *t, const char *name);
/* Appends a row of absent cells; returns its index, or KV_ENOMEM. */
int table_row_add(struct table *t);
/* Sets cell (row, col) to the printf-formatted text (replacing what it held). KV_ENOMEM or 0. */
int table_set(struct table *t, int row, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Sets cell (row, col) to v with `decimals` digits after the point; NaN leaves it absent. */
int table_set_num(struct table *t, int row, int col, double v, int decimals);
/* Sets the table's note (printf format). KV_ENOMEM or 0. */
int table_note(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Borrowed: the text of cell (row, col), or NULL when absent. */
const char *table_get(const struct table *t, int row, int col);

/* Prints every table of l in format f; md columns are padded to their widest cell, never
 * cut. KV_EIO when writing fails, KV_ENOMEM. */
int table_list_print(const struct table_list *l, FILE *out, enum table_format f, char *err, size_t errlen);

#endif
