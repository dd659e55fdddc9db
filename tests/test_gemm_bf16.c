/* The cpu-bf16 backend: the AVX512-BF16 GEMM (engine/cpu/gemm_bf16.c) against a double
 * reference and against sgemm on random matrices, and SmolLM2's logits through cpu-bf16
 * against the transformers fp32 goldens (tests/golden/smollm2_logits_<n>.bin, as
 * test_logits reads them) within a bound stated here. Skips on a CPU without AVX512-BF16.
 *
 * Bounds. Exact products of bf16 values summed in fp32: against a double sum of the same
 * rounded inputs the error is at most about K * 2^-24 * sum|x_k w_k| (we allow 2x). Against
 * sgemm on the unrounded inputs each product moves by at most 2 * 2^-9 relative (two
 * roundings to 8 significant bits), so |diff| <= 2^-8 * sum|x_k w_k| (+ the fp32 term).
 * A kernel that drops a k pair, a column panel or a row reaches a large fraction of
 * sum|x_k w_k| and fails both. */
#include <sys/types.h>
#include <sha2.h> // SHA256File (libmd)
#include <cblas.h> // cblas_sgemm
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"          // kv_errf
#include "base/fileio.h"          // kv_read_file
#include "engine/backend.h"       // backend_cpu_bf16, backend_by_name_dtype
#include "engine/cpu/cpu_ops.h"   // cpu_bf16_release
#include "engine/cpu/gemm_bf16.h" // gemm_bf16
#include "engine/forward.h"       // fwd_session_init_on, fwd_prefill
#include "engine/model.h"         // model_load
#include "tests/test.h"
#include "tests/xorshift.h" // xorshift_uniform

/* Last-row |logit - transformers| bound for cpu-bf16 and the share of positions whose
 * argmax must equal transformers'. Measured on this model: bf16 0.126 / 0.208 / 0.141 at
 * 8 / 500 / 2000 tokens, argmax equal at 8/8, 496/500, 1983/2000 (fp32: 5.0e-05 and all
 * equal; test_logits' fp32 bound is 1e-2). A wrong kernel moves logits by whole units. */
#define BF16_LOGITS_TOL 0.5f
#define BF16_ARGMAX_SHARE 0.98

static uint64_t rng = 0x9e3779b97f4a7c15ull;

/* One shape: y = gemm_bf16(x, W) vs a double sum of the bf16-rounded inputs and vs sgemm. */
static void check_shape(int T, int in, int out, int threads)
{
	size_t nx = (size_t)T * in, nw = (size_t)out * in, ny = (size_t)T * out;
	float *x = malloc(sizeof(float) * nx), *w = malloc(sizeof(float) * nw);
	float *xr = malloc(sizeof(float) * nx), *wr = malloc(sizeof(float) * nw);
	float *y = malloc(sizeof(float) * ny), *ys = malloc(sizeof(float) * ny);
	struct bf16_mat m = {0};
	T_CHECK(x && w && xr && wr && y && ys, "out of memory");
	if (t_case_failed)
		goto out;
	for (size_t i = 0; i < nx; i++)
		x[i] = xr[i] = xorshift_uniform(&rng) * 3.0f;
	for (size_t i = 0; i < nw; i++)
		w[i] = wr[i] = xorshift_uniform(&rng) * 0.1f;
	bf16_round(xr, nx);
	bf16_round(wr, nw);
	T_CHECK(bf16_mat_pack(&m, w, in, out) == 0, "pack %dx%d", out, in);
	if (t_case_failed)
		goto out;
	bk_set_threads(&backend_cpu, threads);
	T_CHECK(gemm_bf16(y, x, &m, T) == 0, "gemm_bf16 T=%d", T);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, out, in, 1.0f, x, in, w, in, 0.0f, ys, out);
	double worst_exact = 0, worst_sgemm = 0; /* as fractions of their bounds */
	for (int t = 0; t < T; t++)
		for (int n = 0; n < out; n++) {
			double ref = 0, mag = 0;
			for (int k = 0; k < in; k++) {
				ref += (double)xr[(size_t)t * in + k] * wr[(size_t)n * in + k];
				mag += fabs((double)x[(size_t)t * in + k] * w[(size_t)n * in + k]);
			}
			double got = y[(size_t)t * out + n];
			double b_exact = 2.0 * in * ldexp(1, -24) * mag + 1e-30;
			double b_sgemm = ldexp(1, -8) * mag + b_exact;
			double fe = fabs(got - ref) / b_exact, fs = fabs(got - ys[(size_t)t * out + n]) / b_sgemm;
			if (!(fe <= worst_exact))
				worst_exact = fe;
			if (!(fs <= worst_sgemm))
				worst_sgemm = fs;
		}
	T_CHECK(worst_exact <= 1.0, "T=%d in=%d out=%d: %.2f x the fp32-accumulation bound against the exact sum", T, in, out,
		worst_exact);
	T_CHECK(worst_sgemm <= 1.0, "T=%d in=%d out=%d: %.2f x the bf16-rounding bound against sgemm", T, in, out, worst_sgemm);
	printf("  T=%4d in=%4d out=%4d threads=%d: worst error %.3f of the exact-sum bound, %.3f of the sgemm bound\n", T, in,
	       out, threads, worst_exact, worst_sgemm);
