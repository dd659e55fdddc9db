/* Default data locations from any folder: kvlab's defaults are paths relative to the
 * repository root ("models/...", "../shared/data/..."), which only resolve when kvlab runs
 * there. kv_find_default looks for them elsewhere too. */
#ifndef KVLAB_BASE_PATHS_H
#define KVLAB_BASE_PATHS_H

#include <stddef.h>

/* The path to use for the default rel: rel itself when it exists from the current folder,
 * else $KVLAB_HOME/rel, else rel beside the running kvlab binary (its folder and up to three
 * folders above it: ./kvlab and build/rel/kvlab both find the repository). Writes it into
 * out (len bytes) and returns out; rel itself when found nowhere (messages then name it). */
const char *kv_find_default(const char *rel, char *out, size_t len);

/* Writes the absolute, symlink-free form of the existing path into out (len bytes) for
 * recording where data came from, and returns out; the path as given when it cannot be
 * resolved (it does not exist, or is too long). */
const char *kv_abs_path(const char *path, char *out, size_t len);

#endif
