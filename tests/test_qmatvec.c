/* Decode's block-quantised products (engine/qmat.c repacking, engine/cpu/qmatvec.c; the
 * dispatching entry point and the portable kernel it falls back to without AVX-512 or AVX2)
 * against quant_dequant_row followed by a double-precision dot product: every output
 * within 1e-6 of sum |w x| (fp32 products in another order), for Q4_1 and Q8_0 rows of
 * random codes with fp16 scales, row counts that split unevenly over threads, widths of
 * one and many blocks, and a last row whose padding read must not matter; the AVX-512
 * kernel with x in fp32 and with x as integers (VNNI), the AVX2 kernel (CPUs without
 * AVX-512), blocks of x of very different
 * scales, an inf or a nan in x. Also checks the interleaved rows (qmat_codes), reordering rows,
 * that only Q4_1 and Q8_0 get a packed copy, and the same outputs as the fp32 matmul. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/cpu_ops.h" // cpu_qmatvec, cpu_matmul
#include "engine/gguf.h"        // GGML_DT_*
#include "engine/qmat.h"
#include "engine/quant.h"       // quant_dequant_row, quant_row_bytes, quant_f32_to_f16
#include "tests/qblocks.h" // random_qblocks
#include "tests/test.h"
#include "tests/xorshift.h" // xorshift_range

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static float uniform(float lo, float hi)
{
	return xorshift_range(&rng, lo, hi);
}

static uint8_t *random_blocks(uint32_t t, int rows, int cols)
{
	return random_qblocks(t, rows, cols, &rng);
}

/* y = W x through the dispatching entry point or the portable kernel */
typedef void qmatvec_fn(float *const *y, const float *x, const struct qmat *const *w, int n);

/* the AVX-512 kernel with x in fp32 (cpu_qmatvec takes x as integers where VNNI exists);
 * where it cannot run, outputs nan, which fails the check */
static void avx512_fp32(float *const *y, const float *x, const struct qmat *const *w, int n)
{
	if (cpu_qmatvec_avx512_fp32(y, x, w, n) != 0)
		for (int r = 0; r < w[0]->rows; r++)
			y[0][r] = NAN;
}

/* the AVX2 kernel (cpu_qmatvec takes it only on CPUs without AVX-512); nan where it cannot run */
static void avx2(float *const *y, const float *x, const struct qmat *const *w, int n)
{
	if (cpu_qmatvec_avx2(y, x, w, n) != 0)
		for (int r = 0; r < w[0]->rows; r++)
			y[0][r] = NAN;
}

/* x of mixed blocks: zeros, one large element among small ones, tiny values, then uniform */
static bool mixed_x;

static void check_kernel(qmatvec_fn *kernel, uint32_t t, const char *name, int rows, int cols)
{
	uint8_t *src = random_blocks(t, rows, cols);
	size_t rb = quant_row_bytes(t, cols);
	float *w = malloc(sizeof(float) * rows * cols), *x = malloc(sizeof(float) * cols);
	float *y = malloc(sizeof(float) * rows), *y32 = malloc(sizeof(float) * rows);
	for (int r = 0; r < rows; r++)
		quant_dequant_row(t, src + (size_t)r * rb, w + (size_t)r * cols, cols);
	for (int j = 0; j < cols; j++)
		x[j] = uniform(-2.0f, 2.0f);
	for (int j = 0; mixed_x && j < cols && j < 128; j++)
		x[j] = j < 32 ? 0.0f : j < 64 ? (j == 40 ? 50.0f : uniform(-1e-3f, 1e-3f)) : j < 96 ? uniform(-1e-20f, 1e-20f) : x[j];
	struct qmat q;
	T_CHECK(qmat_from_ggml(&q, t, src, rows, cols) == 0, "%s: qmat_from_ggml failed", name);
	kernel(&y, x, (const struct qmat *[]){ &q }, 1);
	cpu_matmul(y32, x, w, 1, cols, rows);
	double worst = 0, worst32 = 0;
	for (int r = 0; r < rows; r++) {
		double ref = 0, mag = 0;
		for (int j = 0; j < cols; j++) {
			ref += (double)w[(size_t)r * cols + j] * x[j];
			mag += fabs((double)w[(size_t)r * cols + j] * x[j]);
		}
		double e = fabs(y[r] - ref) / (mag > 0 ? mag : 1), e32 = fabs(y[r] - y32[r]) / (mag > 0 ? mag : 1);
		worst = e > worst || isnan(e) ? e : worst;
		worst32 = e32 > worst32 || isnan(e32) ? e32 : worst32;
	}
	T_CHECK(worst <= 1e-6, "%s %dx%d: error %.3g of sum |w x| against the double reference", name, rows, cols, worst);
	T_CHECK(worst32 <= 1e-6, "%s %dx%d: differs from the fp32 matmul by %.3g of sum |w x|", name, rows, cols, worst32);
	qmat_free(&q);
	free(src);
	free(w);
	free(x);
	free(y);
	free(y32);
}