out:
	bf16_mat_free(&m);
	free(x);
	free(w);
	free(xr);
	free(wr);
	free(y);
	free(ys);
}

static void gemm_bf16_should_agree_with_an_exact_sum_and_with_sgemm_on_random_matrices(void)
{
	if (!gemm_bf16_supported()) {
		T_SKIP("this CPU has no AVX512-BF16");
		return;
	}
	/* odd K, columns not a multiple of 32, rows not a multiple of 8, one row (decode) */
	const int shapes[][4] = { { 1, 576, 49 }, { 7, 33, 31 }, { 9, 64, 32 }, { 17, 577, 100 }, { 64, 1536, 96 },
				  { 130, 576, 192 } };
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		check_shape(shapes[i][0], shapes[i][1], shapes[i][2], 1 + (int)(i % 2));
}

static void bf16_round_should_round_to_nearest_even(void)
{
	/* 1 + 2^-8 is halfway between 1 and 1 + 2^-7: even (1); 1 + 3 * 2^-8 rounds up to 1 + 2^-6 */
	float v[] = { 1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-8f + 0x1p-20f, -2.5f, 0.0f };
	const float want[] = { 1.0f, 1.0f + 0x1p-6f, 1.0f + 0x1p-7f, -2.5f, 0.0f };
	bf16_round(v, 5);
	for (int i = 0; i < 5; i++)
		T_CHECK(v[i] == want[i], "case %d: got %a, expected %a", i, v[i], want[i]);
}

static void cpu_bf16_should_be_found_by_dtype_and_record_its_name(void)
{
	const struct backend_ops *be = NULL;
	char err[512] = "";
	int rc = backend_by_name_dtype("cpu", "bf16", &be, err, sizeof(err));
	if (!gemm_bf16_supported()) {
		T_CHECK(rc == KV_EUNSUP && strstr(err, "AVX512-BF16"), "without AVX512-BF16: %d %s", rc, err);
		return;
	}
	T_CHECK(rc == 0 && be == &backend_cpu_bf16, "%d %s", rc, err);
	T_CHECK(!strcmp(backend_cpu_bf16.name, "cpu-bf16") && !strcmp(bk_dtype(&backend_cpu_bf16), "bf16"), "%s %s",
		backend_cpu_bf16.name, bk_dtype(&backend_cpu_bf16));
	T_CHECK(backend_validate(&backend_cpu_bf16, err, sizeof(err)) == 0, "%s", err);
}

// ----------------------------------------------------------------------------
// SmolLM2 against the transformers goldens

static struct model *model;
static char model_sha[65];

/* The last-row logits and the argmax of every row of the golden for n tokens (format:
 * scripts/ref_engine.py, "KVLG" version 1). */
