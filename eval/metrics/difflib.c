/* difflib.SequenceMatcher(None, a, b) as CPython's Lib/difflib.py defines it, reduced to
 * what ratio() needs: the total size of get_matching_blocks(). Kept exactly:
 *   - __chain_b's autojunk: when len(b) >= 200, elements occurring more than
 *     len(b) // 100 + 1 times in b are "popular" and dropped from b2j (they cannot seed a
 *     match), but they are not junk, so find_longest_match's extension loops still
 *     grow a match through them;
 *   - find_longest_match: j2len dynamic programme over a's positions, the first longest
 *     block in (i, j) order wins, then the extension by equal elements on both ends;
 *   - get_matching_blocks: recursion on the left and right remainders.
 * isjunk is None in fuzzywuzzy's call, so the junk-only extension loops never run. */
#include "eval/metrics/metrics_internal.h"

#include <stdlib.h>

#include "base/errors.h" // defines: KV_ENOMEM

struct occ {
	uint32_t elt;
	size_t j;
};

struct b2j_group {
	uint32_t elt;
	size_t start, n; /* positions pos[start, start + n), ascending */
};

struct matcher {
	const uint32_t *a, *b;
	struct b2j_group *g; /* (n_g,) sorted by elt; popular elements removed */
	size_t n_g;
	size_t *pos;         /* positions of b, grouped by element */
	size_t *len[2];      /* (lb,) j2len rows, alternating */
	uint64_t *stamp[2];  /* (lb,) which row wrote len[.][j] */
	uint64_t row;        /* rows done so far, over all calls */
};

static int cmp_occ(const void *x, const void *y)
{
	const struct occ *p = x, *q = y;
	if (p->elt != q->elt)
		return p->elt < q->elt ? -1 : 1;
	return p->j < q->j ? -1 : p->j > q->j;
}

static const struct b2j_group *b2j_get(const struct matcher *m, uint32_t elt)
{
	size_t lo = 0, hi = m->n_g;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (m->g[mid].elt < elt)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->n_g && m->g[lo].elt == elt ? &m->g[lo] : NULL;
}

static void longest_match(struct matcher *m, size_t alo, size_t ahi, size_t blo, size_t bhi, size_t *oi, size_t *oj,
			  size_t *ok)
{
	const uint32_t *a = m->a, *b = m->b;
	size_t besti = alo, bestj = blo, bestsize = 0;
	bool have_prev = false;
	for (size_t i = alo; i < ahi; i++) {
		uint64_t cur = ++m->row;
		int c = (int)(cur & 1), p = c ^ 1;
		const struct b2j_group *g = b2j_get(m, a[i]);
		for (size_t t = 0; g && t < g->n; t++) {
			size_t j = m->pos[g->start + t];
			if (j < blo)
				continue;
			if (j >= bhi)
				break;
			size_t k = 1;
			if (have_prev && j > 0 && m->stamp[p][j - 1] == cur - 1)
				k = m->len[p][j - 1] + 1;
			m->len[c][j] = k;
			m->stamp[c][j] = cur;
			if (k > bestsize) {
				besti = i - k + 1;
				bestj = j - k + 1;
				bestsize = k;
			}
		}
		have_prev = true;
	}
	while (besti > alo && bestj > blo && a[besti - 1] == b[bestj - 1]) {
		besti--;
		bestj--;
		bestsize++;
	}
	while (besti + bestsize < ahi && bestj + bestsize < bhi && a[besti + bestsize] == b[bestj + bestsize])
		bestsize++;
	*oi = besti;
	*oj = bestj;
	*ok = bestsize;
}

int difflib_matched(const uint32_t *a, size_t la, const uint32_t *b, size_t lb, size_t *matched)
{
	struct matcher m = {.a = a, .b = b};
	struct occ *occ = malloc((lb ? lb : 1) * sizeof(*occ));
	size_t (*queue)[4] = malloc((la + 1) * sizeof(*queue)); /* pending (alo, ahi, blo, bhi) */
	m.g = malloc((lb ? lb : 1) * sizeof(*m.g));
	m.pos = malloc((lb ? lb : 1) * sizeof(*m.pos));
	for (int r = 0; r < 2; r++) {
		m.len[r] = malloc((lb ? lb : 1) * sizeof(*m.len[r]));
		m.stamp[r] = calloc(lb ? lb : 1, sizeof(*m.stamp[r]));
	}
	int rc = 0;
	if (!occ || !queue || !m.g || !m.pos || !m.len[0] || !m.len[1] || !m.stamp[0] || !m.stamp[1]) {
		rc = KV_ENOMEM;
		goto out;
	}
	/* __chain_b */
	for (size_t j = 0; j < lb; j++)
		occ[j] = (struct occ){.elt = b[j], .j = j};
	qsort(occ, lb, sizeof(*occ), cmp_occ);
	size_t ntest = lb / 100 + 1;
	size_t n_pos = 0;
	for (size_t s = 0; s < lb;) {
		size_t e = s;
		while (e < lb && occ[e].elt == occ[s].elt)
			e++;
		if (!(lb >= 200 && e - s > ntest)) {
			m.g[m.n_g++] = (struct b2j_group){.elt = occ[s].elt, .start = n_pos, .n = e - s};
			for (size_t t = s; t < e; t++)
				m.pos[n_pos++] = occ[t].j;
		}
		s = e;
	}
	/* get_matching_blocks; each block leaves at most one pending range per a position */
	size_t total = 0, nq = 0;
	queue[nq][0] = 0, queue[nq][1] = la, queue[nq][2] = 0, queue[nq][3] = lb, nq++;
	while (nq > 0) {
		nq--;
		size_t alo = queue[nq][0], ahi = queue[nq][1], blo = queue[nq][2], bhi = queue[nq][3];
		size_t i, j, k;
		longest_match(&m, alo, ahi, blo, bhi, &i, &j, &k);
		if (!k)
			continue;
		total += k;
		if (alo < i && blo < j) {
			queue[nq][0] = alo, queue[nq][1] = i, queue[nq][2] = blo, queue[nq][3] = j;
			nq++;
		}
		if (i + k < ahi && j + k < bhi) {
			queue[nq][0] = i + k, queue[nq][1] = ahi, queue[nq][2] = j + k, queue[nq][3] = bhi;
			nq++;
		}
	}
	*matched = total;
out:
	free(occ);
	free(queue);
	free(m.g);
	free(m.pos);
	for (int r = 0; r < 2; r++) {
		free(m.len[r]);
		free(m.stamp[r]);
	}
	return rc;
}
