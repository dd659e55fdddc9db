/* The evaluation runner: see runner.h. One sample, built once = prompt ids per method
 * (eval/prompt.c, each distinct sequence once) -> greedy generation under the KV policies,
 * one prefill per distinct prompt -> decode -> score by the sample's scorer name
 * (eval/metrics) -> one transaction per (run, sample) in the store. */
#include "eval/runner.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h> // sqlite3_step (store_query's statements)

#include "base/clock.h"     // kv_clock_s
#include "base/errors.h"
#include "engine/backend.h"   // backend_cpu
#include "engine/gen_context.h" // gen_context_* (context_first)
#include "engine/generate.h"  // gen_greedy_shared
#include "engine/model.h"     // model_load
#include "engine/tokenizer.h" // tok_decode
#include "eval/metrics/metrics.h" // metric_score_named
#include "datasets/needle.h"  // needle_span
#include "eval/prompt.h"      // prompt_cap, prompt_set_build
#include "eval/selection.h"   // selection_layer_counts, selection_dump_write
#include "results/store.h"    // store_*

_Static_assert(RUNNER_MAX_METHODS <= PROMPT_SET_MAX, "a runner unit builds its prompts in one prompt set");

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

/* One method of the run: its policy and run in the store. */
struct member {
	const char *name;       /* the --method entry (borrowed from the method list) */
	const struct kv_method_entry *entry;
	struct kv_policy pol;
	char *config;
	char mjson[1024];
	struct run_info ri;     /* recorded with its first stored sample (so a failed start leaves no run) */
	bool begun;
	bool recorded;          /* the run was in the database when this process started */
	char *run_id;           /* the runner_result's slot */
	const struct prompt *q; /* the current sample's prompt for this method (borrowed from the set) */
	bool pending;           /* the current sample is not stored for this method yet */
	int n_now, n_before;    /* samples stored by this process, found already stored */
	int n_other;            /* samples another live process of the same run held when reached */
	int n_dup;              /* samples this process generated that another had stored meanwhile */
	const struct member_sel *sel; /* while run_group stores the sample: what its prefill recorded */
};

// ----------------------------------------------------------------------------
// selection introspection: per-layer counts (always), the needle's span, --dump_selection

/* What one member's prefill callback records for the sample being generated. */
struct member_sel {
	const struct store_span *span; /* the needle's span in the prompt, or NULL */
	struct store_layer *layers;    /* (n_layers,) owned: selection_layer_counts */
	int n_layers;
	FILE *dump;                    /* --dump_selection's temporary file, or NULL */
	const char *dump_path;
	struct selection_sample about; /* the dump's prompt row */
	int rc;
	char err[512];
};

/* gen_opts.on_prefill: counts the session's selection and appends its dump block. */
static void record_selection(void *ctx, const struct fwd_session *s)
{
	struct member_sel *x = ctx;
	x->rc = selection_layer_counts(s, x->span, &x->layers, &x->n_layers, x->err, sizeof(x->err));
	if (!x->rc && x->dump)
		x->rc = selection_dump_write(x->dump, x->dump_path, s, &x->about, x->err, sizeof(x->err));
}

/* The needle's span in prompt ids (needle samples only; *span untouched and *has false otherwise). */
static int sample_span(const struct model *m, const struct task_sample *smp, const struct prompt *q,
		       struct store_span *span, bool *has, char *err, size_t errlen)
{
	*has = false;
	if (strcmp(smp->metric, "needle") != 0)
		return 0;
	int a = 0, b = 0, rc = needle_span(m->tok, q->ids, q->n_ids, has, &a, &b, err, errlen);
	if (!rc && *has)
		*span = (struct store_span){ "needle", a, b };
	return rc;
}

/* Opens --dump_selection's temporary file into *f (NULL when no dump is asked for). */
static int dump_open(const char *path, FILE **f, char *tmp, size_t len, char *err, size_t errlen)
{
	*f = NULL;
	if (!path)
		return 0;
	snprintf(tmp, len, "%s.tmp.%d", path, (int)getpid());
	if (!(*f = fopen(tmp, "w")))
		return kv_errf(err, errlen, KV_EIO, "--dump_selection: cannot write %s (%s)", path, strerror(errno));
	return 0;
}