static void check_type(uint32_t t, const char *name, int rows, int cols)
{
	check_kernel(cpu_qmatvec, t, name, rows, cols);
	char pname[32];
	snprintf(pname, sizeof pname, "%s portable", name);
	check_kernel(cpu_qmatvec_portable, t, pname, rows, cols);
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
		snprintf(pname, sizeof pname, "%s avx512 fp32", name);
		check_kernel(avx512_fp32, t, pname, rows, cols);
	}
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
		snprintf(pname, sizeof pname, "%s avx2", name);
		check_kernel(avx2, t, pname, rows, cols);
	}
}

static void q4_1_products_match_the_dequantised_weights(void)
{
	const int shapes[][2] = { { 1, 32 }, { 37, 96 }, { 192, 576 }, { 576, 1536 }, { 1537, 64 } };
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
		check_type(GGML_DT_Q4_1, "Q4_1", shapes[i][0], shapes[i][1]);
}

/* x as integers (the VNNI kernel) must hold blocks of very different scales: each block
 * has its own */
static void blocks_of_mixed_scale_keep_the_precision(void)
{
	mixed_x = true;
	check_type(GGML_DT_Q4_1, "Q4_1 mixed x", 64, 576);
	check_type(GGML_DT_Q8_0, "Q8_0 mixed x", 64, 576);
	mixed_x = false;
}

/* an inf or a nan in x: the same outputs (infs, nans, bit for bit) as the fp32 kernel gives */
static void a_non_finite_x_gives_what_the_fp32_kernel_gives(void)
{
	T_CHECK(cpu_qmatvec_avx512_fp32(NULL, NULL, (const struct qmat *[]){ &(struct qmat){ .cols = 1 << 30 } }, 1) != 0,
		"a width beyond the AVX-512 kernel's stack sums should be declined");
	uint8_t *src = random_blocks(GGML_DT_Q4_1, 8, 96);
	struct qmat q;
	T_CHECK(qmat_from_ggml(&q, GGML_DT_Q4_1, src, 8, 96) == 0, "qmat_from_ggml failed");
	const float bad[] = { INFINITY, -INFINITY, NAN };
	for (int k = 0; k < 3; k++) {
		float x[96], y[8], y32[8];
		for (int j = 0; j < 96; j++)
			x[j] = uniform(-1.0f, 1.0f);
		x[50] = bad[k];
		cpu_qmatvec((float *[]){ y }, x, (const struct qmat *[]){ &q }, 1);
		if (cpu_qmatvec_avx512_fp32((float *[]){ y32 }, x, (const struct qmat *[]){ &q }, 1) == 0)
			T_CHECK(memcmp(y, y32, sizeof y) == 0, "x[50] = %g: outputs differ from the fp32 kernel's", x[50]);
		for (int r = 0; r < 8; r++)
			T_CHECK(!isfinite(y[r]), "row %d: %g from an x holding %g", r, y[r], x[50]);
	}
	qmat_free(&q);
	free(src);
}

