/* Needle-in-a-haystack task (datasets/needle.h). Mirrors FastKV's eval/run_needle_in_haystack.py
 * (itself from FranxYao/Long-Context-Data-Engineering): grid of context lengths x depth percents,
 * haystack trimmed by decode/re-encode, the needle inserted at a token position walked back to
 * a period token, a 200-token buffer, the LLaMA3-provider prompt, 30 greedy tokens stopping at
 * EOS or "\n", ROUGE-1 x 10 against the needle and visualize.py's set overlap. See
 * ../shared/spec/eval.md section 4 and Appendix D2. */
#include "datasets/needle.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/chat.h"      // defines: chat_render_user, CHAT_NONE
#include "base/errors.h"
#include "base/paths.h"     // kv_find_default, kv_abs_path    // defines: kv_errf, KV_E*
#include "engine/model.h"     // defines: struct model
#include "engine/tokenizer.h" // defines: tok_encode, tok_decode, tok_bos, tok_piece, tok_n_vocab

/* Official prompt (generate_prompt of the LLaMA3 and Mistral providers), {context} then {question}. */
#define NEEDLE_PROMPT_HEAD "<|im_start|> This is a very long story book: <book> "
#define NEEDLE_PROMPT_MID " </book>.\n Based on the content of the book, Question: "
#define NEEDLE_PROMPT_TAIL "\nAnswer:"

// ----------------------------------------------------------------------------
// grid

int needle_parse_list(const char *flag, const char *list, int lo, int hi, int **out, int *n, char *err, size_t errlen)
{
	int cnt = 1;
	for (const char *c = list; *c; c++)
		cnt += *c == ',';
	int *v = malloc((size_t)cnt * sizeof(*v));
	if (!v)
		return kv_errf(err, errlen, KV_ENOMEM, "%s: out of memory", flag);
	const char *p = list;
	for (int i = 0; i < cnt; i++, p += strcspn(p, ",") + 1) {
		size_t ilen = strcspn(p, ",");
		const char *s = p + strspn(p, " ");
		char *end = NULL;
		long x = 0;
		errno = 0;
		if ((*s >= '0' && *s <= '9') || ((*s == '-' || *s == '+') && s[1] >= '0' && s[1] <= '9'))
			x = strtol(s, &end, 10);
		if (!end || end == s || errno || end + strspn(end, " ") != p + ilen) {
			free(v);
			return kv_errf(err, errlen, KV_EINVAL,
				       "%s: expected a comma-separated list of integers, got '%s' (bad item '%.*s')", flag, list,
				       (int)ilen, p);
		}
		if (x < lo || x > hi) {
			free(v);
			return kv_errf(err, errlen, KV_EINVAL, "%s: %ld is out of range [%d, %d] in '%s'", flag, x, lo, hi, list);
		}
		for (int j = 0; j < i; j++)
			if (v[j] == (int)x) {
				free(v);
				return kv_errf(err, errlen, KV_EINVAL, "%s: %ld appears twice in '%s'", flag, x, list);
			}
		v[i] = (int)x;
	}
	*out = v;
	*n = cnt;
	return 0;
}

// ----------------------------------------------------------------------------
// insertion

static bool is_period(int32_t id, const int32_t *period, int n_period)
{
	for (int i = 0; i < n_period; i++)
		if (period[i] == id)
			return true;
	return false;
}

int needle_insert_pos(const int32_t *ctx, int n_ctx, int depth, const int32_t *period, int n_period)
{
	if (depth >= 100)
		return n_ctx;
	/* int(len(ctx) * (depth / 100)) in doubles, as the official code: 100 * (29 / 100) is 28.999... -> 28 */
	int p = (int)(n_ctx * (depth / 100.0));
	while (p > 0 && !is_period(ctx[p - 1], period, n_period))
		p--;
	return p;
}

int needle_insert(const int32_t *ctx, int n_ctx, const int32_t *needle, int n_needle, int budget, int depth,
		  const int32_t *period, int n_period, int32_t **out, int *n_out, int *pos, char *err, size_t errlen)
{
	if (n_needle > budget)
		return kv_errf(err, errlen, KV_EINVAL, "needle of %d tokens does not fit a budget of %d tokens", n_needle, budget);
	if (n_ctx + n_needle > budget)
		n_ctx = budget - n_needle;
	int p = needle_insert_pos(ctx, n_ctx, depth, period, n_period);
	int32_t *v = malloc((size_t)(n_ctx + n_needle > 0 ? n_ctx + n_needle : 1) * sizeof(*v));
	if (!v)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory inserting the needle");
	for (int i = 0; i < p; i++)
		v[i] = ctx[i];
	for (int i = 0; i < n_needle; i++)
		v[p + i] = needle[i];
	for (int i = p; i < n_ctx; i++)
		v[n_needle + i] = ctx[i];
	*out = v;
	*n_out = n_ctx + n_needle;
	*pos = p;
	return 0;
}

