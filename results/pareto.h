/* The Pareto front of a set of (x, y) points where a higher y is better and x is better
 * lower (KV kept) or higher (speedup): the points no other point dominates. */
#ifndef KVLAB_RESULTS_PARETO_H
#define KVLAB_RESULTS_PARETO_H

#include <stdbool.h>

/* Sets on_front[i] (n entries, the caller's) to whether point i is on the front: no point j
 * is at least as good in x and y and strictly better in one of them. Equal points do not
 * dominate each other (all of them are on the front, or none); a point with a NaN
 * coordinate is never on the front and dominates nothing. Returns how many are on it. */
int pareto_front(const double *x, const double *y, int n, bool x_lower_is_better, bool *on_front);

#endif
