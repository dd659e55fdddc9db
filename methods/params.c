/* Method parameters: parsing, defaults, budgets. See params.h. */
#include "methods/params.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"

const char *const kv_param_keys[] = {
	"eviction_mode", "retain_rate", "max_capacity_prompts", "window_size", "kernel_size", "pooling",
	"tsp_idx", "tsp_rate", "tsp_len", "filter_idx", "h2o_causal", "per_kv_head",
	"pyramid_preset", "pyramid_decay_ratio", "pyramid_recent_ratio", "pyramid_decode", NULL,
};

void kv_params_defaults(struct kv_params *p)
{
	memset(p, 0, sizeof(*p));
	p->eviction_mode = KV_EVICT_CONSTANT;
	p->retain_rate = 0.1;
	p->max_capacity_prompts = 512;
	p->window_size = 8;
	p->kernel_size = 7;
	p->pooling = KV_POOLING_MAX;
	p->tsp_idx = 15;
	p->tsp_rate = 0.2;
	p->tsp_len = 2048;
	p->filter_idx = 13;
	p->pyramid_decay = -1;
	p->pyramid_recent = -1;
}

static int key_index(const char *key)
{
	for (int i = 0; kv_param_keys[i]; i++)
		if (strcmp(kv_param_keys[i], key) == 0)
			return i;
	return -1;
}

bool kv_params_given(const struct kv_params *p, const char *key)
{
	int i = key_index(key);
	return i >= 0 && p->given[i];
}

static int parse_int(const char *key, const char *val, long lo, long hi, int *out, char *err, size_t errlen)
{
	char *end;
	errno = 0;
	long v = strtol(val, &end, 10);
	if (errno || end == val || *end || v < lo || v > hi)
		return kv_errf(err, errlen, KV_EINVAL, "--%s: expected an integer in [%ld, %ld], got '%s'", key, lo, hi, val);
	*out = (int)v;
	return 0;
}

/* A number in (lo, hi] when open_lo, else [lo, hi]. */
static int parse_num(const char *key, const char *val, double lo, double hi, bool open_lo, double *out, char *err,
		     size_t errlen)
{
	char *end;
	errno = 0;
	double v = strtod(val, &end);
	if (errno || end == val || *end || !isfinite(v) || v > hi || (open_lo ? v <= lo : v < lo))
		return kv_errf(err, errlen, KV_EINVAL, "--%s: expected a number in %c%g, %g], got '%s'", key, open_lo ? '(' : '[',
			       lo, hi, val);
	*out = v;
	return 0;
}

static int parse_bool(const char *key, const char *val, bool *out, char *err, size_t errlen)
{
	if (strcmp(val, "0") == 0 || strcmp(val, "1") == 0) {
		*out = val[0] == '1';
		return 0;
	}
	return kv_errf(err, errlen, KV_EINVAL, "--%s: expected 0 or 1, got '%s'", key, val);
}

