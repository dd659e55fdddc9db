/* Sweeps: one task evaluated at every point of a grid of method parameters
 * (--grid 'tsp_idx=5,10 tsp_rate=0.1,0.2 retain_rate=0.05:0.2:0.05', method= too), one run
 * per point in one database. Points that may share a prefill (the same method and the
 * same propagation: they differ only in what the caches retain) run together through the
 * runner's shared prefill, up to RUNNER_MAX_METHODS at a time; everything else runs on its
 * own. The sweep and its runs are recorded (tables sweeps, sweep_runs) so reports can
 * pivot it; like runs, a sweep resumes: a killed sweep restarted finishes every point once. */
#ifndef KVLAB_EVAL_SWEEP_H
#define KVLAB_EVAL_SWEEP_H

#include <stddef.h>

#include "eval/runner.h"

#define SWEEP_MAX_AXES 8
#define SWEEP_MAX_POINTS 4096

/* One axis of the grid. */
struct sweep_axis {
	char *key;   /* "method" or a method flag without "--" (owned) */
	char **vals; /* (n,) values as text, ranges expanded (owned) */
	int n;
};

struct sweep_grid {
	struct sweep_axis ax[SWEEP_MAX_AXES];
	int n_axes;
};

/* Parses --grid: axes separated by spaces or ';', each KEY=V1,V2,... where a value may be
 * a range A:B:STEP (B included; integers when all three are, else numbers printed with
 * %.10g). Errors name --grid. Caller releases g with sweep_grid_free (also after a failure). */
int sweep_grid_parse(const char *spec, struct sweep_grid *g, char *err, size_t errlen);
void sweep_grid_free(struct sweep_grid *g);

struct sweep_opts {
	/* the task, model, database, threads, backend and --shard as kvlab run takes them;
	 * run.methods is the one method of a grid without a method= axis (NAME[:key=value...],
	 * NULL = fullkv) and run.method_args the fixed method flags (each must be taken by a
	 * method of the sweep) */
	struct runner_opts run;
	const char *grid;      /* --grid */
	int part, n_parts;     /* --jobs: this process runs units u with u % n_parts == part (0, 1: all) */
};

/* One grid point. */
struct sweep_point {
	char label[128];  /* the --method entry: "fastkv:tsp_idx=5:retain_rate=0.1" */
	char json[512];   /* {"method":"fastkv","tsp_idx":5,"retain_rate":0.1}: the swept values */
	char group[128];  /* points with the same group may share a prefill */
};

/* The grid expanded: points ordered by group, cut into units (points run together). */
struct sweep_plan {
	char sweep_id[65];        /* SHA-256 of spec_json */
	char *spec_json;          /* everything that defines the sweep (owned) */
	char *grid_json;          /* [["axis",[values]],...] (owned) */
	struct sweep_point *pt;   /* (n_points,) owned */
	int n_points;
	int *unit_start;          /* (n_units + 1,) unit u holds points unit_start[u] .. unit_start[u+1]-1 */
	int n_units;
};

/* Expands o's grid into *p (caller frees with sweep_plan_free, also after a failure);
 * checks names and keys (not values: those need the model), errors name --grid or the flag. */
int sweep_plan_make(const struct sweep_opts *o, struct sweep_plan *p, char *err, size_t errlen);
void sweep_plan_free(struct sweep_plan *p);

struct sweep_result {
	char sweep_id[65];
	int n_points, n_units, n_units_run; /* points, units, units this process ran */
	int n_done_now, n_done_before;      /* (run, sample) pairs stored now / found stored */
};

/* Runs this process's units of the sweep (progress on stderr, one line over the whole
 * sweep); every point's values are checked against the model before any unit runs. */
int sweep_run(const struct sweep_opts *o, struct sweep_result *res, char *err, size_t errlen);

#endif
