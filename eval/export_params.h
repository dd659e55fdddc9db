/* The method defaults the reports and exports compare a run's parameters against (see
 * results/run_label.h): a method's describe JSON when it is given no parameter. */
#ifndef KVLAB_EVAL_EXPORT_PARAMS_H
#define KVLAB_EVAL_EXPORT_PARAMS_H

#include "results/run_label.h" // struct run_defaults

/* Borrowed (static): a provider that builds each method's default JSON (any registered or
 * composed method) from its parameter table, on a stand-in model shape large enough for
 * every default layer index. */
const struct run_defaults *export_params_defaults(void);

#endif
