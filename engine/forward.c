/* The LLaMA/Mistral decoder forward (transformers' LlamaModel order of ops):
 *   x = embed(ids); per layer: x += Wo . attn(rope(Wq.n1(x)), rope(Wk.n1(x)), Wv.n1(x));
 *                              x += Wd . (silu(Wg.n2(x)) * Wu.n2(x));
 *   logits = Wout . norm(x)
 * Prefill writes every layer's post-RoPE K/V into the cache and attends with the
 * layer's own uncompressed K/V; decode attends over the cache.
 * T = tokens, E = n_embd, H = n_head, Hkv = n_head_kv, D = head_dim, F = n_ff, V = n_vocab */
#include "engine/forward.h"

#include <stdlib.h>
#include <string.h>

#include "engine/backend.h" // struct backend_ops, backend_cpu
#include "base/errors.h"  // kv_errf
#include "engine/kvcache.h" // kv_cache_*
#include "engine/model.h"   // struct model

#define FFN_CHUNK 256 /* tokens per feed-forward chunk: bounds the (chunk, F) buffers */

int fwd_session_init(const struct model *m, const struct kv_policy *pol, int reserve, int n_threads,
		     struct fwd_session **out, char *err, size_t errlen)
{
	const struct model_config *c = &m->cfg;
	int rc;
	struct fwd_session *s = calloc(1, sizeof(*s));
	if (!s)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory for a session");
	s->m = m;
	s->be = &backend_cpu;
	if (pol)
		s->pol = *pol;
	s->shape = (struct kv_shape){ .n_layer = c->n_layer, .n_head = c->n_head, .n_head_kv = c->n_head_kv,
				      .head_dim = c->head_dim, .n_embd = c->n_embd };
	s->n_threads = n_threads;
	s->reserve = reserve > 0 ? reserve : 0;
	size_t E = c->n_embd, HD = (size_t)c->n_head * c->head_dim, KD = (size_t)c->n_head_kv * c->head_dim;
	/* decode scratch: x, xn, tmp (E each), q, att (HD), k, v (KD), g, u (F) */
	s->dec = malloc(sizeof(float) * (3 * E + 2 * HD + 2 * KD + 2 * (size_t)c->n_ff));
	s->trace.n_layer = c->n_layer;
	s->trace.n_alive = calloc(c->n_layer, sizeof(int));
	s->trace.n_prop = calloc(c->n_layer, sizeof(int));
	s->trace.prop_pos = calloc(c->n_layer, sizeof(int32_t *));
	if (!s->dec || !s->trace.n_alive || !s->trace.n_prop || !s->trace.prop_pos) {
		fwd_session_free(s);
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory for a session");
	}
	if ((rc = kv_cache_init(&s->cache, c->n_layer, NULL, c->n_head_kv, 0, c->head_dim, err, errlen))) {
		fwd_session_free(s);
		return rc;
	}
	s->be->set_threads(n_threads);
	*out = s;
	return 0;
}

static void trace_reset(struct fwd_trace *t)
{
	for (int l = 0; l < t->n_layer; l++) {
		free(t->prop_pos[l]);
		t->prop_pos[l] = NULL;
		t->n_prop[l] = 0;
		t->n_alive[l] = 0;
	}
	free(t->restart_pos);
	t->restart_pos = NULL;
	t->n_restart = 0;
}

void fwd_session_free(struct fwd_session *s)
{
	if (!s)
		return;
	if (s->trace.prop_pos)
		trace_reset(&s->trace);
	free(s->trace.n_alive);
	free(s->trace.n_prop);
	free(s->trace.prop_pos);
	kv_cache_free(s->cache);
	free(s->dec);
	free(s);
}

static void add_rows(float *x, const float *y, size_t n)
{
#pragma omp parallel for schedule(static) if (n > 65536)
	for (size_t i = 0; i < n; i++)
		x[i] += y[i];
}

