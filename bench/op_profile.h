/* Where a decode step's time goes, op by op (kvlab bench e2e --profile): a host
 * backend's op table whose slots time themselves (wall clock around each call) and count
 * the bytes the memory-bound ones read (qmatvec: the matrices as stored; attn_cached: the
 * K and V attended), added to the active profile while one is started. Host backends only:
 * a device backend's ops return before the device finishes. */
#ifndef KVLAB_BENCH_OP_PROFILE_H
#define KVLAB_BENCH_OP_PROFILE_H

#include <stdio.h>

#include "engine/backend.h" // struct backend_ops, BK_OP_COUNT

struct op_profile {
	double sec[BK_OP_COUNT];         /* wall seconds inside each op */
	double bytes[BK_OP_COUNT];       /* bytes read (qmatvec, attn_cached; 0 for the others) */
	long long calls[BK_OP_COUNT];
	/* qmatvec again, split by the matrices' block type (enum qmat_type; a call mixing types
	 * counts under QMAT_NONE) */
	double q_sec[3], q_bytes[3];
	long long q_calls[3];
	double total_sec;                /* wall seconds of the profiled spans (ops and what lies between) */
	long long steps;                 /* decode steps profiled */
};

/* Fills *timed with be's table, its op slots replaced by timing ones that call be's.
 * Keeps be (borrowed) for the process: one wrapped backend at a time. KV_EUNSUP when be
 * keeps device memory. */
int op_profile_wrap(struct backend_ops *timed, const struct backend_ops *be, char *err, size_t errlen);
/* Makes p (caller-owned, not cleared) the profile the timed slots add to, and starts the
 * span clock; op_profile_stop adds the span to p->total_sec and steps to p->steps. */
void op_profile_start(struct op_profile *p);
void op_profile_stop(long long steps);

/* Prints p as a markdown table to out: per op with calls, ms per step, share of the span,
 * MB per step, GB/s and (read_gbs > 0) the fraction of that bandwidth (qmatvec then per
 * block type); then the time between the ops. title heads the table. */
void op_profile_print(FILE *out, const struct op_profile *p, const char *title, double read_gbs);

#endif
