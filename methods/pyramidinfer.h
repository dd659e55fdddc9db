/* PyramidInfer's configuration and schedule arithmetic, shared by the method
 * (methods/pyramidinfer.c), `kvlab calibrate pyramidinfer` and the tests.
 * Mirrors the pyramidinfer_configs JSON files and the prefill schedule of the official
 * llama_model.py (spec/methods.md section 8). L = n_layer, N = prompt tokens. */
#ifndef KVLAB_METHODS_PYRAMIDINFER_H
#define KVLAB_METHODS_PYRAMIDINFER_H

#include <stddef.h>

#include <stdbool.h>

#include "methods/params.h" // struct kv_params

/* One official config file (spec 8.1): the two fields that differ between files. */
struct pyr_preset {
	const char *name;  /* file name without ".json", e.g. "llama31_8b_50%" */
	double decay;      /* prefill_stage.prefill_decay_ratio: r, the schedule's floor */
	double recent;     /* prefill_stage.recent_ratio: R = floor(N * recent) */
};

/* The official presets, terminated by { NULL }. */
extern const struct pyr_preset pyr_presets[];

/* Fields every official config file shares (spec 8.1). */
#define PYR_MIN_CONTEXT 64          /* prefill_stage.min_context_length */
#define PYR_SINK 4                  /* prefill_stage.streamingllm_sink_len */
#define PYR_DISTANCE_WEIGHT 1.2     /* prefill_stage.distance_weight: linspace(1, 1.2) over recent rows */
#define PYR_GEN_DECAY 1.0           /* generation_stage.gen_decay_ratio (schedule == 1 at every layer) */
#define PYR_GEN_COMPRESS 0.9        /* generation_stage.gen_compress_ratio */
#define PYR_EXCEED 16               /* generation_stage.exceed_length_to_compress: E */
/* Recent ratio when --pyramid_decay_ratio is given without a preset: the 35 % files'
 * value, the only official one that reaches budgets below 20 % (1+R rows are always kept). */
#define PYR_RECENT_DEFAULT 0.01

enum pyr_decode {
	PYR_DECODE_OFFICIAL = 0, /* PL_l as recorded by the official code under HF 4.45 generate: 0, except
				  * the last layer's prefill length (decision A3) */
	PYR_DECODE_LAYER = 1     /* PL_l = layer l's prefill cache length (the evident intent) */
};

/* PyramidInfer's parameters as given (methods/pyramidinfer.c holds their table). */
struct pyr_params {
	struct kv_params p;       /* only retain_rate is read */
	char preset[48];          /* --pyramid_preset NAME ("" = from --retain_rate) */
	double decay;             /* --pyramid_decay_ratio [0, 1] (-1 = preset) */
	double recent;            /* --pyramid_recent_ratio [0, 0.999] (-1 = preset) */
	int decode;               /* --pyramid_decode official|layer (enum pyr_decode) */
	bool retain_rate_given;   /* --retain_rate was given (its error says "(the default)" otherwise) */
};

/* The resolved PyramidInfer settings. */
struct pyr_config {
	char preset[48];         /* the official file used, "" when --pyramid_decay_ratio alone set r */
	double decay;            /* r */
	double recent;           /* recent ratio */
	enum pyr_decode decode;  /* --pyramid_decode */
};

/* Resolves the settings as the official set_model does, then applies the overrides:
 * --pyramid_preset NAME, else --retain_rate 0.35/0.5/0.6 picks llama31_8b_35%/50%/60%;
 * --pyramid_decay_ratio and --pyramid_recent_ratio override (without a preset the
 * recent ratio is PYR_RECENT_DEFAULT). Other retain rates without a decay ratio, and
 * unknown presets, are errors naming the flag. */
int pyr_config_resolve(const struct pyr_params *p, struct pyr_config *out, char *err, size_t errlen);

/* Borrowed: the preset called name, or NULL. */
const struct pyr_preset *pyr_preset_find(const char *name);

/* Keep ratio of layer l of L for floor r, cosine schedule (the only reachable one, A4):
 * s(l) = (1 - r) * (cos(pi * l / L) + 1) / 2 + r, evaluated in the official order. */
double pyr_keep_ratio(double r, int l, int L);

/* Simulates the prefill schedule (spec 8.2) for N prompt tokens on an L-layer model:
 * writes the rows entering each layer into n_alive (L,) when non-NULL and returns the
 * mean over layers of n_alive[l] / N, the fraction of KV kept after prefill. The counts
 * do not depend on the scores: a top-k over the context always keeps exactly kk rows. */
double pyr_simulate(int N, int L, double decay, double recent, int *n_alive);

/* One ratio tried by pyr_calibrate. */
struct pyr_try {
	double decay, retention;
};

/* Finds by bisection over [0, 1] the prefill decay ratio whose simulated retention
 * (pyr_simulate) is closest to target for N tokens, L layers and this recent ratio, as
 * the official profiling script was used by hand (spec 8.4, A5). Records up to max_tries
 * tried ratios in tries (*n_tries of them). *decay is the best ratio shortened to the
 * fewest significant digits (*digits, for printing with %.*g) that keep its retention,
 * *retention that retention. Fails, naming --target, when target lies below what decay
 * ratio 0 keeps (the cosine schedule's floor). */
int pyr_calibrate(int N, int L, double recent, double target, struct pyr_try *tries, int max_tries, int *n_tries,
		  double *decay, int *digits, double *retention, char *err, size_t errlen);

#endif
