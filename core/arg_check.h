/* The NULL check at the boundary of every public call (not public API). error.h promises
 * VA_ERR_ARG for a NULL argument; the message names the function and the argument, e.g.
 * "va_conv2d: x is NULL", so a caller can tell which of several pointers was missing. Checked
 * once per call, never per element. Expects a `va_error *err` in scope (NULL is fine). */
#ifndef VISATTN_CORE_ARG_CHECK_H
#define VISATTN_CORE_ARG_CHECK_H

#include "visattn/error.h"

#define VA_ARG_NONNULL(p, fn)                                                                      \
    do {                                                                                           \
        if (!(p)) return va_fail(err, VA_ERR_ARG, fn ": " #p " is NULL");                          \
    } while (0)

#endif
