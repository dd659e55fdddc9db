/* The step after a prefill for methods that take a second look at the filled cache
 * (struct kv_method.after_prefill: KVzip's context reconstruction). The engine offers the
 * method the prompt, the tokenizer and chat format, the cache's lengths and positions,
 * and a replay service (fwd_replay: tokens forwarded through the cache without staying
 * in it); the method answers with per-layer, per-head kept rows, applied here. */
#ifndef KVLAB_ENGINE_RECONSTRUCT_H
#define KVLAB_ENGINE_RECONSTRUCT_H

#include <stddef.h>
#include <stdint.h>

struct fwd_session;
struct kv_after_memo;

/* Runs s's policy's after_prefill step on the cache that the prefill of ids[0..n) filled
 * and applies the entries it keeps (per layer and head; ties recorded in s->trace.kv_tie).
 * Returns 0 at once when the policy has no such step. memo (may be NULL; borrowed) is
 * shared by the members of one shared prefill: a step finds there what another member's
 * step made on a cache with the same entries (engine/after_memo.h). *secs (may be NULL)
 * receives the wall time spent plus the time other members spent making what it found,
 * so each member reports the cost it would have paid alone. On error the cache may be
 * partly cut: discard the session. */
int fwd_after_prefill(struct fwd_session *s, const int32_t *ids, int n, struct kv_after_memo *memo, double *secs,
		      char *err, size_t errlen);

#endif
