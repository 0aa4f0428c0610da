/* The visattn command line: one file per command. Each returns the process exit status. */
#ifndef VISATTN_CLI_H
#define VISATTN_CLI_H

#include <stdint.h>

int va_cmd_run(int argc, char **argv);
int va_cmd_info(int argc, char **argv);
int va_cmd_bench(int argc, char **argv);
int va_cmd_eval(int argc, char **argv);
int va_cmd_heatmap(int argc, char **argv);

/* Shared helpers (cli.c). */
/* Parse --threads N; returns 0 and sets *n, or prints an error and returns -1. */
int va_cli_parse_threads(const char *arg, int *n);
/* Apply VISATTN_NUM_THREADS, then n if > 0; prints an error and returns -1 on a bad variable. */
int va_cli_setup_threads(int n);
/* Parse N,C,H,W; returns 0, or prints an error and returns -1. */
int va_cli_parse_shape(const char *s, int64_t shape[4]);
/* Print "visattn: <msg>" on stderr. */
void va_cli_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

#endif
