/* Introspection of what a method kept: per layer and cache head the original
 * positions in the KV cache, the positions propagated (FastKV's TSP) and the tokens a
 * restart re-prefilled (GemFilter), as JSON lines; and per-layer cache statistics. */
#ifndef KVLAB_EVAL_SELECTION_H
#define KVLAB_EVAL_SELECTION_H

#include <stddef.h>
#include <stdio.h>

#include "results/store.h" // struct store_layer, struct store_span

struct fwd_session;

/* Writes the session's post-prefill selection to path as JSON lines, opened by the "prompt"
 * row (with the model's path and, under a policy, the resolved "params") (via a temporary
 * file renamed into place, so nothing half-written remains on failure). A row chosen by
 * a top-k cut ends with "tie":{"n_tied":a,"n_kept":b}: a candidates had the k-th score,
 * b of them were kept (struct kv_tie); rows without a cut have no "tie". After each layer's
 * kv rows a "budget" row gives the entries per cache head ("per_head"), their total, min, max,
 * mean and fraction of n_alive * heads: the layer's budget arithmetic, per head. */
int selection_dump(const struct fwd_session *s, const char *path, char *err, size_t errlen);

/* What a dump block says about the prompt besides the selection (all optional, borrowed). */
struct selection_sample {
	const char *sample_id;          /* "len_1000_depth_50"; NULL: none (kvlab generate) */
	const char *model;              /* the model's path */
	const char *method_json;        /* the method's resolved parameters, a JSON object */
	const struct store_span *span;  /* the needle's token span [start, end) in the prompt; NULL: none */
};

/* Appends one prompt's block to f: the "prompt" row (method, n_prompt, n_layer, and what smp
 * gives: "sample", "model", "params", "needle":[start,end]), then the rows selection_dump
 * describes. KV_EIO (naming path) when f reports a write error. */
int selection_dump_write(FILE *f, const char *path, const struct fwd_session *s, const struct selection_sample *smp,
			 char *err, size_t errlen);

/* Per-layer counts of the session's post-prefill selection, in original prompt positions:
 * one "kv" row per layer (rows kept summed over cache heads), a "propagated" row per layer
 * that sent a subset on (TSP, PyramidInfer) and a "restart" row (GemFilter), each with the
 * tokens that entered the layer and, when span is given, the span's tokens kept summed over
 * heads. *out is malloc'd (caller frees), *n its length; untouched on failure. */
int selection_layer_counts(const struct fwd_session *s, const struct store_span *span, struct store_layer **out, int *n,
			   char *err, size_t errlen);

struct kv_stats {
	double min, mean, max;   /* entries per cache head, over layers */
	int head_min, head_max;  /* entries of the smallest / largest single cache head (heads of a layer may differ: AdaKV) */
	size_t bytes;            /* K+V bytes held */
	long entries;            /* entries over all layers and heads */
};
/* Summarises the session's cache now. */
void selection_stats(const struct fwd_session *s, struct kv_stats *out);

#endif
