/* Expected Attention: keys scored by the attention that future queries are expected to
 * pay them, estimated from this layer's queries; one selection per KV head at prefill.
 * Mirrors kvpress 0.5.5's ExpectedAttentionPress (kvpress/presses/expected_attention_press.py
 * with ScorerPress.compress and utils.compute_n_kept), per layer of T alive rows:
 *
 *   1. pre-RoPE queries of rows n_sink..T-1 (kvpress projects hidden_states[:, n_sink:]
 *      with q_proj; here the view's post-RoPE q rotated back by its own angles), their
 *      mean mu and covariance cov (divided by the row count) per query head;
 *   2. R = the mean over the n_future_positions positions after the prompt of the RoPE
 *      rotation (cos I + sin P, P the rotate-half matrix); mu <- R mu, cov <- R cov R^T;
 *   3. per query head, keys j >= n_sink (post-RoPE, as the cache holds them):
 *      z_j = mu.k_j / sqrt(D) + k_j^T cov k_j / D / 2 (the second term with
 *      --use_covariance 1), softmax over j;
 *   4. averaged over the query heads of each KV head (GQA), then (s + epsilon) * |v_j|
 *      (with --use_vnorm 1);
 *   5. the sinks j < n_sink get the layer's largest score + 1 (over all heads), and each
 *      KV head keeps its top n_kept rows (torch.topk order: descending score).
 *
 * Budget: --compression_ratio CR is kvpress's (the fraction removed): n_kept =
 * max(1, int(T * (1 - CR))), computed in double as Python does. Without it the shared
 * budget flags decide: proportional max(1, floor(T * retain_rate)) (retain_rate = 1 - CR up
 * to that rounding), constant max_capacity_prompts. n_kept >= T keeps the layer whole.
 * "The positions after the prompt" are pos[T-1] + 1 ..., which is kvpress's q_len .. for a
 * plain prefill and stays the next decode position after a composed reduction (TSP) has
 * dropped rows. kvpress asserts T > n_sink; here such a layer is kept whole.
 * Arithmetic: the statistics, R and the quadratic forms in double (the covariance and the
 * quadratic forms through OpenBLAS's dsyrk and dsymm, EA_ROWS rows at a time), RoPE angles in
 * fp32 as transformers forms them, the softmax and the rest in fp32 as torch does. */
#include <cblas.h> // cblas_dsyrk, cblas_dsymm
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "methods/params.h"
#include "methods/registry.h"
#include "methods/select.h"

/* Rows per dsyrk / dsymm call (each thread's double scratch is 2 * EA_ROWS * head_dim; the
 * 1024-token goldens take two steps). */
#define EA_ROWS 512

struct ea_params {
	struct kv_params p;        /* first: the shared budget flags (compose.c reads them) */
	double compression_ratio;  /* --compression_ratio [0, 1), < 0: unset */
	int n_future_positions;    /* --n_future_positions (512) */
	int n_sink;                /* --n_sink (4) */
	bool use_covariance;       /* --use_covariance (1) */
	bool use_vnorm;            /* --use_vnorm (1) */
	double epsilon;            /* --epsilon (0) */
};

static const struct kv_param_def ea_compression_ratio = {
	.name = "compression_ratio", .kind = KV_PARAM_FLOAT, .offset = offsetof(struct ea_params, compression_ratio),
	.lo = 0, .hi = 1, .def = -1, .def_text = "unset: the budget flags decide", .metavar = "CR",
	.help = "kvpress's budget: fraction of each layer's KV rows removed, in [0, 1); n_kept = max(1, int(T * (1 - CR)))",
};
static const struct kv_param_def ea_n_future_positions = {
	.name = "n_future_positions", .kind = KV_PARAM_INT, .offset = offsetof(struct ea_params, n_future_positions),
	.lo = 1, .hi = 1 << 20, .def = 512, .metavar = "N",
	.help = "Expected Attention: future positions the RoPE rotation is averaged over",
};
static const struct kv_param_def ea_n_sink = {
	.name = "n_sink", .kind = KV_PARAM_INT, .offset = offsetof(struct ea_params, n_sink),
	.lo = 0, .hi = 1 << 20, .def = 4, .metavar = "N",
	.help = "Expected Attention: first rows always kept and left out of the query statistics",
};
static const struct kv_param_def ea_use_covariance = {
	.name = "use_covariance", .kind = KV_PARAM_BOOL, .offset = offsetof(struct ea_params, use_covariance),
	.def = 1, .metavar = "0|1",
	.help = "Expected Attention: 1 adds the query covariance term k^T cov k / (2 D)",
};
static const struct kv_param_def ea_use_vnorm = {
	.name = "use_vnorm", .kind = KV_PARAM_BOOL, .offset = offsetof(struct ea_params, use_vnorm),
	.def = 1, .metavar = "0|1",
	.help = "Expected Attention: 1 rescales scores as (score + epsilon) * |v|",
};
static const struct kv_param_def ea_epsilon = {
	.name = "epsilon", .kind = KV_PARAM_FLOAT, .offset = offsetof(struct ea_params, epsilon),
	.lo = 0, .hi = 1e30, .def = 0, .metavar = "E",
	.help = "Expected Attention: added to the scores before the value-norm rescaling",
};

