/* strmap.c - see strmap.h. Open addressing, linear probing, FNV-1a. */
#include "strmap.h"

#include <stdint.h>
#include <string.h>

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The slot of key, or the empty slot where it would go. */
static int find(const strmap *m, const char *key)
{
    int mask = m->cap - 1;
    int i = (int)(hash(key) & (uint32_t)mask);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & mask;
    return i;
}

void *strmap_get(const strmap *m, const char *key)
{
    if (m->cap == 0)
        return NULL;
    int i = find(m, key);
    return m->keys[i] ? m->vals[i] : NULL;
}

static void grow(arena *ar, strmap *m)
{
    strmap bigger = {NULL, NULL, m->cap ? m->cap * 2 : 16, 0};
    bigger.keys = arena_alloc(ar, sizeof(char *) * (size_t)bigger.cap);
    bigger.vals = arena_alloc(ar, sizeof(void *) * (size_t)bigger.cap);
    for (int i = 0; i < m->cap; i++)
        if (m->keys[i]) {
            int j = find(&bigger, m->keys[i]);
            bigger.keys[j] = m->keys[i];
            bigger.vals[j] = m->vals[i];
            bigger.n++;
        }
    *m = bigger;
}

void strmap_put(arena *ar, strmap *m, const char *key, void *val)
{
    if (2 * (m->n + 1) > m->cap)
        grow(ar, m);
    int i = find(m, key);
    if (!m->keys[i]) {
        m->keys[i] = key;
        m->n++;
    }
    m->vals[i] = val;
}
