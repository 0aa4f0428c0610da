/* No heap allocation in a forward pass after the first call at a shape.
 *
 * This executable is linked with -Wl,--wrap for malloc, calloc, realloc, free, aligned_alloc and
 * posix_memalign (tests/CMakeLists.txt), so every such call made by the objects linked into it --
 * all of libvisattn.a's, and the bench code below -- goes through the counting wrappers here.
 * Shared libraries (OpenBLAS, libgomp, cJSON, libc itself) are not wrapped: their internal
 * allocations are invisible to this test (docs/bench.md).
 *
 * For every registered block at the config `visattn bench` times it with, and for the bench's
 * yardstick, at three shapes, 1 and 2 threads, with attention maps off (as the bench runs) and on
 * (the default): one forward pass sizes the run's arena and maps (and merges the arena's chunks
 * as it returns), then three more passes must make no allocator call at all and must not grow the
 * arena. */
#include <check.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

/* The bench's own config table and block construction (default_config, make_block): this test
 * checks the configs the bench times, not a copy of them. */
#include "../demos/bench.c"

#include "testutil.h"

static atomic_long heap_allocs, heap_frees;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__real_aligned_alloc(size_t align, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
void *__wrap_aligned_alloc(size_t align, size_t n);
int __wrap_posix_memalign(void **p, size_t align, size_t n);

void *__wrap_malloc(size_t n) {
    atomic_fetch_add(&heap_allocs, 1);
    return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t size) {
    atomic_fetch_add(&heap_allocs, 1);
    return __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n) {
    atomic_fetch_add(&heap_allocs, 1);
    return __real_realloc(p, n);
}
void __wrap_free(void *p) {
    if (p) atomic_fetch_add(&heap_frees, 1); /* free(NULL) touches no heap */
    __real_free(p);
}
void *__wrap_aligned_alloc(size_t align, size_t n) {
    atomic_fetch_add(&heap_allocs, 1);
    return __real_aligned_alloc(align, n);
}
int __wrap_posix_memalign(void **p, size_t align, size_t n) {
    atomic_fetch_add(&heap_allocs, 1);
    return __real_posix_memalign(p, align, n);
}

/* The bench's two default shapes, and an odd one: batch 2, H != W, not a multiple of irmb's
 * 7 x 7 window. */
static const int64_t shapes[][4] = {{1, 64, 56, 56}, {1, 256, 14, 14}, {2, 32, 15, 9}};
#define NSHAPES ((int)(sizeof shapes / sizeof shapes[0]))

/* Only allocations the library makes through the wrapped symbols are counted: prove the wrapping
 * reaches libvisattn.a's objects (a tensor and an arena chunk). */
START_TEST(test_wrapping_sees_library_allocations) {
    va_error err = {0};
    long a0 = atomic_load(&heap_allocs), f0 = atomic_load(&heap_frees);
    va_tensor t;
    ck_assert_int_eq(va_tensor_alloc4(&t, 1, 2, 3, 4, &err), VA_OK);
    va_arena ws;
    va_arena_init(&ws);
    ck_assert_ptr_nonnull(va_arena_alloc(&ws, 1000, &err));
    long a1 = atomic_load(&heap_allocs);
    va_arena_free(&ws);
    va_tensor_free(&t);
    ck_assert_int_ge(a1 - a0, 2);
    ck_assert_int_ge(atomic_load(&heap_frees) - f0, 2);
}
END_TEST

/* The blocks `visattn bench` times: the yardstick, then every registered block. */
static const char *bench_block(int i) {
    if (i == 0) return YARDSTICK;
    for (int j = 0, k = 1; va_ops_at(j); j++)
        if (va_ops_at(j)->kind == VA_KIND_BLOCK && k++ == i) return va_ops_at(j)->name;
    return NULL;
}

/* Loop index: block (_i / (NSHAPES * 4)), shape, threads 1 or 2, maps off or on. */
START_TEST(test_forward_does_not_allocate) {
    const int maps = _i % 2, threads = 1 + (_i / 2) % 2, s = (_i / 4) % NSHAPES;
    const char *name = bench_block(_i / (4 * NSHAPES));
    ck_assert_ptr_nonnull(name);
    const int64_t *shape = shapes[s];
    char config[256], where[384], sh[64];
    default_config(name, shape[1], config, sizeof config);
    snprintf(where, sizeof where, "%s %s at %s, %d thread%s, maps %s", name, config,
             va_dims_str(4, shape, sh, sizeof sh), threads, threads == 1 ? "" : "s",
             maps ? "on" : "off");

    va_error err = {0};
    va_block *b = NULL;
    ck_assert_msg(make_block(name, config, &b, &err) == VA_OK, "%s: %s", where, err.msg);
    va_run *r;
    ck_assert_int_eq(va_run_create(&r, &err), VA_OK);
    ck_assert_int_eq(va_run_set_want_maps(r, maps, &err), VA_OK);
    int64_t out[4];
    ck_assert_msg(va_block_out_shape(b, shape, out, &err) == VA_OK, "%s: %s", where, err.msg);
    va_tensor x, y;
    ck_assert_int_eq(va_tensor_alloc(&x, 4, shape, &err), VA_OK);
    ck_assert_int_eq(va_tensor_alloc(&y, 4, out, &err), VA_OK);
    va_test_fill_random(x.data, va_numel(&x), 7u + (uint32_t)_i);
    va_set_num_threads(threads);

    /* The first call at a shape may allocate: it sizes the run's arena (merging its chunks at
     * the end) and the maps. */
    ck_assert_msg(va_block_forward(b, r, &x, &y, &err) == VA_OK, "%s: %s", where, err.msg);

    long allocs = atomic_load(&heap_allocs), frees = atomic_load(&heap_frees);
    uint64_t grows = va_run_arena(r)->grow_count;
    va_status st = VA_OK;
    for (int k = 0; k < 3 && st == VA_OK; k++)
        st = va_block_forward(b, r, &x, &y, &err);
    long d_allocs = atomic_load(&heap_allocs) - allocs, d_frees = atomic_load(&heap_frees) - frees;
    uint64_t d_grows = va_run_arena(r)->grow_count - grows;
    /* Assert only after reading the counters: Check may allocate when it reports. */
    ck_assert_msg(st == VA_OK, "%s: %s", where, err.msg);
    ck_assert_msg(d_allocs == 0 && d_frees == 0 && d_grows == 0,
                  "%s: 3 forward passes after the first made %ld allocations and %ld frees, "
                  "arena grew %llu times",
                  where, d_allocs, d_frees, (unsigned long long)d_grows);

    va_run_destroy(r);
    va_tensor_free(&x);
    va_tensor_free(&y);
    va_block_destroy(b);
}
END_TEST

int main(void) {
    int nblocks = 1;
    while (bench_block(nblocks))
        nblocks++;
    Suite *s = suite_create("noalloc");
    TCase *tc = tcase_create("noalloc");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_wrapping_sees_library_allocations);
    tcase_add_loop_test(tc, test_forward_does_not_allocate, 0, nblocks * NSHAPES * 4);
    suite_add_tcase(s, tc);
    return va_test_run(s);
}
