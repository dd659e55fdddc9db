/* Timed op slots (see op_profile.h). Each wraps the inner backend's slot: no profile
 * started, it is a plain call; else the call is timed with the monotonic clock and, for
 * the memory-bound ops, the bytes it reads are counted as the roofline counts them. */
#include "bench/op_profile.h"

#include <stdio.h>
#include <string.h>

#include "base/errors.h" // kv_errf
#include "base/clock.h"  // kv_clock_s
#include "engine/qmat.h" // qmat_bytes

static const struct backend_ops *inner;    /* the wrapped backend (borrowed) */
static struct op_profile *active;          /* NULL: no profile started */
static double span_t0;

static inline double tick(void)
{
	return active ? kv_clock_s() : 0.0;
}

/* Adds one call of op begun at t0 (tick) and its bytes to the active profile; returns the
 * call's seconds (0 with none started). */
static inline double tock(enum bk_op op, double t0, double bytes)
{
	if (!active)
		return 0.0;
	double sec = kv_clock_s() - t0;
	active->sec[op] += sec;
	active->bytes[op] += bytes;
	active->calls[op]++;
	return sec;
}

static void t_matmul(float *y, const float *x, const float *w, int T, int in, int out)
{
	double t = tick();
	inner->matmul(y, x, w, T, in, out);
	tock(BK_OP_MATMUL, t, 4.0 * in * out);
}

static void t_qmatvec(float *const *y, const float *x, const struct qmat *const *w, int n)
{
	double t = tick();
	inner->qmatvec(y, x, w, n);
	if (!active)
		return;
	double bytes = 0;
	enum qmat_type type = n > 0 ? w[0]->type : QMAT_NONE;
	for (int i = 0; i < n; i++) {
		bytes += (double)qmat_bytes(w[i]);
		type = w[i]->type == type ? type : QMAT_NONE;
	}
	active->q_sec[type] += tock(BK_OP_QMATVEC, t, bytes);
	active->q_bytes[type] += bytes;
	active->q_calls[type]++;
}

static void t_rmsnorm(float *y, const float *x, const float *w, int T, int E, float eps)
{
	double t = tick();
	inner->rmsnorm(y, x, w, T, E, eps);
	tock(BK_OP_RMSNORM, t, 0);
}

static void t_rope(float *x, int ld, const int32_t *pos, int T, int nh, int D, const float *inv_freq)
{
	double t = tick();
	inner->rope(x, ld, pos, T, nh, D, inv_freq);
	tock(BK_OP_ROPE, t, 0);
}

static void t_swiglu(float *g, const float *u, int T, int F)
{
	double t = tick();
	inner->swiglu(g, u, T, F);
	tock(BK_OP_SWIGLU, t, 0);
}

static void t_add(float *x, const float *y, size_t n)
{
	double t = tick();
	inner->add(x, y, n);
	tock(BK_OP_ADD, t, 0);
}

static void t_attn_causal(float *out, const float *q, const float *k, const float *v, int T, int H, int Hkv, int D)
{
	double t = tick();
	inner->attn_causal(out, q, k, v, T, H, Hkv, D);
	tock(BK_OP_ATTN_CAUSAL, t, 0);
}

/* K and V bytes of the n_kv views, each n rows of D elements of its type. */
static double kv_bytes(const struct attn_kv_view *kv, int n_kv, int D)
{
	double b = 0;
	for (int i = 0; i < n_kv; i++)
		b += 2.0 * kv[i].n * D * (double)kv_dtype_size(kv[i].dtype);
	return b;
}

static void t_attn_cached(float *out, const float *q, const struct attn_kv_view *kv, int n_kv, int H, int D)
{
	double t = tick();
	inner->attn_cached(out, q, kv, n_kv, H, D);
	tock(BK_OP_ATTN_CACHED, t, active ? kv_bytes(kv, n_kv, D) : 0);
}

static int t_attn_appended(float *out, const float *q, const struct attn_kv_view *kv, int n_kv, int R, int H, int D)
{
	double t = tick();
	int rc = inner->attn_appended(out, q, kv, n_kv, R, H, D);
	tock(BK_OP_ATTN_CACHED, t, active && rc == 0 ? kv_bytes(kv, n_kv, D) : 0);
	return rc;
}

static void t_attn_probs(float *out, const struct bk_qk *a, int row0, int n_rows, int causal_from)
{
	double t = tick();
	inner->attn_probs(out, a, row0, n_rows, causal_from);
	tock(BK_OP_ATTN_PROBS, t, 0);
}

