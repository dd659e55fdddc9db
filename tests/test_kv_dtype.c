/* KV cache element types (--kv_dtype f32 | f16 | bf16) and the decode attention over
 * the cache (engine/cpu/attn_decode.c: split along keys, log-sum-exp merge):
 *  - the 16-bit conversions round exactly as engine/quant.c's scalar ones;
 *  - cpu_attn_cached against a double-precision softmax attention over the same
 *    (rounded) K/V, for every type, GQA group sizes 1..4, head dims on both code paths,
 *    empty heads and lengths that are not multiples of the key chunk;
 *  - SmolLM2 (Q4_1) on the 2000-token golden prompt: prefill 1992 tokens, decode the
 *    last 8 one at a time; f32 decode ends within LOGITS_TOL of transformers' last row
 *    and an explicit f32 session is bit for bit the default one; f16 / bf16 caches hold
 *    exactly the rounded f32 entries, and their decode logits stay within KV16_TOL of
 *    f32's (the measured max |diff| is printed). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"       // KV_EUNSUP
#include "base/fileio.h"       // kv_read_file
#include "engine/backend.h"    // backend_cpu, struct attn_kv_view, kv_dtype_*
#include "engine/forward.h"    // fwd_session_*, fwd_prefill, fwd_decode
#include "engine/kv_convert.h" // kv_convert_store, kv_convert_load
#include "engine/kvcache.h"    // struct kv_cache
#include "engine/model.h"      // model_load
#include "engine/quant.h"      // quant_f32_to_f16, quant_f32_to_bf16
#include "tests/test.h"
#include "tests/xorshift.h" // xorshift_uniform

#define LOGITS_TOL 1e-2f /* test_logits' bound against transformers */
#define KV16_TOL 0.25f   /* |logit diff| of a 16-bit cache vs f32 on SmolLM2 (measured: f16 0.015, bf16 0.081) */
#define GOLDEN "tests/golden/smollm2_logits_2000.bin"
#define N_DECODE 8

static uint64_t rng = 0x9e3779b97f4a7c15u;

static void conversions_should_round_as_the_scalar_ones(void)
{
	enum { N = 4099 };
	static float x[N], back[N];
	static uint16_t h[N];
	const float special[] = { 0.0f, -0.0f, 1.0f, 65504.0f, 65520.0f, 1e-8f, 6.1e-5f, 5.96e-8f, -3.0e-7f, 1e30f, -INFINITY };
	for (int i = 0; i < N; i++)
		x[i] = i < (int)(sizeof(special) / sizeof(special[0])) ? special[i] : xorshift_uniform(&rng) * powf(2.0f, (float)(i % 40 - 20));
	for (int t = KV_DTYPE_F16; t <= KV_DTYPE_BF16; t++) {
		kv_convert_store(h, x, N, (enum kv_dtype)t);
		int bad = 0;
		for (int i = 0; i < N; i++) {
			uint16_t want = t == KV_DTYPE_F16 ? quant_f32_to_f16(x[i]) : quant_f32_to_bf16(x[i]);
			bad += h[i] != want;
		}
		T_CHECK(bad == 0, "%s: %d of %d values rounded differently from the scalar conversion", kv_dtype_name(t), bad, N);
		kv_convert_load(back, h, N, (enum kv_dtype)t);
		bad = 0;
		for (int i = 0; i < N; i++) {
			float want = t == KV_DTYPE_F16 ? quant_f16_to_f32(h[i]) : quant_bf16_to_f32(h[i]);
			bad += memcmp(&back[i], &want, 4) != 0;
		}
		T_CHECK(bad == 0, "%s: %d of %d values widened differently", kv_dtype_name(t), bad, N);
	}
	enum kv_dtype t;
	char err[128];
	T_CHECK(kv_dtype_parse("bf16", &t, err, sizeof(err)) == 0 && t == KV_DTYPE_BF16, "bf16 not parsed");
	T_CHECK(kv_dtype_parse("fp16", &t, err, sizeof(err)) != 0 && strstr(err, "--kv_dtype") && strstr(err, "fp16"),
		"bad name: '%s'", err);
}

