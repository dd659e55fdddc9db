/* kvlab bench prefill | e2e: the latency benchmarks of the official FastKV code
 * (benchmark/prefill.py, benchmark/e2e.py; spec/methods.md section 10) for several
 * methods and context lengths in one invocation, interleaved run by run, each
 * measurement a row in the results database with its provenance. */
#include <cjson/cJSON.h> // cJSON_CreateObject, cJSON_PrintUnformatted
#include <omp.h>         // omp_get_num_procs
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"         // bench_run_length, bench_shapes, struct bench_method
#include "bench/op_profile.h"    // op_profile_check
#include "cli/backend_flag.h"   // cli_backend
#include "engine/backend.h"      // struct backend_ops
#include "base/errors.h"       // kv_errf
#include "base/fileio.h"       // kv_read_file
#include "engine/model.h"        // model_load, model_init_random(_shared)
#include "engine/tokenizer.h"    // tok_encode
#include "cli/cli.h"            // cli_parse, cli_print_config
#include "cli/kv_dtype_flag.h"  // cli_kv_dtype
#include "cli/commands.h"
#include "methods/registry.h"    // kv_method_list_parse, kv_policy_make, kv_methods
#include "results/bench_profile.h" // bench_profile_load, bench_profile_print
#include "results/bench_roofline.h" // bench_roofline_load, bench_roofline_print
#include "results/bench_store.h" // bench_store_put, bench_table_print
#include "results/store.h"       // store_open, provenance_get, store_file_sha256
#include "base/sha256.h"         // sha256_hex

/* Defaults compared by address to tell "given" from "left alone". */
static const char DEFAULT_METHODS[] = "fullkv,fastkv";

struct bench_cfg {
	int genlen; /* first, then profile: e2e's own flags; the prefill table starts after them */
	bool profile;
	const char *model, *synthetic, *synthetic_config, *layer_weights, *methods, *context_lengths, *prompt_file, *db, *backend, *dtype, *kv_dtype;
	int warmups, runs, threads, seed;
	struct cli_methods ma; /* --method and the method flags */
};

static const struct cli_flag bench_flags[] = {
	{ "--genlen", CLI_INT, offsetof(struct bench_cfg, genlen), 2, 1 << 20, "N",
	  "tokens generated per run, the first (from prefill) included; no EOS stop (e2e.py's default 128, eval_e2e.sh 256)", false },
	{ "--profile", CLI_SWITCH, offsetof(struct bench_cfg, profile), 0, 0, NULL,
	  "also store and print where each method's timed decode steps spent their time, op by op (table bench_profile: calls, "
	  "ms, share, and for qmatvec, matmul and attn_cached the bytes read, GB/s and the fraction of the read calibration); "
	  "host backends only", false },
	{ "--model", CLI_STR, offsetof(struct bench_cfg, model), 0, 0, "PATH", "GGUF file or Hugging Face model folder", false },
	{ "--synthetic", CLI_STR, offsetof(struct bench_cfg, synthetic), 0, 0, "NAME",
	  "random weights in a known shape: smollm2-135m, llama-3.1-8b, ministral-8b, mistral-nemo-12b, tiny", false },
	{ "--synthetic_config", CLI_STR, offsetof(struct bench_cfg, synthetic_config), 0, 0, "FILE",
	  "random weights in the shape of a Hugging Face config.json (llama or mistral)", false },
	{ "--layer_weights", CLI_STR, offsetof(struct bench_cfg, layer_weights), 0, 0, "MODE",
	  "synthetic models: distinct, shared (one random layer's weights for every layer: same timing, fits 8B in RAM), "
	  "or auto (shared when fp32 weights exceed half the RAM)", false },
	{ "--seed", CLI_INT, offsetof(struct bench_cfg, seed), 0, 2147483647, "N", "seed of the random weights", false },
	{ "--methods", CLI_STR, offsetof(struct bench_cfg, methods), 0, 0, "LIST",
	  "comma-separated methods; NAME:key=value:... overrides the shared method flags for one entry (fastkv:tsp_idx=10)", false },
	{ "--context_lengths", CLI_STR, offsetof(struct bench_cfg, context_lengths), 0, 0, "LIST",
	  "prompt lengths in tokens (the official benchmarks: 8192,32768,131072)", false },
	{ "--prompt_file", CLI_STR, offsetof(struct bench_cfg, prompt_file), 0, 0, "FILE",
	  "real text, tokenized and cut or repeated to each length (default: token id 1 repeated, as the official benchmark)", false },
	{ "--warmups", CLI_INT, offsetof(struct bench_cfg, warmups), 0, 1000, "N", "untimed rounds per length (official: 1)", false },
	{ "--runs", CLI_INT, offsetof(struct bench_cfg, runs), 1, 100000, "N",
	  "timed rounds per length, each running every method once (official: 1; scripts2/eval_prefill.sh: 5)", false },
	{ "--threads", CLI_INT, offsetof(struct bench_cfg, threads), 0, 1024, "N", "worker threads (0 = all cores)", false },
	{ "--backend", CLI_STR, offsetof(struct bench_cfg, backend), 0, 0, "NAME", BACKEND_FLAG_HELP " (recorded per row)", false },
	{ "--dtype", CLI_STR, offsetof(struct bench_cfg, dtype), 0, 0, "DTYPE", DTYPE_FLAG_HELP, false },
	{ "--kv_dtype", CLI_STR, offsetof(struct bench_cfg, kv_dtype), 0, 0, "TYPE", KV_DTYPE_FLAG_HELP " (in each row's config)", false },
	{ "--db", CLI_STR, offsetof(struct bench_cfg, db), 0, 0, "PATH", "results database (SQLite) the rows go to", false },
	{ "--method", CLI_METHOD, offsetof(struct bench_cfg, ma), 0, 0, "LIST", "the same as --methods LIST", false },
	{ 0 },
};

