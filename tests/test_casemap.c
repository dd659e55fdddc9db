/* base/pystr.c py_lower against Python's str.lower() (tests/golden/py_lower.tsv, from
 * scripts/ref_casemap.py): every code point alone (the golden lists those that change;
 * all others must map to themselves), and the context cases of CPython's own tests
 * (final sigma around case-ignorable marks, U+0130's two code points, astral letters). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h" // kv_read_file
#include "base/pystr.h"  // py_lower
#include "tests/test.h"

#define GOLDEN "tests/golden/py_lower.tsv"

/* Parses "41 3A3 ..." (hex code points) into out; returns the count. */
static size_t parse_cps(const char *s, const char *end, uint32_t *out, size_t cap)
{
	size_t n = 0;
	while (s < end && n < cap) {
		char *e;
		unsigned long v = strtoul(s, &e, 16);
		if (e == s)
			break;
		out[n++] = (uint32_t)v;
		s = e;
		while (s < end && *s == ' ')
			s++;
	}
	return n;
}

static bool same(const struct pystr *got, const uint32_t *want, size_t n)
{
	return got->n == n && (n == 0 || memcmp(got->cp, want, n * sizeof(uint32_t)) == 0);
}

static uint32_t *g_changed; /* (0x110000,) 1 + index of the char line, 0 = maps to itself */
static char *g_text;

static void every_code_point_should_lower_as_python(void)
{
	struct pystr low = { 0 };
	int bad = 0, n_changed = 0;
	for (uint32_t c = 0; c < 0x110000; c++) {
		if (c >= 0xD800 && c <= 0xDFFF)
			continue;
		T_CHECK(py_lower(&c, 1, &low) == 0, "out of memory");
		uint32_t want[4] = { c };
		size_t nw = 1;
		if (g_changed[c]) {
			const char *line = g_text + g_changed[c] - 1, *tab = strchr(strchr(line, '\t') + 1, '\t');
			nw = parse_cps(tab + 1, strchr(tab, '\n'), want, 4);
			n_changed++;
		}
		if (!same(&low, want, nw) && bad++ < 5)
			T_CHECK(0, "U+%04X lowers to %zu code points (first U+%04X), Python gives %zu (first U+%04X)", c, low.n,
				low.n ? low.cp[0] : 0, nw, want[0]);
	}
	T_CHECK(bad == 0, "%d code points differ from Python", bad);
	printf("  %d code points change under lower(), the other %d map to themselves\n", n_changed,
	       0x110000 - 0x800 - n_changed);
	pystr_free(&low);
}

static void context_cases_should_lower_as_python(void)
{
	struct pystr low = { 0 };
	int n = 0;
	for (const char *line = g_text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, "text\t", 5) != 0)
			continue;
		const char *a = line + 5, *tab = strchr(a, '\t'), *eol = strchr(a, '\n');
		uint32_t in[64], want[128];
		size_t ni = parse_cps(a, tab, in, 64), nw = parse_cps(tab + 1, eol, want, 128);
		T_CHECK(py_lower(in, ni, &low) == 0, "out of memory");
		T_CHECK(same(&low, want, nw), "case %d (%.*s) differs from Python's lower()", n, (int)(tab - a), a);
		n++;
	}
	T_CHECK(n >= 40, "only %d context cases in %s", n, GOLDEN);
	printf("  %d context cases\n", n);
	pystr_free(&low);
}

int main(void)
{
	char err[512];
	if (kv_read_file(GOLDEN, &g_text, NULL, err, sizeof(err)) != 0) {
		printf("FAIL %s (regenerate with scripts/ref_casemap.py)\n# 0 passed, 1 failed, 0 skipped\n", err);
		return 1;
	}
	g_changed = calloc(0x110000, sizeof(*g_changed));
	for (const char *line = g_text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (strncmp(line, "char\t", 5) == 0) {
			unsigned long c = strtoul(line + 5, NULL, 16);
			if (c < 0x110000)
				g_changed[c] = (uint32_t)(line - g_text) + 1;
		}
	T_RUN(every_code_point_should_lower_as_python);
	T_RUN(context_cases_should_lower_as_python);
	free(g_changed);
	free(g_text);
	return t_done();
}
