/* kvlab calibrate tsp: which TSP layer for this model (issue 20 item 7). Prints the curve
 * of eval/calibrate_tsp.c (one row per candidate layer), suggests the earliest layer from
 * which the last position's final state stays close to the full-context run, and with
 * --check_sweep sets the suggestion beside a real tsp_idx sweep's scores. */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"        // kv_errf
#include "base/paths.h"         // kv_find_default
#include "cli/cli.h"            // cli_parse
#include "cli/commands.h"
#include "datasets/needle.h"    // NEEDLE_DEFAULT_HAYSTACK
#include "engine/model.h"       // model_load
#include "eval/calibrate_tsp.h" // tsp_calib_*
#include "results/report.h"     // sweep_table_load
#include "results/store.h"      // store_open_read

struct calib_tsp_cfg {
	const char *model, *prompt_file, *data, *layers, *format, *check_sweep;
	int n_prompts, context_length, window_size, threads;
	double tsp_rate, threshold, sweep_tolerance;
	bool quiet;
};

static const struct cli_flag calib_tsp_flags[] = {
	{ "--model", CLI_STR, offsetof(struct calib_tsp_cfg, model), 0, 0, "PATH", "GGUF file or Hugging Face folder", false },
	{ "--data", CLI_STR, offsetof(struct calib_tsp_cfg, data), 0, 0, "DIR",
	  "folder of .txt essays read in sorted order (default: ../shared/data/paul_graham_essays)", false },
	{ "--prompt_file", CLI_STR, offsetof(struct calib_tsp_cfg, prompt_file), 0, 0, "FILE",
	  "take the prompts from this text file instead of --data", false },
	{ "--n_prompts", CLI_INT, offsetof(struct calib_tsp_cfg, n_prompts), 1, 10000, "N",
	  "calibration prompts: consecutive windows of the text", false },
	{ "--context_length", CLI_INT, offsetof(struct calib_tsp_cfg, context_length), 16, 1 << 24, "T",
	  "tokens per prompt (BOS included)", false },
	{ "--tsp_rate", CLI_FLOAT, offsetof(struct calib_tsp_cfg, tsp_rate), 1e-6, 1, "R",
	  "fraction of the prompt propagated after the TSP layer (FastKV's --tsp_rate)", false },
	{ "--window_size", CLI_INT, offsetof(struct calib_tsp_cfg, window_size), 1, 1 << 20, "W",
	  "observation window whose attention ranks the tokens (always propagated)", false },
	{ "--layers", CLI_STR, offsetof(struct calib_tsp_cfg, layers), 0, 0, "A-B|A,B,..",
	  "candidate TSP layers, 0-based (default: every layer)", false },
	{ "--threshold", CLI_FLOAT, offsetof(struct calib_tsp_cfg, threshold), -1, 1, "X",
	  "suggest the earliest layer from which the mean cosine similarity stays >= X", false },
	{ "--format", CLI_STR, offsetof(struct calib_tsp_cfg, format), 0, 0, "md|csv|json", "output format", false },
	{ "--check_sweep", CLI_STR, offsetof(struct calib_tsp_cfg, check_sweep), 0, 0, "DB:SWEEP",
	  "set the suggestion beside the scores of a kvlab sweep with a tsp_idx axis (id prefix) in DB", false },
	{ "--sweep_tolerance", CLI_FLOAT, offsetof(struct calib_tsp_cfg, sweep_tolerance), 0, 1, "F",
	  "--check_sweep: the sweep's layer is the earliest from which the score stays >= (1 - F) x its best", false },
	{ "--threads", CLI_INT, offsetof(struct calib_tsp_cfg, threads), 0, 1024, "N", "worker threads (0 = all cores)", false },
	{ "--quiet", CLI_SWITCH, offsetof(struct calib_tsp_cfg, quiet), 0, 0, "", "no progress on stderr", false },
	{ 0 },
};

