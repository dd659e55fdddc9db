/* kvlab calibrate pyramidinfer: finds the prefill decay ratio whose average fraction
 * of KV kept after prefill (mean over layers of n_l / N) reaches a target, as the
 * official profile_pyramidinfer.py was used by hand (spec/methods.md 8.4, A5, A7).
 * The retention depends only on the schedule arithmetic (a top-k over the context
 * always keeps exactly kk rows), so the search simulates it; one real prefill at the
 * chosen ratio then checks the simulation, on the profiling script's input (token id 1
 * repeated) or on real text. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"        // kv_errf
#include "base/fileio.h"        // kv_read_file
#include "engine/forward.h"       // fwd_session_*, fwd_prefill
#include "engine/kvcache.h"       // kv_cache_entries
#include "engine/model.h"         // model_load
#include "engine/tokenizer.h"     // tok_encode
#include "cli/cli.h"             // cli_parse
#include "cli/commands.h"
#include "methods/pyramidinfer.h" // pyr_calibrate, pyr_simulate
#include "methods/registry.h"     // kv_policy_make

#define MAX_TRIES 64

struct calibrate_cfg {
	const char *model, *prompt_file;
	double target, recent;
	int context_length, n_layer, threads;
	bool no_prefill;
};

static const struct cli_flag calibrate_flags[] = {
	{ "--target", CLI_FLOAT, offsetof(struct calibrate_cfg, target), 0, 1, "R",
	  "fraction of KV to keep after prefill, averaged over layers (e.g. 0.35)", true },
	{ "--model", CLI_STR, offsetof(struct calibrate_cfg, model), 0, 0, "PATH",
	  "GGUF file or Hugging Face folder: gives the layer count and runs the check prefill", false },
	{ "--n_layer", CLI_INT, offsetof(struct calibrate_cfg, n_layer), 0, 1024, "L",
	  "simulate an L-layer model without loading one (no check prefill); 0 = the model's", false },
	{ "--context_length", CLI_INT, offsetof(struct calibrate_cfg, context_length), 1, 1 << 24, "N",
	  "prompt tokens (with --prompt_file: at most this many of its tokens)", false },
	{ "--pyramid_recent_ratio", CLI_FLOAT, offsetof(struct calibrate_cfg, recent), 0, 0.999, "R",
	  "recent ratio: the last 1+floor(N*R) tokens are always kept", false },
	{ "--prompt_file", CLI_STR, offsetof(struct calibrate_cfg, prompt_file), 0, 0, "FILE",
	  "check on this text's tokens instead of token id 1 repeated (the official profiling input)", false },
	{ "--no_prefill", CLI_SWITCH, offsetof(struct calibrate_cfg, no_prefill), 0, 0, "",
	  "skip the check prefill (arithmetic only)", false },
	{ "--threads", CLI_INT, offsetof(struct calibrate_cfg, threads), 0, 1024, "N", "worker threads (0 = all cores)", false },
	{ 0 },
};

static const struct cli_cmd calibrate_cmd = {
	"calibrate pyramidinfer",
	"Finds by bisection the PyramidInfer prefill decay ratio whose mean over layers of n_l / N (the fraction\n"
	"of KV kept after prefill, as the official profile_pyramidinfer.py printed it) is closest to --target,\n"
	"prints the ratios tried, then checks the answer with one real prefill and prints the flags to paste.\n"
	"The cosine schedule keeps at least its decay-ratio-0 floor (about 35 % for 30 layers at 4000 tokens\n"
	"with recent ratio 0.01): lower targets are refused.",
	calibrate_flags,
};

static int fail(const char *msg)
{
	fprintf(stderr, "kvlab: %s\n", msg);
	return 1;
}

/* The prompt of the check: token id 1 repeated n times, or the first n tokens of the
 * file (n shrinks to the file's length). *ids is malloc'd (caller frees). */
static int check_input(const struct model *m, const char *path, int *n, int32_t **ids, char *err, size_t errlen)
{
	if (!path) {
		if (m->cfg.n_vocab < 2)
			return kv_errf(err, errlen, KV_EUNSUP, "%s: a vocabulary of %d tokens has no token id 1", m->path, m->cfg.n_vocab);
		if (!(*ids = malloc(sizeof(int32_t) * (size_t)*n)))
			return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		for (int i = 0; i < *n; i++)
			(*ids)[i] = 1;
		return 0;
	}
	char *text = NULL;
	size_t len = 0;
	int rc, n_tok = 0;
	if (!m->tok)
		return kv_errf(err, errlen, KV_EUNSUP, "--prompt_file: %s has no tokenizer", m->path);
	if ((rc = kv_read_file(path, &text, &len, err, errlen)))
		return rc;
	rc = tok_encode(m->tok, text, len, true, ids, &n_tok, err, errlen);
	free(text);
	if (rc)
		return rc;
	if (n_tok < 2) {
		free(*ids);
		*ids = NULL;
		return kv_errf(err, errlen, KV_EINVAL, "--prompt_file: %s encodes to %d tokens; need at least 2", path, n_tok);
	}
	if (n_tok < *n)
		*n = n_tok;
	return 0;
}

