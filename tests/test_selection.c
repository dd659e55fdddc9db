/* Selection introspection on SmolLM2: the needle's token span found in the templated
 * prompt (plain and chat) decodes to text holding the needle and is the shortest such
 * window; kvlab run stores per-layer counts (fullkv keeps every needle row of every layer,
 * SnapKV keeps its budget per head) and the span, and --dump_selection writes the same span
 * in each block's prompt row. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/needle.h"  // needle_task, needle_span, NEEDLE_EXPECTED
#include "engine/model.h"
#include "engine/tokenizer.h" // tok_decode
#include "eval/prompt.h"      // prompt_set_build
#include "eval/runner.h"
#include "methods/registry.h" // kv_method_find
#include "tests/test.h"

#define ESSAYS "../shared/data/paul_graham_essays"
#define SENTENCE "The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day."

/* Whether ids[a..b) decodes to text holding the needle sentence. */
static bool holds(const struct model *m, const int32_t *ids, int a, int b)
{
	char *text = NULL, err[256];
	size_t n = 0;
	if (b <= a || tok_decode(m->tok, ids + a, b - a, false, &text, &n, err, sizeof(err)))
		return false;
	bool h = strstr(text, SENTENCE) != NULL;
	free(text);
	return h;
}

static void needle_span_should_be_the_shortest_window_holding_the_needle(void)
{
	struct model *m = NULL;
	char err[512];
	if (model_load(T_MODEL, &m, err, sizeof(err)) || access(ESSAYS, R_OK) != 0) {
		T_SKIP("%s or %s missing (make model)", T_MODEL, ESSAYS);
		model_free(m);
		return;
	}
	const struct kv_method *full = kv_method_find("fullkv");
	int n_checked = 0;
	for (int chat = 0; chat < 2; chat++) {
		struct task_args ta = { .task = "needle", .data = ESSAYS, .context_lengths = "300,600", .depths = "0,50,100",
					.chat = chat };
		void *st = NULL;
		if (needle_task.open(&ta, m, &st, err, sizeof(err))) {
			T_CHECK(0, "open: %s", err);
			break;
		}
		struct task_protocol proto;
		needle_task.protocol(st, &proto);
		for (int i = 0; i < needle_task.count(st); i++) {
			struct task_sample smp = { 0 };
			struct prompt_set ps = { 0 };
			bool found = false;
			int a = -1, b = -1;
			int rc = needle_task.sample(st, i, &smp, err, sizeof(err));
			if (!rc)
				rc = prompt_set_build(&ps, m, &smp, &proto, &full, NULL, 1, err, sizeof(err));
			if (!rc)
				rc = needle_span(m->tok, ps.p[0].ids, ps.p[0].n_ids, &found, &a, &b, err, sizeof(err));
			T_CHECK(rc == 0 && found, "sample %d (chat %d): rc %d found %d: %s", i, chat, rc, found, err);
			if (!rc && found) {
				const int32_t *ids = ps.p[0].ids;
				T_CHECK(0 <= a && a < b && b <= ps.p[0].n_ids && holds(m, ids, a, b),
					"%s chat %d: ids[%d:%d] of %d must decode to text holding the needle", smp.id, chat, a, b,
					ps.p[0].n_ids);
				T_CHECK(!holds(m, ids, a + 1, b) && !holds(m, ids, a, b - 1),
					"%s chat %d: [%d, %d) is not the shortest window", smp.id, chat, a, b);
				n_checked++;
			}
			prompt_set_free(&ps);
			task_sample_free(&smp);
		}
		needle_task.close(st);
	}
	T_CHECK(n_checked == 12, "checked %d prompts (want 2 lengths x 3 depths x plain/chat)", n_checked);
	/* a prompt without the needle: not found, and says so */
	int32_t *ids = NULL;
	int n = 0;
	bool found = true;
	int a = 7, b = 7;
	const char *text = "The best thing to do in San Francisco is: nothing at all.";
	if (tok_encode(m->tok, text, strlen(text), false, &ids, &n, err, sizeof(err)) == 0) {
		T_CHECK(needle_span(m->tok, ids, n, &found, &a, &b, err, sizeof(err)) == 0 && !found && a == 0 && b == 0,
			"no needle: found %d [%d, %d)", found, a, b);
		free(ids);
	}
	model_free(m);
}

/* Runs sql on db and returns its first row's integer (or -1). */
static long long one_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *q = NULL;
	long long v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

