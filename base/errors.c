/* Error-message helper: see errors.h. */
#include "base/errors.h"

#include <stdarg.h>
#include <stdio.h>

int kv_errf(char *err, size_t errlen, int code, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

const char *kv_err_name(int code)
{
	switch (code) {
	case KV_OK: return "OK";
	case KV_EINVAL: return "EINVAL";
	case KV_EIO: return "EIO";
	case KV_EFORMAT: return "EFORMAT";
	case KV_EUNSUP: return "EUNSUP";
	case KV_ENOMEM: return "ENOMEM";
	case KV_EINTERNAL: return "EINTERNAL";
	}
	return "E?";
}
