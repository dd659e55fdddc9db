/* The benchmark loop: parse what to run, build the input, time prefill and greedy
 * decode per method, methods interleaved run by run. Mirrors benchmark/prefill.py and
 * benchmark/e2e.py of the official FastKV code (spec/methods.md section 10): the
 * timed prefill is the forward with the LM head on the last row, plus the argmax
 * (time to first token); e2e adds genlen - 1 decode steps with no EOS stop. Decode
 * positions follow the eval drivers (N + t, C7), not the benchmark loop's layer-0
 * cache length (A8). N = context length, V = n_vocab */
#include "bench/bench.h"

#include <stdlib.h>
#include <string.h>

#include "base/clock.h"    // kv_clock_s
#include "base/errors.h"   // kv_errf
#include "engine/backend.h"  // backend_cpu
#include "engine/forward.h"  // fwd_session_init_on, fwd_prefill, fwd_decode
#include "engine/generate.h" // gen_argmax
#include "engine/kvcache.h"  // kv_cache_bytes
#include "engine/kv_method.h" // kv_policy_has_after_prefill
#include "engine/reconstruct.h" // fwd_after_prefill
#include "results/bench_profile.h" // bench_profile_put

// ----------------------------------------------------------------------------
// parsing

int bench_lengths_parse(const char *spec, int **out, int *n, char *err, size_t errlen)
{
	int cap = 1;
	for (const char *p = spec; *p; p++)
		cap += *p == ',';
	int *v = malloc(sizeof(int) * (size_t)cap), k = 0;
	if (!v)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	const char *p = spec;
	for (int i = 0; i < cap; i++) {
		char *end;
		long x = strtol(p, &end, 10);
		if (end == p || (*end && *end != ',') || x < 1 || x > (1L << 24)) {
			size_t len = strcspn(p, ",");
			free(v);
			return kv_errf(err, errlen, KV_EINVAL, "--context_lengths: expected positive integers up to %ld separated by commas, got '%.*s'",
				       1L << 24, (int)len, p);
		}
		for (int j = 0; j < k; j++)
			if (v[j] == x) {
				free(v);
				return kv_errf(err, errlen, KV_EINVAL, "--context_lengths: %ld is listed twice", x);
			}
		v[k++] = (int)x;
		p = *end ? end + 1 : end;
	}
	*out = v;
	*n = k;
	return 0;
}

// ----------------------------------------------------------------------------
// measurements

int bench_meas_alloc(struct bench_meas *meas, int n, const struct bench_opts *o, char *err, size_t errlen)
{
	size_t r = (size_t)(o->runs > 0 ? o->runs : 1);
	memset(meas, 0, sizeof(*meas) * (size_t)n);
	for (int i = 0; i < n; i++) {
		struct bench_meas *x = &meas[i];
		x->prefill_ms = calloc(r, sizeof(double));
		x->recon_ms = calloc(r, sizeof(double));
		if (o->kind == BENCH_E2E) {
			x->decode_ms = calloc(r, sizeof(double));
			x->e2e_ms = calloc(r, sizeof(double));
		}
		if (!x->prefill_ms || !x->recon_ms || (o->kind == BENCH_E2E && (!x->decode_ms || !x->e2e_ms))) {
			bench_meas_free(meas, n);
			return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		}
	}
	return 0;
}

void bench_meas_free(struct bench_meas *meas, int n)
{
	for (int i = 0; meas && i < n; i++) {
		free(meas[i].prefill_ms);
		free(meas[i].recon_ms);
		free(meas[i].decode_ms);
		free(meas[i].e2e_ms);
		meas[i].prefill_ms = meas[i].recon_ms = meas[i].decode_ms = meas[i].e2e_ms = NULL;
	}
}

void bench_input(int32_t *ids, int n, const int32_t *text, int n_text)
{
	for (int i = 0; i < n; i++)
		ids[i] = text && n_text > 0 ? text[i % n_text] : 1;
}

// ----------------------------------------------------------------------------
// timing

