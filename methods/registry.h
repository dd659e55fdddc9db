/* The method registry: a static table searched by --method name, the one grammar of
 * method lists (--method a,b:key=value), and the glue that turns key=value method
 * parameters into a policy instance. Adding a method is its file plus one line in
 * kv_methods[]: its parameter table (kv_method.params) feeds parsing, --help and the
 * "which method takes this flag" checks. */
#ifndef KVLAB_METHODS_REGISTRY_H
#define KVLAB_METHODS_REGISTRY_H

#include <stddef.h>

#include "engine/kv_method.h"
#include "methods/params.h" // struct kv_args

extern const struct kv_method fullkv_method, fastkv_method, gemfilter_method, snapkv_method, streamingllm_method,
	h2o_method, pyramidinfer_method;
extern const struct kv_method adakv_method, pyramidkv_method, tova_method, expected_attention_method; /* kvpress 0.5.5 retention */
extern const struct kv_method kvzip_method; /* kvpress 0.5.5 KVzip (after_prefill: a second forward) */

/* NULL-terminated table of every method. */
extern const struct kv_method *const kv_methods[];

// ----------------------------------------------------------------------------
// composed methods (methods/compose.c): REDUCTION+RETENTION, e.g. "tsp+h2o"

/* Borrowed (static, built at the first call, for the process's life): the composed
 * method named name (REDUCTION one of none, tsp, gemfilter, pyramidinfer; RETENTION one
 * of full, fullkv, snapkv, h2o, streamingllm, adakv, pyramidkv, tova, expected_attention, kvzip), or NULL. Every table lookup below falls
 * back to it, so composed names work wherever a method name does. */
const struct kv_method *kv_compose_find(const char *name);
/* For a composed method: sets its reduction half (NULL: none) and retention half and
 * returns 1; returns 0 for any other method. */
int kv_compose_halves(const struct kv_method *m, const struct kv_method **reduction, const struct kv_method **retention);
/* The error for a name with '+' that is not a composition (flag names it: "--method"). */
int kv_compose_error(const char *flag, const char *name, char *err, size_t errlen);

/* Borrowed: the method of kv_methods (or a composed method) named name, or NULL. */
const struct kv_method *kv_method_find(const char *name);
/* Sets *out to the method of table (NULL-terminated), or the composed method, named
 * name; an unknown name is an error naming --method and listing table's methods. */
int kv_method_lookup(const struct kv_method *const *table, const char *name, const struct kv_method **out, char *err,
		     size_t errlen);
/* Writes the names of table's methods, separated by sep, into buf. */
void kv_method_names(const struct kv_method *const *table, const char *sep, char *buf, size_t len);
/* Writes the names of table's methods whose parameters include key (", "-separated)
 * into buf; returns how many. */
int kv_param_takers(const struct kv_method *const *table, const char *key, char *buf, size_t len);

// ----------------------------------------------------------------------------
// method lists: "NAME[:key=value...],..."

/* One entry of a method list. */
struct kv_method_entry {
	char label[128];           /* the entry as given: "fastkv" or "fastkv:tsp_idx=10" */
	char text[128];            /* label split in place; args' entry values point into it */
	const struct kv_method *m; /* borrowed from the table */
	struct kv_args args;       /* the shared flags m takes, then the entry's key=value pairs (last wins) */
};

/* Parses the method list spec (flag names it in messages: "--method") over the shared
 * method flags, resolving names in table (kv_methods in production). Every key must be
 * a parameter of its entry's method, and every shared flag must be taken by at least one
 * listed method; errors name the flag and the methods that take it. Also refuses empty
 * entries and entries listed twice. *out is malloc'd (caller frees with
 * kv_method_list_free); shared's strings are borrowed and must outlive it. */
int kv_method_list_parse(const struct kv_method *const *table, const char *flag, const char *spec,
			 const struct kv_args *shared, struct kv_method_entry **out, int *n, char *err, size_t errlen);
/* Releases a list from kv_method_list_parse (NULL is fine). */
void kv_method_list_free(struct kv_method_entry *e, int n);

// ----------------------------------------------------------------------------
// policies

/* Builds a policy of method m for shape from the key=value pairs args (each must be a
 * parameter of m; values are checked by m's init, naming the flag); the caller releases
 * it with kv_policy_free. */
int kv_policy_make(const struct kv_method *m, const struct kv_args *args, const struct kv_shape *shape,
		   struct kv_policy *out, char *err, size_t errlen);
/* Releases the policy's state (p itself is the caller's). */
void kv_policy_free(struct kv_policy *p);

/* Writes the policy's resolved parameters as JSON into buf. */
void kv_policy_describe(const struct kv_policy *p, char *buf, size_t len);

#endif
