/* Pareto front (pareto.h): the plain O(n^2) dominance test; a figure holds a few dozen runs. */
#include "results/pareto.h"

#include <math.h>

/* True when point a dominates point b (x already oriented so that higher is better). */
static bool dominates(double ax, double ay, double bx, double by)
{
	return ax >= bx && ay >= by && (ax > bx || ay > by);
}

int pareto_front(const double *x, const double *y, int n, bool x_lower_is_better, bool *on_front)
{
	double s = x_lower_is_better ? -1.0 : 1.0;
	int count = 0;
	for (int i = 0; i < n; i++) {
		bool front = !isnan(x[i]) && !isnan(y[i]);
		for (int j = 0; j < n && front; j++)
			if (j != i && !isnan(x[j]) && !isnan(y[j]) && dominates(s * x[j], y[j], s * x[i], y[i]))
				front = false;
		on_front[i] = front;
		count += front;
	}
	return count;
}
