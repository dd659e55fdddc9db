/* The query-agnostic protocol (--protocol context_first): fwd_extend against one whole
 * prefill, gen_context against gen_greedy (full KV: the same cache, so the same tokens),
 * a retention method keeping on the context exactly what a prefill of the context alone
 * keeps (alone and on a shared prefill), questions answered again from one compression,
 * and every task's token split (eval/prompt.c) on the SmolLM2 tokenizer. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/errors.h"
#include "datasets/task.h"
#include "engine/extend.h"      // fwd_extend
#include "engine/forward.h"     // fwd_session_*, fwd_prefill
#include "engine/gen_context.h" // gen_context_*
#include "engine/generate.h"    // gen_greedy
#include "engine/kvcache.h"     // struct kv_cache
#include "engine/model.h"
#include "engine/tokenizer.h"   // tok_decode
#include "eval/prompt.h"        // prompt_set_build
#include "tests/smollm.h" // smollm
#include "tests/test.h"
#include "tests/test_policy.h"  // t_policy_make, t_tiny_model, t_random_ids

#define N_IDS 48
#define N_CTX 37
#define MAX_NEW 6

static struct model *g_tiny;
static int32_t *g_ids;

static float max_abs_diff(const float *a, const float *b, int n)
{
	float d = 0.0f;
	for (int i = 0; i < n; i++)
		d = fabsf(a[i] - b[i]) > d ? fabsf(a[i] - b[i]) : d;
	return d;
}

/* Last-row logits of a whole prefill of ids[0..n) (V,), caller frees. */
static float *whole_logits(const struct model *m, const int32_t *ids, int n)
{
	float *lg = NULL;
	char err[256];
	if (fwd_logits(m, ids, n, false, 1, &lg, err, sizeof(err)))
		fprintf(stderr, "  fwd_logits: %s\n", err);
	return lg;
}

/* Last-row logits of a prefill of ids[0..k) extended by ids[k..n) one chunk (V,), caller frees. */
static float *extended_logits(const struct model *m, const int32_t *ids, int k, int n)
{
	struct fwd_session *s = NULL;
	float *lg = malloc(sizeof(float) * (size_t)m->cfg.n_vocab);
	char err[256];
	int rc = !lg ? KV_ENOMEM : fwd_session_init(m, NULL, 0, 1, &s, err, sizeof(err));
	if (!rc)
		rc = fwd_prefill(s, ids, k, false, lg, err, sizeof(err));
	if (!rc)
		rc = fwd_extend(s, ids + k, n - k, lg, err, sizeof(err));
	if (!rc) /* every head holds every position once, in order */
		for (int l = 0; l < s->cache->n_layer && !rc; l++)
			for (int h = 0; h < s->cache->layers[l].n_head && !rc; h++)
				for (int t = 0; t < n && !rc; t++)
					if (s->cache->layers[l].len[h] != n || s->cache->layers[l].pos[(size_t)h * s->cache->layers[l].cap + t] != t)
						rc = kv_errf(err, sizeof(err), KV_EINTERNAL, "layer %d head %d: entry %d is not position %d", l, h, t, t);
	if (rc) {
		fprintf(stderr, "  extend: %s\n", err);
		free(lg);
		lg = NULL;
	}
	fwd_session_free(s);
	return lg;
}

static void extend_over_a_prefill_should_give_the_logits_of_one_whole_prefill(void)
{
	int V = g_tiny->cfg.n_vocab;
	float *a = whole_logits(g_tiny, g_ids, N_IDS);
	for (int k = N_CTX; k < N_IDS; k += N_IDS - 1 - N_CTX) { /* an 11-token chunk, then a 1-token one */
		float *b = extended_logits(g_tiny, g_ids, k, N_IDS);
		T_CHECK(a && b, "logits");
		if (a && b) {
			float d = max_abs_diff(a, b, V);
			printf("  extend after %d of %d tokens: max|diff| %.2e, tol 1e-4\n", k, N_IDS, d);
			T_CHECK(d < 1e-4f, "max|diff| %g", d);
		}
		free(b);
	}
	free(a);
	char err[256];
	struct fwd_session *s = NULL;
	float lg[256];
	T_CHECK(fwd_session_init(g_tiny, NULL, 0, 1, &s, err, sizeof(err)) == 0, "%s", err);
	T_CHECK(fwd_extend(s, g_ids, 3, lg, err, sizeof(err)) == KV_EINVAL && strstr(err, "prefilled"),
		"extend of an empty session: %s", err);
	fwd_session_free(s);
}

