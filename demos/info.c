/* visattn info MODEL.safetensors --shape N,C,H,W
 * What a weight file holds (block or model) and, for an input shape, its output shape and cost:
 * parameters, MACs and FLOPs, as one JSON line. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "visattn/visattn.h"

static void info_usage(FILE *f) {
    fprintf(f, "usage: visattn info MODEL.safetensors --shape N,C,H,W\n"
               "\n"
               "Prints one JSON line for the block or model in MODEL at the input shape N,C,H,W\n"
               "(required): name, kind (block or model), input and output shapes, parameters,\n"
               "MACs (convs, linears, matmuls) and FLOPs (see docs/cost.md).\n");
}

int va_cmd_info(int argc, char **argv) {
    enum { O_HELP, O_SHAPE };
    static const va_cli_opt opts[] = {{"help", 0}, {"shape", 1}, {NULL, 0}};
    va_cli_args a = {.cmd = "info", .argc = argc, .argv = argv};
    const char *path = NULL, *v;
    int64_t in[4] = {0, 0, 0, 0};
    for (int k; (k = va_cli_next(&a, opts, &v)) != VA_CLI_END;) {
        if (k == VA_CLI_USAGE) return VA_EXIT_USAGE;
        if (k == O_HELP) {
            info_usage(stdout);
            return VA_EXIT_OK;
        }
        if (k == O_SHAPE && va_cli_parse_shape(v, in)) return VA_EXIT_USAGE;
        if (k == VA_CLI_OPERAND) {
            if (path) {
                va_cli_error("info: too many arguments ('%s')", v);
                return VA_EXIT_USAGE;
            }
            path = v;
        }
    }
    if (!path) {
        info_usage(stderr);
        return VA_EXIT_USAGE;
    }
    if (in[0] == 0) {
        va_cli_error("info: --shape N,C,H,W is required");
        return VA_EXIT_USAGE;
    }
    va_error err = {0};
    va_block *b = NULL;
    va_cost c;
    int64_t out[4];
    if (va_block_load_file(path, &b, &err) != VA_OK ||
        va_block_out_shape(b, in, out, &err) != VA_OK || va_block_cost(b, in, &c, &err) != VA_OK) {
        va_cli_error("%s", err.msg);
        va_block_destroy(b);
        return 1;
    }
    printf("{\"name\": \"%s\", \"kind\": \"%s\", \"input\": [%lld, %lld, %lld, %lld], "
           "\"output\": [%lld, %lld, %lld, %lld], \"params\": %lld, \"macs\": %lld, "
           "\"flops\": %lld}\n",
           va_block_name(b), b->ops->kind == VA_KIND_BLOCK ? "block" : "model", (long long)in[0],
           (long long)in[1], (long long)in[2], (long long)in[3], (long long)out[0],
           (long long)out[1], (long long)out[2], (long long)out[3], (long long)c.params,
           (long long)c.macs, (long long)c.flops);
    va_block_destroy(b);
    return 0;
}
