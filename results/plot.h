/* Figures drawn by gnuplot from the results database, each a pure function of it.
 * plot_needle mirrors FastKV's eval/visualize.py heatmap (../shared/spec/eval.md 4.7). */
#ifndef KVLAB_RESULTS_PLOT_H
#define KVLAB_RESULTS_PLOT_H

#include <stddef.h>

struct plot_needle_opts {
	const char *db_path;    /* results database (opened read-only) */
	const char *method;     /* NULL = any method */
	const char *run_prefix; /* NULL = any run; else a prefix of the run id */
	const char *out;        /* F.png or F.svg; written atomically (temp file + rename) */
};

/* What was drawn. */
struct plot_needle_summary {
	char run_id[65];
	char method[64];
	int n_samples;          /* samples with an overlap score */
	int n_lengths, n_depths;
	double average;         /* mean overlap over all samples (the figure's "Average Score") */
};

/* Draws the needle heatmap of the one needle run matching the filters: mean `overlap` per
 * (depth, context length), depths down from 0 at the top, lengths labelled as visualize.py
 * does (str((L + 200) // 1000) + "k") unless two labels would collide or read "0k", then
 * as token counts; colours #F0496E (0) -> #EBB839 (0.5) -> #0CD79F (1); title
 * "<method> — Average Score = %.3f". Errors name the database, the runs that match when
 * not exactly one does (err should hold a few lines; 4 KiB is plenty), and gnuplot's own
 * message when it fails. The output is untouched on any failure. */
int plot_needle(const struct plot_needle_opts *o, struct plot_needle_summary *sum, char *err, size_t errlen);

/* Writes labels[i] (at least 16 bytes each) for lens[0..n): visualize.py's "Nk" form when it
 * is unambiguous and non-zero for every length, else the token count itself. */
void plot_needle_length_labels(const int *lens, int n, char (*labels)[16]);

struct sweep_query; /* results/report.h */
/* Draws the score heatmap of a sweep (report_sweep's pivot: q->x across, q->y down) for the
 * cells whose other swept values are `other` (the point JSON without x and y; NULL = the
 * first such group); the title names the model, task, those values, the metric and the
 * samples per cell. The output is untouched on any failure. */
int plot_sweep(const char *db, const struct sweep_query *q, const char *other, const char *out, char *err, size_t errlen);

#endif
