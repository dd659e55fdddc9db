/* The engine subcommands: info, tokenize, generate. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/chat.h"      // chat_render_user, chat_family_name
#include "base/errors.h"    // kv_errf
#include "base/fileio.h"    // kv_read_file
#include "engine/generate.h"  // gen_greedy
#include "engine/model.h"     // model_load
#include "engine/tokenizer.h" // tok_*
#include "engine/forward.h"   // struct fwd_session
#include "cli/backend_flag.h" // cli_backend
#include "engine/backend.h"  // bk_supports, bk_op_names
#include "cli/cli.h"         // cli_parse
#include "cli/kv_dtype_flag.h" // cli_kv_dtype
#include "cli/commands.h"
#include "eval/selection.h"   // selection_dump, selection_stats
#include "methods/registry.h"  // kv_method_list_parse, kv_policy_make


static int fail(const char *msg)
{
	fprintf(stderr, "kvlab: %s\n", msg);
	return 1;
}

// ----------------------------------------------------------------------------
// info

struct info_cfg {
	const char *model, *backend, *dtype;
};

static const struct cli_flag info_flags[] = {
	{ "--model", CLI_STR, offsetof(struct info_cfg, model), 0, 0, "PATH", "GGUF file or Hugging Face model folder", false },
	{ "--backend", CLI_STR, offsetof(struct info_cfg, backend), 0, 0, "NAME", BACKEND_FLAG_HELP " (its ops are listed)", false },
	{ "--dtype", CLI_STR, offsetof(struct info_cfg, dtype), 0, 0, "DTYPE", DTYPE_FLAG_HELP, false },
	{ 0 },
};
static const struct cli_cmd info_cmd = { "info", "Prints a model's architecture, shapes, tokenizer and chat format.", info_flags };

int cmd_info(int argc, char **argv)
{
	struct info_cfg cfg = { .model = cli_default_model(), .backend = "cpu" };
	char err[512];
	struct model *m = NULL;
	const struct backend_ops *be = NULL;
	int rc = cli_parse(&info_cmd, argc, argv, &cfg, err, sizeof(err));
	if (rc)
		return rc == 1 ? 0 : fail(err);
	if (cli_backend(cfg.backend, cfg.dtype, &be, err, sizeof(err)))
		return fail(err);
	if (model_load(cfg.model, &m, err, sizeof(err)))
		return fail(err);
	const struct model_config *c = &m->cfg;
	printf("model:        %s\n", m->path);
	printf("source:       %s\n", m->source == MODEL_SRC_GGUF ? "gguf" : m->source == MODEL_SRC_HF ? "huggingface" : "synthetic");
	printf("storage:      %s\n", m->file_type ? m->file_type : "?");
	printf("architecture: %s\n", model_arch_name(c->arch));
	printf("layers:       %d\n", c->n_layer);
	printf("n_embd:       %d\n", c->n_embd);
	printf("heads:        %d query, %d kv (GQA group %d), head_dim %d\n", c->n_head, c->n_head_kv, c->n_head / c->n_head_kv, c->head_dim);
	printf("n_ff:         %d\n", c->n_ff);
	printf("vocab:        %d\n", c->n_vocab);
	printf("context:      %d\n", c->max_pos);
	printf("rms_eps:      %g\n", c->norm_eps);
	printf("rope:         theta %g, scaling %s", c->rope_theta,
	       c->rope_scaling == ROPE_SCALING_LLAMA3 ? "llama3" : c->rope_scaling == ROPE_SCALING_LINEAR ? "linear" : "none");
	if (c->rope_scaling == ROPE_SCALING_LLAMA3 && c->rope_factor > 0)
		printf(" (factor %g, low %g, high %g, original %d)", c->rope_factor, c->rope_low_freq_factor,
		       c->rope_high_freq_factor, c->rope_orig_max_pos);
	printf("\n");
	printf("backend:      %s (%s memory, %s matrices; ops:", be->name, bk_host_memory(be) ? "host" : "device", bk_dtype(be));
	for (int op = 0; op < BK_OP_COUNT; op++)
		if (bk_supports(be, op))
			printf(" %s", bk_op_names[op]);
	printf(")\n");
	printf("embeddings:   %s\n", c->tied_embd ? "tied (output = token embedding)" : "separate output matrix");
	printf("weights:      %.1f MiB fp32 in memory\n", m->arena_bytes / 1048576.0);
	size_t qb = model_packed_bytes(m);
	if (qb)
		printf("decode:       %.1f MiB of Q4_1/Q8_0 blocks read per token instead of fp32 (block-quantised copy)\n",
		       qb / 1048576.0);
	if (m->tok) {
		int n_eos = 0;
		const int32_t *eos = tok_eos_ids(m->tok, &n_eos);
		printf("tokenizer:    %s, pre-tokenizer %s, %d tokens, bos %d (%s), eos", tok_model_name(m->tok), tok_pre_name(m->tok),
		       tok_n_vocab(m->tok), tok_bos(m->tok), tok_add_bos(m->tok) ? "added" : "not added");
		for (int i = 0; i < n_eos; i++)
			printf(" %d (%s)", eos[i], tok_piece(m->tok, eos[i]) ? tok_piece(m->tok, eos[i]) : "?");
		printf("\n");
	}
	printf("chat format:  %s: %s\n", chat_family_name(m->chat.family), m->chat.detail[0] ? m->chat.detail : "no template");
	model_free(m);
	return 0;
}

// ----------------------------------------------------------------------------
// tokenize

struct tokenize_cfg {
	const char *model, *text, *text_file;
	bool no_special;
};

static const struct cli_flag tokenize_flags[] = {
	{ "--model", CLI_STR, offsetof(struct tokenize_cfg, model), 0, 0, "PATH", "GGUF file or Hugging Face model folder", false },
	{ "--text", CLI_STR, offsetof(struct tokenize_cfg, text), 0, 0, "TEXT", "text to encode", false },
	{ "--text_file", CLI_STR, offsetof(struct tokenize_cfg, text_file), 0, 0, "FILE", "encode this file's contents instead", false },
	{ "--no_special", CLI_SWITCH, offsetof(struct tokenize_cfg, no_special), 0, 0, "", "do not add BOS/EOS (add_special_tokens=False)", false },
	{ 0 },
};
static const struct cli_cmd tokenize_cmd = { "tokenize", "Prints the token ids of a text on one line, as the model's Hugging Face tokenizer gives them.", tokenize_flags };

int cmd_tokenize(int argc, char **argv)
{
	struct tokenize_cfg cfg = { .model = cli_default_model() };
	char err[512];
	struct model *m = NULL;
	char *file = NULL;
	int32_t *ids = NULL;
	int n = 0, ret = 1;
	int rc = cli_parse(&tokenize_cmd, argc, argv, &cfg, err, sizeof(err));
	if (rc)
		return rc == 1 ? 0 : fail(err);
	if (!cfg.text == !cfg.text_file)
		return fail("kvlab tokenize: give exactly one of --text TEXT or --text_file FILE");
	size_t len = cfg.text ? strlen(cfg.text) : 0;
	if (cfg.text_file && kv_read_file(cfg.text_file, &file, &len, err, sizeof(err)))
		return fail(err);
	if (model_load(cfg.model, &m, err, sizeof(err))) {
		fail(err);
		goto out;
	}
	if (!m->tok) {
		fail("the model has no tokenizer");
		goto out;
	}
	if (tok_encode(m->tok, file ? file : cfg.text, len, !cfg.no_special, &ids, &n, err, sizeof(err))) {
		fail(err);
		goto out;
	}
	for (int i = 0; i < n; i++)
		printf(i ? " %d" : "%d", ids[i]);
	printf("\n");
	ret = 0;
out:
	free(ids);
	free(file);
	model_free(m);
	return ret;
}

// ----------------------------------------------------------------------------
// generate

struct generate_cfg {
	const char *model, *prompt, *prompt_file, *dump_selection, *backend, *dtype, *kv_dtype;
	bool chat;
	int max_new_tokens, threads;
	struct cli_methods methods; /* --method and the method flags */
};

