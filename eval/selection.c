/* Selection dump and cache statistics: see selection.h. */
#include "eval/selection.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/errors.h"
#include "engine/forward.h"
#include "engine/kvcache.h"
#include "engine/model.h"     // struct model (its path)
#include "methods/registry.h" // kv_policy_describe

/* Writes p[0..n) as a JSON array; with a renumbered restart (GemFilter) the cache holds
 * positions 0..n_restart-1 (then the decoded tokens), written as the original positions
 * they stand for: restart_pos[p], and n_prompt + k for the k-th decoded token. */
static void write_positions(FILE *f, const int32_t *p, int n, const struct fwd_trace *renumbered)
{
	fputc('[', f);
	for (int i = 0; i < n; i++) {
		int32_t v = p[i];
		if (renumbered)
			v = v < renumbered->n_restart ? renumbered->restart_pos[v] : renumbered->n_prompt + (v - renumbered->n_restart);
		fprintf(f, i ? ",%d" : "%d", v);
	}
	fputc(']', f);
}

/* Closes a row after its positions: with a top-k cut behind it, its tie record. */
static void end_row(FILE *f, struct kv_tie t)
{
	if (t.n_tied > 0)
		fprintf(f, ",\"tie\":{\"n_tied\":%d,\"n_kept\":%d}", t.n_tied, t.n_kept);
	fprintf(f, "}\n");
}

/* The layer's budget row: what each cache head holds (after AdaKV's head-wise split the
 * heads of a layer differ), their sum and extremes, against the layer's alive rows. */
static void write_budget(FILE *f, const struct kv_layer *L, int n_alive, int l)
{
	long total = 0;
	int lo = L->n_head ? L->len[0] : 0, hi = lo;
	fprintf(f, "{\"kind\":\"budget\",\"layer\":%d,\"heads\":%d,\"n_alive\":%d,\"per_head\":[", l, L->n_head, n_alive);
	for (int h = 0; h < L->n_head; h++) {
		fprintf(f, h ? ",%d" : "%d", L->len[h]);
		total += L->len[h];
		lo = L->len[h] < lo ? L->len[h] : lo;
		hi = L->len[h] > hi ? L->len[h] : hi;
	}
	fprintf(f, "],\"total\":%ld,\"min\":%d,\"max\":%d,\"mean\":%.3f,\"fraction\":%.6f}\n", total, lo, hi,
		L->n_head ? (double)total / L->n_head : 0.0, L->n_head && n_alive ? (double)total / ((double)L->n_head * n_alive) : 0.0);
}

/* Writes s as a JSON string (quotes, backslashes and control bytes escaped). */
static void write_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\')
			fprintf(f, "\\%c", *c);
		else if (*c < 0x20)
			fprintf(f, "\\u%04x", *c);
		else
			fputc(*c, f);
	}
	fputc('"', f);
}

int selection_dump_write(FILE *f, const char *path, const struct fwd_session *s, const struct selection_sample *smp,
			 char *err, size_t errlen)
{
	const struct kv_cache *c = s->cache;
	const struct fwd_trace *t = &s->trace;
	const char *method = s->pol.m ? s->pol.m->name : "fullkv";
	fprintf(f, "{\"kind\":\"prompt\",\"method\":\"%s\",\"n_prompt\":%d,\"n_layer\":%d", method, t->n_prompt, c->n_layer);
	if (smp && smp->sample_id) {
		fputs(",\"sample\":", f);
		write_json_string(f, smp->sample_id);
	}
	if (smp && smp->model) {
		fputs(",\"model\":", f);
		write_json_string(f, smp->model);
	}
	if (smp && smp->method_json && smp->method_json[0] == '{')
		fprintf(f, ",\"params\":%s", smp->method_json);
	if (smp && smp->span)
		fprintf(f, ",\"needle\":[%d,%d]", smp->span->start, smp->span->end);
	fputs("}\n", f);
	if (t->n_restart > 0) {
		fprintf(f, "{\"kind\":\"restart\",\"layer\":%d,\"n\":%d,\"positions\":", t->restart_layer, t->n_restart);
		write_positions(f, t->restart_pos, t->n_restart, NULL);
		end_row(f, t->restart_tie);
	}
	for (int l = 0; l < c->n_layer; l++) {
		const struct kv_layer *L = &c->layers[l];
		for (int h = 0; h < L->n_head; h++) {
			fprintf(f, "{\"kind\":\"kv\",\"layer\":%d,\"head\":%d,\"heads\":%d,\"n_alive\":%d,\"n\":%d,\"positions\":", l, h,
				L->n_head, t->n_alive[l], L->len[h]);
			write_positions(f, L->pos + (size_t)h * L->cap, L->len[h], t->n_restart > 0 && t->restart_renumbered ? t : NULL);
			end_row(f, h < t->tie_heads ? t->kv_tie[(size_t)l * t->tie_heads + h] : (struct kv_tie){ 0, 0 });
		}
		write_budget(f, L, t->n_alive[l], l);
		if (t->n_prop[l] > 0) {
			fprintf(f, "{\"kind\":\"propagated\",\"layer\":%d,\"n\":%d,\"positions\":", l, t->n_prop[l]);
			write_positions(f, t->prop_pos[l], t->n_prop[l], NULL);
			end_row(f, t->prop_tie[l]);
		}
	}
	if (ferror(f))
		return kv_errf(err, errlen, KV_EIO, "--dump_selection: cannot write %s (%s)", path, strerror(errno));
	return 0;
}