/* Closes the dump and renames it into place when rc is 0, else removes it; returns rc or the close's error. */
static int dump_close(FILE *f, const char *path, const char *tmp, int rc, char *err, size_t errlen)
{
	if (!f)
		return rc;
	if ((fclose(f) != 0 || (!rc && rename(tmp, path) != 0)) && !rc)
		rc = kv_errf(err, errlen, KV_EIO, "--dump_selection: cannot write %s (%s)", path, strerror(errno));
	if (rc)
		unlink(tmp);
	return rc;
}

// ----------------------------------------------------------------------------
// one sample

/* Decodes, scores and stores generated ids gen[0..n_gen) of sample smp for member b. */
static int store_generation(const struct model *m, const struct task_sample *smp, struct member *b, struct store *st,
			    int idx, const int32_t *gen, int n_gen, const struct gen_stats *gs, const char *meta, char *err,
			    size_t errlen)
{
	char *text = NULL;
	size_t tlen = 0;
	int rc;
	const struct prompt *q = b->q;
	if ((rc = tok_decode(m->tok, gen, n_gen, true, &text, &tlen, err, errlen)))
		return rc;
	if (!b->begun && (rc = store_run_begin(st, &b->ri, b->run_id, err, errlen)))
		goto out;
	b->begun = true;
	char *pred = q->strip ? strip(text) : text;
	struct metric_value sc[METRIC_MAX_VALUES];
	int n_sc = 0;
	if ((rc = metric_score_named(smp->metric, smp->also_as, pred, (const char *const *)smp->refs, smp->n_refs,
				     (const char *const *)smp->classes, smp->n_classes, sc, &n_sc, err, errlen)))
		goto out;
	const char *names[METRIC_MAX_VALUES];
	double vals[METRIC_MAX_VALUES];
	for (int i = 0; i < n_sc; i++) {
		names[i] = sc[i].name;
		vals[i] = sc[i].value;
	}
	const struct fwd_tie_stats *ts[3] = { &gs->ties_kv, &gs->ties_prop, &gs->ties_restart };
	static const char *const cut[3] = { "kv", "propagated", "restart" };
	struct store_ties ties[3];
	int n_ties = 0;
	for (int i = 0; i < 3; i++)
		if (ts[i]->n_cuts > 0)
			ties[n_ties++] = (struct store_ties){ cut[i], ts[i]->n_cuts, ts[i]->n_inside, ts[i]->sum_tied };
	struct sample_row row = { .sample_id = smp->id, .idx = idx, .n_prompt = q->n_ids, .prediction = pred,
				  .answers_json = smp->answers_json, .meta_json = meta ? meta : q->meta_json,
				  .record_json = smp->record_json, .prefill_s = gs->prefill_s, .recon_s = gs->recon_s,
				  .decode_s = gs->decode_s, .n_generated = gs->n_generated,
				  .kv_bytes = (long long)gs->kv_bytes_prefill, .score_names = names, .score_values = vals,
				  .n_scores = n_sc, .ties = ties, .n_ties = n_ties };
	if (b->sel) { /* the selection counts its prefill recorded */
		row.layers = b->sel->layers;
		row.n_layers = b->sel->n_layers;
		row.span = b->sel->span;
	}
	bool fresh = false;
	rc = store_sample_put(st, b->run_id, &row, &fresh, err, errlen);
	if (!rc) {
		b->n_now += fresh;
		b->n_dup += !fresh;
	}
out:
	free(text);
	return rc;
}

// ----------------------------------------------------------------------------
// context_first: compressed contexts held for the next sample's question

/* One group's compressed context. */
struct held {
	int who[RUNNER_MAX_METHODS]; /* the members it was prefilled for, ascending */
	int n;
	struct gen_context *gc;      /* owned */
};

/* The held contexts of a context_first run (at most one per member). */
struct ctx_first {
	struct held h[RUNNER_MAX_METHODS];
	int n_held;
	int n_contexts, n_questions;
};

static void held_drop(struct ctx_first *cf, int i)
{
	gen_context_free(cf->h[i].gc);
	cf->h[i] = cf->h[--cf->n_held];
}

static void ctx_first_free(struct ctx_first *cf)
{
	while (cf->n_held > 0)
		held_drop(cf, cf->n_held - 1);
}