/* In the order of the describe JSON. */
static const struct kv_param_def *const ea_params_table[] = {
	&kv_param_eviction_mode, &kv_param_retain_rate, &kv_param_max_capacity_prompts, &ea_compression_ratio,
	&ea_n_future_positions, &ea_n_sink, &ea_use_covariance, &ea_use_vnorm, &ea_epsilon, &kv_param_tie_break, NULL,
};

static int ea_init(const char *const *keys, const char *const *vals, int n, const struct kv_shape *shape, void **state,
		   char *err, size_t errlen)
{
	struct ea_params *e = calloc(1, sizeof(*e));
	int rc;
	if (!e)
		return kv_errf(err, errlen, KV_ENOMEM, "expected_attention: out of memory");
	if ((rc = kv_params_parse(ea_params_table, e, "expected_attention", keys, vals, n, shape, err, errlen)))
		goto out_free;
	for (int i = 0; i < n; i++) {
		if (strcmp(keys[i], "compression_ratio") == 0 && e->compression_ratio >= 1) {
			rc = kv_errf(err, errlen, KV_EINVAL, "--compression_ratio: expected a number in [0, 1), got '%s'", vals[i]);
			goto out_free;
		}
		if (e->compression_ratio >= 0 && (strcmp(keys[i], "retain_rate") == 0 || strcmp(keys[i], "max_capacity_prompts") == 0 ||
						  strcmp(keys[i], "eviction_mode") == 0)) {
			rc = kv_errf(err, errlen, KV_EINVAL,
				     "--%s: expected_attention takes either --compression_ratio or the budget flags, not both", keys[i]);
			goto out_free;
		}
	}
	*state = e;
	return 0;
out_free:
	free(e);
	return rc;
}

/* Rows kept per KV head of a layer of T rows. */
static int ea_budget(const struct ea_params *e, int T)
{
	double c;
	if (e->compression_ratio >= 0)
		c = (double)T * (1.0 - e->compression_ratio); /* Python: int(k_len * (1 - compression_ratio)) */
	else if (e->p.eviction_mode == KV_EVICT_PROPORTIONAL)
		c = floor((double)T * e->p.retain_rate);
	else
		return e->p.max_capacity_prompts;
	return c < 1 ? 1 : c >= (double)T ? T : (int)c;
}

// ----------------------------------------------------------------------------
// scoring (steps 1-4)

/* x (D,) <- R x for the averaged rotation R: per frequency i < D/2 the block
 * [[c_i, -s_i], [s_i, c_i]] on (x_i, x_{i+D/2}); stride: distance between x's elements. */
static void rot(double *x, size_t stride, const double *cbar, const double *sbar, int half)
{
	for (int i = 0; i < half; i++) {
		double a = x[(size_t)i * stride], b = x[(size_t)(i + half) * stride];
		x[(size_t)i * stride] = cbar[i] * a - sbar[i] * b;
		x[(size_t)(i + half) * stride] = sbar[i] * a + cbar[i] * b;
	}
}

/* cbar, sbar (D/2,): the RoPE cos and sin averaged over positions p0 .. p0+nf-1, each
 * angle formed in fp32 (transformers' rotary_emb: inv_freq * position in fp32). */
static void avg_rope(const float *inv, int half, int32_t p0, int nf, double *cbar, double *sbar)
{
	for (int i = 0; i < half; i++) {
		double c = 0, s = 0;
		for (int t = 0; t < nf; t++) {
			float a = (float)(p0 + t) * inv[i];
			c += cosf(a);
			s += sinf(a);
		}
		cbar[i] = c / nf;
		sbar[i] = s / nf;
	}
}

/* Query head h's statistics: q (m, H*D) host pre-RoPE queries; mu (D,), cov (D, D) out,
 * then rotated by the averaged RoPE (cbar, sbar); xc (EA_ROWS, D) scratch for the centred
 * queries. */
