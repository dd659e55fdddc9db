/* kvlab calibrate tsp: the TSP-layer curve (see calibrate_tsp.h). */
#include "eval/calibrate_tsp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/errors.h"      // kv_errf
#include "base/fileio.h"      // kv_read_file
#include "datasets/needle.h"  // haystack_read_dir
#include "engine/forward.h"   // fwd_session_*, fwd_prefill
#include "engine/model.h"     // struct model
#include "engine/tokenizer.h" // tok_encode, tok_bos
#include "methods/registry.h" // kv_policy_make
#include "methods/tsp.h"      // tsp_reduction_method

// ----------------------------------------------------------------------------
// comparisons

void tsp_calib_compare(const float *h_full, const float *h, int E, const float *logits_full, const float *logits, int V,
		       struct tsp_calib_cmp *out)
{
	double dot = 0, nf = 0, nh = 0, nd = 0;
	for (int i = 0; i < E; i++) {
		double a = h_full[i], b = h[i];
		dot += a * b;
		nf += a * a;
		nh += b * b;
		nd += (a - b) * (a - b);
	}
	out->cos = nf > 0 && nh > 0 ? dot / sqrt(nf * nh) : (nf == nh ? 1.0 : 0.0);
	out->rel_l2 = nf > 0 ? sqrt(nd / nf) : sqrt(nd);
	double mf = -INFINITY, mt = -INFINITY, max_abs = 0;
	int af = 0, at = 0;
	for (int v = 0; v < V; v++) {
		if (logits_full[v] > mf) {
			mf = logits_full[v];
			af = v;
		}
		if (logits[v] > mt) {
			mt = logits[v];
			at = v;
		}
		double d = fabs((double)logits[v] - logits_full[v]);
		if (d > max_abs)
			max_abs = d;
	}
	double zf = 0, zt = 0;
	for (int v = 0; v < V; v++) {
		zf += exp(logits_full[v] - mf);
		zt += exp(logits[v] - mt);
	}
	double lzf = mf + log(zf), lzt = mt + log(zt), kl = 0;
	for (int v = 0; v < V; v++) { /* sum p (log p - log q), log p = l - logsumexp(l) */
		double lp = logits_full[v] - lzf, lq = logits[v] - lzt;
		kl += exp(lp) * (lp - lq);
	}
	out->kl = kl > 0 ? kl : 0; /* rounding can leave -1e-17 for equal rows */
	out->max_abs = max_abs;
	out->top1 = af == at;
}

// ----------------------------------------------------------------------------
// the curve

/* One prefill of ids under pol (NULL: full context) into h (E,) and logits (V,); *n_prop =
 * rows propagated after layer (0 when none or layer < 0). */
static int prefill_one(const struct tsp_calib_opts *o, const struct kv_policy *pol, const int32_t *ids, int layer,
		       float *h, float *logits, int *n_prop, char *err, size_t errlen)
{
	struct fwd_session *s = NULL;
	int rc = fwd_session_init(o->m, pol, 0, o->threads, &s, err, errlen);
	if (rc)
		return rc;
	s->final_hidden = h;
	rc = fwd_prefill(s, ids, o->n_tokens, false, logits, err, errlen);
	*n_prop = !rc && layer >= 0 ? s->trace.n_prop[layer] : 0;
	fwd_session_free(s);
	return rc;
}

/* The tsp reduction (retention full) at layer, proportional (FastKV's --tsp_rate): only
 * propagation differs from the full run. retain_rate 1 keeps FastKV's "layer budget reaches the rows" exit from firing, which
 * only the retention half would use. */
static int make_policy(const struct tsp_calib_opts *o, int layer, struct kv_policy *pol, char *err, size_t errlen)
{
	char idx[16], rate[32], win[16];
	snprintf(idx, sizeof(idx), "%d", layer);
	snprintf(rate, sizeof(rate), "%.17g", o->tsp_rate);
	snprintf(win, sizeof(win), "%d", o->window_size);
	struct kv_arg av[] = { { "eviction_mode", "proportional" }, { "tsp_idx", idx }, { "tsp_rate", rate },
			       { "window_size", win }, { "retain_rate", "1" } };
	struct kv_args args = { av, 5, 5 };
	const struct model_config *c = &o->m->cfg;
	struct kv_shape shape = { c->n_layer, c->n_head, c->n_head_kv, c->head_dim, c->n_embd };
	return kv_policy_make(&tsp_reduction_method, &args, &shape, pol, err, errlen);
}

