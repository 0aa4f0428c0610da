/* Helpers shared by the file readers and writers in core/ (not public API). */
#ifndef VISATTN_CORE_IO_UTIL_H
#define VISATTN_CORE_IO_UTIL_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "visattn/error.h"

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

#endif