static void head_stats(const float *q, int m, int H, int D, int h, bool use_cov, const double *cbar,
		       const double *sbar, double *mu, double *cov, double *xc)
{
	int half = D / 2;
	for (int d = 0; d < D; d++)
		mu[d] = 0;
	for (int t = 0; t < m; t++)
		for (int d = 0; d < D; d++)
			mu[d] += q[((size_t)t * H + h) * D + d];
	for (int d = 0; d < D; d++)
		mu[d] /= m;
	if (use_cov) {
		/* the upper triangle of the centred queries' x^T x, then / m and mirrored */
		for (int t0 = 0; t0 < m; t0 += EA_ROWS) {
			int n = m - t0 < EA_ROWS ? m - t0 : EA_ROWS;
			for (int t = 0; t < n; t++)
				for (int d = 0; d < D; d++)
					xc[(size_t)t * D + d] = q[((size_t)(t0 + t) * H + h) * D + d] - mu[d];
			cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, D, n, 1.0, xc, D, t0 ? 1.0 : 0.0, cov, D);
		}
		for (int a = 0; a < D; a++)
			for (int b = a; b < D; b++)
				cov[(size_t)b * D + a] = cov[(size_t)a * D + b] /= m;
		for (int r = 0; r < D; r++) /* cov R^T: R applied to every row */
			rot(cov + (size_t)r * D, 1, cbar, sbar, half);
		for (int c = 0; c < D; c++) /* R (cov R^T): R applied to every column */
			rot(cov + c, (size_t)D, cbar, sbar, half);
	}
	rot(mu, 1, cbar, sbar, half);
}

/* score (Hkv, T): steps 1-5 for view v with host copies q (T, H*D), k, vv (T, Hkv*D);
 * q is overwritten (rotated back to pre-RoPE). 0 or KV_ENOMEM. */
static int ea_scores(const struct ea_params *e, const struct kv_layer_view *v, float *q, const float *k, const float *vv,
		     float *score, char *err, size_t errlen)
{
	int H = v->shape->n_head, Hkv = v->shape->n_head_kv, D = v->shape->head_dim, half = D / 2, T = v->n;
	int s = e->n_sink, m = T - s, G = H / Hkv, rc = 0;
	const float *inv = v->rope_inv_freq;
	/* 1. the view's q rotated back by each row's own angle: pre-RoPE queries */
	for (int t = 0; t < T; t++)
		for (int i = 0; i < half; i++) {
			float a = (float)v->pos[t] * inv[i], c = cosf(a), sn = sinf(a);
			for (int h = 0; h < H; h++) {
				float *x = q + ((size_t)t * H + h) * D;
				double x1 = x[i], x2 = x[i + half];
				x[i] = (float)(x1 * c + x2 * sn);
				x[i + half] = (float)(x2 * c - x1 * sn);
			}
		}
	double *cbar = malloc(sizeof(double) * ((size_t)D + (size_t)H * D + (size_t)H * D * D));
	float *z = malloc(sizeof(float) * (size_t)H * m);
	if (!cbar || !z) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "expected_attention: out of memory for layer %d's statistics", v->layer);
		goto out;
	}
	double *sbar = cbar + half, *mu = cbar + D, *cov = mu + (size_t)H * D;
	/* 2. the RoPE of the positions after the prompt, averaged */
	avg_rope(inv, half, v->pos[T - 1] + 1, e->n_future_positions, cbar, sbar);
	double scale = 1.0 / sqrt((double)D);
	bool oom = false;
