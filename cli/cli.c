/* Flag parsing from a table: see cli.h. */
#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "base/paths.h" // kv_find_default
#include "methods/registry.h" // kv_methods, kv_method_names, kv_param_takers

static void *field(void *cfg, const struct cli_flag *f)
{
	return (char *)cfg + f->offset;
}

static const struct cli_flag *find(const struct cli_cmd *cmd, const char *name, size_t len)
{
	for (const struct cli_flag *f = cmd->flags; f->name; f++)
		if (strlen(f->name) == len && strncmp(f->name, name, len) == 0)
			return f;
	return NULL;
}

/* The command's CLI_METHOD flag, or NULL. */
static const struct cli_flag *method_flag(const struct cli_cmd *cmd)
{
	for (const struct cli_flag *f = cmd->flags; f->name; f++)
		if (f->kind == CLI_METHOD)
			return f;
	return NULL;
}

/* Borrowed: the first parameter of the registered methods called name (len chars, after
 * "--"), or NULL. */
static const struct kv_param_def *find_param(const char *name, size_t len)
{
	for (int i = 0; kv_methods[i]; i++)
		for (const struct kv_param_def *const *d = kv_methods[i]->params; d && *d; d++)
			if (strlen((*d)->name) == len && strncmp((*d)->name, name, len) == 0)
				return *d;
	return NULL;
}

void cli_methods_free(struct cli_methods *m)
{
	kv_args_free(&m->args);
}

static int set_value(const struct cli_flag *f, const char *val, void *cfg, char *err, size_t errlen)
{
	char *end;
	switch (f->kind) {
	case CLI_STR:
		*(const char **)field(cfg, f) = val;
		return 0;
	case CLI_METHOD:
		((struct cli_methods *)field(cfg, f))->list = val;
		return 0;
	case CLI_INT: {
		errno = 0;
		long v = strtol(val, &end, 10);
		if (errno || end == val || *end || v < f->min || v > f->max)
			return kv_errf(err, errlen, KV_EINVAL, "%s: expected an integer in [%.0f, %.0f], got '%s'",
				       f->name, f->min, f->max, val);
		*(int *)field(cfg, f) = (int)v;
		return 0;
	}
	case CLI_FLOAT: {
		errno = 0;
		double v = strtod(val, &end);
		if (errno || end == val || *end || !isfinite(v) || v < f->min || v > f->max)
			return kv_errf(err, errlen, KV_EINVAL, "%s: expected a number in [%g, %g], got '%s'",
				       f->name, f->min, f->max, val);
		*(double *)field(cfg, f) = v;
		return 0;
	}
	case CLI_SWITCH:
		break;
	}
	return kv_errf(err, errlen, KV_EINTERNAL, "%s: bad flag table", f->name);
}

static int parse_args(const struct cli_cmd *cmd, int argc, char **argv, void *cfg, char *err, size_t errlen)
{
	bool seen[64] = { false };
	const struct cli_flag *mf = method_flag(cmd);
	int rc;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			cli_help(stdout, cmd, cfg);
			return 1;
		}
		if (strncmp(a, "--", 2) != 0)
			return kv_errf(err, errlen, KV_EINVAL, "kvlab %s: unexpected argument '%s' (flags start with --; see --help)",
				       cmd->name, a);
		const char *eq = strchr(a, '=');
		size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
		const struct cli_flag *f = find(cmd, a, nlen);
		const struct kv_param_def *d = f || !mf ? NULL : find_param(a + 2, nlen - 2);
		if (d) { /* a method flag: the methods check its value */
			const char *val = eq ? eq + 1 : NULL;
			if (!val) {
				if (i + 1 >= argc)
					return kv_errf(err, errlen, KV_EINVAL, "--%s: expects a value (%s)", d->name, d->metavar);
				val = argv[++i];
			}
			struct kv_args *args = &((struct cli_methods *)field(cfg, mf))->args;
			const char *before = kv_args_get(args, d->name);
			if (before)
				return kv_errf(err, errlen, KV_EINVAL, "--%s: given twice ('%s', then '%s'); give it once", d->name,
					       before, val);
			if ((rc = kv_args_set(args, d->name, val, err, errlen)))
				return rc;
			continue;
		}
		if (!f)
			return kv_errf(err, errlen, KV_EINVAL, "kvlab %s: unknown flag '%.*s' (see kvlab %s --help)",
				       cmd->name, (int)nlen, a, cmd->name);
		if (seen[f - cmd->flags])
			return kv_errf(err, errlen, KV_EINVAL, "%s: given twice; give it once", f->name);
		seen[f - cmd->flags] = true;
		if (f->kind == CLI_SWITCH) {
			if (eq && strcmp(eq + 1, "1") != 0 && strcmp(eq + 1, "0") != 0)
				return kv_errf(err, errlen, KV_EINVAL, "%s: takes no value (or =0 / =1), got '%s'", f->name, eq + 1);
			*(bool *)field(cfg, f) = !eq || strcmp(eq + 1, "1") == 0;
			continue;
		}
		const char *val = eq ? eq + 1 : NULL;
		if (!val) {
			if (i + 1 >= argc)
				return kv_errf(err, errlen, KV_EINVAL, "%s: expects a value (%s)", f->name, f->metavar);
			val = argv[++i];
		}
		if ((rc = set_value(f, val, cfg, err, errlen)))
			return rc;
	}
	for (const struct cli_flag *f = cmd->flags; f->name; f++)
		if (f->required && !seen[f - cmd->flags])
			return kv_errf(err, errlen, KV_EINVAL, "kvlab %s: %s %s is required (see --help)", cmd->name, f->name, f->metavar);
	return 0;
}