int needle_period_ids(const struct tokenizer *t, int32_t **ids, int *n, char *err, size_t errlen)
{
	int32_t *v = NULL;
	int cnt = 0, cap = 0, rc = 0;
	for (int32_t id = 0; id < tok_n_vocab(t); id++) {
		const char *piece = tok_piece(t, id);
		if (!piece || !strchr(piece, '.')) /* every spelling of "." keeps a '.' in its piece */
			continue;
		char *text = NULL;
		size_t len = 0;
		if ((rc = tok_decode(t, &id, 1, false, &text, &len, err, errlen)) != 0)
			goto out_free;
		bool match = len == 1 && text[0] == '.';
		free(text);
		if (!match)
			continue;
		if (cnt == cap) {
			cap = cap ? 2 * cap : 4;
			int32_t *nv = realloc(v, (size_t)cap * sizeof(*nv));
			if (!nv) {
				rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
				goto out_free;
			}
			v = nv;
		}
		v[cnt++] = id;
	}
	*ids = v;
	*n = cnt;
	return 0;
out_free:
	free(v);
	return rc;
}

// ----------------------------------------------------------------------------
// the needle's span in a prompt

/* Whether the decode of ids[a..b) holds the needle sentence (len bytes at want). */
static int span_holds(const struct tokenizer *t, const int32_t *ids, int a, int b, const char *want, size_t len,
		      bool *holds, char *err, size_t errlen)
{
	char *text = NULL;
	size_t n = 0;
	int rc = tok_decode(t, ids + a, b - a, false, &text, &n, err, errlen);
	*holds = false;
	for (size_t i = 0; !rc && i + len <= n && !*holds; i++)
		*holds = memcmp(text + i, want, len) == 0;
	free(text);
	return rc;
}

int needle_span(const struct tokenizer *t, const int32_t *ids, int n, bool *found, int *start, int *end, char *err,
		size_t errlen)
{
	/* the sentence alone: the needle's "\n" on either side may merge with the tokens around it */
	const char *want = &NEEDLE_TEXT[strspn(NEEDLE_TEXT, "\n")];
	size_t len = strlen(want);
	while (len && want[len - 1] == '\n')
		len--;
	bool h = false;
	int rc;
	*found = false;
	*start = *end = 0;
	if ((rc = span_holds(t, ids, 0, n, want, len, &h, err, errlen)) || !h)
		return rc;
	/* a longer window holds what a shorter one holds (a decode is its tokens' text joined),
	 * so the first end that holds it and then the last start are found by bisection */
	int lo = 1, hi = n;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if ((rc = span_holds(t, ids, 0, mid, want, len, &h, err, errlen)))
			return rc;
		if (h)
			hi = mid;
		else
			lo = mid + 1;
	}
	int e = lo;
	lo = 0;
	hi = e - 1;
	while (lo < hi) {
		int mid = lo + (hi - lo + 1) / 2;
		if ((rc = span_holds(t, ids, mid, e, want, len, &h, err, errlen)))
			return rc;
		if (h)
			lo = mid;
		else
			hi = mid - 1;
	}
	*found = true;
	*start = lo;
	*end = e;
	return 0;
}

// ----------------------------------------------------------------------------
// the task

struct needle_state {
	const struct model *m;      /* borrowed */
	const struct tokenizer *tok; /* borrowed: m->tok */
	bool chat;
	int *lens, n_lens;          /* (n_lens,) context lengths, as given */
	int *depths, n_depths;      /* (n_depths,) depth percents, as given */
	int n_samples;              /* n_lens * n_depths, or --limit */
	char *hay;                  /* haystack text, repeated until it holds max(lens) tokens */
	size_t hay_len;
	int32_t *hay_ids;           /* (n_hay,) hay encoded without special tokens */
	int n_hay;
	int n_files;
	size_t file_bytes;          /* one pass of the files, after newline translation */
	uint64_t hay_hash;          /* FNV-1a 64 of one pass */
	char hay_dir[1024];         /* --haystack_dir made absolute; "" for the default (its hash names it) */
	int32_t *needle_ids;        /* (n_needle,) */
	int n_needle;
	int32_t *period;            /* (n_period,) */
	int n_period;
	int32_t nl_id;              /* last id of encode("\n"): a stop id */
};

