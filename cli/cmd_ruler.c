/* kvlab ruler generate: writes RULER task data (JSONL, the official layout) for a
 * length and a tokenizer, with the official generator's random streams. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/ruler.h"   // ruler_generate, ruler_tasks
#include "base/errors.h"
#include "engine/gguf.h"      // gguf_open
#include "engine/tokenizer.h" // tok_load_gguf, tok_load_json
#include "cli/cli.h"
#include "cli/commands.h"

struct ruler_cfg {
	const char *model, *task, *out, *rev, *words_dir, *haystack_dir, *qa_data;
	int length, samples, seed;
	bool quiet;
};

static const struct cli_flag gen_flags[] = {
	{ "--model", CLI_STR, offsetof(struct ruler_cfg, model), 0, 0, "PATH",
	  "tokenizer source: a GGUF (a tokenizer-only GGUF is enough), a tokenizer.json, or a folder holding one", false },
	{ "--task", CLI_STR, offsetof(struct ruler_cfg, task), 0, 0, "NAME",
	  "niah_single_1..3, niah_multikey_1..3, niah_multivalue, niah_multiquery, vt, cwe, fwe, qa_1, qa_2, or all", true },
	{ "--length", CLI_INT, offsetof(struct ruler_cfg, length), 256, 1 << 24, "N", "max_seq_length: input tokens + the task's allowance", true },
	{ "--samples", CLI_INT, offsetof(struct ruler_cfg, samples), 1, 1 << 24, "N", "samples per task", false },
	{ "--seed", CLI_INT, offsetof(struct ruler_cfg, seed), 0, 2147483647, "N", "RULER's random_seed", false },
	{ "--ruler_rev", CLI_STR, offsetof(struct ruler_cfg, rev), 0, 0, "REV",
	  "generator revision: 2024 (FastKV's files), 2024-12 (vt example re-randomized), head", false },
	{ "--out", CLI_STR, offsetof(struct ruler_cfg, out), 0, 0, "PATH", "output JSONL file (a folder with --task all: DIR/TASK.jsonl)", true },
	{ "--words_dir", CLI_STR, offsetof(struct ruler_cfg, words_dir), 0, 0, "DIR", "wonderwords lists (make model fetches them; default: models/wonderwords, found from any folder)", false },
	{ "--haystack_dir", CLI_STR, offsetof(struct ruler_cfg, haystack_dir), 0, 0, "DIR", "Paul Graham essays (.txt) for the essay haystack (default: ../shared/data/paul_graham_essays)", false },
	{ "--qa_data", CLI_STR, offsetof(struct ruler_cfg, qa_data), 0, 0, "PATH",
	  "qa_1: SQuAD v2.0 dev JSON; qa_2: HotpotQA dev distractor JSON (not shipped)", false },
	{ "--quiet", CLI_SWITCH, offsetof(struct ruler_cfg, quiet), 0, 0, "", "no progress on stderr", false },
	{ 0 },
};

static const struct cli_cmd gen_cmd = {
	"ruler generate",
	"Generates RULER data as RULER's own generator does (seed, sizing probes, templates, JSONL bytes),\n"
	"lengths counted with the given tokenizer. The default revision reproduces the 2024 generator that\n"
	"FastKV's RULER files come from.",
	gen_flags,
};

int ruler_tokenizer_open(const char *path, struct tokenizer **out, char *err, size_t errlen);

int ruler_tokenizer_open(const char *path, struct tokenizer **out, char *err, size_t errlen)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return kv_errf(err, errlen, KV_EIO, "--model %s: no such file or folder", path);
	size_t n = strlen(path);
	if (S_ISDIR(st.st_mode)) {
		char tj[4096], tc[4096];
		snprintf(tj, sizeof(tj), "%s/tokenizer.json", path);
		snprintf(tc, sizeof(tc), "%s/tokenizer_config.json", path);
		return tok_load_json(tj, stat(tc, &st) == 0 ? tc : NULL, out, err, errlen);
	}
	if (n > 5 && strcmp(path + n - 5, ".json") == 0)
		return tok_load_json(path, NULL, out, err, errlen);
	struct gguf_file *g = NULL;
	int rc = gguf_open(path, &g, err, errlen);
	if (rc)
		return rc;
	rc = tok_load_gguf(g, out, err, errlen);
	gguf_close(g);
	return rc;
}

static int generate(int argc, char **argv)
{
	struct ruler_cfg c = { .model = cli_default_model(), .samples = 500, .seed = 42, .rev = "2024",
			       .words_dir = NULL, .haystack_dir = NULL }; /* NULL: the defaults, found from any folder */
	char err[1024];
	struct tokenizer *tok = NULL;
	int rc = cli_parse(&gen_cmd, argc, argv, &c, err, sizeof(err));
	if (rc)
		return rc == 1 ? 0 : (fprintf(stderr, "kvlab: %s\n", err), 1);
	enum ruler_rev rev;
	if (ruler_rev_parse(c.rev, &rev, err, sizeof(err)) || ruler_tokenizer_open(c.model, &tok, err, sizeof(err))) {
		fprintf(stderr, "kvlab: %s\n", err);
		return 1;
	}
	bool all = strcmp(c.task, "all") == 0;
	if (all)
		mkdir(c.out, 0755);
	int failed = 0;
	for (int t = 0; t < RULER_N_TASKS; t++) {
		const char *name = all ? ruler_tasks[t].name : c.task;
		if (all && ruler_tasks[t].family == RULER_QA && !c.qa_data) {
			fprintf(stderr, "kvlab ruler: skipping %s (needs --qa_data)\n", name);
			continue;
		}
		char path[4096];
		snprintf(path, sizeof(path), all ? "%s/%s.jsonl" : "%s", c.out, name);
		char tmp[4200]; /* per process: two runs generating the same file must not share it */
		snprintf(tmp, sizeof(tmp), "%s.part%ld", path, (long)getpid());
		FILE *f = fopen(tmp, "w");
		if (!f) {
			fprintf(stderr, "kvlab: --out %s: cannot write there\n", path);
			failed = 1;
			break;
		}
		struct ruler_gen_opts o = { .task = name, .length = c.length, .samples = c.samples, .seed = (uint64_t)c.seed, .rev = rev,
					    .tok = tok, .words_dir = c.words_dir, .haystack_dir = c.haystack_dir, .qa_data = c.qa_data,
					    .quiet = c.quiet };
		int n = 0;
		rc = ruler_generate(&o, f, &n, err, sizeof(err));
		if (fclose(f) != 0 && !rc)
			rc = kv_errf(err, sizeof(err), KV_EIO, "%s: write failed", path);
		if (!rc && rename(tmp, path) != 0)
			rc = kv_errf(err, sizeof(err), KV_EIO, "--out %s: cannot move %s into place: %s", path, tmp, strerror(errno));
		if (rc) {
			remove(tmp);
			fprintf(stderr, "kvlab: %s\n", err);
			failed = 1;
			break;
		}
		if (!c.quiet)
			fprintf(stderr, "ruler: %s: %d samples -> %s\n", name, n, path);
		if (!all)
			break;
	}
	tok_free(tok);
	return failed;
}

int cmd_ruler(int argc, char **argv)
{
	if (argc >= 1 && strcmp(argv[0], "generate") == 0)
		return generate(argc - 1, argv + 1);
	FILE *f = argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) ? stdout : stderr;
	fprintf(f, "usage: kvlab ruler generate [flags]   (kvlab ruler generate --help)\n");
	return f == stdout ? 0 : 2;
}
