/* Block-quantised weight matrices for decode (engine/qmat.h): repacking from the GGUF's
 * Q4_1 / Q8_0 blocks (fp16 scale and min first, then codes) into three arrays, the
 * codes (rows interleaved, see qmat_codes), the fp16 scales and the fp16 mins,
 * so a kernel loads 16 scales in one vector. */
#include "engine/qmat.h"

#include <stdlib.h>
#include <string.h>

#include "base/errors.h" // KV_ENOMEM
#include "engine/gguf.h"   // GGML_DT_*
#include "engine/quant.h"  // quant_block_bytes

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

int qmat_from_ggml(struct qmat *q, uint32_t t, const void *src, int rows, int cols)
{
	memset(q, 0, sizeof(*q));
	enum qmat_type type = qmat_type_of_ggml(t);
	int cb = qmat_code_bytes(type);
	size_t nb = (size_t)rows * (cols / QMAT_BLOCK);
	size_t n_m = type == QMAT_Q4_1 ? nb : 0;
	/* + QMAT_PAD: the portable kernel loads a Q4_1 block's 16 code bytes as one 32-byte
	 * vector; the codes come first so they keep malloc's alignment */
	size_t qs_bytes = nb * cb + QMAT_PAD, dm_bytes = nb * sizeof(uint16_t);
	q->type = type;
	q->rows = rows;
	q->cols = cols;
	uint8_t *mem = calloc(1, qmat_mem_bytes(q));
	if (!mem) {
		memset(q, 0, sizeof(*q));
		return KV_ENOMEM;
	}
	q->mem = mem;
	q->qs = mem;
	q->d = (uint16_t *)(mem + qs_bytes);
	q->m = n_m ? (uint16_t *)(mem + qs_bytes + dm_bytes) : NULL;
	size_t bb = quant_block_bytes(t); /* Q4_1: d, m, 16 code bytes; Q8_0: d, 32 codes */
	const uint8_t *b = src;
	int nbr = cols / QMAT_BLOCK;
	for (size_t i = 0; i < nb; i++, b += bb) {
		memcpy(&q->d[i], b, 2);
		if (q->m)
			memcpy(&q->m[i], b + 2, 2);
		memcpy(qmat_codes(q, (int)(i / (size_t)nbr), (int)(i % (size_t)nbr)), b + (q->m ? 4 : 2), cb);
	}
	return 0;
}

int qmat_reorder_rows(struct qmat *q, const int *from)
{
	size_t bytes = qmat_mem_bytes(q);
	uint8_t *tmp = malloc(bytes ? bytes : 1);
	if (!tmp)
		return KV_ENOMEM;
	memcpy(tmp, q->qs, bytes); /* qs starts the block: see qmat_from_ggml */
	struct qmat old = *q;
	old.qs = tmp;
	old.d = (uint16_t *)(tmp + ((uint8_t *)q->d - q->qs));
	old.m = q->m ? (uint16_t *)(tmp + ((uint8_t *)q->m - q->qs)) : NULL;
	int nb = q->cols / QMAT_BLOCK, cb = qmat_code_bytes(q->type);
	for (int r = 0; r < q->rows; r++) {
		size_t o = (size_t)r * nb, f = (size_t)from[r] * nb;
		memcpy(q->d + o, old.d + f, nb * sizeof(*q->d));
		if (q->m)
			memcpy(q->m + o, old.m + f, nb * sizeof(*q->m));
		for (int b = 0; b < nb; b++)
			memcpy(qmat_codes(q, r, b), qmat_codes(&old, from[r], b), cb);
	}
	free(tmp);
	return 0;
}

void qmat_free(struct qmat *q)
{
	if (!q)
		return;
	free(q->mem);
	memset(q, 0, sizeof(*q));
}

size_t qmat_mem_bytes(const struct qmat *q)
{
	size_t nb = (size_t)q->rows * (q->cols / QMAT_BLOCK);
	if (q->type == QMAT_NONE)
		return 0;
	/* codes and padding, fp16 scales, fp16 mins (Q4_1 only): qmat_from_ggml's layout */
	return nb * (size_t)qmat_code_bytes(q->type) + QMAT_PAD + nb * sizeof(uint16_t) * (q->type == QMAT_Q4_1 ? 2 : 1);
}

void qmat_move_to(struct qmat *q, void *dst)
{
	uint8_t *base = q->qs, *to = dst; /* qs starts the block: see qmat_from_ggml */
	memcpy(to, base, qmat_mem_bytes(q));
	q->d = (uint16_t *)(to + ((uint8_t *)q->d - base));
	if (q->m)
		q->m = (uint16_t *)(to + ((uint8_t *)q->m - base));
	q->qs = to;
	free(q->mem);
	q->mem = NULL;
}

size_t qmat_bytes(const struct qmat *q)
{
	size_t nb = (size_t)q->rows * (q->cols / QMAT_BLOCK);
	return q->type == QMAT_NONE ? 0 : nb * (sizeof(uint16_t) * (q->m ? 2 : 1) + qmat_code_bytes(q->type));
}