static int check_ids(const struct model *m, const int32_t *ids, int n, char *err, size_t errlen)
{
	for (int i = 0; i < n; i++)
		if (ids[i] < 0 || ids[i] >= m->cfg.n_vocab)
			return kv_errf(err, errlen, KV_EINVAL, "token id %d at index %d is outside the vocabulary (0..%d)",
				       ids[i], i, m->cfg.n_vocab - 1);
	return 0;
}

/* One product y (T, out) = x . W^T of a list sharing x: W's fp32 weights w and its
 * block-quantised copy q (type QMAT_NONE when the model has none). */
struct prod {
	float *y;
	const float *w;
	const struct qmat *q;
	int out;
};

/* The n (<= 4) products p of x (T, in). One row goes through the block-quantised copies
 * in a single backend call when every W has one (decode reads a fifth of the bytes and
 * wakes the worker threads once for the list); otherwise the fp32 weights, one by one. */
static void mm(const struct backend_ops *be, const float *x, int T, int in, const struct prod *p, int n)
{
	bool packed = T == 1 && be->qmatvec;
	for (int i = 0; i < n; i++)
		packed = packed && p[i].q->type != QMAT_NONE;
	if (packed) {
		float *ys[4];
		const struct qmat *qs[4];
		for (int i = 0; i < n; i++) {
			ys[i] = p[i].y;
			qs[i] = p[i].q;
		}
		be->qmatvec(ys, x, qs, n);
		return;
	}
	for (int i = 0; i < n; i++)
		be->matmul(p[i].y, x, p[i].w, T, in, p[i].out);
}

/* The feed-forward block for T rows of xn into out (T, E), FFN_CHUNK rows at a time. */
static void ffn(const struct backend_ops *be, const struct model_config *c, const struct layer_weights *w,
		float *out, const float *xn, int T, float *g, float *u)
{
	int E = c->n_embd, F = c->n_ff;
	for (int t0 = 0; t0 < T; t0 += FFN_CHUNK) {
		int tc = T - t0 < FFN_CHUNK ? T - t0 : FFN_CHUNK;
		const struct prod gate_up[] = { { g, w->w_gate, &w->q[QW_GATE], F }, { u, w->w_up, &w->q[QW_UP], F } };
		mm(be, xn + (size_t)t0 * E, tc, E, gate_up, 2);
		be->swiglu(g, u, tc, F);
		mm(be, g, tc, F, &(struct prod){ out + (size_t)t0 * E, w->w_down, &w->q[QW_DOWN], E }, 1);
	}
}

/* Checks a method's prefill decision against the layer it was made for. */
static int check_decision(const struct kv_policy *pol, struct kv_decision *d, int T, int H, int Hkv, int l,
			  char *err, size_t errlen)
{
	const char *name = pol->m ? pol->m->name : "?";
	if (!d->keep_all) {
		d->n_cache_heads = d->per_query_head ? H : Hkv;
		for (int h = 0; h < d->n_cache_heads; h++)
			if (d->n_keep[h] < 0 || d->n_keep[h] > T)
				return kv_errf(err, errlen, KV_EINTERNAL, "method %s: layer %d head %d keeps %d of %d rows", name, l, h,
					       d->n_keep[h], T);
	}
	struct { int n; const int32_t *rows; const char *what; } lists[] = {
		{ d->n_prop, d->prop, "propagated" }, { d->n_restart, d->restart, "restart" },
	};
	for (int i = 0; i < 2; i++) {
		if (lists[i].n < 0 || lists[i].n > T)
			return kv_errf(err, errlen, KV_EINTERNAL, "method %s: layer %d: %d %s rows of %d", name, l, lists[i].n,
				       lists[i].what, T);
		for (int j = 0; j < lists[i].n; j++)
			if (lists[i].rows[j] < 0 || lists[i].rows[j] >= T || (j && lists[i].rows[j] <= lists[i].rows[j - 1]))
				return kv_errf(err, errlen, KV_EINTERNAL, "method %s: layer %d: %s rows must be strictly ascending in 0..%d",
					       name, l, lists[i].what, T - 1);
	}
	return 0;
}

