/* The cpu-int8 backend's products (engine/cpu/qmatvec_int8.h): x as bytes per block for
 * Q4_1, the fp32 products for Q8_0.
 *  - x's preparation: |v| <= 127, each element within s / 2 of v s, zero and tiny blocks
 *    give s = 0, an inf or nan gives s nan; the AVX2 preparation gives the plain C one's
 *    bytes, scales and sums exactly;
 *  - Q4_1 products (the dispatching entry point, the plain C, AVX2 and VNNI row kernels)
 *    against a double evaluation of the definition from the GGUF's own bytes (within 1e-6
 *    of the sum of the terms' magnitudes), and against the fp32 product within the rounding
 *    of x (sum |d q| s / 2 per block); row counts that split unevenly, one and many blocks;
 *    Q8_0 products are cpu_qmatvec's bit for bit;
 *  - one call over several matrices (one width, or two) equals one call each, and two
 *    threads give one thread's outputs bit for bit (x is prepared once, by the caller);
 *  - the backend table and its lookup (--dtype int8; cuda refuses it);
 *  - SmolLM2 (Q4_1) on the 2000-token golden prompt: prefill in fp32, the last 8 tokens
 *    decoded through cpu-int8; the logits stay within INT8_TOL of the fp32 decode's and
 *    every step's argmax is fp32's (the measured max |diff| is printed). */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"             // KV_EINVAL, KV_EUNSUP
#include "base/fileio.h"             // kv_read_file
#include "engine/backend.h"          // backend_cpu_int8, backend_by_name_dtype
#include "engine/cpu/cpu_ops.h"      // cpu_qmatvec_int8
#include "engine/cpu/qmatvec_avx2.h" // qmatvec_avx2_supported
#include "engine/cpu/qmatvec_int8.h"
#include "engine/cpu/qmatvec_vnni.h" // qx_supported
#include "engine/forward.h" // fwd_session_*, fwd_prefill, fwd_decode
#include "engine/gguf.h"    // GGML_DT_*
#include "engine/model.h"   // model_load
#include "engine/qmat.h"
#include "engine/quant.h" // quant_dequant_row, quant_row_bytes, quant_f32_to_f16
#include "tests/qblocks.h" // random_qblocks
#include "tests/test.h"
#include "tests/xorshift.h" // xorshift_range

/* |logit diff| of cpu-int8's decode vs fp32's on SmolLM2. Kernels whose products agree
 * within fp32 rounding land anywhere in 0.39-0.63 (Zen 4: plain C 0.39, AVX2 0.47, VNNI
 * 0.63; Zen 3 AVX2 0.43): a rounding change flips some of x's bytes by one step, and the
 * maximum over 8 x 49152 logits moves with them. */
#define INT8_TOL 1.0f
#define GOLDEN "tests/golden/smollm2_logits_2000.bin"
#define N_DECODE 8

static uint64_t rng = 0x2545f4914f6cdd1dull;

static float uniform(float lo, float hi)
{
	return xorshift_range(&rng, lo, hi);
}

static uint8_t *random_blocks(uint32_t t, int rows, int cols)
{
	return random_qblocks(t, rows, cols, &rng);
}

static bool avx2(void)
{
	return qmatvec_avx2_supported();
}

/* x of cols elements: uniform, with (when mixed) a zero block, a tiny block, one large
 * element among small ones, and blocks of very different scales */
static void random_x(float *x, int cols, bool mixed)
{
	for (int j = 0; j < cols; j++)
		x[j] = uniform(-2.0f, 2.0f) * (mixed ? powf(2.0f, (float)((j / 32) % 9 - 4)) : 1.0f);
	for (int j = 0; mixed && j < cols && j < 128; j++)
		x[j] = j < 32 ? 0.0f : j < 64 ? (j == 40 ? 50.0f : uniform(-1e-3f, 1e-3f)) : j < 96 ? uniform(-1e-31f, 1e-31f) : x[j];
}