static uint64_t fnv1a64(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

static void needle_close(void *state)
{
	struct needle_state *st = state;
	if (!st)
		return;
	free(st->lens);
	free(st->depths);
	free(st->hay);
	free(st->hay_ids);
	free(st->needle_ids);
	free(st->period);
	free(st);
}

/* Repeats the files' text until it encodes to at least max_len tokens (the official loop
 * re-encodes the whole haystack after each full pass). */
static int build_haystack(struct needle_state *st, const char *dir, int max_len, char *err, size_t errlen)
{
	char *once = NULL;
	int rc;
	if ((rc = haystack_read_dir(dir, &once, &st->file_bytes, &st->n_files, err, errlen)) != 0)
		return rc;
	st->hay_hash = fnv1a64(once, st->file_bytes);
	while (st->n_hay < max_len) {
		if (st->file_bytes == 0 || st->hay_len > (size_t)INT_MAX) {
			rc = kv_errf(err, errlen, KV_EINVAL, "--haystack_dir %s: the essays never reach %d tokens", dir, max_len);
			break;
		}
		char *grown = realloc(st->hay, st->hay_len + st->file_bytes + 1);
		if (!grown) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory building the haystack");
			break;
		}
		st->hay = grown;
		memcpy(st->hay + st->hay_len, once, st->file_bytes + 1);
		st->hay_len += st->file_bytes;
		free(st->hay_ids);
		st->hay_ids = NULL;
		st->n_hay = 0;
		if ((rc = tok_encode(st->tok, st->hay, st->hay_len, false, &st->hay_ids, &st->n_hay, err, errlen)) != 0)
			break;
		if (st->n_hay == 0) {
			rc = kv_errf(err, errlen, KV_EINVAL, "--haystack_dir %s: the essays encode to no tokens", dir);
			break;
		}
	}
	free(once);
	return rc;
}

static int needle_open(const struct task_args *a, const struct model *m, void **state, char *err, size_t errlen)
{
	if (strcmp(a->task, "needle") != 0)
		return kv_errf(err, errlen, KV_EINVAL, "--task %s: the needle task has no sub-tasks (use --task needle)", a->task);
	if (!m->tok)
		return kv_errf(err, errlen, KV_EINVAL, "--task needle: the model %s has no tokenizer", m->path ? m->path : "");
	if (a->chat && m->chat.family == CHAT_NONE)
		return kv_errf(err, errlen, KV_EUNSUP, "--chat: %s has no chat template kvlab recognises (%s)",
			       m->path ? m->path : "the model", m->chat.detail[0] ? m->chat.detail : "no template");
	struct needle_state *st = calloc(1, sizeof(*st));
	if (!st)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	st->m = m;
	st->tok = m->tok;
	st->chat = a->chat;
	int32_t *nl = NULL;
	int rc, n_nl = 0;
	char hay_dir[1024];
	const char *dir = a->data ? a->data : kv_find_default(NEEDLE_DEFAULT_HAYSTACK, hay_dir, sizeof(hay_dir));
	if ((rc = needle_parse_list("--context_lengths", a->context_lengths ? a->context_lengths : NEEDLE_DEFAULT_LENGTHS, 1,
				    100000000, &st->lens, &st->n_lens, err, errlen)) != 0 ||
	    (rc = needle_parse_list("--depths", a->depths ? a->depths : NEEDLE_DEFAULT_DEPTHS, 0, 100, &st->depths,
				    &st->n_depths, err, errlen)) != 0)
		goto out_fail;
	if ((rc = tok_encode(st->tok, NEEDLE_TEXT, strlen(NEEDLE_TEXT), false, &st->needle_ids, &st->n_needle, err, errlen)) != 0 ||
	    (rc = tok_encode(st->tok, "\n", 1, false, &nl, &n_nl, err, errlen)) != 0 ||
	    (rc = needle_period_ids(st->tok, &st->period, &st->n_period, err, errlen)) != 0)
		goto out_fail;
	if (n_nl == 0) {
		rc = kv_errf(err, errlen, KV_EINTERNAL, "--task needle: \"\\n\" encodes to no tokens");
		goto out_fail;
	}
	st->nl_id = nl[n_nl - 1];
	int max_len = 0;
	for (int i = 0; i < st->n_lens; i++) {
		if (st->lens[i] <= st->n_needle + NEEDLE_BUFFER) {
			rc = kv_errf(err, errlen, KV_EINVAL,
				     "--context_lengths: %d leaves no room for the haystack (it must exceed the %d-token needle + the %d-token buffer = %d)",
				     st->lens[i], st->n_needle, NEEDLE_BUFFER, st->n_needle + NEEDLE_BUFFER);
			goto out_fail;
		}
		if (st->lens[i] > max_len)
			max_len = st->lens[i];
	}
	if (m->cfg.max_pos > 0 && max_len > m->cfg.max_pos && !a->beyond_context) { /* 0: context unknown */
		rc = kv_errf(err, errlen, KV_EINVAL,
			     "--context_lengths: %d exceeds the model's context (%d tokens)%s; give lengths up to %d, or --beyond_context to run them anyway",
			     max_len, m->cfg.max_pos, a->context_lengths ? "" : " (the default is the official 16000..128000 grid)",
			     m->cfg.max_pos);
		goto out_fail;
	}
	if (max_len > 16384) /* tokenizing essays takes seconds per 10K tokens: say so before it starts */
		fprintf(stderr, "needle: building a %d-token haystack from %s (tokenizing the essays)\n", max_len, dir);
	if ((rc = build_haystack(st, dir, max_len, err, errlen)) != 0)
		goto out_fail;
	if (a->data)
		kv_abs_path(a->data, st->hay_dir, sizeof(st->hay_dir));
	st->n_samples = st->n_lens * st->n_depths;
	if (a->limit > 0 && a->limit < st->n_samples)
		st->n_samples = a->limit;
	free(nl);
	*state = st;
	return 0;
out_fail:
	free(nl);
	needle_close(st);
	return rc;
}

