/* File helpers: see fileio.h. */
#include "base/fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <stdint.h>
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
