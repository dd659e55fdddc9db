/* The KV cache: per layer, per head, ragged. Each entry records the original
 * (RoPE) position of the token it holds; keys are stored after RoPE (never
 * rotated again). A layer holds one head per KV head, or one per query head for
 * methods that select per query head. K and V live in the backend's memory
 * (engine/backend.h: bk_alloc, bk_copy), so a device backend keeps them on the
 * device; lengths and positions are host memory. K and V are stored in fp32 (the
 * reference) or, on a host-memory backend, rounded to f16 / bf16 (--kv_dtype; the
 * attention ops widen them). D = head_dim, C = capacity per head. */
#ifndef KVLAB_ENGINE_KVCACHE_H
#define KVLAB_ENGINE_KVCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/backend.h" // enum kv_dtype

struct kv_layer {
	int n_head;      /* heads held: Hkv, or H when per query head */
	int cap;         /* C: capacity per head, in entries */
	int *len;        /* (n_head,) entries held per head */
	float *k;        /* (n_head, C, D) backend memory; f32 caches only, else NULL */
	float *v;        /* (n_head, C, D) backend memory; f32 caches only, else NULL */
	uint16_t *kh;    /* (n_head, C, D) host memory; f16/bf16 caches only, else NULL */
	uint16_t *vh;    /* (n_head, C, D) host memory; f16/bf16 caches only, else NULL */
	int32_t *pos;    /* (n_head, C) host: original position of each entry */
};

struct kv_cache {
	const struct backend_ops *be; /* borrowed: where K and V live */
	int n_layer;
	int head_dim;
	enum kv_dtype dtype;     /* what K and V are stored in */
	struct kv_layer *layers; /* (n_layer,) */
};

/* Makes an empty cache on backend be (borrowed, must outlive the cache) of n_layer
 * layers with n_head[l] heads (NULL: n_head_default for all), capacity cap per head and
 * K/V stored as dtype (KV_EUNSUP naming be when be cannot hold it); caller frees with
 * kv_cache_free. */
int kv_cache_init(struct kv_cache **out, const struct backend_ops *be, int n_layer, const int *n_head, int n_head_default,
		  int cap, int head_dim, enum kv_dtype dtype, char *err, size_t errlen);
/* Frees c and everything it owns (NULL is a no-op). */
void kv_cache_free(struct kv_cache *c);

/* Appends T tokens to every head of layer l, growing its capacity when full: k, v are
 * (T, Hkv, D) backend memory with row stride ld floats, pos (T,) host; a per-query-head layer's head h takes KV head
 * h * Hkv / n_head (transformers' repeat_kv). */
int kv_cache_append(struct kv_cache *c, int l, const float *k, const float *v, int ld, const int32_t *pos, int T,
		    int n_head_kv, char *err, size_t errlen);

/* Replaces layer l with n_head heads where head h holds rows rows[h * stride + i],
 * i < n_keep[h], of k/v (T, Hkv, D) (backend memory) and pos (T,) in that order, with capacity for reserve more
 * entries. rows == NULL keeps all T rows in order. */
int kv_cache_set_layer(struct kv_cache *c, int l, int n_head, const int *n_keep, const int32_t *rows, int stride,
		       const float *k, const float *v, int ld, const int32_t *pos, int T, int n_head_kv, int reserve,
		       char *err, size_t errlen);

/* Keeps entries rows[0..n) (indices into head h of layer l, in that order), dropping the rest. */
int kv_cache_keep(struct kv_cache *c, int l, int h, const int32_t *rows, int n, char *err, size_t errlen);

/* Drops head h of layer l's entries after its first n (what was appended after them),
 * keeping the capacity; KV_EINTERNAL when n is outside 0..len. */
int kv_cache_truncate(struct kv_cache *c, int l, int h, int n, char *err, size_t errlen);

/* Head h of layer l's keys and values (widened to fp32 for 16-bit caches) into k, v
 * (len[h], D) each, host memory owned by the caller; v may be NULL (keys only). */
void kv_cache_read_head(const struct kv_cache *c, int l, int h, float *k, float *v);

/* The attention op's view (borrowed pointers into c) of the first n entries of head h of
 * layer l: f32 K/V or the 16-bit host copies, as c's dtype says. */
struct attn_kv_view kv_cache_head_view(const struct kv_cache *c, int l, int h, int n);

/* Bytes of K and V held (entries actually kept, not capacity, at the stored type). */
size_t kv_cache_bytes(const struct kv_cache *c);
/* Entries held in layer l, summed over heads. */
long kv_cache_entries(const struct kv_cache *c, int l);

#endif