static const struct cli_flag generate_flags[] = {
	{ "--model", CLI_STR, offsetof(struct generate_cfg, model), 0, 0, "PATH", "GGUF file or Hugging Face model folder", false },
	{ "--prompt", CLI_STR, offsetof(struct generate_cfg, prompt), 0, 0, "TEXT", "the prompt", false },
	{ "--prompt_file", CLI_STR, offsetof(struct generate_cfg, prompt_file), 0, 0, "FILE", "read the prompt from a file", false },
	{ "--chat", CLI_SWITCH, offsetof(struct generate_cfg, chat), 0, 0, "", "wrap the prompt as one user message in the model's chat template", false },
	{ "--max_new_tokens", CLI_INT, offsetof(struct generate_cfg, max_new_tokens), 0, 1 << 20, "N", "tokens to generate at most", false },
	{ "--threads", CLI_INT, offsetof(struct generate_cfg, threads), 0, 1024, "N", "worker threads (0 = all cores)", false },
	{ "--backend", CLI_STR, offsetof(struct generate_cfg, backend), 0, 0, "NAME", BACKEND_FLAG_HELP, false },
	{ "--dtype", CLI_STR, offsetof(struct generate_cfg, dtype), 0, 0, "DTYPE", DTYPE_FLAG_HELP, false },
	{ "--kv_dtype", CLI_STR, offsetof(struct generate_cfg, kv_dtype), 0, 0, "TYPE", KV_DTYPE_FLAG_HELP, false },
	{ "--dump_selection", CLI_STR, offsetof(struct generate_cfg, dump_selection), 0, 0, "FILE",
	  "write per layer and head the kept original positions (and TSP / GemFilter selections) as JSON lines", false },
	{ "--method", CLI_METHOD, offsetof(struct generate_cfg, methods), 0, 0, "NAME", "KV policy, NAME[:key=value...]", false },
	{ 0 },
};
static const struct cli_cmd generate_cmd = {
	"generate",
	"Greedy generation under a KV policy: the text on stdout; prompt length, prefill and decode speed,\n"
	"and the KV entries and bytes each layer kept after prefill on stderr.",
	generate_flags,
};