static void preparation_rounds_x_within_half_a_step(void)
{
	enum { NB = 40 };
	static float x[NB * 32];
	static struct qx8 a, b;
	random_x(x, NB * 32, true);
	x[37 * 32 + 5] = INFINITY;
	x[38 * 32 + 9] = NAN;
	memset(x + 39 * 32, 0, sizeof(float) * 32);
	x[39 * 32] = 1.0f;	/* a block with one nonzero element */
	x[36 * 32 + 7] = 1e-31f; /* a tiny group beside ordinary ones */
	x[36 * 32 + 4] = x[36 * 32 + 5] = x[36 * 32 + 6] = 0.0f;
	qx8_prepare(&a, x, NB);
	int bad = 0;
	for (int k = 0; k < NB; k++)
		for (int g = 0; g < QX8_GROUPS; g++) {
			float amax = 0;
			for (int i = 4 * g; i < 4 * g + 4; i++)
				amax = fmaxf(amax, fabsf(x[k * 32 + i]));
			if (k == 37 || k == 38) {
				bad += !isnan(a.s[k][g]);
				continue;
			}
			if (amax < QX8_TINY) {
				bad += a.s[k][g] != 0.0f;
				for (int i = 4 * g; i < 4 * g + 4; i++)
					bad += a.v[k][i] != 0;
				continue;
			}
			bad += fabsf(a.s[k][g] - amax / 127.0f) > 1e-6f * amax;
			for (int i = 4 * g; i < 4 * g + 4; i++) {
				float e = fabsf(x[k * 32 + i] - a.v[k][i] * a.s[k][g]);
				bad += a.v[k][i] < -127 || e > a.s[k][g] * 0.5f * (1 + 1e-5f);
			}
		}
	T_CHECK(bad == 0, "%d groups or elements off the definition", bad);
	T_CHECK(a.v[39][0] == 127 && a.s[39][0] == 1.0f / 127.0f && a.s[39][1] == 0.0f, "a lone 1.0: v %d s %g, next group's s %g",
		a.v[39][0], a.s[39][0], a.s[39][1]);
	T_CHECK(a.s[36][1] == 0.0f && a.s[36][0] > 0.0f && a.s[36][2] > 0.0f, "the tiny group: s %g", a.s[36][1]);
	if (!avx2()) {
		T_SKIP("no AVX2 preparation on this CPU");
		return;
	}
	memset(&b, 0xa5, sizeof(b));
	qx8_prepare_avx2(&b, x, NB);
	T_CHECK(!memcmp(a.v, b.v, sizeof(a.v[0]) * NB), "the AVX2 preparation's bytes differ from the plain C ones");
	bad = 0;
	for (int k = 0; k < NB; k++) /* nan scales compare unequal: compare bits */
		bad += memcmp(a.s[k], b.s[k], sizeof(a.s[k])) != 0 || memcmp(&a.sum[k], &b.sum[k], sizeof(float)) != 0;
	T_CHECK(bad == 0 && b.nb == NB, "the AVX2 preparation's scales or sums differ in %d blocks", bad);
}

typedef void rows_fn(const struct qmat *w, int r0, int nr, const struct qx8 *p, float *y);

/* y through the dispatch (rows == NULL) or one row kernel, QX8_ROWS rows at a time */
static void product(rows_fn *rows, const struct qmat *q, const float *x, const struct qx8 *p, float *y)
{
	if (!rows) {
		cpu_qmatvec_int8(&y, x, (const struct qmat *[]){ q }, 1);
		return;
	}
	for (int r = 0; r < q->rows; r += QX8_ROWS)
		rows(q, r, q->rows - r < QX8_ROWS ? q->rows - r : QX8_ROWS, p, y + r);
}

