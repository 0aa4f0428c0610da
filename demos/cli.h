/* The visattn command line: one file per command. Each returns the process exit status. */
#ifndef VISATTN_CLI_H
#define VISATTN_CLI_H

#include <stdint.h>

/* Exit status of every command: 0 success, 1 a failure on the input (a file that cannot be read
 * or written, a model that refuses the input), 2 a usage error (unknown option, bad value). */
enum { VA_EXIT_OK = 0, VA_EXIT_FAIL = 1, VA_EXIT_USAGE = 2 };

int va_cmd_run(int argc, char **argv);
int va_cmd_info(int argc, char **argv);
int va_cmd_bench(int argc, char **argv);
int va_cmd_eval(int argc, char **argv);
int va_cmd_heatmap(int argc, char **argv);

/* ---- One option parser for every command (cli.c) ----------------------------------------------
 * Options are "--name value", "--name=value", or "--name" for a flag; "-h" is "--help"; "--" ends
 * the options, so that later arguments starting with '-' are operands; a lone "-" is an operand.
 * Anything else starting with '-' is an unknown option. */
typedef struct va_cli_opt {
    const char *name; /* without the dashes; NULL ends a table */
    int has_value;
} va_cli_opt;

typedef struct va_cli_args {
    const char *cmd; /* for messages: "visattn: <cmd>: unknown option '-o'" */
    int argc, i, operands_only;
    char **argv;
} va_cli_args;

enum { VA_CLI_OPERAND = -1, VA_CLI_END = -2, VA_CLI_USAGE = -3 };

/* The next argument: an option's index in opts (its value in *value, NULL for a flag),
 * VA_CLI_OPERAND with the operand in *value, VA_CLI_END, or VA_CLI_USAGE after printing a usage
 * error (unknown option, missing value, a value given to a flag). argv[0] is skipped. */
int va_cli_next(va_cli_args *a, const va_cli_opt *opts, const char **value);

/* Shared helpers (cli.c). */
/* Parse --threads N; returns 0 and sets *n, or prints an error and returns -1. */
int va_cli_parse_threads(const char *arg, int *n);
/* The thread count, in this order: n if > 0 (--threads), $VISATTN_NUM_THREADS, $OMP_NUM_THREADS
 * (its first number), all cores. A count above the cores this process may use is lowered to
 * that with a warning. Prints an error and returns -1 on a bad variable. */
int va_cli_setup_threads(int n);
/* Parse N,C,H,W; returns 0, or prints an error and returns -1. */
int va_cli_parse_shape(const char *s, int64_t shape[4]);
/* The assets directory (models/, images/): $VISATTN_ASSETS, else <dir of the executable>/../assets
 * (the build tree), else <dir of the executable>/../share/visattn (an install), else ./assets;
 * the first that is a directory, written to buf. -1 (nothing printed) if none is. */
int va_cli_assets_dir(char *buf, size_t size);
/* Create dir and its parents (mkdir -p), then require a writable directory; prints an error
 * naming dir and returns -1 otherwise. */
int va_cli_make_dir(const char *dir);
/* Before any work: an output file's directory exists and is writable, and the path is not a
 * directory; prints an error naming path and returns -1 otherwise. */
int va_cli_check_output_file(const char *path);
/* Output names for a batch of input files (stems.c): stems[i] is the file name of paths[i]
 * without its directory and last extension ("image" if that leaves nothing), unique in the batch.
 * In command-line order, an input keeps its stem unless an earlier input has it; it then gets
 * <stem>-2, -3, ...: the first number that no earlier input was given and that is not some
 * input's own stem. Returns 0, or -1 when out of memory (nothing printed). */
#define VA_CLI_STEM_MAX 288
int va_cli_batch_stems(const char *const *paths, int n, char (*stems)[VA_CLI_STEM_MAX]);
/* Print "visattn: <msg>" on stderr, as one whole line even when several threads print. */
void va_cli_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

#endif
