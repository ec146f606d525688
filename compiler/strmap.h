/* strmap.h - a hash map from strings to pointers, in an arena.
 *
 * The front end's lookups by name (variables of a scope, blocks, naming
 * counters) go through it, so a file with many names costs linear time.
 * Keys are not copied (they live in the same arena); entries are never
 * removed. A zeroed strmap is empty and ready to use.
 */
#ifndef STRMAP_H
#define STRMAP_H

#include "arena.h"

typedef struct strmap {
    const char **keys;
    void **vals;
    int cap, n;
} strmap;

/* The value stored under key, or NULL. */
void *strmap_get(const strmap *m, const char *key);
/* Stores val under key (replacing what was there). */
void strmap_put(arena *ar, strmap *m, const char *key, void *val);

#endif
