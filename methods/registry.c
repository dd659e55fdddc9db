/* Method registry, method lists and policy construction: see registry.h. */
#include "methods/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "methods/params.h"

const struct kv_method *const kv_methods[] = {
	&fullkv_method, &fastkv_method, &gemfilter_method, &snapkv_method,
	&streamingllm_method, &h2o_method, &pyramidinfer_method,
	&adakv_method, &pyramidkv_method, &tova_method, &expected_attention_method, /* kvpress 0.5.5 retention (issue 23) */
	&kvzip_method, /* kvpress 0.5.5 KVzip: context reconstruction after the prefill (issue 23) */
	NULL,
};

static const struct kv_method *find_in(const struct kv_method *const *table, const char *name)
{
	for (int i = 0; table[i]; i++)
		if (strcmp(table[i]->name, name) == 0)
			return table[i];
	return kv_compose_find(name);
}

const struct kv_method *kv_method_find(const char *name)
{
	return find_in(kv_methods, name);
}

void kv_method_names(const struct kv_method *const *table, const char *sep, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = 0;
	for (int i = 0; table[i] && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? sep : "", table[i]->name);
}

int kv_method_lookup(const struct kv_method *const *table, const char *name, const struct kv_method **out, char *err,
		     size_t errlen)
{
	const struct kv_method *m = find_in(table, name);
	if (!m && strchr(name, '+'))
		return kv_compose_error("--method", name, err, errlen);
	if (!m) {
		char list[512];
		kv_method_names(table, ", ", list, sizeof(list));
		return kv_errf(err, errlen, KV_EINVAL, "--method: expected one of %s, got '%s'", list, name);
	}
	*out = m;
	return 0;
}

int kv_param_takers(const struct kv_method *const *table, const char *key, char *buf, size_t len)
{
	size_t o = 0;
	int n = 0;
	buf[0] = 0;
	for (int i = 0; table[i]; i++)
		if (kv_param_find(table[i]->params, key) && o < len) {
			o += (size_t)snprintf(buf + o, len - o, "%s%s", n ? ", " : "", table[i]->name);
			n++;
		}
	return n;
}

/* The error for key, given to methods (names in `methods`) that do not take it. */
static int not_taken(const struct kv_method *const *table, const char *key, const char *methods, char *err, size_t errlen)
{
	char takers[256];
	if (kv_param_takers(table, key, takers, sizeof(takers)) == 0)
		return kv_errf(err, errlen, KV_EINVAL, "--%s: unknown method parameter", key);
	return kv_errf(err, errlen, KV_EINVAL, "--%s: not a parameter of %s (taken by %s)", key, methods, takers);
}

// ----------------------------------------------------------------------------
// method lists

/* Fills e from one entry "NAME[:key=value]..." of a list of n_entries. */
static int parse_entry(const struct kv_method *const *table, const char *flag, const char *entry, int n_entries,
		       const struct kv_args *shared, struct kv_method_entry *e, char *err, size_t errlen)
{
	int rc;
	if (strlen(entry) >= sizeof(e->label))
		return kv_errf(err, errlen, KV_EINVAL, "%s: entry '%.40s...' is longer than %zu characters", flag, entry,
			       sizeof(e->label) - 1);
	strcpy(e->label, entry);
	strcpy(e->text, entry);
	char *save = NULL;
	char *name = strtok_r(e->text, ":", &save);
	if (!name || !*name || entry[0] == ':')
		return kv_errf(err, errlen, KV_EINVAL, "%s: entry '%s' has no method name (expected NAME[:key=value]...)", flag,
			       e->label);
	if (!(e->m = find_in(table, name))) {
		char list[512];
		if (strchr(name, '+')) {
			snprintf(list, sizeof(list), "%s entry '%s': --method", flag, e->label);
			return kv_compose_error(n_entries == 1 && strcmp(name, e->label) == 0 ? "--method" : list, name, err, errlen);
		}
		kv_method_names(table, ", ", list, sizeof(list));
		if (n_entries == 1 && strcmp(name, e->label) == 0)
			return kv_errf(err, errlen, KV_EINVAL, "--method: expected one of %s, got '%s'", list, name);
		return kv_errf(err, errlen, KV_EINVAL, "%s entry '%s': --method: expected one of %s, got '%s'", flag, e->label,
			       list, name);
	}
	for (int i = 0; shared && i < shared->n; i++)
		if (kv_param_find(e->m->params, shared->v[i].key) &&
		    (rc = kv_args_set(&e->args, shared->v[i].key, shared->v[i].val, err, errlen)))
			return rc;
	for (char *kv; (kv = strtok_r(NULL, ":", &save));) {
		char *eq = strchr(kv, '=');
		if (!eq || eq == kv || !eq[1])
			return kv_errf(err, errlen, KV_EINVAL, "%s: '%s' in entry '%s' is not key=value", flag, kv, e->label);
		*eq = 0;
		if (!kv_param_find(e->m->params, kv)) {
			char takers[256];
			if (kv_param_takers(table, kv, takers, sizeof(takers)) == 0)
				return kv_errf(err, errlen, KV_EINVAL,
					       "%s: unknown key '%s' in entry '%s' (keys are the method flags without --, e.g. tsp_idx=10)",
					       flag, kv, e->label);
			return kv_errf(err, errlen, KV_EINVAL, "%s: '%s' in entry '%s' is not a parameter of %s (taken by %s)", flag, kv,
				       e->label, e->m->name, takers);
		}
		if ((rc = kv_args_set(&e->args, kv, eq + 1, err, errlen)))
			return rc;
	}
	return 0;
}

