/* Figures drawn by gnuplot from the results database, each a pure function of it.
 * plot_needle mirrors FastKV's eval/visualize.py heatmap (../shared/spec/eval.md 4.7). */
#ifndef KVLAB_RESULTS_PLOT_H
#define KVLAB_RESULTS_PLOT_H

#include <stdbool.h>
#include <stddef.h>

#include "results/run_label.h" // struct run_defaults, run_label_params

struct store;

/* Names a run's method in titles, legends and point labels as "METHOD k=v ..." (the
 * parameters of method_json that differ from the method's defaults, results/run_label.h).
 * results/ sits below methods/ and cannot read their parameter tables, so the CLI passes
 * the defaults (eval/export_params.h); where an options struct leaves them NULL, figures
 * show the method name. */
struct plot_labeler {
	const struct run_defaults *defaults;
};

/* The model as titles name it: the path's last component without a ".gguf" ending
 * ("models/SmolLM2-135M-Instruct.Q4_1.gguf" -> "SmolLM2-135M-Instruct.Q4_1"). */
void plot_model_name(const char *model_path, char *buf, size_t len);

/* Writes the label of a run into buf: the method name, then its non-default parameters when
 * l gives defaults (s: the database whose JSON functions compare them; on an error, the name). */
void plot_method_label(struct store *s, const struct plot_labeler *l, const char *method, const char *method_json,
		       char *buf, size_t len);

struct plot_needle_opts {
	const char *db_path;    /* results database (opened read-only) */
	const char *method;     /* NULL = any method */
	const char *run_prefix; /* NULL = any run; else a prefix of the run id, or several "A,B,C" (one panel each) */
	const char *out;        /* F.png, F.svg or F.pdf; written atomically (temp file + rename) */
	struct plot_labeler labels;
};

/* At most this many runs (panels) in one needle figure. */
#define PLOT_NEEDLE_MAX_RUNS 12

/* What was drawn, per run. */
struct plot_needle_summary {
	char run_id[65];
	char method[64];
	char label[256];        /* the method with its non-default parameters (o->labels) */
	int n_samples;          /* samples with an overlap score */
	int n_lengths, n_depths;
	double average;         /* mean overlap over all samples (the figure's "Average Score") */
};

/* Draws the needle heatmap of the one needle run matching the filters: mean `overlap` per
 * (depth, context length), depths down from 0 at the top, lengths labelled as visualize.py
 * does (str((L + 200) // 1000) + "k") unless two labels would collide or read "0k", then
 * as token counts; colours #F0496E (0) -> #EBB839 (0.5) -> #0CD79F (1), each cell printing
 * its value; title "<model> · <method and non-default parameters> · N samples" over
 * "Average Score = %.3f". With --run A,B,C (each prefix matching exactly one needle run)
 * the runs are small multiples, one panel each with its own short title, over one colour
 * bar fixed at 0..1. Fills sum[0..*n_runs) (sum holds PLOT_NEEDLE_MAX_RUNS). Errors name the
 * database, the runs that match when not exactly one does (err should hold a few lines;
 * 4 KiB is plenty), and gnuplot's own message when it fails. The output is untouched on
 * any failure. */
int plot_needle(const struct plot_needle_opts *o, struct plot_needle_summary *sum, int *n_runs, char *err,
		size_t errlen);

/* Writes labels[i] (at least 16 bytes each) for lens[0..n): visualize.py's "Nk" form when it
 * is unambiguous and non-zero for every length, else the token count itself. */
void plot_needle_length_labels(const int *lens, int n, char (*labels)[16]);

struct sweep_query; /* results/report.h */
/* Draws the score heatmap of a sweep (report_sweep's pivot: q->x across, q->y down) for the
 * cells whose other swept values are `other` (the point JSON without x and y; NULL = the
 * first such group); the title names the model, task, the method with the non-default
 * parameters all those runs share (labels; the swept axes left out), those values, the
 * metric and the samples per cell. The output is untouched on any failure. */
int plot_sweep(const char *db, const struct sweep_query *q, const char *other, const struct plot_labeler *labels,
	       const char *out, char *err, size_t errlen);

