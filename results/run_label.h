/* How a run is named in tables, plots and exports: its method and the parameters it was
 * given beyond its method's defaults, as compact "k=v" pairs (nothing buried in JSON). The
 * defaults come from the method tables (methods/, a floor above), so the caller passes a
 * provider (eval/export_params.h: export_params_defaults). */
#ifndef KVLAB_RESULTS_RUN_LABEL_H
#define KVLAB_RESULTS_RUN_LABEL_H

#include <stddef.h>

struct store;

/* Supplies the describe JSON a method has when given nothing (its parameter defaults). */
struct run_defaults {
	/* required: writes method's default JSON into buf; non-zero when method is unknown */
	int (*json)(void *ctx, const char *method, char *buf, size_t len);
	void *ctx;
};

/* Writes the parameters of method_json (a run's runs.method_json) whose values differ from
 * the defaults d gives for method, as "k=v k=v" in method_json's order ("" when none; every
 * parameter when d is NULL or does not know the method); nested objects (composed methods'
 * halves) are compared leaf by leaf, their "method" keys left out, a pair both halves give
 * written once. Floats print with %g; a pair that does not fit in buf whole is left out.
 * Uses s's SQLite JSON functions; KV_EIO names the database. */
int run_label_params(struct store *s, const struct run_defaults *d, const char *method, const char *method_json,
		     char *buf, size_t len, char *err, size_t errlen);

/* The same pairs as a JSON object {"k": v, ...} (values keep their JSON types) into buf. */
int run_label_params_json(struct store *s, const struct run_defaults *d, const char *method, const char *method_json,
			  char *buf, size_t len, char *err, size_t errlen);

#endif
