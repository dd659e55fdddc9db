/* The needle haystack: a folder of .txt essays read as run_needle_in_haystack.py reads them
 * (glob("*.txt"), open() in text mode under a UTF-8 locale, concatenated with no separator),
 * except that the order is fixed: strcmp-sorted names, where the official glob order is
 * whatever the filesystem returns (../shared/spec/eval.md 4.2). */
#include "datasets/needle.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/errors.h" // defines: kv_errf, KV_EIO, KV_EFORMAT, KV_ENOMEM
#include "base/fileio.h" // defines: kv_read_file

/* Offset of the first invalid UTF-8 sequence in s[0..n), or n (Python's strict decoder). */
static size_t utf8_invalid_at(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned c = s[i];
		size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
		if (k == 0 || i + k > n)
			return i;
		unsigned long cp = k == 1 ? c : k == 2 ? c & 0x1F : k == 3 ? c & 0x0F : c & 0x07;
		for (size_t j = 1; j < k; j++) {
			if ((s[i + j] & 0xC0) != 0x80)
				return i;
			cp = cp << 6 | (s[i + j] & 0x3F);
		}
		unsigned long min = k == 1 ? 0 : k == 2 ? 0x80 : k == 3 ? 0x800 : 0x10000;
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return i;
		i += k;
	}
	return n;
}

/* Python's universal newlines: "\r\n" and a lone "\r" both become "\n"; returns the new length. */
static size_t universal_newlines(char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r') {
			s[o++] = '\n';
			if (i + 1 < n && s[i + 1] == '\n')
				i++;
		} else {
			s[o++] = s[i];
		}
	}
	return o;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of dir's non-hidden regular *.txt files, sorted; caller frees each and the array. */
static int list_txt(const char *dir, char ***names, int *n, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	if (!d)
		return kv_errf(err, errlen, KV_EIO, "--haystack_dir %s: cannot open the folder (%s)", dir, strerror(errno));
	char **v = NULL;
	int cnt = 0, cap = 0, rc = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' || len < 4 || strcmp(e->d_name + len - 4, ".txt") != 0)
			continue;
		char path[4096];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (cnt == cap) {
			int ncap = cap ? 2 * cap : 64;
			char **nv = realloc(v, (size_t)ncap * sizeof(*nv));
			if (!nv) {
				rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory listing %s", dir);
				goto out_free;
			}
			v = nv;
			cap = ncap;
		}
		if (!(v[cnt] = strdup(e->d_name))) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory listing %s", dir);
			goto out_free;
		}
		cnt++;
	}
	closedir(d);
	if (cnt > 1)
		qsort(v, (size_t)cnt, sizeof(*v), cmp_name);
	*names = v;
	*n = cnt;
	return 0;
out_free:
	for (int i = 0; i < cnt; i++)
		free(v[i]);
	free(v);
	closedir(d);
	return rc;
}

int haystack_read_dir(const char *dir, char **text, size_t *len, int *n_files, char *err, size_t errlen)
{
	char **names = NULL, *all = NULL;
	int n = 0, rc;
	size_t total = 0;
	if ((rc = list_txt(dir, &names, &n, err, errlen)) != 0)
		return rc;
	if (n == 0) {
		rc = kv_errf(err, errlen, KV_EIO, "--haystack_dir %s: no .txt files in the folder", dir);
		goto out_names;
	}
	for (int i = 0; i < n; i++) {
		char path[4096], *buf = NULL;
		size_t blen = 0;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if ((rc = kv_read_file(path, &buf, &blen, err, errlen)) != 0)
			goto out_all;
		size_t bad = utf8_invalid_at((const unsigned char *)buf, blen);
		if (bad < blen) {
			free(buf);
			rc = kv_errf(err, errlen, KV_EFORMAT, "%s: invalid UTF-8 at byte %zu (the haystack must be UTF-8 text)", path, bad);
			goto out_all;
		}
		blen = universal_newlines(buf, blen);
		char *grown = realloc(all, total + blen + 1);
		if (!grown) {
			free(buf);
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory reading %s", path);
			goto out_all;
		}
		all = grown;
		memcpy(all + total, buf, blen);
		total += blen;
		all[total] = '\0';
		free(buf);
	}
	*text = all;
	*len = total;
	*n_files = n;
	all = NULL;
out_all:
	free(all);
out_names:
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}
