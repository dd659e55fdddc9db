/* CPU residual add: x += y elementwise. */
#include "engine/cpu/cpu_ops.h"

void cpu_add(float *x, const float *y, size_t n)
{
#pragma omp parallel for schedule(static) if (n > 65536)
	for (size_t i = 0; i < n; i++)
		x[i] += y[i];
}
