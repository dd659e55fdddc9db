/* PyramidInfer: a pyramid of per-layer KV lengths built during prefill by propagating
 * only the context tokens the recent tokens attend to, plus block eviction in decode.
 * Mirrors LlamaModel.forward of the official baselines/pyramidinfer/llama_model.py and
 * the pyramidinfer_configs JSON files (spec/methods.md section 8; traps P15, decisions A2-A5, A7).
 *
 * Prefill (8.2): layer l caches every one of the n_l rows that entered it. The head-mean
 * causal attention probabilities of the last 1+R rows (R = floor(N * recent), fixed from
 * N) over the context columns j < n_l-1-R, weighted by linspace(1, 1.2) over the rows (in
 * place, as the official code does: decode reads the weighted rows), averaged over rows,
 * with the first 4 alive rows forced to win, choose the floor(ctx * s(l)) context rows
 * that go on to layer l+1 together with the 1+R recent rows; s(l) is the cosine schedule
 * and the decay compounds. Only those 1+R rows' probabilities are computed (A2).
 *
 * Decode (8.5): per layer the stored recent rows RW_l and a "past length" PL_l. At each
 * step, with seen = N + t + 1 and R_t = floor((1 + len(cache_0 before the step)) * recent),
 * a layer with seen - R_t - PL_l >= 16 scores the 16 entries before its last 1+R_t and
 * keeps max(floor(16 * 0.9 * 1.0), 1) = 14 of them (sorted), then PL_l = len - R_t.
 *
 * A3, decided from transformers 4.45.0 (the version FastKV's requirements.txt pins):
 * generate() builds its cache in GenerationMixin._prepare_cache_for_generation as
 * DynamicCache(num_hidden_layers), whose key_cache starts as one [] per layer, and
 * DynamicCache.get_seq_length(-1) returns 0 while key_cache[-1] == [], i.e. until the
 * last layer has run. The official prefill therefore records PL_l = 0 for every layer but
 * the last (PL_{L-1} = n_{L-1}), and decode compression fires in every layer from the
 * first step. That is the default (--pyramid_decode official); --pyramid_decode layer
 * records n_l, this layer's prefill cache length (the evident intent). Both keep the
 * official trigger, which compares the original token count with a per-layer length.
 *
 * Engine order: the engine calls decode_layer after the layer's decode attention, so the
 * new token attends over the whole cache before the block is compressed, as in the
 * official code. fp32 throughout (the official code holds fp16 probabilities); top-k ties
 * go to the lower position (P3; --tie_break lower|higher|random:SEED, decode blocks too). Memory: RW_l holds (1+R) x len(cache_l) floats per layer,
 * as the official recent_attn_weights do (in fp16 there). */
#include "methods/pyramidinfer.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"   // kv_errf
#include "engine/kv_method.h" // struct kv_method, kv_view_attn_probs
#include "methods/params.h"  // struct kv_params
#include "methods/registry.h"
#include "methods/select.h"  // sel_topk, sel_sort

#define PROB_CHUNK_FLOATS (4u << 20) /* probabilities computed at once in prefill (16 MiB) */
#define SINK_SCORE 65504.0f          /* torch.finfo(float16).max, the official sink score */

const struct pyr_preset pyr_presets[] = {
	{ "llama31_8b_35%", 0.01, 0.01 },
	{ "llama31_8b_50%", 0.3, 0.2 },
	{ "llama31_8b_60%", 0.7, 0.2 },
	{ "ministral_8b_35%", 0.01, 0.01 },
	{ "ministral_8b_60%", 0.75, 0.2 },
	{ "nemo_12b_60%", 0.78, 0.2 },
	{ NULL, 0, 0 },
};

// ----------------------------------------------------------------------------
// configuration and schedule arithmetic

const struct pyr_preset *pyr_preset_find(const char *name)
{
	for (int i = 0; pyr_presets[i].name; i++)
		if (strcmp(pyr_presets[i].name, name) == 0)
			return &pyr_presets[i];
	return NULL;
}

