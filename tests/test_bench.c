/* The latency benchmark's bookkeeping, never its timings: one row per method x
 * length x phase with the invocation's provenance, speedups as fullkv's median over
 * the method's median within one invocation, KV bytes equal to what each method's
 * budget implies, synthetic shapes equal to their config.json, shared-layer models,
 * the --methods / --context_lengths grammar. Uses the 4-layer "tiny" shape. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "base/errors.h"
#include "engine/forward.h"
#include "engine/model.h"
#include "methods/params.h"
#include "results/bench_store.h"
#include "results/store.h"
#include "results/table_fmt.h"
#include "test.h"

static char tmpdir[] = "/tmp/kvlab_test_bench_XXXXXX";

static const struct model_config *tiny(void)
{
	return &bench_shape_find("tiny")->cfg;
}

/* Shared method flags of the paper comparison, with TSP / GemFilter layers inside 4
 * layers (--tsp_idx only when FastKV is listed: a flag no listed method takes is refused).
 * Caller frees with kv_args_free. */
static struct kv_args paper_args(bool tsp)
{
	struct kv_args a = { 0 };
	kv_args_set(&a, "eviction_mode", "proportional", NULL, 0); /* retain_rate 0.1, tsp_rate 0.2 by default */
	if (tsp)
		kv_args_set(&a, "tsp_idx", "1", NULL, 0);
	kv_args_set(&a, "filter_idx", "1", NULL, 0);
	return a;
}

static void base_row(struct bench_row *b, const char *inv, const char *kind, int runs)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->invocation, sizeof(b->invocation), "%s", inv);
	snprintf(b->bench, sizeof(b->bench), "%s", kind);
	snprintf(b->created_utc, sizeof(b->created_utc), "2026-01-01 00:00:00");
	snprintf(b->backend, sizeof(b->backend), "cpu");
	snprintf(b->model, sizeof(b->model), "synthetic:tiny");
	snprintf(b->weights, sizeof(b->weights), "random F32 (seed 1)");
	snprintf(b->input, sizeof(b->input), "token id 1 repeated");
	b->threads = 1;
	b->warmups = 0;
	b->runs = runs;
}

static struct store *open_db(const char *name)
{
	char path[256], err[512];
	struct store *s = NULL;
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	int rc = store_open(path, &s, err, sizeof(err));
	T_CHECK(rc == 0, "store_open: %s", err);
	return s;
}

// ----------------------------------------------------------------------------

/* Bytes a cache of L layers x heads x entries holds: K and V, fp32. */
static long long kvb(int layers, long entries, int heads, int D)
{
	return (long long)layers * entries * heads * D * 2 * 4;
}

