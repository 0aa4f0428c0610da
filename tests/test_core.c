/* Core runtime: errors, tensors, the arena, configs, threads, the registry. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "visattn/visattn.h"

START_TEST(test_error_messages_are_one_line) {
    va_error err = {0};
    ck_assert_int_eq(va_fail(&err, VA_ERR_SHAPE, "a\nb %d", 3), VA_ERR_SHAPE);
    ck_assert_str_eq(err.msg, "a b 3");
    va_error_prefix(&err, "file.npy");
    ck_assert_str_eq(err.msg, "file.npy: a b 3");
    ck_assert_int_eq(err.status, VA_ERR_SHAPE);
    ck_assert_str_eq(va_status_str(VA_ERR_KEY), "weight key error");
}
END_TEST

START_TEST(test_tensor_alloc_and_shape_checks) {
    va_error err = {0};
    va_tensor t;
    ck_assert_int_eq(va_tensor_alloc4(&t, 2, 3, 5, 7, &err), VA_OK);
    ck_assert_int_eq(va_numel(&t), 210);
    ck_assert_int_eq((uintptr_t)t.data % VA_ALIGN, 0);
    for (int i = 0; i < 210; i++)
        ck_assert(t.data[i] == 0.0f);
    char buf[64];
    ck_assert_str_eq(va_shape_str(&t, buf, sizeof buf), "2x3x5x7");
    va_tensor_free(&t);
    const int64_t neg[2] = {3, -1};
    ck_assert_int_eq(va_tensor_alloc(&t, 2, neg, &err), VA_ERR_SHAPE);
    const int64_t huge[4] = {1 << 20, 1 << 20, 1 << 20, 1 << 20};
    ck_assert_int_eq(va_tensor_alloc(&t, 4, huge, &err), VA_ERR_NOMEM);
    ck_assert(va_test_msg_ok(err.msg, "too large"));
    ck_assert_int_eq(va_tensor_alloc(&t, VA_MAX_DIM + 1, huge, &err), VA_ERR_SHAPE);
    size_t out;
    ck_assert_int_eq(va_mul_size(SIZE_MAX / 2, 3, &out), -1);
    ck_assert_int_eq(va_add_size(SIZE_MAX, 1, &out), -1);
    ck_assert_int_eq(va_mul_size(6, 7, &out), 0);
    ck_assert_int_eq(out, 42);
}
END_TEST

/* A forward-like pass: several allocations, some released by rewind, one larger than a chunk. */
static void fake_pass(va_arena *a, size_t big) {
    va_error err = {0};
    float *p1 = va_arena_alloc(a, 1000, &err);
    size_t mark = va_arena_mark(a);
    float *p2 = va_arena_alloc(a, big, &err);
    ck_assert_ptr_nonnull(p1);
    ck_assert_ptr_nonnull(p2);
    ck_assert_int_eq((uintptr_t)p1 % VA_ALIGN, 0);
    ck_assert_int_eq((uintptr_t)p2 % VA_ALIGN, 0);
    memset(p2, 1, big); /* ASan checks the whole range is ours */
    va_arena_rewind(a, mark);
    float *p3 = va_arena_alloc(a, 3 * big, &err);
    ck_assert_ptr_nonnull(p3);
    memset(p3, 2, 3 * big);
    ck_assert(p1[0] == p1[0] || 1);
}

START_TEST(test_arena_stops_allocating_after_first_pass) {
    va_error err = {0};
    va_arena a;
    va_arena_init(&a);
    fake_pass(&a, (size_t)3 << 20);
    ck_assert_int_eq(va_arena_reset(&a, &err), VA_OK);
    uint64_t grows = a.grow_count;
    for (int i = 0; i < 5; i++) {
        fake_pass(&a, (size_t)3 << 20);
        ck_assert_int_eq(va_arena_reset(&a, &err), VA_OK);
    }
    ck_assert_int_eq(a.grow_count, grows); /* no malloc once the shape has been seen */
    ck_assert(a.peak >= ((size_t)9 << 20));
    va_arena_free(&a);
}
END_TEST

START_TEST(test_arena_overflow_request) {
    va_error err = {0};
    va_arena a;
    va_arena_init(&a);
    ck_assert_ptr_null(va_arena_alloc(&a, SIZE_MAX - 3, &err));
    ck_assert_int_eq(err.status, VA_ERR_NOMEM);
    va_arena_free(&a);
}
END_TEST