int pyr_config_resolve(const struct pyr_params *p, struct pyr_config *out, char *err, size_t errlen)
{
	struct pyr_config c = { .decay = -1, .recent = PYR_RECENT_DEFAULT,
				.decode = p->decode ? PYR_DECODE_LAYER : PYR_DECODE_OFFICIAL };
	const struct pyr_preset *ps = NULL;
	if (p->preset[0]) {
		if (!(ps = pyr_preset_find(p->preset))) {
			char list[256] = "";
			for (int i = 0; pyr_presets[i].name; i++) {
				size_t n = strlen(list);
				snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", pyr_presets[i].name);
			}
			return kv_errf(err, errlen, KV_EINVAL, "--pyramid_preset: expected one of %s, got '%s'", list,
				       p->preset);
		}
	} else if (p->p.retain_rate == 0.35) { /* set_model compares the float exactly */
		ps = pyr_preset_find("llama31_8b_35%");
	} else if (p->p.retain_rate == 0.5) {
		ps = pyr_preset_find("llama31_8b_50%");
	} else if (p->p.retain_rate == 0.6) {
		ps = pyr_preset_find("llama31_8b_60%");
	} else if (p->decay < 0) {
		return kv_errf(err, errlen, KV_EINVAL,
			       "--retain_rate: pyramidinfer has official configs only for 0.35, 0.5 and 0.6, got %g%s; pass one of "
			       "them, --pyramid_preset NAME, or --pyramid_decay_ratio R (kvlab calibrate pyramidinfer --target T finds R; "
			       "the cosine schedule keeps at least about 35 %% of the KV)",
			       p->p.retain_rate, p->retain_rate_given ? "" : " (the default)");
	}
	if (ps) {
		snprintf(c.preset, sizeof(c.preset), "%s", ps->name);
		c.decay = ps->decay;
		c.recent = ps->recent;
	}
	if (p->decay >= 0)
		c.decay = p->decay;
	if (p->recent >= 0)
		c.recent = p->recent;
	*out = c;
	return 0;
}

double pyr_keep_ratio(double r, int l, int L)
{
	return (1.0 - r) * (cos(M_PI * l / L) + 1) / 2 + r;
}

double pyr_simulate(int N, int L, double decay, double recent, int *n_alive)
{
	if (N <= 0 || L <= 0)
		return 0.0;
	int R = (int)floor((double)N * recent);
	int min_ctx = N - 1 - R < PYR_MIN_CONTEXT ? N - 1 - R : PYR_MIN_CONTEXT;
	int n = N;
	double sum = 0.0;
	for (int l = 0; l < L; l++) {
		if (n_alive)
			n_alive[l] = n;
		sum += n;
		double s = pyr_keep_ratio(decay, l, L);
		int ctx = n - 1 - R;
		if (ctx > min_ctx && s < 1.0) {
			int kk = (int)floor((double)ctx * s);
			if (kk > min_ctx)
				n = kk + 1 + R;
		}
	}
	return sum / L / N;
}