static void bench_should_store_one_row_per_method_length_and_phase_with_budget_kv_bytes(void)
{
	const struct model_config *c = tiny();
	struct model *m = NULL;
	char err[512], spec[] = "fullkv,fastkv,snapkv,h2o,streamingllm,gemfilter";
	struct kv_args shared = paper_args(true);
	struct kv_method_entry *b = NULL;
	int nm = 0, lens[] = { 200, 256 };
	T_CHECK(model_init_random(c, 7, &m, err, sizeof(err)) == 0, "%s", err);
	T_CHECK(kv_method_list_parse(kv_methods, "--methods", spec, &shared, &b, &nm, err, sizeof(err)) == 0 && nm == 6, "%s", err);
	struct store *s = open_db("rows.db");
	if (!m || !b || !s)
		goto out;
	struct bench_opts o = { .kind = BENCH_E2E, .methods = b, .n_methods = nm, .genlen = 3, .warmups = 1, .runs = 2,
				.threads = 1 };
	struct bench_row base;
	base_row(&base, "inv-rows", "e2e", 0); /* genlen, warmups, runs come from o */
	int rc = bench_run(m, &o, lens, 2, &base, s, err, sizeof(err));
	T_CHECK(rc == 0, "bench_run: %s", err);
	struct bench_row *r = NULL;
	int n = 0;
	T_CHECK(bench_store_load(s, "inv-rows", &r, &n, err, sizeof(err)) == 0, "%s", err);
	T_CHECK(n == 6 * 2 * 3, "%d rows, expected 6 methods x 2 lengths x 3 phases = 36", n);
	const char *phases[] = { "prefill", "decode", "e2e" };
	int H = c->n_head, Hkv = c->n_head_kv, D = c->head_dim, L = c->n_layer;
	for (int i = 0; i < nm; i++)
		for (int j = 0; j < 2; j++) {
			int N = lens[j], C = (int)floor(N * 0.1), T = (int)floor(N * 0.2);
			long long want = 0;
			const char *name = b[i].m->name;
			if (!strcmp(name, "fullkv"))
				want = kvb(L, N, Hkv, D);
			else if (!strcmp(name, "fastkv")) /* layers 0..1 keep floor(0.1 N); 2..3 floor(T * 0.1/0.2) */
				want = kvb(2, C, Hkv, D) + kvb(L - 2, (long)floor(T * (0.1 / 0.2)), Hkv, D);
			else if (!strcmp(name, "snapkv") || !strcmp(name, "h2o")) /* per query head */
				want = kvb(L, C, H, D);
			else /* streamingllm, gemfilter: floor(0.1 N) per KV head */
				want = kvb(L, C, Hkv, D);
			for (int p = 0; p < 3; p++) {
				int hits = 0;
				for (int k = 0; k < n; k++) {
					const struct bench_row *x = &r[k];
					if (strcmp(x->label, b[i].label) || x->n_ctx != N || strcmp(x->phase, phases[p]))
						continue;
					hits++;
					T_CHECK(x->kv_bytes == want, "%s N=%d: kv_bytes %lld, budget implies %lld", name, N, x->kv_bytes, want);
					T_CHECK(x->st.min <= x->st.median && x->st.median <= x->st.max && x->st.min > 0,
						"%s N=%d %s: min %g median %g max %g", name, N, phases[p], x->st.min, x->st.median, x->st.max);
					T_CHECK(x->runs == 2 && x->warmups == 1 && x->genlen == 3 && !strcmp(x->model, "synthetic:tiny") &&
							!strcmp(x->bench, "e2e") && x->threads == 1,
						"provenance not copied into the %s row", name);
					T_CHECK(strstr(x->params_json, name) != NULL, "params_json '%s' does not name %s", x->params_json, name);
				}
				T_CHECK(hits == 1, "%s N=%d %s: %d rows", name, N, phases[p], hits);
			}
		}
	printf("  36 rows; e.g. fastkv N=200 kv %lld bytes (fullkv %lld)\n", kvb(2, 20, Hkv, D) + kvb(2, 20, Hkv, D),
	       kvb(L, 200, Hkv, D));
	/* a second write of the same invocation is refused, not doubled */
	struct bench_row again[3];
	int k = 0;
	struct bench_meas meas[6];
	T_CHECK(bench_meas_alloc(meas, nm, &o, err, sizeof(err)) == 0, "%s", err);
	for (int i = 0; i < nm; i++)
		meas[i].prefill_ms[0] = meas[i].prefill_ms[1] = 1.0;
	struct bench_opts one = o;
	one.n_methods = 1;
	k = bench_rows_fill(again, &base, &one, meas, 200);
	T_CHECK(k == 3, "rows_fill wrote %d rows for one e2e method, expected 3", k);
	T_CHECK(bench_store_put(s, again, k, err, sizeof(err)) != 0, "a duplicate row was accepted");
	int n2 = 0;
	struct bench_row *r2 = NULL;
	T_CHECK(bench_store_load(s, NULL, &r2, &n2, err, sizeof(err)) == 0 && n2 == 36, "%d rows after a refused duplicate", n2);
	bench_meas_free(meas, nm);
	free(r2);
	free(r);
out:
	store_close(s);
	kv_method_list_free(b, nm);
	kv_args_free(&shared);
	model_free(m);
}

