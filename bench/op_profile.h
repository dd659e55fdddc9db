/* Where a decode step's time goes, op by op (kvlab bench e2e --profile): a host
 * backend's op table whose slots time themselves (wall clock around each call) and count
 * the bytes the memory-bound ones read (qmatvec: the matrices as stored; matmul, a model
 * without packed copies: its fp32 weights; attn_cached and attn_appended, counted as
 * attn_cached: the K and V attended), added to the active profile while one is started.
 * Host backends only: a device backend's ops return before the device finishes. */
#ifndef KVLAB_BENCH_OP_PROFILE_H
#define KVLAB_BENCH_OP_PROFILE_H

#include "engine/backend.h" // struct backend_ops, BK_OP_COUNT
#include "results/bench_profile.h" // struct bench_prof

struct op_profile {
	double sec[BK_OP_COUNT];         /* wall seconds inside each op */
	double bytes[BK_OP_COUNT];       /* bytes read (qmatvec, matmul, attn_cached; 0 for the others) */
	long long calls[BK_OP_COUNT];
	/* qmatvec again, split by the matrices' block type (enum qmat_type; a call mixing types
	 * counts under QMAT_NONE) */
	double q_sec[3], q_bytes[3];
	long long q_calls[3];
	double total_sec;                /* wall seconds of the profiled spans (ops and what lies between) */
	long long steps;                 /* decode steps profiled */
};

/* 0 when be's ops can be timed one by one (host memory), else KV_EUNSUP naming be and
 * --profile: the check op_profile_wrap makes, for callers to make before long work. */
int op_profile_check(const struct backend_ops *be, char *err, size_t errlen);
/* Fills *timed with be's table, its op slots replaced by timing ones that call be's.
 * Keeps be (borrowed) for the process: one wrapped backend at a time. KV_EUNSUP when be
 * keeps device memory. */
int op_profile_wrap(struct backend_ops *timed, const struct backend_ops *be, char *err, size_t errlen);
/* Makes p (caller-owned, not cleared) the profile the timed slots add to, and starts the
 * span clock; op_profile_stop adds the span to p->total_sec and steps to p->steps. */
void op_profile_start(struct op_profile *p);
void op_profile_stop(long long steps);

#define OP_PROFILE_MAX_ROWS (BK_OP_COUNT + 4) /* every op, qmatvec's three block types, the time between */

/* Writes into rows (room for OP_PROFILE_MAX_ROWS) p's rows for benchmark row (invocation,
 * label, n_ctx): per op called, its calls, ms and share per step and the bytes it read
 * (qmatvec, then qmatvec per block type, matmul and attn_cached; 0 for the others), then the time
 * between the ops; read_gbs the invocation's read calibration (0: none). Returns the count. */
int op_profile_rows(const struct op_profile *p, const char *invocation, const char *label, int n_ctx, double read_gbs,
		    struct bench_prof *rows);

#endif
