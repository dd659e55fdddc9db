/* The evaluation runner: see runner.h. One sample = prompt ids -> greedy generation
 * under the KV policy -> decode -> task score -> one transaction in the store. */
#include "eval/runner.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/clock.h"     // kv_clock_s
#include "engine/errors.h"
#include "engine/forward.h"   // struct fwd_session
#include "engine/generate.h"  // gen_greedy
#include "engine/kvcache.h"   // kv_cache_bytes
#include "engine/model.h"     // model_load
#include "engine/tokenizer.h" // tok_decode
#include "results/store.h"    // store_*

/* Strips leading and trailing ASCII whitespace in place (Python's str.strip on ASCII). */
static char *strip(char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = 0;
	return s;
}

static void progress(int done, int total, const char *id, double elapsed, int n_new, bool tty)
{
	double eta = n_new > 0 ? elapsed / n_new * (total - done) : 0.0;
	if (tty)
		fprintf(stderr, "\r[%d/%d] %-28s elapsed %5.0fs  eta %5.0fs ", done, total, id, elapsed, eta);
	else
		fprintf(stderr, "[%d/%d] %s elapsed %.0fs eta %.0fs\n", done, total, id, elapsed, eta);
	fflush(stderr);
}

/* Generates, decodes, scores and stores one sample. */
static int run_sample(const struct model *m, const struct kv_policy *pol, const struct kv_task *t, void *ts,
		      struct store *st, const char *run_id, int idx, struct task_sample *smp, int threads,
		      char *err, size_t errlen)
{
	int32_t *gen = NULL;
	char *text = NULL;
	size_t tlen = 0;
	int n_gen = 0, rc;
	struct gen_stats gs = { 0 };
	struct gen_opts go = { .max_new_tokens = smp->max_new_tokens, .n_threads = threads, .policy = pol,
			       .stop_ids = smp->stop_ids, .n_stop = smp->n_stop, .no_eos_stop = !smp->eos_stop,
			       .min_one_token = smp->min_one_token };
	if ((rc = gen_greedy(m, smp->ids, smp->n_ids, &go, &gen, &n_gen, &gs, err, errlen)))
		goto out;
	if ((rc = tok_decode(m->tok, gen, n_gen, true, &text, &tlen, err, errlen)))
		goto out;
	char *pred = smp->strip ? strip(text) : text;
	struct task_score sc[TASK_MAX_SCORES];
	int n_sc = 0;
	if ((rc = t->score(ts, smp, pred, sc, &n_sc, err, errlen)))
		goto out;
	const char *names[TASK_MAX_SCORES];
	double vals[TASK_MAX_SCORES];
	for (int i = 0; i < n_sc; i++) {
		names[i] = sc[i].name;
		vals[i] = sc[i].value;
	}
	struct sample_row row = { .sample_id = smp->id, .idx = idx, .n_prompt = smp->n_ids, .prediction = pred,
				  .answers_json = smp->answers_json, .meta_json = smp->meta_json, .prefill_s = gs.prefill_s,
				  .decode_s = gs.decode_s, .n_generated = gs.n_generated,
				  .kv_bytes = (long long)gs.kv_bytes_prefill, .score_names = names, .score_values = vals,
				  .n_scores = n_sc };
	rc = store_sample_put(st, run_id, &row, NULL, err, errlen);
out:
	free(gen);
	free(text);
	return rc;
}

