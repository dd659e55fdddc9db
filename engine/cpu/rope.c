/* CPU RoPE, rotate-half convention (transformers' apply_rotary_pos_emb): for
 * i < D/2, (x_i, x_{i+D/2}) rotates by angle pos * inv_freq[i], the angle formed
 * in fp32 as transformers forms it. */
#include <math.h>
#include <stdlib.h>

#include "engine/cpu/cpu_ops.h"

void cpu_rope(float *x, int ld, const int32_t *pos, int T, int nh, int D, const float *inv_freq)
{
	int half = D / 2;
#pragma omp parallel if (T > 8)
	{
		/* (cos[half], sin[half]) of one token; without it (out of memory) each head forms
		 * the same angles again: the same values, only slower */
		float *cs = malloc(sizeof(float) * (size_t)D);
#pragma omp for schedule(static)
		for (int t = 0; t < T; t++) {
			for (int i = 0; cs && i < half; i++) {
				float a = (float)pos[t] * inv_freq[i];
				cs[i] = cosf(a);
				cs[half + i] = sinf(a);
			}
			for (int h = 0; h < nh; h++) {
				float *v = x + (size_t)t * ld + (size_t)h * D;
				for (int i = 0; i < half; i++) {
					float c, sn;
					if (cs) {
						c = cs[i];
						sn = cs[half + i];
					} else {
						float a = (float)pos[t] * inv_freq[i];
						c = cosf(a);
						sn = sinf(a);
					}
					float x1 = v[i], x2 = v[i + half];
					v[i] = x1 * c - x2 * sn;
					v[i + half] = x2 * c + x1 * sn;
				}
			}
		}
		free(cs);
	}
}
