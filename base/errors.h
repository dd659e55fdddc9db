/* Error codes and the message-buffer convention shared by every kvlab layer.
 * Actions return 0 or a negative KV_E* code and write one line into the caller's
 * buffer naming the file/flag/value and what was expected. No exit() below main. */
#ifndef KVLAB_BASE_ERRORS_H
#define KVLAB_BASE_ERRORS_H

#include <stddef.h>

enum kv_err {
	KV_OK = 0,
	KV_EINVAL = -1,   /* bad argument or flag value */
	KV_EIO = -2,      /* file missing, unreadable, short read */
	KV_EFORMAT = -3,  /* file readable but malformed */
	KV_EUNSUP = -4,   /* well-formed but not supported (type, architecture) */
	KV_ENOMEM = -5,   /* allocation failed */
	KV_EINTERNAL = -6 /* invariant broken inside kvlab */
};

/* Formats a message into err (if err != NULL) and returns code. */
int kv_errf(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Returns a static name for a KV_E* code ("EINVAL", ...). */
const char *kv_err_name(int code);

#endif
