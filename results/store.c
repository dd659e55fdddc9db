/* The SQLite results store: schema, runs, samples with their scores (one transaction
 * each), file hashes. See store.h. */
#include "results/store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <signal.h>
#include <time.h>
#include <errno.h>
#include <sys/stat.h>

#include "base/errors.h"
#include "base/grow.h"   // kv_grow
#include "base/sha256.h" // sha256_hex

#define STORE_BUSY_MS 60000 /* how long a connection waits for another's lock on the database */

/* The evaluation tables, each "name (columns)" (store_table_ensure adds CREATE). */
static const struct {
	const char *name, *def;
} eval_tables[] = {
	{ "runs", "runs ("
		  "  run_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, kind TEXT NOT NULL, task TEXT, method TEXT NOT NULL,"
		  "  method_json TEXT NOT NULL, model_path TEXT NOT NULL, model_sha256 TEXT NOT NULL, config_json TEXT NOT NULL,"
		  "  backend TEXT NOT NULL, threads INTEGER NOT NULL, git_commit TEXT, host_cpu TEXT, engine_version TEXT)" },
	{ "samples", "samples ("
		     "  run_id TEXT NOT NULL REFERENCES runs(run_id), sample_id TEXT NOT NULL, idx INTEGER NOT NULL,"
		     "  n_prompt INTEGER NOT NULL, prediction TEXT NOT NULL, answers_json TEXT, meta_json TEXT,"
		     "  prefill_s REAL, decode_s REAL, n_generated INTEGER, kv_bytes INTEGER, created_at TEXT NOT NULL,"
		     "  recon_s REAL, PRIMARY KEY (run_id, sample_id))" },
	{ "scores", "scores ("
		    "  run_id TEXT NOT NULL, sample_id TEXT NOT NULL, metric TEXT NOT NULL, value REAL NOT NULL,"
		    "  PRIMARY KEY (run_id, sample_id, metric))" },
	{ "sample_records", "sample_records ("
			    "  run_id TEXT NOT NULL, sample_id TEXT NOT NULL, record_json TEXT NOT NULL,"
			    "  PRIMARY KEY (run_id, sample_id))" },
	{ "claims", "claims ("
		    "  run_id TEXT NOT NULL, sample_id TEXT NOT NULL, holder TEXT NOT NULL, claimed_at REAL NOT NULL,"
		    "  PRIMARY KEY (run_id, sample_id))" },
	{ "sample_ties", "sample_ties ("
			 "  run_id TEXT NOT NULL, sample_id TEXT NOT NULL, cut TEXT NOT NULL, n_cuts INTEGER NOT NULL,"
			 "  n_inside INTEGER NOT NULL, sum_tied INTEGER NOT NULL, PRIMARY KEY (run_id, sample_id, cut))" },
	/* per-layer selection counts and the needle's span (added after sample_ties: a database
	 * made before them gains them when a run opens it, and reads them as empty before) */
	{ "sample_layers", "sample_layers ("
			   "  run_id TEXT NOT NULL, sample_id TEXT NOT NULL, kind TEXT NOT NULL, layer INTEGER NOT NULL,"
			   "  heads INTEGER NOT NULL, n_alive INTEGER NOT NULL, kept INTEGER NOT NULL, span_len INTEGER NOT NULL,"
			   "  span_kept INTEGER NOT NULL, PRIMARY KEY (run_id, sample_id, kind, layer))" },
	{ "sample_spans", "sample_spans ("
			  "  run_id TEXT NOT NULL, sample_id TEXT NOT NULL, kind TEXT NOT NULL, span_start INTEGER NOT NULL,"
			  "  span_end INTEGER NOT NULL, PRIMARY KEY (run_id, sample_id, kind))" },
	{ "file_hashes", "file_hashes ("
			 "  path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL,"
			 "  PRIMARY KEY (path, size, mtime_ns))" },
	/* a sweep (kvlab sweep): its grid and, per grid point, the run that holds it */
	{ "sweeps", "sweeps ("
		    "  sweep_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, task TEXT NOT NULL, model_path TEXT NOT NULL,"
		    "  grid_json TEXT NOT NULL, spec_json TEXT NOT NULL)" },
	{ "sweep_runs", "sweep_runs ("
			"  sweep_id TEXT NOT NULL, run_id TEXT NOT NULL, point_json TEXT NOT NULL,"
			"  PRIMARY KEY (sweep_id, run_id))" },
};
#define N_EVAL_TABLES (sizeof(eval_tables) / sizeof(eval_tables[0]))