/* Keeps rows[0..k) of the (T, width) matrix x in place. */
static void gather_rows(float *x, int width, const int32_t *rows, int k)
{
	for (int i = 0; i < k; i++)
		if (rows[i] != i)
			memmove(x + (size_t)i * width, x + (size_t)rows[i] * width, sizeof(float) * width);
}

static void gather_i32(int32_t *x, const int32_t *rows, int k)
{
	for (int i = 0; i < k; i++)
		x[i] = x[rows[i]];
}

/* The propagated rows a decision asks for: 0 when every row goes on. */
static int n_prop_of(const struct kv_decision *d, int T)
{
	return d->n_prop > 0 && d->n_prop < T ? d->n_prop : 0;
}

/* Checks that member i of a shared prefill decided the same propagation and restart as
 * member 0 at layer l: the forward is computed once, so only the caches may differ. */
static int check_same_flow(struct fwd_session *const *ss, const struct kv_decision *d, int i, int T, int l,
			   char *err, size_t errlen)
{
	const struct kv_decision *a = &d[0], *b = &d[i];
	int np = n_prop_of(a, T);
	bool same = np == n_prop_of(b, T) && !memcmp(a->prop, b->prop, sizeof(int32_t) * (size_t)np) &&
		    a->n_restart == b->n_restart && (a->n_restart == 0 || (a->restart_renumber == b->restart_renumber &&
		    !memcmp(a->restart, b->restart, sizeof(int32_t) * (size_t)a->n_restart)));
	if (same)
		return 0;
	const char *na = ss[0]->pol.m ? ss[0]->pol.m->name : "fullkv", *nb = ss[i]->pol.m ? ss[i]->pol.m->name : "fullkv";
	return kv_errf(err, errlen, KV_EINVAL,
		       "shared prefill: %s and %s send different tokens on after layer %d (propagation or restart), "
		       "so they cannot share one forward; run them separately", na, nb, l);
}

int fwd_prefill(struct fwd_session *s, const int32_t *ids, int n, bool all_rows, float *logits,
		char *err, size_t errlen)
{
	return fwd_prefill_shared(&s, 1, ids, n, all_rows, logits, err, errlen);
}

int fwd_prefill_shared(struct fwd_session *const *ss, int ns, const int32_t *ids, int n, bool all_rows, float *logits,
		       char *err, size_t errlen)
{
	if (ns < 1)
		return kv_errf(err, errlen, KV_EINVAL, "prefill needs at least one session");
	struct fwd_session *s = ss[0];
	const struct model *m = s->m;
	const struct model_config *c = &m->cfg;
	const struct backend_ops *be = s->be;
	int E = c->n_embd, H = c->n_head, Hkv = c->n_head_kv, D = c->head_dim, F = c->n_ff, V = c->n_vocab;
	int rc;
	if (n <= 0)
		return kv_errf(err, errlen, KV_EINVAL, "prefill needs at least one token");
	if ((rc = check_ids(m, ids, n, err, errlen)))
		return rc;
	for (int i = 0; i < ns; i++) {
		if (ss[i]->m != m || ss[i]->be != be)
			return kv_errf(err, errlen, KV_EINVAL, "shared prefill: every session must use the same model and backend");
		if (kv_cache_entries(ss[i]->cache, 0) != 0)
			return kv_errf(err, errlen, KV_EINVAL, "prefill needs an empty session");
	}
	be->set_threads(s->n_threads);

	size_t nE = (size_t)n * E, nHD = (size_t)n * H * D, nKD = (size_t)n * Hkv * D, dsz = (size_t)H * n + 2 * (size_t)n;
	int fc = n < FFN_CHUNK ? n : FFN_CHUNK;
	float *buf = malloc(sizeof(float) * (3 * nE + 2 * nHD + 2 * nKD + 2 * (size_t)fc * F));
	int32_t *pos = malloc(sizeof(int32_t) * (size_t)n), *cur = malloc(sizeof(int32_t) * (size_t)n);
	int32_t *dbuf = malloc(sizeof(int32_t) * dsz * (size_t)ns);
	int *n_keep = malloc(sizeof(int) * (size_t)H * (size_t)ns);
	struct kv_decision *d = malloc(sizeof(*d) * (size_t)ns);
	if (!buf || !pos || !cur || !dbuf || !n_keep || !d) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory for a %d-token prefill", n);
		goto out_free;
	}
	float *x = buf, *xn = x + nE, *tmp = xn + nE;  /* (T, E) each */
	float *q = tmp + nE, *att = q + nHD;           /* (T, H*D) */
	float *k = att + nHD, *v = k + nKD;            /* (T, Hkv*D) */
	float *g = v + nKD, *u = g + (size_t)fc * F;   /* (chunk, F) */
	int T = n, pass = 0;
	for (int i = 0; i < ns; i++) {
		trace_reset(&ss[i]->trace);
		ss[i]->trace.n_prompt = n;
		ss[i]->next_pos = n; /* C7: decode continues the original numbering */
	}
	memcpy(cur, ids, sizeof(int32_t) * (size_t)n);
	for (int t = 0; t < n; t++)
		pos[t] = t;
