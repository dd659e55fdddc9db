/* libFuzzer harness: LongBench JSONL data files read through the longbench task. The data
 * folder holds the fuzzed <dataset>.jsonl and a small synthetic config/ (prompt and
 * generation length per dataset). Input byte 0 picks the dataset (bits 0-2: qasper,
 * trec, lcc, passage_count, samsum, qasper_e, triviaqa, passage_retrieval_en: chat and
 * plain prompts, each metric family) and a 48-token prompt cap (bit 3); the rest is the
 * JSONL file. Up to four samples are built and scored on the tiny model. */
#include <stdint.h>
#include <string.h>

#include "tests/fuzz/fuzz_task_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const files[] = { "qasper", "trec", "lcc", "passage_count", "samsum", "qasper_e", "triviaqa",
				     "passage_retrieval_en" };

static const char *data_dir(void)
{
	static char dir[PATH_MAX];
	if (!dir[0]) {
		static const char prompts[] =
			"{\"qasper\": \"Article: {context}\\nQuestion: {input}\\nAnswer:\","
			" \"trec\": \"Classify.\\n{context}\\n{input}\","
			" \"lcc\": \"Complete the code.\\n{context}Next line:\","
			" \"passage_count\": \"{context}\\nHow many unique paragraphs? {input}\\nAnswer:\","
			" \"samsum\": \"Summarize.\\n{context}\\n\\n{input}\","
			" \"triviaqa\": \"Answer.\\n{context}\\n\\n{input}\","
			" \"passage_retrieval_en\": \"{context}\\n{input}\\nThe answer is: \"}\n";
		static const char maxlens[] = "{\"qasper\": 128, \"trec\": 64, \"lcc\": 64, \"passage_count\": 32, \"samsum\": 128,"
					      " \"triviaqa\": 32, \"passage_retrieval_en\": 32}\n";
		char cfg[PATH_MAX], p[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s/longbench", fuzz_dir());
		snprintf(cfg, sizeof(cfg), "%s/config", dir);
		if (mkdir(dir, 0700) != 0 || mkdir(cfg, 0700) != 0) {
			perror(cfg);
			abort();
		}
		fuzz_put(cfg, "dataset2prompt.json", prompts, strlen(prompts), p, sizeof(p));
		fuzz_put(cfg, "dataset2maxlen.json", maxlens, strlen(maxlens), p, sizeof(p));
	}
	return dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *dir = data_dir(), *file = files[data[0] & 7];
	char name[64], path[PATH_MAX], task[80];
	snprintf(name, sizeof(name), "%s.jsonl", file);
	snprintf(task, sizeof(task), "longbench:%s", file);
	fuzz_put(dir, name, data + 1, size - 1, path, sizeof(path));
	struct task_args a = { .task = task, .data = dir, .max_len = data[0] & 8 ? 48 : 0 };
	fuzz_task_pass(&a, 4);
	unlink(path); /* the next input may name another dataset */
	return 0;
}
