/* kvpress 0.5.5's SnapKVPress scoring and budget helpers, shared by the kvpress-faithful
 * methods that score with it (AdaKV, PyramidKV). kvpress works per KV head: the G query
 * heads of a group are averaged into one score row per KV head, and the observation window
 * is padded with the layer's largest score + 1 so that it is always kept.
 * H = query heads, Hkv = KV heads, T = view rows, w = window. */
#ifndef KVLAB_METHODS_KVPRESS_SNAPKV_H
#define KVLAB_METHODS_KVPRESS_SNAPKV_H

#include <stddef.h>

#include "engine/kv_method.h"
#include "methods/params.h"

/* window_size (64) and kernel_size (5) with SnapKVPress's defaults; they write the same
 * struct kv_params fields as kv_param_window_size / kv_param_kernel_size, with the same kind
 * and range (only the default and help differ: tests/test_params.c allows no more), so a
 * flag means one thing to every method; --help names the methods whose default differs. */
extern const struct kv_param_def kvp_param_window_size, kvp_param_kernel_size;

/* SnapKVPress.score: softmax (fp32) of the last w rows over all T keys, causal inside the
 * window, averaged over those rows for the prefix keys j < T-w, avg-pooled (kernel k,
 * stride 1, padding k/2, zero padding counted), averaged over each group's G query heads,
 * then the w window keys set to (largest prefix score of the layer) + 1.
 * out (Hkv, T), caller-allocated; needs T > w. */
int kvp_snapkv_scores(const struct kv_layer_view *v, int w, int k, float *out, char *err, size_t errlen);

/* kvpress's compute_n_kept for a layer of T rows: max(1, floor(T * retain_rate)) in double
 * (kvpress: int(k_len * (1 - compression_ratio)), so retain_rate = 1 - compression_ratio),
 * or min(T, max_capacity_prompts) in constant mode (a kvlab addition). */
int kvp_n_kept(const struct kv_params *p, int T);

/* Fills head h of d with the top-k rows of score (T,) in score order (ties by p's
 * --tie_break, recorded in d->keep_tie[h] when the engine gave one). */
void kvp_head_topk(struct kv_decision *d, int h, const float *score, int T, int k, const struct kv_params *p, int layer);

#endif
