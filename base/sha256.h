/* SHA-256 as lower-case hex (libmd): run ids, data and file hashes. */
#ifndef KVLAB_BASE_SHA256_H
#define KVLAB_BASE_SHA256_H

#include <stdbool.h>
#include <stddef.h>

/* Writes the SHA-256 of data[0..len) as 64 hex chars + NUL into hex. */
void sha256_hex(const void *data, size_t len, char hex[65]);
/* Writes the SHA-256 of the file at path into hex; false when it cannot be read. */
bool sha256_file_hex(const char *path, char hex[65]);

#endif
