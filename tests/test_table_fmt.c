/* The report table writer (results/table_fmt.c): the same cells in md, csv and json; csv
 * quoted as RFC 4180 says, md padded (never cut) with '|' escaped, json with absent cells as
 * null and numbers as numbers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "results/table_fmt.h"
#include "test.h"

/* The text table_list_print writes for l in format f (caller frees). */
static char *print(const struct table_list *l, enum table_format f)
{
	char *out = NULL, err[128];
	size_t len = 0;
	FILE *m = open_memstream(&out, &len);
	if (!m)
		return NULL;
	int rc = table_list_print(l, m, f, err, sizeof(err));
	fclose(m);
	if (rc) {
		free(out);
		return NULL;
	}
	return out;
}

/* Two tables: a long name, a comma, a quote, a newline, a pipe, UTF-8 and an absent cell. */
static void make(struct table_list *l)
{
	struct table *t;
	T_CHECK(table_list_add(l, &t, "first %d", 1) == 0, "add");
	T_CHECK(table_col_add(t, "method", false) == 0 && table_col_add(t, "passage_retrieval_en", true) == 1 &&
			table_col_add(t, "Avg", true) == 2,
		"columns");
	int r = table_row_add(t);
	T_CHECK(r == 0 && table_set(t, r, 0, "snapkv a=1, b=\"x\"") == 0 && table_set_num(t, r, 1, 12.345, 2) == 0, "row 0");
	r = table_row_add(t);
	T_CHECK(r == 1 && table_set(t, r, 0, "line\nbreak|pipe é") == 0 && table_set_num(t, r, 2, 0.5, 2) == 0, "row 1");
	T_CHECK(table_note(t, "note %s", "here") == 0, "note");
	T_CHECK(table_list_add(l, &t, "second") == 0 && table_col_add(t, "x", false) == 0, "second table");
	T_CHECK(table_row_add(t) == 0 && table_set(t, 0, 0, "y") == 0, "second row");
}

static void csv_should_quote_commas_quotes_and_newlines_only(void)
{
	struct table_list l = { 0 };
	make(&l);
	char *s = print(&l, TABLE_CSV);
	const char *want = "method,passage_retrieval_en,Avg\n"
			   "\"snapkv a=1, b=\"\"x\"\"\",12.35,\n"
			   "\"line\nbreak|pipe é\",,0.50\n"
			   "\n"
			   "x\n"
			   "y\n";
	T_CHECK(s && !strcmp(s, want), "csv:\n%s\nwanted:\n%s", s ? s : "(null)", want);
	free(s);
	table_list_free(&l);
}

static void md_should_pad_columns_and_never_cut(void)
{
	struct table_list l = { 0 };
	make(&l);
	char *s = print(&l, TABLE_MD);
	T_CHECK(s && strstr(s, "## first 1\n\n| method             | passage_retrieval_en |  Avg |\n"),
		"md header (padded to the widest cell, the escaped pipe counted):\n%s", s ? s : "(null)");
	T_CHECK(s && strstr(s, "|--------------------|---------------------:|-----:|\n"), "md rule:\n%s", s ? s : "");
	T_CHECK(s && strstr(s, "| snapkv a=1, b=\"x\"  |                12.35 |    - |\n"), "md row 0:\n%s", s ? s : "");
	T_CHECK(s && strstr(s, "| line break\\|pipe é |                    - | 0.50 |\n"), "md row 1 (pipe escaped, é one column):\n%s",
		s ? s : "");
	T_CHECK(s && strstr(s, "\nnote here\n") && strstr(s, "\n## second\n"), "md note and second table:\n%s", s ? s : "");
	free(s);
	table_list_free(&l);
}

static void json_should_hold_numbers_nulls_and_escapes(void)
{
	struct table_list l = { 0 };
	make(&l);
	char *s = print(&l, TABLE_JSON);
	T_CHECK(s && !strncmp(s, "{\"tables\": [\n  {\"title\": \"first 1\", \"note\": \"note here\", \"columns\": [\"method\", "
				 "\"passage_retrieval_en\", \"Avg\"], \"rows\": [",
			     90),
		"json head:\n%s", s ? s : "(null)");
	T_CHECK(s && strstr(s, "{\"method\": \"snapkv a=1, b=\\\"x\\\"\", \"passage_retrieval_en\": 12.35, \"Avg\": null}"),
		"json row 0:\n%s", s ? s : "");
	T_CHECK(s && strstr(s, "{\"method\": \"line\\nbreak|pipe \\u00e9\", \"passage_retrieval_en\": null, \"Avg\": 0.50}"),
		"json row 1:\n%s", s ? s : "");
	T_CHECK(s && strstr(s, "{\"title\": \"second\", \"columns\": [\"x\"], \"rows\": [\n    {\"x\": \"y\"}\n  ]}\n]}\n"),
		"json second table:\n%s", s ? s : "");
	free(s);
	table_list_free(&l);
}

static void format_names_should_parse_and_bad_ones_name_the_flag(void)
{
	enum table_format f;
	char err[128];
	T_CHECK(table_format_parse(NULL, &f, err, sizeof(err)) == 0 && f == TABLE_MD, "default md");
	T_CHECK(table_format_parse("json", &f, err, sizeof(err)) == 0 && f == TABLE_JSON, "json");
	T_CHECK(table_format_parse("xml", &f, err, sizeof(err)) != 0 && !strcmp(err, "--format: expected md, csv or json, got 'xml'"),
		"xml: %s", err);
}

int main(void)
{
	T_RUN(csv_should_quote_commas_quotes_and_newlines_only);
	T_RUN(md_should_pad_columns_and_never_cut);
	T_RUN(json_should_hold_numbers_nulls_and_escapes);
	T_RUN(format_names_should_parse_and_bad_ones_name_the_flag);
	return t_done();
}