/* Builds the prompt text (chat-rendered when asked); caller frees. */
/* The prompt text[0..len) as given, or wrapped in the chat template (which takes C
 * strings: a NUL byte in the text is refused there, naming where it is). */
static int build_prompt(const struct model *m, const char *text, size_t len, bool chat, char **out, size_t *out_len,
			char *err, size_t errlen)
{
	if (!chat) {
		if (!(*out = malloc(len + 1)))
			return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		memcpy(*out, text, len);
		(*out)[len] = 0;
		*out_len = len;
		return 0;
	}
	const char *nul = memchr(text, 0, len);
	if (nul)
		return kv_errf(err, errlen, KV_EINVAL, "--chat: the prompt holds a NUL byte at offset %zu, which a chat template cannot carry",
			       (size_t)(nul - text));
	if (m->chat.family == CHAT_NONE)
		return kv_errf(err, errlen, KV_EUNSUP, "--chat: %s has no chat template kvlab recognises (%s)", m->path,
			       m->chat.detail[0] ? m->chat.detail : "no template");
	int bos = m->tok ? tok_bos(m->tok) : -1;
	const char *bos_text = bos >= 0 ? tok_piece(m->tok, bos) : "";
	int rc = chat_render_user(&m->chat, bos_text, text, out, err, errlen);
	if (!rc)
		*out_len = strlen(*out);
	return rc;
}

struct prefill_report {
	const char *dump_path;
	struct kv_stats stats;
	int rc;
	char err[512];
};

/* Called by gen_greedy right after prefill: cache statistics and the selection dump. */
static void on_prefill(void *ctx, const struct fwd_session *s)
{
	struct prefill_report *r = ctx;
	selection_stats(s, &r->stats);
	if (r->dump_path)
		r->rc = selection_dump(s, r->dump_path, r->err, sizeof(r->err));
}