/* out (H, D) = softmax(q K^T / sqrt(D)) V per query head in double, from fp32 K/V. */
static void reference(double *out, const float *q, float *const *k, float *const *v, const int *n, int n_kv, int H, int D)
{
	int G = H / n_kv;
	for (int h = 0; h < H; h++) {
		int c = h / G;
		double mx = -INFINITY, sum = 0.0;
		double *s = malloc(sizeof(double) * (size_t)(n[c] > 0 ? n[c] : 1));
		for (int j = 0; j < n[c]; j++) {
			double acc = 0.0;
			for (int d = 0; d < D; d++)
				acc += (double)q[(size_t)h * D + d] * k[c][(size_t)j * D + d];
			s[j] = acc / sqrt((double)D);
			mx = s[j] > mx ? s[j] : mx;
		}
		for (int j = 0; j < n[c]; j++)
			sum += (s[j] = exp(s[j] - mx));
		for (int d = 0; d < D; d++) {
			double o = 0.0;
			for (int j = 0; j < n[c]; j++)
				o += s[j] * v[c][(size_t)j * D + d];
			out[(size_t)h * D + d] = n[c] ? o / sum : 0.0;
		}
		free(s);
	}
}

static void decode_attention_should_match_a_double_softmax(void)
{
	const struct { int n_kv, G, D, n0; } cases[] = {
		{ 3, 3, 64, 2049 }, { 2, 4, 64, 700 }, { 4, 1, 32, 37 }, { 1, 2, 24, 5000 }, { 3, 3, 20, 300 }, { 2, 2, 64, 0 },
		{ 2, 2, 128, 1500 }, { 1, 3, 128, 90 }, { 3, 1, 64, 513 },
	};
	int threads[] = { 1, 2 };
	for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
		int n_kv = cases[ci].n_kv, G = cases[ci].G, D = cases[ci].D, H = n_kv * G;
		int n[4];
		float *k[4], *v[4], *kr[4], *vr[4];
		uint16_t *kh[4], *vh[4];
		float *q = malloc(sizeof(float) * (size_t)H * D), *out = malloc(sizeof(float) * (size_t)H * D);
		double *want = malloc(sizeof(double) * (size_t)H * D);
		for (int i = 0; i < H * D; i++)
			q[i] = 2.0f * xorshift_uniform(&rng);
		for (int c = 0; c < n_kv; c++) {
			n[c] = c == 0 ? cases[ci].n0 : cases[ci].n0 / (c + 1) + c; /* ragged, one possibly empty */
			size_t e = (size_t)(n[c] > 0 ? n[c] : 1) * D;
			k[c] = malloc(sizeof(float) * e), v[c] = malloc(sizeof(float) * e);
			kr[c] = malloc(sizeof(float) * e), vr[c] = malloc(sizeof(float) * e);
			kh[c] = malloc(sizeof(uint16_t) * e), vh[c] = malloc(sizeof(uint16_t) * e);
			for (size_t i = 0; i < (size_t)n[c] * D; i++)
				k[c][i] = 1.5f * xorshift_uniform(&rng), v[c][i] = xorshift_uniform(&rng);
		}
		for (int t = 0; t < KV_DTYPE_COUNT; t++)
			for (size_t ti = 0; ti < sizeof(threads) / sizeof(threads[0]); ti++) {
				struct attn_kv_view views[4];
				for (int c = 0; c < n_kv; c++) {
					size_t e = (size_t)n[c] * D;
					views[c] = (struct attn_kv_view){ .n = n[c], .ld = D, .dtype = (enum kv_dtype)t };
					if (t == KV_DTYPE_F32) {
						views[c].k = k[c], views[c].v = v[c];
						memcpy(kr[c], k[c], sizeof(float) * e);
						memcpy(vr[c], v[c], sizeof(float) * e);
					} else {
						kv_convert_store(kh[c], k[c], e, (enum kv_dtype)t);
						kv_convert_store(vh[c], v[c], e, (enum kv_dtype)t);
						kv_convert_load(kr[c], kh[c], e, (enum kv_dtype)t);
						kv_convert_load(vr[c], vh[c], e, (enum kv_dtype)t);
						views[c].kh = kh[c], views[c].vh = vh[c];
					}
				}
				bk_set_threads(&backend_cpu, threads[ti]);
				bk_attn_cached(&backend_cpu, out, q, views, n_kv, H, D);
				char err[256];
				T_CHECK(bk_check(&backend_cpu, err, sizeof(err)) == 0, "%s", err);
				reference(want, q, kr, vr, n, n_kv, H, D);
				double md = 0.0;
				for (int i = 0; i < H * D; i++)
					md = fabs(out[i] - want[i]) > md ? fabs(out[i] - want[i]) : md;
				T_CHECK(md < 2e-6, "case %zu (%d KV heads x %d, D %d, N %d) %s, %d threads: max |diff| %.3g vs double", ci,
					n_kv, G, D, n[0], kv_dtype_name(t), threads[ti], md);
			}
		for (int c = 0; c < n_kv; c++) {
			free(k[c]), free(v[c]), free(kr[c]), free(vr[c]), free(kh[c]), free(vh[c]);
		}
		free(q), free(out), free(want);
	}
	bk_set_threads(&backend_cpu, 0);
}