/* The group who[0..n)'s compressed context of ids[0..n_ids) when one is held, else NULL
 * after dropping every held context of any of these members (their sessions are rebuilt). */
static struct gen_context *held_take(struct ctx_first *cf, const int *who, int n, const int32_t *ids, int n_ids)
{
	for (int i = 0; i < cf->n_held; i++)
		if (cf->h[i].n == n && !memcmp(cf->h[i].who, who, sizeof(int) * (size_t)n) &&
		    gen_context_matches(cf->h[i].gc, ids, n_ids))
			return cf->h[i].gc;
	for (int i = cf->n_held - 1; i >= 0; i--) {
		bool shares = false;
		for (int a = 0; a < cf->h[i].n && !shares; a++)
			for (int b = 0; b < n && !shares; b++)
				shares = cf->h[i].who[a] == who[b];
		if (shares)
			held_drop(cf, i);
	}
	return NULL;
}

/* Generates for the group who[0..n) under context_first: the context part of prompt a is
 * compressed (or its held compression reused), its question part answered. *reused says which. */
static int gen_context_first(const struct model *m, struct ctx_first *cf, const struct prompt *a, const int *who, int n,
			     const struct gen_opts *const *gp, int32_t **gen, int *n_gen, struct gen_stats *gs,
			     bool *reused, char *err, size_t errlen)
{
	int nc = a->n_context, rc;
	struct gen_context *gc = held_take(cf, who, n, a->ids, nc);
	*reused = gc != NULL;
	if (!gc) {
		if ((rc = gen_context_prefill(m, a->ids, nc, gp, n, &gc, err, errlen)))
			return rc;
		struct held *h = &cf->h[cf->n_held++]; /* room: held contexts never share a member */
		memcpy(h->who, who, sizeof(int) * (size_t)n);
		h->n = n;
		h->gc = gc;
		cf->n_contexts++;
	}
	if ((rc = gen_context_answer(gc, a->ids + nc, a->n_ids - nc, gp, n, gen, n_gen, gs, err, errlen)))
		return rc;
	cf->n_questions++;
	return 0;
}

/* Generates sample smp for the pending members whose prompt is member j's (the same ids,
 * made once by eval/prompt.c) on one shared prefill (cf: under context_first, on one
 * compression of the context part), then stores each; clears their pending flags. */
static int run_group(const struct model *m, const struct task_sample *smp, struct member *mb, int n_mb, int j,
		     struct store *st, int idx, int threads, const struct backend_ops *be, enum kv_dtype kvt,
		     struct ctx_first *cf, FILE *dump, const char *dump_path, char *err, size_t errlen)
{
	struct gen_opts go[RUNNER_MAX_METHODS];
	const struct gen_opts *gp[RUNNER_MAX_METHODS];
	struct member_sel sel[RUNNER_MAX_METHODS] = { 0 };
	int who[RUNNER_MAX_METHODS], n = 0, rc;
	const struct prompt *a = mb[j].q;
	struct store_span span;
	bool has_span;
	if ((rc = sample_span(m, smp, a, &span, &has_span, err, errlen)))
		return rc;
	for (int k = j; k < n_mb; k++) {
		const struct prompt *b = mb[k].q;
		if (!mb[k].pending || b->ids != a->ids)
			continue;
		go[n] = (struct gen_opts){ .max_new_tokens = b->max_new_tokens, .n_threads = threads, .policy = &mb[k].pol, .backend = be, .kv_dtype = kvt,
					   .stop_ids = smp->stop_ids, .n_stop = smp->n_stop, .no_eos_stop = !smp->eos_stop,
					   .min_one_token = b->min_one_token, .on_prefill = record_selection, .ctx = &sel[n] };
		sel[n] = (struct member_sel){ .span = has_span ? &span : NULL, .dump = dump, .dump_path = dump_path,
					      .about = { smp->id, m->path, mb[k].mjson, has_span ? &span : NULL } };
		gp[n] = &go[n];
		who[n++] = k;
	}
	int32_t *gen[RUNNER_MAX_METHODS] = { 0 };
	int n_gen[RUNNER_MAX_METHODS];
	struct gen_stats gs[RUNNER_MAX_METHODS];
	bool reused = false;
	if (cf)
		rc = gen_context_first(m, cf, a, who, n, gp, gen, n_gen, gs, &reused, err, errlen);
	else
		rc = gen_greedy_shared(m, a->ids, a->n_ids, gp, n, gen, n_gen, gs, err, errlen);
	if (!rc) {
		for (int i = 0; i < n; i++) {
			if (!rc && sel[i].rc)
				rc = kv_errf(err, errlen, sel[i].rc, "%s", sel[i].err);
			/* a reused compression: the sample's prefill_s is its question's forward only */
			char *meta = reused ? prompt_meta_append(mb[who[i]].q->meta_json, "\"context_reused\":true") : NULL;
			if (!rc && reused && !meta)
				rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
			mb[who[i]].sel = &sel[i];
			if (!rc)
				rc = store_generation(m, smp, &mb[who[i]], st, idx, gen[i], n_gen[i], &gs[i], meta, err, errlen);
			mb[who[i]].pending = false;
			mb[who[i]].sel = NULL;
			free(meta);
			free(gen[i]);
		}
	}
	for (int i = 0; i < n; i++)
		free(sel[i].layers);
	return rc;
}

