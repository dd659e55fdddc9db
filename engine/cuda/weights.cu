/* Device copies of the model's host weights, keyed by host pointer (the backend table
 * passes host weight pointers; engine/backend.h). Each entry holds the copy in one
 * type (fp32 or bf16) and a fingerprint of a few host samples: a lookup whose samples
 * changed (host memory freed and reused by another model) uploads again. Weights
 * generated on the device (cuda_weight_synth) record the host samples as they are
 * (zeros), so they stay valid while the host arrays are untouched. A linear table:
 * a model has ~10 weights per layer, looked up a few times per layer. */
#include <cuda_bf16.h>
#include <curand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cuda/cuda_check.cuh"
#include "engine/cuda/cuda_ctx.cuh"

#define N_SAMPLES 8

struct went {
	const float *h;
	size_t n;
	enum cuda_wtype t;
	void *d;
	uint64_t fp;
	bool used; /* asked for since the last cuda_weight_mark */
};

static struct went *tab;
static int n_tab, cap_tab;
static size_t dev_bytes;

/* A hash of N_SAMPLES host values spread over h[0..n) and its length. */
static uint64_t fingerprint(const float *h, size_t n)
{
	uint64_t x = 1469598103934665603ull ^ n;
	for (int i = 0; i < N_SAMPLES; i++) {
		size_t j = n <= 1 ? 0 : (size_t)((double)(n - 1) * i / (N_SAMPLES - 1));
		uint32_t u;
		memcpy(&u, h + j, sizeof(u));
		x = (x ^ u) * 1099511628211ull;
	}
	return x;
}

static size_t wbytes(size_t n, enum cuda_wtype t)
{
	return n * (t == CW_BF16 ? sizeof(__nv_bfloat16) : sizeof(float));
}

static struct went *find(const float *h, enum cuda_wtype t)
{
	for (int i = 0; i < n_tab; i++)
		if (tab[i].h == h && tab[i].t == t)
			return &tab[i];
	return NULL;
}

static void drop(struct went *e)
{
	CK_FAILED(cudaFree(e->d));
	dev_bytes -= wbytes(e->n, e->t);
	*e = tab[--n_tab];
}

static struct went *add(const float *h, size_t n, enum cuda_wtype t)
{
	if (n_tab == cap_tab) {
		int nc = cap_tab ? 2 * cap_tab : 64;
		struct went *nt = (struct went *)realloc(tab, sizeof(*nt) * nc);
		if (!nt)
			return NULL;
		tab = nt;
		cap_tab = nc;
	}
	void *d = NULL;
	if (cudaMalloc(&d, wbytes(n, t)) != cudaSuccess) {
		cudaGetLastError();
		return NULL;
	}
	dev_bytes += wbytes(n, t);
	struct went *e = &tab[n_tab++];
	*e = (struct went){ h, n, t, d, fingerprint(h, n), true };
	return e;
}

/* Uploads h (n floats) into e->d in e's type (bf16: through a fp32 scratch, in chunks). */
static bool upload(struct went *e)
{
	if (e->t == CW_F32)
		return !CK_FAILED(cudaMemcpy(e->d, e->h, e->n * sizeof(float), cudaMemcpyHostToDevice));
	const size_t chunk = (size_t)1 << 24; /* 64 MiB of fp32 at a time */
	float *tmp = (float *)cuda_scratch(CS_TMP, sizeof(float) * (e->n < chunk ? e->n : chunk));
	if (!tmp)
		return false;
	for (size_t i = 0; i < e->n; i += chunk) {
		size_t m = e->n - i < chunk ? e->n - i : chunk;
		if (CK_FAILED(cudaMemcpy(tmp, e->h + i, m * sizeof(float), cudaMemcpyHostToDevice)))
			return false;
		cuda_to_bf16((__nv_bfloat16 *)e->d + i, tmp, m);
	}
	return !cuda_failed();
}