static void *fake_alloc(size_t n)
{
	return malloc(n);
}

/* A backend whose memory is not host memory (as CUDA's) keeps f32 caches only. */
static void device_backend_should_refuse_16_bit_caches(void)
{
	struct backend_ops dev = backend_cpu;
	dev.name = "device";
	dev.alloc = fake_alloc;
	dev.free = free;
	struct kv_cache *c = NULL;
	char err[256] = "";
	T_CHECK(!bk_supports_kv_dtype(&dev, KV_DTYPE_F16) && bk_supports_kv_dtype(&dev, KV_DTYPE_F32) &&
			bk_supports_kv_dtype(&backend_cpu, KV_DTYPE_BF16),
		"kv dtype support");
	T_CHECK(kv_cache_init(&c, &dev, 2, NULL, 2, 0, 16, KV_DTYPE_BF16, err, sizeof(err)) == KV_EUNSUP && !c &&
			strstr(err, "--kv_dtype bf16") && strstr(err, "device"),
		"got '%s'", err);
	T_CHECK(kv_cache_init(&c, &dev, 2, NULL, 2, 0, 16, KV_DTYPE_F32, err, sizeof(err)) == 0 && c, "%s", err);
	kv_cache_free(c);
}

// ----------------------------------------------------------------------------
// SmolLM2

static struct model *model;

/* The golden prompt's tokens and transformers' last-row logits (KVLG, scripts/ref_engine.py). */
static int read_golden(int32_t **tokens, int *n, float **last, int *n_vocab)
{
	char *buf = NULL, err[256];
	size_t len = 0;
	if (kv_read_file(GOLDEN, &buf, &len, err, sizeof(err)))
		return -1;
	uint32_t v[3];
	memcpy(&v[0], buf + 4, 4);
	memcpy(&v[1], buf + 72, 8);
	if (len < 80 || memcmp(buf, "KVLG", 4) || v[0] != 1 || len != 80 + (size_t)v[1] * 8 + (size_t)v[2] * 4) {
		free(buf);
		return -1;
	}
	*n = (int)v[1];
	*n_vocab = (int)v[2];
	*tokens = malloc(sizeof(int32_t) * *n);
	*last = malloc(sizeof(float) * *n_vocab);
	memcpy(*tokens, buf + 80, sizeof(int32_t) * *n);
	memcpy(*last, buf + 80 + (size_t)*n * 8, sizeof(float) * *n_vocab);
	free(buf);
	return 0;
}

/* Prefills ids[0..n - N_DECODE) into a session of KV type t (or the default when t < 0),
 * then decodes the rest teacher-forced; logits (V,) after the last one. */
