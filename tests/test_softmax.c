/* The CPU softmax (engine/cpu/softmax.c, vectorised exp) against a double-precision
 * softmax: every probability within 3e-6 relative (a float softmax with glibc's
 * expf measures 2.3e-6 on these rows: the float subtraction of the maximum
 * dominates), masked tail zeroed, rows of every length around the 8-lane blocks,
 * the maximum found in every lane and in the tail, and scores spanning the
 * flush-to-zero range; KVzip's divide-and-max passes equal to scalar loops bit for bit. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "engine/cpu/cpu_ops.h" // cpu_softmax_row, cpu_div_max, cpu_max_div_into
#include "tests/test.h"

static uint64_t rng = 88172645463325252ull;

/* Uniform in [lo, hi) from an xorshift stream. */
static float uniform(float lo, float hi)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return lo + (hi - lo) * (float)((rng >> 40) / 16777216.0);
}

/* Largest relative error of one row against the double reference (absolute below 1e-30). */
static double row_error(const float *in, int n, int m, int *tail_bad)
{
	float s[1100];
	memcpy(s, in, sizeof(float) * (size_t)m);
	cpu_softmax_row(s, n, m);
	double mx = in[0], sum = 0.0, worst = 0.0;
	for (int j = 1; j < n; j++)
		mx = in[j] > mx ? in[j] : mx;
	for (int j = 0; j < n; j++)
		sum += exp((double)in[j] - mx);
	for (int j = 0; j < n; j++) {
		double ref = exp((double)in[j] - mx) / sum;
		double e = fabs(s[j] - ref) / (ref > 1e-30 ? ref : 1.0);
		worst = e > worst ? e : worst;
	}
	*tail_bad = 0;
	for (int j = n; j < m; j++)
		*tail_bad |= s[j] != 0.0f;
	return worst;
}

static void softmax_matches_double_reference_at_every_length(void)
{
	float in[1100];
	const int lens[] = {1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 129, 1000, 1093};
	for (size_t t = 0; t < sizeof lens / sizeof lens[0]; t++) {
		int n = lens[t], m = n + 5 > 1100 ? 1100 : n + 5;
		for (int j = 0; j < m; j++)
			in[j] = uniform(-30.0f, 30.0f);
		int tail_bad;
		double e = row_error(in, n, m, &tail_bad);
		T_CHECK(e < 3e-6, "length %d: relative error %.3g", n, e);
		T_CHECK(!tail_bad, "length %d: masked tail not zeroed", n);
	}
}

static void softmax_flushes_far_below_the_maximum(void)
{
	float in[40];
	for (int j = 0; j < 40; j++)
		in[j] = -1000.0f - (float)j; /* all but the first far below it */
	in[0] = 5.0f;
	in[17] = 4.0f;
	int tail_bad;
	double e = row_error(in, 40, 40, &tail_bad);
	T_CHECK(e < 3e-6, "relative error %.3g", e);
	float s[40];
	memcpy(s, in, sizeof s);
	cpu_softmax_row(s, 40, 40);
	T_CHECK(s[3] < 1e-30f && s[3] >= 0.0f, "score 1003 below the maximum gives %g", s[3]);
}

static void maximum_is_found_at_every_position(void)
{
	for (int n = 1; n <= 37; n += 12) /* 1, 13, 25, 37: tails of 1, 5, 1 and 5 after the blocks */
		for (int at = 0; at < n; at++) {
			float s[37];
			for (int j = 0; j < n; j++)
				s[j] = -60.0f + (float)j * 0.01f;
			s[at] = 40.0f; /* 100 above the rest: everything else flushes */
			cpu_softmax_row(s, n, n);
			T_CHECK(s[at] == 1.0f, "length %d, maximum at %d: gets %.9g", n, at, s[at]);
			for (int j = 0; j < n; j++)
				T_CHECK(j == at || s[j] < 1e-30f, "length %d, maximum at %d: %d gets %g", n, at, j, s[j]);
		}
}

static void exp_is_exact_at_integer_multiples_of_ln2(void)
{
	float s[9] = {0.0f};
	for (int j = 1; j < 9; j++)
		s[j] = -(float)j * 0.693147180559945f;
	cpu_softmax_row(s, 9, 9);
	for (int j = 1; j < 9; j++) {
		double ratio = (double)s[j] / s[0] * (double)(1 << j);
		T_CHECK(fabs(ratio - 1.0) < 1e-6, "2^-%d: ratio %.9f", j, ratio);
	}
}

