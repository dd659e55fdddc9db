/* Block-quantised weight matrices for decode (engine/qmat.h): repacking from the GGUF's
 * Q4_1 / Q8_0 blocks (fp16 scale and min first, then codes) into fp32 scale and min
 * arrays beside the codes, so the product kernel converts no fp16. */
#include "engine/qmat.h"

#include <stdlib.h>
#include <string.h>

#include "base/errors.h" // KV_ENOMEM
#include "engine/gguf.h"   // GGML_DT_*
#include "engine/quant.h"  // quant_f16_to_f32, quant_block_bytes

enum qmat_type qmat_type_of_ggml(uint32_t t)
{
	switch (t) {
	case GGML_DT_Q4_1: return QMAT_Q4_1;
	case GGML_DT_Q8_0: return QMAT_Q8_0;
	default: return QMAT_NONE;
	}
}

int qmat_code_bytes(enum qmat_type type)
{
	return type == QMAT_Q4_1 ? QMAT_BLOCK / 2 : type == QMAT_Q8_0 ? QMAT_BLOCK : 0;
}

static float f16_at(const uint8_t *p)
{
	uint16_t h;
	memcpy(&h, p, 2);
	return quant_f16_to_f32(h);
}

int qmat_from_ggml(struct qmat *q, uint32_t t, const void *src, int rows, int cols)
{
	memset(q, 0, sizeof(*q));
	enum qmat_type type = qmat_type_of_ggml(t);
	int cb = qmat_code_bytes(type);
	size_t nb = (size_t)rows * (cols / QMAT_BLOCK);
	size_t n_m = type == QMAT_Q4_1 ? nb : 0;
	/* + QMAT_PAD: the kernel loads a Q4_1 block's 16 code bytes as one 32-byte vector */
	char *mem = malloc((nb + n_m) * sizeof(float) + nb * cb + QMAT_PAD);
	if (!mem)
		return KV_ENOMEM;
	q->type = type;
	q->rows = rows;
	q->cols = cols;
	q->mem = mem;
	q->d = (float *)mem;
	q->m = n_m ? q->d + nb : NULL;
	q->qs = (uint8_t *)(q->d + nb + n_m);
	size_t bb = quant_block_bytes(t); /* Q4_1: d, m, 16 code bytes; Q8_0: d, 32 codes */
	const uint8_t *b = src;
	for (size_t i = 0; i < nb; i++, b += bb) {
		q->d[i] = f16_at(b);
		if (q->m)
			q->m[i] = f16_at(b + 2);
		memcpy(q->qs + i * cb, b + (q->m ? 4 : 2), cb);
	}
	memset(q->qs + nb * cb, 0, QMAT_PAD);
	return 0;
}

void qmat_free(struct qmat *q)
{
	if (!q)
		return;
	free(q->mem);
	memset(q, 0, sizeof(*q));
}

size_t qmat_bytes(const struct qmat *q)
{
	size_t nb = (size_t)q->rows * (q->cols / QMAT_BLOCK);
	return q->type == QMAT_NONE ? 0 : nb * (sizeof(float) * (q->m ? 2 : 1) + qmat_code_bytes(q->type));
}