struct one_run {
	double prefill_ms, recon_ms, decode_ms, e2e_ms;
	bool recon;                /* the policy has a step after the prefill */
	long long kv_bytes;
	double prefill_flops, decode_bytes;
};

/* One run of method b on ids[0..n): policy and session set up outside the clock. */
static int run_once(const struct model *m, const struct bench_opts *o, const struct kv_method_entry *b, const int32_t *ids,
		    int n, float *logits, struct one_run *r, char *params, size_t params_len, struct op_profile *prof,
		    char *err, size_t errlen)
{
	const struct model_config *c = &m->cfg;
	struct kv_shape shape = { c->n_layer, c->n_head, c->n_head_kv, c->head_dim, c->n_embd };
	struct kv_policy pol = { 0 };
	struct fwd_session *s = NULL;
	int rc, steps = o->kind == BENCH_E2E ? o->genlen - 1 : 0;
	if ((rc = kv_policy_make(b->m, &b->args, &shape, &pol, err, errlen)))
		return rc;
	if (params)
		kv_policy_describe(&pol, params, params_len);
	if ((rc = fwd_session_init_on(o->backend ? o->backend : &backend_cpu, m, &pol, steps, o->threads, &s, err, errlen)) ||
	    (rc = fwd_session_set_kv_dtype(s, o->kv_dtype, err, errlen)))
		goto out;
	double t0 = 1e3 * kv_clock_s();
	if ((rc = fwd_prefill(s, ids, n, false, logits, err, errlen)))
		goto out;
	int32_t tok = gen_argmax(logits, c->n_vocab);
	/* KVzip's reconstruction cuts the cache before decode, as in kvlab generate and run;
	 * its time is part of the prefill's and is also kept on its own */
	double recon_s = 0.0;
	r->recon = kv_policy_has_after_prefill(&pol);
	if ((rc = fwd_after_prefill(s, ids, n, NULL, &recon_s, err, errlen)))
		goto out;
	double t1 = 1e3 * kv_clock_s();
	r->recon_ms = 1e3 * recon_s;
	r->kv_bytes = (long long)kv_cache_bytes(s->cache);
	if (prof)
		op_profile_start(prof);
	for (int t = 0; t < steps; t++) {
		if ((rc = fwd_decode(s, tok, logits, err, errlen)))
			break;
		tok = gen_argmax(logits, c->n_vocab);
	}
	double t2 = 1e3 * kv_clock_s();
	if (prof)
		op_profile_stop(steps);
	if (rc)
		goto out;
	/* the work, outside the clock: step t attends the prefill's entries plus t + 1 (the
	 * cache after the last step holds them all), so a step reads their mean */
	r->prefill_flops = bench_prefill_flops(c, s->trace.n_alive);
	r->decode_bytes = bench_decode_weight_bytes(m) + 0.5 * ((double)r->kv_bytes + (double)kv_cache_bytes(s->cache));
	r->prefill_ms = t1 - t0;
	r->e2e_ms = t2 - t0;
	r->decode_ms = steps > 0 ? (t2 - t1) / steps : 0.0;
out:
	fwd_session_free(s);
	kv_policy_free(&pol);
	return rc;
}