static void run_should_store_layer_counts_and_the_needle_span(void)
{
	if (access(T_MODEL, R_OK) != 0 || access(ESSAYS, R_OK) != 0) {
		T_SKIP("%s or %s missing (make model)", T_MODEL, ESSAYS);
		return;
	}
	(void)system("mkdir -p tests/out && rm -f tests/out/selection.db* tests/out/selection.jsonl");
	struct task_args ta = { .task = "needle", .data = ESSAYS, .context_lengths = "400", .depths = "50" };
	struct runner_opts o = { .model_path = T_MODEL, .db_path = "tests/out/selection.db", .task = &ta,
				 .methods = "fullkv,snapkv:max_capacity_prompts=64", .threads = 2,
				 .dump_selection = "tests/out/selection.jsonl" };
	struct runner_result r;
	char err[512];
	int rc = runner_run(&o, &r, err, sizeof(err));
	T_CHECK(rc == 0 && r.n_done_now == 2, "run: rc %d stored %d: %s", rc, r.n_done_now, err);
	sqlite3 *db = NULL;
	if (rc || sqlite3_open_v2("tests/out/selection.db", &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return;
	}
	long long start = one_int(db, "SELECT MIN(span_start) FROM sample_spans"),
		  end = one_int(db, "SELECT MIN(span_end) FROM sample_spans");
	T_CHECK(one_int(db, "SELECT COUNT(*) FROM sample_spans WHERE kind = 'needle'") == 2 &&
			one_int(db, "SELECT COUNT(DISTINCT span_start || ',' || span_end) FROM sample_spans") == 1 && start > 0 &&
			end > start,
		"one needle span per run, the same for both: [%lld, %lld)", start, end);
	/* fullkv: every layer keeps every row of every head, so the needle's recall is 1 */
	T_CHECK(one_int(db, "SELECT COUNT(*) FROM sample_layers l JOIN runs r USING (run_id) WHERE r.method = 'fullkv'"
			    " AND l.kind = 'kv' AND l.kept = l.heads * l.n_alive AND l.span_kept = l.span_len * l.heads"
			    " AND l.span_len > 0") == 30,
		"fullkv: 30 layers keeping all rows and all needle rows");
	/* snapkv (constant budget 64, per query head): 64 rows per head on every layer */
	T_CHECK(one_int(db, "SELECT COUNT(*) FROM sample_layers l JOIN runs r USING (run_id) WHERE r.method = 'snapkv'"
			    " AND l.kind = 'kv' AND l.kept = l.heads * 64 AND l.heads = 9 AND l.span_kept <= l.span_len * l.heads") == 30,
		"snapkv: 30 layers of 9 heads x 64 rows");
	T_CHECK(one_int(db, "SELECT SUM(span_len) FROM sample_layers") == 60 * (end - start),
		"span_len is the span's length on every row");
	long long n_prompt = one_int(db, "SELECT MIN(n_prompt) FROM samples");
	T_CHECK(one_int(db, "SELECT COUNT(*) FROM sample_layers WHERE n_alive = (SELECT MIN(n_prompt) FROM samples)") == 60,
		"every layer's n_alive is the prompt's %lld tokens", n_prompt);
	sqlite3_close(db);
	/* the dump: one prompt row per method, each with the stored span */
	FILE *f = fopen("tests/out/selection.jsonl", "r");
	char line[1 << 16], want[64];
	int n_prompt_rows = 0, n_span = 0, n_kv = 0;
	snprintf(want, sizeof(want), "\"needle\":[%lld,%lld]", start, end);
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "{\"kind\":\"prompt\"", 16)) {
			n_prompt_rows++;
			n_span += strstr(line, want) != NULL && strstr(line, "\"sample\":\"len_400_depth_50\"") != NULL;
		}
		n_kv += !strncmp(line, "{\"kind\":\"kv\"", 12);
	}
	if (f)
		fclose(f);
	T_CHECK(n_prompt_rows == 2 && n_span == 2 && n_kv == 30 * 3 + 30 * 9,
		"dump: %d prompt rows (%d with %s), %d kv rows (want 2, 2, 360)", n_prompt_rows, n_span, want, n_kv);
}

int main(void)
{
	T_RUN(needle_span_should_be_the_shortest_window_holding_the_needle);
	T_RUN(run_should_store_layer_counts_and_the_needle_span);
	return t_done();
}