static int t_attn_colsum(float *acc, const struct bk_qk *a, int row0, int n_rows, int causal_from, int ncols)
{
	double t = tick();
	int rc = inner->attn_colsum(acc, a, row0, n_rows, causal_from, ncols);
	tock(BK_OP_ATTN_COLSUM, t, 0);
	return rc;
}

static void t_qk_dots(float *out, const struct bk_qk *a, int row)
{
	double t = tick();
	inner->qk_dots(out, a, row);
	tock(BK_OP_QK_DOTS, t, 0);
}

int op_profile_check(const struct backend_ops *be, char *err, size_t errlen)
{
	return bk_host_memory(be) ? 0
				  : kv_errf(err, errlen, KV_EUNSUP,
					    "--profile: backend %s keeps device memory; its ops return before the device is done, so they cannot be timed one by one (use a host backend: --backend cpu)",
					    be->name);
}

int op_profile_wrap(struct backend_ops *timed, const struct backend_ops *be, char *err, size_t errlen)
{
	int rc = op_profile_check(be, err, errlen);
	if (rc)
		return rc;
	inner = be;
	*timed = *be;
	/* the slots be leaves NULL stay NULL: the wrappers then fall back as for be */
	timed->matmul = be->matmul ? t_matmul : NULL;
	timed->qmatvec = be->qmatvec ? t_qmatvec : NULL;
	timed->rmsnorm = be->rmsnorm ? t_rmsnorm : NULL;
	timed->rope = be->rope ? t_rope : NULL;
	timed->swiglu = be->swiglu ? t_swiglu : NULL;
	timed->add = be->add ? t_add : NULL;
	timed->attn_causal = be->attn_causal ? t_attn_causal : NULL;
	timed->attn_cached = be->attn_cached ? t_attn_cached : NULL;
	timed->attn_appended = be->attn_appended ? t_attn_appended : NULL;
	timed->attn_probs = be->attn_probs ? t_attn_probs : NULL;
	timed->attn_colsum = be->attn_colsum ? t_attn_colsum : NULL;
	timed->qk_dots = be->qk_dots ? t_qk_dots : NULL;
	return 0;
}

void op_profile_start(struct op_profile *p)
{
	active = p;
	span_t0 = kv_clock_s();
}

void op_profile_stop(long long steps)
{
	if (!active)
		return;
	active->total_sec += kv_clock_s() - span_t0;
	active->steps += steps;
	active = NULL;
}

/* Fills *r with one op's figures over p's steps. */
static void fill_row(struct bench_prof *r, const struct op_profile *p, const char *invocation, const char *label, int n_ctx,
		     double read_gbs, const char *op, long long calls, double sec, double bytes)
{
	double steps = p->steps > 0 ? (double)p->steps : 1.0;
	memset(r, 0, sizeof(*r));
	snprintf(r->invocation, sizeof(r->invocation), "%s", invocation);
	snprintf(r->label, sizeof(r->label), "%s", label);
	r->n_ctx = n_ctx;
	snprintf(r->op, sizeof(r->op), "%s", op);
	r->steps = p->steps;
	r->calls = (double)calls / steps;
	r->ms = 1e3 * sec / steps;
	r->share = p->total_sec > 0 ? sec / p->total_sec : 0.0;
	r->bytes = bytes / steps;
	r->read_gbs = read_gbs;
}

int op_profile_rows(const struct op_profile *p, const char *invocation, const char *label, int n_ctx, double read_gbs,
		    struct bench_prof *rows)
{
	static const char *const qname[3] = { "qmatvec (mixed types)", "qmatvec (q4_1)", "qmatvec (q8_0)" };
	_Static_assert(QMAT_NONE == 0 && QMAT_Q4_1 == 1 && QMAT_Q8_0 == 2, "qname follows enum qmat_type");
	int k = 0;
	double in_ops = 0;
	for (int op = 0; op < BK_OP_COUNT; op++) {
		if (!p->calls[op])
			continue;
		in_ops += p->sec[op];
		fill_row(&rows[k++], p, invocation, label, n_ctx, read_gbs, bk_op_names[op], p->calls[op], p->sec[op], p->bytes[op]);
		for (int q = 0; op == BK_OP_QMATVEC && q < 3; q++)
			if (p->q_calls[q])
				fill_row(&rows[k++], p, invocation, label, n_ctx, read_gbs, qname[q], p->q_calls[q], p->q_sec[q],
					 p->q_bytes[q]);
	}
	double rest = p->total_sec > in_ops ? p->total_sec - in_ops : 0.0;
	fill_row(&rows[k++], p, invocation, label, n_ctx, read_gbs, BENCH_PROF_BETWEEN, 0, rest, 0);
	return k;
}