int tsp_calib_run(const struct tsp_calib_opts *o, struct tsp_calib_row *rows, char *err, size_t errlen)
{
	int E = o->m->cfg.n_embd, V = o->m->cfg.n_vocab, P = o->n_prompts, rc = 0;
	if (P < 1 || o->n_layers < 1 || o->n_tokens < 1)
		return kv_errf(err, errlen, KV_EINVAL, "calibrate tsp: need at least one prompt, one token and one layer");
	float *hf = malloc(sizeof(float) * (size_t)E), *h = malloc(sizeof(float) * (size_t)E);
	float *lf = malloc(sizeof(float) * (size_t)V), *lg = malloc(sizeof(float) * (size_t)V);
	struct tsp_calib_row *acc = calloc((size_t)o->n_layers, sizeof(*acc));
	if (!hf || !h || !lf || !lg || !acc) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "calibrate tsp: out of memory");
		goto out_free;
	}
	for (int j = 0; j < o->n_layers; j++) {
		acc[j].layer = o->layers[j];
		acc[j].cos_min = INFINITY;
	}
	int done = 0, total = P * (o->n_layers + 1);
	for (int p = 0; p < P; p++) {
		const int32_t *ids = o->prompts + (size_t)p * o->n_tokens;
		int np = 0;
		if ((rc = prefill_one(o, NULL, ids, -1, hf, lf, &np, err, errlen)))
			goto out_free;
		if (o->on_progress)
			o->on_progress(o->ctx, ++done, total);
		for (int j = 0; j < o->n_layers; j++) {
			struct kv_policy pol = { 0 };
			struct tsp_calib_cmp c;
			if ((rc = make_policy(o, o->layers[j], &pol, err, errlen)))
				goto out_free;
			rc = prefill_one(o, &pol, ids, o->layers[j], h, lg, &np, err, errlen);
			kv_policy_free(&pol);
			if (rc)
				goto out_free;
			tsp_calib_compare(hf, h, E, lf, lg, V, &c);
			struct tsp_calib_row *r = &acc[j];
			r->cos_mean += c.cos / P;
			r->cos_min = c.cos < r->cos_min ? c.cos : r->cos_min;
			r->rel_l2 += c.rel_l2 / P;
			r->kl += c.kl / P;
			r->max_abs += c.max_abs / P;
			r->top1 += (c.top1 ? 1.0 : 0.0) / P;
			r->n_prop += (double)np / P;
			if (o->on_progress)
				o->on_progress(o->ctx, ++done, total);
		}
	}
	memcpy(rows, acc, sizeof(*acc) * (size_t)o->n_layers);
out_free:
	free(hf);
	free(h);
	free(lf);
	free(lg);
	free(acc);
	return rc;
}

int tsp_calib_suggest(const struct tsp_calib_row *rows, int n, double threshold)
{
	int best = -1;
	for (int j = n - 1; j >= 0 && rows[j].cos_mean >= threshold; j--)
		best = j;
	return best;
}

// ----------------------------------------------------------------------------
// --layers

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* Reads a non-negative decimal at *s (advancing it); -1 when there is none or it overflows. */
static int read_uint(const char **s)
{
	long v = 0;
	const char *p = *s;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++)
		if ((v = v * 10 + (*p - '0')) > 1000000)
			return -1;
	*s = p;
	return (int)v;
}

