/* Greedy generation over a forward session (C8: num_beams=1, do_sample=False). */
#include "engine/generate.h"

#include <stdbool.h>
#include <stdlib.h>

#include "base/clock.h"     // kv_clock_s
#include "base/errors.h"    // kv_errf
#include "engine/after_memo.h"  // kv_after_memo_new
#include "engine/backend.h"   // backend_cpu
#include "engine/forward.h"   // fwd_session_*
#include "engine/kvcache.h"   // kv_cache_bytes
#include "engine/model.h"     // struct model
#include "engine/reconstruct.h" // fwd_after_prefill
#include "engine/tokenizer.h" // tok_eos_ids

int32_t gen_argmax(const float *x, int n)
{
	int32_t best = 0;
	for (int i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

static bool is_stop(const struct model *m, const struct gen_opts *o, int32_t id);

/* argmax with every stop id masked to -inf (transformers' MinLengthLogitsProcessor). */
static int32_t argmax_no_stop(const struct model *m, const struct gen_opts *o, const float *x, int n)
{
	int32_t best = -1;
	for (int i = 0; i < n; i++)
		if (!is_stop(m, o, i) && (best < 0 || x[i] > x[best]))
			best = i;
	return best < 0 ? 0 : best;
}

/* Does id end generation: one of the model's EOS ids (unless disabled) or an extra stop id? */
static bool is_stop(const struct model *m, const struct gen_opts *o, int32_t id)
{
	int n = 0;
	const int32_t *eos = m->tok && !o->no_eos_stop ? tok_eos_ids(m->tok, &n) : NULL;
	for (int i = 0; i < n; i++)
		if (eos[i] == id)
			return true;
	for (int i = 0; i < o->n_stop; i++)
		if (o->stop_ids[i] == id)
			return true;
	return false;
}

int gen_greedy(const struct model *m, const int32_t *prompt, int n_prompt, const struct gen_opts *o,
	       int32_t **out, int *n_out, struct gen_stats *st, char *err, size_t errlen)
{
	return gen_greedy_shared(m, prompt, n_prompt, &o, 1, out, n_out, st, err, errlen);
}

int gen_greedy_shared(const struct model *m, const int32_t *prompt, int n_prompt, const struct gen_opts *const *o,
		      int n_o, int32_t **out, int *n_out, struct gen_stats *st, char *err, size_t errlen)
{
	int rc, n_act = 0;
	if (n_o < 1)
		return kv_errf(err, errlen, KV_EINVAL, "generation needs at least one option set");
	if ((rc = gen_check_max_new(o, n_o, err, errlen)))
		return rc;
	int32_t **ids = calloc((size_t)n_o, sizeof(*ids));
	int *n = calloc((size_t)n_o, sizeof(int));
	struct fwd_session **s = calloc((size_t)n_o, sizeof(*s));
	int *act = malloc(sizeof(int) * (size_t)n_o); /* members that generate at least one token */
	struct gen_stats *stats = calloc((size_t)n_o, sizeof(*stats));
	float *logits = malloc(sizeof(float) * (size_t)m->cfg.n_vocab);
	struct kv_after_memo *memo = NULL;
	if (!ids || !n || !s || !act || !stats || !logits) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory for generation");
		goto out_free;
	}
	for (int i = 0; i < n_o; i++) {
		stats[i].n_prompt = n_prompt;
		if (!(ids[i] = malloc(sizeof(int32_t) * (size_t)(o[i]->max_new_tokens + 1)))) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory for generation");
			goto out_free;
		}
		if (o[i]->max_new_tokens == 0)
			continue;
		const struct backend_ops *be = o[i]->backend ? o[i]->backend : &backend_cpu;
		if ((rc = fwd_session_init_on(be, m, o[i]->policy, o[i]->max_new_tokens, o[0]->n_threads, &s[n_act], err,
					      errlen)))
			goto out_free;
		act[n_act++] = i;
		if ((rc = fwd_session_set_kv_dtype(s[n_act - 1], o[i]->kv_dtype, err, errlen)))
			goto out_free;
	}
	if (n_act > 0) {
		double t0 = kv_clock_s();
		if ((rc = fwd_prefill_shared(s, n_act, prompt, n_prompt, false, logits, err, errlen)))
			goto out_free;
		/* every member's first token comes from the one prefill's logits */
		for (int a = 0; a < n_act; a++) {
			int i = act[a];
			ids[i][n[i]++] = o[i]->min_one_token ? argmax_no_stop(m, o[i], logits, m->cfg.n_vocab)
							     : gen_argmax(logits, m->cfg.n_vocab);
		}
		double t1 = kv_clock_s();
		/* a second look at the filled cache (KVzip), each member its own; members on the
		 * same entries share what the step computes (points that differ only in budget);
		 * a lone member has no one to share with */
		if (n_act > 1 && !(memo = kv_after_memo_new())) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory for generation");
			goto out_free;
		}
		for (int a = 0; a < n_act; a++)
			if ((rc = fwd_after_prefill(s[a], prompt, n_prompt, memo, &stats[act[a]].recon_s, err, errlen)))
				goto out_free;
		for (int a = 0; a < n_act; a++) {
			int i = act[a];
			stats[i].prefill_s = t1 - t0 + stats[i].recon_s;
			stats[i].kv_bytes_prefill = kv_cache_bytes(s[a]->cache);
			fwd_trace_ties(&s[a]->trace, &stats[i].ties_kv, &stats[i].ties_prop, &stats[i].ties_restart);
			if (o[i]->on_prefill)
				o[i]->on_prefill(o[i]->ctx, s[a]);
		}
		for (int a = 0; a < n_act; a++) {
			int i = act[a];
			double t2 = kv_clock_s();
			while (n[i] < o[i]->max_new_tokens && !is_stop(m, o[i], ids[i][n[i] - 1])) {
				if ((rc = fwd_decode(s[a], ids[i][n[i] - 1], logits, err, errlen)))
					goto out_free;
				ids[i][n[i]++] = gen_argmax(logits, m->cfg.n_vocab);
			}
			stats[i].decode_s = kv_clock_s() - t2;
		}
	}
	for (int i = 0; i < n_o; i++)
		stats[i].n_generated = n[i];
	gen_hand_over(n_o, ids, n, stats, out, n_out, st);
	rc = 0;
