/* The backend table (engine/backend.h): the CPU backend sets every required slot and
 * the op tables agree; a table missing a required op, or with half of the device-memory
 * slots, is refused naming it; the wrappers' fallbacks for optional slots behave (column
 * sums from attn_probs bit-identical to the CPU op, qmatvec reported unsupported, host
 * memory through libc); backends are found by name with a reason when they cannot run;
 * a session keeps its cache and activations in the backend's memory (every byte through
 * its alloc / upload / download / copy slots) and computes the CPU's logits bit for bit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "bench/bench.h"     // bench_shape_find
#include "engine/backend.h"
#include "engine/cpu/cpu_ops.h" // cpu_fail
#include "engine/forward.h"
#include "engine/kvcache.h"
#include "engine/model.h"
#include "tests/test.h"

static void cpu_backend_sets_every_required_slot(void)
{
	char err[256];
	T_CHECK(backend_validate(&backend_cpu, err, sizeof(err)) == 0, "%s", err);
	for (int op = 0; op < BK_OP_COUNT; op++) {
		T_CHECK(bk_op_names[op] && bk_op_names[op][0], "op %d has no name", op);
		for (int j = 0; j < op; j++)
			T_CHECK(strcmp(bk_op_names[op], bk_op_names[j]), "ops %d and %d are both %s", j, op, bk_op_names[op]);
		T_CHECK(!bk_op_required[op] || bk_supports(&backend_cpu, op), "cpu lacks required op %s", bk_op_names[op]);
	}
	/* the CPU runs every op, optional ones included, in host memory */
	for (int op = 0; op < BK_OP_COUNT; op++)
		T_CHECK(bk_supports(&backend_cpu, op), "cpu does not run %s", bk_op_names[op]);
	T_CHECK(bk_host_memory(&backend_cpu), "cpu memory is not host memory");
}

static void a_table_missing_a_required_slot_is_refused_naming_it(void)
{
	char err[256] = "";
	struct backend_ops b = backend_cpu;
	b.rmsnorm = NULL;
	T_CHECK(backend_validate(&b, err, sizeof(err)) == KV_EINTERNAL && strstr(err, "rmsnorm"), "got '%s'", err);
	b = backend_cpu;
	b.alloc = malloc; /* device memory needs free, upload, download and copy too */
	T_CHECK(backend_validate(&b, err, sizeof(err)) == KV_EINTERNAL && strstr(err, "alloc"), "got '%s'", err);
	b = backend_cpu;
	b.qmatvec = NULL;
	b.attn_colsum = NULL;
	b.set_threads = NULL;
	T_CHECK(backend_validate(&b, err, sizeof(err)) == 0, "optional slots left NULL refused: %s", err);
}

static bool no_dots(enum bk_op op)
{
	return op != BK_OP_QK_DOTS;
}

static void supports_narrows_the_set_slots(void)
{
	struct backend_ops b = backend_cpu;
	b.supports = no_dots;
	T_CHECK(!bk_supports(&b, BK_OP_QK_DOTS), "supports() ignored");
	T_CHECK(bk_supports(&b, BK_OP_MATMUL), "supports() hid matmul");
	b.qmatvec = NULL;
	T_CHECK(!bk_supports(&b, BK_OP_QMATVEC), "a NULL slot reported as supported");
}

static uint64_t rng = 0x2545f4914f6cdd1dull;

static float uniform(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((rng >> 40) / 16777216.0) * 4.0f - 2.0f;
}

