/* FastKV's prompt protocol: see prompt.h. Mirrors the prompt building of FastKV's
 * eval/run_longbench.py, eval/run_ruler.py and run_needle_in_haystack.py. */
#include "eval/prompt.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h> // memmem (-D_GNU_SOURCE)

#include "base/errors.h"
#include "base/pystr.h"       // py_lower_utf8
#include "engine/chat.h"      // chat_render_user, CHAT_NONE
#include "engine/model.h"     // struct model
#include "engine/tokenizer.h" // tok_encode, tok_decode, tok_bos, tok_piece

// ----------------------------------------------------------------------------
// the cap

struct task_cap prompt_cap(const struct task_protocol *p, const struct model *m, const struct kv_method *meth)
{
	/* model2maxlen (spec eval.md 1.2): the last key that is a substring of the lower-cased path wins */
	static const struct {
		const char *key;
		int cap;
	} table[] = { { "llama2", 3950 }, { "llama-2", 3950 }, { "llama3", 7950 }, { "llama-3", 7950 },
		      { "mistral", 127500 }, { "ministral", 127500 }, { "llama-3.1", 127500 } };
	if (p->max_len > 0)
		return (struct task_cap){ p->max_len, "--model_max_len" };
	if (p->cap_rule == TASK_CAP_NONE)
		return (struct task_cap){ 0, "none" };
	if (meth && meth->prompt_cap > 0)
		return (struct task_cap){ meth->prompt_cap, "h2o/pyramidinfer override" };
	/* model_name.lower(): Python's full lower-casing ("\u212a" is a 'k') */
	const char *path = m->path ? m->path : "";
	char *low = NULL;
	py_lower_utf8(path, strlen(path), &low, NULL);
	struct task_cap cap = { 0, NULL };
	for (size_t i = 0; low && i < sizeof(table) / sizeof(table[0]); i++)
		if (strstr(low, table[i].key))
			cap = (struct task_cap){ table[i].cap, table[i].key };
	free(low);
	if (cap.max_len)
		return cap;
	/* no key matches (the official code fails there) */
	if (p->cap_rule == TASK_CAP_MODEL2MAXLEN_CTX)
		return (struct task_cap){ m->cfg.max_pos - 242, "model context - 242 (no official key matches)" };
	return (struct task_cap){ 0, "no cap (no official key matches)" };
}

// ----------------------------------------------------------------------------
// tokens

int prompt_truncate(const struct tokenizer *t, const int32_t *ids, int n, int cap, int32_t **out, int *n_out, char *err,
		    size_t errlen)
{
	*out = NULL;
	if (cap <= 0 || n <= cap)
		return 0;
	int half = cap / 2, rc;
	char *head = NULL, *tail = NULL, *joined = NULL;
	size_t hl = 0, tl = 0;
	if ((rc = tok_decode(t, ids, half, true, &head, &hl, err, errlen)) ||
	    (rc = tok_decode(t, ids + n - half, half, true, &tail, &tl, err, errlen)))
		goto out;
	if (!(joined = malloc(hl + tl + 1))) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		goto out;
	}
	memcpy(joined, head, hl);
	memcpy(joined + hl, tail, tl);
	joined[hl + tl] = 0;
	rc = tok_encode(t, joined, hl + tl, true, out, n_out, err, errlen);
out:
	free(head);
	free(tail);
	free(joined);
	return rc;
}

/* The sample's text as the driver renders it: one chat user turn (the model's BOS text in
 * front, as the template writes it) into *chat (malloc'd), or *chat = NULL for plain text. */
static int render(const struct model *m, const struct task_sample *s, char **chat, char *err, size_t errlen)
{
	*chat = NULL;
	if (!s->chat || m->chat.family == CHAT_NONE)
		return 0;
	int bos = tok_bos(m->tok);
	return chat_render_user(&m->chat, bos >= 0 ? tok_piece(m->tok, bos) : "", s->text, chat, err, errlen);
}

/* The sample's text as the driver feeds it, rendered and encoded with or without specials. */
static int encode(const struct model *m, const struct task_sample *s, int32_t **ids, int *n, char *err, size_t errlen)
{
	char *chat = NULL;
	int rc;
	if ((rc = render(m, s, &chat, err, errlen)))
		return rc;
	const char *text = chat ? chat : s->text;
	rc = tok_encode(m->tok, text, strlen(text), s->add_special, ids, n, err, errlen);
	free(chat);
	return rc;
}

char *prompt_meta_append(const char *meta, const char *members)
{
	size_t len = strlen(meta), add = strlen(members);
	char *out = malloc(len + add + 2);
	if (!out)
		return NULL;
	if (len < 2 || meta[len - 1] != '}') { /* not an object: leave it */
		memcpy(out, meta, len + 1);
		return out;
	}
	snprintf(out, len + add + 2, "%.*s%s%s}", (int)len - 1, meta, len > 2 ? "," : "", members);
	return out;
}

