/* The evaluation runner: see runner.h. One sample = prompt ids -> greedy generation
 * under the KV policy -> decode -> task score -> one transaction in the store. */
#include "eval/runner.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"     // kv_clock_s
#include "base/errors.h"
#include "engine/backend.h"   // backend_cpu
#include "engine/generate.h"  // gen_greedy_shared
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

/* One method of the run: its policy, task state and run in the store. */
struct member {
	char name[32];
	struct kv_policy pol;
	void *ts;
	char *config;
	char mjson[1024];
	struct run_info ri;     /* recorded with its first stored sample (so a failed start leaves no run) */
	bool begun;
	char *run_id;           /* the runner_result's slot */
	struct task_sample smp; /* the current sample as this method's task state builds it */
	bool pending;           /* the current sample is not stored for this method yet */
	int n_now, n_before;    /* samples stored by this process, found already stored */
};

/* Decodes, scores and stores generated ids gen[0..n_gen) of member b's current sample. */
static int store_generation(const struct model *m, const struct kv_task *t, struct member *b, struct store *st, int idx,
			    const int32_t *gen, int n_gen, const struct gen_stats *gs, char *err, size_t errlen)
{
	char *text = NULL;
	size_t tlen = 0;
	int rc;
	const struct task_sample *smp = &b->smp;
	if ((rc = tok_decode(m->tok, gen, n_gen, true, &text, &tlen, err, errlen)))
		return rc;
	if (!b->begun && (rc = store_run_begin(st, &b->ri, b->run_id, err, errlen)))
		goto out;
	b->begun = true;
	char *pred = smp->strip ? strip(text) : text;
	struct task_score sc[TASK_MAX_SCORES];
	int n_sc = 0;
	if ((rc = t->score(b->ts, smp, pred, sc, &n_sc, err, errlen)))
		goto out;
	const char *names[TASK_MAX_SCORES];
	double vals[TASK_MAX_SCORES];
	for (int i = 0; i < n_sc; i++) {
		names[i] = sc[i].name;
		vals[i] = sc[i].value;
	}
	struct sample_row row = { .sample_id = smp->id, .idx = idx, .n_prompt = smp->n_ids, .prediction = pred,
				  .answers_json = smp->answers_json, .meta_json = smp->meta_json, .prefill_s = gs->prefill_s,
				  .decode_s = gs->decode_s, .n_generated = gs->n_generated,
				  .kv_bytes = (long long)gs->kv_bytes_prefill, .score_names = names, .score_values = vals,
				  .n_scores = n_sc };
	rc = store_sample_put(st, b->run_id, &row, NULL, err, errlen);
out:
	free(text);
	return rc;
}

/* Generates the current sample for the pending members whose prompts equal member j's
 * on one shared prefill, then stores each; clears their pending flags. */
static int run_group(const struct model *m, const struct kv_task *t, struct member *mb, int n_mb, int j,
		     struct store *st, int idx, int threads, const struct backend_ops *be, char *err, size_t errlen)
{
	struct gen_opts go[RUNNER_MAX_METHODS];
	const struct gen_opts *gp[RUNNER_MAX_METHODS];
	int who[RUNNER_MAX_METHODS], n = 0, rc;
	const struct task_sample *a = &mb[j].smp;
	for (int k = j; k < n_mb; k++) {
		const struct task_sample *b = &mb[k].smp;
		if (!mb[k].pending || b->n_ids != a->n_ids || memcmp(b->ids, a->ids, sizeof(int32_t) * (size_t)a->n_ids))
			continue;
		go[n] = (struct gen_opts){ .max_new_tokens = b->max_new_tokens, .n_threads = threads, .policy = &mb[k].pol, .backend = be,
					   .stop_ids = b->stop_ids, .n_stop = b->n_stop, .no_eos_stop = !b->eos_stop,
					   .min_one_token = b->min_one_token };
		gp[n] = &go[n];
		who[n++] = k;
	}
	int32_t *gen[RUNNER_MAX_METHODS] = { 0 };
	int n_gen[RUNNER_MAX_METHODS];
	struct gen_stats gs[RUNNER_MAX_METHODS];
	if ((rc = gen_greedy_shared(m, a->ids, a->n_ids, gp, n, gen, n_gen, gs, err, errlen)))
		return rc;
	for (int i = 0; i < n; i++) {
		if (!rc && !(rc = store_generation(m, t, &mb[who[i]], st, idx, gen[i], n_gen[i], &gs[i], err, errlen)))
			mb[who[i]].n_now++;
		mb[who[i]].pending = false;
		free(gen[i]);
	}
	return rc;
}

