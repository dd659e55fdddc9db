/* The results store: one SQLite file (WAL) holding runs, their samples and scores,
 * and benchmark measurements. A run is identified by the SHA-256 of its full resolved
 * configuration; each sample is written in one transaction, so a killed run resumes by
 * skipping what is stored and no sample is ever half-written or doubled. */
#ifndef KVLAB_RESULTS_STORE_H
#define KVLAB_RESULTS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sqlite3;

struct store {
	struct sqlite3 *db;
	char *path;
	bool readonly;  /* opened by store_open_read: nothing is ever written to the file */
};

/* Opens (creating if needed) the database at path and its schema; caller closes with
 * store_close. Errors name the path. For writing commands (run, bench). */
int store_open(const char *path, struct store **out, char *err, size_t errlen);
/* For reading commands (report, plot, export): opens an existing database read-only (a
 * read-only file or folder is fine), refuses a damaged database (quick_check) and a SQLite
 * file that is not kvlab's, and never writes to the file: tables it lacks read as empty.
 * Caller closes with store_close. */
int store_open_read(const char *path, struct store **out, char *err, size_t errlen);
/* True when the database file itself holds table name. */
bool store_has_table(struct store *s, const char *name);
/* True when table (in the file, or a TEMP stand-in) has column: a database made before the
 * column was added and opened read-only lacks it (store_open adds it). */
bool store_has_column(struct store *s, const char *table, const char *column);
/* Creates table def ("name (columns)") if missing; on a read-only store a missing table
 * becomes an empty TEMP table, so readers see no rows and the file stays untouched. */
int store_table_ensure(struct store *s, const char *name, const char *def, char *err, size_t errlen);
void store_close(struct store *s);

/* KV_EIO with "PATH: WHAT: sqlite's last message" (what: e.g. "reading runs"). */
int store_err(struct store *s, const char *what, char *err, size_t errlen);

/* Prepares the read-only query sql into *q (caller finalizes) and binds its ?1 and ?2 to
 * p1 and p2 where they are not NULL (so "?1 IS NULL OR ..." filters are off when NULL).
 * Errors: "PATH: WHAT: sqlite message" (what: "reading runs"). */
struct sqlite3_stmt;
int store_query(struct store *s, const char *sql, const char *p1, const char *p2, struct sqlite3_stmt **q,
		const char *what, char *err, size_t errlen);

/* Starts a write: BEGIN IMMEDIATE, then prepares sql into *q (what names it in the error:
 * "preparing a benchmark row"). On an error nothing is left open. Caller ends it with
 * store_insert_end. */
int store_insert_begin(struct store *s, const char *sql, struct sqlite3_stmt **q, const char *what, char *err,
		       size_t errlen);
/* Ends a write begun by store_insert_begin: finalizes q, then commits when rc is 0 (what
 * names a failed commit: "committing benchmark rows") or rolls back. Returns rc or the
 * commit's error. */
int store_insert_end(struct store *s, struct sqlite3_stmt *q, int rc, const char *what, char *err, size_t errlen);
/* Steps the prepared query q to its end, reading each result row with read into a grown
 * array of size-byte rows (zeroed before read); finalizes q. On success *rows (caller
 * frees) holds *n rows; errors name what ("benchmark rows") and leave nothing. */
int store_read_rows(struct store *s, struct sqlite3_stmt *q, size_t size, void (*read)(struct sqlite3_stmt *q, void *row),
		    void **rows, int *n, const char *what, char *err, size_t errlen);

/* Provenance recorded with every run and benchmark row. */
struct provenance {
	char git_commit[48];
	char host_cpu[128];
	char date_utc[32];      /* "2026-11-22 21:00:00" */
	char engine_version[32];
};
/* Fills p from the build (git commit baked in at compile time), /proc/cpuinfo and the clock. */
void provenance_get(struct provenance *p);

/* SHA-256 of a file as 64 hex chars + NUL; cached in the database by (path, size, mtime).
 * A folder (a Hugging Face model) hashes the list of its files' names and hashes. */
int store_file_sha256(struct store *s, const char *path, char hex[65], char *err, size_t errlen);