/* Checks that member i's cache in c holds, per layer and head, the positions ref's cache holds. */
static void check_same_positions(const struct kv_cache *got, const struct kv_cache *ref, const char *what)
{
	int bad = 0;
	for (int l = 0; l < ref->n_layer && !bad; l++) {
		const struct kv_layer *a = &got->layers[l], *b = &ref->layers[l];
		if (a->n_head != b->n_head) {
			bad = 1;
			T_CHECK(0, "%s: layer %d holds %d heads, the reference %d", what, l, a->n_head, b->n_head);
			break;
		}
		for (int h = 0; h < b->n_head && !bad; h++) {
			bad = b->len[h] > a->len[h] ||
			      memcmp(a->pos + (size_t)h * a->cap, b->pos + (size_t)h * b->cap, sizeof(int32_t) * (size_t)b->len[h]);
			T_CHECK(!bad, "%s: layer %d head %d keeps other positions than the reference (%d vs %d entries)", what, l, h,
				a->len[h], b->len[h]);
		}
	}
}

/* gen_greedy of the whole prompt under o. */
static int32_t *whole_greedy(const struct gen_opts *o, int *n)
{
	int32_t *out = NULL;
	char err[256];
	if (gen_greedy(g_tiny, g_ids, N_IDS, o, &out, n, NULL, err, sizeof(err)))
		fprintf(stderr, "  gen_greedy: %s\n", err);
	return out;
}

static void fullkv_context_first_should_generate_what_the_whole_prompt_generates(void)
{
	char err[256];
	struct gen_opts o = { .max_new_tokens = MAX_NEW, .n_threads = 1, .no_eos_stop = true };
	const struct gen_opts *op[1] = { &o };
	struct gen_context *c = NULL;
	int n_ref = 0, n_got = 0;
	int32_t *ref = whole_greedy(&o, &n_ref), *got = NULL;
	int rc = gen_context_prefill(g_tiny, g_ids, N_CTX, op, 1, &c, err, sizeof(err));
	T_CHECK(rc == 0, "prefill: %s", err);
	if (!rc)
		rc = gen_context_answer(c, g_ids + N_CTX, N_IDS - N_CTX, op, 1, &got, &n_got, NULL, err, sizeof(err));
	T_CHECK(rc == 0, "answer: %s", err);
	T_CHECK(ref && got && n_ref == MAX_NEW && n_got == n_ref && !memcmp(ref, got, sizeof(int32_t) * (size_t)n_ref),
		"context_first generated other tokens than the whole prompt (%d vs %d)", n_got, n_ref);
	printf("  %d tokens equal to gen_greedy on the whole prompt\n", n_got);
	free(ref);
	free(got);
	gen_context_free(c);
}

