/* KVzip: query-agnostic KV scoring by context reconstruction. Mirrors kvpress 0.5.5's
 * KVzipPress (kvpress/presses/kvzip_press.py; Kim et al., arXiv 2505.23416). After the
 * prefill has filled the cache (nothing is cut per layer), the after_prefill step:
 *
 *   1. splits the prompt into the chat template's prefix (prefix_length tokens: the text
 *      the template puts before the user's content, found as kvpress does by rendering
 *      "dummy context" + "\n" + 13 '#' and splitting) and the context after it, cut into
 *      chunks of --chunk_size tokens;
 *   2. per chunk, replays "\n\nRepeat the previous context exactly." (later chunks: "\n\nRepeat
 *      the part of the previous context exactly, starting with" + the previous chunk's last
 *      8 ids) + the template's suffix (the text after the user's content) + the chunk's ids
 *      through the cache (a second forward, positions after the prompt; the replayed
 *      tokens attend to the whole cache but do not stay in it);
 *   3. per layer and query head, each replayed query's softmax (fp32, scaled by 1/sqrt(D))
 *      over only the first min(n_sink, chunk start) cache entries, the chunk's entries and
 *      the replayed keys (causal among those); the score of a chunk entry is its largest
 *      probability over the replayed queries and the query heads of its KV head;
 *   4. entries no chunk scored (the prefix after the sinks) score 0; the first n_sink
 *      positions score the largest score of all layers and heads + 1;
 *   5. one cut over every layer and KV head together (--layerwise 0): the n_pruned =
 *      int(entries * compression_ratio) lowest scores leave the cache, so layers and heads
 *      keep different numbers of entries; --layerwise 1 cuts int(layer entries * ratio)
 *      per layer, across its heads.
 * kvpress masks the pruned keys at decode; kvlab drops them from the cache, the same
 * attention. kvpress's KVzip+ normalisation (kvzip_plus_normalization) is not offered.
 *
 * Budget: --compression_ratio CR is kvpress's (the fraction of entries removed, [0, 1)); 0
 * keeps everything without replaying. Without it the shared flags decide: proportional
 * CR = 1 - retain_rate; constant keeps, in total, every head's min(length,
 * max_capacity_prompts) (the same cut, n_pruned = entries - that).
 * Protocol: kvpress compresses the context before the question arrives, as kvlab's
 * --protocol context_first does (engine/gen_context.c runs this step on the context); under
 * the default protocol the prefill holds the whole prompt (question and the template's
 * closing turn included), so the replayed "context" is everything after the prefix. Composed
 * after TSP (tsp+kvzip), the cache holds fewer entries in the later layers; chunks are
 * ranges of positions and the cut ranks the entries held. Ties at the cut follow
 * --tie_break over (layer, head, entry) order. Arithmetic: the logits by the CPU
 * backend's GEMM in fp32, the softmax in fp32 with the CPU backend's vectorised exp (about
 * 1 ulp), on the host whatever the run's backend. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "engine/backend.h"   // bk_matmul, backend_cpu
#include "engine/chat.h"      // chat_render_user, CHAT_NONE
#include "engine/cpu/cpu_ops.h" // cpu_div_max, cpu_exp_sum, cpu_max_div_into: the CPU backend's vectorised softmax passes
#include "engine/tokenizer.h" // tok_encode
#include "methods/params.h"
#include "methods/registry.h"
#include "methods/select.h"

#define KVZIP_PREV_POSTFIX 8 /* kvpress prepare(prev_postfix_size=8) */
#define KZ_ROWS 128          /* replayed rows scored per GEMM: 128 x 4K logits (2 MB) stay in cache */

/* --compression_ratio and --n_sink sit where expected_attention's struct has them: a flag
 * name means one field for every method that takes it (tests/test_params checks). */
