/* The method flags every command that runs a model accepts, named as in the official
 * FastKV scripts; their values reach the method as key=value strings and the method
 * checks them. Use METHOD_FLAGS(struct cfg, member) inside a cli_flag table, where
 * member is a struct method_args. */
#ifndef KVLAB_CLI_METHOD_FLAGS_H
#define KVLAB_CLI_METHOD_FLAGS_H

#include <stddef.h>

#include "cli/cli.h"
#include "methods/registry.h"

#define MF_(T, M, name, idx, meta, help) \
	{ "--" name, CLI_STR, offsetof(T, M) + offsetof(struct method_args, vals) + (idx) * sizeof(const char *), 0, 0, meta, help, false }

#define METHOD_FLAGS(T, M)                                                                                              \
	{ "--method", CLI_STR, offsetof(T, M) + offsetof(struct method_args, method), 0, 0, "NAME",                        \
	  "KV policy: fullkv, fastkv, gemfilter, snapkv, streamingllm, h2o, pyramidinfer", false },                       \
	MF_(T, M, "eviction_mode", 0, "MODE", "constant (absolute budgets) or proportional (fractions of the prompt) (default: constant)"), \
	MF_(T, M, "retain_rate", 1, "R", "proportional: KV rows kept per layer and head, window included (default: 0.1)"), \
	MF_(T, M, "max_capacity_prompts", 2, "N", "constant: KV rows kept per layer and head; GemFilter top-k (default: 512)"), \
	MF_(T, M, "window_size", 3, "N", "observation window (FastKV, SnapKV) / recent window (H2O) (default: 8)"),        \
	MF_(T, M, "kernel_size", 4, "K", "pooling kernel, odd (FastKV, SnapKV) (default: 7)"),                             \
	MF_(T, M, "pooling", 5, "P", "maxpool or avgpool (FastKV, SnapKV) (default: maxpool)"),                           \
	MF_(T, M, "tsp_idx", 6, "L", "FastKV: 0-based Token-Selective Propagation layer (default: 15)"),                   \
	MF_(T, M, "tsp_rate", 7, "R", "FastKV proportional: fraction of the prompt propagated after TSP (default: 0.2)"), \
	MF_(T, M, "tsp_len", 8, "N", "FastKV constant: tokens propagated after TSP (default: 2048)"),                      \
	MF_(T, M, "filter_idx", 9, "L", "GemFilter: 0-based selection layer (default: 13)"),                              \
	MF_(T, M, "h2o_causal", 10, "0|1", "H2O: 1 masks the future when scoring (corrected); 0 is the official non-causal scoring (default: 0)"), \
	MF_(T, M, "per_kv_head", 11, "0|1", "SnapKV/H2O: 1 selects per KV head from group-summed scores; 0 per query head as the official code (default: 0)"), \
	MF_(T, M, "pyramid_preset", 12, "NAME", "PyramidInfer: official config (e.g. llama31_8b_50%); default chosen from --retain_rate"), \
	MF_(T, M, "pyramid_decay_ratio", 13, "R", "PyramidInfer: prefill decay ratio, overrides the preset (see kvlab calibrate)"), \
	MF_(T, M, "pyramid_recent_ratio", 14, "R", "PyramidInfer: recent ratio, overrides the preset"),                    \
	MF_(T, M, "pyramid_decode", 15, "MODE", "PyramidInfer decode trigger: official or layer (default: official)")

#endif