/* Columns added to a table after it was first shipped: store_open adds each one a database
 * made before it lacks (ALTER TABLE ... ADD COLUMN), and the old rows read NULL there. A
 * read-only store cannot add them: its readers ask store_has_column first. */
static const struct {
	const char *table, *column, *def;
} eval_columns[] = {
	/* KVzip's context reconstruction, of prefill_s (issue 23); NULL: written before it was measured */
	{ "samples", "recon_s", "recon_s REAL" },
};
#define N_EVAL_COLUMNS (sizeof(eval_columns) / sizeof(eval_columns[0]))

/* Copies sqlite's message (borrowed, changes on the next call) into err at once. */
int store_err(struct store *s, const char *what, char *err, size_t errlen)
{
	return kv_errf(err, errlen, KV_EIO, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

int store_insert_begin(struct store *s, const char *sql, sqlite3_stmt **q, const char *what, char *err, size_t errlen)
{
	*q = NULL;
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return store_err(s, "starting a transaction", err, errlen);
	if (sqlite3_prepare_v2(s->db, sql, -1, q, NULL) != SQLITE_OK) {
		int rc = store_err(s, what, err, errlen);
		sqlite3_finalize(*q);
		*q = NULL;
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	return 0;
}

int store_insert_end(struct store *s, sqlite3_stmt *q, int rc, const char *what, char *err, size_t errlen)
{
	sqlite3_finalize(q);
	if (!rc && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = store_err(s, what, err, errlen);
	if (rc)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int store_read_rows(struct store *s, sqlite3_stmt *q, size_t size, void (*read)(sqlite3_stmt *q, void *row), void **rows,
		    int *n, const char *what, char *err, size_t errlen)
{
	char *v = NULL;
	size_t cap = 0;
	int k = 0, rc = 0, st;
	while ((st = sqlite3_step(q)) == SQLITE_ROW) {
		if (kv_grow((void **)&v, &cap, (size_t)k + 1, size)) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory for %d %s", k + 1, what);
			break;
		}
		memset(v + (size_t)k * size, 0, size);
		read(q, v + (size_t)k++ * size);
	}
	if (!rc && st != SQLITE_DONE) {
		char msg[128];
		snprintf(msg, sizeof(msg), "reading %s", what);
		rc = store_err(s, msg, err, errlen);
	}
	sqlite3_finalize(q);
	if (rc) {
		free(v);
		return rc;
	}
	*rows = v;
	*n = k;
	return 0;
}

int store_query(struct store *s, const char *sql, const char *p1, const char *p2, sqlite3_stmt **q,
		const char *what, char *err, size_t errlen)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, q, NULL))
		return store_err(s, what, err, errlen);
	if (p1)
		sqlite3_bind_text(*q, 1, p1, -1, SQLITE_TRANSIENT);
	if (p2)
		sqlite3_bind_text(*q, 2, p2, -1, SQLITE_TRANSIENT);
	return 0;
}

/* Runs the schema statement sql (sqlite3_mprintf'd, freed here; NULL: out of memory);
 * a failure says "--db PATH: cannot WHAT (sqlite's message)". */
static int exec_schema(struct store *s, char *sql, const char *what, char *err, size_t errlen)
{
	char *msg = NULL;
	int rc = 0;
	if (!sql)
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK)
		rc = kv_errf(err, errlen, KV_EIO, "--db %s: cannot %s (%s)", s->path, what, msg ? msg : "?");
	sqlite3_free(msg);
	sqlite3_free(sql);
	return rc;
}

/* Adds column (def: "name TYPE") to table when a database made before it lacks it. */
static int column_ensure(struct store *s, const char *table, const char *column, const char *def, char *err,
			 size_t errlen)
{
	char what[160];
	if (store_has_column(s, table, column))
		return 0;
	snprintf(what, sizeof(what), "add the column %s to the %s table", column, table);
	return exec_schema(s, sqlite3_mprintf("ALTER TABLE %s ADD COLUMN %s;", table, def), what, err, errlen);
}

