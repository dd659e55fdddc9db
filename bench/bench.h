/* Latency benchmarks: time to first token (prefill) and end-to-end greedy generation
 * for several KV policies at several context lengths, methods interleaved run by run,
 * on a real model or a random-weight model of a known shape. Mirrors what the official
 * benchmark/prefill.py and benchmark/e2e.py time (spec/methods.md section 10), with
 * the eval drivers' decode positions N + t (A8).
 * N = context length, L = n_layer, Hkv = n_head_kv, D = head_dim */
#ifndef KVLAB_BENCH_BENCH_H
#define KVLAB_BENCH_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/backend.h"   // enum kv_dtype
#include "engine/model.h"     // struct model_config, struct model
#include "methods/registry.h" // struct kv_method_entry
#include "bench/op_profile.h" // struct op_profile
#include "bench/roofline.h"   // struct bench_machine
#include "results/bench_roofline.h" // struct bench_roof
#include "results/bench_store.h" // struct bench_row, struct store

struct backend_ops;

// ----------------------------------------------------------------------------
// what to run

/* The --methods entries are kv_method_list_parse's (methods/registry.h): "fastkv" or
 * "fastkv:tsp_idx=10", the shared method flags under each entry's key=value pairs. */

/* Parses "2048,4096,8192" into *out (malloc'd, caller frees): positive integers. */
int bench_lengths_parse(const char *spec, int **out, int *n, char *err, size_t errlen);

// ----------------------------------------------------------------------------
// model shapes for random-weight benchmarks

struct bench_shape {
	const char *name;          /* --synthetic NAME */
	const char *source;        /* where the numbers come from (the model's config.json) */
	struct model_config cfg;
};

/* The known shapes, terminated by an entry with name NULL. */
extern const struct bench_shape bench_shapes[];

/* Borrowed: the shape called name, or NULL. */
const struct bench_shape *bench_shape_find(const char *name);

/* Reads a Hugging Face config.json (llama / mistral) into *out with transformers'
 * defaults for absent keys; names the file and key on errors. */
int bench_config_from_json(const char *path, struct model_config *out, char *err, size_t errlen);

/* fp32 bytes of all weights of a model of shape c (as model_alloc sizes them). */
double bench_weight_bytes(const struct model_config *c);

// ----------------------------------------------------------------------------
// running

enum bench_kind { BENCH_PREFILL = 0, BENCH_E2E = 1 };

struct bench_opts {
	enum bench_kind kind;
	const struct kv_method_entry *methods; /* (n_methods,) borrowed */
	int n_methods;
	int genlen;                /* e2e: tokens per run, the first (from prefill) included */
	int warmups, runs;
	int threads;               /* <= 0: all cores */
	const struct backend_ops *backend; /* borrowed; NULL: backend_cpu */
	enum kv_dtype kv_dtype;    /* the KV cache's element type (KV_DTYPE_F32, the zero value: the reference) */
	const int32_t *text;       /* (n_text,) token ids cut / repeated to N; NULL: token id 1 repeated */
	int n_text;
	FILE *log;                 /* one progress line per run, or NULL */
	const struct bench_machine *machine; /* borrowed calibration: roofline rows beside the timings; NULL: none */
	bool profile;              /* e2e, host backends: each method's timed decode steps op by op (bench/op_profile.h)
				    * into table bench_profile */
};

/* One method at one context length, over the timed runs. */
struct bench_meas {
	double *prefill_ms;        /* (runs,) prefill forward + LM head (last row) + argmax, then recon_ms */
	double *recon_ms;          /* (runs,) of prefill_ms: the method's step after the prefill (KVzip's
				    * reconstruction, a second forward); meaningful when recon */
	bool recon;                /* the method has that step: its rows include phase "recon" */
	double *decode_ms;         /* (runs,) e2e: per generated token after the first, NULL for prefill */
	double *e2e_ms;            /* (runs,) e2e: prefill + genlen - 1 decode steps, NULL for prefill */
	long long kv_bytes;        /* K+V bytes the cache holds right after prefill */
	double prefill_flops;      /* bench_prefill_flops over the tokens each layer ran */
	double decode_bytes;       /* bytes one decode step reads: weights as stored + the mean K/V attended */
	char params_json[1024];    /* the method's resolved parameters */
	struct op_profile prof;    /* o->profile: the timed runs' decode steps, op by op */
};

/* Allocates the sample arrays of meas[0..n) for o (caller frees with bench_meas_free). */
int bench_meas_alloc(struct bench_meas *meas, int n, const struct bench_opts *o, char *err, size_t errlen);
void bench_meas_free(struct bench_meas *meas, int n);

/* Builds the N prompt ids of the benchmark input: text[i % n_text], or 1 when text is NULL. */
void bench_input(int32_t *ids, int n, const int32_t *text, int n_text);

/* Times every method of o at context length n: o->warmups untimed rounds, then
 * o->runs timed rounds; each round runs every method once, the order rotating by one
 * each round, so drift hurts all methods alike. meas (o->n_methods) from
 * bench_meas_alloc. A fresh policy and session per run; only the forward, the LM head,
 * the argmax and a method's step after the prefill (KVzip's reconstruction, timed on its
 * own too) are inside the clock. */
int bench_run_length(const struct model *m, const struct bench_opts *o, int n, struct bench_meas *meas,
		     char *err, size_t errlen);

/* Writes into rows the measurements of every method at length n: one row per method
 * and phase (prefill; e2e adds decode and e2e; a method with a step after the prefill adds
 * recon, the part of prefill spent there), each a copy of base (the invocation's
 * provenance) with o's genlen, warmups and runs, the method, its parameters, the
 * statistics of its samples (borrowed from meas) and its KV bytes. rows has room for
 * BENCH_MAX_PHASES * o->n_methods; returns the count written. */
#define BENCH_MAX_PHASES 4
int bench_rows_fill(struct bench_row *rows, const struct bench_row *base, const struct bench_opts *o,
		    const struct bench_meas *meas, int n);

/* Writes into roof the roofline of every row bench_rows_fill wrote into rows[0..k) but
 * the recon rows (their replay's work is not counted) against o->machine (which must be
 * set); returns the count written. */
int bench_roof_fill(struct bench_roof *roof, const struct bench_row *rows, int k, const struct bench_opts *o,
		    const struct bench_meas *meas);

/* Runs bench_run_length for every length of lens[0..n_lens) and writes each length's
 * rows to s in one transaction as soon as they are measured (a crash keeps the
 * lengths done), and with o->machine their roofline rows (results/bench_roofline.h). */
int bench_run(const struct model *m, const struct bench_opts *o, const int *lens, int n_lens, const struct bench_row *base,
	      struct store *s, char *err, size_t errlen);

#endif
