/* Small file helpers shared by every layer. */
#ifndef KVLAB_BASE_FILEIO_H
#define KVLAB_BASE_FILEIO_H

#include <stddef.h>

/* Reads the whole file into a malloc'd NUL-terminated buffer (caller frees);
 * *len (optional) excludes the NUL. */
int kv_read_file(const char *path, char **out, size_t *len, char *err, size_t errlen);

/* Cuts the next non-blank line off the writable text at *cur (NUL-terminating it in place) and
 * returns it, or NULL at the end; *cur moves past it and *lineno (optional) becomes its 1-based
 * line number. Blank means only spaces, tabs, CR, VT or FF. Iterates JSONL files read whole. */
char *kv_next_line(char **cur, int *lineno);

/* Maps a regular file of at least min_size bytes read-only; on success *map and *size describe it
 * (caller releases with kv_unmap_file). `what` names the expected content in messages ("a GGUF model file");
 * a shorter file is KV_EFORMAT "PATH: N bytes, too short for WHAT (needs MIN)". */
int kv_map_file(const char *path, const char *what, size_t min_size, const void **map, size_t *size,
		char *err, size_t errlen);
/* Checks that line (NUL-terminated, line lineno of path) is valid UTF-8; otherwise
 * KV_EFORMAT "PATH:LINE: invalid UTF-8 at byte B of the line (0xXX); expected UTF-8 text". */
int kv_check_utf8_line(const char *path, int lineno, const char *line, char *err, size_t errlen);
/* mkdir -p: creates path and its missing parents (mode 0755). 0, or KV_EIO with
 * "FLAG PATH: cannot create the folder (reason)" (flag: e.g. "--out"). */
int kv_mkdir_p(const char *path, const char *flag, char *err, size_t errlen);
/* Releases a mapping made by kv_map_file (map may be NULL). */
void kv_unmap_file(const void *map, size_t size);

#endif
