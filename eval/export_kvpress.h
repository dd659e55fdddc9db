/* Export of evaluation runs in the layout NVIDIA kvpress's evaluation/evaluate.py writes
 * (the kvpress leaderboard's input), so kvlab results sit beside kvpress results without
 * glue code. One folder per run and kvpress data unit (kvpress runs one data_dir at a time):
 *   {out}/{dataset}__{data_dir}__{model}__{press_name}__{compression_ratio:.2f}[__max_context{L}]__query_aware[__needle_depth{D}]/
 *     predictions.csv  the samples' columns without the context (RFC 4180 quoting, as pandas'
 *                      to_csv(index=False)): ruler: task, answer, predicted_answer,
 *                      compression_ratio, length, sample_id; longbench(-e): task, answers,
 *                      all_classes, length, language, _id, predicted_answer, compression_ratio;
 *                      needle_in_haystack: needle, predicted_answer, compression_ratio,
 *                      max_context_length, needle_depth (lists as JSON arrays)
 *     metrics.json     what kvpress's scorer writes (indent 4): ruler {task: {"string_match":
 *                      round(100 * mean, 2)}}; longbench round(100 * mean, 2); longbench-e
 *                      {"0-4k", "4-8k", "8k+"}; needle [{"rouge-1": {"f"}}] per row. The
 *                      scores are kvlab's stored ones (the run's protocol), not re-scored.
 *     config.yaml      kvpress's EvaluationConfig keys in its order (yaml.dump, sort_keys=False).
 * Mapping: ruler data_dir = the context length (a power of two, as report --table ruler);
 * longbench data_dir = the dataset (longbench-e for its _e files); needle: one folder per
 * (context length, depth). press_name: fullkv -> no_press, snapkv -> snapkv, streamingllm ->
 * streaming_llm, other methods keep kvlab's name (kvpress has no such press).
 * compression_ratio (kvpress's: the share of the prompt's KV pruned) per sample = 0 for fullkv,
 * the method's own --compression_ratio where it was given (expected_attention), 1 - retain_rate in proportional mode, 1 - min(max_capacity_prompts, N) / N with a constant
 * budget; a folder's is its samples' mean; unknown for a method with neither ("na" in the
 * folder name, null in config.yaml, empty in the CSV). query_aware is true: kvlab
 * compresses the prompt with the question in it. Not filled (kvlab does not store them):
 * question, answer_prefix, the needle task's rouge-2 / rouge-l (rouge-1 is rouge_score's). */
#ifndef KVLAB_EVAL_EXPORT_KVPRESS_H
#define KVLAB_EVAL_EXPORT_KVPRESS_H

#include <stddef.h>
#include <stdio.h>

struct store;

struct export_kvpress_opts {
	const char *out_dir; /* created if missing */
	const char *run;     /* run id or prefix (NULL = every run) */
	const char *method;  /* method name (NULL = every method) */
};

/* Writes the folders (each file written whole, then renamed into place); prints one line per
 * folder to log (may be NULL). A folder that holds another run's export gets the next free
 * numbered subfolder (kvpress's rule); the same run's is overwritten. Errors name the
 * database, the run or the file. */
int export_kvpress(struct store *s, const struct export_kvpress_opts *o, FILE *log, char *err, size_t errlen);

#endif
