/* Introspection of what a method kept: per layer and cache head the original
 * positions in the KV cache, the positions propagated (FastKV's TSP) and the tokens a
 * restart re-prefilled (GemFilter), as JSON lines; and per-layer cache statistics. */
#ifndef KVLAB_EVAL_SELECTION_H
#define KVLAB_EVAL_SELECTION_H

#include <stddef.h>
#include <stdio.h>

struct fwd_session;

/* Writes the session's post-prefill selection to path as JSON lines (via a temporary
 * file renamed into place, so nothing half-written remains on failure). A row chosen by
 * a top-k cut ends with "tie":{"n_tied":a,"n_kept":b}: a candidates had the k-th score,
 * b of them were kept (struct kv_tie); rows without a cut have no "tie". After each layer's
 * kv rows a "budget" row gives the entries per cache head ("per_head"), their total, min, max,
 * mean and fraction of n_alive * heads: the layer's budget arithmetic, per head. */
int selection_dump(const struct fwd_session *s, const char *path, char *err, size_t errlen);

struct kv_stats {
	double min, mean, max;   /* entries per cache head, over layers */
	int head_min, head_max;  /* entries of the smallest / largest single cache head (heads of a layer may differ: AdaKV) */
	size_t bytes;            /* K+V bytes held */
	long entries;            /* entries over all layers and heads */
};
/* Summarises the session's cache now. */
void selection_stats(const struct fwd_session *s, struct kv_stats *out);

#endif