/* Prefills ids under pyramidinfer at decay/recent and returns mean_l len(cache_l) / N. */
static int check_prefill(const struct model *m, const int32_t *ids, int n, double decay, double recent, int threads,
			 double *retention, char *err, size_t errlen)
{
	char sd[32], sr[32];
	struct kv_arg av[] = { { "pyramid_decay_ratio", sd }, { "pyramid_recent_ratio", sr } };
	struct kv_args args = { av, 2, 2 };
	snprintf(sd, sizeof(sd), "%.17g", decay);
	snprintf(sr, sizeof(sr), "%.17g", recent);
	struct kv_shape shape = { m->cfg.n_layer, m->cfg.n_head, m->cfg.n_head_kv, m->cfg.head_dim, m->cfg.n_embd };
	struct kv_policy pol = { 0 };
	struct fwd_session *s = NULL;
	float *logits = malloc(sizeof(float) * (size_t)m->cfg.n_vocab);
	int rc;
	if (!logits)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	if ((rc = kv_policy_make(&pyramidinfer_method, &args, &shape, &pol, err, errlen)))
		goto out_free_logits;
	if ((rc = fwd_session_init(m, &pol, 0, threads, &s, err, errlen)))
		goto out_free_policy;
	if ((rc = fwd_prefill(s, ids, n, false, logits, err, errlen)))
		goto out_free_session;
	double sum = 0.0;
	for (int l = 0; l < m->cfg.n_layer; l++) /* entries over the KV heads = len(cache_l) per head */
		sum += (double)kv_cache_entries(s->cache, l) / s->cache->layers[l].n_head;
	*retention = sum / m->cfg.n_layer / n;
out_free_session:
	fwd_session_free(s);
out_free_policy:
	kv_policy_free(&pol);
out_free_logits:
	free(logits);
	return rc;
}

int cmd_calibrate(int argc, char **argv)
{
	struct calibrate_cfg cfg = { .model = cli_default_model(), .context_length = 4000, .recent = PYR_RECENT_DEFAULT };
	char err[512];
	struct model *m = NULL;
	int32_t *ids = NULL;
	int ret = 1, rc;
	if (argc >= 1 && strcmp(argv[0], "tsp") == 0)
		return cmd_calibrate_tsp(argc - 1, argv + 1);
	if (argc >= 1 && strncmp(argv[0], "--", 2) != 0) {
		if (strcmp(argv[0], "pyramidinfer") != 0) {
			fprintf(stderr, "kvlab calibrate: '%s': expected pyramidinfer (kvlab calibrate pyramidinfer --target R) or tsp "
				"(kvlab calibrate tsp --model M)\n", argv[0]);
			return 1;
		}
		argc--;
		argv++;
	} else if (!(argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0))) {
		return fail("kvlab calibrate: name what to calibrate first: kvlab calibrate pyramidinfer --target R, or kvlab calibrate tsp (see --help of each)");
	}
	if ((rc = cli_parse(&calibrate_cmd, argc, argv, &cfg, err, sizeof(err))))
		return rc == 1 ? 0 : fail(err);
	if (cfg.target <= 0)
		return fail("--target: expected a fraction in (0, 1], got 0");
	int N = cfg.context_length, L = cfg.n_layer;
	bool prefill = !cfg.no_prefill && L == 0;
	if (L == 0 || prefill) {
		if (model_load(cfg.model, &m, err, sizeof(err)))
			return fail(err);
		L = m->cfg.n_layer;
	}
	if (prefill && check_input(m, cfg.prompt_file, &N, &ids, err, sizeof(err))) {
		fail(err);
		goto out;
	}

	struct pyr_try tries[MAX_TRIES];
	int n_tries = 0, digits = 17;
	double decay = 0, retention = 0;
	printf("calibrating pyramidinfer: target %.2f %% of KV kept after prefill, N = %d tokens, L = %d layers, recent ratio %g\n",
	       100 * cfg.target, N, L, cfg.recent);
	rc = pyr_calibrate(N, L, cfg.recent, cfg.target, tries, MAX_TRIES, &n_tries, &decay, &digits, &retention, err,
			   sizeof(err));
	printf("| decay ratio | retention |\n|---|---|\n");
	for (int i = 0; i < n_tries; i++)
		printf("| %.10f | %.4f %% |\n", tries[i].decay, 100 * tries[i].retention);
	if (rc) {
		fail(err);
		goto out;
	}
	printf("simulated: decay ratio %.*g keeps %.4f %% (target %.4f %%)\n", digits, decay, 100 * retention, 100 * cfg.target);
	if (prefill) {
		double measured = 0;
		if (check_prefill(m, ids, N, decay, cfg.recent, cfg.threads, &measured, err, sizeof(err))) {
			fail(err);
			goto out;
		}
		printf("prefill check on %s (%s, %d tokens): %.4f %% kept%s\n", m->path,
		       cfg.prompt_file ? cfg.prompt_file : "token id 1 repeated", N, 100 * measured,
		       measured == retention ? ", as simulated" : "");
		if (measured != retention) {
			fprintf(stderr, "kvlab: the prefill kept %.6f, the simulation %.6f: the schedule arithmetic and the engine disagree\n",
				measured, retention);
			goto out;
		}
	}
	printf("--pyramid_decay_ratio %.*g --pyramid_recent_ratio %g\n", digits, decay, cfg.recent);
	ret = 0;
out:
	free(ids);
	model_free(m);
	return ret;
}