static const struct cli_cmd prefill_cmd = {
	"bench prefill",
	"Time to first token per method and context length, as benchmark/prefill.py: the prefill forward with\n"
	"the LM head on the last row, plus the argmax. Methods run interleaved (each timed round runs every\n"
	"method once, the order rotating), so drift hurts all alike. Prints median [min, max] and the speedup\n"
	"over fullkv from the same rounds, and the KV bytes kept after prefill; every figure is a row in --db\n"
	"(kvlab report --bench, kvlab plot bench). Method flags apply to every entry of --methods; their defaults\n"
	"are the official parser's (constant mode); scripts/eval_prefill.sh passes the paper's proportional ones.\n"
	"kvzip's reconstruction (its second forward) runs inside the timed prefill and is also timed alone (recon ms).\n"
	"--method NAME is the same as --methods NAME.",
	bench_flags + 2,
};

static const struct cli_cmd e2e_cmd = {
	"bench e2e",
	"End-to-end latency per method and context length, as benchmark/e2e.py: the timed prefill (plus argmax)\n"
	"then genlen - 1 greedy decode steps with no EOS stop. Reports prefill, decode per token ((e2e - prefill)\n"
	"/ (genlen - 1)) and e2e, each median [min, max] with the speedup over fullkv from the same interleaved\n"
	"rounds, and the KV bytes kept after prefill. Decode positions are N + t as in the eval drivers (C7), not\n"
	"e2e.py's layer-0 cache length + t (A8: a harness artefact; timing is unaffected). PyramidInfer is timed\n"
	"with the same loop (e2e.py times HF generate for it); kvzip's reconstruction is inside the prefill (recon ms\n"
	"alone). Rows go to --db; see also kvlab bench prefill --help.\n"
	"--method NAME is the same as --methods NAME.",
	bench_flags,
};

static int fail(const char *msg)
{
	fprintf(stderr, "kvlab: %s\n", msg);
	return 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: kvlab bench prefill|e2e [flags]   (kvlab bench prefill --help for the flags)\n\n"
		   "  prefill  time to first token per method and context length (benchmark/prefill.py)\n"
		   "  e2e      prefill plus --genlen greedy tokens (benchmark/e2e.py)\n");
}

// ----------------------------------------------------------------------------
// the model

static double ram_bytes(void)
{
	return (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGE_SIZE);
}