static void snapkv_context_first_should_keep_what_a_prefill_of_the_context_alone_keeps(void)
{
	static const char *const kv[] = { "max_capacity_prompts", "12", "window_size", "4", "kernel_size", "3", NULL };
	static const char *const none[] = { NULL };
	struct kv_policy snap = { 0 }, snap_ref = { 0 }, full = { 0 };
	char err[256];
	int rc = t_policy_make("snapkv", kv, g_tiny, &snap, err, sizeof(err));
	if (!rc)
		rc = t_policy_make("snapkv", kv, g_tiny, &snap_ref, err, sizeof(err));
	if (!rc)
		rc = t_policy_make("fullkv", none, g_tiny, &full, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	struct fwd_session *ref = NULL;
	float *lg = malloc(sizeof(float) * 256);
	if (!rc)
		rc = fwd_session_init(g_tiny, &snap_ref, 0, 1, &ref, err, sizeof(err));
	if (!rc)
		rc = fwd_prefill(ref, g_ids, N_CTX, false, lg, err, sizeof(err));
	T_CHECK(rc == 0, "reference prefill: %s", err);
	/* alone, then on one prefill shared with full KV (members in both orders) */
	for (int form = 0; form < 3 && !rc; form++) {
		struct gen_opts os = { .max_new_tokens = MAX_NEW, .n_threads = 1, .policy = &snap, .no_eos_stop = true };
		struct gen_opts of = { .max_new_tokens = MAX_NEW, .n_threads = 1, .policy = &full, .no_eos_stop = true };
		const struct gen_opts *op[2] = { form == 2 ? &of : &os, form == 2 ? &os : &of };
		int n = form == 0 ? 1 : 2, si = form == 2 ? 1 : 0;
		struct gen_context *c = NULL;
		int32_t *out[2] = { 0 };
		int n_out[2];
		rc = gen_context_prefill(g_tiny, g_ids, N_CTX, op, n, &c, err, sizeof(err));
		T_CHECK(rc == 0, "prefill: %s", err);
		if (rc)
			break;
		check_same_positions(c->s[si]->cache, ref->cache, form == 0 ? "snapkv alone" : "snapkv shared with fullkv");
		rc = gen_context_answer(c, g_ids + N_CTX, N_IDS - N_CTX, op, n, out, n_out, NULL, err, sizeof(err));
		T_CHECK(rc == 0, "answer: %s", err);
		/* after the answer: the same compressed context, then the question and the decoded tokens in order */
		check_same_positions(c->s[si]->cache, ref->cache, "snapkv after the answer");
		const struct kv_layer *L = &c->s[si]->cache->layers[1];
		int extra = L->len[0] - ref->cache->layers[1].len[0];
		T_CHECK(extra == N_IDS - N_CTX + MAX_NEW - 1, "layer 1 head 0 gained %d entries, want %d", extra,
			N_IDS - N_CTX + MAX_NEW - 1);
		for (int t = 0; t < extra && extra > 0; t++)
			T_CHECK(L->pos[ref->cache->layers[1].len[0] + t] == N_CTX + t, "appended entry %d holds position %d", t,
				L->pos[ref->cache->layers[1].len[0] + t]);
		int kept = ref->cache->layers[1].len[0];
		T_CHECK(kept < N_CTX, "snapkv kept all %d context tokens: the check compares nothing", kept);
		if (form == 0)
			printf("  snapkv keeps %d of %d context tokens per head, as a prefill of the context alone does\n", kept, N_CTX);
		for (int i = 0; i < n; i++)
			free(out[i]);
		gen_context_free(c);
	}
	fwd_session_free(ref);
	free(lg);
	kv_policy_free(&snap);
	kv_policy_free(&snap_ref);
	kv_policy_free(&full);
}

static void questions_on_one_compression_should_be_answered_as_from_a_fresh_one(void)
{
	static const char *const kv[] = { "max_capacity_prompts", "12", "window_size", "4", "kernel_size", "3", NULL };
	struct kv_policy snap = { 0 };
	char err[256];
	int rc = t_policy_make("snapkv", kv, g_tiny, &snap, err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	struct gen_opts o = { .max_new_tokens = MAX_NEW, .n_threads = 1, .policy = &snap, .no_eos_stop = true };
	const struct gen_opts *op[1] = { &o };
	int32_t q2[5] = { 3, 14, 15, 92, 65 };
	int32_t *a[3] = { 0 }, *fresh = NULL;
	int na[3] = { 0 }, nf = 0;
	struct gen_context *c = NULL, *c2 = NULL;
	struct gen_stats st[3];
	if (!rc)
		rc = gen_context_prefill(g_tiny, g_ids, N_CTX, op, 1, &c, err, sizeof(err));
	/* question 1, question 2, question 1 again: one compression */
	for (int i = 0; i < 3 && !rc; i++)
		rc = gen_context_answer(c, i == 1 ? q2 : g_ids + N_CTX, i == 1 ? 5 : N_IDS - N_CTX, op, 1, &a[i], &na[i], &st[i],
					err, sizeof(err));
	T_CHECK(rc == 0, "%s", err);
	if (!rc)
		rc = gen_context_prefill(g_tiny, g_ids, N_CTX, op, 1, &c2, err, sizeof(err));
	if (!rc)
		rc = gen_context_answer(c2, q2, 5, op, 1, &fresh, &nf, NULL, err, sizeof(err));
	T_CHECK(rc == 0, "fresh: %s", err);
	if (!rc) {
		T_CHECK(na[0] == na[2] && !memcmp(a[0], a[2], sizeof(int32_t) * (size_t)na[0]),
			"question 1 asked again got another answer");
		T_CHECK(na[1] == nf && !memcmp(a[1], fresh, sizeof(int32_t) * (size_t)nf),
			"question 2 on the reused compression differs from a fresh compression");
		T_CHECK(gen_context_matches(c, g_ids, N_CTX) && !gen_context_matches(c, g_ids, N_CTX - 1), "matches");
		T_CHECK(st[0].n_prompt == N_IDS && st[1].n_prompt == N_CTX + 5, "n_prompt %d, %d", st[0].n_prompt, st[1].n_prompt);
		printf("  3 answers on one compression; question 2 equals its fresh-compression answer (%d tokens)\n", nf);
	}
	for (int i = 0; i < 3; i++)
		free(a[i]);
	free(fresh);
	gen_context_free(c);
	gen_context_free(c2);
	kv_policy_free(&snap);
}

// ----------------------------------------------------------------------------
// the token split of each task (SmolLM2 tokenizer)

/* Sample i of task a: the context_first prompt's ids equal the query_aware ones, the
 * split is exact and inside, and the question part's text begins with want (leading
 * whitespace aside); with check_logits, full KV over the split gives the whole prompt's logits. */
static void check_split(const struct task_args *a, int i, const char *want, bool check_logits)
{
	struct model *m = smollm();
	const struct kv_task *t = task_find(a->task);
	const struct kv_method *km = kv_method_find("fullkv");
	void *st = NULL;
	char err[512];
	struct task_sample s = { 0 };
	struct prompt_set qa = { 0 }, cf = { 0 };
	struct task_protocol proto;
	int rc = t->open(a, m, &st, err, sizeof(err));
	if (!rc)
		rc = t->sample(st, i, &s, err, sizeof(err));
	if (!rc) {
		t->protocol(st, &proto);
		rc = prompt_set_build(&qa, m, &s, &proto, &km, NULL, 1, err, sizeof(err));
	}
	if (!rc) {
		proto.context_first = true;
		rc = prompt_set_build(&cf, m, &s, &proto, &km, NULL, 1, err, sizeof(err));
	}
	T_CHECK(rc == 0, "%s sample %d: %s", a->task, i, err);
	if (!rc) {
		const struct prompt *p = &cf.p[0], *q = &qa.p[0];
		char *text = NULL;
		size_t len = 0;
		T_CHECK(p->n_ids == q->n_ids && !memcmp(p->ids, q->ids, sizeof(int32_t) * (size_t)q->n_ids),
			"%s: context ids + question ids differ from the query_aware prompt", s.id);
		T_CHECK(p->split_exact, "%s: the split is not exact", s.id);
		T_CHECK(p->n_context > 0 && p->n_context < p->n_ids, "%s: n_context %d of %d", s.id, p->n_context, p->n_ids);
		T_CHECK(q->n_context == 0, "query_aware prompts carry no split");
		T_CHECK(tok_decode(m->tok, p->ids + p->n_context, p->n_ids - p->n_context, false, &text, &len, err, sizeof(err)) == 0,
			"%s", err);
		const char *tq = text ? text : "", *tw = want;
		while (*tq == ' ' || *tq == '\n' || *tq == '\t')
			tq++;
		while (*tw == ' ' || *tw == '\n' || *tw == '\t')
			tw++;
		T_CHECK(!strncmp(tq, tw, strlen(tw)), "%s: the question part begins '%.60s', want '%s'", s.id, tq, tw);
		T_CHECK(strstr(p->meta_json, "\"split_exact\":true") && !strstr(q->meta_json, "split_exact"), "meta %s", p->meta_json);
		printf("  %-28s %5d tokens: context %5d, question %3d\n", s.id, p->n_ids, p->n_context, p->n_ids - p->n_context);
		if (check_logits) { /* the same full cache either way: the same next-token logits */
			float *wl = whole_logits(m, p->ids, p->n_ids), *el = extended_logits(m, p->ids, p->n_context, p->n_ids);
			T_CHECK(wl && el, "logits");
			if (wl && el) {
				float d = max_abs_diff(wl, el, m->cfg.n_vocab);
				printf("  %-28s context prefill + question chunk vs whole prefill: max|logit diff| %.2e, tol 1e-3\n", s.id, d);
				T_CHECK(d < 1e-3f, "max|diff| %g", d);
			}
			free(wl);
			free(el);
		}
		free(text);
	}
	prompt_set_free(&qa);
	prompt_set_free(&cf);
	task_sample_free(&s);
	if (st)
		t->close(st);
}

static void needle_prompts_should_split_before_the_question(void)
{
	if (!smollm()) {
		T_SKIP("no %s", T_MODEL);
		return;
	}
	struct task_args a = { .task = "needle", .context_lengths = "400", .depths = "50" };
	check_split(&a, 0, "\n Based on the content of the book, Question:", true);
	a.chat = true;
	check_split(&a, 0, "\n Based on the content of the book, Question:", false);
}

static void ruler_prompts_should_split_before_the_question(void)
{
	if (!smollm()) {
		T_SKIP("no %s", T_MODEL);
		return;
	}
	char path[] = "/tmp/kvlab_context_first_XXXXXX.jsonl"; /* a fresh clone has no tests/out/ */
	int fd = mkstemps(path, 6);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	T_CHECK(f != NULL, "cannot write %s", path);
	if (!f)
		return;
	fputs("{\"index\": 0, \"input\": \"Some special magic numbers are hidden within the following text. Make sure to memorize "
	      "it. I will quiz you about the numbers afterwards.\\nThe grass is green. The sky is blue. One of the special magic "
	      "numbers for tidy-crow is: 4721093. The sun is yellow. Here we go.\\nWhat are all the special magic numbers for "
	      "tidy-crow mentioned in the provided text? The special magic numbers for tidy-crow mentioned in the provided text "
	      "are\", \"outputs\": [\"4721093\"], \"length\": 90}\n",
	      f);
	fclose(f);
	struct task_args a = { .task = "ruler:niah_multivalue", .data = path };
	check_split(&a, 0, "\nWhat are all the special magic numbers", true); /* fastkv: one chat turn */
	a.protocol = "official";
	check_split(&a, 0, "\nWhat are all the special magic numbers", false); /* plain */
	unlink(path);
}

static void longbench_prompts_should_split_after_the_context(void)
{
	if (!smollm()) {
		T_SKIP("no %s", T_MODEL);
		return;
	}
	struct task_args a = { .task = "longbench:qasper", .data = "tests/golden/longbench_data", .limit = 1 };
	check_split(&a, 0, "\n\n Answer the question based on the above article", false);
	a.task = "longbench:trec"; /* few-shot: plain, the examples are the context */
	check_split(&a, 0, "Question: What does NASA stand for ?", false);
	a.task = "longbench:lcc"; /* code: the context runs up to "Next line of code" */
	check_split(&a, 0, "Next line of code:", false);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	char err[512];
	if (t_tiny_model(&g_tiny, err, sizeof(err)) || !(g_ids = t_random_ids(N_IDS, 99, 256))) {
		fprintf(stderr, "tiny model: %s\n", err);
		return 1;
	}
	T_RUN(extend_over_a_prefill_should_give_the_logits_of_one_whole_prefill);
	T_RUN(fullkv_context_first_should_generate_what_the_whole_prompt_generates);
	T_RUN(snapkv_context_first_should_keep_what_a_prefill_of_the_context_alone_keeps);
	T_RUN(questions_on_one_compression_should_be_answered_as_from_a_fresh_one);
	T_RUN(needle_prompts_should_split_before_the_question);
	T_RUN(ruler_prompts_should_split_before_the_question);
	T_RUN(longbench_prompts_should_split_after_the_context);
	model_free(g_tiny);
	free(g_ids);
	model_free(smollm());
	return t_done();
}