static const struct cli_cmd calib_tsp_cmd = {
	"calibrate tsp",
	"Which FastKV TSP layer for this model? For each candidate layer, prefills each calibration prompt with\n"
	"Token-Selective Propagation at that layer (the tsp reduction with every KV row cached, tsp+full, so only\n"
	"propagation differs) and compares the last position with the full-context prefill: cosine similarity and\n"
	"relative L2 distance of the final normed hidden state, KL(full || tsp) and max |diff| of the logits, and\n"
	"top-1 agreement; one row per layer, means over the prompts. FastKV picks the layer after which token\n"
	"importance has settled (15 of 32 layers for Llama-3.1-8B); the suggestion here is the earliest candidate\n"
	"from which the mean cosine similarity stays >= --threshold. Prompts: --n_prompts consecutive windows of\n"
	"--context_length tokens of the essays (or --prompt_file).",
	calib_tsp_flags,
};

static int fail(const char *msg)
{
	fprintf(stderr, "kvlab: %s\n", msg);
	return 1;
}

static void progress(void *ctx, int done, int total)
{
	(void)ctx;
	fprintf(stderr, "\rcalibrate tsp: %d/%d prefills", done, total);
	if (done == total)
		fputc('\n', stderr);
}

// ----------------------------------------------------------------------------
// --check_sweep

/* The sweep's mean score per tsp_idx of rows' layers (NAN: not swept), pooled over the
 * sweep's other axes weighted by samples. */
struct sweep_check {
	char id[65], task[64], metric[64];
	double *score; /* (n,) owned */
};

static int load_sweep(const char *spec, const struct tsp_calib_row *rows, int n, struct sweep_check *c, char *err,
		      size_t errlen)
{
	const char *colon = strrchr(spec, ':');
	if (!colon || colon == spec || !colon[1])
		return kv_errf(err, errlen, KV_EINVAL, "--check_sweep: expected DB:SWEEP_ID (e.g. results/kvlab.db:3fa2), got '%s'", spec);
	char db[4096];
	snprintf(db, sizeof(db), "%.*s", (int)(colon - spec), spec);
	struct store *s = NULL;
	struct sweep_table t;
	struct sweep_query q = { .sweep = colon + 1, .x = "tsp_idx" };
	int rc = store_open_read(db, &s, err, errlen);
	if (rc)
		return rc;
	double *sum = calloc((size_t)n, sizeof(double)), *cnt = calloc((size_t)n, sizeof(double));
	if (!sum || !cnt) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = sweep_table_load(s, &q, &t, err, errlen))) {
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", err);
		kv_errf(err, errlen, rc, "--check_sweep %s: %s", spec, msg);
		sweep_table_free(&t);
		goto out;
	}
	snprintf(c->id, sizeof(c->id), "%s", t.sweep_id);
	snprintf(c->task, sizeof(c->task), "%s", t.task);
	snprintf(c->metric, sizeof(c->metric), "%s", t.metric);
	for (int i = 0; i < t.n; i++)
		for (int j = 0; j < n; j++)
			if (t.c[i].n > 0 && atoi(t.c[i].x) == rows[j].layer && strspn(t.c[i].x, "0123456789") == strlen(t.c[i].x)) {
				sum[j] += t.c[i].mean * t.c[i].n;
				cnt[j] += t.c[i].n;
			}
	sweep_table_free(&t);
	for (int j = 0; j < n; j++)
		sum[j] = cnt[j] > 0 ? sum[j] / cnt[j] : NAN;
	c->score = sum;
	sum = NULL;
out:
	free(sum);
	free(cnt);
	store_close(s);
	return rc;
}

/* The index of the earliest swept layer from which the score stays >= (1 - tol) x the best
 * swept score, or -1 when none was swept. */
static int sweep_suggest(const struct sweep_check *c, int n, double tol, double *best)
{
	*best = -INFINITY;
	for (int j = 0; j < n; j++)
		if (!isnan(c->score[j]) && c->score[j] > *best)
			*best = c->score[j];
	int pick = -1;
	for (int j = n - 1; j >= 0; j--) {
		if (isnan(c->score[j]))
			continue;
		if (c->score[j] < (1 - tol) * *best)
			break;
		pick = j;
	}
	return pick;
}

// ----------------------------------------------------------------------------
// output

