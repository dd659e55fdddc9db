/* SmolLM2-135M-Instruct (Q4_1 GGUF) logits against transformers fp32 on the same
 * dequantised weights (tests/golden/smollm2_logits_<n>.bin from scripts/ref_engine.py):
 * essay prompts of 8, 500, 2000 and 8192 tokens (8192: all essays joined); the last
 * row within LOGITS_TOL, and for 500 tokens the argmax at every position identical
 * (that prompt was chosen so every position's top-1/top-2 margin is >= 8e-3, well
 * above fp32 noise). */
#include <sys/types.h>
#include <sha2.h> // SHA256File (libmd)
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"  // kv_errf
#include "base/fileio.h"  // kv_read_file
#include "engine/forward.h" // fwd_logits
#include "engine/model.h"   // model_load
#include "tests/test.h"

#define LOGITS_TOL 1e-2f

struct logits_golden {
	char sha[65];
	int n_tokens, n_vocab;
	int32_t *tokens;       /* (n_tokens,) */
	int32_t *argmax;       /* (n_tokens,) */
	float *last;           /* (n_vocab,) logits at the last position */
};

static struct model *model;      /* loaded once by main */
static char model_sha[65];

static void golden_free(struct logits_golden *g)
{
	free(g->tokens);
	free(g->argmax);
	free(g->last);
}

/* Reads a "KVLG" file (format in scripts/ref_engine.py). */
static int read_golden(const char *path, struct logits_golden *g, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = kv_read_file(path, &buf, &len, err, errlen);
	if (rc)
		return rc;
	uint32_t v[3];
	if (len < 80 || memcmp(buf, "KVLG", 4) != 0) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: bad magic (expected KVLG); regenerate with scripts/ref_engine.py", path);
		goto out;
	}
	memcpy(&v[0], buf + 4, 4);
	memcpy(g->sha, buf + 8, 64);
	g->sha[64] = 0;
	memcpy(&v[1], buf + 72, 8);
	size_t need = 80 + (size_t)v[1] * 8 + (size_t)v[2] * 4;
	if (v[0] != 1 || len != need) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "%s: version %u, %zu bytes (expected version 1, %zu bytes); regenerate with scripts/ref_engine.py",
			     path, v[0], len, need);
		goto out;
	}
	g->n_tokens = (int)v[1];
	g->n_vocab = (int)v[2];
	g->tokens = malloc((size_t)g->n_tokens * 4);
	g->argmax = malloc((size_t)g->n_tokens * 4);
	g->last = malloc((size_t)g->n_vocab * 4);
	memcpy(g->tokens, buf + 80, (size_t)g->n_tokens * 4);
	memcpy(g->argmax, buf + 80 + (size_t)g->n_tokens * 4, (size_t)g->n_tokens * 4);
	memcpy(g->last, buf + 80 + (size_t)g->n_tokens * 8, (size_t)g->n_vocab * 4);
out:
	free(buf);
	return rc;
}

