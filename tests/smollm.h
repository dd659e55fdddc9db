/* Test helper: the SmolLM2 test model (T_MODEL), loaded once per test program. */
#ifndef KVLAB_TESTS_SMOLLM_H
#define KVLAB_TESTS_SMOLLM_H

#include <stdio.h>

#include "engine/model.h"
#include "tests/test.h" // T_MODEL

/* The model at T_MODEL, loaded on the first call (a failure is reported once on stderr and
 * gives NULL on every call). The program owns it: model_free(smollm()) once at the end. */
static inline struct model *smollm(void)
{
	static struct model *m;
	static int tried;
	char err[512];
	if (!tried) {
		tried = 1;
		if (model_load(T_MODEL, &m, err, sizeof(err))) {
			fprintf(stderr, "  cannot load %s (%s): run make model\n", T_MODEL, err);
			m = NULL;
		}
	}
	return m;
}

#endif
