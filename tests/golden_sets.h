/* Test helpers shared by the golden tests of kept sets (test_methods_golden,
 * test_kvpress_golden, test_kvpress_qa): position sets, the tie-aware comparison of a
 * kept set with the reference's, its tally, and the cases' "key=value" parameters. */
#ifndef KVLAB_TESTS_GOLDEN_SETS_H
#define KVLAB_TESTS_GOLDEN_SETS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "methods/params.h" // struct kv_args, kv_args_set

struct pset {
	int n;
	int32_t *p; /* (n,) ascending positions */
};

enum cmp { CMP_SAME = 0, CMP_TIE = 1, CMP_DIFF = 2 };

struct tally {
	long heads, same, tie, diff, banded;
};

/* Counts r in t (one more set compared). */
static inline void tally_add(struct tally *t, enum cmp r)
{
	t->heads++;
	t->same += r == CMP_SAME;
	t->tie += r == CMP_TIE;
	t->diff += r == CMP_DIFF;
}

static inline int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return (x > y) - (x < y);
}

/* True when x is in the ascending set s. */
static inline bool in_set(const struct pset *s, int32_t x)
{
	return s->n > 0 && bsearch(&x, s->p, (size_t)s->n, sizeof(int32_t), cmp_i32) != NULL;
}

/* The set of bits set in the bitmap bits (bit p of byte p / 8) below n, written into buf
 * (n entries, caller's); the set points into buf. */
static inline struct pset pset_from_bits(const uint8_t *bits, int n, int32_t *buf)
{
	struct pset s = { 0, buf };
	for (int p = 0; p < n; p++)
		if ((bits[p >> 3] >> (p & 7)) & 1)
			buf[s.n++] = p;
	return s;
}

/* The set of the non-zero bytes of flags[0..n-1], written into buf (n entries, caller's). */
static inline struct pset pset_from_flags(const uint8_t *flags, int n, int32_t *buf)
{
	struct pset s = { 0, buf };
	for (int p = 0; p < n; p++)
		if (flags[p])
			buf[s.n++] = p;
	return s;
}

/* Compares got (n_got kept) with the reference kept set ref (n_ref kept): identical,
 * different only inside the tie band (and the same count, unless count_may_move), or
 * different. msg (caller's, len bytes) gets the first offending positions. */
static inline enum cmp compare_set_counted(const struct pset *ref, const struct pset *band, const struct pset *got,
					   int n_ref, int n_got, bool count_may_move, char *msg, size_t len)
{
	int i = 0, j = 0, n_out = 0, n_diff = 0;
	size_t o = 0;
	msg[0] = 0;
	while (i < ref->n || j < got->n) {
		int32_t x;
		const char *who;
		if (j >= got->n || (i < ref->n && ref->p[i] < got->p[j])) {
			x = ref->p[i++];
			who = "only ref";
		} else if (i >= ref->n || got->p[j] < ref->p[i]) {
			x = got->p[j++];
			who = "only kvlab";
		} else {
			i++;
			j++;
			continue;
		}
		n_diff++;
		if (!in_set(band, x)) {
			if (n_out++ < 6 && o < len)
				o += (size_t)snprintf(msg + o, len - o, "%s%d (%s)", n_out > 1 ? ", " : "", x, who);
		}
	}
	bool count_differs = !count_may_move && n_ref != n_got;
	if (count_differs && o < len)
		snprintf(msg + o, len - o, "%scount %d, reference %d", o ? "; " : "", n_got, n_ref);
	if (n_out || count_differs)
		return CMP_DIFF;
	return n_diff ? CMP_TIE : CMP_SAME;
}

/* compare_set_counted with the sets' own sizes as the counts. */
static inline enum cmp compare_set(const struct pset *ref, const struct pset *band, const struct pset *got, char *msg,
				   size_t len)
{
	return compare_set_counted(ref, band, got, ref->n, got->n, false, msg, len);
}

/* Fills a from a "key=value key=value" string (pointers into buf, which it cuts; a is
 * freed by the caller with kv_args_free). 0 or -1 on a token without '=' or a bad value. */
static inline int args_from_params(char *buf, struct kv_args *a)
{
	for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " ")) {
		char *eq = strchr(tok, '=');
		if (!eq)
			return -1;
		*eq = 0;
		if (kv_args_set(a, tok, eq + 1, NULL, 0))
			return -1;
	}
	return 0;
}

/* Index of m in the NULL-terminated list names, or the list's length when absent. */
static inline int method_index(const char *const *names, const char *m)
{
	int i = 0;
	for (; names[i]; i++)
		if (strcmp(names[i], m) == 0)
			return i;
	return i;
}

#endif
