/* The methods' scoring services on the device (engine/cpu/score.c's twins), from one
 * prefill layer's post-RoPE q (T, H*D) and k (T, Hkv*D), GQA by index:
 *  - probabilities softmax(q_i . k_j / sqrt(D)) of rows [row0, row0+n_rows) per query
 *    head into (H, n_rows, T); rows i >= causal_from see keys j <= i (the rest 0);
 *  - column sums: acc (H, ncols) += those rows, each column adding its rows in row
 *    order (the CPU's order, so only the probabilities' own rounding differs);
 *  - raw dots q_row . k_j into (H, T).
 * One block per (row, head) for the probabilities (scores kept in the output row), one
 * thread per (head, column) for the sums and per (head, key) for the dots. */
#include <math.h>

#include "engine/cuda/cuda_check.cuh"

#define THREADS 256
#define MAX_D 256

static __device__ float block_reduce(float x, float *red, bool is_max)
{
	red[threadIdx.x] = x;
	__syncthreads();
	for (int s = THREADS / 2; s > 0; s >>= 1) {
		if ((int)threadIdx.x < s)
			red[threadIdx.x] = is_max ? fmaxf(red[threadIdx.x], red[threadIdx.x + s]) : red[threadIdx.x] + red[threadIdx.x + s];
		__syncthreads();
	}
	float r = red[0];
	__syncthreads();
	return r;
}

static __global__ void probs_kernel(float *out, const float *q, const float *k, int T, int H, int Hkv, int D, int row0,
				    int n_rows, int causal_from, float scale)
{
	__shared__ float qs[MAX_D];
	__shared__ float red[THREADS];
	const int r = blockIdx.x, h = blockIdx.y, i = row0 + r, kvh = h / (H / Hkv);
	const size_t ldq = (size_t)H * D, ldk = (size_t)Hkv * D;
	for (int d = threadIdx.x; d < D; d += THREADS)
		qs[d] = q[(size_t)i * ldq + (size_t)h * D + d];
	__syncthreads();
	float *o = out + ((size_t)h * n_rows + r) * T;
	const int lim = i >= causal_from ? i + 1 : T;
	float mx = -INFINITY;
	for (int j = threadIdx.x; j < lim; j += THREADS) {
		const float *kr = k + (size_t)j * ldk + (size_t)kvh * D;
		float dot = 0.0f;
		for (int d = 0; d < D; d++)
			dot += qs[d] * kr[d];
		o[j] = dot * scale;
		mx = fmaxf(mx, o[j]);
	}
	mx = block_reduce(mx, red, true);
	float sum = 0.0f;
	for (int j = threadIdx.x; j < lim; j += THREADS) {
		float e = expf(o[j] - mx);
		o[j] = e;
		sum += e;
	}
	sum = block_reduce(sum, red, false);
	const float inv = 1.0f / sum;
	for (int j = threadIdx.x; j < T; j += THREADS)
		o[j] = j < lim ? o[j] * inv : 0.0f;
}

static __global__ void colsum_kernel(float *acc, const float *probs, int H, int n_rows, int T, int ncols)
{
	size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (idx >= (size_t)H * ncols)
		return;
	int h = (int)(idx / ncols), j = (int)(idx % ncols);
	float a = acc[idx];
	for (int r = 0; r < n_rows; r++)
		a += probs[((size_t)h * n_rows + r) * T + j];
	acc[idx] = a;
}

static __global__ void dots_kernel(float *out, const float *q, const float *k, int T, int H, int Hkv, int D, int row)
{
	const int h = blockIdx.y, j = blockIdx.x * blockDim.x + threadIdx.x, kvh = h / (H / Hkv);
	if (j >= T)
		return;
	const float *qr = q + (size_t)row * H * D + (size_t)h * D, *kr = k + (size_t)j * Hkv * D + (size_t)kvh * D;
	float dot = 0.0f;
	for (int d = 0; d < D; d++)
		dot += qr[d] * kr[d];
	out[(size_t)h * T + j] = dot;
}

static bool shape_ok(const char *what, int H, int Hkv, int D)
{
	if (D <= MAX_D && Hkv > 0 && H % Hkv == 0)
		return true;
	cuda_fail("%s: unsupported shape (H %d, Hkv %d, head_dim %d; head_dim <= %d)", what, H, Hkv, D, MAX_D);
	return false;
}

extern "C" void cuda_attn_probs(float *d_out, const float *d_q, const float *d_k, int T, int H, int Hkv, int D, int row0,
				int n_rows, int causal_from)
{
	if (n_rows <= 0 || T <= 0 || !shape_ok("attn_probs", H, Hkv, D))
		return;
	dim3 grid(n_rows, H);
	probs_kernel<<<grid, THREADS>>>(d_out, d_q, d_k, T, H, Hkv, D, row0, n_rows, causal_from, 1.0f / sqrtf((float)D));
	CK_LAUNCH(probs_kernel);
}

extern "C" void cuda_colsum_add(float *d_acc, const float *d_probs, int H, int n_rows, int T, int ncols)
{
	size_t n = (size_t)H * ncols;
	if (!n || n_rows <= 0)
		return;
	colsum_kernel<<<cuda_blocks(n, THREADS), THREADS>>>(d_acc, d_probs, H, n_rows, T, ncols);
	CK_LAUNCH(colsum_kernel);
}

extern "C" void cuda_qk_dots(float *d_out, const float *d_q, const float *d_k, int T, int H, int Hkv, int D, int row)
{
	if (T <= 0 || !shape_ok("qk_dots", H, Hkv, D))
		return;
	dim3 grid(cuda_blocks(T, THREADS), H);
	dots_kernel<<<grid, THREADS>>>(d_out, d_q, d_k, T, H, Hkv, D, row);
	CK_LAUNCH(dots_kernel);
}
