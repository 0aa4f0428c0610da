/* visattn info MODEL.safetensors [--shape N,C,H,W]
 * What a weight file holds (block or model, config) and, for an input shape, its output shape and
 * cost: parameters, MACs and FLOPs, as one JSON line. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "visattn/visattn.h"

static void info_usage(FILE *f) {
    fprintf(f,
            "usage: visattn info MODEL.safetensors [--shape N,C,H,W]\n"
            "\n"
            "Prints one JSON line: the block or model in MODEL, its config, and for the input shape\n"
            "(default 1,C,56,56 with C from the config when it can be inferred) the output shape,\n"
            "parameters, MACs (convs, linears, matmuls) and FLOPs (see docs/cost.md).\n");
}

int va_cli_parse_shape(const char *s, int64_t shape[4]) {
    long long v[4];
    char tail;
    if (!s || sscanf(s, "%lld,%lld,%lld,%lld%c", &v[0], &v[1], &v[2], &v[3], &tail) != 4) {
        va_cli_error("--shape needs N,C,H,W (four positive integers), got '%s'", s ? s : "");
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        if (v[i] < 1 || v[i] > (1LL << 24)) {
            va_cli_error("--shape: dimension %d is %lld, must be in 1..16777216", i, v[i]);
            return -1;
        }
        shape[i] = v[i];
    }
    return 0;
}

int va_cmd_info(int argc, char **argv) {
    const char *path = NULL;
    int64_t in[4] = {0, 0, 0, 0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            info_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--shape") == 0) {
            if (va_cli_parse_shape(i + 1 < argc ? argv[++i] : NULL, in)) return 2;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            va_cli_error("info: unknown option '%s'", argv[i]);
            return 2;
        } else if (!path) {
            path = argv[i];
        } else {
            va_cli_error("info: too many arguments ('%s')", argv[i]);
            return 2;
        }
    }
    if (!path || in[0] == 0) {
        if (!path) {
            info_usage(stderr);
            return 2;
        }
        va_cli_error("info: --shape N,C,H,W is required");
        return 2;
    }
    va_error err = {0};
    va_block *b = NULL;
    va_cost c;
    int64_t out[4];
    if (va_block_load_file(path, &b, &err) != VA_OK || va_block_out_shape(b, in, out, &err) != VA_OK ||
        va_block_cost(b, in, &c, &err) != VA_OK) {
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
