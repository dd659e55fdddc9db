/* The LLaMA/Mistral decoder forward (transformers' LlamaModel order of ops):
 *   x = embed(ids); per layer: x += Wo . attn(rope(Wq.n1(x)), rope(Wk.n1(x)), Wv.n1(x));
 *                              x += Wd . (silu(Wg.n2(x)) * Wu.n2(x));
 *   logits = Wout . norm(x)
 * Prefill writes every layer's post-RoPE K/V into the cache and attends with the
 * layer's own uncompressed K/V; decode attends over the cache.
 * T = tokens, E = n_embd, H = n_head, Hkv = n_head_kv, D = head_dim, F = n_ff, V = n_vocab */
#include "engine/forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h" // bk_* wrappers, backend_cpu
#include "engine/cpu/cpu_ops.h" // cpu_softmax_row (the replay's host path)
#include "base/errors.h"  // kv_errf
#include "engine/kvcache.h" // kv_cache_*
#include "engine/model.h"   // struct model

#define FFN_CHUNK 256 /* tokens per feed-forward chunk: bounds the (chunk, F) buffers */

int fwd_session_init(const struct model *m, const struct kv_policy *pol, int reserve, int n_threads,
		     struct fwd_session **out, char *err, size_t errlen)
{
	return fwd_session_init_on(&backend_cpu, m, pol, reserve, n_threads, out, err, errlen);
}

int fwd_session_init_on(const struct backend_ops *be, const struct model *m, const struct kv_policy *pol, int reserve,
			int n_threads, struct fwd_session **out, char *err, size_t errlen)
{
	const struct model_config *c = &m->cfg;
	int rc;
	if ((rc = backend_validate(be, err, errlen)))
		return rc;
	struct fwd_session *s = calloc(1, sizeof(*s));
	if (!s)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory for a session");
	s->m = m;
	s->be = be;
	if (pol)
		s->pol = *pol;
	s->shape = (struct kv_shape){ .n_layer = c->n_layer, .n_head = c->n_head, .n_head_kv = c->n_head_kv,
				      .head_dim = c->head_dim, .n_embd = c->n_embd };
	s->n_threads = n_threads;
	s->reserve = reserve > 0 ? reserve : 0;
	size_t E = c->n_embd, HD = (size_t)c->n_head * c->head_dim, KD = (size_t)c->n_head_kv * c->head_dim;
	/* decode scratch: x, xn, tmp (E each), q, att (HD), k, v (KD), g, u (F) */
	s->dec = bk_alloc(be, sizeof(float) * (3 * E + 2 * HD + 2 * KD + 2 * (size_t)c->n_ff));
	s->views = malloc(sizeof(*s->views) * (size_t)c->n_head);
	s->trace.n_layer = c->n_layer;
	s->trace.n_alive = calloc(c->n_layer, sizeof(int));
	s->trace.n_prop = calloc(c->n_layer, sizeof(int));
	s->trace.prop_pos = calloc(c->n_layer, sizeof(int32_t *));
	s->trace.tie_heads = c->n_head;
	s->trace.kv_tie = calloc((size_t)c->n_layer * c->n_head, sizeof(struct kv_tie));
	s->trace.prop_tie = calloc(c->n_layer, sizeof(struct kv_tie));
	if (!s->dec || !s->views || !s->trace.n_alive || !s->trace.n_prop || !s->trace.prop_pos || !s->trace.kv_tie ||
	    !s->trace.prop_tie) {
		fwd_session_free(s);
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory for a session");
	}
	if ((rc = kv_cache_init(&s->cache, be, c->n_layer, NULL, c->n_head_kv, 0, c->head_dim, KV_DTYPE_F32, err, errlen)) ||
	    (rc = bk_prepare(be, m, err, errlen))) {
		fwd_session_free(s);
		return rc;
	}
	bk_set_threads(be, n_threads);
	*out = s;
	return 0;
}

int fwd_session_set_kv_dtype(struct fwd_session *s, enum kv_dtype t, char *err, size_t errlen)
{
	const struct model_config *c = &s->m->cfg;
	struct kv_cache *nc = NULL;
	if (kv_cache_entries(s->cache, 0) != 0)
		return kv_errf(err, errlen, KV_EINVAL, "--kv_dtype: the KV type is set before the prefill");
	if (t == s->cache->dtype)
		return 0;
	int rc = kv_cache_init(&nc, s->be, c->n_layer, NULL, c->n_head_kv, 0, c->head_dim, t, err, errlen);
	if (rc)
		return rc;
	kv_cache_free(s->cache);
	s->cache = nc;
	return 0;
}