static int parse_one(struct kv_params *p, const char *key, const char *val, char *err, size_t errlen)
{
	int rc = 0;
	if (strcmp(key, "eviction_mode") == 0) {
		if (strcmp(val, "constant") == 0)
			p->eviction_mode = KV_EVICT_CONSTANT;
		else if (strcmp(val, "proportional") == 0)
			p->eviction_mode = KV_EVICT_PROPORTIONAL;
		else
			rc = kv_errf(err, errlen, KV_EINVAL, "--eviction_mode: expected constant or proportional, got '%s'", val);
	} else if (strcmp(key, "pooling") == 0) {
		if (strcmp(val, "maxpool") == 0)
			p->pooling = KV_POOLING_MAX;
		else if (strcmp(val, "avgpool") == 0)
			p->pooling = KV_POOLING_AVG;
		else
			rc = kv_errf(err, errlen, KV_EINVAL, "--pooling: expected maxpool or avgpool, got '%s'", val);
	} else if (strcmp(key, "retain_rate") == 0) {
		rc = parse_num(key, val, 0, 1, true, &p->retain_rate, err, errlen);
	} else if (strcmp(key, "tsp_rate") == 0) {
		rc = parse_num(key, val, 0, 1, true, &p->tsp_rate, err, errlen);
	} else if (strcmp(key, "max_capacity_prompts") == 0) {
		rc = parse_int(key, val, 1, 1 << 30, &p->max_capacity_prompts, err, errlen);
	} else if (strcmp(key, "window_size") == 0) {
		rc = parse_int(key, val, 1, 1 << 20, &p->window_size, err, errlen);
	} else if (strcmp(key, "kernel_size") == 0) {
		rc = parse_int(key, val, 1, 1023, &p->kernel_size, err, errlen);
		if (!rc && p->kernel_size % 2 == 0)
			rc = kv_errf(err, errlen, KV_EINVAL, "--kernel_size: expected an odd integer (pooling keeps the length only for odd kernels), got '%s'", val);
	} else if (strcmp(key, "tsp_idx") == 0) {
		rc = parse_int(key, val, 0, 1023, &p->tsp_idx, err, errlen);
	} else if (strcmp(key, "tsp_len") == 0) {
		rc = parse_int(key, val, 1, 1 << 30, &p->tsp_len, err, errlen);
	} else if (strcmp(key, "filter_idx") == 0) {
		rc = parse_int(key, val, 0, 1023, &p->filter_idx, err, errlen);
	} else if (strcmp(key, "h2o_causal") == 0) {
		rc = parse_bool(key, val, &p->h2o_causal, err, errlen);
	} else if (strcmp(key, "per_kv_head") == 0) {
		rc = parse_bool(key, val, &p->per_kv_head, err, errlen);
	} else if (strcmp(key, "pyramid_preset") == 0) {
		if (strlen(val) >= sizeof(p->pyramid_preset))
			rc = kv_errf(err, errlen, KV_EINVAL, "--pyramid_preset: name too long: '%s'", val);
		else
			snprintf(p->pyramid_preset, sizeof(p->pyramid_preset), "%s", val);
	} else if (strcmp(key, "pyramid_decay_ratio") == 0) {
		rc = parse_num(key, val, 0, 1, false, &p->pyramid_decay, err, errlen);
	} else if (strcmp(key, "pyramid_recent_ratio") == 0) {
		rc = parse_num(key, val, 0, 0.999, false, &p->pyramid_recent, err, errlen);
	} else if (strcmp(key, "pyramid_decode") == 0) {
		if (strcmp(val, "official") == 0)
			p->pyramid_decode = 0;
		else if (strcmp(val, "layer") == 0)
			p->pyramid_decode = 1;
		else
			rc = kv_errf(err, errlen, KV_EINVAL, "--pyramid_decode: expected official or layer, got '%s'", val);
	} else {
		rc = kv_errf(err, errlen, KV_EINVAL, "--%s: unknown method parameter", key);
	}
	return rc;
}

int kv_params_parse(struct kv_params *p, const char *const *keys, const char *const *vals, int n,
		    const struct kv_shape *shape, char *err, size_t errlen)
{
	int rc;
	for (int i = 0; i < n; i++) {
		if ((rc = parse_one(p, keys[i], vals[i], err, errlen)))
			return rc;
		int ki = key_index(keys[i]);
		if (ki >= 0)
			p->given[ki] = true;
	}
	/* layer indices given explicitly must fit the model; methods check the defaults they use */
	if (shape && kv_params_given(p, "tsp_idx") && (rc = kv_params_check_layer(p, "tsp_idx", shape, err, errlen)))
		return rc;
	if (shape && kv_params_given(p, "filter_idx") && (rc = kv_params_check_layer(p, "filter_idx", shape, err, errlen)))
		return rc;
	return 0;
}