START_TEST(test_config_typed_values) {
    va_error err = {0};
    va_config *c;
    ck_assert_int_eq(va_config_parse("{\"a\": 3, \"b\": 2.5, \"c\": true, \"s\": \"relu\", "
                                     "\"p\": [3, 5], \"l\": [1, 2, 3], \"n\": null, "
                                     "\"sl\": [\"avg\", \"max\"]}",
                                     "test config", &c, &err),
                     VA_OK);
    int i, pair[2], list[4], len, bl;
    double f;
    char s[16], sl[4][32];
    ck_assert_int_eq(va_cfg_int(c, "a", 0, &i, &err), VA_OK);
    ck_assert_int_eq(i, 3);
    ck_assert_int_eq(va_cfg_int(c, "zz", 9, &i, &err), VA_OK);
    ck_assert_int_eq(i, 9);
    ck_assert_int_eq(va_cfg_int(c, "b", 0, &i, &err), VA_ERR_CONFIG);
    ck_assert(va_test_msg_ok(err.msg, "'b'"));
    ck_assert_int_eq(va_cfg_float(c, "b", 0, &f, &err), VA_OK);
    ck_assert(f == 2.5);
    ck_assert_int_eq(va_cfg_bool(c, "c", 0, &bl, &err), VA_OK);
    ck_assert_int_eq(bl, 1);
    ck_assert_int_eq(va_cfg_str(c, "s", "x", s, sizeof s, &err), VA_OK);
    ck_assert_str_eq(s, "relu");
    ck_assert_int_eq(va_cfg_str(c, "a", "x", s, sizeof s, &err), VA_ERR_CONFIG);
    ck_assert_int_eq(va_cfg_int_pair(c, "p", 1, pair, &err), VA_OK);
    ck_assert(pair[0] == 3 && pair[1] == 5);
    ck_assert_int_eq(va_cfg_int_pair(c, "a", 1, pair, &err), VA_OK);
    ck_assert(pair[0] == 3 && pair[1] == 3);
    ck_assert_int_eq(va_cfg_int_pair(c, "l", 1, pair, &err), VA_ERR_CONFIG);
    ck_assert_int_eq(va_cfg_int_list(c, "l", list, 4, &len, &err), VA_OK);
    ck_assert(len == 3 && list[2] == 3);
    ck_assert_int_eq(va_cfg_int_list(c, "l", list, 2, &len, &err), VA_ERR_CONFIG);
    ck_assert_int_eq(va_cfg_str_list(c, "sl", sl, 4, &len, &err), VA_OK);
    ck_assert(len == 2 && strcmp(sl[1], "max") == 0);
    ck_assert(va_cfg_is_null(c, "n"));
    ck_assert(!va_cfg_is_null(c, "a"));
    static const char *const allowed[] = {"a", "b", "c", "s", "p", "l", "n", NULL};
    ck_assert_int_eq(va_cfg_check_keys(c, allowed, &err), VA_ERR_CONFIG);
    ck_assert(va_test_msg_ok(err.msg, "unknown key 'sl'"));
    va_config_free(c);
    ck_assert_int_eq(va_config_parse("[1, 2]", "x", &c, &err), VA_ERR_CONFIG);
    ck_assert_int_eq(va_config_parse("{\"a\": ", "x", &c, &err), VA_ERR_CONFIG);
    ck_assert_int_eq(va_config_parse("{\"a\": 1e300}", "x", &c, &err), VA_OK);
    ck_assert_int_eq(va_cfg_int(c, "a", 0, &i, &err), VA_ERR_CONFIG);
    va_config_free(c);
}
END_TEST

START_TEST(test_threads_setting) {
    va_error err = {0};
    va_set_num_threads(1);
    ck_assert_int_eq(va_get_num_threads(), 1);
    va_set_num_threads(2);
    ck_assert_int_eq(va_get_num_threads(), 2);
    setenv("VISATTN_NUM_THREADS", "abc", 1);
    ck_assert_int_eq(va_threads_from_env(&err), VA_ERR_ARG);
    ck_assert(va_test_msg_ok(err.msg, "VISATTN_NUM_THREADS"));
    setenv("VISATTN_NUM_THREADS", "1", 1);
    ck_assert_int_eq(va_threads_from_env(&err), VA_OK);
    ck_assert_int_eq(va_get_num_threads(), 1);
    unsetenv("VISATTN_NUM_THREADS");
}
END_TEST

START_TEST(test_registry_and_unknown_names) {
    va_error err = {0};
    ck_assert_ptr_nonnull(va_find_ops("conv2d"));
    ck_assert_ptr_nonnull(va_find_ops("conv_bn"));
    ck_assert_ptr_null(va_find_ops("no_such_block"));
    const va_block_ops *o;
    for (int i = 0; (o = va_ops_at(i)) != NULL; i++)
        ck_assert_ptr_eq(va_find_ops(o->name), o);
    va_block *b;
    ck_assert_int_eq(va_block_create("no_such_block", "{}", &b, &err), VA_ERR_CONFIG);
    ck_assert(va_test_msg_ok(err.msg, "no_such_block"));
    ck_assert_int_eq(va_block_create("conv2d", "{\"in_channels\": 4}", &b, &err), VA_ERR_CONFIG);
    ck_assert(va_test_msg_ok(err.msg, "required"));
    ck_assert_int_eq(va_block_create("conv2d",
                                     "{\"in_channels\": 4, \"out_channels\": 6, "
                                     "\"kernel_size\": 3, \"groups\": 4}",
                                     &b, &err),
                     VA_ERR_CONFIG);
    ck_assert_int_eq(va_block_create("conv2d",
                                     "{\"in_channels\": 4, \"out_channels\": 6, "
                                     "\"kernel_size\": 3, \"kernal\": 3}",
                                     &b, &err),
                     VA_ERR_CONFIG);
    ck_assert(va_test_msg_ok(err.msg, "kernal"));
}
END_TEST

