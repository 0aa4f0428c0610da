/* Status codes and the error record every fallible call fills. The library never prints or exits:
 * a call that fails returns a non-zero va_status and leaves a one-line reason in va_error.msg.
 *
 * NULL and aliasing, for every public call of visattn: a `va_error *err` may always be NULL (the
 * status is still returned, only the message is lost). Any other pointer must be non-NULL unless
 * the function's comment says what NULL means. A NULL where one is required gives VA_ERR_ARG with
 * a message naming the function and the argument ("va_conv2d: x is NULL"); calls that cannot
 * report follow their header: queries return 0, -1, NULL or "" as documented, void calls do
 * nothing. An output that overlaps an input of an op that is not in place is VA_ERR_ARG too. */
#ifndef VISATTN_ERROR_H
#define VISATTN_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum va_status {
    VA_OK = 0,
    VA_ERR_ARG,        /* bad argument to a call (NULL, out of range, overlapping output) */
    VA_ERR_SHAPE,      /* tensor shape does not fit the operation */
    VA_ERR_IO,         /* a file could not be opened, read or written */
    VA_ERR_FORMAT,     /* a file's contents are malformed (truncated, bad header, ...) */
    VA_ERR_NOMEM,      /* allocation failed or a size would overflow */
    VA_ERR_KEY,        /* a weight key is missing, unexpected or has the wrong shape */
    VA_ERR_CONFIG,     /* a block/model configuration is invalid */
    VA_ERR_UNSUPPORTED /* valid input that visattn does not handle (yet) */
} va_status;

#define VA_ERROR_MSG_LEN 512

typedef struct va_error {
    va_status status;
    char msg[VA_ERROR_MSG_LEN];
} va_error;

/* Fill err (if not NULL) with a printf-style message and return st. A NULL fmt still sets
 * err->status = st, with the message "va_fail: fmt is NULL". */
va_status va_fail(va_error *err, va_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Prefix err->msg with "prefix: " (e.g. a file name) keeping its status; returns err->status.
 * A NULL prefix adds nothing; a NULL err returns VA_ERR_ARG (there is no message to prefix). */
va_status va_error_prefix(va_error *err, const char *prefix);

/* A short name ("invalid argument"); "unknown status" for a value outside the enum. */
const char *va_status_str(va_status st);

/* Propagate a non-OK status to the caller. */
#define VA_TRY(expr)                                                                               \
    do {                                                                                           \
        va_status va_try_st_ = (expr);                                                             \
        if (va_try_st_ != VA_OK) return va_try_st_;                                                \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