/* A run: config_json is the full resolved configuration (the run id is its hash). */
struct run_info {
	const char *kind;        /* "eval" */
	const char *task;
	const char *method;
	const char *method_json; /* resolved method parameters */
	const char *model_path;
	const char *model_sha256;
	const char *config_json; /* everything that defines the run */
	const char *backend;
	int threads;
};
/* Writes the id of run r (64 hex + NUL: the SHA-256 of its configuration) into run_id. */
void store_run_id(const struct run_info *r, char run_id[65]);
/* Inserts the run if new; writes its id (store_run_id) into run_id. */
int store_run_begin(struct store *s, const struct run_info *r, char run_id[65], char *err, size_t errlen);

/* True when the run already holds sample_id. */
int store_sample_exists(struct store *s, const char *run_id, const char *sample_id, bool *exists, char *err, size_t errlen);

/* One kind of top-k cut in a sample's prefill (table sample_ties): how many cuts were made,
 * how many fell inside a tie group (the tie rule chose), and the sum of the tied counts. */
struct store_ties {
	const char *cut;   /* "kv", "propagated", "restart" */
	int n_cuts, n_inside;
	long long sum_tied;
};

/* One layer's selection counts in a sample's prefill (table sample_layers): the rows kept,
 * summed over the cache heads, and how many of the needle's tokens were among them. */
struct store_layer {
	const char *kind;    /* "kv" (the layer's cache), "propagated" (TSP, PyramidInfer), "restart" (GemFilter) */
	int layer;
	int heads;           /* cache heads the rows are summed over (1 for propagated and restart) */
	int n_alive;         /* tokens that entered the layer */
	long long kept;      /* rows kept, summed over heads */
	int span_len;        /* needle tokens in the prompt (0: no needle) */
	long long span_kept; /* needle rows kept, summed over heads: recall = span_kept / (span_len * heads) */
};

/* A token span of a sample's prompt (table sample_spans): [start, end) in prompt positions. */
struct store_span {
	const char *kind;    /* "needle" */
	int start, end;
};

struct sample_row {
	const char *sample_id;
	int idx;
	int n_prompt;
	const char *prediction;
	const char *answers_json;
	const char *meta_json;
	const char *record_json;        /* optional: the source record exports need (table sample_records) */
	double prefill_s, decode_s;     /* prefill_s: time to the first token, recon_s included */
	double recon_s;                 /* of prefill_s: the method's second forward (KVzip's reconstruction); 0 = none */
	int n_generated;
	long long kv_bytes;
	const char *const *score_names; /* (n_scores,) */
	const double *score_values;
	int n_scores;
	const struct store_ties *ties;  /* (n_ties,) optional: the kinds of cut the prefill made (table sample_ties) */
	int n_ties;
	const struct store_layer *layers; /* (n_layers,) optional: per-layer selection counts (table sample_layers) */
	int n_layers;
	const struct store_span *span;  /* optional: the needle's span in the prompt (table sample_spans) */
};
/* What store_sample_claim found. */
enum store_claim {
	STORE_CLAIM_MINE,  /* not stored and not taken: this process now holds it */
	STORE_CLAIM_DONE,  /* already stored */
	STORE_CLAIM_OTHER  /* another live process running the same run holds it */
};
/* In one transaction: whether (run, sample) is stored, held by another live process (same
 * host: its pid lives; another host: claimed less than 6 hours ago), or now claimed by this
 * one. store_sample_put releases the claim; a claim whose process died is taken over. */
int store_sample_claim(struct store *s, const char *run_id, const char *sample_id, enum store_claim *out, char *err,
		       size_t errlen);
/* Writes one sample, its scores, tie counts, layer counts and span in one transaction (all or
 * nothing). A sample already present is left as it is (*inserted = false). */
int store_sample_put(struct store *s, const char *run_id, const struct sample_row *row, bool *inserted,
		     char *err, size_t errlen);

/* A sweep (kvlab sweep): a grid of runs over one task. */
struct sweep_info {
	const char *sweep_id;    /* 64 hex: SHA-256 of spec_json */
	const char *task;
	const char *model_path;
	const char *grid_json;   /* [["axis",[values...]],...] in grid order */
	const char *spec_json;   /* everything that defines the sweep */
};
/* Records the sweep (if new) and its runs run_ids[0..n) with their grid points
 * point_jsons[i] ({"axis":value,...}), in one transaction; rows present stay as they are. */
int store_sweep_record(struct store *s, const struct sweep_info *sw, int n, const char *const *run_ids,
		       const char *const *point_jsons, char *err, size_t errlen);

#endif