int pyr_calibrate(int N, int L, double recent, double target, struct pyr_try *tries, int max_tries, int *n_tries,
		  double *decay, int *digits, double *retention, char *err, size_t errlen)
{
	if (N < 1 || L < 1 || max_tries < 2)
		return kv_errf(err, errlen, KV_EINVAL, "pyramidinfer calibration needs N >= 1, L >= 1 (got %d, %d)", N, L);
	const double close = 1e-4; /* stop once the retention is this close to the target */
	int n = 0;
	double lo = 0.0, hi = 1.0;
	tries[n++] = (struct pyr_try){ lo, pyr_simulate(N, L, lo, recent, NULL) };
	tries[n++] = (struct pyr_try){ hi, pyr_simulate(N, L, hi, recent, NULL) };
	if (target < tries[0].retention - close) {
		*n_tries = n;
		return kv_errf(err, errlen, KV_EINVAL,
			       "--target: %g is below %.4f, the least KV fraction the cosine schedule keeps (decay ratio 0) at "
			       "N = %d, L = %d with recent ratio %g; no decay ratio keeps less (a lower --pyramid_recent_ratio helps only a little)",
			       target, tries[0].retention, N, L, recent);
	}
	while (n < max_tries && hi - lo > 1e-9) {
		double mid = 0.5 * (lo + hi), ret = pyr_simulate(N, L, mid, recent, NULL);
		tries[n++] = (struct pyr_try){ mid, ret };
		if (fabs(ret - target) < close)
			break;
		if (ret >= target)
			hi = mid;
		else
			lo = mid;
	}
	int best = 0;
	for (int i = 1; i < n; i++)
		if (fabs(tries[i].retention - target) < fabs(tries[best].retention - target))
			best = i;
	*n_tries = n;
	*decay = tries[best].decay;
	*retention = tries[best].retention;
	*digits = 17;
	for (int d = 1; d < 17; d++) { /* the shortest printing that keeps the same retention */
		char buf[32];
		snprintf(buf, sizeof(buf), "%.*g", d, tries[best].decay);
		double x = strtod(buf, NULL);
		if (x >= 0.0 && x <= 1.0 && pyr_simulate(N, L, x, recent, NULL) == tries[best].retention) {
			*decay = x;
			*digits = d;
			break;
		}
	}
	return 0;
}

/* Element i of torch.linspace(a, b, steps) in float32, computed as torch's kernel does
 * (from the start for the first half, from the end for the second). */
static float linspace_at(float a, float b, int steps, int i)
{
	if (steps == 1)
		return a;
	float step = (b - a) / (float)(steps - 1);
	return i < steps / 2 ? a + step * (float)i : b - step * (float)(steps - 1 - i);
}

// ----------------------------------------------------------------------------
// stored recent rows (RW_l): a (n_rows, m) matrix whose columns follow the layer's
// cache entries. Columns are reached through a map so that evicting two entries and
// appending one costs O(rows + m), not a shift of the whole matrix.

struct pyr_rows {
	int n_rows, m;          /* logical shape */
	int cap_rows, cap_cols; /* physical shape of w */
	int head;               /* logical row i lives in physical row (head + i) % cap_rows */
	int n_phys;             /* physical columns handed out */
	int n_free;             /* physical columns released by eviction, in free_cols */
	int32_t *col;           /* (cap_cols,) physical column of logical column j < m */
	int32_t *free_cols;     /* (cap_cols,) */
	float *w;               /* (cap_rows, cap_cols) */
	int pl;                 /* PL_l */
};

static void rows_free(struct pyr_rows *rw)
{
	free(rw->col);
	free(rw->free_cols);
	free(rw->w);
	memset(rw, 0, sizeof(*rw));
}

static float *row_at(const struct pyr_rows *rw, int i)
{
	return rw->w + (size_t)((rw->head + i) % rw->cap_rows) * rw->cap_cols;
}

/* Makes rw an (n_rows, m) matrix with identity column map and room to grow. */
static int rows_init(struct pyr_rows *rw, int n_rows, int m)
{
	rows_free(rw);
	rw->cap_rows = n_rows + 8;  /* R_t grows by at most one per step */
	rw->cap_cols = m + 64;      /* one column per decode step; evicted ones are reused */
	rw->w = malloc(sizeof(float) * (size_t)rw->cap_rows * rw->cap_cols);
	rw->col = malloc(sizeof(int32_t) * (size_t)rw->cap_cols);
	rw->free_cols = malloc(sizeof(int32_t) * (size_t)rw->cap_cols);
	if (!rw->w || !rw->col || !rw->free_cols) {
		rows_free(rw);
		return KV_ENOMEM;
	}
	for (int j = 0; j < m; j++)
		rw->col[j] = j;
	rw->n_rows = n_rows;
	rw->m = m;
	rw->n_phys = m;
	return 0;
}

