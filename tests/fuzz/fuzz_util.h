/* Shared by the fuzz targets: checks that hold for every rejected input. */
#ifndef VISATTN_FUZZ_UTIL_H
#define VISATTN_FUZZ_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "visattn/error.h"

/* A failed call must say why in one non-empty line. */
static inline void fuzz_check_message(const va_error *err) {
    if (err->msg[0] == '\0' || strchr(err->msg, '\n')) abort();
}

#endif
