/* Method parameters: the shared definitions, the table-driven parser, the describe
 * JSON, budgets and key=value lists. See params.h. */
#include "methods/params.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"

// ----------------------------------------------------------------------------
// the parameters several methods take

static const char *const eviction_modes[] = { "constant", "proportional", NULL };
static const char *const poolings[] = { "maxpool", "avgpool", NULL };

const struct kv_param_def kv_param_eviction_mode = {
	.name = "eviction_mode", .kind = KV_PARAM_ENUM, .offset = offsetof(struct kv_params, eviction_mode),
	.choices = eviction_modes, .def_str = "constant", .metavar = "MODE",
	.help = "constant (absolute budgets) or proportional (fractions of the prompt)",
};
const struct kv_param_def kv_param_retain_rate = {
	.name = "retain_rate", .kind = KV_PARAM_FLOAT, .offset = offsetof(struct kv_params, retain_rate),
	.lo = 0, .hi = 1, .lo_open = true, .flags = KV_PARAM_PROPORTIONAL, .def = 0.1, .metavar = "R",
	.help = "proportional: KV rows kept per layer and head, window included",
};
const struct kv_param_def kv_param_max_capacity_prompts = {
	.name = "max_capacity_prompts", .kind = KV_PARAM_INT, .offset = offsetof(struct kv_params, max_capacity_prompts),
	.lo = 1, .hi = 1 << 30, .flags = KV_PARAM_CONSTANT, .def = 512, .metavar = "N",
	.help = "constant: KV rows kept per layer and head; GemFilter top-k",
};
const struct kv_param_def kv_param_window_size = {
	.name = "window_size", .kind = KV_PARAM_INT, .offset = offsetof(struct kv_params, window_size),
	.lo = 1, .hi = 1 << 20, .def = 8, .metavar = "N",
	.help = "observation window (FastKV, SnapKV) / recent window (H2O)",
};
const struct kv_param_def kv_param_kernel_size = {
	.name = "kernel_size", .kind = KV_PARAM_INT, .offset = offsetof(struct kv_params, kernel_size),
	.lo = 1, .hi = 1023, .flags = KV_PARAM_ODD, .def = 7, .metavar = "K",
	.help = "pooling kernel, odd (FastKV, SnapKV)",
};
const struct kv_param_def kv_param_pooling = {
	.name = "pooling", .kind = KV_PARAM_ENUM, .offset = offsetof(struct kv_params, pooling),
	.choices = poolings, .def_str = "maxpool", .metavar = "P",
	.help = "maxpool or avgpool (FastKV, SnapKV)",
};
const struct kv_param_def kv_param_per_kv_head = {
	.name = "per_kv_head", .kind = KV_PARAM_BOOL, .offset = offsetof(struct kv_params, per_kv_head),
	.def = 0, .metavar = "0|1",
	.help = "SnapKV/H2O: 1 selects per KV head from group-summed scores; 0 per query head as the official code",
};

const struct kv_param_def kv_param_tie_break = {
	.name = "tie_break", .kind = KV_PARAM_STRING, .offset = offsetof(struct kv_params, tie_break),
	.size = KV_TIE_BREAK_LEN, .flags = KV_PARAM_QUIET_DEFAULT, .def_str = "lower", .metavar = "RULE",
	.help = "top-k ties at the k-th score: lower (keep the lower positions, spec 12), higher, or random:SEED "
		"(a fixed shuffle per SEED, layer and head)",
};

int kv_tie_break_parse(const char *text, struct kv_tie_break *out, char *err, size_t errlen)
{
	if (strcmp(text, "lower") == 0 || strcmp(text, "higher") == 0) {
		*out = (struct kv_tie_break){ text[0] == 'l' ? KV_TIE_LOWER : KV_TIE_HIGHER, 0 };
		return 0;
	}
	if (strncmp(text, "random:", 7) == 0) {
		const char *v = text + 7;
		char *end;
		errno = 0;
		unsigned long long seed = strtoull(v, &end, 10);
		if (*v >= '0' && *v <= '9' && !errno && end != v && !*end) {
			*out = (struct kv_tie_break){ KV_TIE_RANDOM, (uint64_t)seed };
			return 0;
		}
	}
	return kv_errf(err, errlen, KV_EINVAL, "--tie_break: expected lower, higher or random:SEED (SEED a non-negative integer), got '%s'",
		       text);
}