int store_open(const char *path, struct store **out, char *err, size_t errlen)
{
	struct store *s = calloc(1, sizeof(*s));
	int rc;
	if (!s || !(s->path = strdup(path))) {
		free(s);
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	}
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		rc = kv_errf(err, errlen, KV_EIO, "--db %s: cannot open a SQLite database there (%s)", path,
			     s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto out_fail;
	}
	sqlite3_busy_timeout(s->db, STORE_BUSY_MS); /* concurrent writers wait their turn */
	char *msg = NULL;
	/* Switching a new file to WAL takes an exclusive lock, and SQLite returns BUSY at once
	 * (no busy handler: it could deadlock) while another process does the same: retry. */
	int st = SQLITE_BUSY;
	for (int waited = 0; waited <= STORE_BUSY_MS; waited += 50) {
		sqlite3_free(msg);
		msg = NULL;
		st = sqlite3_exec(s->db, "PRAGMA journal_mode=WAL;", NULL, NULL, &msg);
		if ((st & 0xff) != SQLITE_BUSY && (st & 0xff) != SQLITE_LOCKED)
			break;
		sqlite3_sleep(50);
	}
	if (st != SQLITE_OK) {
		rc = kv_errf(err, errlen, KV_EIO, "--db %s: cannot create the results schema (%s)", path, msg ? msg : "?");
		sqlite3_free(msg);
		goto out_fail;
	}
	/* A schema to create or extend is written in one transaction taken up front (the busy
	 * handler waits for it): processes opening one new database at once create it one
	 * after the other. A complete one needs no write lock (another may hold it long). */
	bool complete = true;
	for (size_t i = 0; complete && i < N_EVAL_TABLES; i++)
		complete = store_has_table(s, eval_tables[i].name);
	for (size_t i = 0; complete && i < N_EVAL_COLUMNS; i++)
		complete = store_has_column(s, eval_columns[i].table, eval_columns[i].column);
	if (complete) {
		*out = s;
		return 0;
	}
	if ((rc = exec_schema(s, sqlite3_mprintf("BEGIN IMMEDIATE;"), "create the results schema", err, errlen)))
		goto out_fail;
	for (size_t i = 0; !rc && i < N_EVAL_TABLES; i++)
		rc = store_table_ensure(s, eval_tables[i].name, eval_tables[i].def, err, errlen);
	for (size_t i = 0; !rc && i < N_EVAL_COLUMNS; i++)
		rc = column_ensure(s, eval_columns[i].table, eval_columns[i].column, eval_columns[i].def, err, errlen);
	if (rc) {
		sqlite3_exec(s->db, "ROLLBACK;", NULL, NULL, NULL);
		goto out_fail;
	}
	if ((rc = exec_schema(s, sqlite3_mprintf("COMMIT;"), "create the results schema", err, errlen)))
		goto out_fail;
	*out = s;
	return 0;
out_fail:
	store_close(s);
	return rc;
}