static void colsum_fallback_matches_the_cpu_op_bit_for_bit(void)
{
	enum { T = 290, H = 4, HKV = 2, D = 16 };
	float *q = malloc(sizeof(float) * T * H * D), *k = malloc(sizeof(float) * T * HKV * D);
	float *a = malloc(sizeof(float) * H * T), *b = malloc(sizeof(float) * H * T);
	for (int i = 0; i < T * H * D; i++)
		q[i] = uniform();
	for (int i = 0; i < T * HKV * D; i++)
		k[i] = uniform();
	struct bk_qk qk = { .q = q, .k = k, .T = T, .H = H, .Hkv = HKV, .D = D };
	struct backend_ops fb = backend_cpu;
	fb.attn_colsum = NULL;
	const struct { int row0, n_rows, causal_from, ncols; } cases[] = { { 0, T, 0, T }, { 0, T, T, T }, { 13, 200, 100, 150 } };
	char err[256];
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (int i = 0; i < H * T; i++)
			a[i] = b[i] = 0.25f;
		T_CHECK(bk_attn_colsum(&backend_cpu, a, &qk, cases[c].row0, cases[c].n_rows, cases[c].causal_from, cases[c].ncols,
				       err, sizeof(err)) == 0, "%s", err);
		T_CHECK(bk_attn_colsum(&fb, b, &qk, cases[c].row0, cases[c].n_rows, cases[c].causal_from, cases[c].ncols, err,
				       sizeof(err)) == 0, "%s", err);
		T_CHECK(!memcmp(a, b, sizeof(float) * H * cases[c].ncols), "case %zu: fallback sums differ from the op", c);
	}
	printf("# compared %zu column-sum cases (T=%d, H=%d) bit for bit\n", sizeof(cases) / sizeof(cases[0]), T, H);
	free(q);
	free(k);
	free(a);
	free(b);
}

static void missing_qmatvec_is_reported_and_writes_nothing(void)
{
	struct backend_ops b = backend_cpu;
	b.qmatvec = NULL;
	float y = 42.0f, x[QMAT_BLOCK] = { 0 };
	float *ys[1] = { &y };
	const struct qmat *ws[1] = { NULL };
	T_CHECK(bk_qmatvec(&b, ys, x, ws, 1) == KV_EUNSUP, "bk_qmatvec ran without a slot");
	T_CHECK(y == 42.0f, "output written");
}

