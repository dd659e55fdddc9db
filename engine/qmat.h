/* Weight matrices kept block-quantised for single-token products (decode), where the
 * fp32 copy would be read whole for every token. Per 32-weight block: the file's fp16
 * scale d (and min m for Q4_1), kept as fp16 so decode reads the bytes the GGUF holds
 * (fp16 -> fp32 is exact, converted in the kernel), and the block's codes.
 * A product dequantises each weight exactly as quant_dequant_row does (q*d + m in fp32)
 * and sums the fp32 products, so it is the fp32 product in another summation order. */
#ifndef KVLAB_ENGINE_QMAT_H
#define KVLAB_ENGINE_QMAT_H

#include <stddef.h>
#include <stdint.h>

enum qmat_type {
	QMAT_NONE = 0, /* no packed copy: use the fp32 weights */
	QMAT_Q4_1,     /* 16 bytes of nibbles per block: low nibbles elements 0..15, high 16..31 */
	QMAT_Q8_0,     /* 32 int8 per block; m unused */
};

struct qmat {
	enum qmat_type type;
	int rows, cols;  /* cols a multiple of QMAT_BLOCK */
	uint8_t *qs;     /* every block's codes, rows interleaved (qmat_codes), then QMAT_PAD zero bytes */
	uint16_t *d;     /* (rows, cols / 32) fp16 scales */
	uint16_t *m;     /* (rows, cols / 32) fp16 mins (Q4_1), else NULL */
	void *mem;       /* owned: backs qs, d and m (NULL after qmat_move_to: the mover owns it) */
};

#define QMAT_BLOCK 32
#define QMAT_PAD 16 /* readable zero bytes after the last block's codes */
#define QMAT_GROUP_ROWS 4 /* rows whose codes take turns (qmat_codes) */
#define QMAT_TURN 64      /* bytes of a row's turn: 4 Q4_1 blocks, 2 Q8_0 blocks */

/* Row r's block b codes in q (not QMAT_NONE), inside q's memory. Rows come in groups of
 * QMAT_GROUP_ROWS (the last group may be short), and within a group the rows take turns
 * every QMAT_TURN bytes of codes (a row's last turn may be shorter), so kernels that step
 * QMAT_GROUP_ROWS rows through the blocks read one sequential stream, not one per row;
 * a turn's blocks stay contiguous. */
static inline uint8_t *qmat_codes(const struct qmat *q, int r, int b)
{
	size_t nb = (size_t)q->cols / QMAT_BLOCK, cb = q->type == QMAT_Q4_1 ? QMAT_BLOCK / 2 : QMAT_BLOCK;
	int tb = QMAT_TURN / (int)cb, g0 = r - r % QMAT_GROUP_ROWS, c0 = b - b % tb;
	size_t gr = q->rows - g0 < QMAT_GROUP_ROWS ? (size_t)(q->rows - g0) : QMAT_GROUP_ROWS;
	size_t cw = nb - (size_t)c0 < (size_t)tb ? nb - (size_t)c0 : (size_t)tb;
	return q->qs + cb * ((size_t)g0 * nb + (size_t)c0 * gr + (size_t)(r % QMAT_GROUP_ROWS) * cw + (size_t)(b % tb));
}

/* qmat_codes(q, r0 + j, b) for rows of a whole group (r0 a multiple of QMAT_GROUP_ROWS,
 * r0 + QMAT_GROUP_ROWS <= rows) with less arithmetic, for kernels that step whole groups
 * (the general form cost a fifth of the VNNI kernel's time); type a constant where inlined. */
static inline uint8_t *qmat_group_codes(const struct qmat *q, enum qmat_type type, int r0, int j, int b)
{
	size_t cb = type == QMAT_Q4_1 ? QMAT_BLOCK / 2 : QMAT_BLOCK;
	int tb = QMAT_TURN / (int)cb;
	size_t nb = (size_t)q->cols / QMAT_BLOCK, c0 = (size_t)(b - b % tb);
	size_t cw = nb - c0 < (size_t)tb ? nb - c0 : (size_t)tb;
	return q->qs + cb * ((size_t)r0 * nb + c0 * QMAT_GROUP_ROWS + (size_t)j * cw + (size_t)(b % tb));
}

/* Row r0 + j's block b codes for a kernel stepping nr rows from r0 (r0 a multiple of
 * QMAT_GROUP_ROWS; nr == QMAT_GROUP_ROWS only for a whole group): qmat_group_codes for
 * whole groups, else qmat_codes; nr and type constants where inlined. */
static inline uint8_t *qmat_step_codes(const struct qmat *q, enum qmat_type type, int r0, int nr, int j, int b)
{
	return nr == QMAT_GROUP_ROWS ? qmat_group_codes(q, type, r0, j, b) : qmat_codes(q, r0 + j, b);
}

/* The qmat type holding ggml type t (GGML_DT_*), or QMAT_NONE when kvlab keeps none. */
enum qmat_type qmat_type_of_ggml(uint32_t t);
/* Code bytes per block of type (16 or 32; 0 for QMAT_NONE). */
int qmat_code_bytes(enum qmat_type type);
/* Fills q from rows x cols of ggml type t stored as in a GGUF file (qmat_type_of_ggml(t)
 * must not be QMAT_NONE). q owns new memory (qmat_free); 0 or KV_ENOMEM. */
int qmat_from_ggml(struct qmat *q, uint32_t t, const void *src, int rows, int cols);
/* Reorders q's rows (codes, scales, mins): new row r is old row from[r], from a
 * permutation of 0 .. rows - 1. 0 or KV_ENOMEM (q unchanged). */
int qmat_reorder_rows(struct qmat *q, const int *from);
/* Releases q's memory and zeroes it; NULL and empty are fine. */
void qmat_free(struct qmat *q);
/* Bytes q's memory spans (codes, padding, scales and mins): the room qmat_move_to needs;
 * 0 for QMAT_NONE. */
size_t qmat_mem_bytes(const struct qmat *q);
/* Moves q's memory into dst (qmat_mem_bytes(q) bytes, 64-byte aligned; the old memory is
 * freed). dst stays the caller's: qmat_free no longer frees anything of q. */
void qmat_move_to(struct qmat *q, void *dst);
/* Bytes of q's blocks (codes, fp16 scales and mins; the padding not counted). */
size_t qmat_bytes(const struct qmat *q);

#endif
