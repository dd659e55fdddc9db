/* results/pareto.c: which points of a score-vs-cost cloud are on the Pareto front. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "results/pareto.h" // pareto_front
#include "tests/test.h"

/* Checks the front of the points against want ("1" on it, "0" not), one char per point. */
static void check_front(const double *x, const double *y, int n, bool lower, const char *want)
{
	bool on[16];
	int count = pareto_front(x, y, n, lower, on), want_count = 0;
	for (int i = 0; i < n; i++) {
		want_count += want[i] == '1';
		T_CHECK(on[i] == (want[i] == '1'), "point %d (%g, %g): on_front %d, want %c", i, x[i], y[i], on[i], want[i]);
	}
	T_CHECK(count == want_count, "count %d, want %d", count, want_count);
}

static void dominated_points_should_leave_the_front_when_less_kv_is_better(void)
{
	/* (kv fraction, score): fullkv (1, .9); a cheap good point (.2, .85) dominates (.3, .8)
	 * and (.2, .7); (.1, .5) is cheapest so it stays */
	const double x[] = { 1.0, 0.2, 0.3, 0.2, 0.1 }, y[] = { 0.9, 0.85, 0.8, 0.7, 0.5 };
	check_front(x, y, 5, true, "11001");
}

static void dominated_points_should_leave_the_front_when_more_speedup_is_better(void)
{
	/* the same numbers as speedups: now larger x wins and (1, .9) beats every other point */
	const double x[] = { 1.0, 0.2, 0.3, 0.2, 0.1 }, y[] = { 0.9, 0.85, 0.8, 0.7, 0.5 };
	check_front(x, y, 5, false, "10000");
	/* fullkv at speedup 1 and two faster, worse methods: all three on the front */
	const double sx[] = { 1.0, 1.8, 2.5, 1.5 }, sy[] = { 0.9, 0.8, 0.6, 0.6 };
	check_front(sx, sy, 4, false, "1110");
}

static void ties_should_not_dominate_each_other(void)
{
	/* two identical points are both on the front; equal x with a better y dominates;
	 * equal y with a better x dominates */
	const double x[] = { 0.5, 0.5, 0.5, 0.6, 0.4 }, y[] = { 0.8, 0.8, 0.7, 0.8, 0.6 };
	check_front(x, y, 5, true, "11001");
	const double ex[] = { 0.5, 0.5 }, ey[] = { 0.8, 0.8 };
	check_front(ex, ey, 2, false, "11");
}

static void a_single_point_should_be_the_front(void)
{
	const double x[] = { 0.3 }, y[] = { 0.1 };
	check_front(x, y, 1, true, "1");
	check_front(x, y, 1, false, "1");
	bool on[1] = { true };
	T_CHECK(pareto_front(x, y, 0, true, on) == 0 && on[0], "n = 0 touches nothing");
}

static void nan_points_should_be_left_out(void)
{
	/* a run with no score (NaN) neither sits on the front nor hides the point it would beat */
	const double x[] = { 0.1, 0.5, NAN }, y[] = { NAN, 0.4, 0.9 };
	check_front(x, y, 3, true, "010");
}

int main(void)
{
	T_RUN(dominated_points_should_leave_the_front_when_less_kv_is_better);
	T_RUN(dominated_points_should_leave_the_front_when_more_speedup_is_better);
	T_RUN(ties_should_not_dominate_each_other);
	T_RUN(a_single_point_should_be_the_front);
	T_RUN(nan_points_should_be_left_out);
	return t_done();
}
