/* Output names for a batch of input files: each input's file name without its extension, made
 * unique within the batch so that no two inputs' outputs share a name. The rule depends on the
 * command line alone (the inputs and their order), so the same command names its files the same
 * way every time. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* A set of strings (open addressing, linear probing); it holds pointers to the caller's strings.
 * Sized for every name a batch can add, so it never fills. */
typedef struct name_set {
    const char **slot;
    size_t mask;
} name_set;

static size_t name_hash(const char *s) {
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

static int set_init(name_set *s, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n + 2)
        cap <<= 1;
    s->slot = calloc(cap, sizeof *s->slot);
    s->mask = cap - 1;
    return s->slot ? 0 : -1;
}

/* The slot holding name, or the empty slot where it would go. */
static const char **set_find(const name_set *s, const char *name) {
    size_t i = name_hash(name) & s->mask;
    while (s->slot[i] && strcmp(s->slot[i], name) != 0)
        i = (i + 1) & s->mask;
    return &s->slot[i];
}

static int set_has(const name_set *s, const char *name) {
    return *set_find(s, name) != NULL;
}

static void set_add(name_set *s, const char *name) {
    const char **p = set_find(s, name);
    if (!*p) *p = name;
}

/* The file name without its directory and its last extension; "image" if nothing is left. A
 * leading dot is part of the name (".hidden.png" -> ".hidden"). */
static void file_stem(const char *path, char *buf, size_t len) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(buf, len, "%s", base);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf) *dot = '\0';
    if (!buf[0]) snprintf(buf, len, "image");
}

int va_cli_batch_stems(const char *const *paths, int n, char (*stems)[VA_CLI_STEM_MAX]) {
    /* A stem is cut at 255 bytes (the longest file name), leaving room for a "-<k>" suffix. */
    enum { STEM_CUT = 256 };
    _Static_assert(VA_CLI_STEM_MAX >= STEM_CUT + 12, "room for the -<k> suffix");
    char(*own)[STEM_CUT] = calloc(n > 0 ? (size_t)n : 1, sizeof *own);
    name_set own_set = {0}, given = {0};
    int rc = -1;
    if (!own || set_init(&own_set, (size_t)n) || set_init(&given, (size_t)n)) goto done;
    for (int i = 0; i < n; i++) {
        file_stem(paths[i], own[i], sizeof own[i]);
        set_add(&own_set, own[i]);
    }
    /* In command-line order: an input keeps its own stem unless an earlier input has it; then it
     * gets <stem>-2, -3, ...: the first that no earlier input was given and that is no input's own
     * stem (so a later b/x-2.png still keeps "x-2"). */
    for (int i = 0; i < n; i++) {
        if (set_has(&given, own[i])) {
            for (int k = 2;; k++) {
                snprintf(stems[i], VA_CLI_STEM_MAX, "%s-%d", own[i], k);
                if (!set_has(&own_set, stems[i]) && !set_has(&given, stems[i])) break;
            }
        } else {
            memcpy(stems[i], own[i], strlen(own[i]) + 1);
        }
        set_add(&given, stems[i]);
    }
    rc = 0;
done:
    free(own_set.slot);
    free(given.slot);
    free(own);
    return rc;
}
