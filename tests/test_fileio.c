/* base/fileio.c: the JSONL line splitter (blank lines, CRLF, missing final newline,
 * line numbers) and the read-only file mapping with its errors (missing file, folder,
 * file too short for its format). */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/errors.h"
#include "base/fileio.h"
#include "tests/test.h"

static void next_line_skips_blank_lines_and_counts_physical_lines(void)
{
	char text[] = "\n{\"a\":1}\r\n  \t\r\n\n{\"b\":2}\n\f\n{\"c\":3}";
	const char *want[] = { "{\"a\":1}\r", "{\"b\":2}", "{\"c\":3}" };
	const int want_no[] = { 2, 5, 7 };
	char *cur = text, *line;
	int lineno = 0, n = 0;
	while ((line = kv_next_line(&cur, &lineno))) {
		T_CHECK(n < 3, "more than 3 lines; extra '%s'", line);
		if (n >= 3)
			break;
		T_CHECK(strcmp(line, want[n]) == 0, "line %d is '%s', expected '%s'", n, line, want[n]);
		T_CHECK(lineno == want_no[n], "line %d numbered %d, expected %d", n, lineno, want_no[n]);
		n++;
	}
	T_CHECK(n == 3, "%d lines, expected 3", n);
	T_CHECK(kv_next_line(&cur, &lineno) == NULL, "end is sticky");
}

static void next_line_on_empty_and_blank_text_returns_nothing(void)
{
	char empty[] = "", blank[] = "\n \n\r\n";
	char *cur = empty;
	T_CHECK(kv_next_line(&cur, NULL) == NULL, "empty text has no line");
	cur = blank;
	int lineno = 0;
	T_CHECK(kv_next_line(&cur, &lineno) == NULL, "blank text has no line");
	T_CHECK(lineno == 3, "three physical lines counted, got %d", lineno);
}

static void map_file_maps_contents_and_names_the_problem(void)
{
	char dir[] = "/tmp/kvlab_fileio_XXXXXX", path[64], err[256];
	T_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(path, sizeof(path), "%s/f.bin", dir);
	FILE *f = fopen(path, "wb");
	T_CHECK(f && fwrite("0123456789", 1, 10, f) == 10, "write %s", path);
	if (f)
		fclose(f);

	const void *map = NULL;
	size_t size = 0;
	T_CHECK(kv_map_file(path, "a test file", 10, &map, &size, err, sizeof(err)) == 0, "%s", err);
	if (map) {
		T_CHECK(size == 10 && memcmp(map, "0123456789", 10) == 0, "mapped contents");
		kv_unmap_file(map, size);
	}

	T_CHECK(kv_map_file(path, "a test file", 11, &map, &size, err, sizeof(err)) == KV_EFORMAT, "short file");
	T_CHECK(strstr(err, "f.bin: 10 bytes, too short for a test file (needs 11)") != NULL, "message: %s", err);
	T_CHECK(kv_map_file(dir, "a test file", 1, &map, &size, err, sizeof(err)) == KV_EIO, "folder");
	T_CHECK(strstr(err, "not a regular file; expected a test file") != NULL, "message: %s", err);
	unlink(path);
	T_CHECK(kv_map_file(path, "a test file", 1, &map, &size, err, sizeof(err)) == KV_EIO, "missing");
	T_CHECK(strstr(err, "cannot open") && strstr(err, "expected a test file"), "message: %s", err);
	rmdir(dir);
}

int main(void)
{
	T_RUN(next_line_skips_blank_lines_and_counts_physical_lines);
	T_RUN(next_line_on_empty_and_blank_text_returns_nothing);
	T_RUN(map_file_maps_contents_and_names_the_problem);
	return t_done();
}
