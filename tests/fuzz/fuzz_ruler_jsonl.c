/* libFuzzer harness: RULER JSONL data files read through the ruler task (--data FILE with
 * --task ruler:SUB). Input byte 0 picks the subtask (bits 0-1: niah_single_1, vt, cwe,
 * qa_1), the protocol (bit 2: fastkv or official) and a 64-token prompt cap (bit 3); the
 * rest is the JSONL file. Up to four samples are built and scored on the tiny model. */
#include <stdint.h>

#include "tests/fuzz/fuzz_task_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const subs[] = { "ruler:niah_single_1", "ruler:vt", "ruler:cwe", "ruler:qa_1" };
	if (size < 1)
		return 0;
	char path[PATH_MAX];
	fuzz_put(fuzz_dir(), "ruler.jsonl", data + 1, size - 1, path, sizeof(path));
	struct task_args a = { .task = subs[data[0] & 3], .data = path,
			       .protocol = data[0] & 4 ? "official" : NULL, .max_len = data[0] & 8 ? 64 : 0 };
	fuzz_task_pass(&a, 4);
	return 0;
}