bool store_has_column(struct store *s, const char *table, const char *column)
{
	sqlite3_stmt *q = NULL;
	bool have = sqlite3_prepare_v2(s->db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", -1, &q, NULL) ==
			    SQLITE_OK &&
		    sqlite3_bind_text(q, 1, table, -1, SQLITE_TRANSIENT) == SQLITE_OK &&
		    sqlite3_bind_text(q, 2, column, -1, SQLITE_TRANSIENT) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW;
	sqlite3_finalize(q);
	return have;
}

bool store_has_table(struct store *s, const char *name)
{
	sqlite3_stmt *q = NULL;
	bool have = sqlite3_prepare_v2(s->db, "SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = ?", -1, &q,
					NULL) == SQLITE_OK &&
		    sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW;
	sqlite3_finalize(q);
	return have;
}

int store_table_ensure(struct store *s, const char *name, const char *def, char *err, size_t errlen)
{
	char what[160];
	/* read-only: an absent table reads as empty (a TEMP table lives outside the file) */
	if (s->readonly && store_has_table(s, name))
		return 0;
	snprintf(what, sizeof(what), "create the %s table", name);
	return exec_schema(s, sqlite3_mprintf("CREATE %sTABLE IF NOT EXISTS %s;", s->readonly ? "TEMP " : "", def), what, err,
			   errlen);
}

/* Opens path read-only as an immutable file (no locks, no -shm): how SQLite reads a WAL
 * database in a folder it may not write. */
static int open_immutable(const char *path, sqlite3 **db)
{
	char uri[4200] = "file:";
	size_t o = strlen(uri);
	for (const char *c = path; *c && o + 4 < sizeof(uri) - 16; c++) {
		if (*c == '%' || *c == '?' || *c == '#')
			o += (size_t)snprintf(uri + o, sizeof(uri) - o, "%%%02X", (unsigned char)*c);
		else
			uri[o++] = *c;
	}
	snprintf(uri + o, sizeof(uri) - o, "?immutable=1");
	return sqlite3_open_v2(uri, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
}

int store_open_read(const char *path, struct store **out, char *err, size_t errlen)
{
	struct store *s = calloc(1, sizeof(*s));
	sqlite3_stmt *q = NULL;
	int rc;
	if (!s || !(s->path = strdup(path))) {
		free(s);
		return kv_errf(err, errlen, KV_ENOMEM, "out of memory");
	}
	s->readonly = true;
	if (access(path, R_OK) != 0) {
		rc = kv_errf(err, errlen, KV_EIO, "--db %s: no such database (%s)", path, strerror(errno));
		goto out_fail;
	}
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		rc = kv_errf(err, errlen, KV_EIO, "--db %s: cannot open a SQLite database there (%s)", path,
			     s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto out_fail;
	}
	sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
	/* a WAL database whose folder or -shm we may not write cannot be read with locks */
	if (sqlite3_prepare_v2(s->db, "PRAGMA quick_check(5)", -1, &q, NULL) != SQLITE_OK &&
	    ((sqlite3_errcode(s->db) & 0xff) == SQLITE_READONLY || (sqlite3_errcode(s->db) & 0xff) == SQLITE_CANTOPEN)) {
		sqlite3_close(s->db);
		s->db = NULL;
		if (open_immutable(path, &s->db) != SQLITE_OK) {
			rc = kv_errf(err, errlen, KV_EIO, "--db %s: cannot open a SQLite database there (%s)", path,
				     s->db ? sqlite3_errmsg(s->db) : "out of memory");
			goto out_fail;
		}
	}
	/* corruption is an error, not "no runs": quick_check reads every page once */
	if (!q && sqlite3_prepare_v2(s->db, "PRAGMA quick_check(5)", -1, &q, NULL) != SQLITE_OK) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "--db %s: not a readable SQLite database (%s)", path, sqlite3_errmsg(s->db));
		goto out_fail;
	}
	char problems[512] = "";
	int step;
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(q, 0);
		if (line && strcmp(line, "ok") != 0) {
			size_t n = strlen(problems);
			snprintf(problems + n, sizeof(problems) - n, "%s%s", n ? "; " : "", line);
		}
	}
	if (step != SQLITE_DONE || problems[0]) {
		rc = kv_errf(err, errlen, KV_EFORMAT, "--db %s: the database is damaged (%s)", path,
			     problems[0] ? problems : sqlite3_errmsg(s->db));
		goto out_fail;
	}
	sqlite3_finalize(q);
	q = NULL;
	if (!store_has_table(s, "runs") && !store_has_table(s, "bench_latency")) {
		rc = kv_errf(err, errlen, KV_EFORMAT,
			     "--db %s: not a kvlab results database (no runs or bench_latency table); nothing was written to it",
			     path);
		goto out_fail;
	}
	for (size_t i = 0; i < N_EVAL_TABLES; i++)
		if ((rc = store_table_ensure(s, eval_tables[i].name, eval_tables[i].def, err, errlen)))
			goto out_fail;
	*out = s;
	return 0;
out_fail:
	sqlite3_finalize(q);
	store_close(s);
	return rc;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	sqlite3_close(s->db);
	free(s->path);
	free(s);
}

// ----------------------------------------------------------------------------
// hashing

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A folder (a Hugging Face model): SHA-256 of the lines "name<TAB>sha256\n" of its regular
 * files in byte order of their names, each file's hash cached as store_file_sha256 caches. */
