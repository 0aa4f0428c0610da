/* libFuzzer target: image loading and preprocessing (libvisattn_vis) as `visattn heatmap` does
 * them.
 *
 * Decodes the input with the pixel limit set low (so that fuzzing measures bugs, not allocation
 * time), then turns an accepted image into model inputs (grey 28 x 28 and RGB at an odd size) and
 * into a display copy. Rejected input must leave a one-line message. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "visattn/vis.h"

#define FUZZ_MAX_PIXELS (4LL * 1000 * 1000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    va_error err = {0};
    va_image img;
    if (va_image_load_memory(data, size, "fuzz.img", FUZZ_MAX_PIXELS, &img, &err) != VA_OK) {
        fuzz_check_message(&err);
        return 0;
    }
    if (img.w <= 0 || img.h <= 0 || (int64_t)img.w * img.h > FUZZ_MAX_PIXELS) abort();
    static const va_preprocess pps[2] = {
        {1, 28, 28, {0.2860f, 0, 0}, {0.3530f, 1, 1}, 0},
        {3, 13, 37, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}, 0},
    };
    for (int k = 0; k < 2; k++) {
        va_tensor x;
        if (va_image_to_input(&img, &pps[k], &x, &err) != VA_OK) abort(); /* valid image and pp */
        va_tensor_free(&x);
    }
    va_image small;
    if (va_image_resize(&img, 64, 48, &small, &err) != VA_OK) abort();
    va_image_free(&small);
    va_image_free(&img);
    return 0;
}