/* The synthetic shape asked for, into *c and its name into name. */
static int synthetic_shape(const struct bench_cfg *cfg, struct model_config *c, char *name, size_t len, char *err,
			   size_t errlen)
{
	if (cfg->synthetic_config) {
		snprintf(name, len, "synthetic:%s", cfg->synthetic_config);
		return bench_config_from_json(cfg->synthetic_config, c, err, errlen);
	}
	const struct bench_shape *s = bench_shape_find(cfg->synthetic);
	if (!s) {
		char list[256] = "";
		for (const struct bench_shape *t = bench_shapes; t->name; t++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", t == bench_shapes ? "" : ", ", t->name);
		return kv_errf(err, errlen, KV_EINVAL, "--synthetic: expected one of %s (or --synthetic_config FILE), got '%s'",
			       list, cfg->synthetic);
	}
	*c = s->cfg;
	snprintf(name, len, "synthetic:%s", s->name);
	return 0;
}

/* Checks every method entry against the shape before any time is spent. */
static int check_methods(const struct kv_method_entry *b, int n, const struct model_config *c, char *err, size_t errlen)
{
	struct kv_shape shape = { c->n_layer, c->n_head, c->n_head_kv, c->head_dim, c->n_embd };
	for (int i = 0; i < n; i++) {
		struct kv_policy p = { 0 };
		char e[512];
		int rc = kv_policy_make(b[i].m, &b[i].args, &shape, &p, e, sizeof(e));
		kv_policy_free(&p);
		if (rc)
			return kv_errf(err, errlen, rc, "--methods entry '%s': %s", b[i].label, e);
	}
	return 0;
}

static void shape_json(const struct model_config *c, char *buf, size_t len)
{
	snprintf(buf, len,
		 "{\"arch\":\"%s\",\"n_layer\":%d,\"n_embd\":%d,\"n_head\":%d,\"n_head_kv\":%d,\"head_dim\":%d,\"n_ff\":%d,"
		 "\"n_vocab\":%d,\"rope_theta\":%g,\"rope_scaling\":\"%s\",\"tied_embd\":%s}",
		 model_arch_name(c->arch), c->n_layer, c->n_embd, c->n_head, c->n_head_kv, c->head_dim, c->n_ff, c->n_vocab,
		 c->rope_theta, c->rope_scaling == ROPE_SCALING_LLAMA3 ? "llama3" : c->rope_scaling == ROPE_SCALING_LINEAR ? "linear" : "none",
		 c->tied_embd ? "true" : "false");
}

/* The resolved bench flags as JSON (caller frees), or NULL when out of memory. */
static char *config_json(const struct bench_cfg *cfg, const char *kind, const char *model, const char *weights, int threads)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "bench", kind);
	cJSON_AddStringToObject(o, "model", model);
	cJSON_AddStringToObject(o, "weights", weights);
	cJSON_AddStringToObject(o, "methods", cfg->methods);
	cJSON_AddStringToObject(o, "context_lengths", cfg->context_lengths);
	if (strcmp(kind, "e2e") == 0)
		cJSON_AddNumberToObject(o, "genlen", cfg->genlen);
	if (cfg->profile) /* the timed runs went through the timing op table */
		cJSON_AddBoolToObject(o, "profile", true);
	cJSON_AddNumberToObject(o, "warmups", cfg->warmups);
	cJSON_AddNumberToObject(o, "runs", cfg->runs);
	cJSON_AddNumberToObject(o, "threads", threads);
	if (cfg->kv_dtype)
		cJSON_AddStringToObject(o, "kv_dtype", cfg->kv_dtype);
	if (cfg->synthetic || cfg->synthetic_config)
		cJSON_AddNumberToObject(o, "seed", cfg->seed);
	if (cfg->prompt_file)
		cJSON_AddStringToObject(o, "prompt_file", cfg->prompt_file);
	for (int i = 0; kv_methods[i]; i++) /* the method flags given, in registry order */
		for (const struct kv_param_def *const *d = kv_methods[i]->params; *d; d++) {
			const char *v = kv_args_get(&cfg->ma.args, (*d)->name);
			if (v && !cJSON_GetObjectItemCaseSensitive(o, (*d)->name))
				cJSON_AddStringToObject(o, (*d)->name, v);
		}
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

