/* Calibration of FastKV's TSP layer (kvlab calibrate tsp, issue 20 item 7): for each
 * candidate layer, prefill calibration prompts with Token-Selective Propagation at that
 * layer and measure how far the last position's final state moves from the full-context
 * prefill. The TSP runs as the "tsp" reduction with full retention (tsp+full: every KV
 * row cached), so only propagation differs from the full run; the propagated rows are
 * FastKV's (methods/tsp.c). FastKV chooses the layer after which token importance has
 * settled (its default 15 was chosen for 32-layer Llama-3.1-8B); here the criterion is
 * the cosine similarity of the final normed hidden state at the last position, mean over
 * prompts, and the suggestion is the earliest candidate from which it stays at or above
 * a threshold.
 * E = n_embd, V = n_vocab, P = prompts, T = tokens per prompt */
#ifndef KVLAB_EVAL_CALIBRATE_TSP_H
#define KVLAB_EVAL_CALIBRATE_TSP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct model;

/* How one TSP run differs from the full run at the last position. */
struct tsp_calib_cmp {
	double cos;      /* cosine similarity of the final normed hidden states (E,) */
	double rel_l2;   /* |h - h_full| / |h_full| */
	double kl;       /* KL(softmax(full) || softmax(tsp)) of the logits (V,), nats */
	double max_abs;  /* max |logit - logit_full| */
	bool top1;       /* same argmax (the first one on ties) */
};

/* Compares one run (h, logits) with the full run (h_full, logits_full). */
void tsp_calib_compare(const float *h_full, const float *h, int E, const float *logits_full, const float *logits, int V,
		       struct tsp_calib_cmp *out);

/* One candidate layer: the comparisons averaged over the prompts. */
struct tsp_calib_row {
	int layer;          /* 0-based tsp_idx */
	double cos_mean, cos_min;
	double rel_l2;      /* mean */
	double kl;          /* mean */
	double max_abs;     /* mean of the per-prompt max |diff| */
	double top1;        /* fraction of prompts whose argmax agrees */
	double n_prop;      /* mean rows propagated after the layer (0: TSP did not cut) */
};

struct tsp_calib_opts {
	const struct model *m;   /* borrowed */
	const int32_t *prompts;  /* (P, T) borrowed: token ids, one prompt per row */
	int n_prompts, n_tokens; /* P, T */
	const int *layers;       /* (n_layers,) candidate TSP layers, borrowed */
	int n_layers;
	double tsp_rate;         /* fraction propagated, (0, 1] */
	int window_size;         /* observation window (FastKV: 8) */
	int threads;             /* 0 = all cores */
	/* optional: called after each (prompt, layer) prefill; done of total */
	void (*on_progress)(void *ctx, int done, int total);
	void *ctx;
};

/* Runs the calibration: one full prefill per prompt and one TSP prefill per prompt and
 * candidate layer; fills rows (n_layers,), in o->layers' order. */
int tsp_calib_run(const struct tsp_calib_opts *o, struct tsp_calib_row *rows, char *err, size_t errlen);

/* The index into rows of the earliest layer from which cos_mean stays >= threshold for
 * every later candidate (rows in ascending layer order), or -1 when the last one falls short. */
int tsp_calib_suggest(const struct tsp_calib_row *rows, int n, double threshold);

/* Parses --layers ("2-28", "3,7,11", "2-5,9") for an n_layer-layer model into a sorted
 * list without duplicates; *out is malloc'd (caller frees). Errors name --layers. */
int tsp_calib_parse_layers(const char *spec, int n_layer, int **out, int *n, char *err, size_t errlen);

/* The calibration prompts: the text of path (a file, or a folder of .txt essays read in
 * sorted order as the needle haystack is) tokenized and cut into n_prompts consecutive
 * windows of n_tokens tokens, each starting with BOS when the tokenizer adds one.
 * *ids is malloc'd (n_prompts, n_tokens) (caller frees). Errors name flag and path (too
 * little text for the prompts asked, no tokenizer). */
int tsp_calib_prompts(const struct model *m, const char *path, const char *flag, int n_prompts, int n_tokens,
		      int32_t **ids, char *err, size_t errlen);

#endif