static void print_md(const struct calib_tsp_cfg *cfg, const char *model, const char *src, const struct tsp_calib_row *r, int n,
		     int pick, const struct sweep_check *sc)
{
	printf("TSP-layer calibration of %s: %d prompts x %d tokens from %s, tsp_rate %g, window %d (tsp+full: only propagation differs)\n\n",
	       model, cfg->n_prompts, cfg->context_length, src, cfg->tsp_rate, cfg->window_size);
	printf("| tsp_idx | propagated | cos mean | cos min | rel L2 | KL (nats) | max abs dlogit | top-1 |%s\n",
	       sc ? " sweep score |" : "");
	printf("|---|---|---|---|---|---|---|---|%s\n", sc ? "---|" : "");
	for (int j = 0; j < n; j++) {
		printf("| %d%s | %.1f | %.6f | %.6f | %.4f | %.3e | %.4f | %.3f |", r[j].layer, j == pick ? " *" : "", r[j].n_prop,
		       r[j].cos_mean, r[j].cos_min, r[j].rel_l2, r[j].kl, r[j].max_abs, r[j].top1);
		if (sc) {
			if (isnan(sc->score[j]))
				printf(" - |");
			else
				printf(" %.4f |", sc->score[j]);
		}
		putchar('\n');
	}
	putchar('\n');
	if (pick >= 0)
		printf("suggested --tsp_idx %d: the earliest layer from which the mean cosine similarity stays >= %g\n", r[pick].layer,
		       cfg->threshold);
	else
		printf("no suggestion: the mean cosine similarity of the last candidate layer is below %g\n", cfg->threshold);
}

static void print_csv(const struct tsp_calib_row *r, int n, int pick, const struct sweep_check *sc)
{
	printf("tsp_idx,propagated,cos_mean,cos_min,rel_l2,kl,max_abs_dlogit,top1,suggested%s\n", sc ? ",sweep_score" : "");
	for (int j = 0; j < n; j++) {
		printf("%d,%.3f,%.9g,%.9g,%.9g,%.9g,%.9g,%.6g,%d", r[j].layer, r[j].n_prop, r[j].cos_mean, r[j].cos_min, r[j].rel_l2,
		       r[j].kl, r[j].max_abs, r[j].top1, j == pick);
		if (sc) {
			if (isnan(sc->score[j]))
				printf(",");
			else
				printf(",%.9g", sc->score[j]);
		}
		putchar('\n');
	}
}

static void print_json(const struct calib_tsp_cfg *cfg, const struct tsp_calib_row *r, int n, int pick, const struct sweep_check *sc,
		       int sweep_pick)
{
	printf("{\"n_prompts\":%d,\"context_length\":%d,\"tsp_rate\":%.17g,\"window_size\":%d,\"threshold\":%.17g,\"suggested\":",
	       cfg->n_prompts, cfg->context_length, cfg->tsp_rate, cfg->window_size, cfg->threshold);
	if (pick >= 0)
		printf("%d", r[pick].layer);
	else
		printf("null");
	if (sc) {
		printf(",\"sweep\":{\"id\":\"%s\",\"metric\":\"%s\",\"suggested\":", sc->id, sc->metric);
		if (sweep_pick >= 0)
			printf("%d}", r[sweep_pick].layer);
		else
			printf("null}");
	}
	printf(",\"layers\":[");
	for (int j = 0; j < n; j++) {
		printf("%s{\"tsp_idx\":%d,\"propagated\":%.17g,\"cos_mean\":%.17g,\"cos_min\":%.17g,\"rel_l2\":%.17g,\"kl\":%.17g,"
		       "\"max_abs_dlogit\":%.17g,\"top1\":%.17g",
		       j ? "," : "", r[j].layer, r[j].n_prop, r[j].cos_mean, r[j].cos_min, r[j].rel_l2, r[j].kl, r[j].max_abs, r[j].top1);
		if (sc) {
			if (isnan(sc->score[j]))
				printf(",\"sweep_score\":null");
			else
				printf(",\"sweep_score\":%.17g", sc->score[j]);
		}
		putchar('}');
	}
	printf("]}\n");
}

// ----------------------------------------------------------------------------