static int argmax_row(const float *x, int n)
{
	int best = 0;
	for (int i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

static void check_prompt(int n, bool all_rows)
{
	char path[96], err[512] = "";
	struct logits_golden g = {0};
	float *logits = NULL;
	snprintf(path, sizeof(path), "tests/golden/smollm2_logits_%d.bin", n);
	int rc = read_golden(path, &g, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (rc)
		return;
	T_CHECK(strcmp(g.sha, model_sha) == 0, "%s was made from a model with sha256 %s, but %s has %s; regenerate with scripts/ref_engine.py",
		path, g.sha, T_MODEL, model_sha);
	T_CHECK(g.n_tokens == n && g.n_vocab == model->cfg.n_vocab, "%s: %d tokens x %d vocab, expected %d x %d", path,
		g.n_tokens, g.n_vocab, n, model->cfg.n_vocab);
	if (t_case_failed)
		goto out;
	rc = fwd_logits(model, g.tokens, n, all_rows, 0, &logits, err, sizeof(err));
	T_CHECK(rc == 0, "fwd_logits: %s", err);
	if (rc)
		goto out;
	const float *last = logits + (all_rows ? (size_t)(n - 1) * g.n_vocab : 0);
	float worst = 0;
	int wv = 0;
	for (int v = 0; v < g.n_vocab; v++) {
		float d = fabsf(last[v] - g.last[v]);
		if (!(d <= worst)) { /* also catches NaN */
			worst = d;
			wv = v;
		}
	}
	T_CHECK(worst <= LOGITS_TOL, "n=%d: max|diff| %.3e at v=%d (kvlab %g, transformers %g), tol %.0e", n, worst, wv,
		last[wv], g.last[wv], LOGITS_TOL);
	int am = argmax_row(last, g.n_vocab);
	T_CHECK(am == g.argmax[n - 1], "n=%d: last argmax %d, transformers %d", n, am, g.argmax[n - 1]);
	printf("  logits OK: n=%d max|diff| %.1e at v=%d, tol %.0e\n", n, worst, wv, LOGITS_TOL);
	if (all_rows) {
		int n_bad = 0;
		for (int t = 0; t < n; t++) {
			int a = argmax_row(logits + (size_t)t * g.n_vocab, g.n_vocab);
			if (a != g.argmax[t] && n_bad++ < 5)
				fprintf(stderr, "  t=%d: argmax %d (%g), transformers %d (kvlab's logit there %g)\n", t, a,
					logits[(size_t)t * g.n_vocab + a], g.argmax[t], logits[(size_t)t * g.n_vocab + g.argmax[t]]);
		}
		T_CHECK(n_bad == 0, "n=%d: argmax differs at %d of %d positions", n, n_bad, n);
		if (n_bad == 0)
			printf("  argmax OK: identical at all %d positions\n", n);
	}
out:
	free(logits);
	golden_free(&g);
}

static void logits_should_match_transformers_on_8_tokens(void)
{
	check_prompt(8, false);
}

static void logits_and_every_argmax_should_match_transformers_on_500_tokens(void)
{
	check_prompt(500, true);
}

static void logits_should_match_transformers_on_2000_tokens(void)
{
	check_prompt(2000, false);
}

/* Decode's products (Q4_1 and Q8_0 rows against one x, engine/cpu/qmatvec*.c) rather than
 * prefill's GEMMs: the 500-token prompt prefilled but for its last 8 tokens, which are then
 * decoded one by one; each step's argmax and the last step's logits as transformers'. */
static void decoded_logits_should_match_transformers(void)
{
	enum { N = 500, TAIL = 8 };
	char err[512] = "";
	struct logits_golden g = {0};
	struct fwd_session *s = NULL;
	int rc = read_golden("tests/golden/smollm2_logits_500.bin", &g, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	float *logits = rc ? NULL : malloc(sizeof(float) * (size_t)g.n_vocab);
	if (rc || !logits || fwd_session_init(model, NULL, N, 0, &s, err, sizeof(err)) != 0) {
		T_CHECK(rc != 0, "session: %s", err);
		goto out;
	}
	rc = fwd_prefill(s, g.tokens, N - TAIL, false, logits, err, sizeof(err));
	T_CHECK(rc == 0, "fwd_prefill: %s", err);
	for (int t = N - TAIL; rc == 0 && t < N; t++) {
		rc = fwd_decode(s, g.tokens[t], logits, err, sizeof(err));
		T_CHECK(rc == 0, "fwd_decode at %d: %s", t, err);
		int am = rc ? -1 : argmax_row(logits, g.n_vocab);
		T_CHECK(rc != 0 || am == g.argmax[t], "decoded position %d: argmax %d, transformers %d", t, am, g.argmax[t]);
	}
	if (rc == 0) {
		float worst = 0;
		for (int v = 0; v < g.n_vocab; v++) {
			float d = fabsf(logits[v] - g.last[v]);
			worst = d <= worst ? worst : d;
		}
		T_CHECK(worst <= LOGITS_TOL, "after %d decoded tokens: max|diff| %.3e, tol %.0e", TAIL, worst, LOGITS_TOL);
		printf("  decoded logits OK: max|diff| %.1e after %d decode steps, tol %.0e\n", worst, TAIL, LOGITS_TOL);
	}
out:
	fwd_session_free(s);
	free(logits);
	golden_free(&g);
}

/* SmolLM2's whole context window: the length of the LongBench runs (rope at far positions,
 * attention over 8K keys) */
static void logits_should_match_transformers_on_8192_tokens(void)
{
	check_prompt(8192, false);
}

int main(void)
{
	char err[512] = "";
	if (!SHA256File(T_MODEL, model_sha)) {
		printf("FAIL cannot read %s (run 'make model')\n# 0 passed, 1 failed, 0 skipped\n", T_MODEL);
		return 1;
	}
	if (model_load(T_MODEL, &model, err, sizeof(err)) != 0) {
		printf("FAIL model_load: %s\n# 0 passed, 1 failed, 0 skipped\n", err);
		return 1;
	}
	T_RUN(logits_should_match_transformers_on_8_tokens);
	T_RUN(logits_and_every_argmax_should_match_transformers_on_500_tokens);
	T_RUN(logits_should_match_transformers_on_2000_tokens);
	T_RUN(decoded_logits_should_match_transformers);
	T_RUN(logits_should_match_transformers_on_8192_tokens);
	model_free(model);
	return t_done();
}
