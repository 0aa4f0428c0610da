/* visattn: command-line front end. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "visattn/visattn.h"

static void usage(FILE *f) {
    fprintf(
        f, "usage: visattn COMMAND [ARGS]\n"
           "\n"
           "commands:\n"
           "  run MODEL.safetensors INPUT.npy OUTPUT.npy   run a block or model on an array\n"
           "  info MODEL.safetensors --shape N,C,H,W       output shape, params, MACs, FLOPs\n"
           "  bench [--blocks ...] [--shape ...] [...]     cost and latency of every block\n"
           "  eval MODEL IMAGES.idx[.gz] LABELS.idx[.gz]   accuracy of a classifier on IDX data\n"
           "  eval MODEL FOLDER                            ... or on class folders of images\n"
           "  heatmap IMAGE... [--block all|LIST] [...]    attention maps over images (PNG)\n"
           "  list                                         list the registered blocks and models\n"
           "\n"
           "  visattn COMMAND --help    help for one command\n"
           "  visattn --version         print the version\n"
           "\n"
           "Options: --name value or --name=value; -- ends the options (later arguments are\n"
           "files even if they start with '-').\n"
           "Threads: --threads N on a command, else VISATTN_NUM_THREADS, else OMP_NUM_THREADS,\n"
           "else all cores; a count above the cores available is lowered to them, with a warning.\n"
           "Exit status: 0 success, 1 a failure on the input (a file that cannot be read or\n"
           "written, a model that refuses it), 2 a usage error (unknown command, option or\n"
           "block, a bad option value).\n");
}

static int cmd_list(int argc, char **argv) {
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: visattn list\n\nList the registered attention blocks and models.\n");
        return 0;
    }
    if (argc > 1) {
        va_cli_error("list: unexpected argument '%s'", argv[1]);
        return VA_EXIT_USAGE;
    }
    const va_block_ops *o;
    for (int i = 0; (o = va_ops_at(i)) != NULL; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s%s%s", o->name, o->alias ? " / " : "",
                 o->alias ? o->alias : "");
        printf("%-6s %-24s %s\n", o->kind == VA_KIND_BLOCK ? "block" : "model", name, o->summary);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        if (va_cli_setup_threads(0)) return 2;
        int t = va_get_num_threads();
        printf("visattn %s (OpenBLAS kernel %s, %d thread%s)\n", VISATTN_VERSION, va_blas_kernel(),
               t, t == 1 ? "" : "s");
        return 0;
    }
    if (strcmp(cmd, "run") == 0) return va_cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "bench") == 0) return va_cmd_bench(argc - 1, argv + 1);
    if (strcmp(cmd, "info") == 0) return va_cmd_info(argc - 1, argv + 1);
    if (strcmp(cmd, "eval") == 0) return va_cmd_eval(argc - 1, argv + 1);
    if (strcmp(cmd, "heatmap") == 0) return va_cmd_heatmap(argc - 1, argv + 1);
    if (strcmp(cmd, "list") == 0) return cmd_list(argc - 1, argv + 1);
    va_cli_error("unknown command '%s' (see visattn --help)", cmd);
    return 2;
}
