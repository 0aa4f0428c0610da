/* visattn run MODEL.safetensors INPUT.npy OUTPUT.npy [--maps DIR] [--threads N]
 * Build the block or model named in the file's metadata, load its weights, run one forward pass on
 * the input array and write the output (and optionally every attention map) as .npy. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "visattn/visattn.h"

static void run_usage(FILE *f) {
    fprintf(
        f,
        "usage: visattn run MODEL.safetensors INPUT.npy OUTPUT.npy [--maps DIR] [--threads N]\n"
        "\n"
        "Runs the block or model named in MODEL's metadata ('visattn.block' or 'visattn.model',\n"
        "with 'visattn.config') on INPUT (float32 NCHW) and writes OUTPUT.\n"
        "  --maps DIR     also write each attention map as DIR/<map>.npy\n"
        "  --threads N    threads for OpenMP and OpenBLAS (default: VISATTN_NUM_THREADS or all "
        "cores)\n");
}

static int write_maps(const va_run *r, const char *dir) {
    for (int i = 0; i < va_run_num_maps(r); i++) {
        const va_map *m = va_run_map(r, i);
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s.npy", dir, m->name) >= (int)sizeof path) {
            va_cli_error("%s: path too long", dir);
            return -1;
        }
        va_error err = {0};
        if (va_npy_write(path, &m->t, &err) != VA_OK) {
            va_cli_error("%s", err.msg);
            return -1;
        }
    }
    return 0;
}

int va_cmd_run(int argc, char **argv) {
    const char *pos[3];
    int npos = 0, threads = 0;
    const char *maps_dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            run_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--threads") == 0) {
            if (va_cli_parse_threads(i + 1 < argc ? argv[++i] : NULL, &threads)) return 2;
        } else if (strcmp(argv[i], "--maps") == 0) {
            if (i + 1 >= argc) {
                va_cli_error("run: --maps needs a directory");
                return 2;
            }
            maps_dir = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            va_cli_error("run: unknown option '%s'", argv[i]);
            return 2;
        } else if (npos < 3) {
            pos[npos++] = argv[i];
        } else {
            va_cli_error("run: too many arguments ('%s')", argv[i]);
            return 2;
        }
    }
    if (npos != 3) {
        run_usage(stderr);
        return 2;
    }
    if (va_cli_setup_threads(threads)) return 2;

    va_error err = {0};
    va_block *b = NULL;
    va_run *r = NULL;
    va_tensor x = {0}, y = {0};
    int rc = 1;
    int64_t out[4];
    if (va_run_create(&r, &err) != VA_OK) goto fail;
    if (!maps_dir && va_run_set_want_maps(r, 0, &err) != VA_OK) goto fail;
    if (va_block_load_file(pos[0], &b, &err) != VA_OK) goto fail;
    if (va_npy_read(pos[1], &x, &err) != VA_OK) goto fail;
    if (x.ndim != 4) {
        char s[64];
        va_fail(&err, VA_ERR_SHAPE, "%s: input must be a 4-D NCHW array, got shape %s", pos[1],
                va_shape_str(&x, s, sizeof s));
        goto fail;
    }
    if (va_block_out_shape(b, x.shape, out, &err) != VA_OK) {
        va_error_prefix(&err, pos[1]);
        goto fail;
    }
    if (va_tensor_alloc(&y, 4, out, &err) != VA_OK) goto fail;
    if (va_block_forward(b, r, &x, &y, &err) != VA_OK) goto fail;
    if (va_npy_write(pos[2], &y, &err) != VA_OK) goto fail;
    if (maps_dir && write_maps(r, maps_dir)) goto done;
    rc = 0;
    goto done;
fail:
    va_cli_error("%s", err.msg);
done:
    va_tensor_free(&x);
    va_tensor_free(&y);
    va_run_destroy(r);
    va_block_destroy(b);
    return rc;
}