static void host_memory_fallbacks_behave_as_libc(void)
{
	float *p = bk_alloc(&backend_cpu, sizeof(float) * 8);
	T_CHECK(p != NULL, "bk_alloc failed");
	if (!p)
		return;
	const float src[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	float back[8];
	bk_upload(&backend_cpu, p, src, sizeof(src));
	bk_copy(&backend_cpu, p + 1, p, sizeof(float) * 7); /* overlapping: memmove */
	bk_download(&backend_cpu, back, p, sizeof(back));
	const float want[8] = { 1, 1, 2, 3, 4, 5, 6, 7 };
	T_CHECK(!memcmp(back, want, sizeof(want)), "copy did not move an overlapping range");
	bk_free(&backend_cpu, p);
	bk_free(&backend_cpu, NULL);
}

static void backends_are_found_by_name_or_refused_with_a_reason(void)
{
	const struct backend_ops *be = NULL;
	char err[512] = "";
	T_CHECK(backend_by_name("cpu", &be, err, sizeof(err)) == 0 && be == &backend_cpu, "%s", err);
	T_CHECK(backend_by_name("tpu", &be, err, sizeof(err)) == KV_EINVAL && strstr(err, "'tpu'") && strstr(err, "cpu or cuda"),
		"got '%s'", err);
	/* cuda runs where a build with nvcc finds a device (its default: the bf16 table);
	 * elsewhere it says why */
	int rc = backend_by_name("cuda", &be, err, sizeof(err));
	if (rc == 0)
		T_CHECK(!strcmp(be->name, "cuda-bf16") && !bk_host_memory(be), "got %s", be->name);
	else
		T_CHECK(rc == KV_EUNSUP && (strstr(err, "CUDA") || strstr(err, "cuda")), "got '%s'", err);
	printf("# cuda: %s\n", rc == 0 ? be->name : err);
}

// ----------------------------------------------------------------------------
// a "device" backend: the CPU's ops on memory that only its own slots touch

static long n_alloc, n_free, n_up, n_down, n_copy;

static void *dev_alloc(size_t n)
{
	n_alloc++;
	return malloc(n);
}
static void dev_free(void *p)
{
	n_free += p != NULL;
	free(p);
}
static void dev_upload(void *d, const void *s, size_t n)
{
	n_up++;
	memcpy(d, s, n);
}
static void dev_download(void *d, const void *s, size_t n)
{
	n_down++;
	memcpy(d, s, n);
}
static void dev_copy(void *d, const void *s, size_t n)
{
	n_copy++;
	memmove(d, s, n);
}

static void a_session_keeps_cache_and_activations_in_backend_memory(void)
{
	char err[256];
	struct model *m = NULL;
	const struct bench_shape *sh = bench_shape_find("tiny");
	T_CHECK(sh && model_init_random(&sh->cfg, 11, &m, err, sizeof(err)) == 0, "%s", err);
	if (!m)
		return;
	struct backend_ops dev = backend_cpu;
	dev.name = "dev";
	dev.alloc = dev_alloc;
	dev.free = dev_free;
	dev.upload = dev_upload;
	dev.download = dev_download;
	dev.copy = dev_copy;
	int V = m->cfg.n_vocab, n = 40;
	int32_t ids[40];
	for (int i = 0; i < n; i++)
		ids[i] = (int32_t)(i * 7 % V);
	float *want = malloc(sizeof(float) * 3 * V), *got = malloc(sizeof(float) * 3 * V);
	struct fwd_session *a = NULL, *b = NULL;
	T_CHECK(fwd_session_init(m, NULL, 2, 1, &a, err, sizeof(err)) == 0, "%s", err);
	T_CHECK(fwd_session_init_on(&dev, m, NULL, 2, 1, &b, err, sizeof(err)) == 0, "%s", err);
	T_CHECK(!bk_host_memory(&dev), "device table reported as host memory");
	if (a && b) {
		T_CHECK(fwd_prefill(a, ids, n, false, want, err, sizeof(err)) == 0, "%s", err);
		T_CHECK(fwd_prefill(b, ids, n, false, got, err, sizeof(err)) == 0, "%s", err);
		for (int t = 1; t < 3; t++) {
			T_CHECK(fwd_decode(a, ids[t], want + (size_t)t * V, err, sizeof(err)) == 0, "%s", err);
			T_CHECK(fwd_decode(b, ids[t], got + (size_t)t * V, err, sizeof(err)) == 0, "%s", err);
		}
		T_CHECK(!memcmp(want, got, sizeof(float) * 3 * V), "logits differ between host and backend memory");
		T_CHECK(kv_cache_bytes(a->cache) == kv_cache_bytes(b->cache), "caches differ");
		T_CHECK(n_up > 0 && n_down > 0 && n_copy > 0, "uploads %ld, downloads %ld, copies %ld", n_up, n_down, n_copy);
	}
	fwd_session_free(a);
	fwd_session_free(b);
	T_CHECK(n_alloc > 0 && n_alloc == n_free, "%ld allocations, %ld frees", n_alloc, n_free);
	printf("# backend memory: %ld allocations, %ld uploads, %ld downloads, %ld copies\n", n_alloc, n_up, n_down, n_copy);
	free(want);
	free(got);
	model_free(m);
}

/* --dtype's lookup: cpu is fp32, cpu bf16 the cpu-bf16 table where the CPU has
 * AVX512-BF16 (else unsupported, naming it); the extension slots' fallbacks on the CPU:
 * gather and embed as row copies (in-place compaction included), nothing to prepare or
 * check, no device generator (so no device-synthetic model either). */
static void dtype_lookup_and_extension_fallbacks_behave(void)
{
	const struct backend_ops *be = NULL;
	char err[256];
	T_CHECK(backend_by_name_dtype("cpu", "fp32", &be, err, sizeof(err)) == 0 && be == &backend_cpu, "%s", err);
	T_CHECK(backend_by_name_dtype("cpu", NULL, &be, err, sizeof(err)) == 0 && be == &backend_cpu, "%s", err);
	int rb = backend_by_name_dtype("cpu", "bf16", &be, err, sizeof(err));
	T_CHECK((rb == 0 && be == &backend_cpu_bf16) || (rb == KV_EUNSUP && strstr(err, "AVX512-BF16")), "%d %s", rb, err);
	T_CHECK(backend_by_name_dtype("cpu", "fp16", &be, err, sizeof(err)) == KV_EINVAL && strstr(err, "fp16"), "%s", err);
	int rc = backend_by_name_dtype("cuda", "fp32", &be, err, sizeof(err));
	T_CHECK(rc == 0 || (rc == KV_EUNSUP && err[0]), "cuda fp32: %d %s", rc, err);
	if (rc == 0)
		T_CHECK(!strcmp(be->name, "cuda-fp32") && !strcmp(bk_dtype(be), "fp32"), "got %s", be->name);
	T_CHECK(!strcmp(bk_dtype(&backend_cpu), "fp32"), "cpu dtype %s", bk_dtype(&backend_cpu));
	T_CHECK(!backend_cpu.embed && !backend_cpu.gather && !backend_cpu.prepare && !backend_cpu.synth,
		"the cpu table should leave the extension slots to the fallbacks");
	/* check: the CPU reports an op that could not get its scratch once, then clears it */
	T_CHECK(backend_cpu.check && bk_check(&backend_cpu, err, sizeof(err)) == 0, "cpu check with nothing failed: %s", err);
	cpu_fail("attn_causal");
	T_CHECK(bk_check(&backend_cpu, err, sizeof(err)) == KV_ENOMEM && strstr(err, "attn_causal"), "cpu check after a failure: '%s'",
		err);
	T_CHECK(bk_check(&backend_cpu, err, sizeof(err)) == 0, "the failure is reported once");
	/* gather: out of place and in place, as per-row copies */
	enum { R = 9, W = 5 };
	float x[R * W], y[R * W], want[R * W];
	for (int i = 0; i < R * W; i++)
		x[i] = (float)i;
	const int32_t rows[] = { 0, 2, 3, 7, 8 };
	for (int i = 0; i < 5; i++)
		memcpy(want + i * W, x + rows[i] * W, sizeof(float) * W);
	bk_gather(&backend_cpu, y, W, x, W, rows, 5, W);
	T_CHECK(!memcmp(y, want, sizeof(float) * 5 * W), "gather out of place");
	bk_gather(&backend_cpu, x, W, x, W, rows, 5, W);
	T_CHECK(!memcmp(x, want, sizeof(float) * 5 * W), "gather in place");
	/* strided source (a K/V head inside a (T, Hkv*D) row) */
	bk_gather(&backend_cpu, y, 2, want + 1, W, (const int32_t[]){ 4, 1 }, 2, 2);
	T_CHECK(y[0] == want[4 * W + 1] && y[1] == want[4 * W + 2] && y[2] == want[W + 1] && y[3] == want[W + 2], "strided gather");
	/* embed */
	const int32_t ids[] = { 3, 0, 3 };
	bk_embed(&backend_cpu, y, want, ids, 3, W, 5);
	T_CHECK(!memcmp(y, want + 3 * W, sizeof(float) * W) && !memcmp(y + W, want, sizeof(float) * W) &&
		!memcmp(y + 2 * W, want + 3 * W, sizeof(float) * W), "embed");
	T_CHECK(bk_prepare(&backend_cpu, NULL, err, sizeof(err)) == 0 && bk_check(&backend_cpu, err, sizeof(err)) == 0,
		"prepare / check fallbacks");
	const struct bench_shape *sh = bench_shape_find("tiny");
	struct model *m = NULL;
	T_CHECK(sh && model_init_random_device(&backend_cpu, &sh->cfg, 1, &m, err, sizeof(err)) == KV_EUNSUP && !m &&
			strstr(err, "cpu"),
		"device-synthetic model on the cpu: %s", err);
}

int main(void)
{
	T_RUN(cpu_backend_sets_every_required_slot);
	T_RUN(a_table_missing_a_required_slot_is_refused_naming_it);
	T_RUN(supports_narrows_the_set_slots);
	T_RUN(colsum_fallback_matches_the_cpu_op_bit_for_bit);
	T_RUN(missing_qmatvec_is_reported_and_writes_nothing);
	T_RUN(host_memory_fallbacks_behave_as_libc);
	T_RUN(backends_are_found_by_name_or_refused_with_a_reason);
	T_RUN(a_session_keeps_cache_and_activations_in_backend_memory);
	T_RUN(dtype_lookup_and_extension_fallbacks_behave);
	return t_done();
}