static void interleaving_should_rotate_the_method_order_every_round(void)
{
	struct model *m = NULL;
	char err[512], spec[] = "fullkv,streamingllm,gemfilter", *log = NULL;
	size_t loglen = 0;
	struct kv_args shared = paper_args(false);
	struct kv_method_entry *b = NULL;
	int nm = 0;
	T_CHECK(model_init_random(tiny(), 3, &m, err, sizeof(err)) == 0, "%s", err);
	T_CHECK(kv_method_list_parse(kv_methods, "--methods", spec, &shared, &b, &nm, err, sizeof(err)) == 0, "%s", err);
	FILE *f = open_memstream(&log, &loglen);
	if (!m || !b || !f)
		goto out;
	struct bench_opts o = { .kind = BENCH_PREFILL, .methods = b, .n_methods = nm, .warmups = 1, .runs = 2, .threads = 1, .log = f };
	struct bench_meas meas[3];
	T_CHECK(bench_meas_alloc(meas, nm, &o, err, sizeof(err)) == 0, "%s", err);
	T_CHECK(bench_run_length(m, &o, 100, meas, err, sizeof(err)) == 0, "%s", err);
	T_CHECK(meas[0].decode_ms == NULL, "prefill benchmarks keep no decode samples");
	bench_meas_free(meas, nm);
	fclose(f);
	f = NULL;
	/* rounds: warmup (0 1 2), run 1 (1 2 0), run 2 (2 0 1) */
	const char *want[] = { "warmup 1/1 fullkv", "warmup 1/1 streamingllm", "warmup 1/1 gemfilter",
			       "run 1/2 streamingllm", "run 1/2 gemfilter", "run 1/2 fullkv",
			       "run 2/2 gemfilter", "run 2/2 fullkv", "run 2/2 streamingllm" };
	const char *p = log;
	for (int i = 0; i < 9; i++) {
		const char *hit = p ? strstr(p, want[i]) : NULL;
		T_CHECK(hit != NULL, "'%s' missing or out of order in the log:\n%s", want[i], log);
		p = hit ? strchr(hit, '\n') : NULL;
	}
out:
	if (f)
		fclose(f);
	free(log);
	kv_method_list_free(b, nm);
	kv_args_free(&shared);
	model_free(m);
}

// ----------------------------------------------------------------------------

static void put_samples(struct store *s, const char *inv, const char *method, int n_ctx, const char *phase, const double *x,
			int n)
{
	struct bench_row r;
	char err[512];
	base_row(&r, inv, "e2e", n);
	snprintf(r.label, sizeof(r.label), "%s", method);
	snprintf(r.method, sizeof(r.method), "%s", method);
	snprintf(r.phase, sizeof(r.phase), "%s", phase);
	r.n_ctx = n_ctx;
	r.samples = x;
	bench_stats(x, n, &r.st);
	T_CHECK(bench_store_put(s, &r, 1, err, sizeof(err)) == 0, "%s", err);
}

static const struct bench_row *row_of(const struct bench_row *r, int n, const char *inv, const char *label, int n_ctx,
				      const char *phase, int *idx)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(r[i].invocation, inv) && !strcmp(r[i].label, label) && r[i].n_ctx == n_ctx && !strcmp(r[i].phase, phase)) {
			*idx = i;
			return &r[i];
		}
	*idx = -1;
	return NULL;
}