/* Splits --method's comma list into mb[].name; returns the count or -1 with err set. */
static int split_methods(const char *list, struct member *mb, char *err, size_t errlen)
{
	int n = 0;
	const char *p = list ? list : "fullkv";
	for (;;) {
		size_t len = strcspn(p, ",");
		if (len == 0 || len >= sizeof(mb[0].name) || n == RUNNER_MAX_METHODS) {
			kv_errf(err, errlen, KV_EINVAL, "--method: expected NAME or a comma-separated list of at most %d names, got '%s'",
				RUNNER_MAX_METHODS, list);
			return -1;
		}
		memcpy(mb[n].name, p, len);
		mb[n].name[len] = 0;
		for (int k = 0; k < n; k++)
			if (strcmp(mb[k].name, mb[n].name) == 0) {
				kv_errf(err, errlen, KV_EINVAL, "--method: '%s' is listed twice", mb[n].name);
				return -1;
			}
		n++;
		if (!p[len])
			return n;
		p += len + 1;
	}
}

/* Builds member b's policy and task state. */
static int member_make(struct member *b, const struct runner_opts *o, const struct kv_task *t, const struct model *m,
		       char *err, size_t errlen)
{
	struct kv_shape shape = { m->cfg.n_layer, m->cfg.n_head, m->cfg.n_head_kv, m->cfg.head_dim, m->cfg.n_embd };
	struct method_args ma = *o->method;
	int rc;
	ma.method = b->name;
	if ((rc = kv_policy_make(&ma, &shape, &b->pol, err, errlen)))
		return rc;
	struct task_args ta = *o->task;
	ta.method = b->pol.m->name;
	return t->open(&ta, m, &b->ts, err, errlen);
}

/* The backend the runs use (o->backend, default backend_cpu); a static table. */
static const struct backend_ops *runner_backend(const struct runner_opts *o)
{
	return o->backend ? o->backend : &backend_cpu;
}

/* Writes member b's run configuration and id (sha borrowed until the run ends). */
static int member_config(struct member *b, const struct runner_opts *o, const struct kv_task *t, const struct model *m,
			 const char *sha, char *err, size_t errlen)
{
	char tjson[4096];
	char *mjson = b->mjson;
	kv_policy_describe(&b->pol, mjson, sizeof(b->mjson));
	t->describe(b->ts, tjson, sizeof(tjson));
	size_t clen = strlen(mjson) + strlen(tjson) + 512;
	if (!(b->config = malloc(clen)))
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	snprintf(b->config, clen,
		 "{\"engine\":\"kvlab-0.1\",\"backend\":\"%s\",\"threads\":%d,\"model_sha256\":\"%s\","
		 "\"method\":%s,\"task\":%s}",
		 runner_backend(o)->name, o->threads, sha, mjson, tjson);
	b->ri = (struct run_info){ .kind = "eval", .task = o->task->task, .method = b->pol.m->name, .method_json = mjson,
				   .model_path = m->path, .model_sha256 = sha, .config_json = b->config, .backend = runner_backend(o)->name,
				   .threads = o->threads };
	store_run_id(&b->ri, b->run_id);
	return 0;
}