restart:
	for (int t = 0; t < T; t++)
		memcpy(x + (size_t)t * E, m->tok_embd + (size_t)cur[t] * E, sizeof(float) * E);
	for (int l = 0; l < c->n_layer; l++) {
		const struct layer_weights *w = &m->layers[l];
		be->rmsnorm(xn, x, w->attn_norm, T, E, c->norm_eps);
		const struct prod qkv[] = { { q, w->wq, &w->q[QW_Q], H * D }, { k, w->wk, &w->q[QW_K], Hkv * D },
					    { v, w->wv, &w->q[QW_V], Hkv * D } };
		mm(be, xn, T, E, qkv, 3);
		be->rope(q, H * D, pos, T, H, D, m->rope_inv_freq);
		be->rope(k, Hkv * D, pos, T, Hkv, D, m->rope_inv_freq);

		for (int i = 0; i < ns; i++) {
			int32_t *di = dbuf + dsz * (size_t)i;
			d[i] = (struct kv_decision){ .keep_all = true, .n_keep = n_keep + (size_t)H * i, .keep = di,
						     .prop = di + (size_t)H * n, .restart = di + (size_t)H * n + n };
			struct kv_layer_view view = { .shape = &ss[i]->shape, .layer = l, .pass = pass, .n = T,
						      .n_prompt = ss[i]->trace.n_prompt, .pos = pos, .ids = cur, .q = q, .k = k, .v = v };
			if ((rc = kv_policy_prefill_layer(&ss[i]->pol, &view, &d[i], err, errlen)) ||
			    (rc = check_decision(&ss[i]->pol, &d[i], T, H, Hkv, l, err, errlen)) ||
			    (i > 0 && (rc = check_same_flow(ss, d, i, T, l, err, errlen))))
				goto out_free;
		}
		if (d[0].n_restart > 0) {
			if (pass > 0) {
				rc = kv_errf(err, errlen, KV_EINTERNAL, "method %s asked for a second restart", s->pol.m->name);
				goto out_free;
			}
			for (int i = 0; i < ns; i++) {
				struct fwd_trace *tr = &ss[i]->trace;
				tr->n_restart = d[0].n_restart;
				tr->restart_layer = l;
				if (!(tr->restart_pos = malloc(sizeof(int32_t) * (size_t)d[0].n_restart))) {
					rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
					goto out_free;
				}
				for (int j = 0; j < d[0].n_restart; j++)
					tr->restart_pos[j] = pos[d[0].restart[j]];
			}
			gather_i32(cur, d[0].restart, d[0].n_restart);
			gather_i32(pos, d[0].restart, d[0].n_restart);
			T = d[0].n_restart;
			if (d[0].restart_renumber) {
				for (int t = 0; t < T; t++)
					pos[t] = t;
				for (int i = 0; i < ns; i++)
					ss[i]->next_pos = T;
			}
			pass = 1;
			goto restart;
		}
		for (int i = 0; i < ns; i++) {
			if ((rc = kv_cache_set_layer(ss[i]->cache, l, d[i].keep_all ? Hkv : d[i].n_cache_heads, d[i].n_keep,
						     d[i].keep_all ? NULL : d[i].keep, T, k, v, Hkv * D, pos, T, Hkv, ss[i]->reserve,
						     err, errlen)))
				goto out_free;
			ss[i]->trace.n_alive[l] = T;
		}

		be->attn_causal(att, q, k, v, T, H, Hkv, D);
		mm(be, att, T, H * D, &(struct prod){ tmp, w->wo, &w->q[QW_O], E }, 1);
		add_rows(x, tmp, (size_t)T * E);
		be->rmsnorm(xn, x, w->ffn_norm, T, E, c->norm_eps);
		ffn(be, c, w, tmp, xn, T, g, u);
		add_rows(x, tmp, (size_t)T * E);

		int np = n_prop_of(&d[0], T);
		if (np > 0) {
			gather_rows(x, E, d[0].prop, np);
			gather_i32(pos, d[0].prop, np);
			gather_i32(cur, d[0].prop, np);
			for (int i = 0; i < ns; i++) {
				struct fwd_trace *tr = &ss[i]->trace;
				if (!(tr->prop_pos[l] = malloc(sizeof(int32_t) * (size_t)np))) {
					rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
					goto out_free;
				}
				memcpy(tr->prop_pos[l], pos, sizeof(int32_t) * (size_t)np);
				tr->n_prop[l] = np;
			}
			T = np;
		}
	}
	int r0 = all_rows ? 0 : T - 1, nr = all_rows ? T : 1;
	be->rmsnorm(xn, x + (size_t)r0 * E, m->out_norm, nr, E, c->norm_eps);
	mm(be, xn, nr, E, &(struct prod){ logits, m->output, &m->q_output, V }, 1);
	for (int i = 0; i < ns; i++)
		ss[i]->decode_step = 0;
	rc = 0;
