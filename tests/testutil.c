#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void va_test_fill_random(float *x, int64_t n, uint32_t seed) {
    uint32_t s = seed ? seed : 0x9E3779B9u;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        x[i] = (float)((double)s / 4294967296.0 * 2.0 - 1.0);
    }
}

float va_test_max_abs_diff(const float *a, const float *b, int64_t n) {
    float m = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (d > m || isnan(d)) m = isnan(d) ? INFINITY : d;
    }
    return m;
}

float va_test_max_abs(const float *a, int64_t n) {
    float m = 0.0f;
    for (int64_t i = 0; i < n; i++)
        if (fabsf(a[i]) > m) m = fabsf(a[i]);
    return m;
}

const char *va_test_tmpdir(void) {
    static char buf[64];
    snprintf(buf, sizeof buf, "/tmp/visattn-test-XXXXXX");
    if (!mkdtemp(buf)) return "/tmp";
    return buf;
}

int va_test_write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = len ? fwrite(data, 1, len, f) : 0;
    int rc = fclose(f);
    return (w == len && rc == 0) ? 0 : -1;
}

int va_test_msg_ok(const char *msg, const char *needle) {
    if (!msg || !*msg || strchr(msg, '\n')) return 0;
    return needle ? strstr(msg, needle) != NULL : 1;
}

int va_test_run(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