static int needle_count(const void *state)
{
	return ((const struct needle_state *)state)->n_samples;
}

/* The haystack trimmed to L tokens and re-encoded (encode_and_trim + insert_needle's encode). */
static int trimmed_context(const struct needle_state *st, int L, int32_t **ids, int *n, char *err, size_t errlen)
{
	if (st->n_hay <= L)
		return tok_encode(st->tok, st->hay, st->hay_len, false, ids, n, err, errlen);
	char *text = NULL;
	size_t len = 0;
	int rc = tok_decode(st->tok, st->hay_ids, L, true, &text, &len, err, errlen);
	if (rc == 0)
		rc = tok_encode(st->tok, text, len, false, ids, n, err, errlen);
	free(text);
	return rc;
}

/* The official prompt text around context (eval/prompt.c renders it as a chat turn with --chat). */
static char *render_prompt(const char *context, size_t context_len)
{
	size_t n = strlen(NEEDLE_PROMPT_HEAD) + context_len + strlen(NEEDLE_PROMPT_MID) + strlen(NEEDLE_QUESTION) +
		   strlen(NEEDLE_PROMPT_TAIL) + 1;
	char *plain = malloc(n);
	if (plain)
		snprintf(plain, n, "%s%.*s%s%s%s", NEEDLE_PROMPT_HEAD, (int)context_len, context, NEEDLE_PROMPT_MID,
			 NEEDLE_QUESTION, NEEDLE_PROMPT_TAIL);
	return plain;
}

static char *json_print_free(cJSON *o)
{
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	return s;
}