static int folder_sha256(struct store *s, const char *path, char hex[65], char *err, size_t errlen)
{
	DIR *d = opendir(path);
	char **names = NULL, *list = NULL, fpath[4400], fhex[65];
	size_t n = 0, cap = 0, len = 0, lcap = 0;
	int rc = 0;
	struct dirent *e;
	struct stat st;
	if (!d)
		return kv_errf(err, errlen, KV_EIO, "%s: cannot list the folder for hashing (%s)", path, strerror(errno));
	while (!rc && (e = readdir(d))) {
		snprintf(fpath, sizeof(fpath), "%s/%s", path, e->d_name);
		if (e->d_name[0] == '.' || stat(fpath, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (kv_grow((void **)&names, &cap, n + 1, sizeof(*names)) || !(names[n] = strdup(e->d_name)))
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
		else
			n++;
	}
	closedir(d);
	if (!rc && n == 0)
		rc = kv_errf(err, errlen, KV_EIO, "%s: no files to hash in the folder", path);
	if (!rc)
		qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n && !rc; i++) {
		snprintf(fpath, sizeof(fpath), "%s/%s", path, names[i]);
		if ((rc = store_file_sha256(s, fpath, fhex, err, errlen)))
			break;
		size_t need = len + strlen(names[i]) + 67;
		if (kv_grow((void **)&list, &lcap, need + 1, 1)) {
			rc = kv_errf(err, errlen, KV_ENOMEM, "out of memory");
			break;
		}
		len += (size_t)sprintf(list + len, "%s\t%s\n", names[i], fhex);
	}
	if (!rc)
		sha256_hex(list, len, hex);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(list);
	return rc;
}

int store_file_sha256(struct store *s, const char *path, char hex[65], char *err, size_t errlen)
{
	struct stat st;
	sqlite3_stmt *q = NULL;
	int rc;
	if (stat(path, &st) != 0)
		return kv_errf(err, errlen, KV_EIO, "%s: cannot stat for hashing", path);
	if (S_ISDIR(st.st_mode))
		return folder_sha256(s, path, hex, err, errlen);
	long long mt = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
	if (sqlite3_prepare_v2(s->db, "SELECT sha256 FROM file_hashes WHERE path=? AND size=? AND mtime_ns=?", -1, &q, NULL))
		return store_err(s, "reading file hashes", err, errlen);
	sqlite3_bind_text(q, 1, path, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)st.st_size);
	sqlite3_bind_int64(q, 3, mt);
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_bytes(q, 0) == 64) {
		memcpy(hex, sqlite3_column_text(q, 0), 64);
		hex[64] = 0;
		sqlite3_finalize(q);
		return 0;
	}
	sqlite3_finalize(q);
	if (!sha256_file_hex(path, hex))
		return kv_errf(err, errlen, KV_EIO, "%s: cannot read for hashing", path);
	if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO file_hashes VALUES (?,?,?,?)", -1, &q, NULL))
		return store_err(s, "caching a file hash", err, errlen);
	sqlite3_bind_text(q, 1, path, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)st.st_size);
	sqlite3_bind_int64(q, 3, mt);
	sqlite3_bind_text(q, 4, hex, 64, SQLITE_TRANSIENT);
	rc = sqlite3_step(q) == SQLITE_DONE ? 0 : store_err(s, "caching a file hash", err, errlen);
	sqlite3_finalize(q);
	return rc;
}

// ----------------------------------------------------------------------------
// runs and samples

void store_run_id(const struct run_info *r, char run_id[65])
{
	sha256_hex(r->config_json, strlen(r->config_json), run_id);
}