int cmd_calibrate_tsp(int argc, char **argv)
{
	struct calib_tsp_cfg cfg = { .model = cli_default_model(), .n_prompts = 4, .context_length = 1024, .tsp_rate = 0.2,
				     .window_size = 8, .threshold = 0.95, .sweep_tolerance = 0.05, .format = "md" };
	char err[1024], hay[1024];
	struct model *m = NULL;
	int32_t *ids = NULL;
	int *layers = NULL, n_layers = 0, ret = 1, rc;
	struct tsp_calib_row *rows = NULL;
	struct sweep_check sc = { .score = NULL };
	if ((rc = cli_parse(&calib_tsp_cmd, argc, argv, &cfg, err, sizeof(err))))
		return rc == 1 ? 0 : fail(err);
	if (strcmp(cfg.format, "md") != 0 && strcmp(cfg.format, "csv") != 0 && strcmp(cfg.format, "json") != 0)
		return fprintf(stderr, "kvlab: --format: expected md, csv or json, got '%s'\n", cfg.format), 1;
	if (cfg.prompt_file && cfg.data)
		return fail("calibrate tsp: give --prompt_file or --data, not both");
	if (cfg.window_size >= cfg.context_length)
		return fprintf(stderr, "kvlab: --window_size: %d leaves no tokens to select in %d-token prompts (--context_length)\n",
			       cfg.window_size, cfg.context_length), 1;
	const char *flag = cfg.prompt_file ? "--prompt_file" : "--data";
	const char *src = cfg.prompt_file ? cfg.prompt_file
					  : cfg.data ? cfg.data : kv_find_default(NEEDLE_DEFAULT_HAYSTACK, hay, sizeof(hay));
	if (model_load(cfg.model, &m, err, sizeof(err)))
		return fail(err);
	int L = m->cfg.n_layer;
	char all[32];
	snprintf(all, sizeof(all), "0-%d", L - 1);
	if (tsp_calib_parse_layers(cfg.layers ? cfg.layers : all, L, &layers, &n_layers, err, sizeof(err)) ||
	    tsp_calib_prompts(m, src, flag, cfg.n_prompts, cfg.context_length, &ids, err, sizeof(err))) {
		fail(err);
		goto out;
	}
	if (!(rows = calloc((size_t)n_layers, sizeof(*rows)))) {
		fail("out of memory");
		goto out;
	}
	struct tsp_calib_opts o = { .m = m, .prompts = ids, .n_prompts = cfg.n_prompts, .n_tokens = cfg.context_length,
				    .layers = layers, .n_layers = n_layers, .tsp_rate = cfg.tsp_rate, .window_size = cfg.window_size,
				    .threads = cfg.threads, .on_progress = cfg.quiet ? NULL : progress };
	if (tsp_calib_run(&o, rows, err, sizeof(err))) {
		fail(err);
		goto out;
	}
	int pick = tsp_calib_suggest(rows, n_layers, cfg.threshold), sweep_pick = -1;
	double best = 0;
	if (cfg.check_sweep) {
		if (load_sweep(cfg.check_sweep, rows, n_layers, &sc, err, sizeof(err))) {
			fail(err);
			goto out;
		}
		sweep_pick = sweep_suggest(&sc, n_layers, cfg.sweep_tolerance, &best);
		if (sweep_pick < 0) {
			fprintf(stderr, "kvlab: --check_sweep: sweep %.12s has no scored tsp_idx among the candidate layers\n", sc.id);
			goto out;
		}
	}
	if (strcmp(cfg.format, "md") == 0)
		print_md(&cfg, m->path ? m->path : cfg.model, src, rows, n_layers, pick, cfg.check_sweep ? &sc : NULL);
	else if (strcmp(cfg.format, "csv") == 0)
		print_csv(rows, n_layers, pick, cfg.check_sweep ? &sc : NULL);
	else
		print_json(&cfg, rows, n_layers, pick, cfg.check_sweep ? &sc : NULL, sweep_pick);
	if (cfg.check_sweep) {
		FILE *f = strcmp(cfg.format, "md") == 0 ? stdout : stderr;
		fprintf(f, "sweep %.12s (%s, %s): best %.4f; earliest tsp_idx from which the score stays >= %.4f: %d; calibration: %s",
			sc.id, sc.task, sc.metric, best, (1 - cfg.sweep_tolerance) * best, rows[sweep_pick].layer,
			pick >= 0 ? "" : "none\n");
		if (pick >= 0)
			fprintf(f, "%d (%s)\n", rows[pick].layer,
				rows[pick].layer == rows[sweep_pick].layer ? "agree"
				: rows[pick].layer < rows[sweep_pick].layer ? "earlier than the sweep's" : "later than the sweep's");
	}
	ret = 0;
out:
	free(sc.score);
	free(rows);
	free(layers);
	free(ids);
	model_free(m);
	return ret;
}
