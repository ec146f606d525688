/* arena.h - a bump allocator: the compiler allocates everything for one run
 * (sources, AST, values, IR) from an arena and frees it all at once. */
#ifndef ARENA_H
#define ARENA_H

#include <stddef.h>

typedef struct arena_chunk arena_chunk;

typedef struct arena {
    arena_chunk *head;
} arena;

void *arena_alloc(arena *a, size_t size);           /* zeroed, aligned */
void *arena_dup(arena *a, const void *p, size_t size);
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);
char *arena_printf(arena *a, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void arena_free(arena *a);

/* A growable array in an arena: ARRAY_PUSH(a, items, n, cap, value). */
void *arena_grow(arena *a, void *items, size_t elem, int n, int *cap);
#define ARRAY_PUSH(ar, items, n, cap, value)                                   \
    do {                                                                       \
        if ((n) == (cap))                                                      \
            (items) = arena_grow((ar), (items), sizeof *(items), (n), &(cap)); \
        (items)[(n)++] = (value);                                              \
    } while (0)

#endif
