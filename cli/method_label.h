/* How figures name a run's method: "METHOD k=v ..." with only the parameters that differ
 * from the method's defaults. Lives in cli/ because it reads the methods' parameter tables
 * and results/ (which draws the figures) sits below methods/; the plot commands hand it to
 * results/ as a function pointer. */
#ifndef KVLAB_CLI_METHOD_LABEL_H
#define KVLAB_CLI_METHOD_LABEL_H

#include <stddef.h>

/* Writes into buf (always terminated) the method name followed by " key=value" for every
 * parameter of method_json (a run's runs.method_json) that differs from its default in the
 * method's table, in the JSON's order; a composed method's halves ("reduction",
 * "retention") each add theirs, a key both give with one value once. A key the table does
 * not know is kept; an unknown method, or a method_json that is not a JSON object, gives the
 * method name alone. Floats print with %g, so 0.10000000000000001 reads 0.1. A pair that does
 * not fit in buf whole is left out. */
void method_label(const char *method, const char *method_json, char *buf, size_t len);

#endif
