/* SHA-256 helpers: see sha256.h. */
#include "base/sha256.h"

#include <sys/types.h>
#include <sha2.h> // SHA256Init/Update/End/File (libmd)

void sha256_hex(const void *data, size_t len, char hex[65])
{
	SHA2_CTX c;
	SHA256Init(&c);
	SHA256Update(&c, data, len);
	SHA256End(&c, hex);
}

bool sha256_file_hex(const char *path, char hex[65])
{
	return SHA256File(path, hex) != NULL;
}
