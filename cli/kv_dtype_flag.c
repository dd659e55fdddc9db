/* --kv_dtype: see kv_dtype_flag.h. */
#include "cli/kv_dtype_flag.h"

#include "base/errors.h" // kv_errf

int cli_kv_dtype(const char *name, const struct backend_ops *be, enum kv_dtype *out, char *err, size_t errlen)
{
	enum kv_dtype t = KV_DTYPE_F32;
	int rc = name ? kv_dtype_parse(name, &t, err, errlen) : 0;
	if (rc)
		return rc;
	if (!bk_supports_kv_dtype(be, t))
		return kv_errf(err, errlen, KV_EUNSUP, "--kv_dtype %s: backend %s keeps the KV cache in f32 only (use --backend cpu)",
			       name, be->name);
	*out = t;
	return 0;
}