static int read_golden(int n, int32_t **tokens, int32_t **argmax, float **last, int *n_vocab, char *err, size_t errlen)
{
	char path[96], *buf = NULL;
	size_t len = 0;
	snprintf(path, sizeof(path), "tests/golden/smollm2_logits_%d.bin", n);
	int rc = kv_read_file(path, &buf, &len, err, errlen);
	if (rc)
		return rc;
	uint32_t v[3];
	memcpy(&v[0], buf + (len >= 4 ? 4 : 0), 4);
	if (len < 80 || memcmp(buf, "KVLG", 4) || v[0] != 1 || memcmp(buf + 8, model_sha, 64)) {
		free(buf);
		return kv_errf(err, errlen, KV_EFORMAT, "%s: not a KVLG v1 golden of %s; regenerate with scripts/ref_engine.py", path,
			       T_MODEL);
	}
	memcpy(&v[1], buf + 72, 8);
	if ((int)v[1] != n || len != 80 + (size_t)v[1] * 8 + (size_t)v[2] * 4) {
		free(buf);
		return kv_errf(err, errlen, KV_EFORMAT, "%s: %zu bytes for %u tokens x %u vocab", path, len, v[1], v[2]);
	}
	*n_vocab = (int)v[2];
	*tokens = malloc(4 * (size_t)n);
	*argmax = malloc(4 * (size_t)n);
	*last = malloc(4 * (size_t)v[2]);
	memcpy(*tokens, buf + 80, 4 * (size_t)n);
	memcpy(*argmax, buf + 80 + 4 * (size_t)n, 4 * (size_t)n);
	memcpy(*last, buf + 80 + 8 * (size_t)n, 4 * (size_t)v[2]);
	free(buf);
	return 0;
}

static void logits_on(const struct backend_ops *be, int n)
{
	char err[512] = "";
	int32_t *tokens = NULL, *am = NULL;
	float *last = NULL, *lg = NULL;
	struct fwd_session *s = NULL;
	int V = 0;
	int rc = read_golden(n, &tokens, &am, &last, &V, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (rc)
		return;
	lg = malloc(sizeof(float) * (size_t)n * V);
	rc = fwd_session_init_on(be, model, NULL, 0, 2, &s, err, sizeof(err));
	if (!rc)
		rc = fwd_prefill(s, tokens, n, true, lg, err, sizeof(err));
	T_CHECK(rc == 0, "%s: %s", be->name, err);
	if (rc)
		goto out;
	const float *row = lg + (size_t)(n - 1) * V;
	float worst = 0;
	int wv = 0, same = 0;
	for (int v = 0; v < V; v++)
		if (!(fabsf(row[v] - last[v]) <= worst)) {
			worst = fabsf(row[v] - last[v]);
			wv = v;
		}
	for (int t = 0; t < n; t++) {
		const float *r = lg + (size_t)t * V;
		int a = 0;
		for (int v = 1; v < V; v++)
			if (r[v] > r[a])
				a = v;
		same += a == am[t];
	}
	printf("  %-8s n=%4d: last row max|diff| %.3e at v=%d; argmax equal at %d/%d positions\n", be->name, n, worst, wv, same,
	       n);
	T_CHECK(worst <= BF16_LOGITS_TOL, "n=%d: max|diff| %.3e > %.1e", n, worst, BF16_LOGITS_TOL);
	T_CHECK(same >= BF16_ARGMAX_SHARE * n, "n=%d: argmax equal at only %d of %d positions", n, same, n);
out:
	fwd_session_free(s);
	free(lg);
	free(tokens);
	free(am);
	free(last);
}

static void bf16_logits_should_stay_within_the_stated_bound_of_the_transformers_goldens(void)
{
	if (!gemm_bf16_supported()) {
		T_SKIP("this CPU has no AVX512-BF16");
		return;
	}
	if (!model) {
		T_SKIP("%s not loadable (run 'make model')", T_MODEL);
		return;
	}
	const int lens[] = { 8, 500, 2000 };
	for (int i = 0; i < 3; i++)
		logits_on(&backend_cpu_bf16, lens[i]);
}

int main(void)
{
	char err[512] = "";
	T_RUN(bf16_round_should_round_to_nearest_even);
	T_RUN(gemm_bf16_should_agree_with_an_exact_sum_and_with_sgemm_on_random_matrices);
	T_RUN(cpu_bf16_should_be_found_by_dtype_and_record_its_name);
	if (SHA256File(T_MODEL, model_sha) && model_load(T_MODEL, &model, err, sizeof(err)) != 0)
		model = NULL;
	T_RUN(bf16_logits_should_stay_within_the_stated_bound_of_the_transformers_goldens);
	model_free(model);
	cpu_bf16_release();
	return t_done();
}