static void q8_0_products_match_the_dequantised_weights(void)
{
	const int shapes[][2] = { { 1, 32 }, { 37, 96 }, { 3001, 576 } };
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
		check_type(GGML_DT_Q8_0, "Q8_0", shapes[i][0], shapes[i][1]);
}

/* decode's q, k, v (and gate, up) go in one call: the same outputs as one call each */
static void one_call_over_several_matrices_matches_separate_calls(void)
{
	const uint32_t types[3] = { GGML_DT_Q4_1, GGML_DT_Q8_0, GGML_DT_Q4_1 };
	const int rows[3] = { 576, 7, 193 }, cols = 576;
	struct qmat q[3];
	float *y[3], *y1[3], x[576];
	for (int j = 0; j < cols; j++)
		x[j] = uniform(-1.0f, 1.0f);
	for (int i = 0; i < 3; i++) {
		uint8_t *src = random_blocks(types[i], rows[i], cols);
		T_CHECK(qmat_from_ggml(&q[i], types[i], src, rows[i], cols) == 0, "qmat_from_ggml failed");
		free(src);
		y[i] = malloc(sizeof(float) * rows[i]);
		y1[i] = malloc(sizeof(float) * rows[i]);
		cpu_qmatvec(&y1[i], x, (const struct qmat *[]){ &q[i] }, 1);
	}
	cpu_qmatvec(y, x, (const struct qmat *[]){ &q[0], &q[1], &q[2] }, 3);
	for (int i = 0; i < 3; i++) {
		T_CHECK(memcmp(y[i], y1[i], sizeof(float) * rows[i]) == 0, "matrix %d differs between the calls", i);
		qmat_free(&q[i]);
		free(y[i]);
		free(y1[i]);
	}
}

/* the packed copy holds the file's fp16 scale and min bits unchanged, block by block,
 * and counts the bytes the GGUF stores (20 per Q4_1 block, 34 per Q8_0 block) */
static void scales_and_mins_stay_the_files_fp16(void)
{
	const uint32_t types[2] = { GGML_DT_Q4_1, GGML_DT_Q8_0 };
	const int rows = 5, cols = 96, nb = rows * cols / QMAT_BLOCK;
	for (int k = 0; k < 2; k++) {
		uint8_t *src = random_blocks(types[k], rows, cols);
		size_t bb = quant_block_bytes(types[k]);
		struct qmat q;
		T_CHECK(qmat_from_ggml(&q, types[k], src, rows, cols) == 0, "qmat_from_ggml failed");
		int bad = 0;
		for (int i = 0; i < nb; i++) {
			uint16_t d, m;
			memcpy(&d, src + i * bb, 2);
			memcpy(&m, src + i * bb + 2, 2);
			bad += q.d[i] != d || (q.m && q.m[i] != m) ||
			       memcmp(qmat_codes(&q, i / (cols / QMAT_BLOCK), i % (cols / QMAT_BLOCK)), src + i * bb + (q.m ? 4 : 2),
				      (size_t)qmat_code_bytes(q.type)) != 0;
		}
		T_CHECK(bad == 0, "type %u: %d of %d blocks differ from the file's", types[k], bad, nb);
		T_CHECK(qmat_bytes(&q) == (size_t)nb * bb, "type %u: qmat_bytes %zu, the file holds %zu", types[k],
			qmat_bytes(&q), (size_t)nb * bb);
		T_CHECK((types[k] == GGML_DT_Q4_1) == (q.m != NULL), "type %u: mins only for Q4_1", types[k]);
		qmat_free(&q);
		free(src);
	}
}

/* Q4_1's and Q8_0's codes: every block once, inside the codes' bytes; within a group of
 * QMAT_GROUP_ROWS rows each row's turn of QMAT_TURN bytes (4 or 2 blocks) follows the
 * previous row's (one stream for the 4-row kernels); short last groups of rows and of
 * blocks included */