int tsp_calib_parse_layers(const char *spec, int n_layer, int **out, int *n, char *err, size_t errlen)
{
	int *v = malloc(sizeof(int) * (size_t)(n_layer > 0 ? n_layer : 1)), k = 0;
	bool *seen = calloc((size_t)(n_layer > 0 ? n_layer : 1), sizeof(bool));
	const char *s = spec;
	int rc = 0;
	if (!v || !seen) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		goto out_fail;
	}
	for (;;) {
		int a = read_uint(&s), b = a;
		if (a >= 0 && *s == '-') {
			s++;
			b = read_uint(&s);
		}
		if (a < 0 || b < 0 || (*s && *s != ',')) {
			rc = kv_errf(err, errlen, KV_EINVAL, "--layers: expected layers as A-B or A,B,C (e.g. 2-28), got '%s'", spec);
			goto out_fail;
		}
		if (a > b || b >= n_layer) {
			rc = kv_errf(err, errlen, KV_EINVAL, "--layers: '%s' names layers outside 0..%d (the model has %d layers) or a range backwards",
				     spec, n_layer - 1, n_layer);
			goto out_fail;
		}
		for (int l = a; l <= b; l++) {
			if (seen[l]) {
				rc = kv_errf(err, errlen, KV_EINVAL, "--layers: layer %d listed twice in '%s'", l, spec);
				goto out_fail;
			}
			seen[l] = true;
			v[k++] = l;
		}
		if (!*s)
			break;
		s++;
	}
	qsort(v, (size_t)k, sizeof(int), cmp_int);
	free(seen);
	*out = v;
	*n = k;
	return 0;
out_fail:
	free(v);
	free(seen);
	return rc;
}

// ----------------------------------------------------------------------------
// prompts

/* Encodes the first cut bytes of text (moved back to a whitespace so no word or UTF-8
 * sequence is split) without special tokens. */
static int encode_prefix(const struct model *m, const char *text, size_t len, size_t cut, int32_t **ids, int *n, char *err,
			 size_t errlen)
{
	if (cut < len) {
		size_t c = cut;
		while (c > 0 && text[c] != ' ' && text[c] != '\n')
			c--;
		cut = c > 0 ? c : cut;
	} else {
		cut = len;
	}
	return tok_encode(m->tok, text, cut, false, ids, n, err, errlen);
}

int tsp_calib_prompts(const struct model *m, const char *path, const char *flag, int n_prompts, int n_tokens,
		      int32_t **ids, char *err, size_t errlen)
{
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int32_t *tok = NULL, *out = NULL;
	int rc, n_tok = 0, n_files = 0;
	if (!m->tok)
		return kv_errf(err, errlen, KV_EUNSUP, "%s: %s has no tokenizer to make calibration prompts with", flag,
			       m->path ? m->path : "the model");
	if (n_prompts < 1 || n_tokens < 2)
		return kv_errf(err, errlen, KV_EINVAL, "%s: need at least one prompt of at least 2 tokens", flag);
	if (stat(path, &st) != 0)
		return kv_errf(err, errlen, KV_EIO, "%s %s: no such file or folder", flag, path);
	rc = S_ISDIR(st.st_mode) ? haystack_read_dir(path, &text, &len, &n_files, err, errlen)
				 : kv_read_file(path, &text, &len, err, errlen);
	if (rc)
		return rc;
	int bos = tok_add_bos(m->tok) ? tok_bos(m->tok) : -1, body = bos >= 0 ? n_tokens - 1 : n_tokens;
	size_t need = (size_t)n_prompts * (size_t)body;
	/* tokenizing all the essays takes long: a prefix of about 6 bytes per token needed, all if short */
	size_t cut = need * 6 + 64;
	if ((rc = encode_prefix(m, text, len, cut, &tok, &n_tok, err, errlen)))
		goto out_free;
	if ((size_t)n_tok < need && cut < len) {
		free(tok);
		tok = NULL;
		if ((rc = encode_prefix(m, text, len, len, &tok, &n_tok, err, errlen)))
			goto out_free;
	}
	if ((size_t)n_tok < need) {
		rc = kv_errf(err, errlen, KV_EINVAL, "%s %s: %d tokens of text, %d prompts of %d tokens need %zu; give fewer or shorter prompts",
			     flag, path, n_tok, n_prompts, n_tokens, need);
		goto out_free;
	}
	if (!(out = malloc(sizeof(int32_t) * (size_t)n_prompts * (size_t)n_tokens))) {
		rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		goto out_free;
	}
	for (int p = 0; p < n_prompts; p++) {
		int32_t *row = out + (size_t)p * n_tokens;
		if (bos >= 0)
			row[0] = bos;
		memcpy(row + (bos >= 0), tok + (size_t)p * body, sizeof(int32_t) * (size_t)body);
	}
	*ids = out;
out_free:
	free(text);
	free(tok);
	return rc;
}
