/* Method parameters, table-driven. Each method lists the parameters it takes in a
 * NULL-terminated table of struct kv_param_def (its kv_method.params); parsing,
 * defaults, range checks, the describe JSON, --help and the "which method takes this
 * flag" check all read those tables. Parameters several methods take are defined once
 * here (kv_param_eviction_mode, ...) and referenced from each table; the others live in
 * their method's file. Names, defaults and ranges are the official FastKV parser's
 * (spec/methods.md section 9). */
#ifndef KVLAB_METHODS_PARAMS_H
#define KVLAB_METHODS_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/kv_method.h" // struct kv_shape, struct kv_method

// ----------------------------------------------------------------------------
// parameter definitions

enum kv_param_kind {
	KV_PARAM_INT,    /* int field, range [lo, hi] */
	KV_PARAM_FLOAT,  /* double field, range [lo, hi] or (lo, hi] */
	KV_PARAM_ENUM,   /* int field: the index of the value in choices */
	KV_PARAM_BOOL,   /* bool field: 0 or 1 */
	KV_PARAM_STRING  /* char[size] field */
};

enum {
	KV_PARAM_ODD = 1 << 0,   /* INT: must be odd */
	KV_PARAM_LAYER = 1 << 1, /* INT: a 0-based layer index, checked against the model when given */
	/* used only in one --eviction_mode: where the method's table takes eviction_mode, giving
	 * the flag in the other mode is an error (it would do nothing) */
	KV_PARAM_PROPORTIONAL = 1 << 2,
	KV_PARAM_CONSTANT = 1 << 3,
	/* left out of the describe JSON (hence the run id) while it holds its default, so runs
	 * made before the parameter existed keep their ids: --tie_break, --gemfilter_fp16 */
	KV_PARAM_QUIET_DEFAULT = 1 << 4
};

struct kv_param_def {
	const char *name;             /* the flag without "--": "retain_rate" */
	enum kv_param_kind kind;
	size_t offset;                /* of the field in the method's parameter struct */
	double lo, hi;                /* INT / FLOAT range */
	bool lo_open;                 /* FLOAT: lo is excluded, (lo, hi] */
	unsigned flags;               /* KV_PARAM_ODD, KV_PARAM_LAYER */
	const char *const *choices;   /* ENUM: NULL-terminated names */
	size_t size;                  /* STRING: capacity of the char array, NUL included */
	double def;                   /* default of INT / FLOAT / BOOL (may lie outside the range: "unset") */
	const char *def_str;          /* default of ENUM (a choice) / STRING */
	const char *def_text;         /* --help's default when it needs words ("from the preset"); NULL: from def */
	const char *metavar;          /* "R", "N", "MODE" */
	const char *help;             /* one line */
};

enum kv_eviction { KV_EVICT_CONSTANT = 0, KV_EVICT_PROPORTIONAL = 1 };
enum kv_pooling { KV_POOLING_MAX = 0, KV_POOLING_AVG = 1 };

/* --tie_break: which of the candidates tied at a top-k cut's k-th score are kept
 * (methods/select.c). lower is spec section 12's rule and the default. */
enum kv_tie_rule { KV_TIE_LOWER = 0, KV_TIE_HIGHER = 1, KV_TIE_RANDOM = 2 };
struct kv_tie_break {
	enum kv_tie_rule rule;
	uint64_t seed;  /* KV_TIE_RANDOM: the SEED of random:SEED */
};
#define KV_TIE_BREAK_LEN 32
/* Parses "lower", "higher" or "random:SEED" (SEED a decimal integer in [0, 2^64)); errors
 * name --tie_break. */
int kv_tie_break_parse(const char *text, struct kv_tie_break *out, char *err, size_t errlen);

/* The parameters several methods take; a method's own parameter struct starts with it,
 * so these definitions' offsets hold in every method's struct. */