out_free:
	free(buf);
	free(pos);
	free(cur);
	free(dbuf);
	free(n_keep);
	free(d);
	return rc;
}

/* Lets the policy evict from layer l after a decode step appended to it and attended. */
static int decode_evict(struct fwd_session *s, int l, const float *q, int32_t pos, char *err, size_t errlen)
{
	if (!s->pol.m || !s->pol.m->decode_layer)
		return 0;
	struct kv_layer *L = &s->cache->layers[l];
	int D = s->shape.head_dim, nh = L->n_head, rc;
	const float *kp[nh];
	const int32_t *pp[nh];
	for (int h = 0; h < nh; h++) {
		kp[h] = L->k + (size_t)h * L->cap * D;
		pp[h] = L->pos + (size_t)h * L->cap;
	}
	int stride = L->cap;
	int *n_keep = malloc(sizeof(int) * (size_t)nh);
	int32_t *keep = malloc(sizeof(int32_t) * (size_t)nh * (stride > 0 ? stride : 1));
	if (!n_keep || !keep) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		goto out;
	}
	struct kv_decision d = { .keep_all = true, .n_keep = n_keep, .keep = keep, .n_cache_heads = nh };
	struct kv_decode_view v = { .shape = &s->shape, .layer = l, .step = s->decode_step, .pos = pos, .q = q,
				    .n_cache_heads = nh, .len = L->len, .stride = stride, .k = kp, .cpos = pp };
	if ((rc = kv_policy_decode_layer(&s->pol, &v, &d, err, errlen)))
		goto out;
	for (int h = 0; !d.keep_all && h < nh; h++)
		if ((rc = kv_cache_keep(s->cache, l, h, keep + (size_t)h * stride, n_keep[h], err, errlen)))
			goto out;
	rc = 0;
out:
	free(n_keep);
	free(keep);
	return rc;
}

