/* Method registry: see registry.h. */
#include "methods/registry.h"

#include <stdio.h>
#include <string.h>

#include "base/errors.h"
#include "methods/params.h"

const struct kv_method *const kv_methods[] = {
	&fullkv_method, &fastkv_method, &gemfilter_method, &snapkv_method,
	&streamingllm_method, &h2o_method, &pyramidinfer_method, NULL,
};

_Static_assert(KV_MAX_PARAMS >= 16, "method_args.vals must hold every kv_param_keys entry");

const struct kv_method *kv_method_find(const char *name)
{
	for (int i = 0; kv_methods[i]; i++)
		if (strcmp(kv_methods[i]->name, name) == 0)
			return kv_methods[i];
	return NULL;
}

int kv_policy_make(const struct method_args *a, const struct kv_shape *shape, struct kv_policy *out,
		   char *err, size_t errlen)
{
	const char *name = a->method ? a->method : "fullkv";
	const struct kv_method *m = kv_method_find(name);
	if (!m) {
		char list[256] = "";
		for (int i = 0; kv_methods[i]; i++) {
			size_t n = strlen(list);
			snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", kv_methods[i]->name);
		}
		return kv_errf(err, errlen, KV_EINVAL, "--method: expected one of %s, got '%s'", list, name);
	}
	const char *keys[KV_MAX_PARAMS], *vals[KV_MAX_PARAMS];
	int n = 0;
	for (int i = 0; kv_param_keys[i] && i < KV_MAX_PARAMS; i++)
		if (a->vals[i]) {
			keys[n] = kv_param_keys[i];
			vals[n++] = a->vals[i];
		}
	out->m = m;
	out->state = NULL;
	return m->init(keys, vals, n, shape, &out->state, err, errlen);
}

void kv_policy_free(struct kv_policy *p)
{
	if (p && p->m && p->state)
		p->m->free_state(p->state);
	if (p)
		p->state = NULL;
}

void kv_policy_describe(const struct kv_policy *p, char *buf, size_t len)
{
	if (p->m && p->m->describe)
		p->m->describe(p->state, buf, len);
	else
		snprintf(buf, len, "{\"method\":\"%s\"}", p->m ? p->m->name : "fullkv");
}
