/* Non-default parameters of a run: method_json against the method's default JSON, leaf
 * by leaf, with SQLite's json_tree. See run_label.h. */
#include "results/run_label.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"    // kv_errf
#include "base/pyjson.h"    // py_json_str
#include "results/store.h"  // struct store, store_err

/* Leaves of ?1 (but "method" keys) that ?2 lacks or holds with another value or type. */
static const char *const diff_sql =
	"SELECT r.key, r.type, r.atom FROM json_tree(?1) r"
	" WHERE r.atom IS NOT NULL AND r.key IS NOT 'method' AND NOT EXISTS ("
	"  SELECT 1 FROM json_tree(?2) d WHERE d.fullkey = r.fullkey AND d.type = r.type AND d.atom = r.atom)"
	" ORDER BY r.id";

/* True when the space-separated words of buf hold pair whole. */
static bool has_pair(const char *buf, const char *pair)
{
	size_t n = strlen(pair);
	for (const char *p = strstr(buf, pair); p; p = strstr(p + 1, pair))
		if ((p == buf || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

/* Runs diff_sql and writes each pair with `json` deciding the form. */
static int label(struct store *s, const struct run_defaults *d, const char *method, const char *mj, bool json,
		 char *buf, size_t len, char *err, size_t errlen)
{
	char def[4096] = "{}";
	sqlite3_stmt *q = NULL;
	size_t o = 0;
	if (len == 0)
		return 0;
	buf[0] = 0;
	if (d && d->json && method && d->json(d->ctx, method, def, sizeof(def)) != 0)
		snprintf(def, sizeof(def), "{}");
	if (!mj || !mj[0] || mj[0] != '{')
		mj = "{}";
	if (sqlite3_prepare_v2(s->db, diff_sql, -1, &q, NULL) != SQLITE_OK)
		return store_err(s, "comparing method parameters", err, errlen);
	sqlite3_bind_text(q, 1, mj, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 2, def, -1, SQLITE_TRANSIENT);
	if (json)
		o += (size_t)snprintf(buf + o, len - o, "{");
	int n = 0, step;
	while ((step = sqlite3_step(q)) == SQLITE_ROW && o < len) {
		const char *key = (const char *)sqlite3_column_text(q, 0), *type = (const char *)sqlite3_column_text(q, 1);
		const char *atom = (const char *)sqlite3_column_text(q, 2);
		char val[256];
		if (!strcmp(type, "real"))
			snprintf(val, sizeof(val), "%g", sqlite3_column_double(q, 2));
		else if (!strcmp(type, "true") || !strcmp(type, "false"))
			snprintf(val, sizeof(val), "%s", type);
		else
			snprintf(val, sizeof(val), "%s", atom ? atom : "null");
		if (!json) {
			char pair[512];
			snprintf(pair, sizeof(pair), "%s=%s", key ? key : "?", val);
			if (has_pair(buf, pair) || o + strlen(pair) + (n ? 1 : 0) >= len) /* said once; whole pairs only */
				continue;
			o += (size_t)snprintf(buf + o, len - o, "%s%s", n ? " " : "", pair);
		} else {
			char *k = NULL, *v = NULL;
			size_t kl = 0, kc = 0, vl = 0, vc = 0;
			bool text = !strcmp(type, "text");
			if (py_json_str(&k, &kl, &kc, key ? key : "?", strlen(key ? key : "?")) ||
			    (text && py_json_str(&v, &vl, &vc, val, strlen(val)))) {
				free(k);
				free(v);
				sqlite3_finalize(q);
				return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
			}
			o += (size_t)snprintf(buf + o, len - o, "%s%.*s: %s", n ? ", " : "", (int)kl, k, text ? v : val);
			free(k);
			free(v);
		}
		n++;
	}
	sqlite3_finalize(q);
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		return store_err(s, "comparing method parameters", err, errlen);
	if (json && o < len)
		snprintf(buf + o, len - o, "}");
	return 0;
}

int run_label_params(struct store *s, const struct run_defaults *d, const char *method, const char *method_json,
		     char *buf, size_t len, char *err, size_t errlen)
{
	return label(s, d, method, method_json, false, buf, len, err, errlen);
}

int run_label_params_json(struct store *s, const struct run_defaults *d, const char *method, const char *method_json,
			  char *buf, size_t len, char *err, size_t errlen)
{
	return label(s, d, method, method_json, true, buf, len, err, errlen);
}
