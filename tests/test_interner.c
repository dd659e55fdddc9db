/* base/interner.c and base/grow.c: dense ids in first-seen order through many table
 * growths, lookups of absent keys, the empty key and keys with NUL bytes; kv_grow's
 * capacity rule and that it keeps the contents. */
#include <stdint.h>
#include <stdio.h>

#include "base/grow.h"
#include "base/interner.h"
#include "tests/test.h"

static void ids_should_be_dense_in_first_seen_order_across_growth(void)
{
	struct interner *t = interner_new();
	T_CHECK(t != NULL, "interner_new");
	if (!t)
		return;
	char k[32];
	for (int i = 0; i < 20000; i++) {
		snprintf(k, sizeof(k), "key-%d", i);
		int id = interner_id(t, k, strlen(k));
		T_CHECK(id == i, "key %d got id %d", i, id);
		if (id != i)
			break;
	}
	T_CHECK(interner_count(t) == 20000, "count %d", interner_count(t));
	int bad = 0;
	for (int i = 0; i < 20000; i++) {
		snprintf(k, sizeof(k), "key-%d", i);
		bad += interner_find(t, k, strlen(k)) != i || interner_id(t, k, strlen(k)) != i;
	}
	T_CHECK(bad == 0, "%d keys not found again under their id", bad);
	T_CHECK(interner_find(t, "key-20000", 9) == -1, "absent key found");
	T_CHECK(interner_find(t, "key-1", 4) == -1, "a prefix of a key is not the key");
	T_CHECK(interner_count(t) == 20000, "lookups added keys: count %d", interner_count(t));
	interner_free(t);
}

static void empty_keys_and_nul_bytes_should_be_keys_like_any_other(void)
{
	struct interner *t = interner_new();
	T_CHECK(t != NULL, "interner_new");
	if (!t)
		return;
	const uint32_t a[2] = { 'a', 0 }, b[2] = { 'a', 1 };
	T_CHECK(interner_find(t, "", 0) == -1, "empty key before insertion");
	T_CHECK(interner_id(t, "", 0) == 0, "empty key id");
	T_CHECK(interner_id(t, a, sizeof(a)) == 1 && interner_id(t, b, sizeof(b)) == 2, "keys differing after a NUL byte");
	T_CHECK(interner_id(t, a, sizeof(a[0])) == 3, "a key's prefix is its own key");
	T_CHECK(interner_find(t, "", 0) == 0 && interner_find(t, a, sizeof(a)) == 1, "found again");
	T_CHECK(kv_hash_bytes("abc", 3) == kv_hash_bytes("abcd", 3) && kv_hash_bytes("abc", 3) != kv_hash_bytes("abd", 3),
		"hash reads exactly n bytes");
	interner_free(t);
}

static void grow_should_double_from_16_and_keep_contents(void)
{
	int *v = NULL;
	size_t cap = 0;
	T_CHECK(kv_grow((void **)&v, &cap, 0, sizeof(*v)) == 0 && v == NULL && cap == 0, "need 0 allocates nothing");
	T_CHECK(kv_grow((void **)&v, &cap, 1, sizeof(*v)) == 0 && v && cap == 16, "first growth to 16, cap %zu", cap);
	for (int i = 0; i < 16 && v; i++)
		v[i] = i * 7;
	T_CHECK(kv_grow((void **)&v, &cap, 16, sizeof(*v)) == 0 && cap == 16, "enough room: unchanged");
	T_CHECK(kv_grow((void **)&v, &cap, 100, sizeof(*v)) == 0 && cap == 128, "doubles up to the need: cap %zu", cap);
	int bad = 0;
	for (int i = 0; i < 16 && v; i++)
		bad += v[i] != i * 7;
	T_CHECK(bad == 0, "%d elements changed by the growth", bad);
	free(v);
}

int main(void)
{
	T_RUN(ids_should_be_dense_in_first_seen_order_across_growth);
	T_RUN(empty_keys_and_nul_bytes_should_be_keys_like_any_other);
	T_RUN(grow_should_double_from_16_and_keep_contents);
	return t_done();
}