static void speedup_should_be_fullkv_median_over_method_median_within_one_invocation(void)
{
	struct store *s = open_db("speedup.db");
	if (!s)
		return;
	const double a_full[] = { 10, 30, 20 }, a_fast[] = { 15, 5, 10 }, a_dec_full[] = { 4, 4, 4 }, a_dec_fast[] = { 2, 2, 1 };
	const double b_full[] = { 100 }, b_fast[] = { 50, 60 };
	put_samples(s, "A", "fullkv", 2048, "prefill", a_full, 3);
	put_samples(s, "A", "fastkv", 2048, "prefill", a_fast, 3);
	put_samples(s, "A", "fullkv", 2048, "decode", a_dec_full, 3);
	put_samples(s, "A", "fastkv", 2048, "decode", a_dec_fast, 3);
	put_samples(s, "B", "fullkv", 2048, "prefill", b_full, 1);
	put_samples(s, "B", "fastkv", 2048, "prefill", b_fast, 2);
	put_samples(s, "B", "snapkv", 4096, "prefill", b_fast, 2); /* no fullkv at 4096 */
	struct bench_row *r = NULL;
	int n = 0, i;
	char err[512];
	T_CHECK(bench_store_load(s, NULL, &r, &n, err, sizeof(err)) == 0 && n == 7, "%d rows: %s", n, err);
	double x = 0;
	const struct bench_row *q = row_of(r, n, "A", "fastkv", 2048, "prefill", &i);
	T_CHECK(q && q->st.median == 10 && q->st.min == 5 && q->st.max == 15, "A fastkv stats %g [%g, %g]", q ? q->st.median : -1,
		q ? q->st.min : -1, q ? q->st.max : -1);
	T_CHECK(q && bench_speedup(r, n, i, &x) && x == 2.0, "A fastkv prefill speedup %g, expected 20/10 = 2", x);
	q = row_of(r, n, "A", "fastkv", 2048, "decode", &i);
	T_CHECK(q && bench_speedup(r, n, i, &x) && x == 2.0, "A fastkv decode speedup %g, expected 4/2 = 2", x);
	q = row_of(r, n, "B", "fastkv", 2048, "prefill", &i);
	T_CHECK(q && q->st.median == 55 && bench_speedup(r, n, i, &x) && fabs(x - 100.0 / 55.0) < 1e-12,
		"B fastkv speedup %g, expected B's fullkv 100 / 55 (not A's 20)", x);
	q = row_of(r, n, "B", "snapkv", 4096, "prefill", &i);
	T_CHECK(q && !bench_speedup(r, n, i, &x), "a speedup without a fullkv row at that length");
	struct bench_stat st;
	const double four[] = { 4, 1, 3, 2 };
	bench_stats(four, 4, &st);
	T_CHECK(st.median == 2.5 && st.mean == 2.5 && fabs(st.stddev - sqrt(5.0 / 3.0)) < 1e-12, "stats of 1..4: median %g sd %g",
		st.median, st.stddev);

	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	struct table_list l = { 0 };
	T_CHECK(bench_report_tables(s, &l, err, sizeof(err)) == 0 && table_list_print(&l, f, TABLE_MD, err, sizeof(err)) == 0,
		"%s", err);
	table_list_free(&l);
	fclose(f);
	T_CHECK(strstr(out, "invocation A") && strstr(out, "invocation B"), "report lacks an invocation:\n%s", out);
	T_CHECK(strstr(out, "| fastkv | 2.00 |") != NULL, "report lacks A's 2.00x prefill speedup:\n%s", out);
	T_CHECK(strstr(out, "| fastkv | 1.82 |") != NULL, "report lacks B's 1.82x prefill speedup:\n%s", out);
	T_CHECK(strstr(out, "decode speedup over fullkv") != NULL, "e2e report lacks the decode table:\n%s", out);
	free(out);
	free(r);
	store_close(s);
}