const struct kv_param_def *kv_param_find(const struct kv_param_def *const *table, const char *name)
{
	for (int i = 0; table && table[i]; i++)
		if (strcmp(table[i]->name, name) == 0)
			return table[i];
	return NULL;
}

// ----------------------------------------------------------------------------
// parsing

static void *field(void *dst, const struct kv_param_def *d)
{
	return (char *)dst + d->offset;
}

static const void *cfield(const void *src, const struct kv_param_def *d)
{
	return (const char *)src + d->offset;
}

static void set_default(const struct kv_param_def *d, void *dst)
{
	switch (d->kind) {
	case KV_PARAM_INT: *(int *)field(dst, d) = (int)d->def; break;
	case KV_PARAM_FLOAT: *(double *)field(dst, d) = d->def; break;
	case KV_PARAM_BOOL: *(bool *)field(dst, d) = d->def != 0; break;
	case KV_PARAM_ENUM: {
		int v = 0;
		for (int i = 0; d->def_str && d->choices[i]; i++)
			if (strcmp(d->choices[i], d->def_str) == 0)
				v = i;
		*(int *)field(dst, d) = v;
		break;
	}
	case KV_PARAM_STRING: snprintf((char *)field(dst, d), d->size, "%s", d->def_str ? d->def_str : ""); break;
	}
}

/* "a or b" for two choices, "one of a, b, c" for more. */
static void choices_text(const struct kv_param_def *d, char *buf, size_t len)
{
	int n = 0;
	while (d->choices[n])
		n++;
	size_t o = (size_t)snprintf(buf, len, "%s", n > 2 ? "one of " : "");
	for (int i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i == 0 ? "" : n == 2 ? " or " : ", ", d->choices[i]);
}

static int parse_value(const struct kv_param_def *d, void *dst, const char *val, char *err, size_t errlen)
{
	char *end;
	switch (d->kind) {
	case KV_PARAM_INT: {
		errno = 0;
		long v = strtol(val, &end, 10);
		if (errno || end == val || *end || v < (long)d->lo || v > (long)d->hi)
			return kv_errf(err, errlen, KV_EINVAL, "--%s: expected an integer in [%ld, %ld], got '%s'", d->name,
				       (long)d->lo, (long)d->hi, val);
		if ((d->flags & KV_PARAM_ODD) && v % 2 == 0)
			return kv_errf(err, errlen, KV_EINVAL,
				       "--%s: expected an odd integer (pooling keeps the length only for odd kernels), got '%s'", d->name, val);
		*(int *)field(dst, d) = (int)v;
		return 0;
	}
	case KV_PARAM_FLOAT: {
		errno = 0;
		double v = strtod(val, &end);
		if (errno || end == val || *end || !isfinite(v) || v > d->hi || (d->lo_open ? v <= d->lo : v < d->lo))
			return kv_errf(err, errlen, KV_EINVAL, "--%s: expected a number in %c%g, %g], got '%s'", d->name,
				       d->lo_open ? '(' : '[', d->lo, d->hi, val);
		*(double *)field(dst, d) = v;
		return 0;
	}
	case KV_PARAM_BOOL:
		if (strcmp(val, "0") == 0 || strcmp(val, "1") == 0) {
			*(bool *)field(dst, d) = val[0] == '1';
			return 0;
		}
		return kv_errf(err, errlen, KV_EINVAL, "--%s: expected 0 or 1, got '%s'", d->name, val);
	case KV_PARAM_ENUM:
		for (int i = 0; d->choices[i]; i++)
			if (strcmp(d->choices[i], val) == 0) {
				*(int *)field(dst, d) = i;
				return 0;
			}
		char list[256];
		choices_text(d, list, sizeof(list));
		return kv_errf(err, errlen, KV_EINVAL, "--%s: expected %s, got '%s'", d->name, list, val);
	case KV_PARAM_STRING:
		if (strlen(val) >= d->size)
			return kv_errf(err, errlen, KV_EINVAL, "--%s: name too long: '%s'", d->name, val);
		snprintf((char *)field(dst, d), d->size, "%s", val);
		return 0;
	}
	return kv_errf(err, errlen, KV_EINTERNAL, "--%s: bad parameter table", d->name);
}

