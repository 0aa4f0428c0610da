#include "visattn/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Messages are one line by contract: fold any newline a caller or a file name let through. */
static void fold_lines(char *msg) {
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
}

va_status va_fail(va_error *err, va_status st, const char *fmt, ...) {
    if (err && !fmt) {
        /* Still a failure with a reason: the status the caller meant, and who dropped the text. */
        snprintf(err->msg, sizeof err->msg, "va_fail: fmt is NULL");
        err->status = st;
    } else if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        fold_lines(err->msg);
        err->status = st;
    }
    return st;
}

va_status va_error_prefix(va_error *err, const char *prefix) {
    if (!err) return VA_ERR_ARG;
    if (!prefix) return err->status; /* NULL reads as "": nothing to add */
    char tmp[VA_ERROR_MSG_LEN];
    if (snprintf(tmp, sizeof tmp, "%s: %s", prefix, err->msg) < 0) return err->status;
    memcpy(err->msg, tmp, sizeof tmp); /* truncation keeps the start: the prefix and the reason */
    fold_lines(err->msg);
    return err->status;
}

const char *va_status_str(va_status st) {
    switch (st) {
    case VA_OK: return "ok";
    case VA_ERR_ARG: return "invalid argument";
    case VA_ERR_SHAPE: return "shape mismatch";
    case VA_ERR_IO: return "I/O error";
    case VA_ERR_FORMAT: return "malformed file";
    case VA_ERR_NOMEM: return "out of memory";
    case VA_ERR_KEY: return "weight key error";
    case VA_ERR_CONFIG: return "invalid configuration";
    case VA_ERR_UNSUPPORTED: return "unsupported";
    }
    return "unknown status";
}