static int needle_sample(void *state, int i, struct task_sample *out, char *err, size_t errlen)
{
	struct needle_state *st = state;
	if (i < 0 || i >= st->n_samples)
		return kv_errf(err, errlen, KV_EINVAL, "needle: sample %d out of range [0, %d)", i, st->n_samples);
	int L = st->lens[i / st->n_depths], depth = st->depths[i % st->n_depths];
	int32_t *ctx = NULL, *with = NULL;
	int n_ctx = 0, n_with = 0, pos = 0, rc;
	char *context = NULL;
	size_t context_len = 0;
	struct task_sample s = { 0 };
	if ((rc = trimmed_context(st, L, &ctx, &n_ctx, err, errlen)) != 0)
		goto out;
	if ((rc = needle_insert(ctx, n_ctx, st->needle_ids, st->n_needle, L - NEEDLE_BUFFER, depth, st->period, st->n_period,
				&with, &n_with, &pos, err, errlen)) != 0 ||
	    (rc = tok_decode(st->tok, with, n_with, true, &context, &context_len, err, errlen)) != 0)
		goto out;
	/* plain: the model's BOS rule; --chat: one user turn of the template and no BOS of our own */
	s.text = render_prompt(context, context_len);
	/* the question part: from the newline after " </book>." on (question, "\nAnswer:") */
	s.question_split = true;
	s.question_at = strlen(NEEDLE_PROMPT_HEAD) + context_len + strcspn(NEEDLE_PROMPT_MID, "\n");
	s.chat = st->chat;
	s.add_special = !st->chat;
	char id[64];
	snprintf(id, sizeof(id), "len_%d_depth_%d", L, depth);
	s.id = strdup(id);
	s.max_new_tokens = NEEDLE_MAX_NEW_TOKENS;
	s.stop_ids[0] = st->nl_id;
	s.n_stop = 1;
	s.eos_stop = true;
	s.index = i;
	s.strip = true;
	cJSON *answers = cJSON_CreateArray(), *meta = cJSON_CreateObject();
	if (answers)
		cJSON_AddItemToArray(answers, cJSON_CreateString(NEEDLE_TEXT));
	if (meta) {
		cJSON_AddNumberToObject(meta, "context_length", L);
		cJSON_AddNumberToObject(meta, "depth_percent", depth);
		cJSON_AddNumberToObject(meta, "needle_pos", pos);
	}
	s.answers_json = json_print_free(answers);
	s.meta_json = json_print_free(meta);
	static const char *const refs[2] = { NEEDLE_EXPECTED, NEEDLE_TEXT }; /* overlap's, rouge1's */
	snprintf(s.metric, sizeof(s.metric), "needle");
	if (!s.text || !s.id || !s.answers_json || !s.meta_json || task_sample_set_strings(&s, false, refs, 2)) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory building sample %s", id);
		goto out;
	}
	*out = s;
	memset(&s, 0, sizeof(s));
out:
	task_sample_free(&s);
	free(context);
	free(with);
	free(ctx);
	return rc;
}

static void needle_protocol(const void *state, struct task_protocol *out)
{
	(void)state;
	*out = (struct task_protocol){ .cap_rule = TASK_CAP_NONE };
}

static void needle_describe(const void *state, const struct task_cap *cap, char *buf, size_t len)
{
	(void)cap; /* no cap */
	const struct needle_state *st = state;
	char hash[17];
	snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)st->hay_hash);
	cJSON *o = cJSON_CreateObject();
	if (o) {
		cJSON_AddStringToObject(o, "task", "needle");
		cJSON_AddItemToObject(o, "context_lengths", cJSON_CreateIntArray(st->lens, st->n_lens));
		cJSON_AddItemToObject(o, "depth_percents", cJSON_CreateIntArray(st->depths, st->n_depths));
		cJSON_AddStringToObject(o, "haystack_order", "sorted by file name (strcmp); the official glob order is unspecified");
		if (st->hay_dir[0])
			cJSON_AddStringToObject(o, "haystack_dir", st->hay_dir);
		cJSON_AddNumberToObject(o, "haystack_files", st->n_files);
		cJSON_AddNumberToObject(o, "haystack_bytes", (double)st->file_bytes);
		cJSON_AddStringToObject(o, "haystack_fnv1a64", hash);
		cJSON_AddStringToObject(o, "needle", NEEDLE_TEXT);
		cJSON_AddStringToObject(o, "retrieval_question", NEEDLE_QUESTION);
		cJSON_AddStringToObject(o, "expected_answer", NEEDLE_EXPECTED);
		cJSON_AddNumberToObject(o, "buffer_tokens", NEEDLE_BUFFER);
		cJSON *p = cJSON_AddArrayToObject(o, "period_ids");
		for (int i = 0; p && i < st->n_period; i++)
			cJSON_AddItemToArray(p, cJSON_CreateNumber(st->period[i]));
		cJSON_AddStringToObject(o, "prompt", st->chat ? "official, as one user turn of the chat template, no extra BOS"
							       : "official (LLaMA3 provider), plain, model's BOS rule");
		cJSON_AddNumberToObject(o, "max_new_tokens", NEEDLE_MAX_NEW_TOKENS);
		cJSON_AddNumberToObject(o, "stop_id_newline", st->nl_id);
		cJSON_AddStringToObject(o, "scores", "overlap (visualize.py), rouge1_x10 (rouge_score + nltk porter)");
	}
	char *s = json_print_free(o);
	snprintf(buf, len, "%s", s ? s : "{}");
	free(s);
}

const struct kv_task needle_task = {
	.name = "needle",
	.summary = "needle-in-a-haystack (FastKV run_needle_in_haystack.py): context lengths x depths over Paul Graham essays",
	.open = needle_open,
	.count = needle_count,
	.sample = needle_sample,
	.protocol = needle_protocol,
	.describe = needle_describe,
	.close = needle_close,
	.primary_metric = "overlap",
};