/* Makes room for one more row and one more column; rows are renumbered from 0. */
static int rows_reserve(struct pyr_rows *rw)
{
	bool more_rows = rw->n_rows + 1 > rw->cap_rows, more_cols = rw->n_free == 0 && rw->n_phys + 1 > rw->cap_cols;
	if (!more_rows && !more_cols)
		return 0;
	int cr = more_rows ? rw->cap_rows + rw->cap_rows / 4 + 8 : rw->cap_rows;
	int cc = more_cols ? rw->cap_cols + rw->cap_cols / 4 + 64 : rw->cap_cols;
	float *w = malloc(sizeof(float) * (size_t)cr * cc);
	int32_t *col = more_cols ? malloc(sizeof(int32_t) * (size_t)cc) : NULL;
	int32_t *fc = more_cols ? malloc(sizeof(int32_t) * (size_t)cc) : NULL;
	if (!w || (more_cols && (!col || !fc))) {
		free(w);
		free(col);
		free(fc);
		return KV_ENOMEM;
	}
	for (int i = 0; i < rw->n_rows; i++)
		memcpy(w + (size_t)i * cc, row_at(rw, i), sizeof(float) * (size_t)rw->n_phys);
	free(rw->w);
	rw->w = w;
	rw->head = 0;
	rw->cap_rows = cr;
	if (more_cols) {
		memcpy(col, rw->col, sizeof(int32_t) * (size_t)rw->m);
		memcpy(fc, rw->free_cols, sizeof(int32_t) * (size_t)rw->n_free);
		free(rw->col);
		free(rw->free_cols);
		rw->col = col;
		rw->free_cols = fc;
		rw->cap_cols = cc;
	}
	return 0;
}

// ----------------------------------------------------------------------------
// state

static const char *const pyr_decodes[] = { "official", "layer", NULL };

static const struct kv_param_def pyramid_preset = {
	.name = "pyramid_preset", .kind = KV_PARAM_STRING, .offset = offsetof(struct pyr_params, preset),
	.size = sizeof(((struct pyr_params *)0)->preset), .def_str = "", .def_text = "chosen from --retain_rate",
	.metavar = "NAME", .help = "PyramidInfer: official config (e.g. llama31_8b_50%)",
};
static const struct kv_param_def pyramid_decay_ratio = {
	.name = "pyramid_decay_ratio", .kind = KV_PARAM_FLOAT, .offset = offsetof(struct pyr_params, decay),
	.lo = 0, .hi = 1, .def = -1, .def_text = "the preset's", .metavar = "R",
	.help = "PyramidInfer: prefill decay ratio, overrides the preset (see kvlab calibrate)",
};
static const struct kv_param_def pyramid_recent_ratio = {
	.name = "pyramid_recent_ratio", .kind = KV_PARAM_FLOAT, .offset = offsetof(struct pyr_params, recent),
	.lo = 0, .hi = 0.999, .def = -1, .def_text = "the preset's", .metavar = "R",
	.help = "PyramidInfer: recent ratio, overrides the preset",
};
static const struct kv_param_def pyramid_decode = {
	.name = "pyramid_decode", .kind = KV_PARAM_ENUM, .offset = offsetof(struct pyr_params, decode),
	.choices = pyr_decodes, .def_str = "official", .metavar = "MODE",
	.help = "PyramidInfer decode trigger: official or layer",
};

/* The describe JSON is pyr_describe's (the resolved configuration), not this table's. */
static const struct kv_param_def *const pyr_params_table[] = {
	&kv_param_retain_rate, &pyramid_preset, &pyramid_decay_ratio, &pyramid_recent_ratio, &pyramid_decode, &kv_param_tie_break,
	NULL,
};

struct pyr_state {
	struct pyr_params p;
	struct pyr_config cfg;
	struct kv_shape shape;
	bool prefilled;         /* rows hold a prefill's RW_l / PL_l */
	int n_prompt;           /* N */
	int R;                  /* floor(N * recent) */
	int min_ctx;            /* min(64, N-1-R) */
	int r_t;                /* R_t of the running decode step, set at layer 0 */
	struct pyr_rows *rows;  /* (L,) */
};

