/* The one gnuplot runner every kvlab figure goes through: a scratch folder holding the
 * script (and any data files the caller writes), gnuplot run there with its output in a
 * log, and the picture copied beside the output path and renamed over it, so a failure
 * (gnuplot missing, a script error, no picture) leaves the output untouched and names
 * gnuplot's own last message. */
#ifndef KVLAB_RESULTS_GNUPLOT_H
#define KVLAB_RESULTS_GNUPLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* One figure in the making. Fields are the runner's; the caller writes the script to f. */
/* The picture formats a figure may be written in (gp_begin's formats, a bit set). */
enum gp_format { GP_PNG = 1 << 0, GP_SVG = 1 << 1, GP_PDF = 1 << 2 };

struct gp_run {
	char dir[4096];     /* the scratch folder (removed by gp_finish / gp_abort) */
	char picture[4200]; /* where the script must `set output` (gp_set_output writes that line) */
	const char *out;    /* the output path (borrowed), .png, .svg or .pdf */
	enum gp_format format; /* the one out's extension names */
	bool svg;           /* format == GP_SVG */
	FILE *f;            /* the script, open for writing */
};

/* Checks that out ends in the extension of one of formats (GP_PNG | GP_SVG | GP_PDF), creates
 * the scratch folder and opens the script for writing. On failure nothing is left behind. */
int gp_begin(struct gp_run *g, const char *out, unsigned formats, char *err, size_t errlen);

/* Checks only out's extension against formats; the error names --out and the extensions. */
int gp_check_out(const char *out, unsigned formats, char *err, size_t errlen);

/* Writes the script's terminal line for g's format: a width x height pixel picture (a PDF of
 * the same proportions, 72 pixels an inch) in Sans at font_pt, on white, text in UTF-8. */
void gp_terminal(struct gp_run *g, int width, int height, int font_pt);

/* Writes the path of the scratch file name (e.g. "cells.dat") into buf. */
void gp_scratch_path(const struct gp_run *g, const char *name, char *buf, size_t len);

/* Writes s to f as a single-quoted gnuplot string (quotes doubled, newlines as spaces). */
void gp_quote(FILE *f, const char *s);

/* Writes s to f as a double-quoted gnuplot string that keeps s's newlines as line breaks
 * (backslashes and double quotes escaped): multi-line titles. */
void gp_quote_lines(FILE *f, const char *s);

/* Writes the script line "set output '<picture>'". */
void gp_set_output(struct gp_run *g);

/* Starts a legend-only plot in the band from the bottom of the figure to screen height top
 * (a multiplot's last plot: no border, tics or labels), key entries centred in up to
 * max_cols columns; the caller then writes "plot" with one "NaN with ... title" per entry.
 * So one legend serves every panel and covers none. */
void gp_legend_band(FILE *f, double top, int max_cols);

/* Closes the script, runs gnuplot on it and installs the picture over g->out; always
 * removes the scratch folder. When the environment sets KVLAB_KEEP_GP=FILE, the script is
 * first copied to FILE (tests read the titles and labels there; a failed copy is an error). */
int gp_finish(struct gp_run *g, char *err, size_t errlen);

/* Drops a figure begun with gp_begin (closes the script, removes the scratch folder). */
void gp_abort(struct gp_run *g);

#endif