int cmd_generate(int argc, char **argv)
{
	struct generate_cfg cfg = { .model = cli_default_model(), .max_new_tokens = 64, .backend = "cpu" };
	const struct backend_ops *be = NULL;
	char err[512];
	struct model *m = NULL;
	char *file = NULL, *prompt = NULL, *text = NULL;
	int32_t *ids = NULL, *gen = NULL;
	int n = 0, n_gen = 0, n_entries = 0, ret = 1;
	struct kv_policy pol = { 0 };
	struct kv_method_entry *entries = NULL;
	size_t text_len = 0;
	int rc = cli_parse(&generate_cmd, argc, argv, &cfg, err, sizeof(err));
	if (rc)
		return rc == 1 ? 0 : fail(err);
	if (!cfg.prompt == !cfg.prompt_file) {
		fail("kvlab generate: give exactly one of --prompt TEXT or --prompt_file FILE");
		goto out;
	}
	enum kv_dtype kvt = KV_DTYPE_F32;
	if (cli_backend(cfg.backend, cfg.dtype, &be, err, sizeof(err)) || cli_kv_dtype(cfg.kv_dtype, be, &kvt, err, sizeof(err))) {
		fail(err);
		goto out;
	}
	/* the method list first: a flag no listed method takes fails before the model loads */
	if (kv_method_list_parse(kv_methods, "--method", cfg.methods.list ? cfg.methods.list : "fullkv", &cfg.methods.args, &entries, &n_entries,
				 err, sizeof(err))) {
		fail(err);
		goto out;
	}
	if (n_entries != 1) {
		fail("kvlab generate: --method takes one method (kvlab run compares several)");
		goto out;
	}
	size_t file_len = 0, prompt_len = 0;
	if (cfg.prompt_file && kv_read_file(cfg.prompt_file, &file, &file_len, err, sizeof(err))) {
		fail(err);
		goto out;
	}
	if (model_load(cfg.model, &m, err, sizeof(err)) || !m->tok) {
		fail(m ? "the model has no tokenizer" : err);
		goto out;
	}
	/* the whole file, as tokenize reads it (a NUL byte used to end the prompt here) */
	if (build_prompt(m, file ? file : cfg.prompt, file ? file_len : strlen(cfg.prompt), cfg.chat, &prompt, &prompt_len, err,
			 sizeof(err)) ||
	    tok_encode(m->tok, prompt, prompt_len, !cfg.chat, &ids, &n, err, sizeof(err))) {
		fail(err);
		goto out;
	}
	if (n == 0) {
		fail("kvlab generate: the prompt encodes to no tokens");
		goto out;
	}
	if (n + cfg.max_new_tokens > m->cfg.max_pos)
		fprintf(stderr, "kvlab: warning: %d prompt + %d new tokens exceed the model's context of %d\n", n,
			cfg.max_new_tokens, m->cfg.max_pos);
	struct kv_shape shape = { m->cfg.n_layer, m->cfg.n_head, m->cfg.n_head_kv, m->cfg.head_dim, m->cfg.n_embd };
	if (kv_policy_make(entries[0].m, &entries[0].args, &shape, &pol, err, sizeof(err))) {
		fail(err);
		goto out;
	}
	struct prefill_report rep = { .dump_path = cfg.dump_selection };
	struct gen_opts o = { .max_new_tokens = cfg.max_new_tokens, .n_threads = cfg.threads, .policy = &pol, .backend = be,
			      .kv_dtype = kvt, .on_prefill = on_prefill, .ctx = &rep };
	struct gen_stats st;
	if (gen_greedy(m, ids, n, &o, &gen, &n_gen, &st, err, sizeof(err)) ||
	    tok_decode(m->tok, gen, n_gen, true, &text, &text_len, err, sizeof(err))) {
		fail(err);
		goto out;
	}
	if (rep.rc) {
		fail(rep.err);
		goto out;
	}
	printf("%s\n", text);
	fflush(stdout);
	char desc[512];
	kv_policy_describe(&pol, desc, sizeof(desc));
	fprintf(stderr, "method: %s\n", desc);
	fprintf(stderr, "prompt tokens: %d\n", st.n_prompt);
	if (st.n_generated > 0)
		fprintf(stderr, "kv after prefill: %.1f / %.1f / %.1f entries per head per layer (min / mean / max), single heads "
				"%d..%d, %.2f MiB (%zu bytes)\n",
			rep.stats.min, rep.stats.mean, rep.stats.max, rep.stats.head_min, rep.stats.head_max,
			rep.stats.bytes / 1048576.0, rep.stats.bytes);
	fprintf(stderr, "generated tokens: %d\n", st.n_generated);
	fprintf(stderr, "prefill: %.2f s, %.1f tok/s\n", st.prefill_s, st.prefill_s > 0 ? st.n_prompt / st.prefill_s : 0.0);
	if (st.recon_s > 0)
		fprintf(stderr, "of which reconstruction (the method's second forward): %.2f s\n", st.recon_s);
	if (st.n_generated > 1)
		fprintf(stderr, "decode: %.2f s, %.2f tok/s\n", st.decode_s, (st.n_generated - 1) / st.decode_s);
	ret = 0;
out:
	kv_policy_free(&pol);
	kv_method_list_free(entries, n_entries);
	cli_methods_free(&cfg.methods);
	free(text);
	free(gen);
	free(ids);
	free(prompt);
	free(file);
	model_free(m);
	return ret;
}
