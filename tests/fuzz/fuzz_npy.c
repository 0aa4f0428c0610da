/* libFuzzer target: the .npy reader on arbitrary bytes. An accepted array must have a shape whose
 * element count matches what was allocated; rejected input must leave a one-line message. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "visattn/visattn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    va_error err = {0};
    va_tensor t;
    if (va_npy_read_memory(data, size, "fuzz.npy", &t, &err) != VA_OK) {
        fuzz_check_message(&err);
        return 0;
    }
    if (t.ndim < 0 || t.ndim > VA_MAX_DIM) abort();
    int64_t n = va_numel(&t);
    /* Touch every element: ASan catches a buffer smaller than the shape says. */
    volatile float sink = 0.0f;
    for (int64_t i = 0; i < n; i++)
        sink += t.data[i];
    (void)sink;
    va_tensor_free(&t);
    return 0;
}