// ----------------------------------------------------------------------------
// kvlab plot selection

struct plot_selection_opts {
	const char *dump;   /* JSON lines of kvlab run / generate --dump_selection */
	const char *sample; /* NULL: the first block; else a sample id, or (no id matching) a 0-based block index */
	const char *method; /* NULL: any method; else only its blocks (a run of several methods dumps one block each) */
	const char *out;    /* F.png, F.svg or F.pdf; written atomically */
	struct plot_labeler labels;
};

/* At most this many cache heads (panels) in one selection figure. */
#define PLOT_SELECTION_MAX_HEADS 32

/* What was drawn. */
struct plot_selection_summary {
	char sample[256], label[512]; /* the sample id ("" from kvlab generate); the method with its parameters */
	int n_prompt, n_layer, heads;
	long kv_rows;                 /* kv entries over layers and heads */
	int n_ranges;                 /* boxes drawn for them (runs of consecutive positions) */
	bool needle, propagated;      /* a needle span was shaded; propagated / re-prefilled rows were drawn */
	int needle_start, needle_end;
};

/* Draws the kept positions of one prompt block of a --dump_selection file: x = token position,
 * y = layer, one panel per cache head, a box per run of consecutive kept positions; the
 * propagated (TSP, PyramidInfer) or re-prefilled (GemFilter) positions in a second colour above
 * each layer's kv boxes; the needle's span shaded in every panel when the block has one. The
 * title names the model, the method with its non-default parameters (o->labels), the sample and
 * the counts. Errors name --dump (file:line), --sample/--method (with the block count) and
 * gnuplot's message; the output is untouched on any failure. */
int plot_selection(const struct plot_selection_opts *o, struct plot_selection_summary *sum, char *err, size_t errlen);

// ----------------------------------------------------------------------------
// kvlab plot tradeoff

struct plot_tradeoff_opts {
	const char *db_path;
	const char *task;   /* a task name, or a prefix that selects exactly one */
	const char *model;  /* NULL: the task's only model; else a substring of the runs' model path */
	const char *metric; /* NULL: overlap, else score, else the task's most frequent metric */
	const char *x;      /* "kv", "speedup" or "both" (NULL = both) */
	const char *out;    /* F.png, F.svg or F.pdf; written atomically */
	struct plot_labeler labels;
};

/* One evaluation run as a point of the figure. */
struct plot_tradeoff_point {
	char run_id[65], method[64], label[256]; /* label: plot_method_label */
	char ref_id[65];     /* the fullkv run it is normalised by */
	int n;               /* samples it shares with that run: everything below is over them */
	double score;        /* mean of the metric */
	double kv_kept;      /* mean kv_bytes / the fullkv run's mean kv_bytes */
	double speedup;      /* the fullkv run's mean prefill_s / its own */
	bool front_kv, front_speedup; /* on the Pareto front (less KV / more speed, higher score) */
};

struct plot_tradeoff_summary {
	char task[64], model[256], metric[64];
	struct plot_tradeoff_point *p; /* (n,) owned: plot_tradeoff_summary_free */
	int n;
	char skipped[2048];  /* runs left out and why, one "\n  id method: why" line each */
};

/* Draws score against the fraction of KV kept and/or prefill speedup, both relative to the
 * fullkv run of the same task, model, backend and threads that shares the most samples with
 * the run: one point per run, one line per method (its points sorted by x), the Pareto front
 * over all points as a dashed step line with ringed points; both = two panels. The title
 * names the model, task, metric and samples per run; points carry their non-default
 * parameters. Errors name --task (none or several tasks match; the list), --model, --metric
 * and a task without a fullkv run. The output is untouched on any failure; sum is filled on
 * success (caller frees with plot_tradeoff_summary_free). */
int plot_tradeoff(const struct plot_tradeoff_opts *o, struct plot_tradeoff_summary *sum, char *err, size_t errlen);
void plot_tradeoff_summary_free(struct plot_tradeoff_summary *sum);

#endif