static void plot_should_draw_latency_and_speedup_to_a_png(void)
{
	if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
		T_SKIP("gnuplot not installed (make deps)");
		return;
	}
	struct store *s = open_db("plot.db");
	if (!s)
		return;
	const int lens[] = { 1024, 2048, 4096 };
	for (int i = 0; i < 3; i++) {
		double full[] = { 100.0 * (i + 1), 110.0 * (i + 1) }, fast[] = { 60.0 * (i + 1), 70.0 * (i + 1) };
		double dfull[] = { 10, 11 }, dfast[] = { 6, 7 };
		put_samples(s, "P", "fullkv", lens[i], "prefill", full, 2);
		put_samples(s, "P", "fastkv", lens[i], "prefill", fast, 2);
		put_samples(s, "P", "fullkv", lens[i], "decode", dfull, 2);
		put_samples(s, "P", "fastkv", lens[i], "decode", dfast, 2);
	}
	char path[256], err[512];
	snprintf(path, sizeof(path), "%s/bench.png", tmpdir);
	int rc = bench_plot(s, NULL, path, err, sizeof(err));
	T_CHECK(rc == 0, "bench_plot: %s", err);
	unsigned char magic[8] = { 0 };
	FILE *f = fopen(path, "rb");
	size_t got = f ? fread(magic, 1, 8, f) : 0;
	if (f)
		fclose(f);
	T_CHECK(got == 8 && !memcmp(magic, "\x89PNG\r\n\x1a\n", 8), "%s is not a PNG", path);
	rc = bench_plot(s, "nosuch", path, err, sizeof(err));
	T_CHECK(rc == KV_EINVAL && strstr(err, "nosuch"), "unknown invocation: rc %d '%s'", rc, err);
	store_close(s);
}

// ----------------------------------------------------------------------------

static void shared_layer_model_should_back_every_layer_with_one_weight_set(void)
{
	struct model_config c = *tiny();
	struct model *sh = NULL, *full = NULL;
	char err[512];
	c.n_layer = 6;
	T_CHECK(model_init_random_shared(&c, 5, &sh, err, sizeof(err)) == 0, "%s", err);
	T_CHECK(model_init_random(&c, 5, &full, err, sizeof(err)) == 0, "%s", err);
	if (!sh || !full)
		goto out;
	T_CHECK(sh->shared_layers && !full->shared_layers, "shared_layers flag");
	T_CHECK(sh->cfg.n_layer == 6, "n_layer %d", sh->cfg.n_layer);
	for (int l = 1; l < 6; l++)
		T_CHECK(sh->layers[l].wq == sh->layers[0].wq && sh->layers[l].w_down == sh->layers[0].w_down, "layer %d has its own weights", l);
	T_CHECK(sh->arena_bytes < full->arena_bytes, "shared arena %zu not smaller than %zu", sh->arena_bytes, full->arena_bytes);
	/* same seed: layer 0 and the embeddings are the distinct model's */
	size_t E = c.n_embd, HD = (size_t)c.n_head * c.head_dim;
	T_CHECK(!memcmp(sh->layers[0].wq, full->layers[0].wq, sizeof(float) * HD * E), "layer 0 differs from model_init_random's");
	T_CHECK(!memcmp(sh->tok_embd, full->tok_embd, sizeof(float) * c.n_vocab * E), "embeddings differ");
	int32_t ids[16];
	for (int i = 0; i < 16; i++)
		ids[i] = i + 1;
	float *lg = NULL;
	T_CHECK(fwd_logits(sh, ids, 16, false, 1, &lg, err, sizeof(err)) == 0, "%s", err);
	for (int v = 0; lg && v < c.n_vocab; v++)
		if (!isfinite(lg[v])) {
			T_CHECK(0, "logit %d is %g", v, lg[v]);
			break;
		}
	free(lg);
out:
	model_free(sh);
	model_free(full);
}