int selection_dump(const struct fwd_session *s, const char *path, char *err, size_t errlen)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f)
		return kv_errf(err, errlen, KV_EIO, "--dump_selection: cannot write %s (%s)", path, strerror(errno));
	/* what the session knows of itself: the model and, under a policy, its parameters */
	char params[2048] = "";
	if (s->pol.m)
		kv_policy_describe(&s->pol, params, sizeof(params));
	struct selection_sample about = { .model = s->m ? s->m->path : NULL, .method_json = params };
	int rc = selection_dump_write(f, path, s, &about, err, errlen);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return rc ? rc : kv_errf(err, errlen, KV_EIO, "--dump_selection: cannot write %s (%s)", path, strerror(e));
	}
	return rc;
}

// ----------------------------------------------------------------------------
// per-layer counts

/* Original position of cache entry v (see write_positions). */
static int32_t original_pos(int32_t v, const struct fwd_trace *renumbered)
{
	if (!renumbered)
		return v;
	return v < renumbered->n_restart ? renumbered->restart_pos[v] : renumbered->n_prompt + (v - renumbered->n_restart);
}

/* Starts count row r: nothing kept yet. */
static void count_row(struct store_layer *r, const char *kind, int layer, int heads, int n_alive, const struct store_span *span)
{
	*r = (struct store_layer){ .kind = kind, .layer = layer, .heads = heads, .n_alive = n_alive,
				   .span_len = span ? span->end - span->start : 0 };
}

/* Adds positions p[0..n) (renumbered as write_positions does) to r's counts. */
static void count_positions(struct store_layer *r, const int32_t *p, int n, const struct fwd_trace *renumbered,
			    const struct store_span *span)
{
	r->kept += n;
	for (int i = 0; span && i < n; i++) {
		int32_t v = original_pos(p[i], renumbered);
		r->span_kept += v >= span->start && v < span->end;
	}
}

int selection_layer_counts(const struct fwd_session *s, const struct store_span *span, struct store_layer **out, int *n,
			   char *err, size_t errlen)
{
	const struct kv_cache *c = s->cache;
	const struct fwd_trace *t = &s->trace;
	int cap = 2 * c->n_layer + 1, k = 0;
	struct store_layer *v = malloc(sizeof(*v) * (size_t)cap);
	if (!v)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory counting the selection");
	const struct fwd_trace *ren = t->n_restart > 0 && t->restart_renumbered ? t : NULL;
	if (t->n_restart > 0) {
		count_row(&v[k], "restart", t->restart_layer, 1, t->n_prompt, span);
		count_positions(&v[k++], t->restart_pos, t->n_restart, NULL, span);
	}
	for (int l = 0; l < c->n_layer; l++) {
		const struct kv_layer *L = &c->layers[l];
		count_row(&v[k], "kv", l, L->n_head, t->n_alive[l], span);
		for (int h = 0; h < L->n_head; h++)
			count_positions(&v[k], L->pos + (size_t)h * L->cap, L->len[h], ren, span);
		k++;
		if (t->n_prop[l] > 0) {
			count_row(&v[k], "propagated", l, 1, t->n_alive[l], span);
			count_positions(&v[k++], t->prop_pos[l], t->n_prop[l], NULL, span);
		}
	}
	*out = v;
	*n = k;
	return 0;
}

void selection_stats(const struct fwd_session *s, struct kv_stats *out)
{
	const struct kv_cache *c = s->cache;
	struct kv_stats st = { .min = 1e30, .max = 0, .head_min = -1, .head_max = 0 };
	for (int l = 0; l < c->n_layer; l++) {
		long e = kv_cache_entries(c, l);
		for (int h = 0; h < c->layers[l].n_head; h++) {
			int n = c->layers[l].len[h];
			st.head_min = st.head_min < 0 || n < st.head_min ? n : st.head_min;
			st.head_max = n > st.head_max ? n : st.head_max;
		}
		double per = c->layers[l].n_head ? (double)e / c->layers[l].n_head : 0.0;
		st.min = per < st.min ? per : st.min;
		st.max = per > st.max ? per : st.max;
		st.mean += per / c->n_layer;
		st.entries += e;
	}
	st.bytes = kv_cache_bytes(c);
	*out = st;
}