int cli_parse(const struct cli_cmd *cmd, int argc, char **argv, void *cfg, char *err, size_t errlen)
{
	int rc = parse_args(cmd, argc, argv, cfg, err, errlen);
	const struct cli_flag *mf = method_flag(cmd);
	if (rc && mf)
		cli_methods_free((struct cli_methods *)field(cfg, mf));
	return rc;
}

static void print_default(FILE *out, const struct cli_flag *f, const void *cfg)
{
	const void *p = (const char *)cfg + f->offset;
	switch (f->kind) {
	case CLI_METHOD:
		p = &((const struct cli_methods *)p)->list;
		/* fall through */
	case CLI_STR: {
		const char *s = *(const char *const *)p;
		if (s)
			fprintf(out, " (default: %s)", s);
		break;
	}
	case CLI_INT: fprintf(out, " (default: %d)", *(const int *)p); break;
	case CLI_FLOAT: fprintf(out, " (default: %g)", *(const double *)p); break;
	case CLI_SWITCH: break;
	}
}

/* True when a method before kv_methods[i] takes the parameter called name. */
static bool taken_before(int i, const char *name)
{
	for (int j = 0; j < i; j++)
		if (kv_param_find(kv_methods[j]->params, name))
			return true;
	return false;
}

/* The method flags: every parameter of the registered methods once (in registry order),
 * with its default and the methods that take it. */
static void help_method_flags(FILE *out)
{
	fprintf(out, "\nmethod flags (each must be taken by a method in --method; NAME:key=value there sets one entry's):\n");
	for (int i = 0; kv_methods[i]; i++)
		for (const struct kv_param_def *const *d = kv_methods[i]->params; d && *d; d++) {
			if (taken_before(i, (*d)->name))
				continue; /* listed under an earlier method */
			char left[64], def[64], takers[256];
			snprintf(left, sizeof(left), "--%s %s", (*d)->name, (*d)->metavar);
			kv_param_default_text(*d, def, sizeof(def));
			kv_param_takers(kv_methods, (*d)->name, takers, sizeof(takers));
			fprintf(out, "  %-28s %s (default: %s; %s", left, (*d)->help, def, takers);
			/* methods whose own definition of the flag has another default (kvpress's window) */
			for (int j = i + 1; kv_methods[j]; j++) {
				const struct kv_param_def *o = kv_param_find(kv_methods[j]->params, (*d)->name);
				char other[64];
				if (!o || o == *d)
					continue;
				kv_param_default_text(o, other, sizeof(other));
				if (strcmp(other, def) != 0)
					fprintf(out, "; %s: %s", kv_methods[j]->name, other);
			}
			fprintf(out, ")\n");
		}
}

void cli_help(FILE *out, const struct cli_cmd *cmd, const void *cfg)
{
	fprintf(out, "usage: kvlab %s [flags]\n\n%s\n\nflags:\n", cmd->name, cmd->summary);
	for (const struct cli_flag *f = cmd->flags; f->name; f++) {
		char left[64];
		snprintf(left, sizeof(left), "%s%s%s", f->name, f->kind == CLI_SWITCH ? "" : " ", f->kind == CLI_SWITCH ? "" : f->metavar);
		fprintf(out, "  %-28s %s%s", left, f->help, f->required ? " [required]" : "");
		if (f->kind == CLI_METHOD) {
			char names[512];
			kv_method_names(kv_methods, ", ", names, sizeof(names));
			fprintf(out, "; methods: %s", names);
		}
		print_default(out, f, cfg);
		fputc('\n', out);
	}
	fprintf(out, "  %-28s %s\n", "--help", "show this help");
	if (method_flag(cmd))
		help_method_flags(out);
}

void cli_print_config(FILE *out, const struct cli_cmd *cmd, const void *cfg)
{
	fprintf(out, "| Parameter | Value |\n|---|---|\n");
	for (const struct cli_flag *f = cmd->flags; f->name; f++) {
		const void *p = (const char *)cfg + f->offset;
		switch (f->kind) {
		case CLI_STR: fprintf(out, "| %s | %s |\n", f->name, *(const char *const *)p ? *(const char *const *)p : ""); break;
		case CLI_INT: fprintf(out, "| %s | %d |\n", f->name, *(const int *)p); break;
		case CLI_FLOAT: fprintf(out, "| %s | %g |\n", f->name, *(const double *)p); break;
		case CLI_SWITCH: fprintf(out, "| %s | %d |\n", f->name, *(const bool *)p); break;
		case CLI_METHOD: {
			const struct cli_methods *m = p;
			fprintf(out, "| %s | %s |\n", f->name, m->list ? m->list : "");
			for (int i = 0; i < m->args.n; i++)
				fprintf(out, "| --%s | %s |\n", m->args.v[i].key, m->args.v[i].val);
			break;
		}
		}
	}
}

const char *cli_default_model(void)
{
	static char path[4096];
	if (!path[0])
		kv_find_default("models/SmolLM2-135M-Instruct.Q4_1.gguf", path, sizeof(path));
	return path;
}