out_free:
	for (int i = 0; ids && i < n_o; i++)
		free(ids[i]);
	for (int a = 0; s && a < n_act; a++)
		fwd_session_free(s[a]);
	free(ids);
	free(n);
	free(s);
	free(act);
	free(stats);
	free(logits);
	kv_after_memo_free(memo);
	return rc;
}

int gen_check_max_new(const struct gen_opts *const *o, int n_o, char *err, size_t errlen)
{
	for (int i = 0; i < n_o; i++)
		if (o[i]->max_new_tokens < 0)
			return kv_errf(err, errlen, KV_EINVAL, "--max_new_tokens: expected a non-negative integer, got %d",
				       o[i]->max_new_tokens);
	return 0;
}

void gen_hand_over(int n_o, int32_t **ids, const int *n, const struct gen_stats *stats, int32_t **out, int *n_out,
		   struct gen_stats *st)
{
	for (int i = 0; i < n_o; i++) {
		if (st)
			st[i] = stats[i];
		out[i] = ids[i];
		n_out[i] = n[i];
		ids[i] = NULL;
	}
}

bool gen_is_stop(const struct model *m, const struct gen_opts *o, int32_t id)
{
	return is_stop(m, o, id);
}

int32_t gen_first_token(const struct model *m, const struct gen_opts *o, const float *logits)
{
	return o->min_one_token ? argmax_no_stop(m, o, logits, m->cfg.n_vocab) : gen_argmax(logits, m->cfg.n_vocab);
}