int runner_run(const struct runner_opts *o, struct runner_result *res, char *err, size_t errlen)
{
	struct model *m = NULL;
	struct store *st = NULL;
	struct member mb[RUNNER_MAX_METHODS] = { 0 };
	int n_mb = 0, rc;
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
	if ((n_mb = split_methods(o->method->method, mb, err, errlen)) < 0)
		return KV_EINVAL;
	for (int j = 0; j < n_mb; j++)
		mb[j].run_id = res->run_id[j];
	if ((rc = model_load(o->model_path, &m, err, errlen)))
		return rc;
	if (!m->tok) {
		rc = kv_errf(err, errlen, KV_EINVAL, "%s: the model has no tokenizer", o->model_path);
		goto out;
	}
	/* every method and task state is built before the database is opened, so bad input
	 * leaves it untouched */
	for (int j = 0; j < n_mb; j++)
		if ((rc = member_make(&mb[j], o, t, m, err, errlen)))
			goto out;
	if ((rc = store_open(o->db_path, &st, err, errlen)))
		goto out;
	char sha[65];
	if ((rc = store_file_sha256(st, m->path, sha, err, errlen)))
		goto out;
	int total = t->count(mb[0].ts);
	for (int j = 0; j < n_mb; j++) {
		if (t->count(mb[j].ts) != total) {
			rc = kv_errf(err, errlen, KV_EINTERNAL, "task %s has %d samples under %s but %d under %s", o->task->task,
				     total, mb[0].name, t->count(mb[j].ts), mb[j].name);
			goto out;
		}
		if ((rc = member_config(&mb[j], o, t, m, sha, err, errlen)))
			goto out;
		fprintf(stderr, "run %.12s: task %s, method %s, %d samples, db %s\n", mb[j].run_id, o->task->task,
			mb[j].pol.m->name, total, o->db_path);
	}
	res->n_runs = n_mb;
	res->n_total = total;
	if (n_mb > 1)
		fprintf(stderr, "runs share each sample's prefill where the methods' prompts are equal\n");
	bool tty = isatty(2);
	double t0 = kv_clock_s();
	int n_shards = o->n_shards > 1 ? o->n_shards : 1, n_new = 0;
	if (n_shards > 1)
		fprintf(stderr, "shard %d of 0..%d (samples i with i %% %d == %d)\n", o->shard, n_shards - 1, n_shards,
			o->shard);
	for (int i = 0; i < total; i++) {
		if (i % n_shards != o->shard % n_shards)
			continue;
		bool any = false;
		for (int j = 0; j < n_mb && !rc; j++) {
			bool have = false;
			if (!(rc = t->sample(mb[j].ts, i, &mb[j].smp, err, errlen)))
				rc = store_sample_exists(st, mb[j].run_id, mb[j].smp.id, &have, err, errlen);
			mb[j].pending = !have;
			any = any || !have;
			mb[j].n_before += have;
		}
		for (int j = 0; j < n_mb && !rc; j++)
			if (mb[j].pending)
				rc = run_group(m, t, mb, n_mb, j, st, i, o->threads, runner_backend(o), err, errlen);
		if (!rc && any)
			progress(i + 1, total, mb[0].smp.id, kv_clock_s() - t0, ++n_new, tty);
		for (int j = 0; j < n_mb; j++)
			task_sample_free(&mb[j].smp);
		if (rc)
			goto out;
	}
	if (tty)
		fputc('\n', stderr);
	for (int j = 0; j < n_mb; j++) {
		fprintf(stderr, "run %.12s: %d samples stored now, %d already present\n", mb[j].run_id, mb[j].n_now,
			mb[j].n_before);
		res->n_done_now += mb[j].n_now;
		res->n_done_before += mb[j].n_before;
	}
	rc = 0;
out:
	for (int j = 0; j < n_mb; j++) {
		free(mb[j].config);
		if (mb[j].ts)
			t->close(mb[j].ts);
		kv_policy_free(&mb[j].pol);
	}
	store_close(st);
	model_free(m);
	return rc;
}