static int write_file(const char *name, const char *text, char *path, size_t len)
{
	snprintf(path, len, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	fclose(f);
	return 0;
}

/* The models' config.json (the fields that set the shape), as published on the Hub. */
static const struct {
	const char *shape, *json;
} configs[] = {
	{ "llama-3.1-8b",
	  "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":4096,\"intermediate_size\":14336,\"max_position_embeddings\":131072,"
	  "\"model_type\":\"llama\",\"num_attention_heads\":32,\"num_hidden_layers\":32,\"num_key_value_heads\":8,\"rms_norm_eps\":1e-05,"
	  "\"rope_scaling\":{\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8192,"
	  "\"rope_type\":\"llama3\"},\"rope_theta\":500000.0,\"tie_word_embeddings\":false,\"vocab_size\":128256}" },
	{ "ministral-8b",
	  "{\"architectures\":[\"MistralForCausalLM\"],\"head_dim\":128,\"hidden_size\":4096,\"intermediate_size\":12288,"
	  "\"max_position_embeddings\":32768,\"model_type\":\"mistral\",\"num_attention_heads\":32,\"num_hidden_layers\":36,"
	  "\"num_key_value_heads\":8,\"rms_norm_eps\":1e-05,\"rope_theta\":100000000.0,\"sliding_window\":32768,"
	  "\"tie_word_embeddings\":false,\"vocab_size\":131072}" },
	{ "mistral-nemo-12b",
	  "{\"architectures\":[\"MistralForCausalLM\"],\"head_dim\":128,\"hidden_size\":5120,\"intermediate_size\":14336,"
	  "\"max_position_embeddings\":1024000,\"model_type\":\"mistral\",\"num_attention_heads\":32,\"num_hidden_layers\":40,"
	  "\"num_key_value_heads\":8,\"rms_norm_eps\":1e-05,\"rope_theta\":1000000.0,\"sliding_window\":null,"
	  "\"tie_word_embeddings\":false,\"vocab_size\":131072}" },
	{ "smollm2-135m",
	  "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":576,\"intermediate_size\":1536,\"max_position_embeddings\":8192,"
	  "\"model_type\":\"llama\",\"num_attention_heads\":9,\"num_hidden_layers\":30,\"num_key_value_heads\":3,\"rms_norm_eps\":1e-05,"
	  "\"rope_scaling\":null,\"rope_theta\":100000,\"tie_word_embeddings\":true,\"vocab_size\":49152}" },
};

static bool same_shape(const struct model_config *a, const struct model_config *b)
{
	return a->arch == b->arch && a->n_layer == b->n_layer && a->n_embd == b->n_embd && a->n_head == b->n_head &&
	       a->n_head_kv == b->n_head_kv && a->head_dim == b->head_dim && a->n_ff == b->n_ff && a->n_vocab == b->n_vocab &&
	       a->max_pos == b->max_pos && a->norm_eps == b->norm_eps && a->rope_theta == b->rope_theta &&
	       a->rope_scaling == b->rope_scaling && a->rope_factor == b->rope_factor &&
	       a->rope_low_freq_factor == b->rope_low_freq_factor && a->rope_high_freq_factor == b->rope_high_freq_factor &&
	       a->rope_orig_max_pos == b->rope_orig_max_pos && a->tied_embd == b->tied_embd;
}

static void synthetic_shapes_should_equal_their_config_json(void)
{
	for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
		char path[256], err[512];
		struct model_config c;
		const struct bench_shape *s = bench_shape_find(configs[i].shape);
		T_CHECK(s != NULL, "no shape %s", configs[i].shape);
		if (!s || write_file("config.json", configs[i].json, path, sizeof(path)))
			continue;
		int rc = bench_config_from_json(path, &c, err, sizeof(err));
		T_CHECK(rc == 0, "%s: %s", configs[i].shape, err);
		T_CHECK(rc || same_shape(&c, &s->cfg), "%s: the table differs from config.json", configs[i].shape);
		printf("  %-16s L=%d E=%d H=%d Hkv=%d D=%d F=%d V=%d theta=%g %.1f GiB fp32\n", s->name, s->cfg.n_layer,
		       s->cfg.n_embd, s->cfg.n_head, s->cfg.n_head_kv, s->cfg.head_dim, s->cfg.n_ff, s->cfg.n_vocab,
		       s->cfg.rope_theta, bench_weight_bytes(&s->cfg) / (1 << 30));
	}
}

static void smollm2_shape_should_match_the_gguf_model(void)
{
	struct model *m = NULL;
	char err[512];
	if (access(T_MODEL, R_OK) != 0) {
		T_SKIP("%s missing (make model)", T_MODEL);
		return;
	}
	T_CHECK(model_load(T_MODEL, &m, err, sizeof(err)) == 0, "%s", err);
	if (!m)
		return;
	const struct model_config *s = &bench_shape_find("smollm2-135m")->cfg, *g = &m->cfg;
	T_CHECK(s->n_layer == g->n_layer && s->n_embd == g->n_embd && s->n_head == g->n_head && s->n_head_kv == g->n_head_kv &&
			s->head_dim == g->head_dim && s->n_ff == g->n_ff && s->n_vocab == g->n_vocab &&
			s->rope_theta == g->rope_theta && s->tied_embd == g->tied_embd && s->norm_eps == g->norm_eps &&
			s->max_pos == g->max_pos,
		"smollm2-135m differs from %s", T_MODEL);
	model_free(m);
}

