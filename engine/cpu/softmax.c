/* CPU softmax over one score row, with the vectorised exp of engine/cpu/vexp.h, and the
 * row passes around it that KVzip's scoring takes (divide and find the maximum, keep the
 * larger of two rows). */
#include <float.h>
#include <stdint.h>
#include <string.h>

#include "engine/cpu/cpu_ops.h"

/* Multiply-adds may fuse in this file (the exp's polynomial and range reduction), so the
 * x86-64-v3 clones below run them as FMAs; -std=c11 leaves contraction off elsewhere. The
 * pragma comes before vexp.h so that the inlined exp carries it too. */
#pragma GCC optimize("fp-contract=fast")

#include "engine/cpu/vexp.h" // v8f, exp_nonpos8

/* 8-lane values never cross a call boundary (everything below is inlined into
 * the entry points), so the vector-ABI note does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"

/* lane-wise larger of a and b (a where they are equal, as a scan keeping the first maximum) */
static inline __attribute__((always_inline)) v8f max8(v8f a, v8f b)
{
	v8i gt = b > a;
	return (v8f)(((v8i)b & gt) | ((v8i)a & ~gt));
}

/* The exp pass of a softmax without the normalisation: s[j] = exp(s[j] - mx), returns the
 * sum (cpu_softmax_row's pass, and cpu_exp_sum's for attention split along keys). */
static inline __attribute__((always_inline)) float exp_sum_body(float *s, int n, float mx)
{
	v8f vsum = {0};
	int j = 0;
	for (; j + 8 <= n; j += 8) {
		v8f x;
		memcpy(&x, s + j, sizeof x);
		x = exp_nonpos8(x - mx);
		memcpy(s + j, &x, sizeof x);
		vsum += x;
	}
	float sum = 0.0f;
	for (int l = 0; l < 8; l++)
		sum += vsum[l];
	if (j < n) { /* tail: pad with -inf-like lanes that contribute 0 */
		v8f x = (v8f){0} - 1e30f;
		memcpy(&x, s + j, sizeof(float) * (size_t)(n - j));
		x = exp_nonpos8(x - mx);
		memcpy(s + j, &x, sizeof(float) * (size_t)(n - j));
		for (int l = 0; l < n - j; l++)
			sum += x[l];
	}
	return sum;
}

/* The largest of s[0..n), n >= 1: lane-wise maxima seeded with s[0], then across lanes;
 * the value a scan keeping the first maximum finds. */
static inline __attribute__((always_inline)) float row_max_body(const float *s, int n)
{
	float mx = s[0];
	v8f vmx = (v8f){0} + mx;
	int j = 0;
	for (; j + 8 <= n; j += 8) {
		v8f x;
		memcpy(&x, s + j, sizeof x);
		vmx = max8(vmx, x);
	}
	for (int l = 0; l < 8; l++)
		mx = vmx[l] > mx ? vmx[l] : mx;
	for (; j < n; j++)
		mx = s[j] > mx ? s[j] : mx;
	return mx;
}

/* The row body, inlined into each clone of cpu_softmax_row. */
static inline __attribute__((always_inline)) void softmax_body(float *s, int n, int m)
{
	float mx = row_max_body(s, n);
	float sum = exp_sum_body(s, n, mx);
	float inv = 1.0f / sum;
	int j = 0;
	for (; j + 8 <= n; j += 8) {
		v8f x;
		memcpy(&x, s + j, sizeof x);
		x *= inv;
		memcpy(s + j, &x, sizeof x);
	}
	for (; j < n; j++)
		s[j] *= inv;
	for (j = n; j < m; j++)
		s[j] = 0.0f;
}

/* One x86-64-v3 clone (AVX2 with FMA) and one baseline clone; the loader's resolver picks
 * by CPU. */
__attribute__((target_clones("arch=x86-64-v3", "default"))) void cpu_softmax_row(float *s, int n, int m)
{
	softmax_body(s, n, m);
}

__attribute__((target_clones("arch=x86-64-v3", "default"))) float cpu_exp_sum(float *s, int n, float mx)
{
	return exp_sum_body(s, n, mx);
}

__attribute__((target_clones("arch=x86-64-v3", "default"))) float cpu_max_exp_sum(float *s, int n, float *mx)
{
	*mx = row_max_body(s, n);
	return exp_sum_body(s, n, *mx);
}

static inline __attribute__((always_inline)) float div_max_body(float *s, int n, float d)
{
	v8f vmx = (v8f){0} - FLT_MAX;
	int j = 0;
	for (; j + 8 <= n; j += 8) {
		v8f x;
		memcpy(&x, s + j, sizeof x);
		x /= d;
		memcpy(s + j, &x, sizeof x);
		vmx = max8(vmx, x);
	}
	float mx = -FLT_MAX;
	for (int l = 0; l < 8; l++)
		mx = vmx[l] > mx ? vmx[l] : mx;
	for (; j < n; j++) {
		s[j] /= d;
		mx = s[j] > mx ? s[j] : mx;
	}
	return mx;
}

static inline __attribute__((always_inline)) void max_div_into_body(float *out, const float *s, int n, float d)
{
	int j = 0;
	for (; j + 8 <= n; j += 8) {
		v8f x, o;
		memcpy(&x, s + j, sizeof x);
		memcpy(&o, out + j, sizeof o);
		o = max8(o, x / d);
		memcpy(out + j, &o, sizeof o);
	}
	for (; j < n; j++) {
		float p = s[j] / d;
		out[j] = p > out[j] ? p : out[j];
	}
}

__attribute__((target_clones("arch=x86-64-v3", "default"))) float cpu_div_max(float *s, int n, float d)
{
	return div_max_body(s, n, d);
}

__attribute__((target_clones("arch=x86-64-v3", "default"))) void cpu_max_div_into(float *out, const float *s, int n, float d)
{
	max_div_into_body(out, s, n, d);
}
