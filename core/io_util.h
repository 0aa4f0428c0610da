/* Helpers shared by the file readers and writers in core/ (not public API). */
#ifndef VISATTN_CORE_IO_UTIL_H
#define VISATTN_CORE_IO_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "visattn/error.h"

/* Little-endian float32 into 4 bytes, whatever the host byte order (both file formats are LE). */
static inline void store_le_f32(unsigned char *p, float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    p[0] = (unsigned char)bits;
    p[1] = (unsigned char)(bits >> 8);
    p[2] = (unsigned char)(bits >> 16);
    p[3] = (unsigned char)(bits >> 24);
}

/* Close a file being written; if any write failed (ok == 0) or the close fails, remove the file so
 * no half-written file is left behind to fail later with a stranger error. saved_errno is errno
 * as it was after the last write. */
static inline va_status va_finish_write(FILE *f, int ok, int saved_errno, const char *path,
                                        va_error *err) {
    if (fclose(f) != 0 && ok) {
        ok = 0;
        saved_errno = errno;
    }
    if (ok) return VA_OK;
    remove(path);
    return va_fail(err, VA_ERR_IO, "%s: write failed: %s", path, strerror(saved_errno));
}

/* 1 if the JSON text holds the escape \u0000 (a backslash preceded by an even number of
 * backslashes, then u0000): decoded into a C string it would cut a name or value short, so that
 * "se\u0000x" would name the block "se" here and something else to Python. */
static inline int va_json_has_nul_escape(const char *t, size_t n) {
    size_t run = 0; /* backslashes just before t[i] */
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '\\' && run % 2 == 0 && n - i >= 6 && (t[i + 1] == 'u' || t[i + 1] == 'U') &&
            !memcmp(t + i + 2, "0000", 4))
            return 1;
        run = t[i] == '\\' ? run + 1 : 0;
    }
    return 0;
}

/* Map a regular file read-only (core/mapfile.c). An empty file gives *map = NULL, *len = 0 and
 * VA_OK: the format's parser reports it. Errors name the path. */
va_status va_map_file(const char *path, void **map, size_t *len, va_error *err);
void va_unmap_file(void *map, size_t len);

/* 1 if two members of a JSON object share a key (*dup names it), -1 if out of memory, else 0
 * (core/config.c). The safetensors header and block configs both refuse repeated keys. */
struct cJSON;
int va_json_object_duplicate(const struct cJSON *obj, const char **dup);

#endif
