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
        "with 'visattn.config') on INPUT (an NCHW .npy array of float32, float64 or float16)\n"
        "and writes OUTPUT (float32).\n"
        "  --maps DIR     also write each attention map as DIR/<map>.npy (DIR is created\n"
        "                 if needed)\n"
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
    enum { O_HELP, O_THREADS, O_MAPS };
    static const va_cli_opt opts[] = {{"help", 0}, {"threads", 1}, {"maps", 1}, {NULL, 0}};
    va_cli_args a = {.cmd = "run", .argc = argc, .argv = argv};
    const char *pos[3], *v, *maps_dir = NULL;
    int npos = 0, threads = 0;
    for (int k; (k = va_cli_next(&a, opts, &v)) != VA_CLI_END;) {
        if (k == VA_CLI_USAGE) return VA_EXIT_USAGE;
        if (k == O_HELP) {
            run_usage(stdout);
            return VA_EXIT_OK;
        }
        if (k == O_THREADS && va_cli_parse_threads(v, &threads)) return VA_EXIT_USAGE;
        if (k == O_MAPS) maps_dir = v;
        if (k == VA_CLI_OPERAND) {
            if (npos == 3) {
                va_cli_error("run: too many arguments ('%s')", v);
                return VA_EXIT_USAGE;
            }
            pos[npos++] = v;
        }
    }
    if (npos != 3) {
        run_usage(stderr);
        return VA_EXIT_USAGE;
    }
    /* Every output location is checked (the maps directory created) before anything is written. */
    if (va_cli_check_output_file(pos[2]) || (maps_dir && va_cli_make_dir(maps_dir)))
        return VA_EXIT_FAIL;
    if (va_cli_setup_threads(threads)) return VA_EXIT_USAGE;

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
