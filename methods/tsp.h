/* FastKV's Token-Selective Propagation (spec/methods.md section 3), shared by the
 * fastkv method and the "tsp" reduction half of composed methods (methods/compose.c):
 * the parameters, the per-layer budget rule and the selection of the propagated rows,
 * from one code path so that fastkv and tsp+snapkv:per_kv_head=1 select alike. */
#ifndef KVLAB_METHODS_TSP_H
#define KVLAB_METHODS_TSP_H

#include "engine/kv_method.h"
#include "methods/params.h"

/* FastKV's parameters, and the tsp reduction's (the same table). */
struct tsp_params {
	struct kv_params p;
	int tsp_idx;      /* --tsp_idx 0..L-1 (15) */
	double tsp_rate;  /* --tsp_rate (0, 1] (0.2) */
	int tsp_len;      /* --tsp_len >= 1 (2048) */
};

extern const struct kv_param_def kv_param_tsp_idx, kv_param_tsp_rate, kv_param_tsp_len;

/* The tsp reduction's table: FastKV's parameters, in the order of the describe JSON. */
extern const struct kv_param_def *const tsp_params_table[];

/* The tsp reduction (not in kv_methods: a half of composed methods only). Its prefill
 * propagates the TSP rows at --tsp_idx in pass 0 and keeps every KV row. */
extern const struct kv_method tsp_reduction_method;

/* Makes a struct tsp_params from key=value pairs checked against table (FastKV's
 * parameters; method names the errors); the caller frees it with free(). */
int tsp_params_init(const struct kv_param_def *const *table, const char *method, const char *const *keys, const char *const *vals, int n,
		    const struct kv_shape *shape, void **state, char *err, size_t errlen);

/* 3.1: the retention rate of layer l: retain_rate up to --tsp_idx, retain_rate / tsp_rate after. */
double tsp_layer_rate(const struct tsp_params *f, int layer);

/* 3.2 step 4: agg (Hkv, np) = the pooled scores (H, np) summed over each KV head's query group. */
void tsp_group_sum(const float *pooled, int H, int Hkv, int np, float *agg);

/* 3.2 step 6 at the TSP layer (pass 0), given the layer's group sums agg (Hkv, T-w):
 * sets d->prop / d->n_prop to the top tokens by the sum over KV heads plus the window,
 * ascending, when the layer has more rows than the TSP length. tot is (T-w,) scratch. */
void tsp_propagate(const struct tsp_params *f, const struct kv_layer_view *v, const float *agg, float *tot,
		   struct kv_decision *d);

#endif