int bench_run_length(const struct model *m, const struct bench_opts *o, int n, struct bench_meas *meas,
		     char *err, size_t errlen)
{
	int M = o->n_methods, rounds = o->warmups + o->runs, rc = 0;
	if (M <= 0 || o->runs <= 0 || o->warmups < 0 || (o->kind == BENCH_E2E && o->genlen < 2))
		return kv_errf(err, errlen, KV_EINVAL, "bench: need methods, runs >= 1, warmups >= 0 and (e2e) genlen >= 2");
	int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
	float *logits = malloc(sizeof(float) * (size_t)m->cfg.n_vocab);
	if (!ids || !logits) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory for a %d-token input", n);
		goto out;
	}
	bench_input(ids, n, o->text, o->n_text);
	/* --profile: the runs go through the timing op table; only the timed runs' decode
	 * steps are added to each method's profile */
	bool profiling = o->profile && o->kind == BENCH_E2E;
	struct backend_ops timed;
	struct bench_opts po = *o;
	if (profiling) {
		if ((rc = op_profile_wrap(&timed, o->backend ? o->backend : &backend_cpu, err, errlen)))
			goto out;
		po.backend = &timed;
		for (int i = 0; i < M; i++)
			memset(&meas[i].prof, 0, sizeof(meas[i].prof));
	}
	for (int r = 0; r < rounds; r++) {
		bool warm = r < o->warmups;
		for (int j = 0; j < M; j++) {
			int i = (r + j) % M; /* rotate the order so no method always follows the same one */
			struct one_run x;
			struct bench_meas *me = &meas[i];
			struct op_profile *prof = profiling && !warm ? &me->prof : NULL;
			if ((rc = run_once(m, &po, &o->methods[i], ids, n, logits, &x, r == 0 ? me->params_json : NULL,
					   sizeof(me->params_json), prof, err, errlen)))
				goto out;
			me->kv_bytes = x.kv_bytes;
			me->prefill_flops = x.prefill_flops;
			me->decode_bytes = x.decode_bytes;
			me->recon = x.recon;
			if (!warm) {
				int k = r - o->warmups;
				me->prefill_ms[k] = x.prefill_ms;
				me->recon_ms[k] = x.recon_ms;
				if (o->kind == BENCH_E2E) {
					me->decode_ms[k] = x.decode_ms;
					me->e2e_ms[k] = x.e2e_ms;
				}
			}
			if (o->log) {
				fprintf(o->log, "bench %s N=%d %s %d/%d %s: prefill %.1f ms", o->kind == BENCH_E2E ? "e2e" : "prefill", n,
					warm ? "warmup" : "run", warm ? r + 1 : r - o->warmups + 1, warm ? o->warmups : o->runs,
					o->methods[i].label, x.prefill_ms);
				if (x.recon)
					fprintf(o->log, " (reconstruction %.1f ms)", x.recon_ms);
				if (o->kind == BENCH_E2E)
					fprintf(o->log, ", decode %.2f ms/token, e2e %.2f s", x.decode_ms, x.e2e_ms / 1e3);
				fprintf(o->log, ", kv %.2f MiB\n", x.kv_bytes / 1048576.0);
				fflush(o->log);
			}
		}
	}
out:
	free(ids);
	free(logits);
	return rc;
}

// ----------------------------------------------------------------------------
// rows

int bench_rows_fill(struct bench_row *rows, const struct bench_row *base, const struct bench_opts *o,
		    const struct bench_meas *meas, int n)
{
	static const char *const phase[BENCH_MAX_PHASES] = { "prefill", "decode", "e2e", "recon" };
	int k = 0;
	for (int i = 0; i < o->n_methods; i++) {
		const double *x[BENCH_MAX_PHASES] = { meas[i].prefill_ms, meas[i].decode_ms, meas[i].e2e_ms, meas[i].recon_ms };
		for (int p = 0; p < BENCH_MAX_PHASES; p++) {
			bool e2e_only = p == 1 || p == 2, recon_only = p == 3;
			if ((e2e_only && o->kind != BENCH_E2E) || (recon_only && !meas[i].recon))
				continue;
			struct bench_row *r = &rows[k++];
			*r = *base;
			snprintf(r->label, sizeof(r->label), "%s", o->methods[i].label);
			snprintf(r->method, sizeof(r->method), "%s", o->methods[i].m->name);
			snprintf(r->params_json, sizeof(r->params_json), "%s", meas[i].params_json);
			snprintf(r->phase, sizeof(r->phase), "%s", phase[p]);
			r->n_ctx = n;
			r->genlen = o->kind == BENCH_E2E ? o->genlen : 0;
			r->warmups = o->warmups;
			r->runs = o->runs; /* the length of samples, as the store reads it */
			r->samples = x[p];
			bench_stats(x[p], o->runs, &r->st);
			r->kv_bytes = meas[i].kv_bytes;
		}
	}
	return k;
}