/* Empties the trace; its arrays may be missing when the session's set-up ran out of memory. */
static void trace_reset(struct fwd_trace *t)
{
	for (int l = 0; l < t->n_layer; l++) {
		if (t->prop_pos) {
			free(t->prop_pos[l]);
			t->prop_pos[l] = NULL;
		}
		if (t->n_prop)
			t->n_prop[l] = 0;
		if (t->n_alive)
			t->n_alive[l] = 0;
		if (t->prop_tie)
			t->prop_tie[l] = (struct kv_tie){ 0, 0 };
		for (int h = 0; t->kv_tie && h < t->tie_heads; h++)
			t->kv_tie[(size_t)l * t->tie_heads + h] = (struct kv_tie){ 0, 0 };
	}
	free(t->restart_pos);
	t->restart_pos = NULL;
	t->n_restart = 0;
	t->restart_tie = (struct kv_tie){ 0, 0 };
}

static void tie_add(struct fwd_tie_stats *s, struct kv_tie t)
{
	if (t.n_tied <= 0)
		return;
	s->n_cuts++;
	s->n_inside += t.n_kept < t.n_tied;
	s->sum_tied += t.n_tied;
}

void fwd_trace_ties(const struct fwd_trace *t, struct fwd_tie_stats *kv, struct fwd_tie_stats *prop,
		    struct fwd_tie_stats *restart)
{
	*kv = *prop = *restart = (struct fwd_tie_stats){ 0 };
	for (int l = 0; l < t->n_layer; l++) {
		for (int h = 0; h < t->tie_heads; h++)
			tie_add(kv, t->kv_tie[(size_t)l * t->tie_heads + h]);
		tie_add(prop, t->prop_tie[l]);
	}
	tie_add(restart, t->restart_tie);
}