struct kv_params {
	int eviction_mode;         /* enum kv_eviction: --eviction_mode constant|proportional (constant) */
	double retain_rate;        /* --retain_rate (0, 1] (0.1) */
	int max_capacity_prompts;  /* --max_capacity_prompts >= 1 (512) */
	int window_size;           /* --window_size >= 1 (8) */
	int kernel_size;           /* --kernel_size odd >= 1 (7) */
	int pooling;               /* enum kv_pooling: --pooling maxpool|avgpool (maxpool) */
	bool per_kv_head;          /* --per_kv_head 0|1 (0: SnapKV/H2O select per query head) */
	char tie_break[KV_TIE_BREAK_LEN]; /* --tie_break lower|higher|random:SEED (lower), as given */
	struct kv_tie_break ties;  /* tie_break parsed by kv_params_parse (zero = lower where not taken) */
};

extern const struct kv_param_def kv_param_eviction_mode, kv_param_retain_rate, kv_param_max_capacity_prompts,
	kv_param_window_size, kv_param_kernel_size, kv_param_pooling, kv_param_per_kv_head, kv_param_tie_break;

/* Borrowed: the definition called name in table (NULL-terminated), or NULL. */
const struct kv_param_def *kv_param_find(const struct kv_param_def *const *table, const char *name);

// ----------------------------------------------------------------------------
// parsing a method's parameters

/* Fills the fields of every parameter in table with its default, then parses the
 * key=value pairs into them (dst is the method's parameter struct). Checks ranges, and
 * given layer indices against shape (when non-NULL). A key outside table is an error
 * naming the flag and method; bad values name the flag. */
int kv_params_parse(const struct kv_param_def *const *table, void *dst, const char *method, const char *const *keys,
		    const char *const *vals, int n, const struct kv_shape *shape, char *err, size_t errlen);
/* Checks that layer index value (of flag name) fits shape. */
int kv_params_check_layer(const char *name, int value, const struct kv_shape *shape, char *err, size_t errlen);
/* Checks that a constant budget leaves room beyond the window (--max_capacity_prompts > --window_size). */
int kv_params_check_window(const struct kv_params *p, const char *method, char *err, size_t errlen);

/* Writes {"method":METHOD, then every parameter of table in table order} into buf:
 * enums and strings as strings, ints and bools as integers, doubles with %.17g; a
 * KV_PARAM_QUIET_DEFAULT parameter only when it differs from its default. */
void kv_params_json(const struct kv_param_def *const *table, const void *src, const char *method, char *buf, size_t len);

/* Writes the default of d as --help shows it into buf. */
void kv_param_default_text(const struct kv_param_def *d, char *buf, size_t len);

/* Budget of a layer with n tokens: floor(n * rate) in double (proportional), or cap. */
int kv_budget(const struct kv_params *p, int n, double rate, int cap);

/* The state of a method that needs nothing but the shared parameters and the model shape. */
struct kv_pstate {
	struct kv_params p;
	struct kv_shape shape;
};
/* Makes a kv_pstate from key=value pairs checked against table (caller frees with free()). */
int kv_pstate_new(const struct kv_param_def *const *table, const char *method, const char *const *keys,
		  const char *const *vals, int n, const struct kv_shape *shape, void **state, char *err, size_t errlen);

// ----------------------------------------------------------------------------
// key=value lists as the command line gives them

struct kv_arg {
	const char *key, *val;  /* borrowed; key without "--" */
};

/* A growable list of method parameters, at most one entry per key. Zero-initialised = empty. */
struct kv_args {
	struct kv_arg *v;
	int n, cap;
};

/* Sets key to val (strings borrowed), replacing an earlier value of key (last wins). */
int kv_args_set(struct kv_args *a, const char *key, const char *val, char *err, size_t errlen);
/* Borrowed: the value of key, or NULL. */
const char *kv_args_get(const struct kv_args *a, const char *key);
/* Releases the list's array (not the strings) and empties it. */
void kv_args_free(struct kv_args *a);

#endif