int kv_method_list_parse(const struct kv_method *const *table, const char *flag, const char *spec,
			 const struct kv_args *shared, struct kv_method_entry **out, int *n, char *err, size_t errlen)
{
	int cap = 1, k = 0, rc = 0;
	for (const char *p = spec; *p; p++)
		cap += *p == ',';
	struct kv_method_entry *e = calloc((size_t)cap, sizeof(*e));
	if (!e)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	const char *p = spec;
	for (int i = 0; i < cap; i++) {
		size_t len = strcspn(p, ",");
		char entry[sizeof(e->label) + 1];
		if (len == 0) {
			rc = kv_errf(err, errlen, KV_EINVAL, "%s: empty entry at position %d (expected NAME[:key=value],...)", flag, i + 1);
			goto out_fail;
		}
		snprintf(entry, sizeof(entry), "%.*s", (int)(len < sizeof(entry) - 1 ? len : sizeof(entry) - 1), p);
		k = i + 1; /* entry i holds allocations from here on */
		if ((rc = parse_entry(table, flag, entry, cap, shared, &e[i], err, errlen)))
			goto out_fail;
		for (int j = 0; j < i; j++)
			if (strcmp(e[j].label, e[i].label) == 0) {
				rc = kv_errf(err, errlen, KV_EINVAL, "%s: '%s' is listed twice", flag, e[i].label);
				goto out_fail;
			}
		p += len + (p[len] == ',');
	}
	/* a shared flag must reach at least one listed method */
	for (int s = 0; shared && s < shared->n; s++) {
		bool taken = false;
		for (int i = 0; i < k && !taken; i++)
			taken = kv_param_find(e[i].m->params, shared->v[s].key) != NULL;
		if (taken)
			continue;
		char names[512];
		size_t o = 0;
		names[0] = 0;
		for (int i = 0; i < k && o < sizeof(names); i++) {
			bool seen = false;
			for (int j = 0; j < i; j++)
				seen = seen || e[j].m == e[i].m;
			if (!seen)
				o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s", o ? ", " : "", e[i].m->name);
		}
		rc = not_taken(table, shared->v[s].key, names, err, errlen);
		goto out_fail;
	}
	*out = e;
	*n = k;
	return 0;
out_fail:
	kv_method_list_free(e, k);
	return rc;
}

void kv_method_list_free(struct kv_method_entry *e, int n)
{
	for (int i = 0; e && i < n; i++)
		kv_args_free(&e[i].args);
	free(e);
}

// ----------------------------------------------------------------------------
// policies

int kv_policy_make(const struct kv_method *m, const struct kv_args *args, const struct kv_shape *shape,
		   struct kv_policy *out, char *err, size_t errlen)
{
	int n = args ? args->n : 0, k = 0, rc;
	for (int i = 0; i < n; i++)
		if (!kv_param_find(m->params, args->v[i].key))
			return not_taken(kv_methods, args->v[i].key, m->name, err, errlen);
	const char **keys = calloc((size_t)n + 1, sizeof(*keys)), **vals = calloc((size_t)n + 1, sizeof(*vals));
	if (!keys || !vals) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		goto out;
	}
	/* in the method's table order, whatever order the command line gave */
	for (int t = 0; m->params && m->params[t]; t++) {
		const char *v = kv_args_get(args, m->params[t]->name);
		if (v) {
			keys[k] = m->params[t]->name;
			vals[k++] = v;
		}
	}
	out->m = m;
	out->state = NULL;
	rc = m->init(keys, vals, k, shape, &out->state, err, errlen);
out:
	free(keys);
	free(vals);
	return rc;
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
