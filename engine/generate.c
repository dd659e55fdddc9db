/* Greedy generation over a forward session (C8: num_beams=1, do_sample=False). */
#include "engine/generate.h"

#include <stdbool.h>
#include <stdlib.h>

#include "engine/clock.h"     // kv_clock_s
#include "engine/errors.h"    // kv_errf
#include "engine/forward.h"   // fwd_session_*
#include "engine/kvcache.h"   // kv_cache_bytes
#include "engine/model.h"     // struct model
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
	struct fwd_session *s = NULL;
	int rc;
	if (o->max_new_tokens < 0)
		return kv_errf(err, errlen, KV_EINVAL, "--max_new_tokens: expected a non-negative integer, got %d", o->max_new_tokens);
	int32_t *ids = malloc(sizeof(int32_t) * (size_t)(o->max_new_tokens + 1));
	float *logits = malloc(sizeof(float) * (size_t)m->cfg.n_vocab);
	if (!ids || !logits) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory for generation");
		goto out_free;
	}
	int n = 0;
	struct gen_stats stats = { .n_prompt = n_prompt };
	if (o->max_new_tokens > 0) {
		if ((rc = fwd_session_init(m, o->policy, o->max_new_tokens, o->n_threads, &s, err, errlen)))
			goto out_free;
		double t0 = kv_clock_s();
		if ((rc = fwd_prefill(s, prompt, n_prompt, false, logits, err, errlen)))
			goto out_free;
		ids[n++] = o->min_one_token ? argmax_no_stop(m, o, logits, m->cfg.n_vocab) : gen_argmax(logits, m->cfg.n_vocab);
		double t1 = kv_clock_s();
		stats.prefill_s = t1 - t0;
		stats.kv_bytes_prefill = kv_cache_bytes(s->cache);
		if (o->on_prefill)
			o->on_prefill(o->ctx, s);
		while (n < o->max_new_tokens && !is_stop(m, o, ids[n - 1])) {
			if ((rc = fwd_decode(s, ids[n - 1], logits, err, errlen)))
				goto out_free;
			ids[n++] = gen_argmax(logits, m->cfg.n_vocab);
		}
		stats.decode_s = kv_clock_s() - t1;
	}
	stats.n_generated = n;
	if (st)
		*st = stats;
	*out = ids;
	*n_out = n;
	ids = NULL;
	rc = 0;
out_free:
	fwd_session_free(s);
	free(ids);
	free(logits);
	return rc;
}