/* conv_bn built from a config and fed weights through a file: BN folding against a direct
 * computation of conv then BN, done here with plain loops. */
START_TEST(test_conv_bn_fold_matches_unfolded) {
    va_error err = {0};
    const char *dir = va_test_tmpdir();
    char path[256];
    snprintf(path, sizeof path, "%s/cb.safetensors", dir);
    enum { CI = 3, CO = 4, K = 3, H = 6, W = 5 };
    float w[CO * CI * K * K], b[CO], g[CO], be[CO], mu[CO], var[CO];
    va_test_fill_random(w, CO * CI * K * K, 1);
    va_test_fill_random(b, CO, 2);
    va_test_fill_random(g, CO, 3);
    va_test_fill_random(be, CO, 4);
    va_test_fill_random(mu, CO, 5);
    for (int i = 0; i < CO; i++)
        var[i] = 0.5f + (float)i;
    const int64_t ws[4] = {CO, CI, K, K}, cs[1] = {CO};
    const va_st_tensor_in t[] = {
        {"conv.weight", 4, ws, w}, {"conv.bias", 1, cs, b},        {"bn.weight", 1, cs, g},
        {"bn.bias", 1, cs, be},    {"bn.running_mean", 1, cs, mu}, {"bn.running_var", 1, cs, var},
    };
    const char *mk[] = {"visattn.model", "visattn.config"};
    const char *mv[] = {"conv_bn", "{\"in_channels\": 3, \"out_channels\": 4, \"kernel_size\": 3, "
                                   "\"padding\": 1, \"eps\": 0.001}"};
    ck_assert_int_eq(va_st_write(path, t, 6, mk, mv, 2, &err), VA_OK);
    va_block *blk;
    ck_assert_msg(va_block_load_file(path, &blk, &err) == VA_OK, "%s", err.msg);
    va_tensor x, y;
    ck_assert_int_eq(va_tensor_alloc4(&x, 1, CI, H, W, &err), VA_OK);
    ck_assert_int_eq(va_tensor_alloc4(&y, 1, CO, H, W, &err), VA_OK);
    va_test_fill_random(x.data, va_numel(&x), 6);
    va_run *run;
    ck_assert_int_eq(va_run_create(&run, &err), VA_OK);
    ck_assert_int_eq(va_block_forward(blk, run, &x, &y, &err), VA_OK);
    float maxerr = 0;
    for (int o = 0; o < CO; o++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                double s = b[o];
                for (int c = 0; c < CI; c++)
                    for (int ki = 0; ki < K; ki++)
                        for (int kj = 0; kj < K; kj++) {
                            int ii = i + ki - 1, jj = j + kj - 1;
                            if (ii < 0 || jj < 0 || ii >= H || jj >= W) continue;
                            s += (double)w[((o * CI + c) * K + ki) * K + kj] *
                                 x.data[(c * H + ii) * W + jj];
                        }
                double ref = (s - mu[o]) / sqrt(var[o] + 0.001) * g[o] + be[o];
                float d = fabsf((float)ref - y.data[(o * H + i) * W + j]);
                if (d > maxerr) maxerr = d;
            }
    ck_assert_msg(maxerr < 1e-5f, "max err %g", maxerr);
    va_cost c;
    const int64_t in[4] = {1, CI, H, W};
    ck_assert_int_eq(va_block_cost(blk, in, &c, &err), VA_OK);
    ck_assert_int_eq(c.params, CO * CI * K * K + CO + 2 * CO);
    ck_assert_int_eq(c.macs, (int64_t)CO * H * W * CI * K * K);
    va_run_destroy(run);
    va_tensor_free(&x);
    va_tensor_free(&y);
    va_block_destroy(blk);
    remove(path);
    rmdir(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_error_messages_are_one_line);
    tcase_add_test(tc, test_tensor_alloc_and_shape_checks);
    tcase_add_test(tc, test_arena_stops_allocating_after_first_pass);
    tcase_add_test(tc, test_arena_overflow_request);
    tcase_add_test(tc, test_config_typed_values);
    tcase_add_test(tc, test_threads_setting);
    tcase_add_test(tc, test_registry_and_unknown_names);
    tcase_add_test(tc, test_conv_bn_fold_matches_unfolded);
    suite_add_tcase(s, tc);
    return va_test_run(s);
}