static int run_kv(const int32_t *ids, int n, int t, float *logits, struct fwd_session **keep)
{
	struct fwd_session *s = NULL;
	char err[512];
	int rc = fwd_session_init(model, NULL, N_DECODE, 2, &s, err, sizeof(err));
	if (!rc && t >= 0)
		rc = fwd_session_set_kv_dtype(s, (enum kv_dtype)t, err, sizeof(err));
	if (!rc)
		rc = fwd_prefill(s, ids, n - N_DECODE, false, logits, err, sizeof(err));
	for (int i = n - N_DECODE; !rc && i < n; i++)
		rc = fwd_decode(s, ids[i], logits, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (keep && !rc)
		*keep = s;
	else
		fwd_session_free(s);
	return rc;
}

static float max_diff(const float *a, const float *b, int n, int *at)
{
	float md = 0.0f;
	for (int i = 0; i < n; i++)
		if (fabsf(a[i] - b[i]) > md) {
			md = fabsf(a[i] - b[i]);
			*at = i;
		}
	return md;
}

static void smollm2_decode_should_hold_for_every_kv_type(void)
{
	if (!model) {
		T_SKIP("%s not loadable", T_MODEL);
		return;
	}
	int32_t *ids = NULL;
	float *last = NULL;
	int n = 0, V = 0, at = 0;
	if (read_golden(&ids, &n, &last, &V) || V != model->cfg.n_vocab) {
		T_SKIP("%s missing or not for this model", GOLDEN);
		return;
	}
	float *def = malloc(sizeof(float) * V), *lg = malloc(sizeof(float) * V);
	struct fwd_session *s32 = NULL;
	if (run_kv(ids, n, -1, def, NULL) || run_kv(ids, n, KV_DTYPE_F32, lg, &s32))
		goto out;
	T_CHECK(!memcmp(def, lg, sizeof(float) * V), "explicit f32 KV differs from the default session");
	float d = max_diff(lg, last, V, &at);
	printf("  f32 KV: decode of the last %d tokens vs transformers: max|diff| %.3g at v=%d, tol %g\n", N_DECODE, d, at,
	       LOGITS_TOL);
	T_CHECK(d <= LOGITS_TOL, "f32 decode logits off transformers' by %g at v=%d", d, at);
	for (int t = KV_DTYPE_F16; t <= KV_DTYPE_BF16; t++) {
		struct fwd_session *s16 = NULL;
		if (run_kv(ids, n, t, lg, &s16))
			continue;
		/* the 16-bit cache holds the f32 cache's entries, each rounded once: every prefill
		 * entry, and layer 0's decoded ones (later layers' decoded K/V already differ,
		 * computed after attending over the rounded cache) */
		const struct kv_cache *a = s32->cache, *b = s16->cache;
		int bad = 0, D = a->head_dim;
		T_CHECK(b->dtype == (enum kv_dtype)t && kv_cache_bytes(b) * 2 == kv_cache_bytes(a), "%s cache: %zu bytes vs f32 %zu",
			kv_dtype_name(t), kv_cache_bytes(b), kv_cache_bytes(a));
		uint16_t *row = malloc(sizeof(uint16_t) * D);
		for (int l = 0; l < a->n_layer; l++)
			for (int h = 0; h < a->layers[l].n_head; h++)
				for (int j = 0; j < (l == 0 ? a->layers[l].len[h] : n - N_DECODE); j++) {
					size_t ia = ((size_t)h * a->layers[l].cap + j) * D, ib = ((size_t)h * b->layers[l].cap + j) * D;
					kv_convert_store(row, a->layers[l].k + ia, D, (enum kv_dtype)t);
					bad += memcmp(row, b->layers[l].kh + ib, sizeof(uint16_t) * D) != 0;
					kv_convert_store(row, a->layers[l].v + ia, D, (enum kv_dtype)t);
					bad += memcmp(row, b->layers[l].vh + ib, sizeof(uint16_t) * D) != 0;
				}
		free(row);
		T_CHECK(bad == 0, "%s cache: %d rows are not the rounded f32 rows", kv_dtype_name(t), bad);
		float df = max_diff(lg, def, V, &at), dt = max_diff(lg, last, V, &at);
		printf("  %s KV: max|logit diff| vs f32 KV %.4g, vs transformers %.4g (tol %g vs f32)\n", kv_dtype_name(t), df, dt,
		       KV16_TOL);
		T_CHECK(df <= KV16_TOL, "%s KV logits differ from f32 KV's by %g", kv_dtype_name(t), df);
		fwd_session_free(s16);
	}
out:
	fwd_session_free(s32);
	free(def);
	free(lg);
	free(ids);
	free(last);
}

int main(void)
{
	char err[512];
	if (model_load(T_MODEL, &model, err, sizeof(err)))
		model = NULL;
	T_RUN(conversions_should_round_as_the_scalar_ones);
	T_RUN(decode_attention_should_match_a_double_softmax);
	T_RUN(device_backend_should_refuse_16_bit_caches);
	T_RUN(smollm2_decode_should_hold_for_every_kv_type);
	model_free(model);
	return t_done();
}
