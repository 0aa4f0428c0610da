#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "visattn/visattn.h"

void va_cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("visattn: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int va_cli_parse_threads(const char *arg, int *n) {
    char *end;
    errno = 0;
    long v = arg ? strtol(arg, &end, 10) : 0;
    if (!arg || errno || *end || v < 1 || v > 4096) {
        va_cli_error("--threads needs a positive integer, got '%s'", arg ? arg : "");
        return -1;
    }
    *n = (int)v;
    return 0;
}

int va_cli_setup_threads(int n) {
    va_error err = {0};
    if (va_threads_from_env(&err) != VA_OK) {
        va_cli_error("%s", err.msg);
        return -1;
    }
    if (n > 0) va_set_num_threads(n);
    return 0;
}