int kv_params_parse(const struct kv_param_def *const *table, void *dst, const char *method, const char *const *keys,
		    const char *const *vals, int n, const struct kv_shape *shape, char *err, size_t errlen)
{
	int rc;
	for (int i = 0; table && table[i]; i++)
		set_default(table[i], dst);
	for (int i = 0; i < n; i++) {
		const struct kv_param_def *d = kv_param_find(table, keys[i]);
		if (!d)
			return kv_errf(err, errlen, KV_EINVAL, "--%s: not a parameter of %s", keys[i], method);
		if ((rc = parse_value(d, dst, vals[i], err, errlen)))
			return rc;
	}
	const struct kv_param_def *tb = kv_param_find(table, "tie_break");
	if (tb && (rc = kv_tie_break_parse((const char *)field(dst, tb), &((struct kv_params *)dst)->ties, err, errlen)))
		return rc;
	/* a flag that only one eviction mode reads, given in the other, would do nothing */
	const struct kv_param_def *mode = kv_param_find(table, "eviction_mode");
	int m = mode ? *(const int *)field(dst, mode) : KV_EVICT_CONSTANT;
	bool mode_given = false;
	for (int k = 0; k < n; k++)
		mode_given |= strcmp(keys[k], "eviction_mode") == 0;
	unsigned other = m == KV_EVICT_CONSTANT ? KV_PARAM_PROPORTIONAL : KV_PARAM_CONSTANT;
	for (int i = 0; mode && i < n; i++) {
		const struct kv_param_def *d = kv_param_find(table, keys[i]);
		if (d->flags & other)
			return kv_errf(err, errlen, KV_EINVAL,
				       "--%s: has no effect on %s with --eviction_mode %s%s; it applies with --eviction_mode %s",
				       d->name, method, m == KV_EVICT_CONSTANT ? "constant" : "proportional",
				       mode_given ? "" : " (the default)", m == KV_EVICT_CONSTANT ? "proportional" : "constant");
	}
	/* layer indices given explicitly must fit the model; methods check the defaults they use */
	for (int i = 0; shape && i < n; i++) {
		const struct kv_param_def *d = kv_param_find(table, keys[i]);
		if ((d->flags & KV_PARAM_LAYER) && (rc = kv_params_check_layer(d->name, *(const int *)field(dst, d), shape, err, errlen)))
			return rc;
	}
	return 0;
}