int fwd_decode(struct fwd_session *s, int32_t id, float *logits, char *err, size_t errlen)
{
	const struct model *m = s->m;
	const struct model_config *c = &m->cfg;
	const struct backend_ops *be = s->be;
	int E = c->n_embd, H = c->n_head, Hkv = c->n_head_kv, D = c->head_dim, F = c->n_ff, V = c->n_vocab;
	int rc;
	if ((rc = check_ids(m, &id, 1, err, errlen)))
		return rc;
	be->set_threads(s->n_threads);
	float *x = s->dec, *xn = x + E, *tmp = xn + E, *q = tmp + E, *att = q + (size_t)H * D;
	float *k = att + (size_t)H * D, *v = k + (size_t)Hkv * D, *g = v + (size_t)Hkv * D, *u = g + F;
	struct attn_kv_view views[H];
	if (kv_cache_entries(s->cache, 0) == 0)
		return kv_errf(err, errlen, KV_EINVAL, "decode needs a prefilled session");
	int32_t pos = s->next_pos;
	memcpy(x, m->tok_embd + (size_t)id * E, sizeof(float) * E);
	for (int l = 0; l < c->n_layer; l++) {
		const struct layer_weights *w = &m->layers[l];
		struct kv_layer *L = &s->cache->layers[l];
		be->rmsnorm(xn, x, w->attn_norm, 1, E, c->norm_eps);
		const struct prod qkv[] = { { q, w->wq, &w->q[QW_Q], H * D }, { k, w->wk, &w->q[QW_K], Hkv * D },
					    { v, w->wv, &w->q[QW_V], Hkv * D } };
		mm(be, xn, 1, E, qkv, 3);
		be->rope(q, H * D, &pos, 1, H, D, m->rope_inv_freq);
		be->rope(k, Hkv * D, &pos, 1, Hkv, D, m->rope_inv_freq);
		if ((rc = kv_cache_append(s->cache, l, k, v, Hkv * D, &pos, 1, Hkv, err, errlen)))
			return rc;
		for (int h = 0; h < L->n_head; h++)
			views[h] = (struct attn_kv_view){ .k = L->k + (size_t)h * L->cap * D, .v = L->v + (size_t)h * L->cap * D,
							  .n = L->len[h], .ld = D };
		be->attn_cached(att, q, views, L->n_head, H, D);
		/* evict after the new token attended over the whole cache (PyramidInfer compresses
		 * its cache after the layer's attention) */
		if ((rc = decode_evict(s, l, q, pos, err, errlen)))
			return rc;
		mm(be, att, 1, H * D, &(struct prod){ tmp, w->wo, &w->q[QW_O], E }, 1);
		add_rows(x, tmp, E);
		be->rmsnorm(xn, x, w->ffn_norm, 1, E, c->norm_eps);
		ffn(be, c, w, tmp, xn, 1, g, u);
		add_rows(x, tmp, E);
	}
	be->rmsnorm(xn, x, m->out_norm, 1, E, c->norm_eps);
	mm(be, xn, 1, E, &(struct prod){ logits, m->output, &m->q_output, V }, 1);
	s->next_pos++;
	s->decode_step++;
	return 0;
}

int fwd_logits(const struct model *m, const int32_t *ids, int n, bool all_rows, int n_threads,
	       float **logits, char *err, size_t errlen)
{
	struct fwd_session *s = NULL;
	int rc;
	if (n <= 0)
		return kv_errf(err, errlen, KV_EINVAL, "prefill needs at least one token");
	float *out = malloc(sizeof(float) * (size_t)(all_rows ? n : 1) * m->cfg.n_vocab);
	if (!out)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory for logits");
	if ((rc = fwd_session_init(m, NULL, 0, n_threads, &s, err, errlen)))
		goto out_fail;
	if ((rc = fwd_prefill(s, ids, n, all_rows, out, err, errlen)))
		goto out_fail;
	fwd_session_free(s);
	*logits = out;
	return 0;
out_fail:
	fwd_session_free(s);
	free(out);
	return rc;
}
