/* The cpu-bf16 backend's matrices: each fp32 weight the matmul slot meets is packed to
 * bf16 once (engine/cpu/gemm_bf16.h), keyed by its host pointer and shape, and reused by
 * every later product. A key also holds a fingerprint of a few of the fp32 values, so a
 * matrix freed and another allocated at the same address is packed again, never read
 * stale. The prepare slot drops the copies that lie outside the model's weights. The
 * table is guarded by a mutex (sessions on several threads may share it). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h" // kv_errf
#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/gemm_bf16.h"
#include "engine/model.h" // struct model (arena)

#define FP_N 8 /* fp32 values sampled into a fingerprint */

struct entry {
	const float *w; /* the host fp32 matrix (out, in) this copy was packed from */
	uint32_t fp[FP_N];
	struct bf16_mat m;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *tab; /* (n_tab,) */
static int n_tab, cap_tab;

static void fingerprint(uint32_t *fp, const float *w, int in, int out)
{
	size_t n = (size_t)in * out;
	memset(fp, 0, sizeof(uint32_t) * FP_N);
	for (int i = 0; n && i < FP_N; i++)
		memcpy(&fp[i], &w[(n - 1) * i / (FP_N - 1)], 4);
}

/* The packed copy of w (out, in), packing it on first use; NULL when out of memory. */
static const struct bf16_mat *lookup(const float *w, int in, int out)
{
	uint32_t fp[FP_N];
	fingerprint(fp, w, in, out);
	for (int i = 0; i < n_tab; i++) {
		struct entry *e = &tab[i];
		if (e->w != w || e->m.in != in || e->m.out != out)
			continue;
		if (!memcmp(e->fp, fp, sizeof(fp)))
			return &e->m;
		bf16_mat_free(&e->m); /* same address, other values: pack again below */
		tab[i] = tab[--n_tab];
		break;
	}
	if (n_tab == cap_tab) {
		int cap = cap_tab ? 2 * cap_tab : 64;
		struct entry *t = realloc(tab, sizeof(*t) * (size_t)cap);
		if (!t)
			return NULL;
		tab = t;
		cap_tab = cap;
	}
	struct entry *e = &tab[n_tab];
	if (bf16_mat_pack(&e->m, w, in, out))
		return NULL;
	e->w = w;
	memcpy(e->fp, fp, sizeof(fp));
	return &tab[n_tab++].m;
}

void cpu_matmul_bf16(float *y, const float *x, const float *w, int T, int in, int out)
{
	pthread_mutex_lock(&lock);
	const struct bf16_mat *m = lookup(w, in, out);
	int rc = m ? gemm_bf16(y, x, m, T) : KV_ENOMEM;
	pthread_mutex_unlock(&lock);
	if (rc)
		cpu_fail("matmul (bf16)");
}

int cpu_prepare_bf16(const struct model *m, char *err, size_t errlen)
{
	if (!gemm_bf16_supported())
		return kv_errf(err, errlen, KV_EUNSUP, "the cpu-bf16 backend needs a CPU with AVX512-BF16 (avx512_bf16 in /proc/cpuinfo)");
	const char *lo = m->arena, *hi = lo + m->arena_bytes;
	pthread_mutex_lock(&lock);
	for (int i = 0; i < n_tab;) {
		const char *p = (const char *)tab[i].w;
		if (lo && p >= lo && p < hi) {
			i++;
			continue;
		}
		bf16_mat_free(&tab[i].m);
		tab[i] = tab[--n_tab];
	}
	pthread_mutex_unlock(&lock);
	return 0;
}

void cpu_bf16_release(void)
{
	pthread_mutex_lock(&lock);
	for (int i = 0; i < n_tab; i++)
		bf16_mat_free(&tab[i].m);
	free(tab);
	tab = NULL;
	n_tab = cap_tab = 0;
	pthread_mutex_unlock(&lock);
}
