/* kvlab calibrate tsp's library (eval/calibrate_tsp.c) on the tiny random-weight LLaMA:
 * tsp_rate 1 propagates everything (similarity 1, no logit difference at any layer); a
 * TSP at the last layer changes nothing downstream (exact) while one at layer 0 moves the
 * final state; the comparisons on hand-made vectors; the suggestion on hand-made curves;
 * --layers parsing; prompts cut from a text file. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/calibrate_tsp.h" // tsp_calib_*
#include "engine/model.h"       // model_load, model_free
#include "engine/tokenizer.h"   // tok_encode, tok_bos
#include "tests/test.h"
#include "tests/test_policy.h" // t_tiny_model, t_random_ids

#define N_TOK 200
#define N_PROMPTS 2

static struct model *g_tiny; /* 4 layers, E 64, H 4, Hkv 2, D 16, V 256 */

/* Runs the curve over every layer of the tiny model at rate on N_PROMPTS random prompts. */
static int run_curve(double rate, struct tsp_calib_row *rows, char *err, size_t errlen)
{
	int32_t *ids = t_random_ids(N_PROMPTS * N_TOK, 7, g_tiny->cfg.n_vocab);
	int layers[] = { 0, 1, 2, 3 };
	struct tsp_calib_opts o = { .m = g_tiny, .prompts = ids, .n_prompts = N_PROMPTS, .n_tokens = N_TOK, .layers = layers,
				    .n_layers = 4, .tsp_rate = rate, .window_size = 8, .threads = 1 };
	int rc = ids ? tsp_calib_run(&o, rows, err, errlen) : -1;
	free(ids);
	return rc;
}