int prompt_split(const struct model *m, const struct task_sample *s, const int32_t *ids, int n, int *n_ctx, bool *exact,
		 char *err, size_t errlen)
{
	const char *text = s->text;
	size_t tlen = strlen(text), at = s->question_at, lead = 0;
	if (!s->question_split || at > tlen)
		return kv_errf(err, errlen, KV_EINVAL,
			       "sample %s: the task gives no question part to split off, which --protocol context_first needs", s->id);
	while (at > 0 && isspace((unsigned char)text[at - 1]))
		at--;
	while (lead < at && isspace((unsigned char)text[lead]))
		lead++;
	if (at == lead)
		return kv_errf(err, errlen, KV_EINVAL, "sample %s: the context part before the question is empty (--protocol context_first)",
			       s->id);
	char *chat = NULL;
	int32_t *pids = NULL;
	int np = 0, rc;
	if ((rc = render(m, s, &chat, err, errlen)))
		return rc;
	size_t plen = at;
	if (chat) { /* the context part ends where it ends inside the rendered turn (templates may trim the start) */
		const char *p = memmem(chat, strlen(chat), text + lead, at - lead);
		if (!p) {
			free(chat);
			return kv_errf(err, errlen, KV_EINTERNAL, "sample %s: the chat template changed the context text; cannot split it",
				       s->id);
		}
		plen = (size_t)(p - chat) + (at - lead);
	}
	rc = tok_encode(m->tok, chat ? chat : text, plen, s->add_special, &pids, &np, err, errlen);
	free(chat);
	if (rc)
		return rc;
	int k = 0;
	while (k < np && k < n && pids[k] == ids[k])
		k++;
	free(pids);
	if (k == 0 || k >= n)
		return kv_errf(err, errlen, KV_EINVAL, "sample %s: the split leaves %s part empty (%d of %d tokens in the context)",
			       s->id, k == 0 ? "the context" : "the question", k, n);
	*n_ctx = k;
	*exact = k == np;
	return 0;
}

/* The split of a truncated prompt t (nt,) from the full one's (k_full of n_full tokens in
 * the context): the question part is the tail both share, at most the full question part. */
static void split_truncated(const int32_t *full, int n_full, int k_full, bool exact, const int32_t *t, int nt, int *k_t,
			    bool *exact_t)
{
	int nq = n_full - k_full, cs = 0;
	while (cs < nq && cs < nt && full[n_full - 1 - cs] == t[nt - 1 - cs])
		cs++;
	*k_t = nt - cs;
	*exact_t = exact && cs == nq;
}

// ----------------------------------------------------------------------------
// the set

int prompt_set_build(struct prompt_set *ps, const struct model *m, const struct task_sample *s,
		     const struct task_protocol *p, const struct kv_method *const *meths, const bool *want, int n,
		     char *err, size_t errlen)
{
	int rc, n_full = 0;
	memset(ps, 0, sizeof(*ps));
	if (n < 0 || n > PROMPT_SET_MAX)
		return kv_errf(err, errlen, KV_EINTERNAL, "prompt_set_build: %d methods (at most %d)", n, PROMPT_SET_MAX);
	ps->n = n;
	bool any = false;
	for (int j = 0; j < n; j++)
		any = any || !want || want[j];
	if (!any)
		return 0;
	if ((rc = encode(m, s, &ps->buf[0], &n_full, err, errlen)))
		return rc;
	ps->n_buf = 1;
	ps->n_encoded = 1;
	if (p->context_first && (rc = prompt_split(m, s, ps->buf[0], n_full, &ps->split_of[0], &ps->exact_of[0], err, errlen)))
		return rc;
	int len[PROMPT_SET_MAX + 1] = { n_full };
	for (int j = 0; j < n; j++) {
		if (want && !want[j])
			continue;
		struct prompt *q = &ps->p[j];
		int cap = prompt_cap(p, m, meths[j]).max_len, k = 0;
		if (cap > 0 && n_full > cap) { /* the buffer for this cap: made once */
			for (k = 1; k < ps->n_buf && ps->cap_of[k] != cap; k++)
				;
			if (k == ps->n_buf) {
				if ((rc = prompt_truncate(m->tok, ps->buf[0], n_full, cap, &ps->buf[k], &len[k], err, errlen)))
					return rc;
				ps->cap_of[k] = cap;
				ps->n_buf++;
				ps->n_truncated++;
				if (p->context_first) {
					split_truncated(ps->buf[0], n_full, ps->split_of[0], ps->exact_of[0], ps->buf[k], len[k],
							&ps->split_of[k], &ps->exact_of[k]);
					if (ps->split_of[k] <= 0)
						return kv_errf(err, errlen, KV_EINVAL,
							       "sample %s: truncated to %d tokens, no context part is left before the question (--protocol context_first)",
							       s->id, cap);
				}
			}
		}
		q->ids = ps->buf[k];
		q->n_ids = len[k];
		q->truncated = k > 0;
		q->n_full = n_full;
		q->max_new_tokens = s->max_new_tokens;
		q->min_one_token = s->min_one_token;
		q->strip = s->strip;
		if (p->method_gen_rules && meths[j] && meths[j]->gen_extra_token) {
			/* FastKV's LongBench driver for GemFilter (spec eval.md 1.6): the first token
			 * unconditional, up to max_gen_len + 1, stripped */
			q->max_new_tokens += 1;
			q->min_one_token = false;
			q->strip = true;
		}
		if (p->context_first) {
			q->n_context = ps->split_of[k];
			q->split_exact = ps->exact_of[k];
		}
		char add[160] = "";
		size_t o = 0;
		if (s->meta_truncation)
			o += (size_t)snprintf(add + o, sizeof(add) - o, "\"truncated\":%s,\"n_tokens_full\":%d",
					      q->truncated ? "true" : "false", n_full);
		if (p->context_first)
			snprintf(add + o, sizeof(add) - o, "%s\"n_context\":%d,\"split_exact\":%s", o ? "," : "", q->n_context,
				 q->split_exact ? "true" : "false");
		const char *meta = s->meta_json ? s->meta_json : "{}";
		q->meta_json = add[0] ? prompt_meta_append(meta, add) : strdup(meta);
		if (!q->meta_json)
			return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	}
	return 0;
}

void prompt_set_free(struct prompt_set *ps)
{
	for (int k = 0; k < ps->n_buf; k++)
		free(ps->buf[k]);
	for (int j = 0; j < ps->n; j++)
		free(ps->p[j].meta_json);
	memset(ps, 0, sizeof(*ps));
}