int store_run_begin(struct store *s, const struct run_info *r, char run_id[65], char *err, size_t errlen)
{
	struct provenance p;
	sqlite3_stmt *q = NULL;
	int rc;
	provenance_get(&p);
	store_run_id(r, run_id);
	if (sqlite3_prepare_v2(s->db,
			       "INSERT OR IGNORE INTO runs (run_id, created_at, kind, task, method, method_json, model_path,"
			       " model_sha256, config_json, backend, threads, git_commit, host_cpu, engine_version)"
			       " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
			       -1, &q, NULL))
		return store_err(s, "recording the run", err, errlen);
	const char *txt[] = { run_id, p.date_utc, r->kind, r->task, r->method, r->method_json, r->model_path,
			      r->model_sha256, r->config_json, r->backend };
	for (int i = 0; i < 10; i++)
		sqlite3_bind_text(q, i + 1, txt[i], -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(q, 11, r->threads);
	sqlite3_bind_text(q, 12, p.git_commit, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 13, p.host_cpu, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 14, p.engine_version, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(q) == SQLITE_DONE ? 0 : store_err(s, "recording the run", err, errlen);
	sqlite3_finalize(q);
	return rc;
}

int store_sample_exists(struct store *s, const char *run_id, const char *sample_id, bool *exists, char *err, size_t errlen)
{
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM samples WHERE run_id=? AND sample_id=?", -1, &q, NULL))
		return store_err(s, "reading samples", err, errlen);
	sqlite3_bind_text(q, 1, run_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 2, sample_id, -1, SQLITE_TRANSIENT);
	int st = sqlite3_step(q);
	sqlite3_finalize(q);
	if (st != SQLITE_ROW && st != SQLITE_DONE)
		return store_err(s, "reading samples", err, errlen);
	*exists = st == SQLITE_ROW;
	return 0;
}

// ----------------------------------------------------------------------------
// claims: two processes running the same configuration do each sample once

#define CLAIM_STALE_S (6 * 3600.0) /* a claim from another host is trusted this long */

/* "host:pid" of this process. */
static void holder_of_me(char *buf, size_t len)
{
	char host[256] = "?";
	gethostname(host, sizeof(host) - 1);
	snprintf(buf, len, "%s:%ld", host, (long)getpid());
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Whether the process that made a claim may still be working on it: on this host, while
 * its pid lives; from another host, for CLAIM_STALE_S. */
static bool holder_alive(const char *holder, double claimed_at)
{
	char me[300], host[256];
	holder_of_me(me, sizeof(me));
	const char *colon = strrchr(holder, ':'), *mine = strrchr(me, ':');
	if (!colon || !mine)
		return false;
	snprintf(host, sizeof(host), "%.*s", (int)(mine - me), me);
	if ((size_t)(colon - holder) == strlen(host) && strncmp(holder, host, strlen(host)) == 0) {
		long pid = strtol(colon + 1, NULL, 10);
		return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
	}
	return now_s() - claimed_at < CLAIM_STALE_S;
}

int store_sample_claim(struct store *s, const char *run_id, const char *sample_id, enum store_claim *out, char *err,
		       size_t errlen)
{
	sqlite3_stmt *q = NULL;
	char me[300];
	int rc = 0, st;
	holder_of_me(me, sizeof(me));
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return store_err(s, "claiming a sample", err, errlen);
	if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM samples WHERE run_id=?1 AND sample_id=?2", -1, &q, NULL))
		goto out_sql;
	sqlite3_bind_text(q, 1, run_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 2, sample_id, -1, SQLITE_TRANSIENT);
	if ((st = sqlite3_step(q)) == SQLITE_ROW) {
		*out = STORE_CLAIM_DONE;
		goto out_commit;
	}
	if (st != SQLITE_DONE)
		goto out_sql;
	sqlite3_finalize(q);
	if (sqlite3_prepare_v2(s->db, "SELECT holder, claimed_at FROM claims WHERE run_id=?1 AND sample_id=?2", -1, &q, NULL))
		goto out_sql;
	sqlite3_bind_text(q, 1, run_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 2, sample_id, -1, SQLITE_TRANSIENT);
	if ((st = sqlite3_step(q)) == SQLITE_ROW) {
		const char *holder = (const char *)sqlite3_column_text(q, 0);
		if (holder && strcmp(holder, me) != 0 && holder_alive(holder, sqlite3_column_double(q, 1))) {
			*out = STORE_CLAIM_OTHER;
			goto out_commit;
		}
	} else if (st != SQLITE_DONE) {
		goto out_sql;
	}
	sqlite3_finalize(q);
	if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO claims (run_id, sample_id, holder, claimed_at) VALUES (?1,?2,?3,?4)",
			       -1, &q, NULL))
		goto out_sql;
	sqlite3_bind_text(q, 1, run_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 2, sample_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 3, me, -1, SQLITE_TRANSIENT);
	sqlite3_bind_double(q, 4, now_s());
	if (sqlite3_step(q) != SQLITE_DONE)
		goto out_sql;
	*out = STORE_CLAIM_MINE;
out_commit:
	sqlite3_finalize(q);
	q = NULL;
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
out_sql:
	rc = store_err(s, "claiming a sample", err, errlen);
	sqlite3_finalize(q);
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* Inserts n rows with sql inside store_sample_put's transaction: ?1 and ?2 are run_id and
 * sample_id, bind fills the rest from row i of rows; what names the rows in an error. */
static int put_rows(struct store *s, const char *sql, const char *what, const char *run_id, const char *sample_id,
		    const void *rows, int n, void (*bind)(sqlite3_stmt *q, const void *rows, int i), char *err,
		    size_t errlen)
{
	sqlite3_stmt *q = NULL;
	int rc = 0;
	if (n <= 0)
		return 0;
	if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL))
		return store_err(s, what, err, errlen);
	for (int i = 0; i < n && !rc; i++) {
		sqlite3_reset(q);
		sqlite3_bind_text(q, 1, run_id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(q, 2, sample_id, -1, SQLITE_TRANSIENT);
		bind(q, rows, i);
		if (sqlite3_step(q) != SQLITE_DONE)
			rc = store_err(s, what, err, errlen);
	}
	sqlite3_finalize(q);
	return rc;
}

static void bind_ties(sqlite3_stmt *q, const void *rows, int i)
{
	const struct store_ties *t = (const struct store_ties *)rows + i;
	sqlite3_bind_text(q, 3, t->cut, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(q, 4, t->n_cuts);
	sqlite3_bind_int(q, 5, t->n_inside);
	sqlite3_bind_int64(q, 6, t->sum_tied);
}

static void bind_layer(sqlite3_stmt *q, const void *rows, int i)
{
	const struct store_layer *l = (const struct store_layer *)rows + i;
	sqlite3_bind_text(q, 3, l->kind, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(q, 4, l->layer);
	sqlite3_bind_int(q, 5, l->heads);
	sqlite3_bind_int(q, 6, l->n_alive);
	sqlite3_bind_int64(q, 7, l->kept);
	sqlite3_bind_int(q, 8, l->span_len);
	sqlite3_bind_int64(q, 9, l->span_kept);
}

static void bind_span(sqlite3_stmt *q, const void *rows, int i)
{
	const struct store_span *sp = (const struct store_span *)rows + i;
	sqlite3_bind_text(q, 3, sp->kind, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(q, 4, sp->start);
	sqlite3_bind_int(q, 5, sp->end);
}

/* The sample's tie rows (inside store_sample_put's transaction). */
static int put_ties(struct store *s, const char *run_id, const struct sample_row *row, char *err, size_t errlen)
{
	return put_rows(s, "INSERT INTO sample_ties (run_id, sample_id, cut, n_cuts, n_inside, sum_tied) VALUES (?,?,?,?,?,?)",
			"writing tie counts", run_id, row->sample_id, row->ties, row->n_ties, bind_ties, err, errlen);
}

/* The sample's layer counts and span (inside store_sample_put's transaction, for a sample
 * inserted now: rows left by a sample deleted by hand are stale and replaced). */
static int put_layers(struct store *s, const char *run_id, const struct sample_row *row, char *err, size_t errlen)
{
	int rc = put_rows(s,
			  "INSERT OR REPLACE INTO sample_layers (run_id, sample_id, kind, layer, heads, n_alive, kept, span_len,"
			  " span_kept) VALUES (?,?,?,?,?,?,?,?,?)",
			  "writing layer counts", run_id, row->sample_id, row->layers, row->n_layers, bind_layer, err, errlen);
	if (rc)
		return rc;
	return put_rows(s, "INSERT OR REPLACE INTO sample_spans (run_id, sample_id, kind, span_start, span_end) VALUES (?,?,?,?,?)",
			"writing the needle span", run_id, row->sample_id, row->span, row->span ? 1 : 0, bind_span, err, errlen);
}

int store_sample_put(struct store *s, const char *run_id, const struct sample_row *row, bool *inserted,
		     char *err, size_t errlen)
{
	struct provenance p;
	sqlite3_stmt *q = NULL;
	int rc;
	provenance_get(&p);
	/* IMMEDIATE takes the write lock up front, so two writers never deadlock mid-transaction */
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return store_err(s, "starting a sample transaction", err, errlen);
	if (sqlite3_prepare_v2(s->db,
			       "INSERT OR IGNORE INTO samples (run_id, sample_id, idx, n_prompt, prediction, answers_json,"
			       " meta_json, prefill_s, decode_s, n_generated, kv_bytes, created_at, recon_s)"
			       " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
			       -1, &q, NULL)) {
		rc = store_err(s, "writing a sample", err, errlen);
		goto out_rollback;
	}
	sqlite3_bind_text(q, 1, run_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 2, row->sample_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(q, 3, row->idx);
	sqlite3_bind_int(q, 4, row->n_prompt);
	sqlite3_bind_text(q, 5, row->prediction, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 6, row->answers_json, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 7, row->meta_json, -1, SQLITE_TRANSIENT);
	sqlite3_bind_double(q, 8, row->prefill_s);
	sqlite3_bind_double(q, 9, row->decode_s);
	sqlite3_bind_int(q, 10, row->n_generated);
	sqlite3_bind_int64(q, 11, row->kv_bytes);
	sqlite3_bind_text(q, 12, p.date_utc, -1, SQLITE_TRANSIENT);
	sqlite3_bind_double(q, 13, row->recon_s);
	if (sqlite3_step(q) != SQLITE_DONE) {
		rc = store_err(s, "writing a sample", err, errlen);
		goto out_rollback;
	}
	bool fresh = sqlite3_changes(s->db) > 0;
	sqlite3_finalize(q);
	q = NULL;
	if (fresh) {
		if (sqlite3_prepare_v2(s->db, "INSERT INTO scores (run_id, sample_id, metric, value) VALUES (?,?,?,?)", -1, &q,
				       NULL)) {
			rc = store_err(s, "writing scores", err, errlen);
			goto out_rollback;
		}
		for (int i = 0; i < row->n_scores; i++) {
			sqlite3_reset(q);
			sqlite3_bind_text(q, 1, run_id, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(q, 2, row->sample_id, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(q, 3, row->score_names[i], -1, SQLITE_TRANSIENT);
			sqlite3_bind_double(q, 4, row->score_values[i]);
			if (sqlite3_step(q) != SQLITE_DONE) {
				rc = store_err(s, "writing scores", err, errlen);
				goto out_rollback;
			}
		}
		sqlite3_finalize(q);
		q = NULL;
	}
	if (fresh && row->record_json) {
		if (sqlite3_prepare_v2(s->db, "INSERT INTO sample_records (run_id, sample_id, record_json) VALUES (?,?,?)", -1, &q,
				       NULL)) {
			rc = store_err(s, "writing a sample record", err, errlen);
			goto out_rollback;
		}
		sqlite3_bind_text(q, 1, run_id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(q, 2, row->sample_id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(q, 3, row->record_json, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(q) != SQLITE_DONE) {
			rc = store_err(s, "writing a sample record", err, errlen);
			goto out_rollback;
		}
		sqlite3_finalize(q);
		q = NULL;
	}
	if (fresh && ((rc = put_ties(s, run_id, row, err, errlen)) || (rc = put_layers(s, run_id, row, err, errlen))))
		goto out_rollback;
	/* the sample is done: its claim goes with the same transaction */
	if (sqlite3_prepare_v2(s->db, "DELETE FROM claims WHERE run_id=?1 AND sample_id=?2", -1, &q, NULL)) {
		rc = store_err(s, "releasing a claim", err, errlen);
		goto out_rollback;
	}
	sqlite3_bind_text(q, 1, run_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 2, row->sample_id, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(q) != SQLITE_DONE) {
		rc = store_err(s, "releasing a claim", err, errlen);
		goto out_rollback;
	}
	sqlite3_finalize(q);
	q = NULL;
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rc = store_err(s, "committing a sample", err, errlen);
		goto out_rollback;
	}
	if (inserted)
		*inserted = fresh;
	return 0;
out_rollback:
	sqlite3_finalize(q);
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

// ----------------------------------------------------------------------------
// sweeps

int store_sweep_record(struct store *s, const struct sweep_info *sw, int n, const char *const *run_ids,
		       const char *const *point_jsons, char *err, size_t errlen)
{
	struct provenance p;
	sqlite3_stmt *q = NULL;
	int rc = 0;
	provenance_get(&p);
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return store_err(s, "recording the sweep", err, errlen);
	if (sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO sweeps VALUES (?,?,?,?,?,?)", -1, &q, NULL)) {
		rc = store_err(s, "recording the sweep", err, errlen);
		goto out_rollback;
	}
	const char *txt[] = { sw->sweep_id, p.date_utc, sw->task, sw->model_path, sw->grid_json, sw->spec_json };
	for (int i = 0; i < 6; i++)
		sqlite3_bind_text(q, i + 1, txt[i], -1, SQLITE_TRANSIENT);
	if (sqlite3_step(q) != SQLITE_DONE) {
		rc = store_err(s, "recording the sweep", err, errlen);
		goto out_rollback;
	}
	sqlite3_finalize(q);
	q = NULL;
	if (sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO sweep_runs VALUES (?,?,?)", -1, &q, NULL)) {
		rc = store_err(s, "recording the sweep's runs", err, errlen);
		goto out_rollback;
	}
	for (int i = 0; i < n; i++) {
		sqlite3_reset(q);
		sqlite3_bind_text(q, 1, sw->sweep_id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(q, 2, run_ids[i], -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(q, 3, point_jsons[i], -1, SQLITE_TRANSIENT);
		if (sqlite3_step(q) != SQLITE_DONE) {
			rc = store_err(s, "recording the sweep's runs", err, errlen);
			goto out_rollback;
		}
	}
	sqlite3_finalize(q);
	q = NULL;
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rc = store_err(s, "recording the sweep", err, errlen);
		goto out_rollback;
	}
	return 0;
out_rollback:
	sqlite3_finalize(q);
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}