extern "C" const void *cuda_weight(const float *h, size_t n, enum cuda_wtype t)
{
	struct went *e = find(h, t);
	if (e && e->n >= n && e->fp == fingerprint(h, e->n)) {
		e->used = true;
		return e->d;
	}
	if (e)
		drop(e);
	if (!(e = add(h, n, t))) {
		cuda_fail("out of device memory for a weight of %zu values (%.1f GiB of weights resident)", n,
			  dev_bytes / 1073741824.0);
		return NULL;
	}
	if (!upload(e)) {
		drop(e);
		return NULL;
	}
	return e->d;
}

extern "C" void cuda_weight_mark(void)
{
	for (int i = 0; i < n_tab; i++)
		tab[i].used = false;
}

extern "C" void cuda_weight_sweep(void)
{
	for (int i = 0; i < n_tab;)
		if (!tab[i].used)
			drop(&tab[i]); /* moves the last entry into i */
		else
			i++;
}

extern "C" size_t cuda_weight_bytes(void)
{
	return dev_bytes;
}

/* x = a * (2u - 1) for u in (0, 1], into fp32 or bf16. */
static __global__ void uniform_to_range(void *dst, const float *u, size_t n, float a, int bf16)
{
	size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= n)
		return;
	float x = a * (2.0f * u[i] - 1.0f);
	if (bf16)
		((__nv_bfloat16 *)dst)[i] = __float2bfloat16_rn(x);
	else
		((float *)dst)[i] = x;
}

extern "C" int cuda_weight_synth(const float *h, size_t n, enum cuda_wtype t, float a, uint64_t seed, uint64_t stream,
				 char *err, size_t errlen)
{
	struct went *e = find(h, t);
	if (e)
		drop(e);
	if (!(e = add(h, n, t))) {
		snprintf(err, errlen, "out of device memory for a random weight of %zu values (%.1f GiB of weights resident)", n,
			 dev_bytes / 1073741824.0);
		return -1;
	}
	curandGenerator_t g;
	curandStatus_t s;
	const size_t chunk = (size_t)1 << 24;
	float *tmp = (float *)cuda_scratch(CS_TMP, sizeof(float) * (((n < chunk ? n : chunk) + 3) & ~(size_t)3));
	int rc = -1;
	if ((s = curandCreateGenerator(&g, CURAND_RNG_PSEUDO_PHILOX4_32_10)) != CURAND_STATUS_SUCCESS) {
		snprintf(err, errlen, "curandCreateGenerator: status %d", (int)s);
		drop(e);
		return -1;
	}
	/* one Philox stream per weight: the offset skips stream * 2^40 values */
	if ((s = curandSetPseudoRandomGeneratorSeed(g, seed)) != CURAND_STATUS_SUCCESS ||
	    (s = curandSetGeneratorOffset(g, stream << 40)) != CURAND_STATUS_SUCCESS) {
		snprintf(err, errlen, "curand seed/offset: status %d", (int)s);
		goto out;
	}
	for (size_t i = 0; tmp && i < n; i += chunk) {
		size_t m = n - i < chunk ? n - i : chunk;
		size_t mg = (m + 3) & ~(size_t)3; /* Philox makes multiples of 4; tmp holds chunk (a multiple of 4) */
		if ((s = curandGenerateUniform(g, tmp, mg > chunk ? chunk : mg)) != CURAND_STATUS_SUCCESS) {
			snprintf(err, errlen, "curandGenerateUniform: status %d", (int)s);
			goto out;
		}
		void *dst = t == CW_BF16 ? (void *)((__nv_bfloat16 *)e->d + i) : (void *)((float *)e->d + i);
		uniform_to_range<<<cuda_blocks(m, 256), 256>>>(dst, tmp, m, a, t == CW_BF16);
		CK_LAUNCH(uniform_to_range);
	}
	rc = tmp ? 0 : -1;
	if (!tmp)
		snprintf(err, errlen, "out of device memory for the random generator's buffer");
out:
	curandDestroyGenerator(g);
	if (rc == 0 && cuda_take_error(err, errlen))
		rc = -1;
	if (rc)
		drop(e);
	return rc;
}
