/* Conversions between the fp32 K/V the forward computes and the 16-bit element types a
 * KV cache may store them in (--kv_dtype f16 | bf16), round to nearest even, bit for bit
 * as engine/quant.c's scalar quant_f32_to_f16 / quant_f32_to_bf16 (F16C where the CPU
 * has it). Host memory only. n = elements. */
#ifndef KVLAB_ENGINE_KV_CONVERT_H
#define KVLAB_ENGINE_KV_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/backend.h" // enum kv_dtype

/* dst (n,) = src (n,) rounded to t (KV_DTYPE_F16 or KV_DTYPE_BF16); nothing allocated. */
void kv_convert_store(uint16_t *dst, const float *src, size_t n, enum kv_dtype t);
/* dst (n,) = src (n,) of type t widened to fp32 (exact); nothing allocated. */
void kv_convert_load(float *dst, const uint16_t *src, size_t n, enum kv_dtype t);

#endif
