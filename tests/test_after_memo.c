/* engine/after_memo.c, the store a shared prefill's members leave results in: a find
 * needs the same key and the same size, a put copies the bytes and replaces an entry of
 * its key, the producer's seconds come back with the entry, and only finds that return
 * an entry count as hits. */
#include <stdio.h>
#include <string.h>

#include "engine/after_memo.h"
#include "tests/test.h"

static void finds_should_need_the_same_key_and_size(void)
{
	struct kv_after_memo *m = kv_after_memo_new();
	T_CHECK(m != NULL, "kv_after_memo_new");
	if (!m)
		return;
	const float a[3] = { 1, 2, 3 };
	double secs = -1;
	T_CHECK(kv_after_memo_find(m, "k", sizeof(a), &secs) == NULL, "an empty memo found an entry");
	T_CHECK(kv_after_memo_put(m, "k", a, sizeof(a), 2.5) == 0, "put");
	T_CHECK(kv_after_memo_find(m, "k", sizeof(a) - 1, &secs) == NULL, "found with another size");
	T_CHECK(kv_after_memo_find(m, "K", sizeof(a), &secs) == NULL, "keys are case-sensitive");
	T_CHECK(kv_after_memo_find(m, "k2", sizeof(a), &secs) == NULL, "a longer key found the entry");
	T_CHECK(secs == -1, "a miss wrote the seconds (%g)", secs);
	T_CHECK(kv_after_memo_hits(m) == 0, "%d hits after misses only", kv_after_memo_hits(m));
	const float *got = kv_after_memo_find(m, "k", sizeof(a), &secs);
	T_CHECK(got && !memcmp(got, a, sizeof(a)), "the entry's bytes");
	T_CHECK(got != a, "the memo should hold a copy, not the caller's buffer");
	T_CHECK(secs == 2.5, "the producer's seconds: %g", secs);
	T_CHECK(kv_after_memo_find(m, "k", sizeof(a), NULL) == got, "a find without seconds");
	T_CHECK(kv_after_memo_hits(m) == 2, "%d hits, expected 2", kv_after_memo_hits(m));
	kv_after_memo_free(m);
}

static void a_put_should_replace_the_entry_of_its_key_and_keep_the_others(void)
{
	struct kv_after_memo *m = kv_after_memo_new();
	T_CHECK(m != NULL, "kv_after_memo_new");
	if (!m)
		return;
	char key[32];
	int bad = 0;
	for (int i = 0; i < 40; i++) { /* past several growths of the entry list */
		snprintf(key, sizeof(key), "key-%d", i);
		bad += kv_after_memo_put(m, key, &i, sizeof(i), i) != 0;
	}
	T_CHECK(bad == 0, "%d puts failed", bad);
	const double big[4] = { 7, 8, 9, 10 };
	T_CHECK(kv_after_memo_put(m, "key-7", big, sizeof(big), 99) == 0, "replacing put");
	double secs = 0;
	T_CHECK(kv_after_memo_find(m, "key-7", sizeof(int), &secs) == NULL, "the replaced entry's old size still found");
	const double *got = kv_after_memo_find(m, "key-7", sizeof(big), &secs);
	T_CHECK(got && !memcmp(got, big, sizeof(big)) && secs == 99, "the replacement's bytes and seconds");
	for (int i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		const int *v = kv_after_memo_find(m, key, sizeof(int), &secs);
		bad += i != 7 && (!v || *v != i || secs != i);
	}
	T_CHECK(bad == 0, "%d other entries changed", bad);
	T_CHECK(kv_after_memo_put(m, "empty", NULL, 0, 0) == 0, "an empty entry");
	T_CHECK(kv_after_memo_find(m, "empty", 0, NULL) != NULL, "an empty entry is found with size 0");
	kv_after_memo_free(m);
	kv_after_memo_free(NULL);
}

int main(void)
{
	T_RUN(finds_should_need_the_same_key_and_size);
	T_RUN(a_put_should_replace_the_entry_of_its_key_and_keep_the_others);
	return t_done();
}