int kv_params_check_layer(const struct kv_params *p, const char *key, const struct kv_shape *shape, char *err, size_t errlen)
{
	int v = !strcmp(key, "tsp_idx") ? p->tsp_idx : p->filter_idx;
	if (v >= shape->n_layer)
		return kv_errf(err, errlen, KV_EINVAL, "--%s: expected a layer in [0, %d] for this %d-layer model, got %d", key,
			       shape->n_layer - 1, shape->n_layer, v);
	return 0;
}

int kv_budget(const struct kv_params *p, int n, double rate, int cap)
{
	if (p->eviction_mode == KV_EVICT_CONSTANT)
		return cap;
	return (int)floor((double)n * rate);
}

void kv_params_json(const struct kv_params *p, const char *method, const char *const *keys, char *buf, size_t len)
{
	size_t o = (size_t)snprintf(buf, len, "{\"method\":\"%s\"", method);
	for (int i = 0; keys && keys[i] && o < len; i++) {
		const char *k = keys[i];
		if (strcmp(k, "eviction_mode") == 0)
			o += snprintf(buf + o, len - o, ",\"%s\":\"%s\"", k, p->eviction_mode == KV_EVICT_CONSTANT ? "constant" : "proportional");
		else if (strcmp(k, "pooling") == 0)
			o += snprintf(buf + o, len - o, ",\"%s\":\"%s\"", k, p->pooling == KV_POOLING_MAX ? "maxpool" : "avgpool");
		else if (strcmp(k, "retain_rate") == 0)
			o += snprintf(buf + o, len - o, ",\"%s\":%.17g", k, p->retain_rate);
		else if (strcmp(k, "tsp_rate") == 0)
			o += snprintf(buf + o, len - o, ",\"%s\":%.17g", k, p->tsp_rate);
		else if (strcmp(k, "max_capacity_prompts") == 0)
			o += snprintf(buf + o, len - o, ",\"%s\":%d", k, p->max_capacity_prompts);
		else if (strcmp(k, "window_size") == 0)
			o += snprintf(buf + o, len - o, ",\"%s\":%d", k, p->window_size);
		else if (strcmp(k, "kernel_size") == 0)
			o += snprintf(buf + o, len - o, ",\"%s\":%d", k, p->kernel_size);
		else if (strcmp(k, "tsp_idx") == 0)
			o += snprintf(buf + o, len - o, ",\"%s\":%d", k, p->tsp_idx);
		else if (strcmp(k, "tsp_len") == 0)
			o += snprintf(buf + o, len - o, ",\"%s\":%d", k, p->tsp_len);
		else if (strcmp(k, "filter_idx") == 0)
			o += snprintf(buf + o, len - o, ",\"%s\":%d", k, p->filter_idx);
		else if (strcmp(k, "h2o_causal") == 0)
			o += snprintf(buf + o, len - o, ",\"%s\":%d", k, p->h2o_causal);
		else if (strcmp(k, "per_kv_head") == 0)
			o += snprintf(buf + o, len - o, ",\"%s\":%d", k, p->per_kv_head);
	}
	if (o < len)
		snprintf(buf + o, len - o, "}");
}

int kv_pstate_new(const char *const *keys, const char *const *vals, int n, const struct kv_shape *shape,
		  void **state, char *err, size_t errlen)
{
	struct kv_pstate *st = calloc(1, sizeof(*st));
	int rc;
	if (!st)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	kv_params_defaults(&st->p);
	st->shape = *shape;
	if ((rc = kv_params_parse(&st->p, keys, vals, n, shape, err, errlen))) {
		free(st);
		return rc;
	}
	*state = st;
	return 0;
}

int kv_params_check_window(const struct kv_params *p, const char *method, char *err, size_t errlen)
{
	if (p->eviction_mode == KV_EVICT_CONSTANT && p->max_capacity_prompts <= p->window_size)
		return kv_errf(err, errlen, KV_EINVAL,
			       "--max_capacity_prompts: %s needs a budget above --window_size (%d), got %d",
			       method, p->window_size, p->max_capacity_prompts);
	return 0;
}
