/* The attention services methods call inside prefill_layer (engine/kv_view.c):
 * kv_view_attn_colsum adds, per query head and column, exactly what summing
 * kv_view_attn_probs' rows in row order gives (bit for bit, across its row blocks,
 * for causal, unmasked and mixed rows, a row range and fewer columns), adds to what
 * acc holds, and refuses rows or columns outside the view. */
#include <stdint.h>
#include <stdlib.h>

#include "base/errors.h"
#include "engine/kv_method.h"
#include "tests/test.h"

enum { T = 300, H = 6, HKV = 2, D = 16 }; /* T spans more than two 128-row blocks */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static float uniform(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((rng >> 40) / 16777216.0) * 4.0f - 2.0f;
}

struct fixture {
	struct kv_shape shape;
	struct kv_layer_view v;
	float q[T * H * D], k[T * HKV * D];
};

static struct fixture *fixture_new(void)
{
	struct fixture *f = calloc(1, sizeof *f);
	f->shape = (struct kv_shape){ .n_layer = 1, .n_head = H, .n_head_kv = HKV, .head_dim = D };
	for (int i = 0; i < T * H * D; i++)
		f->q[i] = uniform();
	for (int i = 0; i < T * HKV * D; i++)
		f->k[i] = uniform();
	f->v = (struct kv_layer_view){ .shape = &f->shape, .n = T, .n_prompt = T, .q = f->q, .k = f->k, .v = f->k };
	return f;
}

/* Column sums of rows [row0, row0+nr) from kv_view_attn_probs, row by row, onto base. */
static void reference(const struct kv_layer_view *v, int row0, int nr, int causal_from, int ncols, float base, float *acc)
{
	float *p = malloc(sizeof(float) * (size_t)H * nr * T);
	char err[256];
	T_CHECK(kv_view_attn_probs(v, row0, nr, causal_from, p, err, sizeof err) == 0, "%s", err);
	for (int h = 0; h < H; h++)
		for (int j = 0; j < ncols; j++) {
			float a = base;
			for (int r = 0; r < nr; r++)
				a += p[((size_t)h * nr + r) * T + j];
			acc[h * ncols + j] = a;
		}
	free(p);
}

static void colsum_equals_probs_summed_in_row_order(void)
{
	struct fixture *f = fixture_new();
	const int cases[][4] = { /* row0, rows, causal_from, columns */
		{ 0, T, T - 8, T - 8 },  /* H2O: unmasked rows, then the causal window */
		{ 0, T, 0, T },          /* all causal */
		{ 0, T, T, T },          /* none causal */
		{ T - 8, 8, T - 8, T - 8 }, /* SnapKV's window rows */
		{ 5, 129, 70, 200 },     /* a range crossing a block edge, fewer columns */
	};
	float *got = malloc(sizeof(float) * H * T), *want = malloc(sizeof(float) * H * T);
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		int row0 = cases[c][0], nr = cases[c][1], cf = cases[c][2], nc = cases[c][3];
		for (int i = 0; i < H * nc; i++)
			got[i] = 0.5f;
		char err[256];
		T_CHECK(kv_view_attn_colsum(&f->v, row0, nr, cf, nc, got, err, sizeof err) == 0, "case %zu: %s", c, err);
		reference(&f->v, row0, nr, cf, nc, 0.5f, want);
		int diff = 0;
		for (int i = 0; i < H * nc; i++)
			diff += got[i] != want[i];
		T_CHECK(diff == 0, "case %zu: %d of %d sums differ from the row-order sums", c, diff, H * nc);
		if (nc == T) { /* every row's probabilities sum to one */
			double tot = 0.0;
			for (int j = 0; j < T; j++)
				tot += got[j] - 0.5f;
			T_CHECK(tot > nr - 1e-3 && tot < nr + 1e-3, "case %zu: head 0 sums to %.6f over %d rows", c, tot, nr);
		}
	}
	free(got);
	free(want);
	free(f);
}

static void colsum_refuses_rows_and_columns_outside_the_view(void)
{
	struct fixture *f = fixture_new();
	float *acc = calloc((size_t)H * (T + 1), sizeof(float));
	char err[256];
	T_CHECK(kv_view_attn_colsum(&f->v, T - 4, 8, 0, T, acc, err, sizeof err) == KV_EINTERNAL, "rows past T accepted");
	T_CHECK(strstr(err, "outside 0..300") != NULL, "message: %s", err);
	T_CHECK(kv_view_attn_colsum(&f->v, 0, T, 0, T + 1, acc, err, sizeof err) == KV_EINTERNAL, "columns past T accepted");
	T_CHECK(strstr(err, "301 of 300 keys") != NULL, "message: %s", err);
	free(acc);
	free(f);
}

int main(void)
{
	T_RUN(colsum_equals_probs_summed_in_row_order);
	T_RUN(colsum_refuses_rows_and_columns_outside_the_view);
	return t_done();
}
