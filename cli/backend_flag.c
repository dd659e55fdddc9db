/* --backend: see backend_flag.h. */
#include "cli/backend_flag.h"

#include "base/errors.h"    // kv_errf
#include "engine/backend.h" // backend_by_name

int cli_backend(const char *name, const struct backend_ops **out, char *err, size_t errlen)
{
	char why[384];
	int rc = backend_by_name(name ? name : "", out, why, sizeof(why));
	if (rc)
		return kv_errf(err, errlen, rc, "--backend %s: %s", name ? name : "", why);
	return 0;
}