struct kvzip_params {
	struct kv_params p;        /* first: the shared budget flags (compose.c reads them) */
	double compression_ratio;  /* --compression_ratio [0, 1), < 0: unset */
	int chunk_size;            /* --chunk_size (2048) */
	int n_sink;                /* --n_sink (4) */
	bool layerwise;            /* --layerwise (0) */
	int kvzip_prefix;          /* --kvzip_prefix, < 0: the chat template's prefix length */
};

static const struct kv_param_def kz_compression_ratio = {
	.name = "compression_ratio", .kind = KV_PARAM_FLOAT, .offset = offsetof(struct kvzip_params, compression_ratio),
	.lo = 0, .hi = 1, .def = -1, .def_text = "unset: the budget flags decide", .metavar = "CR",
	.help = "kvpress's budget: fraction of all KV entries removed, in [0, 1); int(entries * CR) leave",
};
static const struct kv_param_def kz_n_sink = {
	.name = "n_sink", .kind = KV_PARAM_INT, .offset = offsetof(struct kvzip_params, n_sink),
	.lo = 0, .hi = 1 << 20, .def = 4, .metavar = "N",
	.help = "KVzip: first positions always kept (and attended to while reconstructing)",
};
static const struct kv_param_def kz_chunk_size = {
	.name = "chunk_size", .kind = KV_PARAM_INT, .offset = offsetof(struct kvzip_params, chunk_size),
	.lo = 1, .hi = 1 << 24, .def = 2048, .metavar = "N",
	.help = "KVzip: context tokens reconstructed by each replay",
};
static const struct kv_param_def kz_layerwise = {
	.name = "layerwise", .kind = KV_PARAM_BOOL, .offset = offsetof(struct kvzip_params, layerwise),
	.def = 0, .metavar = "0|1",
	.help = "KVzip: 1 cuts each layer by the ratio (across its heads), 0 one cut over all layers",
};
static const struct kv_param_def kz_prefix = {
	.name = "kvzip_prefix", .kind = KV_PARAM_INT, .offset = offsetof(struct kvzip_params, kvzip_prefix),
	.lo = 0, .hi = 1 << 24, .def = -1, .def_text = "the chat template's prefix length", .metavar = "N",
	.help = "KVzip: leading prompt tokens that are not context (never reconstructed; score 0 after the sinks)",
};

/* In the order of the describe JSON. */
static const struct kv_param_def *const kz_params_table[] = {
	&kv_param_eviction_mode, &kv_param_retain_rate, &kv_param_max_capacity_prompts, &kz_compression_ratio, &kz_n_sink,
	&kz_chunk_size, &kz_layerwise, &kz_prefix, &kv_param_tie_break, NULL,
};

static int kz_init(const char *const *keys, const char *const *vals, int n, const struct kv_shape *shape, void **state,
		   char *err, size_t errlen)
{
	struct kvzip_params *z = calloc(1, sizeof(*z));
	int rc;
	if (!z)
		return kv_errf(err, errlen, KV_ENOMEM, "kvzip: out of memory");
	if ((rc = kv_params_parse(kz_params_table, z, "kvzip", keys, vals, n, shape, err, errlen)))
		goto out_free;
	for (int i = 0; i < n; i++) {
		if (strcmp(keys[i], "compression_ratio") == 0 && z->compression_ratio >= 1) {
			rc = kv_errf(err, errlen, KV_EINVAL, "--compression_ratio: expected a number in [0, 1), got '%s'", vals[i]);
			goto out_free;
		}
		if (z->compression_ratio >= 0 && (strcmp(keys[i], "retain_rate") == 0 || strcmp(keys[i], "max_capacity_prompts") == 0 ||
						  strcmp(keys[i], "eviction_mode") == 0)) {
			rc = kv_errf(err, errlen, KV_EINVAL, "--%s: kvzip takes either --compression_ratio or the budget flags, not both",
				     keys[i]);
			goto out_free;
		}
	}
	*state = z;
	return 0;
out_free:
	free(z);
	return rc;
}