/* Parses --method into *list (caller frees with kv_method_list_free) and points mb[] at
 * its entries; returns the count or -1 with err set. */
static int split_methods(const struct runner_opts *o, struct kv_method_entry **list, struct member *mb, char *err,
			 size_t errlen)
{
	int n = 0;
	const char *spec = o->methods ? o->methods : "fullkv";
	if (kv_method_list_parse(kv_methods, "--method", spec, o->method_args, list, &n, err, errlen))
		return -1;
	if (n > RUNNER_MAX_METHODS) {
		kv_method_list_free(*list, n);
		*list = NULL;
		kv_errf(err, errlen, KV_EINVAL, "--method: expected NAME or a comma-separated list of at most %d names, got '%s'",
			RUNNER_MAX_METHODS, spec);
		return -1;
	}
	for (int j = 0; j < n; j++) {
		mb[j].entry = &(*list)[j];
		mb[j].name = (*list)[j].label;
	}
	return n;
}

/* Builds member b's policy. */
static int member_make(struct member *b, const struct model *m, char *err, size_t errlen)
{
	struct kv_shape shape = { m->cfg.n_layer, m->cfg.n_head, m->cfg.n_head_kv, m->cfg.head_dim, m->cfg.n_embd };
	return kv_policy_make(b->entry->m, &b->entry->args, &shape, &b->pol, err, errlen);
}

/* The backend the runs use (o->backend, default backend_cpu); a static table. */
static const struct backend_ops *runner_backend(const struct runner_opts *o)
{
	return o->backend ? o->backend : &backend_cpu;
}

/* Writes member b's run configuration and id (sha borrowed until the run ends); the task's
 * part carries the prompt cap the protocol gives this method. */