int bench_roof_fill(struct bench_roof *roof, const struct bench_row *rows, int k, const struct bench_opts *o,
		    const struct bench_meas *meas)
{
	const struct bench_machine *mc = o->machine;
	int w = 0;
	for (int i = 0; i < k; i++) {
		const struct bench_row *r = &rows[i];
		if (strcmp(r->phase, "recon") == 0)
			continue;
		int mi = 0; /* the row's method: labels are unique within an invocation */
		while (mi < o->n_methods - 1 && strcmp(o->methods[mi].label, r->label) != 0)
			mi++;
		const struct bench_meas *me = &meas[mi];
		struct bench_roof *f = &roof[w++];
		memset(f, 0, sizeof(*f));
		snprintf(f->invocation, sizeof(f->invocation), "%s", r->invocation);
		snprintf(f->label, sizeof(f->label), "%s", r->label);
		snprintf(f->phase, sizeof(f->phase), "%s", r->phase);
		snprintf(f->kv_dtype, sizeof(f->kv_dtype), "%s", kv_dtype_name(o->kv_dtype));
		f->n_ctx = r->n_ctx;
		bool pre = strcmp(r->phase, "decode") != 0, dec = strcmp(r->phase, "prefill") != 0;
		int steps = strcmp(r->phase, "e2e") == 0 ? o->genlen - 1 : 1;
		f->flops = pre ? me->prefill_flops : 0.0;
		f->bytes = dec ? me->decode_bytes * steps : 0.0;
		f->read_gbs = mc->read_gbs;
		f->gemm_gflops = mc->gemm_gflops;
		f->bound_ms = (mc->gemm_gflops > 0 ? 1e3 * f->flops / (mc->gemm_gflops * 1e9) : 0.0) +
			      (mc->read_gbs > 0 ? 1e3 * f->bytes / (mc->read_gbs * 1e9) : 0.0);
		f->median_ms = r->st.median;
		f->achieved = r->st.median > 0 ? f->bound_ms / r->st.median : 0.0;
	}
	return w;
}

int bench_run(const struct model *m, const struct bench_opts *o, const int *lens, int n_lens, const struct bench_row *base,
	      struct store *s, char *err, size_t errlen)
{
	struct bench_meas *meas = calloc((size_t)o->n_methods, sizeof(*meas));
	struct bench_row *rows = calloc((size_t)o->n_methods * BENCH_MAX_PHASES, sizeof(*rows));
	struct bench_roof *roof = calloc((size_t)o->n_methods * BENCH_MAX_PHASES, sizeof(*roof));
	int rc;
	if (!meas || !rows || !roof) {
		free(meas);
		free(rows);
		free(roof);
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	}
	if ((rc = bench_meas_alloc(meas, o->n_methods, o, err, errlen)))
		goto out;
	for (int i = 0; i < n_lens; i++) {
		if ((rc = bench_run_length(m, o, lens[i], meas, err, errlen)))
			goto out;
		int k = bench_rows_fill(rows, base, o, meas, lens[i]);
		if ((rc = bench_store_put(s, rows, k, err, errlen)))
			goto out;
		for (int j = 0; o->profile && o->kind == BENCH_E2E && j < o->n_methods; j++) {
			struct bench_prof pr[OP_PROFILE_MAX_ROWS];
			int np = op_profile_rows(&meas[j].prof, base->invocation, o->methods[j].label, lens[i],
						 o->machine ? o->machine->read_gbs : 0.0, pr);
			if ((rc = bench_profile_put(s, pr, np, err, errlen)))
				goto out;
		}
		if (o->machine && (rc = bench_roofline_put(s, roof, bench_roof_fill(roof, rows, k, o, meas), err, errlen)))
			goto out;
	}
out:
	bench_meas_free(meas, o->n_methods);
	free(meas);
	free(rows);
	free(roof);
	return rc;
}
