/* Method labels for figure titles and legends (method_label.h). */
#include "cli/method_label.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "methods/params.h"   // struct kv_param_def, kv_param_find
#include "methods/registry.h" // kv_method_find, kv_compose_halves

/* True when the JSON value v is d's default. */
static bool is_default(const struct kv_param_def *d, const cJSON *v)
{
	switch (d->kind) {
	case KV_PARAM_INT:
	case KV_PARAM_BOOL:
		return cJSON_IsNumber(v) && v->valuedouble == (d->kind == KV_PARAM_BOOL ? (double)(d->def != 0) : d->def);
	case KV_PARAM_FLOAT: return cJSON_IsNumber(v) && v->valuedouble == d->def;
	case KV_PARAM_ENUM:
	case KV_PARAM_STRING: return cJSON_IsString(v) && strcmp(v->valuestring, d->def_str ? d->def_str : "") == 0;
	}
	return false;
}

/* True when buf holds pair (" key=value") as a whole word. */
static bool has_pair(const char *buf, const char *pair)
{
	size_t n = strlen(pair);
	for (const char *p = strstr(buf, pair); p; p = strstr(p + 1, pair))
		if (p[n] == ' ' || p[n] == '\0')
			return true;
	return false;
}

/* Appends " key=value" for each non-default parameter of obj (a method's describe JSON) to
 * buf at *o, skipping "method" and pairs already written. */
static void add_params(const cJSON *obj, const struct kv_param_def *const *table, char *buf, size_t len, size_t *o)
{
	const cJSON *v;
	cJSON_ArrayForEach(v, obj)
	{
		char pair[256];
		if (!v->string || strcmp(v->string, "method") == 0 || cJSON_IsObject(v))
			continue;
		const struct kv_param_def *d = table ? kv_param_find(table, v->string) : NULL;
		if (d && is_default(d, v))
			continue;
		if (cJSON_IsString(v))
			snprintf(pair, sizeof(pair), " %s=%s", v->string, v->valuestring);
		else if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 1e15)
			snprintf(pair, sizeof(pair), " %s=%.0f", v->string, v->valuedouble);
		else if (cJSON_IsNumber(v))
			snprintf(pair, sizeof(pair), " %s=%g", v->string, v->valuedouble);
		else if (cJSON_IsBool(v))
			snprintf(pair, sizeof(pair), " %s=%d", v->string, cJSON_IsTrue(v));
		else
			continue;
		if (has_pair(buf, pair) || *o + strlen(pair) >= len) /* whole pairs only */
			continue;
		*o += (size_t)snprintf(buf + *o, len - *o, "%s", pair);
	}
}

void method_label(const char *method, const char *method_json, char *buf, size_t len)
{
	if (!len)
		return;
	size_t o = (size_t)snprintf(buf, len, "%s", method ? method : "?");
	const struct kv_method *m = method ? kv_method_find(method) : NULL, *red = NULL, *ret = NULL;
	cJSON *j = method_json ? cJSON_Parse(method_json) : NULL;
	if (!m || !cJSON_IsObject(j))
		goto out;
	if (kv_compose_halves(m, &red, &ret)) {
		add_params(cJSON_GetObjectItemCaseSensitive(j, "reduction"), red ? red->params : NULL, buf, len, &o);
		add_params(cJSON_GetObjectItemCaseSensitive(j, "retention"), ret->params, buf, len, &o);
	} else {
		add_params(j, m->params, buf, len, &o);
	}
out:
	cJSON_Delete(j);
}
