/* Selection primitives shared by the methods: the observation-window score
 * (spec/methods.md section 1), 1-D pooling, GQA aggregation and a deterministic
 * top-k (ties: lower position first, P3, unless --tie_break says otherwise) that reports
 * how its cut met ties. H = query heads, T = view rows, w = window. */
#ifndef KVLAB_METHODS_SELECT_H
#define KVLAB_METHODS_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/kv_method.h"
#include "methods/params.h"

/* Window score of section 1: softmax of the last w rows over all T keys (causal
 * inside the window), summed over those rows for prefix keys j < T-w, then pooled
 * (kernel k, stride 1, padding k/2). out (H, T-w), caller-allocated. */
int sel_window_scores(const struct kv_layer_view *v, int w, int k, enum kv_pooling pool, float *out,
		      char *err, size_t errlen);

/* Pools x (n,) into y (n,) with an odd kernel k, stride 1, padding k/2: max ignores
 * the padding; avg divides by k (count_include_pad). */
void sel_pool(const float *x, float *y, int n, int k, enum kv_pooling pool);

/* Which top-k cut of a layer a random tie order is drawn for (part of its stream). */
enum sel_cut_kind { SEL_CUT_KV = 0, SEL_CUT_PROP = 1, SEL_CUT_RESTART = 2, SEL_CUT_DECODE = 3 };

/* How one top-k cut orders ties and where it reports them. */
struct sel_cut {
	const struct kv_tie_break *tb; /* NULL = lower */
	uint64_t stream;               /* random: sel_stream(layer, head, kind) */
	struct kv_tie *tie;            /* NULL, or receives the cut's tie record */
};

/* The stream of a cut: layer, head (or decode step) and kind packed into 64 bits. */
uint64_t sel_stream(int layer, int head, enum sel_cut_kind kind);

/* Writes the indices of the k largest of x[0..n) into idx in descending score order.
 * Candidates with equal scores (==, so bit-identical for the finite scores methods make)
 * are ordered by cut->tb: lower index first (NULL cut or tb, KV_TIE_LOWER), higher index
 * first, or random:SEED, by the key splitmix64(splitmix64(SEED ^ splitmix64(stream)) + i)
 * ascending (then the lower index), a fixed shuffle per (SEED, stream); splitmix64 is
 * Steele, Lea and Flood's generator's output function (z += 0x9e3779b97f4a7c15, two
 * xor-shift-multiplies). k is clamped to [0, n]; returns k. With cut->tie, records the
 * candidates whose score equals the k-th one (n_tied) and how many of them were
 * kept (n_kept); no cut (k == 0) records zeros. */
int sel_topk_cut(const float *x, int n, int k, int32_t *idx, const struct sel_cut *cut);
/* sel_topk_cut with the lower-index rule and no record. */
int sel_topk(const float *x, int n, int k, int32_t *idx);

/* Sorts idx[0..n) ascending. */
void sel_sort(int32_t *idx, int n);

/* Fills a decision for one cache head h of layer l: top-(C-w) of score (T-w prefix keys)
 * in score order (ties by tb, NULL = lower; recorded in d->keep_tie[h] when the engine
 * gave one), then the window rows T-w..T-1. */
void sel_head_topk_window(struct kv_decision *d, int h, const float *score, int T, int C, int w,
			  const struct kv_tie_break *tb, int l);

/* Fills a decision of layer l from per-query-head scores (H, T-w): per query head (cache
 * heads = H, K/V repeated), or with per_kv_head the G scores of each group summed into its
 * first row (scores is modified) and one selection per KV head; ties as sel_head_topk_window. */
void sel_per_head_topk_window(struct kv_decision *d, float *scores, int H, int Hkv, int T, int C, int w, bool per_kv_head,
			      const struct kv_tie_break *tb, int l);

/* Keep-everything decision with per-query-head storage (K/V repeated to H heads). */
void sel_keep_all_per_query_head(struct kv_decision *d, int H, int T);

#endif
