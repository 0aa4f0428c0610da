/* libFuzzer target: building a block or model from a file's metadata and weights.
 *
 * The input is a safetensors file whose "__metadata__" names a block or model and its config. If it
 * loads, the target finds an input shape the block accepts, and runs two forward passes on it
 * (the second reuses the arena) when the pass is cheap enough for fuzzing, then reads every map.
 * Any crash, sanitizer report, leak or hang is a bug. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "visattn/visattn.h"

/* Keep each execution fast: skip forwards above this much arithmetic or memory. */
#define FUZZ_MAX_FLOPS 20000000LL
#define FUZZ_MAX_ELEMS (1LL << 20)

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    va_set_num_threads(1);
    return 0;
}

/* First input shape (channels 1..256, a few spatial sizes) that the block accepts. */
static int find_shape(const va_block *b, int64_t in[4], int64_t out[4]) {
    static const int64_t hw[][2] = {{7, 5}, {8, 8}, {28, 28}, {3, 1}, {1, 1}, {16, 12}};
    va_error err = {0};
    for (size_t s = 0; s < sizeof hw / sizeof hw[0]; s++)
        for (int64_t c = 1; c <= 256; c++) {
            in[0] = 2, in[1] = c, in[2] = hw[s][0], in[3] = hw[s][1];
            if (va_block_out_shape(b, in, out, &err) == VA_OK) return 1;
        }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    va_error err = {0};
    va_block *b = NULL;
    if (va_block_load_memory(data, size, "fuzz.safetensors", &b, &err) != VA_OK) {
        fuzz_check_message(&err);
        return 0;
    }
    int64_t in[4], out[4];
    va_cost cost;
    if (!find_shape(b, in, out) || va_block_cost(b, in, &cost, &err) != VA_OK ||
        cost.flops > FUZZ_MAX_FLOPS || in[0] * in[1] * in[2] * in[3] > FUZZ_MAX_ELEMS ||
        out[0] * out[1] * out[2] * out[3] > FUZZ_MAX_ELEMS) {
        va_block_destroy(b);
        return 0;
    }
    for (int i = 0; i < 4; i++)
        if (out[i] < 0) abort();
    va_tensor x = {0}, y = {0};
    va_run *r = NULL;
    if (va_tensor_alloc(&x, 4, in, &err) != VA_OK || va_tensor_alloc(&y, 4, out, &err) != VA_OK ||
        va_run_create(&r, &err) != VA_OK)
        abort(); /* at most 4 MB each */
    int64_t n = va_numel(&x);
    for (int64_t i = 0; i < n; i++) /* a fixed pattern with both signs */
        x.data[i] = (float)((i * 7919) % 255) / 64.0f - 2.0f;
    for (int pass = 0; pass < 2; pass++) {
        if (va_block_forward(b, r, &x, &y, &err) != VA_OK) {
            fuzz_check_message(&err);
            break;
        }
        volatile float sink = 0.0f;
        int64_t m = va_numel(&y);
        for (int64_t i = 0; i < m; i++)
            sink += y.data[i];
        for (int k = 0; k < va_run_num_maps(r); k++) {
            const va_map *mp = va_run_map(r, k);
            int64_t mn = va_numel(&mp->t);
            for (int64_t i = 0; i < mn; i++)
                sink += mp->t.data[i];
        }
        (void)sink;
    }
    va_tensor_free(&x);
    va_tensor_free(&y);
    va_run_destroy(r);
    va_block_destroy(b);
    return 0;
}