static void check_products(int rows, int cols, bool mixed)
{
	const uint32_t t = GGML_DT_Q4_1;
	uint8_t *src = random_blocks(t, rows, cols);
	size_t rb = quant_row_bytes(t, cols), bb = quant_block_bytes(t);
	int nb = cols / 32;
	float *w = malloc(sizeof(float) * rows * cols), *x = malloc(sizeof(float) * cols), *y = malloc(sizeof(float) * rows);
	static struct qx8 p;
	random_x(x, cols, mixed);
	qx8_prepare(&p, x, nb);
	struct qmat q;
	T_CHECK(qmat_from_ggml(&q, t, src, rows, cols) == 0, "qmat_from_ggml failed");
	for (int r = 0; r < rows; r++)
		quant_dequant_row(t, src + (size_t)r * rb, w + (size_t)r * cols, cols);
	rows_fn *kernels[4] = { NULL, qx8_rows, avx2() ? qx8_rows_avx2 : NULL, qx_supported() ? qx8_rows_vnni : NULL };
	const char *names[4] = { "cpu_qmatvec_int8", "qx8_rows", "qx8_rows_avx2", "qx8_rows_vnni" };
	for (int k = 0; k < 4; k++) {
		if (k >= 2 && !kernels[k])
			continue;
		product(kernels[k], &q, x, &p, y);
		double worst = 0, worst32 = 0;
		for (int r = 0; r < rows; r++) {
			/* the definition, in double from the file's bytes */
			double ref = 0, mag = 0, ref32 = 0, bound = 0;
			for (int b = 0; b < nb; b++) {
				const uint8_t *blk = src + (size_t)r * rb + (size_t)b * bb;
				uint16_t hd, hm;
				memcpy(&hd, blk, 2);
				memcpy(&hm, blk + 2, 2);
				double dd = quant_f16_to_f32(hd), mt = (double)quant_f16_to_f32(hm) * p.sum[b];
				for (int g = 0; g < QX8_GROUPS; g++) {
					long isum = 0, iabs = 0;
					for (int i = 4 * g; i < 4 * g + 4; i++) {
						int c = i < 16 ? blk[4 + i] & 15 : blk[4 + i - 16] >> 4;
						isum += (long)c * p.v[b][i];
						iabs += labs((long)c * p.v[b][i]);
						bound += fabs(dd * c) * p.s[b][g] * 0.5;
					}
					ref += dd * p.s[b][g] * isum;
					mag += fabs(dd * p.s[b][g]) * iabs;
				}
				ref += mt;
				mag += fabs(mt);
			}
			for (int j = 0; j < cols; j++) {
				ref32 += (double)w[(size_t)r * cols + j] * x[j];
				bound += 1e-6 * fabs((double)w[(size_t)r * cols + j] * x[j]);
			}
			double e = fabs(y[r] - ref) / (mag > 0 ? mag : 1), e32 = fabs(y[r] - ref32) / (bound > 0 ? bound : 1);
			worst = e > worst || isnan(e) ? e : worst;
			worst32 = e32 > worst32 || isnan(e32) ? e32 : worst32;
		}
		T_CHECK(worst <= 1e-6, "%s %dx%d%s: %.3g of the terms' magnitude from the definition", names[k], rows, cols,
			mixed ? " mixed" : "", worst);
		T_CHECK(worst32 <= 1.0, "%s %dx%d%s: %.3g times the rounding bound from the fp32 product", names[k], rows, cols,
			mixed ? " mixed" : "", worst32);
	}
	qmat_free(&q);
	free(src);
	free(w);
	free(x);
	free(y);
}

static void q4_1_products_follow_the_definition(void)
{
	const int shapes[][2] = { { 1, 32 }, { 37, 96 }, { 192, 576 }, { 576, 1536 }, { 1537, 64 } };
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
		check_products(shapes[i][0], shapes[i][1], false);
	check_products(64, 576, true);
}

/* Q8_0 (the LM head) keeps the fp32 products: cpu_qmatvec's outputs bit for bit */
static void q8_0_products_stay_fp32(void)
{
	uint8_t *src = random_blocks(GGML_DT_Q8_0, 37, 576);
	struct qmat q;
	T_CHECK(qmat_from_ggml(&q, GGML_DT_Q8_0, src, 37, 576) == 0, "qmat_from_ggml failed");
	float x[576], y[37], y32[37];
	random_x(x, 576, true);
	cpu_qmatvec_int8((float *[]){ y }, x, (const struct qmat *[]){ &q }, 1);
	cpu_qmatvec((float *[]){ y32 }, x, (const struct qmat *[]){ &q }, 1);
	T_CHECK(!memcmp(y, y32, sizeof(y)), "Q8_0 through cpu_qmatvec_int8 differs from cpu_qmatvec");
	qmat_free(&q);
	free(src);
}