static void pyr_free(void *state)
{
	struct pyr_state *st = state;
	if (!st)
		return;
	for (int l = 0; st->rows && l < st->shape.n_layer; l++)
		rows_free(&st->rows[l]);
	free(st->rows);
	free(st);
}

static int pyr_init(const char *const *keys, const char *const *vals, int n, const struct kv_shape *shape,
		    void **state, char *err, size_t errlen)
{
	struct pyr_state *st = calloc(1, sizeof(*st));
	int rc;
	if (!st)
		return kv_errf(err, errlen, KV_ENOMEM, "pyramidinfer: out of memory");
	st->shape = *shape;
	for (int i = 0; i < n; i++)
		st->p.retain_rate_given |= strcmp(keys[i], "retain_rate") == 0;
	if ((rc = kv_params_parse(pyr_params_table, &st->p, "pyramidinfer", keys, vals, n, shape, err, errlen)) ||
	    (rc = pyr_config_resolve(&st->p, &st->cfg, err, errlen)))
		goto out_free;
	if (!(st->rows = calloc((size_t)shape->n_layer, sizeof(*st->rows)))) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "pyramidinfer: out of memory");
		goto out_free;
	}
	*state = st;
	return 0;
out_free:
	pyr_free(st);
	return rc;
}

static void pyr_describe(const void *state, char *buf, size_t len)
{
	const struct pyr_state *st = state;
	snprintf(buf, len,
		 "{\"method\":\"pyramidinfer\",\"pyramid_preset\":\"%s\",\"pyramid_decay_ratio\":%.17g,"
		 "\"pyramid_recent_ratio\":%.17g,\"pyramid_decode\":\"%s\",\"min_context_length\":%d,"
		 "\"streamingllm_sink_len\":%d,\"distance_weight\":%g,\"gen_decay_ratio\":%g,\"gen_compress_ratio\":%g,"
		 "\"exceed_length_to_compress\":%d}",
		 st->cfg.preset, st->cfg.decay, st->cfg.recent, st->cfg.decode == PYR_DECODE_LAYER ? "layer" : "official",
		 PYR_MIN_CONTEXT, PYR_SINK, PYR_DISTANCE_WEIGHT, PYR_GEN_DECAY, PYR_GEN_COMPRESS, PYR_EXCEED);
	size_t o = strlen(buf);
	if (st->p.p.ties.rule != KV_TIE_LOWER && o > 0 && o < len) /* like KV_PARAM_QUIET_DEFAULT: only when not lower */
		snprintf(buf + o - 1, len - o + 1, ",\"tie_break\":\"%s\"}", st->p.p.tie_break);
}

// ----------------------------------------------------------------------------
// prefill (8.2)

/* Fills rw's rows with the head-mean causal probabilities of view rows [n-nr, n) over
 * all n columns, a chunk of rows at a time. */
static int recent_probs(const struct kv_layer_view *v, int nr, struct pyr_rows *rw, char *err, size_t errlen)
{
	int H = v->shape->n_head, n = v->n, rc = 0;
	size_t per_row = (size_t)H * n;
	int chunk = (int)(PROB_CHUNK_FLOATS / per_row);
	chunk = chunk < 1 ? 1 : chunk > nr ? nr : chunk;
	float *probs = malloc(sizeof(float) * per_row * chunk);
	if (!probs)
		return kv_errf(err, errlen, KV_ENOMEM, "pyramidinfer: out of memory for %d attention rows", chunk);
	float inv_h = 1.0f / (float)H;
	for (int r0 = 0; r0 < nr; r0 += chunk) {
		int cr = nr - r0 < chunk ? nr - r0 : chunk;
		if ((rc = kv_view_attn_probs(v, n - nr + r0, cr, 0, probs, err, errlen)))
			break;
		for (int r = 0; r < cr; r++) {
			float *dst = row_at(rw, r0 + r);
			memset(dst, 0, sizeof(float) * (size_t)n);
			for (int h = 0; h < H; h++) {
				const float *src = probs + ((size_t)h * cr + r) * n;
				for (int j = 0; j < n; j++)
					dst[j] += src[j];
			}
			for (int j = 0; j < n; j++)
				dst[j] *= inv_h;
		}
	}
	free(probs);
	return rc;
}