static void rows_take_turns_every_64_bytes(void)
{
	const uint32_t types[2] = { GGML_DT_Q4_1, GGML_DT_Q8_0 };
	const int shapes[][2] = { { 8, 128 }, { 7, 96 }, { 5, 160 }, { 1, 32 }, { 13, 576 } };
	for (int t = 0; t < 2; t++)
		for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
			int rows = shapes[k][0], cols = shapes[k][1], nb = cols / QMAT_BLOCK;
			uint8_t *src = random_blocks(types[t], rows, cols);
			size_t bb = quant_block_bytes(types[t]);
			struct qmat q;
			T_CHECK(qmat_from_ggml(&q, types[t], src, rows, cols) == 0, "qmat_from_ggml failed");
			int cb = qmat_code_bytes(q.type), tb = QMAT_TURN / cb;
			size_t n = (size_t)rows * nb;
			uint8_t *seen = calloc(n, 1);
			int bad = 0, twice = 0, apart = 0;
			for (int r = 0; r < rows; r++)
				for (int b = 0; b < nb; b++) {
					size_t off = (size_t)(qmat_codes(&q, r, b) - q.qs);
					bad += off % cb != 0 || off / cb >= n ||
					       memcmp(qmat_codes(&q, r, b), src + ((size_t)r * nb + b) * bb + (bb - cb), cb) != 0;
					if (off % cb == 0 && off / cb < n)
						twice += seen[off / cb]++ != 0;
					/* the next row of a full group of rows starts where this row's turn ends */
					int g0 = r - r % QMAT_GROUP_ROWS, c0 = b - b % tb;
					if (g0 + QMAT_GROUP_ROWS <= rows && r % QMAT_GROUP_ROWS < QMAT_GROUP_ROWS - 1 && b == c0)
						apart += qmat_codes(&q, r + 1, b) != qmat_codes(&q, r, b) + cb * (nb - c0 < tb ? nb - c0 : tb);
					/* the whole groups' short form: the same place */
					if (g0 + QMAT_GROUP_ROWS <= rows)
						bad += qmat_group_codes(&q, q.type, g0, r - g0, b) != qmat_codes(&q, r, b);
				}
			T_CHECK(bad == 0 && twice == 0 && apart == 0,
				"type %u %dx%d: %d blocks misplaced or not the file's, %d placed twice, %d rows not taking turns",
				types[t], rows, cols, bad, twice, apart);
			free(seen);
			qmat_free(&q);
			free(src);
		}
}

/* qmat_reorder_rows: rows reversed give the reversed products, bit for bit, and each
 * moved row's blocks are the file's */
static void reordered_rows_keep_their_blocks(void)
{
	const uint32_t types[2] = { GGML_DT_Q4_1, GGML_DT_Q8_0 };
	const int rows = 11, cols = 160, nb = cols / QMAT_BLOCK;
	for (int k = 0; k < 2; k++) {
		uint8_t *src = random_blocks(types[k], rows, cols);
		size_t bb = quant_block_bytes(types[k]);
		struct qmat q;
		T_CHECK(qmat_from_ggml(&q, types[k], src, rows, cols) == 0, "qmat_from_ggml failed");
		float x[160], y0[11], y1[11];
		for (int j = 0; j < cols; j++)
			x[j] = uniform(-1.0f, 1.0f);
		cpu_qmatvec((float *[]){ y0 }, x, (const struct qmat *[]){ &q }, 1);
		int from[11], bad = 0;
		for (int r = 0; r < rows; r++)
			from[r] = rows - 1 - r;
		T_CHECK(qmat_reorder_rows(&q, from) == 0, "qmat_reorder_rows failed");
		cpu_qmatvec((float *[]){ y1 }, x, (const struct qmat *[]){ &q }, 1);
		for (int r = 0; r < rows; r++) {
			bad += memcmp(&y1[r], &y0[from[r]], sizeof(float)) != 0;
			for (int b = 0; b < nb; b++) {
				const uint8_t *f = src + ((size_t)from[r] * nb + b) * bb;
				uint16_t d;
				memcpy(&d, f, 2);
				bad += q.d[(size_t)r * nb + b] != d ||
				       memcmp(qmat_codes(&q, r, b), f + (q.m ? 4 : 2), (size_t)qmat_code_bytes(q.type)) != 0;
			}
		}
		T_CHECK(bad == 0, "type %u: %d rows' products or blocks not those of the rows they came from", types[k], bad);
		qmat_free(&q);
		free(src);
	}
}