/* an inf in x: every row's product is not finite (the block's s is nan) */
static void an_inf_in_x_gives_no_finite_product(void)
{
	uint8_t *src = random_blocks(GGML_DT_Q4_1, 9, 96);
	struct qmat q;
	T_CHECK(qmat_from_ggml(&q, GGML_DT_Q4_1, src, 9, 96) == 0, "qmat_from_ggml failed");
	float x[96], y[9];
	random_x(x, 96, false);
	x[50] = INFINITY;
	cpu_qmatvec_int8((float *[]){ y }, x, (const struct qmat *[]){ &q }, 1);
	for (int r = 0; r < 9; r++)
		T_CHECK(!isfinite(y[r]), "row %d: %g from an x holding an inf", r, y[r]);
	qmat_free(&q);
	free(src);
}

/* q, k, v in one call (and calls mixing Q8_0 or two widths, which go one matrix at a
 * time) give one call each; two threads give one thread's outputs */
static void calls_and_threads_change_nothing(void)
{
	const uint32_t types[4] = { GGML_DT_Q4_1, GGML_DT_Q8_0, GGML_DT_Q4_1, GGML_DT_Q4_1 };
	const int rows[4] = { 576, 7, 193, 101 }, cols[4] = { 576, 576, 576, 1536 };
	struct qmat q[4];
	float *y[4], *y1[4], *y2[4], x[1536];
	random_x(x, 1536, false);
	for (int i = 0; i < 4; i++) {
		uint8_t *src = random_blocks(types[i], rows[i], cols[i]);
		T_CHECK(qmat_from_ggml(&q[i], types[i], src, rows[i], cols[i]) == 0, "qmat_from_ggml failed");
		free(src);
		y[i] = malloc(sizeof(float) * rows[i]);
		y1[i] = malloc(sizeof(float) * rows[i]);
		y2[i] = malloc(sizeof(float) * rows[i]);
	}
	int threads = omp_get_max_threads();
	omp_set_num_threads(1);
	for (int i = 0; i < 4; i++)
		cpu_qmatvec_int8(&y1[i], x, (const struct qmat *[]){ &q[i] }, 1);
	cpu_qmatvec_int8(y, x, (const struct qmat *[]){ &q[0], &q[1], &q[2] }, 3);
	cpu_qmatvec_int8(y + 2, x, (const struct qmat *[]){ &q[2], &q[3] }, 2);
	omp_set_num_threads(2);
	cpu_qmatvec_int8(y2, x, (const struct qmat *[]){ &q[0], &q[1], &q[2], &q[3] }, 4);
	omp_set_num_threads(threads);
	for (int i = 0; i < 4; i++) {
		T_CHECK(!memcmp(y[i], y1[i], sizeof(float) * rows[i]), "matrix %d differs between one call and several", i);
		T_CHECK(!memcmp(y2[i], y1[i], sizeof(float) * rows[i]), "matrix %d differs between two threads and one", i);
		qmat_free(&q[i]);
		free(y[i]);
		free(y1[i]);
		free(y2[i]);
	}
}

static void dtype_int8_names_the_cpu_int8_table(void)
{
	const struct backend_ops *be = NULL;
	char err[256];
	T_CHECK(backend_by_name_dtype("cpu", "int8", &be, err, sizeof(err)) == 0 && be == &backend_cpu_int8, "%s", err);
	T_CHECK(!strcmp(backend_cpu_int8.name, "cpu-int8") && !strcmp(bk_dtype(&backend_cpu_int8), "int8") &&
			backend_cpu_int8.qmatvec == cpu_qmatvec_int8 && backend_cpu_int8.matmul == cpu_matmul,
		"table %s dtype %s", backend_cpu_int8.name, bk_dtype(&backend_cpu_int8));
	T_CHECK(backend_validate(&backend_cpu_int8, err, sizeof(err)) == 0, "%s", err);
	T_CHECK(backend_by_name_dtype("cuda", "int8", &be, err, sizeof(err)) == KV_EUNSUP && strstr(err, "cpu only"), "cuda int8: %s",
		err);
	T_CHECK(backend_by_name_dtype("cpu", "int4", &be, err, sizeof(err)) == KV_EINVAL && strstr(err, "int4") &&
			strstr(err, "int8"),
		"%s", err);
}