static int pyr_prefill_layer(void *state, const struct kv_layer_view *v, struct kv_decision *d, char *err,
			     size_t errlen)
{
	struct pyr_state *st = state;
	int L = v->shape->n_layer, l = v->layer, n = v->n, rc;
	if (v->pass > 0)
		return 0; /* PyramidInfer never restarts; another pass is not ours to judge */
	if (l == 0) {
		for (int i = 0; i < L; i++)
			rows_free(&st->rows[i]);
		st->prefilled = false;
		st->n_prompt = v->n_prompt;
		st->R = (int)floor((double)v->n_prompt * st->cfg.recent);
		st->min_ctx = v->n_prompt - 1 - st->R < PYR_MIN_CONTEXT ? v->n_prompt - 1 - st->R : PYR_MIN_CONTEXT;
	}
	int nr = 1 + st->R, ctx = n - nr;
	if (ctx < 0)
		return kv_errf(err, errlen, KV_EINTERNAL, "pyramidinfer: layer %d has %d rows, fewer than the %d recent ones", l, n, nr);
	struct pyr_rows *rw = &st->rows[l];
	if (rows_init(rw, nr, n))
		return kv_errf(err, errlen, KV_ENOMEM, "pyramidinfer: out of memory for %d x %d recent attention rows", nr, n);
	if ((rc = recent_probs(v, nr, rw, err, errlen)))
		return rc;

	/* Weight the rows over the context columns in place (decode reads them later), then
	 * average over rows; the first PYR_SINK alive rows always win. */
	float *score = calloc((size_t)(ctx > 0 ? ctx : 1), sizeof(float));
	if (!score)
		return kv_errf(err, errlen, KV_ENOMEM, "pyramidinfer: out of memory");
	for (int r = 0; r < nr; r++) {
		float lam = linspace_at(1.0f, (float)PYR_DISTANCE_WEIGHT, nr, r), *row = row_at(rw, r);
		for (int j = 0; j < ctx; j++) {
			row[j] *= lam;
			score[j] += row[j];
		}
	}
	for (int j = 0; j < ctx; j++)
		score[j] = j < PYR_SINK ? SINK_SCORE : score[j] / (float)nr;
	rw->pl = st->cfg.decode == PYR_DECODE_LAYER || l == L - 1 ? n : 0; /* A3 */

	double s = pyr_keep_ratio(st->cfg.decay, l, L);
	if (ctx > st->min_ctx && s < 1.0) {
		int kk = (int)floor((double)ctx * s);
		if (kk > st->min_ctx) {
			struct sel_cut cut = { &st->p.p.ties, sel_stream(l, 0, SEL_CUT_PROP), &d->prop_tie };
			sel_topk_cut(score, ctx, kk, d->prop, &cut);
			sel_sort(d->prop, kk);
			for (int i = 0; i < nr; i++)
				d->prop[kk + i] = ctx + i;
			d->n_prop = kk + nr;
		}
	}
	free(score);
	if (l == L - 1)
		st->prefilled = true;
	return 0;
}

// ----------------------------------------------------------------------------
// decode (8.5)

/* Dot product with four accumulators (lets the compiler keep four lanes busy). */
static float dot(const float *a, const float *b, int n)
{
	float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	int i = 0;
	for (; i + 4 <= n; i += 4) {
		s0 += a[i] * b[i];
		s1 += a[i + 1] * b[i + 1];
		s2 += a[i + 2] * b[i + 2];
		s3 += a[i + 3] * b[i + 3];
	}
	for (; i < n; i++)
		s0 += a[i] * b[i];
	return (s0 + s1) + (s2 + s3);
}

