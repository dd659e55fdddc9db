/* A loaded model: configuration read from metadata, fp32 weights in Hugging Face
 * layout (Q/K rows in HF order, whatever the file stored), for GGUF Q4_1/Q8_0 matrices
 * also a block-quantised copy for decode, tokenizer and chat format.
 * L = n_layer, E = n_embd, H = n_head, Hkv = n_head_kv, D = head_dim, F = n_ff, V = n_vocab */
#ifndef KVLAB_ENGINE_MODEL_H
#define KVLAB_ENGINE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/chat.h"
#include "engine/qmat.h" // defines: struct qmat

enum model_arch { ARCH_LLAMA = 0, ARCH_MISTRAL = 1 };
enum rope_scaling_type { ROPE_SCALING_NONE = 0, ROPE_SCALING_LLAMA3 = 1, ROPE_SCALING_LINEAR = 2 };
enum model_source { MODEL_SRC_GGUF = 0, MODEL_SRC_HF = 1, MODEL_SRC_SYNTHETIC = 2 };

struct model_config {
	enum model_arch arch;
	int n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab;
	int max_pos;                      /* context length the model was trained for */
	float norm_eps;                   /* RMSNorm epsilon */
	float rope_theta;
	enum rope_scaling_type rope_scaling;
	float rope_factor, rope_low_freq_factor, rope_high_freq_factor;
	int rope_orig_max_pos;
	bool tied_embd;                   /* output projection shares tok_embd */
};

enum { QW_Q, QW_K, QW_V, QW_O, QW_GATE, QW_UP, QW_DOWN, QW_COUNT }; /* layer_weights.q */

struct layer_weights {
	float *attn_norm;  /* (E,) */
	float *wq;         /* (H*D, E) row-major, out x in */
	float *wk;         /* (Hkv*D, E) */
	float *wv;         /* (Hkv*D, E) */
	float *wo;         /* (E, H*D) */
	float *ffn_norm;   /* (E,) */
	float *w_gate;     /* (F, E) */
	float *w_up;       /* (F, E) */
	float *w_down;     /* (E, F) */
	/* The same matrices block-quantised for decode (engine/qmat.h), in the order
	 * wq, wk, wv, wo, w_gate, w_up, w_down; type QMAT_NONE where the file's type has no
	 * packed form (then decode reads the fp32 copy). Owned. */
	struct qmat q[QW_COUNT];
};

struct tokenizer;

struct model {
	struct model_config cfg;
	enum model_source source;
	char *path;                 /* owned: file or folder it came from */
	char *file_type;            /* owned: storage type summary ("Q4_1", "BF16", ...) */
	float *tok_embd;            /* (V, E) */
	float *out_norm;            /* (E,) */
	float *output;              /* (V, E); == tok_embd when cfg.tied_embd */
	struct qmat q_output;       /* output block-quantised for decode, or QMAT_NONE; owned */
	float *rope_inv_freq;       /* (D/2,) RoPE inverse frequencies, scaling applied */
	struct layer_weights *layers; /* (L,) */
	struct tokenizer *tok;      /* owned; NULL for tokenizer-less synthetic models */
	char *chat_template;        /* owned template text, or NULL */
	struct chat_format chat;    /* detected from chat_template */
	void *arena;                /* owned: one allocation backing all weights */
	size_t arena_bytes;
	bool shared_layers;         /* every layers[l] points at the same weights (benchmarks only) */
};

/* Loads a GGUF file or a Hugging Face folder (config.json + *.safetensors +
 * tokenizer.json); caller frees *out with model_free. */
int model_load(const char *path, struct model **out, char *err, size_t errlen);
/* Loaders behind model_load (same contract). */
int model_load_gguf(const char *path, struct model **out, char *err, size_t errlen);
int model_load_hf(const char *dir, struct model **out, char *err, size_t errlen);

/* Builds a model of shape c with deterministic random weights (uniform, std 0.02;
 * norms 1) and no tokenizer; caller frees with model_free. */
int model_init_random(const struct model_config *c, uint64_t seed, struct model **out, char *err, size_t errlen);
/* As model_init_random, but one random layer's weights back all cfg.n_layer layers
 * (shared_layers set), so an 8B shape fits in memory for latency benchmarks, where
 * timing does not depend on weight values. Caller frees with model_free. */
int model_init_random_shared(const struct model_config *c, uint64_t seed, struct model **out, char *err, size_t errlen);

/* Checks shapes for consistency and support; names what is wrong. */
int model_config_validate(const struct model_config *c, const char *src, char *err, size_t errlen);
/* Allocates a model whose weight pointers point into one zeroed arena sized from cfg;
 * the caller fills the weights. Free with model_free. */
int model_alloc(const struct model_config *c, struct model **out, char *err, size_t errlen);
void model_free(struct model *m);
/* Bytes of the block-quantised copies decode reads per token (0 when the model has none). */
size_t model_packed_bytes(const struct model *m);

/* Fills m->rope_inv_freq from cfg (theta and scaling) as transformers computes it;
 * freq_factors (D/2,) when non-NULL divides each frequency (GGUF rope_freqs.weight). */
void model_rope_init(struct model *m, const float *freq_factors);
/* Recognises m->chat_template into m->chat; an unrecognised template leaves the model
 * loadable (family CHAT_NONE, detail says why: `info` shows it, --chat refuses). Only
 * running out of memory is an error (KV_ENOMEM). */
int model_chat_init(struct model *m, char *err, size_t errlen);

/* Static architecture name ("llama", "mistral"). */
const char *model_arch_name(enum model_arch a);

#endif