// ----------------------------------------------------------------------------
// the command

static int bench_main(enum bench_kind kind, int argc, char **argv)
{
	const char *kname = kind == BENCH_E2E ? "e2e" : "prefill";
	struct bench_cfg cfg = { .genlen = 128, .model = cli_default_model(), .layer_weights = "auto", .methods = DEFAULT_METHODS,
				 .context_lengths = "2048,4096,8192", .db = "results/kvlab.db", .warmups = 1, .runs = 3,
				 .seed = 42, .backend = "cpu" };
	const struct backend_ops *be = NULL;
	const struct cli_cmd *cmd = kind == BENCH_E2E ? &e2e_cmd : &prefill_cmd;
	char err[1024];
	struct model *m = NULL;
	struct store *st = NULL;
	struct kv_method_entry *methods = NULL;
	struct bench_row *back = NULL;
	int *lens = NULL, nm = 0, nn = 0, n_text = 0, n_back = 0, ret = 1, rc;
	int32_t *text = NULL;
	char *prompt = NULL, *cjson = NULL;
	if ((rc = cli_parse(cmd, argc, argv, &cfg, err, sizeof(err))))
		return rc == 1 ? 0 : fail(err);
	enum kv_dtype kvt = KV_DTYPE_F32;
	if (cli_backend(cfg.backend, cfg.dtype, &be, err, sizeof(err)) || cli_kv_dtype(cfg.kv_dtype, be, &kvt, err, sizeof(err)))
		return fail(err);
	if (cfg.profile && op_profile_check(be, err, sizeof(err)))
		return fail(err);
	bool synth = cfg.synthetic || cfg.synthetic_config;
	const char *bad = NULL;
	if (cfg.synthetic && cfg.synthetic_config)
		bad = "kvlab bench: give --synthetic NAME or --synthetic_config FILE, not both";
	else if (synth && cfg.model != cli_default_model())
		bad = "kvlab bench: --model and --synthetic/--synthetic_config exclude each other";
	else if (strcmp(cfg.layer_weights, "auto") && strcmp(cfg.layer_weights, "shared") && strcmp(cfg.layer_weights, "distinct"))
		bad = "--layer_weights: expected auto, shared or distinct";
	else if (!synth && strcmp(cfg.layer_weights, "auto"))
		bad = "--layer_weights: applies to --synthetic / --synthetic_config models only";
	else if (cfg.ma.list && cfg.methods != DEFAULT_METHODS)
		bad = "kvlab bench: give --methods LIST or --method NAME, not both";
	if (bad) {
		fail(bad);
		goto out;
	}
	if (kv_method_list_parse(kv_methods, "--methods", cfg.ma.list ? cfg.ma.list : cfg.methods, &cfg.ma.args, &methods, &nm,
				 err, sizeof(err)) ||
	    bench_lengths_parse(cfg.context_lengths, &lens, &nn, err, sizeof(err))) {
		fail(err);
		goto out;
	}

	/* the model: shape first, so bad method flags fail before minutes of weight filling */
	char model_name[512], weights[96];
	if (synth) {
		struct model_config c;
		if (synthetic_shape(&cfg, &c, model_name, sizeof(model_name), err, sizeof(err)) ||
		    check_methods(methods, nm, &c, err, sizeof(err))) {
			fail(err);
			goto out;
		}
		if (cfg.prompt_file) {
			fail("--prompt_file: synthetic models have no tokenizer; use --model, or drop --prompt_file for token id 1");
			goto out;
		}
		double wb = bench_weight_bytes(&c);
		/* a device backend generates distinct weights in its own memory (no host copy) */
		bool on_device = !bk_host_memory(be) && strcmp(cfg.layer_weights, "shared");
		bool shared = !on_device && (!strcmp(cfg.layer_weights, "shared") ||
					     (!strcmp(cfg.layer_weights, "auto") && wb > 0.5 * ram_bytes()));
		if (on_device) {
			fprintf(stderr, "kvlab: building %s with random weights on the device (%s, distinct layers)\n", model_name,
				be->name);
			if ((rc = model_init_random_device(be, &c, (uint64_t)cfg.seed, &m, err, sizeof(err)))) {
				fail(err);
				goto out;
			}
			snprintf(weights, sizeof(weights), "random %s on the device (seed %d)", bk_dtype(be), cfg.seed);
		} else if (!shared && wb > 0.9 * ram_bytes()) {
			snprintf(err, sizeof(err), "--layer_weights distinct: %s needs %.1f GiB of fp32 weights, more than this machine's RAM; use shared",
				 model_name, wb / (1 << 30));
			fail(err);
			goto out;
		}
		if (!on_device) {
			fprintf(stderr, "kvlab: building %s with random weights (%s, %.1f GiB in fp32%s)\n", model_name,
				shared ? "shared-layer" : "distinct layers", wb / (1 << 30), shared ? " if distinct" : "");
			rc = shared ? model_init_random_shared(&c, (uint64_t)cfg.seed, &m, err, sizeof(err))
				    : model_init_random(&c, (uint64_t)cfg.seed, &m, err, sizeof(err));
			if (rc) {
				fail(err);
				goto out;
			}
			snprintf(weights, sizeof(weights), "random F32 (seed %d)%s", cfg.seed, shared ? ", shared-layer weights" : "");
		}
	} else {
		if (model_load(cfg.model, &m, err, sizeof(err)) || check_methods(methods, nm, &m->cfg, err, sizeof(err))) {
			fail(err);
			goto out;
		}
		snprintf(model_name, sizeof(model_name), "%s", cfg.model);
		snprintf(weights, sizeof(weights), "%s %s, computed in %s", m->source == MODEL_SRC_HF ? "safetensors" : "gguf",
			 m->file_type ? m->file_type : "?",
			 !strcmp(bk_dtype(be), "bf16")	 ? "BF16"
			 : !strcmp(bk_dtype(be), "int8") ? "F32, decode's quantised products with int8 x"
							 : "F32");
	}
	for (int i = 0; i < nn; i++)
		if (lens[i] > m->cfg.max_pos)
			fprintf(stderr, "kvlab: warning: context length %d exceeds the model's trained context of %d\n", lens[i],
				m->cfg.max_pos);

	if ((rc = store_open(cfg.db, &st, err, sizeof(err))) || (rc = bench_store_schema(st, err, sizeof(err)))) {
		fail(err);
		goto out;
	}
	struct bench_row base;
	memset(&base, 0, sizeof(base));
	if (!synth && store_file_sha256(st, cfg.model, base.model_sha256, err, sizeof(err)) != 0) {
		fail(err);
		goto out;
	}
	snprintf(base.input, sizeof(base.input), "token id 1 repeated");
	if (cfg.prompt_file) {
		char sha[65];
		if (!m->tok) {
			fail("--prompt_file: the model has no tokenizer");
			goto out;
		}
		if (kv_read_file(cfg.prompt_file, &prompt, NULL, err, sizeof(err)) ||
		    store_file_sha256(st, cfg.prompt_file, sha, err, sizeof(err)) ||
		    tok_encode(m->tok, prompt, strlen(prompt), true, &text, &n_text, err, sizeof(err))) {
			fail(err);
			goto out;
		}
		if (n_text == 0) {
			fail("--prompt_file: the text encodes to no tokens");
			goto out;
		}
		snprintf(base.input, sizeof(base.input), "%s (sha256 %.16s, %d tokens, cut or repeated to N)", cfg.prompt_file,
			 sha, n_text);
	}

	int threads = cfg.threads > 0 ? cfg.threads : omp_get_num_procs();
	struct provenance pv;
	provenance_get(&pv);
	if (!(cjson = config_json(&cfg, kname, model_name, weights, threads))) {
		fail("out of memory");
		goto out;
	}
	char seed[256], hex[65];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(seed, sizeof(seed), "%s %d %lld.%09ld %s", pv.date_utc, (int)getpid(), (long long)ts.tv_sec, ts.tv_nsec, cjson);
	sha256_hex(seed, strlen(seed), hex);
	snprintf(base.invocation, sizeof(base.invocation), "%.16s", hex);
	snprintf(base.bench, sizeof(base.bench), "%s", kname);
	snprintf(base.created_utc, sizeof(base.created_utc), "%s", pv.date_utc);
	snprintf(base.build_commit, sizeof(base.build_commit), "%s", pv.git_commit);
	snprintf(base.engine_version, sizeof(base.engine_version), "%s", pv.engine_version);
	snprintf(base.backend, sizeof(base.backend), "%s", be->name);
	snprintf(base.host_cpu, sizeof(base.host_cpu), "%s", pv.host_cpu);
	base.threads = threads;
	snprintf(base.model, sizeof(base.model), "%s", model_name);
	shape_json(&m->cfg, base.model_shape, sizeof(base.model_shape));
	snprintf(base.weights, sizeof(base.weights), "%s", weights);
	snprintf(base.config_json, sizeof(base.config_json), "%s", cjson);

	cfg.model = model_name; /* the resolved model in the printed configuration */
	cli_print_config(stderr, cmd, &cfg);
	fprintf(stderr, "| invocation | %s |\n| resolved threads | %d |\n| weights | %s |\n", base.invocation, threads, weights);

	/* the roofline's calibration, on the threads the rows run on (host backends: the
	 * bandwidth kernel reads host memory) */
	struct bench_machine mc;
	bool roof = bk_host_memory(be);
	if (roof) {
		if (bench_calibrate(be, threads, &mc, err, sizeof(err))) {
			fail(err);
			goto out;
		}
		fprintf(stderr, "kvlab: roofline calibration on %d threads: read %.1f GB/s (%zu MiB), fp32 GEMM %.1f GFLOP/s (%d^3)\n",
			mc.threads, mc.read_gbs, mc.read_bytes >> 20, mc.gemm_gflops, mc.gemm_n);
	}
	struct bench_opts o = { .kind = kind, .methods = methods, .n_methods = nm, .genlen = cfg.genlen, .warmups = cfg.warmups,
				.runs = cfg.runs, .threads = cfg.threads, .backend = be, .text = text, .n_text = n_text, .log = stderr,
				.kv_dtype = kvt, .machine = roof ? &mc : NULL, .profile = cfg.profile };
	if (bench_run(m, &o, lens, nn, &base, st, err, sizeof(err))) {
		fail(err);
		goto out;
	}
	if (bench_store_load(st, base.invocation, &back, &n_back, err, sizeof(err))) {
		fail(err);
		goto out;
	}
	bench_table_print(stdout, back, n_back);
	if (roof) {
		struct bench_roof *rr = NULL;
		int n_rr = 0;
		if (bench_roofline_load(st, base.invocation, &rr, &n_rr, err, sizeof(err))) {
			fail(err);
			goto out;
		}
		bench_roofline_print(stdout, rr, n_rr);
		free(rr);
	}
	if (cfg.profile) {
		struct bench_prof *pr = NULL;
		int n_pr = 0;
		if (bench_profile_load(st, base.invocation, &pr, &n_pr, err, sizeof(err))) {
			fail(err);
			goto out;
		}
		bench_profile_print(stdout, pr, n_pr);
		free(pr);
	}
	fprintf(stderr, "kvlab: %d rows in %s (kvlab report --bench --db %s; kvlab plot bench --db %s --out F.png)\n", n_back,
		cfg.db, cfg.db, cfg.db);
	ret = 0;
out:
	free(back);
	free(cjson);
	free(text);
	free(prompt);
	free(lens);
	kv_method_list_free(methods, nm);
	cli_methods_free(&cfg.ma);
	store_close(st);
	model_free(m);
	return ret;
}

int cmd_bench(int argc, char **argv)
{
	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[0], "prefill"))
		return bench_main(BENCH_PREFILL, argc - 1, argv + 1);
	if (!strcmp(argv[0], "e2e"))
		return bench_main(BENCH_E2E, argc - 1, argv + 1);
	fprintf(stderr, "kvlab bench: unknown benchmark '%s' (expected prefill or e2e)\n", argv[0]);
	usage(stderr);
	return 2;
}
