/* Test helper: random block-quantised rows (Q4_1, Q8_0) as a GGUF stores them. */
#ifndef KVLAB_TESTS_QBLOCKS_H
#define KVLAB_TESTS_QBLOCKS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"  // GGML_DT_Q4_1
#include "engine/quant.h" // quant_row_bytes, quant_block_bytes, quant_f32_to_f16
#include "tests/xorshift.h"

/* rows x cols of type t: per block an fp16 d in [-0.05, 0.05) (and, for Q4_1, an fp16 m
 * in [-0.4, 0.4)), then random code bytes, all drawn from *state; caller frees. */
static inline uint8_t *random_qblocks(uint32_t t, int rows, int cols, uint64_t *state)
{
	size_t rb = quant_row_bytes(t, cols), bb = quant_block_bytes(t);
	uint8_t *buf = malloc(rb * rows);
	for (size_t i = 0; buf && i < rb * rows; i += bb) {
		uint16_t d = quant_f32_to_f16(xorshift_range(state, -0.05f, 0.05f));
		uint16_t m = quant_f32_to_f16(xorshift_range(state, -0.4f, 0.4f));
		memcpy(buf + i, &d, 2);
		size_t c0 = 2;
		if (t == GGML_DT_Q4_1) {
			memcpy(buf + i + 2, &m, 2);
			c0 = 4;
		}
		for (size_t j = c0; j < bb; j++)
			buf[i + j] = (uint8_t)xorshift_u32(state);
	}
	return buf;
}

#endif
