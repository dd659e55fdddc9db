/* Roofline calibration and work counts: see roofline.h. The bandwidth kernel is STREAM's
 * idea reduced to its read half (a sum, so nothing is written back), over a buffer far
 * above the last-level cache, split over the threads; the GEMM peak is the backend's own
 * matmul, so the prefill bound is what this build's GEMM can do. */
#include "bench/roofline.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"     // kv_clock_s
#include "base/errors.h"    // kv_errf
#include "base/hugemem.h"   // kv_huge_alloc
#include "engine/backend.h" // bk_matmul, bk_set_threads
#include "engine/qmat.h"    // qmat_bytes

#define READ_BYTES (256u << 20)
#define READ_REPS 5
#define GEMM_N 2048
#define GEMM_REPS 3

typedef float v16f __attribute__((vector_size(64)));

/* The sum of n floats (n a multiple of 128) in 8 x 16 lanes: loads only, no stores; eight
 * independent sums keep enough loads in flight for one core to reach its share of DRAM. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static float read_sum(const float *x, size_t n)
{
	v16f a[8] = { { 0 } };
	for (size_t i = 0; i < n; i += 128) {
		for (int j = 0; j < 8; j++) {
			v16f b;
			memcpy(&b, x + i + 16 * j, 64);
			a[j] += b;
		}
	}
	v16f t = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
	float s = 0.0f;
	for (int i = 0; i < 16; i++)
		s += t[i];
	return s;
}

static volatile float sink; /* keeps the sums alive */

int bench_calibrate(const struct backend_ops *be, int n_threads, struct bench_machine *out, char *err, size_t errlen)
{
	int nt = n_threads > 0 ? n_threads : omp_get_num_procs();
	size_t n = READ_BYTES / sizeof(float);
	float *buf = kv_huge_alloc(READ_BYTES); /* the pages decode's weights and caches get */
	size_t g = (size_t)GEMM_N * GEMM_N;
	float *a = malloc(sizeof(float) * g * 3), *b = a ? a + g : NULL, *c = a ? a + 2 * g : NULL;
	if (!buf || !a) {
		free(buf);
		free(a);
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory for the roofline calibration (%u MiB)", READ_BYTES >> 20);
	}
	for (size_t i = 0; i < n; i++) /* touch every page, and no denormals */
		buf[i] = (float)(i & 1023) * 1e-3f;
	for (size_t i = 0; i < 2 * g; i++)
		a[i] = (float)((i * 7919) % 2003) * 1e-3f - 1.0f;
	bk_set_threads(be, nt);
	double best = 0.0;
	size_t per = n / (size_t)nt / 128 * 128; /* floats per thread, whole 128-float steps */
	for (int r = 0; r <= READ_REPS; r++) { /* r = 0: warm-up */
		float total = 0.0f;
		double t0 = kv_clock_s();
		/* every slice is read even when the runtime gives a smaller team */
#pragma omp parallel num_threads(nt) reduction(+ : total)
		for (int t = omp_get_thread_num(); t < nt; t += omp_get_num_threads())
			total += read_sum(buf + (size_t)t * per, per);
		double dt = kv_clock_s() - t0;
		sink = total;
		if (r > 0 && dt > 0 && (double)per * nt * sizeof(float) / dt > best)
			best = (double)per * nt * sizeof(float) / dt;
	}
	double gbest = 0.0;
	for (int r = 0; r <= GEMM_REPS; r++) {
		double t0 = kv_clock_s();
		bk_matmul(be, c, a, b, GEMM_N, GEMM_N, GEMM_N);
		double dt = kv_clock_s() - t0;
		sink = c[g / 2];
		if (r > 0 && dt > 0 && 2.0 * GEMM_N * g / dt > gbest)
			gbest = 2.0 * GEMM_N * g / dt;
	}
	*out = (struct bench_machine){ .read_gbs = best / 1e9, .gemm_gflops = gbest / 1e9, .read_bytes = per * nt * sizeof(float),
				       .gemm_n = GEMM_N, .threads = nt };
	free(buf);
	free(a);
	return 0;
}

/* Bytes decode reads of one matrix: its packed copy, or its fp32 weights. */
static double matrix_bytes(const struct qmat *q, double rows, double cols)
{
	return q->type != QMAT_NONE ? (double)qmat_bytes(q) : rows * cols * sizeof(float);
}

double bench_decode_weight_bytes(const struct model *m)
{
	const struct model_config *c = &m->cfg;
	double E = c->n_embd, HD = (double)c->n_head * c->head_dim, KD = (double)c->n_head_kv * c->head_dim, F = c->n_ff;
	const double rows[QW_COUNT] = { HD, KD, KD, E, F, F, E }, cols[QW_COUNT] = { E, E, E, HD, E, E, F };
	double b = 0.0;
	for (int l = 0; l < c->n_layer; l++) {
		for (int i = 0; i < QW_COUNT; i++)
			b += matrix_bytes(&m->layers[l].q[i], rows[i], cols[i]);
		b += 2 * E * sizeof(float); /* the two norms */
	}
	return b + matrix_bytes(&m->q_output, c->n_vocab, E) + E * sizeof(float);
}

double bench_prefill_flops(const struct model_config *c, const int *n_alive)
{
	double E = c->n_embd, HD = (double)c->n_head * c->head_dim, KD = (double)c->n_head_kv * c->head_dim, F = c->n_ff;
	double per_token = 2.0 * (E * HD + 2 * E * KD + HD * E + 3 * E * F); /* q, k, v, o, gate, up, down */
	double f = 0.0;
	for (int l = 0; l < c->n_layer; l++) {
		double T = n_alive[l];
		f += T * per_token + 2.0 * 2.0 * HD * T * (T + 1) / 2; /* QK^T and PV over the causal triangle */
	}
	return f + 2.0 * E * c->n_vocab;
}