static void rate_one_should_leave_every_layer_exact(void)
{
	struct tsp_calib_row rows[4];
	char err[256] = "";
	int rc = run_curve(1.0, rows, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	for (int j = 0; !rc && j < 4; j++) {
		T_CHECK(rows[j].layer == j, "row %d is layer %d", j, rows[j].layer);
		T_CHECK(rows[j].n_prop == 0, "layer %d: %g rows propagated at rate 1 (none expected: all go on)", j, rows[j].n_prop);
		T_CHECK(rows[j].cos_mean == 1.0 && rows[j].cos_min == 1.0 && rows[j].rel_l2 == 0.0,
			"layer %d: cos %.17g / %.17g, rel L2 %g", j, rows[j].cos_mean, rows[j].cos_min, rows[j].rel_l2);
		T_CHECK(rows[j].kl == 0.0 && rows[j].max_abs == 0.0 && rows[j].top1 == 1.0, "layer %d: KL %g, max |d| %g, top-1 %g", j,
			rows[j].kl, rows[j].max_abs, rows[j].top1);
	}
	printf("  rate 1: cos 1, KL 0, max |dlogit| 0 at layers 0..3\n");
}

static void last_layer_should_be_exact_and_layer_zero_should_move(void)
{
	struct tsp_calib_row rows[4];
	char err[256] = "";
	int rc = run_curve(0.25, rows, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (rc)
		return;
	for (int j = 0; j < 4; j++) {
		T_CHECK(rows[j].n_prop == N_TOK / 4, "layer %d: %g rows propagated (want %d)", j, rows[j].n_prop, N_TOK / 4);
		printf("  rate 0.25 layer %d: cos %.6f, rel L2 %.4f, KL %.3e, max |dlogit| %.4f, top-1 %.2f\n", j, rows[j].cos_mean,
		       rows[j].rel_l2, rows[j].kl, rows[j].max_abs, rows[j].top1);
	}
	/* after the last layer nothing reads the dropped rows: the last position is untouched */
	T_CHECK(rows[3].cos_mean == 1.0 && rows[3].kl == 0.0 && rows[3].max_abs == 0.0, "layer 3: cos %.17g, KL %g, max %g",
		rows[3].cos_mean, rows[3].kl, rows[3].max_abs);
	T_CHECK(rows[0].cos_mean < 1.0 && rows[0].kl > 0.0 && rows[0].max_abs > 0.0 && rows[0].rel_l2 > 0.0,
		"layer 0: cos %.17g, KL %g, max %g", rows[0].cos_mean, rows[0].kl, rows[0].max_abs);
	T_CHECK(rows[0].cos_min <= rows[0].cos_mean, "layer 0: min %g above mean %g", rows[0].cos_min, rows[0].cos_mean);
}

static void compare_should_measure_hand_made_vectors(void)
{
	float a[3] = { 1, 0, 0 }, b[3] = { 0, 1, 0 }, c[3] = { 2, 0, 0 };
	float la[3] = { 0, 0, 0 }, lb[3] = { 0, (float)log(2.0), 0 }; /* q = (1/4, 1/2, 1/4) */
	struct tsp_calib_cmp r;
	tsp_calib_compare(a, b, 3, la, lb, 3, &r);
	double kl = log(1.0 / 3 / 0.25) * 2 / 3 + log(1.0 / 3 / 0.5) / 3;
	T_CHECK(fabs(r.cos) < 1e-12 && fabs(r.rel_l2 - sqrt(2.0)) < 1e-12, "cos %g, rel L2 %g", r.cos, r.rel_l2);
	T_CHECK(fabs(r.kl - kl) < 1e-7, "KL %.10g, want %.10g", r.kl, kl);
	T_CHECK(fabs(r.max_abs - log(2.0)) < 1e-6 && !r.top1, "max %g, top1 %d", r.max_abs, r.top1);
	tsp_calib_compare(a, c, 3, lb, lb, 3, &r);
	T_CHECK(fabs(r.cos - 1) < 1e-12 && fabs(r.rel_l2 - 1) < 1e-12 && r.kl == 0 && r.max_abs == 0 && r.top1,
		"cos %g, rel L2 %g, KL %g", r.cos, r.rel_l2, r.kl);
}

static void suggestion_should_be_the_earliest_layer_that_stays_above(void)
{
	struct tsp_calib_row r[6] = { { .layer = 2, .cos_mean = 0.90 }, { .layer = 4, .cos_mean = 0.97 },
				      { .layer = 6, .cos_mean = 0.94 }, { .layer = 8, .cos_mean = 0.96 },
				      { .layer = 10, .cos_mean = 0.99 }, { .layer = 12, .cos_mean = 1.0 } };
	int s = tsp_calib_suggest(r, 6, 0.95);
	T_CHECK(s == 3, "0.95: row %d (layer %d), want row 3 (layer 8: layer 4 passes but layer 6 dips)", s, s >= 0 ? r[s].layer : -1);
	T_CHECK(tsp_calib_suggest(r, 6, 0.90) == 0, "0.90: every layer passes, the first is the earliest");
	T_CHECK(tsp_calib_suggest(r, 6, 0.995) == 5, "0.995: only the last");
	r[5].cos_mean = 0.98;
	T_CHECK(tsp_calib_suggest(r, 6, 0.995) == -1, "0.995 with the last below: none");
	T_CHECK(tsp_calib_suggest(r, 6, 0.98) == 4, "0.98: equal counts as staying above");
}

static void layers_should_parse_ranges_and_refuse_bad_lists(void)
{
	int *v = NULL, n = 0;
	char err[256] = "";
	T_CHECK(tsp_calib_parse_layers("9,2-4,7", 30, &v, &n, err, sizeof(err)) == 0, "%s", err);
	int want[] = { 2, 3, 4, 7, 9 };
	T_CHECK(n == 5 && v && !memcmp(v, want, sizeof(want)), "got %d layers", n);
	free(v);
	const char *bad[] = { "", "2-", "a", "3-1", "0-30", "2,2", "1,,2", "-1", "5 ", NULL };
	for (int i = 0; bad[i]; i++) {
		v = NULL;
		err[0] = 0;
		T_CHECK(tsp_calib_parse_layers(bad[i], 30, &v, &n, err, sizeof(err)) != 0 && v == NULL && strstr(err, "--layers"),
			"'%s' accepted or message without the flag: %s", bad[i], err);
	}
}

static void prompts_should_be_consecutive_windows_with_bos(void)
{
	struct model *m = NULL;
	char err[512] = "", path[] = "/tmp/kvlab_test_calib_XXXXXX";
	if (model_load("tests/golden/tiny_llama", &m, err, sizeof(err))) {
		T_SKIP("tests/golden/tiny_llama: %s", err);
		return;
	}
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	T_CHECK(f != NULL, "cannot write %s", path);
	if (!f) {
		model_free(m);
		return;
	}
	for (int i = 0; i < 200; i++)
		fprintf(f, "The quick brown fox %d jumps over the lazy dog. ", i);
	fclose(f);
	int32_t *ids = NULL, *all = NULL;
	int n_all = 0;
	T_CHECK(tsp_calib_prompts(m, path, "--prompt_file", 3, 40, &ids, err, sizeof(err)) == 0, "%s", err);
	char ref[1024] = "";
	for (int i = 0; i < 8; i++) /* the text's start, ending before a space as the prompts' cut does */
		snprintf(ref + strlen(ref), sizeof(ref) - strlen(ref), "%sThe quick brown fox %d jumps over the lazy dog.", i ? " " : "", i);
	T_CHECK(tok_encode(m->tok, ref, strlen(ref), false, &all, &n_all, err, sizeof(err)) == 0, "%s", err);
	int bos = tok_add_bos(m->tok) ? tok_bos(m->tok) : -1, body = bos >= 0 ? 39 : 40;
	T_CHECK(n_all >= 3 * body, "reference text too short: %d tokens", n_all);
	for (int p = 0; ids && n_all >= 3 * body && p < 3; p++) {
		const int32_t *row = ids + (size_t)p * 40;
		T_CHECK(bos < 0 || row[0] == bos, "prompt %d does not start with BOS", p);
		T_CHECK(!memcmp(row + (bos >= 0), all + (size_t)p * body, sizeof(int32_t) * (size_t)body), "prompt %d is not window %d", p, p);
	}
	free(ids);
	free(all);
	ids = NULL;
	err[0] = 0;
	T_CHECK(tsp_calib_prompts(m, path, "--prompt_file", 1000, 400, &ids, err, sizeof(err)) == KV_EINVAL && !ids &&
			strstr(err, "--prompt_file") && strstr(err, path),
		"too little text: %s", err);
	err[0] = 0;
	T_CHECK(tsp_calib_prompts(m, "/nonexistent/x", "--data", 1, 40, &ids, err, sizeof(err)) == KV_EIO && strstr(err, "--data"),
		"missing path: %s", err);
	unlink(path);
	model_free(m);
}

int main(void)
{
	char err[256];
	if (t_tiny_model(&g_tiny, err, sizeof(err))) {
		fprintf(stderr, "tiny model: %s\n", err);
		return 1;
	}
	T_RUN(rate_one_should_leave_every_layer_exact);
	T_RUN(last_layer_should_be_exact_and_layer_zero_should_move);
	T_RUN(compare_should_measure_hand_made_vectors);
	T_RUN(suggestion_should_be_the_earliest_layer_that_stays_above);
	T_RUN(layers_should_parse_ranges_and_refuse_bad_lists);
	T_RUN(prompts_should_be_consecutive_windows_with_bos);
	model_free(g_tiny);
	return t_done();
}