// ----------------------------------------------------------------------------
// the replayed prompts (kvpress: __call__ and prepare)

/* The token ids of text (no special tokens added); *ids malloc'd, caller frees. */
static int encode(const struct kv_session_view *v, const char *text, int32_t **ids, int *n, char *err, size_t errlen)
{
	return tok_encode(v->tok, text, strlen(text), false, ids, n, err, errlen);
}

/* The template's text before and after the user's content, as kvpress finds them:
 * *prefix and *suffix malloc'd (caller frees). No template: "" and "\n". */
static int template_parts(const struct kv_session_view *v, char **prefix, char **suffix, char *err, size_t errlen)
{
	static const char dummy[] = "dummy context", sep[] = "\n#############"; /* "\n" + '#' * len(dummy) */
	char *text = NULL;
	int rc;
	*prefix = *suffix = NULL;
	if (v->chat->family == CHAT_NONE) {
		*prefix = strdup("");
		*suffix = strdup("\n");
	} else {
		if ((rc = chat_render_user(v->chat, v->bos_text, "dummy context\n#############", &text, err, errlen)))
			return rc;
		char *at_sep = strstr(text, sep), *at_dummy = strstr(text, dummy);
		if (!at_sep || !at_dummy || at_dummy > at_sep) {
			free(text);
			return kv_errf(err, errlen, KV_EINTERNAL, "kvzip: the chat template's rendering lost the user's content");
		}
		*prefix = strndup(text, (size_t)(at_dummy - text));
		*suffix = strdup(at_sep + strlen(sep));
		free(text);
	}
	if (!*prefix || !*suffix) {
		free(*prefix);
		free(*suffix);
		return kv_errf(err, errlen, KV_ENOMEM, "kvzip: out of memory");
	}
	return 0;
}

/* What the replays share: the prefix length and the two repeat prompts' ids. */
struct kz_prompts {
	int prefix;              /* prefix_length */
	int32_t *suffix, *first, *later;
	int n_suffix, n_first, n_later;
};

static void prompts_free(struct kz_prompts *p)
{
	free(p->suffix);
	free(p->first);
	free(p->later);
}

static int prompts_make(const struct kvzip_params *z, const struct kv_session_view *v, struct kz_prompts *p, char *err,
			size_t errlen)
{
	char *prefix = NULL, *suffix = NULL;
	int32_t *pids = NULL;
	int rc;
	memset(p, 0, sizeof(*p));
	if (!v->tok)
		return kv_errf(err, errlen, KV_EINVAL, "kvzip: the model has no tokenizer to write the repeat prompt with");
	if ((rc = template_parts(v, &prefix, &suffix, err, errlen)))
		return rc;
	if ((rc = encode(v, prefix, &pids, &p->prefix, err, errlen)) ||
	    (rc = encode(v, suffix, &p->suffix, &p->n_suffix, err, errlen)) ||
	    (rc = encode(v, "\n\nRepeat the previous context exactly.", &p->first, &p->n_first, err, errlen)) ||
	    (rc = encode(v, "\n\nRepeat the part of the previous context exactly, starting with", &p->later, &p->n_later, err,
			 errlen)))
		goto out;
	if (z->kvzip_prefix >= 0)
		p->prefix = z->kvzip_prefix;
	if (p->prefix >= v->n_ids)
		rc = kv_errf(err, errlen, KV_EINVAL,
			     "kvzip: the prompt has %d tokens, none left as context after the %d-token prefix (--kvzip_prefix)",
			     v->n_ids, p->prefix);
out:
	free(prefix);
	free(suffix);
	free(pids);
	if (rc)
		prompts_free(p);
	return rc;
}

// ----------------------------------------------------------------------------
// scoring (kvpress: score_kvzip and _compute_cross_attention)

