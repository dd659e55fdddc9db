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
struct gp_run {
	char dir[4096];     /* the scratch folder (removed by gp_finish / gp_abort) */
	char picture[4200]; /* where the script must `set output` (gp_set_output writes that line) */
	const char *out;    /* the output path (borrowed), .png or .svg */
	bool svg;
	FILE *f;            /* the script, open for writing */
};

/* Checks that out ends in .png (or .svg when allow_svg), creates the scratch folder and opens
 * the script for writing. On failure nothing is left behind. */
int gp_begin(struct gp_run *g, const char *out, bool allow_svg, char *err, size_t errlen);

/* Writes the path of the scratch file name (e.g. "cells.dat") into buf. */
void gp_scratch_path(const struct gp_run *g, const char *name, char *buf, size_t len);

/* Writes s to f as a single-quoted gnuplot string (quotes doubled, newlines as spaces). */
void gp_quote(FILE *f, const char *s);

/* Writes the script line "set output '<picture>'". */
void gp_set_output(struct gp_run *g);

/* Closes the script, runs gnuplot on it and installs the picture over g->out; always
 * removes the scratch folder. */
int gp_finish(struct gp_run *g, char *err, size_t errlen);

/* Drops a figure begun with gp_begin (closes the script, removes the scratch folder). */
void gp_abort(struct gp_run *g);

#endif