int kv_params_check_layer(const char *name, int value, const struct kv_shape *shape, char *err, size_t errlen)
{
	if (value >= shape->n_layer)
		return kv_errf(err, errlen, KV_EINVAL, "--%s: expected a layer in [0, %d] for this %d-layer model, got %d", name,
			       shape->n_layer - 1, shape->n_layer, value);
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

// ----------------------------------------------------------------------------
// describe, help

/* Whether field f holds d's default (as set_default writes it). */
static bool param_is_default(const struct kv_param_def *d, const void *f)
{
	switch (d->kind) {
	case KV_PARAM_INT: return *(const int *)f == (int)d->def;
	case KV_PARAM_FLOAT: return *(const double *)f == d->def;
	case KV_PARAM_BOOL: return *(const bool *)f == (d->def != 0);
	case KV_PARAM_ENUM: return strcmp(d->choices[*(const int *)f], d->def_str) == 0;
	case KV_PARAM_STRING: return strcmp((const char *)f, d->def_str ? d->def_str : "") == 0;
	}
	return false;
}

void kv_params_json(const struct kv_param_def *const *table, const void *src, const char *method, char *buf, size_t len)
{
	size_t o = (size_t)snprintf(buf, len, "{\"method\":\"%s\"", method);
	for (int i = 0; table && table[i] && o < len; i++) {
		const struct kv_param_def *d = table[i];
		const void *f = cfield(src, d);
		if ((d->flags & KV_PARAM_QUIET_DEFAULT) && param_is_default(d, f))
			continue;
		switch (d->kind) {
		case KV_PARAM_INT: o += (size_t)snprintf(buf + o, len - o, ",\"%s\":%d", d->name, *(const int *)f); break;
		case KV_PARAM_FLOAT: o += (size_t)snprintf(buf + o, len - o, ",\"%s\":%.17g", d->name, *(const double *)f); break;
		case KV_PARAM_BOOL: o += (size_t)snprintf(buf + o, len - o, ",\"%s\":%d", d->name, *(const bool *)f); break;
		case KV_PARAM_ENUM:
			o += (size_t)snprintf(buf + o, len - o, ",\"%s\":\"%s\"", d->name, d->choices[*(const int *)f]);
			break;
		case KV_PARAM_STRING: o += (size_t)snprintf(buf + o, len - o, ",\"%s\":\"%s\"", d->name, (const char *)f); break;
		}
	}
	if (o < len)
		snprintf(buf + o, len - o, "}");
}

void kv_param_default_text(const struct kv_param_def *d, char *buf, size_t len)
{
	if (d->def_text) {
		snprintf(buf, len, "%s", d->def_text);
		return;
	}
	switch (d->kind) {
	case KV_PARAM_INT: snprintf(buf, len, "%d", (int)d->def); break;
	case KV_PARAM_FLOAT: snprintf(buf, len, "%g", d->def); break;
	case KV_PARAM_BOOL: snprintf(buf, len, "%d", d->def != 0); break;
	case KV_PARAM_ENUM:
	case KV_PARAM_STRING: snprintf(buf, len, "%s", d->def_str ? d->def_str : ""); break;
	}
}

int kv_budget(const struct kv_params *p, int n, double rate, int cap)
{
	if (p->eviction_mode == KV_EVICT_CONSTANT)
		return cap;
	return (int)floor((double)n * rate);
}

int kv_pstate_new(const struct kv_param_def *const *table, const char *method, const char *const *keys,
		  const char *const *vals, int n, const struct kv_shape *shape, void **state, char *err, size_t errlen)
{
	struct kv_pstate *st = calloc(1, sizeof(*st));
	int rc;
	if (!st)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	st->shape = *shape;
	if ((rc = kv_params_parse(table, &st->p, method, keys, vals, n, shape, err, errlen))) {
		free(st);
		return rc;
	}
	*state = st;
	return 0;
}

// ----------------------------------------------------------------------------
// key=value lists

int kv_args_set(struct kv_args *a, const char *key, const char *val, char *err, size_t errlen)
{
	for (int i = 0; i < a->n; i++)
		if (strcmp(a->v[i].key, key) == 0) {
			a->v[i].val = val;
			return 0;
		}
	if (a->n == a->cap) {
		int cap = a->cap ? 2 * a->cap : 8;
		struct kv_arg *v = realloc(a->v, sizeof(*v) * (size_t)cap);
		if (!v)
			return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = (struct kv_arg){ key, val };
	return 0;
}

const char *kv_args_get(const struct kv_args *a, const char *key)
{
	for (int i = 0; a && i < a->n; i++)
		if (strcmp(a->v[i].key, key) == 0)
			return a->v[i].val;
	return NULL;
}

void kv_args_free(struct kv_args *a)
{
	free(a->v);
	*a = (struct kv_args){ 0 };
}
