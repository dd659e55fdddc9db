/* File helpers: see fileio.h. */
#include "base/fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <stdint.h>
#include <utf8proc.h> // utf8proc_iterate
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/errors.h"

int kv_read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	FILE *f = fopen(path, "rb");
	if (!f)
		return kv_errf(err, errlen, KV_EIO, "%s: cannot open (%s)", path, strerror(errno));
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		fclose(f);
		return kv_errf(err, errlen, KV_EIO, "%s: not a regular file", path);
	}
	char *buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		fclose(f);
		return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory (%lld bytes)", path, (long long)st.st_size);
	}
	size_t n = fread(buf, 1, (size_t)st.st_size, f);
	int bad = ferror(f);
	fclose(f);
	if (bad || n != (size_t)st.st_size) {
		free(buf);
		return kv_errf(err, errlen, KV_EIO, "%s: short read (%zu of %lld bytes)", path, n, (long long)st.st_size);
	}
	buf[n] = 0;
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

int kv_map_file(const char *path, const char *what, size_t min_size, const void **map, size_t *size,
		char *err, size_t errlen)
{
	struct stat st;
	int rc = 0;
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return kv_errf(err, errlen, KV_EIO, "%s: cannot open (%s); expected %s", path, strerror(errno), what);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = kv_errf(err, errlen, KV_EIO, "%s: not a regular file; expected %s", path, what);
	} else if ((unsigned long long)st.st_size < min_size) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: %lld bytes, too short for %s (needs %zu)", path,
			     (long long)st.st_size, what, min_size);
	} else {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED) {
			rc = kv_errf(err, errlen, KV_EIO, "%s: mmap failed (%s)", path, strerror(errno));
		} else {
			*map = m;
			*size = (size_t)st.st_size;
		}
	}
	close(fd);
	return rc;
}

char *kv_next_line(char **cur, int *lineno)
{
	char *line = *cur;
	while (line && *line) {
		char *next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (lineno)
			++*lineno;
		*cur = next;
		if (strspn(line, " \t\r\v\f") != strlen(line))
			return line;
		line = next;
	}
	*cur = NULL;
	return NULL;
}

void kv_unmap_file(const void *map, size_t size)
{
	if (map)
		munmap((void *)(uintptr_t)map, size); /* the mapping is read-only; munmap takes void * */
}

int kv_check_utf8_line(const char *path, int lineno, const char *line, char *err, size_t errlen)
{
	const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)line;
	size_t n = strlen(line);
	for (size_t i = 0; i < n;) {
		utf8proc_int32_t c;
		utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &c);
		if (k <= 0)
			return kv_errf(err, errlen, KV_EFORMAT, "%s:%d: invalid UTF-8 at byte %zu of the line (0x%02x); expected UTF-8 text",
				       path, lineno, i + 1, p[i]);
		i += (size_t)k;
	}
	return 0;
}

int kv_mkdir_p(const char *path, const char *flag, char *err, size_t errlen)
{
	char buf[4096];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof(buf))
		return kv_errf(err, errlen, KV_EIO, "%s %s: cannot create the folder (empty or too long a path)", flag, path);
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != 0)
			continue;
		char c = buf[i];
		buf[i] = 0;
		struct stat sb;
		if (mkdir(buf, 0755) != 0 && !(errno == EEXIST && stat(buf, &sb) == 0 && S_ISDIR(sb.st_mode)))
			return kv_errf(err, errlen, KV_EIO, "%s %s: cannot create the folder %s (%s)", flag, path, buf,
				       errno == EEXIST ? "a file is in the way" : strerror(errno));
		buf[i] = c;
	}
	return 0;
}
