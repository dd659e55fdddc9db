/* The roofline of a CPU benchmark row: a machine calibration (a STREAM-like read
 * bandwidth and an fp32 GEMM peak, measured with the bench's threads) and the work a
 * phase must do (the bytes one decode step reads: the weights as decode stores them plus
 * the K/V attended; the FLOPs of a prefill over the tokens alive in each layer), so a
 * row's time can be put against its bound: bound_ms = bytes / bandwidth or FLOPs / peak,
 * achieved = bound_ms / measured median.
 * E = n_embd, H = n_head, Hkv = n_head_kv, D = head_dim, F = n_ff, V = n_vocab */
#ifndef KVLAB_BENCH_ROOFLINE_H
#define KVLAB_BENCH_ROOFLINE_H

#include <stddef.h>

#include "engine/model.h" // struct model, struct model_config

struct backend_ops;

struct bench_machine {
	double read_gbs;      /* best read bandwidth over the repetitions, 1e9 bytes/s */
	double gemm_gflops;   /* best fp32 GEMM rate (the backend's matmul), 1e9 FLOP/s */
	size_t read_bytes;    /* buffer the bandwidth kernel read (well above the caches) */
	int gemm_n;           /* the GEMM was (gemm_n x gemm_n) . (gemm_n x gemm_n)^T */
	int threads;          /* threads both ran on */
};

/* Measures *out on n_threads (<= 0: all cores) through be (its matmul and thread
 * count): a read-only sum over a 256 MiB buffer and a 1024^3 GEMM, best of a few
 * repetitions each after a warm-up. 0, or KV_ENOMEM with err. */
int bench_calibrate(const struct backend_ops *be, int n_threads, struct bench_machine *out, char *err, size_t errlen);

/* Bytes of m's weights that one decode step reads as they are stored for decode: the
 * block-quantised copies (codes, scales, mins) where the model has them, else fp32,
 * the norms, and the output projection (the embedding row read is negligible). */
double bench_decode_weight_bytes(const struct model *m);

/* FLOPs of a prefill whose layer l ran n_alive[l] tokens (causal attention: each query
 * against the keys up to it), plus the LM head on one row: 2 per multiply-add. */
double bench_prefill_flops(const struct model_config *c, const int *n_alive);

#endif