static void config_json_should_name_what_is_missing_or_unsupported(void)
{
	const struct {
		const char *json, *want;
		int code;
	} bad[] = {
		{ "{\"model_type\":\"llama\",\"num_hidden_layers\":2,\"num_attention_heads\":4,\"intermediate_size\":8,\"vocab_size\":10}",
		  "missing \"hidden_size\"", KV_EFORMAT },
		{ "{\"model_type\":\"qwen2\"}", "model_type 'qwen2' is not supported", KV_EUNSUP },
		{ "{\"model_type\":\"llama\",\"hidden_size\":64,\"num_hidden_layers\":2,\"num_attention_heads\":4,\"intermediate_size\":8,"
		  "\"vocab_size\":10,\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4}}",
		  "rope_scaling type 'yarn'", KV_EUNSUP },
		{ "{\"model_type\":\"llama\",\"num_hidden_layers\":2,\"hidden_size\":\"64\"}", "\"hidden_size\" must be a number", KV_EFORMAT },
		{ "{\"model_type\":\"llama\",", "not a JSON object", KV_EFORMAT },
		{ "{\"model_type\":\"llama\",\"hidden_size\":64,\"num_hidden_layers\":2,\"num_attention_heads\":5,\"intermediate_size\":8,"
		  "\"vocab_size\":10,\"num_key_value_heads\":2}",
		  "not a multiple", KV_EFORMAT },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char path[256], err[512] = "";
		struct model_config c;
		if (write_file("bad.json", bad[i].json, path, sizeof(path)))
			continue;
		int rc = bench_config_from_json(path, &c, err, sizeof(err));
		T_CHECK(rc == bad[i].code && strstr(err, bad[i].want) && strstr(err, path), "case %zu: rc %d, message '%s' (want '%s')", i,
			rc, err, bad[i].want);
	}
	char err[512] = "";
	struct model_config c;
	T_CHECK(bench_config_from_json("/nonexistent/config.json", &c, err, sizeof(err)) == KV_EIO, "missing file: %s", err);
}

// ----------------------------------------------------------------------------