#pragma omp parallel if ((long)m * H * D * D > (1L << 22))
	{
		/* per thread: the centred queries, then head h's keys and keys x cov, in double */
		int rows = m < EA_ROWS ? m : EA_ROWS;
		double *kd = malloc(sizeof(double) * (size_t)rows * D * 2), *kc = kd ? kd + (size_t)rows * D : NULL;
#pragma omp for schedule(static)
		for (int h = 0; h < H; h++) {
			if (!kd) {
#pragma omp atomic write
				oom = true;
				continue;
			}
			double *mh = mu + (size_t)h * D, *ch = cov + (size_t)h * D * D;
			head_stats(q + (size_t)s * H * D, m, H, D, h, e->use_covariance, cbar, sbar, mh, ch, kd);
			/* 3. expected logits of keys s..T-1 and their softmax; the quadratic forms
			 * k^T cov k from cov's upper triangle (symmetric) */
			float *zh = z + (size_t)h * m, zmax = -INFINITY;
			for (int j0 = 0; j0 < m; j0 += EA_ROWS) {
				int n = m - j0 < EA_ROWS ? m - j0 : EA_ROWS;
				for (int j = 0; j < n; j++)
					for (int a = 0; a < D; a++)
						kd[(size_t)j * D + a] = k[((size_t)(s + j0 + j) * Hkv + h / G) * D + a];
				if (e->use_covariance)
					cblas_dsymm(CblasRowMajor, CblasRight, CblasUpper, n, D, 1.0, ch, D, kd, D, 0.0, kc, D);
				for (int j = 0; j < n; j++) {
					const double *kj = kd + (size_t)j * D, *cj = kc + (size_t)j * D;
					double lin = 0, quad = 0;
					for (int a = 0; a < D; a++)
						lin += mh[a] * kj[a];
					for (int a = 0; e->use_covariance && a < D; a++)
						quad += kj[a] * cj[a];
					float zj = (float)((float)(lin * scale) + (e->use_covariance ? (float)(quad / D / 2) : 0.0f));
					zh[j0 + j] = zj;
					zmax = zj > zmax ? zj : zmax;
				}
			}
			double sum = 0;
			for (int j = 0; j < m; j++)
				sum += zh[j] = expf(zh[j] - zmax);
			for (int j = 0; j < m; j++)
				zh[j] = (float)(zh[j] / sum);
		}
		free(kd);
	}
	if (oom) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "expected_attention: out of memory for layer %d's statistics", v->layer);
		goto out;
	}
	/* 4. mean over each KV head's query heads, value norms; 5. sinks above everything */
	float best = -INFINITY;
	for (int g = 0; g < Hkv; g++)
		for (int j = 0; j < m; j++) {
			float acc = 0;
			for (int i = 0; i < G; i++)
				acc += z[(size_t)(g * G + i) * m + j];
			float sc = acc / (float)G;
			if (e->use_vnorm) {
				const float *vj = vv + ((size_t)(s + j) * Hkv + g) * D;
				double nn = 0;
				for (int a = 0; a < D; a++)
					nn += (double)vj[a] * vj[a];
				sc = (sc + (float)e->epsilon) * (float)sqrt(nn);
			}
			score[(size_t)g * T + s + j] = sc;
			best = sc > best ? sc : best;
		}
	for (int g = 0; g < Hkv; g++)
		for (int j = 0; j < s; j++)
			score[(size_t)g * T + j] = (float)((double)best + 1.0);
out:
	free(cbar);
	free(z);
	return rc;
}

// ----------------------------------------------------------------------------
// the method

static int ea_prefill_layer(void *state, const struct kv_layer_view *v, struct kv_decision *d, char *err, size_t errlen)
{
	const struct ea_params *e = state;
	int H = v->shape->n_head, Hkv = v->shape->n_head_kv, D = v->shape->head_dim, T = v->n;
	int C = ea_budget(e, T), rc;
	if (C >= T || T <= e->n_sink || (e->compression_ratio == 0))
		return 0; /* keep all (kvpress: compression_ratio 0 returns the cache as it is) */
	if (!v->rope_inv_freq)
		return kv_errf(err, errlen, KV_EINVAL, "expected_attention: layer %d's view has no RoPE frequencies", v->layer);
	if (H % Hkv || D % 2)
		return kv_errf(err, errlen, KV_EINVAL, "expected_attention: needs n_head (%d) a multiple of n_head_kv (%d) and an even head_dim (%d)",
			       H, Hkv, D);
	size_t nq = (size_t)T * H * D, nk = (size_t)T * Hkv * D;
	float *q = malloc(sizeof(float) * (nq + 2 * nk + (size_t)Hkv * T)), *k = q + nq, *vv = k + nk, *score = vv + nk;
	if (!q)
		return kv_errf(err, errlen, KV_ENOMEM, "expected_attention: out of memory for layer %d (%d rows)", v->layer, T);
	kv_view_download(v, q, v->q, nq);
	kv_view_download(v, k, v->k, nk);
	kv_view_download(v, vv, v->v, nk);
	if ((rc = ea_scores(e, v, q, k, vv, score, err, errlen)))
		goto out;
	d->keep_all = false;
	d->per_query_head = false;
	for (int g = 0; g < Hkv; g++) {
		struct sel_cut cut = { .tb = &e->p.ties, .stream = sel_stream(v->layer, g, SEL_CUT_KV),
				       .tie = d->keep_tie ? &d->keep_tie[g] : NULL };
		d->n_keep[g] = sel_topk_cut(score + (size_t)g * T, T, C, d->keep + (size_t)g * T, &cut);
	}
out:
	free(q);
	return rc;
}

static void ea_describe(const void *state, char *buf, size_t len)
{
	kv_params_json(ea_params_table, state, "expected_attention", buf, len);
}

const struct kv_method expected_attention_method = {
	.name = "expected_attention",
	.summary = "kvpress's Expected Attention: keys scored by the expected attention of future queries (query "
		   "mean/covariance, averaged RoPE) times |v|, top-k per KV head",
	.init = ea_init,
	.free_state = free,
	.prefill_layer = ea_prefill_layer,
	.describe = ea_describe,
	.params = ea_params_table,
};