int runner_run(const struct runner_opts *o, struct runner_result *res, char *err, size_t errlen)
{
	struct model *m = NULL;
	struct store *st = NULL;
	struct kv_policy pol = { 0 };
	void *ts = NULL;
	char *config = NULL;
	int rc;
	memset(res, 0, sizeof(*res));
	const struct kv_task *t = task_find(o->task->task ? o->task->task : "");
	if (!t) {
		char list[256] = "";
		for (int i = 0; kv_tasks[i]; i++) {
			size_t n = strlen(list);
			snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", kv_tasks[i]->name);
		}
		return kv_errf(err, errlen, KV_EINVAL, "--task: expected one of %s, got '%s'", list,
			       o->task->task ? o->task->task : "");
	}
	if ((rc = model_load(o->model_path, &m, err, errlen)))
		return rc;
	if (!m->tok) {
		rc = kv_errf(err, errlen, KV_EINVAL, "%s: the model has no tokenizer", o->model_path);
		goto out;
	}
	struct kv_shape shape = { m->cfg.n_layer, m->cfg.n_head, m->cfg.n_head_kv, m->cfg.head_dim, m->cfg.n_embd };
	if ((rc = kv_policy_make(o->method, &shape, &pol, err, errlen)))
		goto out;
	struct task_args ta = *o->task;
	ta.method = pol.m->name;
	if ((rc = t->open(&ta, m, &ts, err, errlen)))
		goto out;
	/* the database is opened only once everything else is known to be valid */
	if ((rc = store_open(o->db_path, &st, err, errlen)))
		goto out;
	char sha[65], mjson[1024], tjson[4096];
	if ((rc = store_file_sha256(st, m->path, sha, err, errlen)))
		goto out;
	kv_policy_describe(&pol, mjson, sizeof(mjson));
	t->describe(ts, tjson, sizeof(tjson));
	size_t clen = strlen(mjson) + strlen(tjson) + 512;
	if (!(config = malloc(clen))) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		goto out;
	}
	snprintf(config, clen,
		 "{\"engine\":\"kvlab-0.1\",\"backend\":\"cpu\",\"threads\":%d,\"model_sha256\":\"%s\","
		 "\"method\":%s,\"task\":%s}",
		 o->threads, sha, mjson, tjson);
	struct run_info ri = { .kind = "eval", .task = o->task->task, .method = pol.m->name, .method_json = mjson,
			       .model_path = m->path, .model_sha256 = sha, .config_json = config, .backend = "cpu",
			       .threads = o->threads };
	if ((rc = store_run_begin(st, &ri, res->run_id, err, errlen)))
		goto out;
	int total = t->count(ts);
	res->n_total = total;
	bool tty = isatty(2);
	fprintf(stderr, "run %.12s: task %s, method %s, %d samples, db %s\n", res->run_id, o->task->task, pol.m->name, total,
		o->db_path);
	double t0 = kv_clock_s();
	int n_shards = o->n_shards > 1 ? o->n_shards : 1;
	if (n_shards > 1)
		fprintf(stderr, "run %.12s: shard %d of 0..%d (samples i with i %% %d == %d)\n", res->run_id, o->shard,
			n_shards - 1, n_shards, o->shard);
	for (int i = 0; i < total; i++) {
		struct task_sample smp = { 0 };
		bool have = false;
		if (i % n_shards != o->shard % n_shards)
			continue;
		if ((rc = t->sample(ts, i, &smp, err, errlen)) ||
		    (rc = store_sample_exists(st, res->run_id, smp.id, &have, err, errlen))) {
			task_sample_free(&smp);
			goto out;
		}
		if (have) {
			res->n_done_before++;
		} else {
			if ((rc = run_sample(m, &pol, t, ts, st, res->run_id, i, &smp, o->threads, err, errlen))) {
				task_sample_free(&smp);
				goto out;
			}
			res->n_done_now++;
			progress(i + 1, total, smp.id, kv_clock_s() - t0, res->n_done_now, tty);
		}
		task_sample_free(&smp);
	}
	if (tty)
		fputc('\n', stderr);
	fprintf(stderr, "run %.12s: %d samples stored now, %d already present\n", res->run_id, res->n_done_now,
		res->n_done_before);
	rc = 0;
out:
	free(config);
	if (ts)
		t->close(ts);
	kv_policy_free(&pol);
	store_close(st);
	model_free(m);
	return rc;
}
