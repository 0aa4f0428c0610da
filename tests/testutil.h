/* Small helpers shared by the Check suites. */
#ifndef VISATTN_TESTUTIL_H
#define VISATTN_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

/* Deterministic uniform values in [-1, 1) (xorshift32; seed 0 is remapped). */
void va_test_fill_random(float *x, int64_t n, uint32_t seed);
float va_test_max_abs_diff(const float *a, const float *b, int64_t n);
float va_test_max_abs(const float *a, int64_t n);
/* A fresh temporary directory (mkdtemp); returns a static buffer path. */
const char *va_test_tmpdir(void);
/* Write raw bytes to path; returns 0 on success. */
int va_test_write_file(const char *path, const void *data, size_t len);
/* Run a suite (CK_NORMAL output); EXIT_SUCCESS if every test passed: each suite's main. */
int va_test_run(Suite *s);
/* 1 if msg is non-empty, one line (no '\n'), and contains `needle` (NULL: no check). */
int va_test_msg_ok(const char *msg, const char *needle);

#endif