// ----------------------------------------------------------------------------
// SmolLM2

/* The golden prompt's tokens (KVLG, scripts/ref_engine.py). */
static int read_golden_tokens(int32_t **tokens, int *n)
{
	char *buf = NULL, err[256];
	size_t len = 0;
	if (kv_read_file(GOLDEN, &buf, &len, err, sizeof(err)))
		return -1;
	uint32_t nt = 0; /* tokens at 72, vocabulary at 76 */
	memcpy(&nt, buf + 72, 4);
	if (len < 80 || memcmp(buf, "KVLG", 4) || len < 80 + (size_t)nt * 8) {
		free(buf);
		return -1;
	}
	*n = (int)nt;
	*tokens = malloc(sizeof(int32_t) * *n);
	memcpy(*tokens, buf + 80, sizeof(int32_t) * *n);
	free(buf);
	return 0;
}

/* Prefills ids[0..n - N_DECODE) on be (fp32 GEMMs on both tables), then decodes the
 * rest teacher-forced; logits (V,) after each decoded token into lg[t * V]. */
static int decode_on(struct model *m, const struct backend_ops *be, const int32_t *ids, int n, float *lg)
{
	struct fwd_session *s = NULL;
	char err[512];
	int V = m->cfg.n_vocab;
	int rc = fwd_session_init_on(be, m, NULL, N_DECODE, 2, &s, err, sizeof(err));
	if (!rc)
		rc = fwd_prefill(s, ids, n - N_DECODE, false, lg, err, sizeof(err));
	for (int i = 0; !rc && i < N_DECODE; i++)
		rc = fwd_decode(s, ids[n - N_DECODE + i], lg + (size_t)i * V, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	fwd_session_free(s);
	return rc;
}

static int argmax(const float *v, int n)
{
	int a = 0;
	for (int i = 1; i < n; i++)
		a = v[i] > v[a] ? i : a;
	return a;
}

static void smollm2_decode_stays_near_fp32(void)
{
	char err[512];
	struct model *m = NULL;
	int32_t *ids = NULL;
	int n = 0;
	if (model_load(T_MODEL, &m, err, sizeof(err))) {
		T_SKIP("%s not loadable", T_MODEL);
		return;
	}
	if (read_golden_tokens(&ids, &n) || n <= N_DECODE) {
		T_SKIP("%s missing", GOLDEN);
		model_free(m);
		return;
	}
	int V = m->cfg.n_vocab;
	float *l32 = malloc(sizeof(float) * V * N_DECODE), *l8 = malloc(sizeof(float) * V * N_DECODE);
	if (!decode_on(m, &backend_cpu, ids, n, l32) && !decode_on(m, &backend_cpu_int8, ids, n, l8)) {
		float md = 0;
		int same = 0;
		for (int t = 0; t < N_DECODE; t++) {
			for (int v = 0; v < V; v++)
				md = fmaxf(md, fabsf(l8[(size_t)t * V + v] - l32[(size_t)t * V + v]));
			same += argmax(l8 + (size_t)t * V, V) == argmax(l32 + (size_t)t * V, V);
		}
		printf("  cpu-int8 decode of the last %d golden tokens: max|logit diff| vs fp32 %.4g (tol %g), argmax equal at %d/%d\n",
		       N_DECODE, md, INT8_TOL, same, N_DECODE);
		T_CHECK(md > 0 && md <= INT8_TOL, "cpu-int8 logits differ from fp32's by %g", md);
		T_CHECK(same == N_DECODE, "argmax differs at %d of %d steps", N_DECODE - same, N_DECODE);
	}
	free(l32);
	free(l8);
	free(ids);
	model_free(m);
}

int main(void)
{
	T_RUN(preparation_rounds_x_within_half_a_step);
	T_RUN(q4_1_products_follow_the_definition);
	T_RUN(q8_0_products_stay_fp32);
	T_RUN(an_inf_in_x_gives_no_finite_product);
	T_RUN(calls_and_threads_change_nothing);
	T_RUN(dtype_int8_names_the_cpu_int8_table);
	T_RUN(smollm2_decode_stays_near_fp32);
	return t_done();
}
