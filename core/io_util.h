/* Helpers shared by the file readers and writers in core/ (not public API). */
#ifndef VISATTN_CORE_IO_UTIL_H
#define VISATTN_CORE_IO_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "visattn/error.h"

/* ---- Little-endian loads (both file formats are LE whatever the host is). Data may sit at any
 * byte offset (a header length need not be a multiple of 4), so these go through bytes rather than
 * casting a pointer. ---------------------------------------------------------------------------- */

static inline uint64_t load_le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline uint16_t load_le16(const unsigned char *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline float bits_to_f32(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline float load_le_f32(const unsigned char *p) {
    return bits_to_f32((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
                       ((uint32_t)p[3] << 24));
}

static inline double load_le_f64(const unsigned char *p) {
    uint64_t bits = load_le64(p);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* IEEE binary16 -> binary32, exact for every input: subnormal halves become normal floats, inf and
 * nan keep their sign and payload. */
static inline float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {
            /* value = mant * 2^-24; renormalise so the leading 1 becomes the implicit bit. */
            uint32_t e = 127 - 15 + 1;
            while (!(mant & 0x400u)) {
                mant <<= 1;
                e--;
            }
            bits = sign | (e << 23) | ((mant & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    return bits_to_f32(bits);
}

/* bfloat16 is the top half of a binary32. */
static inline float bf16_to_f32(uint16_t h) {
    return bits_to_f32((uint32_t)h << 16);
}

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