static void methods_list_should_apply_per_entry_overrides_over_the_shared_flags(void)
{
	char spec[] = "fullkv,fastkv:tsp_idx=10:retain_rate=0.2,pyramidinfer:pyramid_preset=llama31_8b_50%";
	struct kv_arg av[] = { { "tsp_rate", "0.3" } };
	struct kv_args shared = { av, 1, 1 };
	struct kv_method_entry *b = NULL;
	int n = 0;
	char err[512];
	T_CHECK(kv_method_list_parse(kv_methods, "--methods", spec, &shared, &b, &n, err, sizeof(err)) == 0 && n == 3, "%s", err);
	if (!b)
		return;
	T_CHECK(!strcmp(b[0].m->name, "fullkv") && !strcmp(b[0].label, "fullkv") && b[0].args.n == 0, "entry 0");
	T_CHECK(!strcmp(b[1].m->name, "fastkv") && !strcmp(b[1].label, "fastkv:tsp_idx=10:retain_rate=0.2"), "entry 1 label '%s'",
		b[1].label);
	const char *ti = kv_args_get(&b[1].args, "tsp_idx"), *rr = kv_args_get(&b[1].args, "retain_rate"),
		   *tr = kv_args_get(&b[1].args, "tsp_rate");
	T_CHECK(ti && !strcmp(ti, "10") && rr && !strcmp(rr, "0.2") && tr && !strcmp(tr, "0.3"),
		"fastkv overrides / shared tsp_rate lost");
	const char *pp = kv_args_get(&b[2].args, "pyramid_preset");
	T_CHECK(pp && !strcmp(pp, "llama31_8b_50%") && !kv_args_get(&b[2].args, "tsp_rate"), "pyramid_preset override");
	kv_method_list_free(b, n);
	const struct {
		const char *spec, *want;
	} bad[] = {
		{ "fastkv:foo=1", "unknown key 'foo' in entry 'fastkv:foo=1'" },
		{ "snapkv:tsp_idx=3", "'tsp_idx' in entry 'snapkv:tsp_idx=3' is not a parameter of snapkv (taken by fastkv)" },
		{ "snapkv,h2o", "--tsp_rate: not a parameter of snapkv, h2o (taken by fastkv)" },
		{ "fastkv,nosuch", "--methods entry 'nosuch': --method: expected one of fullkv, fastkv" },
		{ "fastkv,,snapkv", "empty entry at position 2" },
		{ "fastkv,fastkv", "'fastkv' is listed twice" },
		{ "fastkv:tsp_idx", "'tsp_idx' in entry 'fastkv:tsp_idx' is not key=value" },
		{ ":tsp_idx=3", "has no method name" },
		{ "", "empty entry at position 1" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char s[128];
		snprintf(s, sizeof(s), "%s", bad[i].spec);
		b = NULL;
		int rc = kv_method_list_parse(kv_methods, "--methods", s, &shared, &b, &n, err, sizeof(err));
		T_CHECK(rc == KV_EINVAL && strstr(err, bad[i].want), "'%s': rc %d, '%s'", bad[i].spec, rc, err);
		T_CHECK(b == NULL, "output written on failure");
	}
}

static void context_lengths_should_be_distinct_positive_integers(void)
{
	int *v = NULL, n = 0;
	char err[512];
	T_CHECK(bench_lengths_parse("2048,4096,8192", &v, &n, err, sizeof(err)) == 0 && n == 3 && v[0] == 2048 && v[2] == 8192, "%s", err);
	free(v);
	const char *bad[] = { "", "abc", "0", "-5", "2048,", "2048,,4096", "12x", "2048,2048", "99999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = NULL;
		int rc = bench_lengths_parse(bad[i], &v, &n, err, sizeof(err));
		T_CHECK(rc == KV_EINVAL && strstr(err, "--context_lengths") && v == NULL, "'%s' accepted (rc %d)", bad[i], rc);
	}
}

static void input_should_repeat_the_text_or_use_token_one(void)
{
	int32_t ids[7], text[] = { 5, 6, 7 };
	bench_input(ids, 7, NULL, 0);
	for (int i = 0; i < 7; i++)
		T_CHECK(ids[i] == 1, "ids[%d] = %d, the official input is token id 1", i, ids[i]);
	bench_input(ids, 7, text, 3);
	T_CHECK(ids[0] == 5 && ids[3] == 5 && ids[5] == 7 && ids[6] == 5, "repeat: %d %d %d %d", ids[0], ids[3], ids[5], ids[6]);
	bench_input(ids, 2, text, 3);
	T_CHECK(ids[0] == 5 && ids[1] == 6, "cut");
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	T_RUN(bench_should_store_one_row_per_method_length_and_phase_with_budget_kv_bytes);
	T_RUN(interleaving_should_rotate_the_method_order_every_round);
	T_RUN(speedup_should_be_fullkv_median_over_method_median_within_one_invocation);
	T_RUN(plot_should_draw_latency_and_speedup_to_a_png);
	T_RUN(shared_layer_model_should_back_every_layer_with_one_weight_set);
	T_RUN(synthetic_shapes_should_equal_their_config_json);
	T_RUN(smollm2_shape_should_match_the_gguf_model);
	T_RUN(config_json_should_name_what_is_missing_or_unsupported);
	T_RUN(methods_list_should_apply_per_entry_overrides_over_the_shared_flags);
	T_RUN(context_lengths_should_be_distinct_positive_integers);
	T_RUN(input_should_repeat_the_text_or_use_token_one);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return t_done();
}