static void only_q4_1_and_q8_0_get_a_packed_copy(void)
{
	T_CHECK(qmat_type_of_ggml(GGML_DT_Q4_1) == QMAT_Q4_1, "Q4_1");
	T_CHECK(qmat_type_of_ggml(GGML_DT_Q8_0) == QMAT_Q8_0, "Q8_0");
	const uint32_t none[] = { GGML_DT_F32, GGML_DT_F16, GGML_DT_Q4_0, GGML_DT_Q5_1, GGML_DT_Q4_K, GGML_DT_Q6_K };
	for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
		T_CHECK(qmat_type_of_ggml(none[i]) == QMAT_NONE, "type %u should have no packed copy", none[i]);
	struct qmat q;
	T_CHECK(qmat_from_ggml(&q, GGML_DT_Q8_0, (uint8_t[34]){ 0 }, 1, 32) == 0 && qmat_bytes(&q) == 34,
		"one Q8_0 block holds 34 bytes (fp16 scale + 32 codes), got %zu", qmat_bytes(&q));
	qmat_free(&q);
	T_CHECK(q.mem == NULL && q.type == QMAT_NONE, "qmat_free leaves an empty qmat");
}

/* a copy moved into memory of the caller's (the model's huge-page arena) gives the same
 * products bit for bit, and qmat_free then leaves that memory alone */
static void a_moved_copy_gives_the_same_products(void)
{
	const uint32_t types[2] = { GGML_DT_Q4_1, GGML_DT_Q8_0 };
	const int rows = 193, cols = 576;
	float x[576], y0[193], y1[193];
	for (int j = 0; j < cols; j++)
		x[j] = uniform(-1.0f, 1.0f);
	for (int k = 0; k < 2; k++) {
		struct qmat q;
		uint8_t *src = random_blocks(types[k], rows, cols);
		T_CHECK(qmat_from_ggml(&q, types[k], src, rows, cols) == 0, "qmat_from_ggml failed");
		free(src);
		cpu_qmatvec((float *[]){ y0 }, x, (const struct qmat *[]){ &q }, 1);
		size_t b = qmat_mem_bytes(&q);
		T_CHECK(b > qmat_bytes(&q), "type %u: qmat_mem_bytes %zu should cover the blocks and padding", types[k], b);
		uint8_t *dst = aligned_alloc(64, (b + 63) / 64 * 64);
		memset(dst, 0xff, (b + 63) / 64 * 64);
		qmat_move_to(&q, dst);
		T_CHECK(q.mem == NULL && q.qs == dst, "type %u: the moved copy should live in dst", types[k]);
		T_CHECK(q.qs[b - 1 - (q.m ? 2 : 1) * sizeof(uint16_t) * (size_t)rows * (cols / 32)] == 0,
			"type %u: the padding after the codes should stay zero", types[k]);
		cpu_qmatvec((float *[]){ y1 }, x, (const struct qmat *[]){ &q }, 1);
		T_CHECK(memcmp(y0, y1, sizeof(y0)) == 0, "type %u: products differ after the move", types[k]);
		qmat_free(&q);
		free(dst); /* still the caller's: qmat_free did not free it */
	}
}

int main(void)
{
	T_RUN(q4_1_products_match_the_dequantised_weights);
	T_RUN(q8_0_products_match_the_dequantised_weights);
	T_RUN(blocks_of_mixed_scale_keep_the_precision);
	T_RUN(a_non_finite_x_gives_what_the_fp32_kernel_gives);
	T_RUN(one_call_over_several_matrices_matches_separate_calls);
	T_RUN(scales_and_mins_stay_the_files_fp16);
	T_RUN(rows_take_turns_every_64_bytes);
	T_RUN(reordered_rows_keep_their_blocks);
	T_RUN(only_q4_1_and_q8_0_get_a_packed_copy);
	T_RUN(a_moved_copy_gives_the_same_products);
	return t_done();
}