void fwd_session_free(struct fwd_session *s)
{
	if (!s)
		return;
	if (s->trace.prop_pos && s->trace.n_alive && s->trace.n_prop && s->trace.kv_tie && s->trace.prop_tie)
		trace_reset(&s->trace);
	free(s->trace.n_alive);
	free(s->trace.n_prop);
	free(s->trace.prop_pos);
	free(s->trace.kv_tie);
	free(s->trace.prop_tie);
	kv_cache_free(s->cache);
	bk_free(s->be, s->dec);
	free(s->views);
	free(s);
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
	bool packed = T == 1;
	for (int i = 0; i < n; i++)
		packed = packed && p[i].q->type != QMAT_NONE;
	if (packed) {
		float *ys[4];
		const struct qmat *qs[4];
		for (int i = 0; i < n; i++) {
			ys[i] = p[i].y;
			qs[i] = p[i].q;
		}
		if (bk_qmatvec(be, ys, x, qs, n) == 0)
			return;
	}
	for (int i = 0; i < n; i++)
		bk_matmul(be, p[i].y, x, p[i].w, T, in, p[i].out);
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
		bk_swiglu(be, g, u, tc, F);
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

/* Keeps rows[0..k) (ascending) of the (T, width) matrix x (backend memory) in place. */
static void gather_rows(const struct backend_ops *be, float *x, int width, const int32_t *rows, int k)
{
	bk_gather(be, x, width, x, width, rows, k, width);
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

// ----------------------------------------------------------------------------
// prefill: a two-pass loop (the second pass only after a restart) of small steps

/* One shared prefill in progress: the sessions, the rows alive, their buffers. */
struct prefill {
	struct fwd_session *const *ss;  /* (ns,) borrowed; ss[0] leads */
	int ns;
	const struct model *m;
	const struct backend_ops *be;
	int n;                          /* N: prompt tokens (buffer rows) */
	int T;                          /* rows alive */
	int pass;                       /* 0, or 1 after a restart */
	int32_t *pos;                   /* (N,) host: original positions of the alive rows */
	int32_t *cur;                   /* (N,) host: their token ids */
	float *buf;                     /* backend memory holding the activations below */
	struct fwd_act a;               /* N rows, FFN_CHUNK feed-forward rows */
	size_t dsz;                     /* int32 per session in dbuf: H*N kept rows, N propagated, N restart */
	int32_t *dbuf;                  /* (ns, dsz) host: the decisions' row lists */
	int *n_keep;                    /* (ns, H) host */
	struct kv_tie *ties;            /* (ns, H) host: the decisions' keep_tie */
	struct kv_decision *d;          /* (ns,) host */
};

/* Checks the request: tokens, and sessions sharing model and backend, all empty. */
static int pf_check(struct fwd_session *const *ss, int ns, const int32_t *ids, int n, char *err, size_t errlen)
{
	if (ns < 1)
		return kv_errf(err, errlen, KV_EINVAL, "prefill needs at least one session");
	if (n <= 0)
		return kv_errf(err, errlen, KV_EINVAL, "prefill needs at least one token");
	int rc = check_ids(ss[0]->m, ids, n, err, errlen);
	if (rc)
		return rc;
	for (int i = 0; i < ns; i++) {
		if (ss[i]->m != ss[0]->m || ss[i]->be != ss[0]->be)
			return kv_errf(err, errlen, KV_EINVAL, "shared prefill: every session must use the same model and backend");
		if (kv_cache_entries(ss[i]->cache, 0) != 0)
			return kv_errf(err, errlen, KV_EINVAL, "prefill needs an empty session");
	}
	return 0;
}

static void pf_free(struct prefill *p)
{
	bk_free(p->be, p->buf);
	free(p->pos);
	free(p->cur);
	free(p->dbuf);
	free(p->n_keep);
	free(p->ties);
	free(p->d);
}

size_t fwd_act_floats(const struct model_config *c, int n, size_t fc)
{
	size_t nE = (size_t)n * c->n_embd, nHD = (size_t)n * c->n_head * c->head_dim;
	size_t nKD = (size_t)n * c->n_head_kv * c->head_dim;
	return 3 * nE + 2 * nHD + 2 * nKD + 2 * fc * (size_t)c->n_ff;
}

void fwd_act_carve(float *buf, const struct model_config *c, int n, size_t fc, struct fwd_act *a)
{
	size_t nE = (size_t)n * c->n_embd, nHD = (size_t)n * c->n_head * c->head_dim;
	size_t nKD = (size_t)n * c->n_head_kv * c->head_dim;
	a->x = buf;
	a->xn = a->x + nE;
	a->tmp = a->xn + nE;
	a->q = a->tmp + nE;
	a->att = a->q + nHD;
	a->k = a->att + nHD;
	a->v = a->k + nKD;
	a->g = a->v + nKD;
	a->u = a->g + fc * (size_t)c->n_ff;
}

/* Allocates the buffers for n tokens (activations in backend memory). */
static int pf_alloc(struct prefill *p, char *err, size_t errlen)
{
	const struct model_config *c = &p->m->cfg;
	int n = p->n, H = c->n_head;
	size_t fc = n < FFN_CHUNK ? n : FFN_CHUNK;
	p->dsz = (size_t)H * n + 2 * (size_t)n;
	p->buf = bk_alloc(p->be, sizeof(float) * fwd_act_floats(c, n, fc));
	p->pos = malloc(sizeof(int32_t) * (size_t)n);
	p->cur = malloc(sizeof(int32_t) * (size_t)n);
	p->dbuf = malloc(sizeof(int32_t) * p->dsz * (size_t)p->ns);
	p->n_keep = malloc(sizeof(int) * (size_t)H * (size_t)p->ns);
	p->ties = malloc(sizeof(*p->ties) * (size_t)H * (size_t)p->ns);
	p->d = malloc(sizeof(*p->d) * (size_t)p->ns);
	if (!p->buf || !p->pos || !p->cur || !p->dbuf || !p->n_keep || !p->ties || !p->d)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory for a %d-token prefill", n);
	fwd_act_carve(p->buf, c, n, fc, &p->a);
	return 0;
}

/* Starts every session's trace and the alive rows: all of ids at positions 0..n-1. */
static void pf_begin(struct prefill *p, const int32_t *ids)
{
	for (int i = 0; i < p->ns; i++) {
		trace_reset(&p->ss[i]->trace);
		p->ss[i]->trace.n_prompt = p->n;
		p->ss[i]->next_pos = p->n; /* C7: decode continues the original numbering */
	}
	memcpy(p->cur, ids, sizeof(int32_t) * (size_t)p->n);
	for (int t = 0; t < p->n; t++)
		p->pos[t] = t;
	p->T = p->n;
}

/* x (T, E) = the embeddings of the alive tokens. */
static void pf_embed(struct prefill *p)
{
	bk_embed(p->be, p->a.x, p->m->tok_embd, p->cur, p->T, p->m->cfg.n_embd, p->m->cfg.n_vocab);
}

/* Layer l's post-RoPE q (T, H*D), k (T, Hkv*D) and v from x. */
static void pf_qkv(struct prefill *p, int l)
{
	const struct model *m = p->m;
	const struct model_config *c = &m->cfg;
	const struct layer_weights *w = &m->layers[l];
	int E = c->n_embd, H = c->n_head, Hkv = c->n_head_kv, D = c->head_dim, T = p->T;
	bk_rmsnorm(p->be, p->a.xn, p->a.x, w->attn_norm, T, E, c->norm_eps);
	const struct prod qkv[] = { { p->a.q, w->wq, &w->q[QW_Q], H * D }, { p->a.k, w->wk, &w->q[QW_K], Hkv * D },
				    { p->a.v, w->wv, &w->q[QW_V], Hkv * D } };
	mm(p->be, p->a.xn, T, E, qkv, 3);
	bk_rope(p->be, p->a.q, H * D, p->pos, T, H, D, m->rope_inv_freq);
	bk_rope(p->be, p->a.k, Hkv * D, p->pos, T, Hkv, D, m->rope_inv_freq);
}

/* Every session's policy decides for layer l into p->d; checks the decisions and that
 * the sessions agree on which rows go on. */
static int pf_decide(struct prefill *p, int l, char *err, size_t errlen)
{
	int H = p->m->cfg.n_head, Hkv = p->m->cfg.n_head_kv, T = p->T, n = p->n, rc;
	for (int i = 0; i < p->ns; i++) {
		struct fwd_session *s = p->ss[i];
		int32_t *di = p->dbuf + p->dsz * (size_t)i;
		struct kv_tie *ti = p->ties + (size_t)H * i;
		memset(ti, 0, sizeof(*ti) * (size_t)H);
		p->d[i] = (struct kv_decision){ .keep_all = true, .n_keep = p->n_keep + (size_t)H * i, .keep = di,
						.prop = di + (size_t)H * n, .restart = di + (size_t)H * n + n, .keep_tie = ti };
		struct kv_layer_view view = { .shape = &s->shape, .be = p->be, .layer = l, .pass = p->pass, .n = T,
					      .n_prompt = s->trace.n_prompt, .pos = p->pos, .ids = p->cur, .q = p->a.q, .k = p->a.k,
					      .v = p->a.v, .rope_inv_freq = p->m->rope_inv_freq };
		if ((rc = kv_policy_prefill_layer(&s->pol, &view, &p->d[i], err, errlen)) ||
		    (rc = check_decision(&s->pol, &p->d[i], T, H, Hkv, l, err, errlen)) ||
		    (i > 0 && (rc = check_same_flow(p->ss, p->d, i, T, l, err, errlen))))
			return rc;
	}
	return 0;
}

/* Layer l's decisions into every session's cache. */
static int pf_cache(struct prefill *p, int l, char *err, size_t errlen)
{
	int Hkv = p->m->cfg.n_head_kv, D = p->m->cfg.head_dim, T = p->T, rc;
	for (int i = 0; i < p->ns; i++) {
		struct fwd_session *s = p->ss[i];
		const struct kv_decision *d = &p->d[i];
		if ((rc = kv_cache_set_layer(s->cache, l, d->keep_all ? Hkv : d->n_cache_heads, d->n_keep,
					     d->keep_all ? NULL : d->keep, T, p->a.k, p->a.v, Hkv * D, p->pos, T, Hkv, s->reserve,
					     err, errlen)))
			return rc;
		s->trace.n_alive[l] = T;
		struct kv_tie *tt = s->trace.kv_tie + (size_t)l * s->trace.tie_heads;
		for (int h = 0; h < s->trace.tie_heads; h++) /* a keep-all layer made no cut */
			tt[h] = d->keep_all || h >= d->n_cache_heads ? (struct kv_tie){ 0, 0 } : d->keep_tie[h];
	}
	return 0;
}

/* The rest of layer l on the alive rows: x += Wo . attn; x += ffn(norm(x)). */
static void pf_attn_ffn(struct prefill *p, int l)
{
	const struct model_config *c = &p->m->cfg;
	const struct layer_weights *w = &p->m->layers[l];
	const struct backend_ops *be = p->be;
	int E = c->n_embd, H = c->n_head, Hkv = c->n_head_kv, D = c->head_dim, T = p->T;
	bk_attn_causal(be, p->a.att, p->a.q, p->a.k, p->a.v, T, H, Hkv, D);
	mm(be, p->a.att, T, H * D, &(struct prod){ p->a.tmp, w->wo, &w->q[QW_O], E }, 1);
	bk_add(be, p->a.x, p->a.tmp, (size_t)T * E);
	bk_rmsnorm(be, p->a.xn, p->a.x, w->ffn_norm, T, E, c->norm_eps);
	ffn(be, c, w, p->a.tmp, p->a.xn, T, p->a.g, p->a.u);
	bk_add(be, p->a.x, p->a.tmp, (size_t)T * E);
}

/* Keeps only the rows the lead decision propagates after layer l (if it asked), and
 * records them in every trace. */
static int pf_propagate(struct prefill *p, int l, char *err, size_t errlen)
{
	int np = n_prop_of(&p->d[0], p->T);
	if (np == 0)
		return 0;
	gather_rows(p->be, p->a.x, p->m->cfg.n_embd, p->d[0].prop, np);
	gather_i32(p->pos, p->d[0].prop, np);
	gather_i32(p->cur, p->d[0].prop, np);
	for (int i = 0; i < p->ns; i++) {
		struct fwd_trace *tr = &p->ss[i]->trace;
		if (!(tr->prop_pos[l] = malloc(sizeof(int32_t) * (size_t)np)))
			return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		memcpy(tr->prop_pos[l], p->pos, sizeof(int32_t) * (size_t)np);
		tr->n_prop[l] = np;
		tr->prop_tie[l] = p->d[0].prop_tie;
	}
	p->T = np;
	return 0;
}

/* One pass over the layers. Stops early with *restart_layer = l when layer l's lead
 * decision asks for a restart (nothing of that layer cached), else sets it to -1. */
static int pf_layers(struct prefill *p, int *restart_layer, char *err, size_t errlen)
{
	int rc;
	*restart_layer = -1;
	for (int l = 0; l < p->m->cfg.n_layer; l++) {
		pf_qkv(p, l);
		if ((rc = pf_decide(p, l, err, errlen)))
			return rc;
		if (p->d[0].n_restart > 0) {
			*restart_layer = l;
			return 0;
		}
		if ((rc = pf_cache(p, l, err, errlen)))
			return rc;
		pf_attn_ffn(p, l);
		if ((rc = pf_propagate(p, l, err, errlen)))
			return rc;
	}
	return 0;
}

/* Narrows the alive rows to the restart the lead decision of layer l asked for (only in
 * the first pass), records it in every trace, and renumbers positions when asked. */
static int pf_restart(struct prefill *p, int l, char *err, size_t errlen)
{
	const struct kv_decision *d = &p->d[0];
	if (p->pass > 0)
		return kv_errf(err, errlen, KV_EINTERNAL, "method %s asked for a second restart", p->ss[0]->pol.m->name);
	for (int i = 0; i < p->ns; i++) {
		struct fwd_trace *tr = &p->ss[i]->trace;
		tr->n_restart = d->n_restart;
		tr->restart_layer = l;
		tr->restart_renumbered = d->restart_renumber;
		tr->restart_tie = d->restart_tie;
		if (!(tr->restart_pos = malloc(sizeof(int32_t) * (size_t)d->n_restart)))
			return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		for (int j = 0; j < d->n_restart; j++)
			tr->restart_pos[j] = p->pos[d->restart[j]];
	}
	gather_i32(p->cur, d->restart, d->n_restart);
	gather_i32(p->pos, d->restart, d->n_restart);
	p->T = d->n_restart;
	if (d->restart_renumber) {
		for (int t = 0; t < p->T; t++)
			p->pos[t] = t;
		for (int i = 0; i < p->ns; i++)
			p->ss[i]->next_pos = p->T;
	}
	return 0;
}

/* logits (host): the LM head on every alive row (all_rows) or the last one. */
static int pf_logits(struct prefill *p, bool all_rows, float *logits, char *err, size_t errlen)
{
	const struct model *m = p->m;
	const struct model_config *c = &m->cfg;
	int E = c->n_embd, V = c->n_vocab, T = p->T;
	int r0 = all_rows ? 0 : T - 1, nr = all_rows ? T : 1;
	size_t bytes = sizeof(float) * (size_t)nr * V;
	/* a device backend writes (nr, V) into its own memory first */
	float *y = bk_host_memory(p->be) ? logits : bk_alloc(p->be, bytes);
	if (!y)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory for %d rows of logits", nr);
	bk_rmsnorm(p->be, p->a.xn, p->a.x + (size_t)r0 * E, m->out_norm, nr, E, c->norm_eps);
	for (int i = 0; i < p->ns; i++) /* the last row's normed state, for calibrations that compare runs */
		if (p->ss[i]->final_hidden)
			bk_download(p->be, p->ss[i]->final_hidden, p->a.xn + (size_t)(nr - 1) * E, sizeof(float) * (size_t)E);
	mm(p->be, p->a.xn, nr, E, &(struct prod){ y, m->output, &m->q_output, V }, 1);
	if (y != logits) {
		bk_download(p->be, logits, y, bytes);
		bk_free(p->be, y);
	}
	return 0;
}

int fwd_prefill_shared(struct fwd_session *const *ss, int ns, const int32_t *ids, int n, bool all_rows, float *logits,
		       char *err, size_t errlen)
{
	int rc = pf_check(ss, ns, ids, n, err, errlen);
	if (rc)
		return rc;
	struct prefill p = { .ss = ss, .ns = ns, .m = ss[0]->m, .be = ss[0]->be, .n = n };
	bk_set_threads(p.be, ss[0]->n_threads);
	if ((rc = pf_alloc(&p, err, errlen)))
		goto out_free;
	pf_begin(&p, ids);
	/* pass 0 on the prompt; pass 1 only when pass 0 asked for a restart */
	for (p.pass = 0; p.pass < 2; p.pass++) {
		int restart_layer;
		pf_embed(&p);
		if ((rc = pf_layers(&p, &restart_layer, err, errlen)))
			goto out_free;
		if (restart_layer < 0)
			break;
		if ((rc = pf_restart(&p, restart_layer, err, errlen)))
			goto out_free;
	}
	if ((rc = pf_logits(&p, all_rows, logits, err, errlen)))
		goto out_free;
	if ((rc = bk_check(p.be, err, errlen)))
		goto out_free;
	for (int i = 0; i < ns; i++)
		ss[i]->decode_step = 0;
out_free:
	pf_free(&p);
	return rc;
}

// ----------------------------------------------------------------------------
// replay: tokens forwarded through a filled cache without staying in it (KVzip's
// context reconstruction; engine/reconstruct.c drives it)

/* Layer l's attention for the R replayed rows, whose K/V were appended to the cache
 * after len0[h] entries per head: row i reads each head's first len0[h] + i + 1 entries.
 * The backend's attn_appended where it takes the cache, else one decode attention per row
 * (a 16-bit cache). */
static void replay_attn(struct fwd_session *s, int l, const int *len0, const float *q, float *att, int R)
{
	const struct kv_layer *L = &s->cache->layers[l];
	int H = s->shape.n_head, D = s->shape.head_dim;
	for (int h = 0; h < L->n_head; h++)
		s->views[h] = kv_cache_head_view(s->cache, l, h, len0[h] + R);
	if (bk_attn_appended(s->be, att, q, s->views, L->n_head, R, H, D) == 0)
		return;
	for (int i = 0; i < R; i++) {
		for (int h = 0; h < L->n_head; h++) {
			s->views[h] = kv_cache_head_view(s->cache, l, h, len0[h] + i + 1);
		}
		bk_attn_cached(s->be, att + (size_t)i * H * D, q + (size_t)i * H * D, s->views, L->n_head, H, D);
	}
}

/* Hands layer l of a replay to on_layer: the replayed q/k and the cache's first len0[h]
 * entries per head, in host memory (hq, hk: (R, H*D), (R, Hkv*D); ck: (n_head, cs, D)
 * scratch, cs >= every head's length, used when the cache is not host fp32). */
static int replay_report(struct fwd_session *s, int l, const int *len0, const float *q, const float *k, int R,
			 float *hq, float *hk, float *ck, int cs, const float **ckp, const int32_t **cpp,
			 int (*on_layer)(void *ctx, const struct kv_replay_layer *v, char *err, size_t errlen), void *ctx,
			 char *err, size_t errlen)
{
	const struct kv_layer *L = &s->cache->layers[l];
	int H = s->shape.n_head, Hkv = s->shape.n_head_kv, D = s->shape.head_dim;
	bool direct = s->cache->dtype == KV_DTYPE_F32 && bk_host_memory(s->be);
	bk_download(s->be, hq, q, sizeof(float) * (size_t)R * H * D);
	bk_download(s->be, hk, k, sizeof(float) * (size_t)R * Hkv * D);
	for (int h = 0; h < L->n_head; h++) {
		cpp[h] = L->pos + (size_t)h * L->cap;
		if (direct) {
			ckp[h] = L->k + (size_t)h * L->cap * D;
		} else {
			kv_cache_read_head(s->cache, l, h, ck + (size_t)h * cs * D, NULL);
			ckp[h] = ck + (size_t)h * cs * D;
		}
	}
	struct kv_replay_layer v = { .shape = &s->shape, .layer = l, .n = R, .q = hq, .k = hk, .n_cache_heads = L->n_head,
				     .len = len0, .ck = ckp, .cpos = cpp };
	return on_layer(ctx, &v, err, errlen);
}

int fwd_replay(struct fwd_session *s, const int32_t *ids, int R,
	       int (*on_layer)(void *ctx, const struct kv_replay_layer *v, char *err, size_t errlen), void *ctx,
	       char *err, size_t errlen)
{
	const struct model *m = s->m;
	const struct model_config *c = &m->cfg;
	const struct backend_ops *be = s->be;
	int E = c->n_embd, H = c->n_head, Hkv = c->n_head_kv, D = c->head_dim, F = c->n_ff, rc;
	size_t RE = (size_t)R * E, RHD = (size_t)R * H * D, RKD = (size_t)R * Hkv * D;
	size_t fc = (size_t)(R < FFN_CHUNK ? R : FFN_CHUNK);
	if (R <= 0)
		return kv_errf(err, errlen, KV_EINVAL, "replay needs at least one token");
	if ((rc = check_ids(m, ids, R, err, errlen)))
		return rc;
	if (kv_cache_entries(s->cache, 0) == 0)
		return kv_errf(err, errlen, KV_EINVAL, "replay needs a prefilled session");
	bk_set_threads(be, s->n_threads);
	int cap = 0;
	for (int l = 0; l < c->n_layer; l++)
		cap = s->cache->layers[l].cap > cap ? s->cache->layers[l].cap : cap;
	cap += R;
	/* backend: x, xn, tmp (R, E), q, att (R, H*D), k, v (R, Hkv*D), g, u (fc, F) */
	float *buf = bk_alloc(be, sizeof(float) * (3 * RE + 2 * RHD + 2 * RKD + 2 * fc * F));
	/* host: positions, identity rows, len0, q/k copies, widened keys, head pointers */
	int32_t *pos = malloc(sizeof(int32_t) * (size_t)R), *rows = malloc(sizeof(int32_t) * (size_t)cap);
	int *len0 = malloc(sizeof(int) * (size_t)H);
	float *hq = malloc(sizeof(float) * (RHD + RKD)), *ck = malloc(sizeof(float) * (size_t)H * cap * D);
	const float **ckp = malloc(sizeof(*ckp) * (size_t)H);
	const int32_t **cpp = malloc(sizeof(*cpp) * (size_t)H);
	if (!buf || !pos || !rows || !len0 || !hq || !ck || !ckp || !cpp) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory for a %d-token replay", R);
		goto out;
	}
	float *x = buf, *xn = x + RE, *tmp = xn + RE, *q = tmp + RE, *att = q + RHD, *k = att + RHD, *v = k + RKD;
	float *g = v + RKD, *u = g + fc * F;
	for (int i = 0; i < R; i++)
		pos[i] = s->next_pos + i;
	for (int i = 0; i < cap; i++)
		rows[i] = i;
	bk_embed(be, x, m->tok_embd, ids, R, E, c->n_vocab);
	for (int l = 0; l < c->n_layer; l++) {
		const struct layer_weights *w = &m->layers[l];
		const struct kv_layer *L = &s->cache->layers[l];
		bk_rmsnorm(be, xn, x, w->attn_norm, R, E, c->norm_eps);
		const struct prod qkv[] = { { q, w->wq, &w->q[QW_Q], H * D }, { k, w->wk, &w->q[QW_K], Hkv * D },
					    { v, w->wv, &w->q[QW_V], Hkv * D } };
		mm(be, xn, R, E, qkv, 3);
		bk_rope(be, q, H * D, pos, R, H, D, m->rope_inv_freq);
		bk_rope(be, k, Hkv * D, pos, R, Hkv, D, m->rope_inv_freq);
		for (int h = 0; h < L->n_head; h++)
			len0[h] = L->len[h];
		if ((rc = kv_cache_append(s->cache, l, k, v, Hkv * D, pos, R, Hkv, err, errlen)))
			goto out;
		replay_attn(s, l, len0, q, att, R);
		rc = replay_report(s, l, len0, q, k, R, hq, hq + RHD, ck, cap, ckp, cpp, on_layer, ctx, err, errlen);
		/* the replayed entries leave the cache again, whatever on_layer said */
		for (int h = 0; h < L->n_head; h++) {
			char e2[256];
			int r2 = kv_cache_keep(s->cache, l, h, rows, len0[h], e2, sizeof(e2));
			if (r2 && !rc)
				rc = kv_errf(err, errlen, r2, "%s", e2);
		}
		if (rc)
			goto out;
		mm(be, att, R, H * D, &(struct prod){ tmp, w->wo, &w->q[QW_O], E }, 1);
		bk_add(be, x, tmp, RE);
		bk_rmsnorm(be, xn, x, w->ffn_norm, R, E, c->norm_eps);
		ffn(be, c, w, tmp, xn, R, g, u);
		bk_add(be, x, tmp, RE);
	}
	rc = bk_check(be, err, errlen);
out:
	bk_free(be, buf);
	free(pos);
	free(rows);
	free(len0);
	free(hq);
	free(ck);
	free(ckp);
	free(cpp);
	return rc;
}

// ----------------------------------------------------------------------------
// decode

/* Lets the policy evict from layer l after a decode step appended to it and attended. */
static int decode_evict(struct fwd_session *s, int l, const float *q, int32_t pos, char *err, size_t errlen)
{
	if (!s->pol.m || !s->pol.m->decode_layer)
		return 0;
	if (!bk_host_memory(s->be))
		return kv_errf(err, errlen, KV_EUNSUP, "method %s reads the KV cache during decode, which backend %s keeps in device memory",
			       s->pol.m->name, s->be->name);
	struct kv_layer *L = &s->cache->layers[l];
	int D = s->shape.head_dim, nh = L->n_head, rc;
	int stride = L->cap;
	bool f32 = s->cache->dtype == KV_DTYPE_F32;
	const float **kp = malloc(sizeof(*kp) * (size_t)nh);
	const int32_t **pp = malloc(sizeof(*pp) * (size_t)nh);
	int *n_keep = malloc(sizeof(int) * (size_t)nh);
	int32_t *keep = malloc(sizeof(int32_t) * (size_t)nh * (stride > 0 ? stride : 1));
	/* a 16-bit cache: the keys widened to fp32 for the method, (nh, C, D) */
	float *kw = f32 ? NULL : malloc(sizeof(float) * (size_t)nh * (stride > 0 ? stride : 1) * D);
	if (!kp || !pp || !n_keep || !keep || (!f32 && !kw)) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		goto out;
	}
	for (int h = 0; h < nh; h++) {
		if (f32) {
			kp[h] = L->k + (size_t)h * L->cap * D;
		} else {
			kv_cache_read_head(s->cache, l, h, kw + (size_t)h * stride * D, NULL);
			kp[h] = kw + (size_t)h * stride * D;
		}
		pp[h] = L->pos + (size_t)h * L->cap;
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
	free(kp);
	free(pp);
	free(n_keep);
	free(keep);
	free(kw);
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
	bk_set_threads(be, s->n_threads);
	float *x = s->dec, *xn = x + E, *tmp = xn + E, *q = tmp + E, *att = q + (size_t)H * D;
	float *k = att + (size_t)H * D, *v = k + (size_t)Hkv * D, *g = v + (size_t)Hkv * D, *u = g + F;
	struct attn_kv_view *views = s->views;
	if (kv_cache_entries(s->cache, 0) == 0)
		return kv_errf(err, errlen, KV_EINVAL, "decode needs a prefilled session");
	int32_t pos = s->next_pos;
	bk_embed(be, x, m->tok_embd, &id, 1, E, V);
	for (int l = 0; l < c->n_layer; l++) {
		const struct layer_weights *w = &m->layers[l];
		struct kv_layer *L = &s->cache->layers[l];
		bk_rmsnorm(be, xn, x, w->attn_norm, 1, E, c->norm_eps);
		const struct prod qkv[] = { { q, w->wq, &w->q[QW_Q], H * D }, { k, w->wk, &w->q[QW_K], Hkv * D },
					    { v, w->wv, &w->q[QW_V], Hkv * D } };
		mm(be, xn, 1, E, qkv, 3);
		bk_rope(be, q, H * D, &pos, 1, H, D, m->rope_inv_freq);
		bk_rope(be, k, Hkv * D, &pos, 1, Hkv, D, m->rope_inv_freq);
		if ((rc = kv_cache_append(s->cache, l, k, v, Hkv * D, &pos, 1, Hkv, err, errlen)))
			return rc;
		for (int h = 0; h < L->n_head; h++) {
			views[h] = kv_cache_head_view(s->cache, l, h, L->len[h]);
		}
		bk_attn_cached(be, att, q, views, L->n_head, H, D);
		/* evict after the new token attended over the whole cache (PyramidInfer compresses
		 * its cache after the layer's attention) */
		if ((rc = decode_evict(s, l, q, pos, err, errlen)))
			return rc;
		mm(be, att, 1, H * D, &(struct prod){ tmp, w->wo, &w->q[QW_O], E }, 1);
		bk_add(be, x, tmp, E);
		bk_rmsnorm(be, xn, x, w->ffn_norm, 1, E, c->norm_eps);
		ffn(be, c, w, tmp, xn, 1, g, u);
		bk_add(be, x, tmp, E);
	}
	bk_rmsnorm(be, xn, x, m->out_norm, 1, E, c->norm_eps);
	float *y = bk_host_memory(be) ? logits : bk_alloc(be, sizeof(float) * (size_t)V);
	if (!y)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory for logits");
	mm(be, xn, 1, E, &(struct prod){ y, m->output, &m->q_output, V }, 1);
	if (y != logits) {
		bk_download(be, logits, y, sizeof(float) * (size_t)V);
		bk_free(be, y);
	}
	if ((rc = bk_check(be, err, errlen)))
		return rc;
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