/* Scores of every cache entry, and the chunk being replayed. */
struct kz_scores {
	const struct kvzip_params *z;
	const struct kv_session_view *v;
	float *s;             /* (L, H, stride): entry scores, 0 where no chunk scored */
	int32_t start, end;   /* the chunk's positions [start, end) */
	float *kbuf, *qbuf, *logits; /* scratch: (nk, D), (R, D), (R, nk) */
	size_t kcap, qcap, lcap;
};

static int grow(float **p, size_t *cap, size_t n)
{
	if (n <= *cap)
		return 0;
	float *q = realloc(*p, sizeof(float) * n);
	if (!q)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

/* First row of the ascending pos[0..n) at or after p. */
static int lower_row(const int32_t *pos, int n, int32_t p)
{
	int lo = 0, hi = n;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (pos[mid] < p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Scores cache head h of layer lv->layer from the replayed queries of query heads
 * [qh0, qh0 + nq) and the replayed keys of KV head g. */
static int score_head(struct kz_scores *sc, const struct kv_replay_layer *lv, int h, int qh0, int nq, int g, char *err,
		      size_t errlen)
{
	int D = lv->shape->head_dim, H = lv->shape->n_head, Hkv = lv->shape->n_head_kv, R = lv->n, len = lv->len[h];
	const int32_t *pos = lv->cpos[h];
	int r0 = lower_row(pos, len, sc->start), r1 = lower_row(pos, len, sc->end);
	int ns = sc->z->n_sink < sc->start ? sc->z->n_sink : (int)sc->start; /* kvpress: min(n_sink, start_idx) rows */
	ns = ns < r0 ? ns : r0;
	int nc = r1 - r0, nk = ns + nc + R;
	if (nc == 0)
		return 0;
	if (grow(&sc->kbuf, &sc->kcap, (size_t)nk * D) || grow(&sc->qbuf, &sc->qcap, (size_t)R * D) ||
	    grow(&sc->logits, &sc->lcap, (size_t)KZ_ROWS * nk))
		return kv_errf(err, errlen, KV_ENOMEM, "kvzip: out of memory scoring layer %d (%d replayed, %d keys)", lv->layer, R,
			       nk);
	/* keys: the sinks, the chunk's entries, the replayed keys */
	memcpy(sc->kbuf, lv->ck[h], sizeof(float) * (size_t)ns * D);
	memcpy(sc->kbuf + (size_t)ns * D, lv->ck[h] + (size_t)r0 * D, sizeof(float) * (size_t)nc * D);
	for (int i = 0; i < R; i++)
		memcpy(sc->kbuf + (size_t)(ns + nc + i) * D, lv->k + ((size_t)i * Hkv + g) * D, sizeof(float) * (size_t)D);
	float scale = (float)sqrt((double)D);
	float *out = sc->s + ((size_t)lv->layer * H + h) * sc->v->stride + r0;
	for (int qh = qh0; qh < qh0 + nq; qh++) {
		for (int i = 0; i < R; i++)
			memcpy(sc->qbuf + (size_t)i * D, lv->q + ((size_t)i * H + qh) * D, sizeof(float) * (size_t)D);
		/* KZ_ROWS replayed rows at a time, over only the keys they see */
		for (int i0 = 0; i0 < R; i0 += KZ_ROWS) {
			int b = R - i0 < KZ_ROWS ? R - i0 : KZ_ROWS, nv = ns + nc + i0 + b;
			/* (b, nv) = q . k^T */
			bk_matmul(&backend_cpu, sc->logits, sc->qbuf + (size_t)i0 * D, sc->kbuf, b, D, nv);
			for (int i = 0; i < b; i++) {
				float *row = sc->logits + (size_t)i * nv;
				int n_vis = ns + nc + i0 + i + 1; /* causal among the replayed keys */
				float mx = cpu_div_max(row, n_vis, scale);
				float sum = cpu_exp_sum(row, n_vis, mx);
				cpu_max_div_into(out, row + ns, nc, sum);
			}
		}
	}
	return 0;
}

/* on_layer of a replay: every cache head of the layer. */
static int kz_on_layer(void *ctx, const struct kv_replay_layer *lv, char *err, size_t errlen)
{
	struct kz_scores *sc = ctx;
	int H = lv->shape->n_head, Hkv = lv->shape->n_head_kv, rc;
	for (int h = 0; h < lv->n_cache_heads; h++) {
		bool per_q = lv->n_cache_heads == H && H != Hkv;
		int g = (int)((long)h * Hkv / lv->n_cache_heads), G = H / Hkv;
		if ((rc = score_head(sc, lv, h, per_q ? h : g * G, per_q ? 1 : G, g, err, errlen)))
			return rc;
	}
	return 0;
}

/* Replays every chunk of the context through the cache, filling sc->s. */
static int kz_replay_all(struct kz_scores *sc, const struct kz_prompts *pr, char *err, size_t errlen)
{
	const struct kv_session_view *v = sc->v;
	const int32_t *ctx = v->ids + pr->prefix;
	int n_ctx = v->n_ids - pr->prefix, cs = sc->z->chunk_size, rc = 0;
	int lead = pr->n_later + KVZIP_PREV_POSTFIX > pr->n_first ? pr->n_later + KVZIP_PREV_POSTFIX : pr->n_first;
	int cap = lead + pr->n_suffix + (cs < n_ctx ? cs : n_ctx);
	int32_t *ids = malloc(sizeof(int32_t) * (size_t)cap);
	if (!ids)
		return kv_errf(err, errlen, KV_ENOMEM, "kvzip: out of memory");
	for (int c0 = 0; c0 < n_ctx && !rc; c0 += cs) {
		int nc = n_ctx - c0 < cs ? n_ctx - c0 : cs, R = 0;
		if (c0 == 0) {
			memcpy(ids, pr->first, sizeof(int32_t) * (size_t)pr->n_first);
			R = pr->n_first;
		} else {
			int np = cs < KVZIP_PREV_POSTFIX ? cs : KVZIP_PREV_POSTFIX; /* the previous chunk's last ids */
			memcpy(ids, pr->later, sizeof(int32_t) * (size_t)pr->n_later);
			memcpy(ids + pr->n_later, ctx + c0 - np, sizeof(int32_t) * (size_t)np);
			R = pr->n_later + np;
		}
		memcpy(ids + R, pr->suffix, sizeof(int32_t) * (size_t)pr->n_suffix);
		R += pr->n_suffix;
		memcpy(ids + R, ctx + c0, sizeof(int32_t) * (size_t)nc);
		R += nc;
		sc->start = pr->prefix + c0;
		sc->end = sc->start + nc;
		rc = v->replay(v->eng, ids, R, kz_on_layer, sc, err, errlen);
	}
	free(ids);
	return rc;
}

// ----------------------------------------------------------------------------
// the cut (kvpress: compress_post)

/* Entries that leave from n entries of which keep_cap would stay under a constant budget. */
static long kz_pruned(const struct kvzip_params *z, long n, long keep_cap)
{
	double cr = z->compression_ratio >= 0 ? z->compression_ratio : 1.0 - z->p.retain_rate;
	if (z->compression_ratio < 0 && z->p.eviction_mode == KV_EVICT_CONSTANT)
		return n - keep_cap;
	return (long)((double)n * cr); /* Python: int(numel * compression_ratio) */
}

/* Fills d[l] for layer l from the kept flat indices idx[0..nk) into the layer's
 * (head, entry) scores s (row stride stride), and each head's tie record at cut. */
static void kz_split(const struct kv_session_view *v, int l, const float *s, const int32_t *idx, int nk, float cut,
		     struct kv_decision *d)
{
	int nh = v->n_cache_heads[l], st = v->stride;
	d->keep_all = false;
	for (int h = 0; h < nh; h++)
		d->n_keep[h] = 0;
	for (int i = 0; i < nk; i++) {
		int h = idx[i] / st;
		d->keep[(size_t)h * st + d->n_keep[h]++] = idx[i] % st;
	}
	for (int h = 0; h < nh; h++) {
		int32_t *rows = d->keep + (size_t)h * st;
		sel_sort(rows, d->n_keep[h]);
		struct kv_tie t = { 0, 0 };
		for (int j = 0; j < v->len[l][h]; j++)
			t.n_tied += s[(size_t)h * st + j] == cut;
		for (int i = 0; i < d->n_keep[h]; i++)
			t.n_kept += s[(size_t)h * st + rows[i]] == cut;
		d->keep_tie[h] = t;
	}
}

/* Keeps the top (entries - pruned) of sc->s over all layers (or per layer) into d. */
static int kz_cut(const struct kvzip_params *z, const struct kv_session_view *v, float *s, struct kv_decision *d,
		  char *err, size_t errlen)
{
	int nL = v->shape->n_layer, H = v->shape->n_head, st = v->stride;
	size_t per_layer = (size_t)H * st, all = (size_t)nL * per_layer;
	/* candidates: (layer, head, entry) flattened over the slots that hold an entry; the
	 * empty slots get -inf and are never kept (the kept count excludes them) */
	float *x = malloc(sizeof(float) * all);
	int32_t *idx = malloc(sizeof(int32_t) * all), *lidx = malloc(sizeof(int32_t) * per_layer);
	int rc = 0;
	if (!x || !idx || !lidx) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "kvzip: out of memory for the cut");
		goto out;
	}
	if (all > (size_t)INT32_MAX) {
		rc = kv_errf(err, errlen, KV_EINVAL, "kvzip: %zu cache slots exceed the cut's index range", all);
		goto out;
	}
	long n_all = 0, cap_all = 0;
	for (size_t i = 0; i < all; i++)
		x[i] = -INFINITY;
	for (int l = 0; l < nL; l++)
		for (int h = 0; h < v->n_cache_heads[l]; h++) {
			int len = v->len[l][h];
			memcpy(x + l * per_layer + (size_t)h * st, s + l * per_layer + (size_t)h * st, sizeof(float) * (size_t)len);
			n_all += len;
			cap_all += len < z->p.max_capacity_prompts ? len : z->p.max_capacity_prompts;
		}
	if (!z->layerwise) {
		long keep = n_all - kz_pruned(z, n_all, cap_all);
		struct sel_cut cut = { &z->p.ties, sel_stream(nL, 0, SEL_CUT_KV), NULL };
		int nk = sel_topk_cut(x, (int)all, (int)keep, idx, &cut);
		float cv = nk > 0 ? x[idx[nk - 1]] : INFINITY;
		/* each layer's share of the kept indices, in score order */
		for (int l = 0; l < nL; l++) {
			int m = 0;
			for (int i = 0; i < nk; i++)
				if ((size_t)idx[i] / per_layer == (size_t)l)
					lidx[m++] = (int32_t)((size_t)idx[i] % per_layer);
			kz_split(v, l, x + l * per_layer, lidx, m, cv, &d[l]);
		}
	} else {
		for (int l = 0; l < nL; l++) {
			long n_l = 0, cap_l = 0;
			for (int h = 0; h < v->n_cache_heads[l]; h++) {
				int len = v->len[l][h];
				n_l += len;
				cap_l += len < z->p.max_capacity_prompts ? len : z->p.max_capacity_prompts;
			}
			long keep = n_l - kz_pruned(z, n_l, cap_l);
			struct sel_cut cut = { &z->p.ties, sel_stream(l, 0, SEL_CUT_KV), NULL };
			int nk = sel_topk_cut(x + l * per_layer, (int)per_layer, (int)keep, lidx, &cut);
			kz_split(v, l, x + l * per_layer, lidx, nk, nk > 0 ? x[l * per_layer + lidx[nk - 1]] : INFINITY, &d[l]);
		}
	}
out:
	free(x);
	free(idx);
	free(lidx);
	return rc;
}

/* Does the budget remove anything (over all layers, or in some layer with --layerwise 1)? */
static bool kz_prunes(const struct kvzip_params *z, const struct kv_session_view *v)
{
	long n_all = 0, cap_all = 0;
	for (int l = 0; l < v->shape->n_layer; l++) {
		long n_l = 0, cap_l = 0;
		for (int h = 0; h < v->n_cache_heads[l]; h++) {
			n_l += v->len[l][h];
			cap_l += v->len[l][h] < z->p.max_capacity_prompts ? v->len[l][h] : z->p.max_capacity_prompts;
		}
		if (z->layerwise && kz_pruned(z, n_l, cap_l) > 0)
			return true;
		n_all += n_l;
		cap_all += cap_l;
	}
	return !z->layerwise && kz_pruned(z, n_all, cap_all) > 0;
}

static int kz_after_prefill(void *state, const struct kv_session_view *v, struct kv_decision *d, char *err, size_t errlen)
{
	const struct kvzip_params *z = state;
	int nL = v->shape->n_layer, H = v->shape->n_head, st = v->stride, rc;
	if (!kz_prunes(z, v))
		return 0; /* kvpress: compression_ratio 0 replays nothing; a budget that holds everything neither */
	struct kz_prompts pr;
	if ((rc = prompts_make(z, v, &pr, err, errlen)))
		return rc;
	struct kz_scores sc = { .z = z, .v = v, .s = calloc((size_t)nL * H * st, sizeof(float)) };
	if (!sc.s) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "kvzip: out of memory for %d x %d x %d scores", nL, H, st);
		goto out;
	}
	/* the scores depend on the cache, the prompt and these flags, not on the budget: points
	 * of one shared prefill that differ only in budget replay once */
	char key[128];
	size_t bytes = sizeof(float) * (size_t)nL * H * st;
	snprintf(key, sizeof(key), "kvzip:n_sink=%d:chunk_size=%d:prefix=%d", z->n_sink, z->chunk_size, z->kvzip_prefix);
	const float *found = v->memo_find ? v->memo_find(v->eng, key, bytes) : NULL;
	if (found) {
		memcpy(sc.s, found, bytes);
	} else {
		if ((rc = kz_replay_all(&sc, &pr, err, errlen)))
			goto out;
		if (v->memo_put && (rc = v->memo_put(v->eng, key, sc.s, bytes))) {
			rc = kv_errf(err, errlen, rc, "kvzip: out of memory keeping %d x %d x %d scores", nL, H, st);
			goto out;
		}
	}
	/* the sinks: the largest score of all + 1 (kvpress's score_val.amax() + 1) */
	float mx = 0;
	for (size_t i = 0; i < (size_t)nL * H * st; i++)
		mx = sc.s[i] > mx ? sc.s[i] : mx;
	for (int l = 0; l < nL; l++)
		for (int h = 0; h < v->n_cache_heads[l]; h++)
			for (int j = 0; j < v->len[l][h] && v->pos[l][h][j] < z->n_sink; j++)
				sc.s[((size_t)l * H + h) * st + j] = mx + 1.0f;
	rc = kz_cut(z, v, sc.s, d, err, errlen);
out:
	prompts_free(&pr);
	free(sc.s);
	free(sc.kbuf);
	free(sc.qbuf);
	free(sc.logits);
	return rc;
}

static void kz_describe(const void *state, char *buf, size_t len)
{
	kv_params_json(kz_params_table, state, "kvzip", buf, len);
}

const struct kv_method kvzip_method = {
	.name = "kvzip",
	.summary = "kvpress's KVzip: entries scored by the attention a replay of the context (\"Repeat the previous "
		   "context exactly.\") pays them, one cut over all layers and heads; a second forward",
	.init = kz_init,
	.free_state = free,
	.after_prefill = kz_after_prefill,
	.describe = kz_describe,
	.params = kz_params_table,
};