/* a (m,): the new query's attention probabilities over the m cache entries, mean over
 * the H query heads (eager attention with output_attentions, then .mean(dim=1)). */
static void decode_attn_row(const struct kv_decode_view *v, int m, float *probs, float *a)
{
	int H = v->shape->n_head, D = v->shape->head_dim, nh = v->n_cache_heads;
	float scale = 1.0f / sqrtf((float)D);
#pragma omp parallel for schedule(static) if ((long)m * H * D > (1L << 23)) /* a parallel region costs more below */
	for (int h = 0; h < H; h++) {
		const float *q = v->q + (size_t)h * D, *k = v->k[(long)h * nh / H];
		float *p = probs + (size_t)h * m, mx = -INFINITY, sum = 0.0f;
		for (int j = 0; j < m; j++) {
			p[j] = dot(q, k + (size_t)j * D, D) * scale;
			mx = p[j] > mx ? p[j] : mx;
		}
		for (int j = 0; j < m; j++) {
			p[j] = expf(p[j] - mx);
			sum += p[j];
		}
		float inv = 1.0f / sum;
		for (int j = 0; j < m; j++)
			p[j] *= inv;
	}
	for (int j = 0; j < m; j++) {
		float s = 0.0f;
		for (int h = 0; h < H; h++)
			s += probs[(size_t)h * m + j];
		a[j] = s / (float)H;
	}
}

/* Scores the block [c0, c1) of the last nb rows (weighting them in place), keeps the best
 * n_keep columns and writes the surviving entry indices into list; returns their count. */
static int compress_block(struct pyr_rows *rw, int c0, int c1, int nb, int n_keep, float *score, int32_t *idx,
			  int32_t *list, const struct sel_cut *cut)
{
	int width = c1 - c0, first = rw->n_rows - nb, m = rw->m;
	memset(score, 0, sizeof(float) * (size_t)width);
	for (int b = 0; b < nb; b++) {
		float lam = linspace_at(1.0f, (float)PYR_DISTANCE_WEIGHT, nb, b), *row = row_at(rw, first + b);
		for (int c = 0; c < width; c++) {
			float *x = &row[rw->col[c0 + c]];
			*x *= lam;
			score[c] += *x;
		}
	}
	for (int c = 0; c < width; c++)
		score[c] /= (float)nb;
	int k = sel_topk_cut(score, width, n_keep, idx, cut);
	sel_sort(idx, k);
	int n = 0, t = 0;
	for (int j = 0; j < c0; j++)
		list[n++] = j;
	for (int c = 0; c < width; c++) {
		if (t < k && idx[t] == c) {
			list[n++] = c0 + c;
			t++;
		} else {
			rw->free_cols[rw->n_free++] = rw->col[c0 + c];
		}
	}
	for (int j = c1; j < m; j++)
		list[n++] = j;
	for (int i = 0; i < n; i++) /* list is ascending with list[i] >= i: in place is safe */
		rw->col[i] = rw->col[list[i]];
	rw->m = n;
	return n;
}