static int member_config(struct member *b, const struct runner_opts *o, const struct kv_task *t, void *ts,
			 const struct task_protocol *proto, const struct model *m, const char *sha, char *err, size_t errlen)
{
	char tjson[4096];
	char *mjson = b->mjson;
	kv_policy_describe(&b->pol, mjson, sizeof(b->mjson));
	size_t ml = strlen(mjson);
	if (proto->context_first && ml >= 2 && mjson[ml - 1] == '}') /* the default protocol keeps the ids it had */
		snprintf(mjson + ml - 1, sizeof(b->mjson) - (ml - 1), "%s\"protocol\":\"context_first\"}", ml > 2 ? "," : "");
	struct task_cap cap = prompt_cap(proto, m, b->pol.m);
	t->describe(ts, &cap, tjson, sizeof(tjson));
	size_t clen = strlen(mjson) + strlen(tjson) + 512;
	char kvt[32] = ""; /* a non-default KV type joins the configuration (and so the run id) */
	if (o->kv_dtype != KV_DTYPE_F32)
		snprintf(kvt, sizeof(kvt), ",\"kv_dtype\":\"%s\"", kv_dtype_name(o->kv_dtype));
	if (!(b->config = malloc(clen)))
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	snprintf(b->config, clen,
		 "{\"engine\":\"kvlab-0.1\",\"backend\":\"%s\",\"threads\":%d%s,\"model_sha256\":\"%s\","
		 "\"method\":%s,\"task\":%s}",
		 runner_backend(o)->name, o->threads, kvt, sha, mjson, tjson);
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
	const struct kv_method *meths[RUNNER_MAX_METHODS];
	void *ts = NULL;
	struct task_protocol proto;
	struct task_sample smp = { 0 };
	struct prompt_set ps = { 0 };
	struct kv_method_entry *entries = NULL;
	struct ctx_first cf = { 0 };
	FILE *dump = NULL;
	char dump_tmp[4200];
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
	const char *qp = o->task->question_protocol;
	bool ctx_first = qp && strcmp(qp, "context_first") == 0;
	if (qp && !ctx_first && strcmp(qp, "query_aware") != 0)
		return kv_errf(err, errlen, KV_EINVAL, "--protocol: expected query_aware or context_first, got '%s'", qp);
	if ((n_mb = split_methods(o, &entries, mb, err, errlen)) < 0)
		return KV_EINVAL;
	for (int j = 0; j < n_mb; j++)
		mb[j].run_id = res->run_id[j];
	if (o->model)
		m = o->model;
	else if ((rc = model_load(o->model_path, &m, err, errlen)))
		goto out;
	if (!m->tok) {
		rc = kv_errf(err, errlen, KV_EINVAL, "%s: the model has no tokenizer", o->model_path);
		goto out;
	}
	/* every method and the task state are built before the database is opened, so bad input
	 * leaves it untouched; the task is opened once, its samples serve every method */
	for (int j = 0; j < n_mb; j++) {
		if ((rc = member_make(&mb[j], m, err, errlen)))
			goto out;
		meths[j] = mb[j].pol.m;
	}
	if ((rc = t->open(o->task, m, &ts, err, errlen)))
		goto out;
	t->protocol(ts, &proto);
	proto.context_first = ctx_first;
	if ((rc = store_open(o->db_path, &st, err, errlen)) ||
	    (rc = dump_open(o->dump_selection, &dump, dump_tmp, sizeof(dump_tmp), err, errlen)))
		goto out;
	char sha[65];
	if ((rc = store_file_sha256(st, m->path, sha, err, errlen)))
		goto out;
	int total = t->count(ts);
	for (int j = 0; j < n_mb; j++) {
		if ((rc = member_config(&mb[j], o, t, ts, &proto, m, sha, err, errlen)))
			goto out;
		sqlite3_stmt *q = NULL;
		if ((rc = store_query(st, "SELECT 1 FROM runs WHERE run_id = ?1", mb[j].run_id, NULL, &q, "reading runs", err,
				      errlen)))
			goto out;
		mb[j].recorded = sqlite3_step(q) == SQLITE_ROW;
		sqlite3_finalize(q);
		if (!o->quiet)
			fprintf(stderr, "run %.12s: task %s, method %s, %d samples, db %s\n", mb[j].run_id, o->task->task,
				mb[j].pol.m->name, total, o->db_path);
	}
	res->n_runs = n_mb;
	res->n_total = total;
	if (o->on_start && (rc = o->on_start(o->ctx, st, res, err, errlen)))
		goto out;
	if (n_mb > 1 && !o->quiet)
		fprintf(stderr, "runs share each sample's prefill where the methods' prompts are equal\n");
	bool tty = isatty(2);
	double t0 = kv_clock_s();
	int n_shards = o->n_shards > 1 ? o->n_shards : 1, n_new = 0, n_seen = 0;
	int n_mine = (total - o->shard % n_shards + n_shards - 1) / n_shards; /* samples of this shard */
	if (n_shards > 1 && !o->quiet)
		fprintf(stderr, "shard %d of 0..%d (samples i with i %% %d == %d)\n", o->shard, n_shards - 1, n_shards,
			o->shard);
	for (int i = 0; i < total; i++) {
		if (i % n_shards != o->shard % n_shards)
			continue;
		bool any = false, want[RUNNER_MAX_METHODS];
		if ((rc = t->sample(ts, i, &smp, err, errlen)))
			goto out;
		res->n_samples_built++;
		for (int j = 0; j < n_mb && !rc; j++) {
			/* once the run is recorded, samples are claimed before any work, so two processes of
			 * one run never do a sample twice; before that nothing is written (a start that is
			 * refused later leaves the database as it was), so two processes starting together
			 * may both do their first sample: stored once, and said (n_dup) */
			enum store_claim c = STORE_CLAIM_DONE;
			if (mb[j].begun || mb[j].recorded) {
				rc = store_sample_claim(st, mb[j].run_id, smp.id, &c, err, errlen);
			} else {
				bool have = false;
				rc = store_sample_exists(st, mb[j].run_id, smp.id, &have, err, errlen);
				c = have ? STORE_CLAIM_DONE : STORE_CLAIM_MINE;
			}
			want[j] = mb[j].pending = !rc && c == STORE_CLAIM_MINE;
			any = any || want[j];
			mb[j].n_before += !rc && c == STORE_CLAIM_DONE;
			mb[j].n_other += !rc && c == STORE_CLAIM_OTHER;
		}
		if (!rc && any && !(rc = prompt_set_build(&ps, m, &smp, &proto, meths, want, n_mb, err, errlen))) {
			res->n_texts_tokenized += ps.n_encoded;
			res->n_truncations += ps.n_truncated;
			for (int j = 0; j < n_mb; j++)
				mb[j].q = &ps.p[j];
		}
		for (int j = 0; j < n_mb && !rc; j++) /* before any prefill: a prompt the model cannot hold */
			if (mb[j].pending && m->cfg.max_pos > 0 && mb[j].q->n_ids > m->cfg.max_pos && !o->task->beyond_context)
				rc = kv_errf(err, errlen, KV_EINVAL,
					     "sample %s: the %s prompt has %d tokens, beyond the model's context (%d tokens), and this "
					     "task's protocol does not truncate it; --model_max_len N middle-truncates, --beyond_context runs it anyway",
					     smp.id, mb[j].pol.m->name, mb[j].q->n_ids, m->cfg.max_pos);
		for (int j = 0; j < n_mb && !rc; j++)
			if (mb[j].pending)
				rc = run_group(m, &smp, mb, n_mb, j, st, i, o->threads, runner_backend(o), o->kv_dtype,
					       ctx_first ? &cf : NULL, dump, o->dump_selection, err, errlen);
		n_seen++;
		if (!rc && o->on_sample)
			o->on_sample(o->ctx, n_seen, n_mine, any);
		else if (!rc && any && !o->quiet)
			progress(i + 1, total, smp.id, kv_clock_s() - t0, ++n_new, tty);
		prompt_set_free(&ps);
		task_sample_free(&smp);
		if (rc)
			goto out;
	}
	if (tty && !o->quiet && !o->on_sample)
		fputc('\n', stderr);
	for (int j = 0; j < n_mb; j++) {
		if (!o->quiet) {
			fprintf(stderr, "run %.12s: %d samples stored now, %d already present", mb[j].run_id, mb[j].n_now,
				mb[j].n_before);
			if (mb[j].n_other)
				fprintf(stderr, ", %d left to another process running the same run (rerun to check they were stored)",
					mb[j].n_other);
			if (mb[j].n_dup)
				fprintf(stderr, ", %d done twice (another process of the same run stored them first)", mb[j].n_dup);
			fputc('\n', stderr);
		}
		res->n_done_now += mb[j].n_now;
		res->n_done_before += mb[j].n_before;
		res->n_left_to_other += mb[j].n_other;
	}
	res->n_contexts = cf.n_contexts;
	res->n_questions = cf.n_questions;
	if (!o->quiet)
		fprintf(stderr, "%d samples built, %d prompt texts tokenized, %d truncations, for %d method(s)\n",
			res->n_samples_built, res->n_texts_tokenized, res->n_truncations, n_mb);
	if (!o->quiet && ctx_first)
		fprintf(stderr, "context_first: %d contexts compressed, %d questions answered\n", cf.n_contexts, cf.n_questions);
	rc = 0;
out:
	ctx_first_free(&cf);
	rc = dump_close(dump, o->dump_selection, dump_tmp, rc, err, errlen);
	prompt_set_free(&ps);
	task_sample_free(&smp);
	if (ts)
		t->close(ts);
	for (int j = 0; j < n_mb; j++) {
		free(mb[j].config);
		kv_policy_free(&mb[j].pol);
	}
	kv_method_list_free(entries, n_mb);
	store_close(st);
	if (m != o->model)
		model_free(m);
	return rc;
}