/* KVzip's row passes: bit for bit what the scalar loops they replace give, at every length
 * around the 8-lane blocks, with the maximum in every lane and in the tail, and equal
 * values (the first kept). */
static void div_max_and_max_div_into_should_equal_the_scalar_loops(void)
{
	float in[140], a[140], b[140], out_v[140], out_s[140];
	int bad = 0;
	for (int n = 0; n <= 137 && !bad; n++)
		for (int at = 0; at < (n ? n : 1) && !bad; at += n > 20 ? 7 : 1) {
			for (int j = 0; j < n; j++) {
				in[j] = uniform(-40.0f, 40.0f);
				out_v[j] = out_s[j] = j % 3 ? uniform(0.0f, 0.01f) : 0.0f;
			}
			if (n)
				in[at] = 77.0f + (float)(at % 5); /* the maximum, somewhere */
			if (n > 3)
				in[n - 1] = in[n - 2]; /* an equal pair */
			memcpy(a, in, sizeof(float) * (size_t)n);
			memcpy(b, in, sizeof(float) * (size_t)n);
			const float d = 11.3137085f; /* sqrt(128): not a power of two */
			float mx_v = cpu_div_max(a, n, d), mx_s = -FLT_MAX;
			for (int j = 0; j < n; j++) {
				b[j] /= d;
				mx_s = b[j] > mx_s ? b[j] : mx_s;
			}
			bad |= memcmp(a, b, sizeof(float) * (size_t)n) != 0 || memcmp(&mx_v, &mx_s, sizeof mx_v) != 0;
			const float sum = 3.7f;
			cpu_max_div_into(out_v, a, n, sum);
			for (int j = 0; j < n; j++) {
				float p = a[j] / sum;
				out_s[j] = p > out_s[j] ? p : out_s[j];
			}
			bad |= memcmp(out_v, out_s, sizeof(float) * (size_t)n) != 0;
			T_CHECK(!bad, "length %d, maximum at %d: the vector passes differ from the scalar loops (max %g vs %g)", n, at,
				mx_v, mx_s);
		}
	T_CHECK(cpu_div_max(in, 0, 2.0f) == -FLT_MAX, "an empty row's maximum");
}

/* The decode attention's exp pass (engine/cpu/attn_decode.c): the maximum a scan keeping
 * the first finds, and the sum and values cpu_exp_sum gives from it, bit for bit, at
 * every length 1..40 with the maximum in every position and a negative row whose largest
 * value is not in lane 0. */
static void max_exp_sum_should_equal_a_scan_then_the_exp_pass(void)
{
	int bad = 0;
	for (int n = 1; n <= 40; n++)
		for (int at = 0; at < n; at++)
			for (int neg = 0; neg < 2; neg++) {
				float a[40], b[40];
				for (int j = 0; j < n; j++)
					a[j] = (neg ? -30.0f : -3.0f) + 0.37f * (float)((j * 7) % 11);
				a[at] += 5.0f;
				memcpy(b, a, sizeof(float) * (size_t)n);
				float mx = b[0];
				for (int j = 1; j < n; j++)
					mx = b[j] > mx ? b[j] : mx;
				float want = cpu_exp_sum(b, n, mx), got_mx = 0.0f;
				float got = cpu_max_exp_sum(a, n, &got_mx);
				bad += memcmp(&got_mx, &mx, sizeof mx) != 0 || memcmp(&got, &want, sizeof got) != 0 ||
				       memcmp(a, b, sizeof(float) * (size_t)n) != 0;
			}
	T_CHECK(bad == 0, "%d of %d rows differ from the scan and cpu_exp_sum", bad, 2 * 820);
}

int main(void)
{
	T_RUN(softmax_matches_double_reference_at_every_length);
	T_RUN(softmax_flushes_far_below_the_maximum);
	T_RUN(maximum_is_found_at_every_position);
	T_RUN(exp_is_exact_at_integer_multiples_of_ln2);
	T_RUN(div_max_and_max_div_into_should_equal_the_scalar_loops);
	T_RUN(max_exp_sum_should_equal_a_scan_then_the_exp_pass);
	return t_done();
}
