/* --backend and --dtype: see backend_flag.h. */
#include "cli/backend_flag.h"

#include <string.h>

#include "base/errors.h"    // kv_errf
#include "engine/backend.h" // backend_by_name_dtype

int cli_backend(const char *name, const char *dtype, const struct backend_ops **out, char *err, size_t errlen)
{
	char why[384];
	name = name ? name : "";
	if (dtype && strcmp(dtype, "fp32") && strcmp(dtype, "bf16") && strcmp(dtype, "int8"))
		return kv_errf(err, errlen, KV_EINVAL, "--dtype %s: expected fp32, bf16 or int8", dtype);
	int rc = backend_by_name_dtype(name, dtype, out, why, sizeof(why));
	if (rc && dtype && !strcmp(name, "cpu"))
		return kv_errf(err, errlen, rc, "--dtype %s: %s", dtype, why);
	if (rc)
		return kv_errf(err, errlen, rc, "--backend %s: %s", name, why);
	return 0;
}