static int pyr_decode_layer(void *state, const struct kv_decode_view *v, struct kv_decision *d, char *err,
			    size_t errlen)
{
	struct pyr_state *st = state;
	int l = v->layer, L = v->shape->n_layer, H = v->shape->n_head, rc = 0;
	struct pyr_rows *rw = &st->rows[l];
	if (!st->prefilled)
		return kv_errf(err, errlen, KV_EINVAL, "pyramidinfer: decode needs a prefill by this policy first");
	int m = v->len[0];
	for (int h = 1; h < v->n_cache_heads; h++)
		if (v->len[h] != m)
			return kv_errf(err, errlen, KV_EINTERNAL, "pyramidinfer: layer %d heads hold %d and %d entries", l, m, v->len[h]);
	if (rw->m != m - 1)
		return kv_errf(err, errlen, KV_EINTERNAL,
			       "pyramidinfer: layer %d holds %d entries after the append, the stored rows expect %d (one policy per session)",
			       l, m, rw->m + 1);
	if (l == 0) /* seq_length_with_past = 1 + len(cache_0) before this step = m of layer 0 */
		st->r_t = (int)floor((double)m * st->cfg.recent);
	int Rt = st->r_t;
	long seen = (long)st->n_prompt + v->step + 1;

	float *probs = malloc(sizeof(float) * (size_t)(H + 1) * m + sizeof(float) * PYR_EXCEED);
	int32_t *ibuf = malloc(sizeof(int32_t) * ((size_t)m + PYR_EXCEED));
	if (!probs || !ibuf || rows_reserve(rw)) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "pyramidinfer: out of memory in decode");
		goto out_free;
	}
	float *a = probs + (size_t)H * m, *score = a + m;
	decode_attn_row(v, m, probs, a);

	/* W = [RW_l, zero column; a] */
	int32_t pc = rw->n_free > 0 ? rw->free_cols[--rw->n_free] : rw->n_phys++;
	rw->col[m - 1] = pc;
	for (int i = 0; i < rw->n_rows; i++)
		row_at(rw, i)[pc] = 0.0f;
	float *row = row_at(rw, rw->n_rows);
	for (int j = 0; j < m; j++)
		row[rw->col[j]] = a[j];
	rw->n_rows++;
	rw->m = m;

	if (seen - Rt - rw->pl >= PYR_EXCEED) {
		int c1 = m - (1 + Rt), c0 = c1 - PYR_EXCEED < 0 ? 0 : c1 - PYR_EXCEED;
		if (c1 > 0) { /* the official code fails on an empty block; keep everything instead */
			int nb = 1 + Rt < rw->n_rows ? 1 + Rt : rw->n_rows, width = c1 - c0;
			double sgen = pyr_keep_ratio(PYR_GEN_DECAY, l, L);
			int n_keep = (int)floor((double)width * PYR_GEN_COMPRESS * sgen);
			n_keep = n_keep < 1 ? 1 : n_keep > width ? width : n_keep;
			int32_t *list = ibuf + PYR_EXCEED;
			struct sel_cut cut = { &st->p.p.ties, sel_stream(l, v->step, SEL_CUT_DECODE), NULL };
			int n = compress_block(rw, c0, c1, nb, n_keep, score, ibuf, list, &cut);
			if (n < m) {
				d->keep_all = false;
				for (int h = 0; h < v->n_cache_heads; h++) {
					d->n_keep[h] = n;
					memcpy(d->keep + (size_t)h * v->stride, list, sizeof(int32_t) * (size_t)n);
				}
			}
			rw->pl = n - Rt;
		}
	}
	if (rw->n_rows > 1 + Rt) { /* RW_l = the last 1+R_t rows of W */
		int drop = rw->n_rows - (1 + Rt);
		rw->head = (rw->head + drop) % rw->cap_rows;
		rw->n_rows -= drop;
	}
out_free:
	free(probs);
	free(ibuf);
	return rc;
}

const struct kv_method pyramidinfer_method = {
	.name = "pyramidinfer",
	.summary = "each layer keeps the tokens that entered it and passes on the context its recent 1+R tokens attend to "
		   "(cosine schedule, --pyramid_preset / --retain_rate 0.35|0.5|0.6 / --pyramid_decay_ratio); decode compresses "
		   "16-entry blocks to 14; --pyramid_decode official (default) copies the past length transformers 4.45's "
		   "pre-allocated DynamicCache gives (0 but the last layer, so every layer compresses from the first step), "
		   "layer uses each layer's prefill length",
	.init = pyr_init,
	.free_state = pyr_free,
	.prefill_layer = pyr_prefill_layer,
	.decode_layer = pyr_decode_layer,
	.describe = pyr_describe,
	.prompt_cap = 7950,
	.params = pyr_params_table,
};
