/* A block of the program's own, registered with va_register_block (docs/custom_blocks.md): built by
 * name, loaded, run with maps, costed and timed, placed in the backbone's attention slot, and
 * refused when its registration is malformed or its name is taken. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "visattn/visattn.h"

/* "channel_scale": y = x * sigmoid(w[c]) per channel; config {"channels": C}; state_dict key
 * "weight" of shape [C]; one map "gate" (N x C x 1 x 1). */
typedef struct channel_scale {
    int channels;
    float *w;
} channel_scale;

static va_status cs_create(va_block *b, const va_config *cfg, va_error *err) {
    static const char *const keys[] = {"channels", NULL};
    VA_TRY(va_cfg_check_keys(cfg, keys, err));
    channel_scale *m = calloc(1, sizeof *m);
    if (!m) return va_fail(err, VA_ERR_NOMEM, "channel_scale: out of memory");
    b->self = m;
    VA_TRY(va_cfg_int(cfg, "channels", 0, &m->channels, err));
    if (m->channels < 1 || m->channels > 4096)
        return va_fail(err, VA_ERR_CONFIG, "channel_scale: channels must be 1..4096");
    return VA_OK;
}

static va_status cs_load(va_block *b, va_weights *w, const char *prefix, va_error *err) {
    channel_scale *m = b->self;
    const int64_t shape[1] = {m->channels};
    if (!(m->w = malloc((size_t)m->channels * sizeof *m->w)))
        return va_fail(err, VA_ERR_NOMEM, "channel_scale: out of memory");
    return va_weights_get(w, prefix, "weight", 1, shape, m->w, err);
}

static va_status cs_out_shape(const va_block *b, const int64_t in[4], int64_t out[4],
                              va_error *err) {
    const channel_scale *m = b->self;
    if (in[1] != m->channels)
        return va_fail(err, VA_ERR_SHAPE, "channel_scale: input has %lld channels, expected %d",
                       (long long)in[1], m->channels);
    memcpy(out, in, 4 * sizeof *out);
    return VA_OK;
}

static va_status cs_forward(const va_block *b, va_run *r, const va_tensor *x, va_tensor *y,
                            va_error *err) {
    const channel_scale *m = b->self;
    const int64_t n = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3];
    va_tensor *gate = NULL;
    if (va_run_want_maps(r)) VA_TRY(va_run_map_prepare(r, 0, "gate", n, c, 1, 1, &gate, err));
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < c; k++) {
            const float g = 1.0f / (1.0f + expf(-m->w[k]));
            if (gate) gate->data[i * c + k] = g;
            for (int64_t p = 0; p < hw; p++)
                y->data[(i * c + k) * hw + p] = x->data[(i * c + k) * hw + p] * g;
        }
    return VA_OK;
}

static va_status cs_cost(const va_block *b, const int64_t in[4], va_cost *cost, va_error *err) {
    (void)err;
    const channel_scale *m = b->self;
    va_cost_params(cost, m->channels);
    va_cost_elementwise(cost, in[0] * in[1] * in[2] * in[3], VA_FLOPS_ADDMUL);
    va_cost_elementwise(cost, in[0] * in[1], VA_FLOPS_ACT);
    return VA_OK;
}

static void cs_destroy(va_block *b) {
    channel_scale *m = b->self;
    if (m) free(m->w);
    free(m);
}

static const va_block_ops channel_scale_ops = {
    .name = "channel_scale",
    .kind = VA_KIND_BLOCK,
    .summary = "a test block: each channel times sigmoid(weight)",
    .create = cs_create,
    .load = cs_load,
    .out_shape = cs_out_shape,
    .forward = cs_forward,
    .cost = cs_cost,
    .destroy = cs_destroy,
    .channels_key = "channels",
};

static void ensure_registered(void) {
    va_error err = {0};
    if (!va_find_ops("channel_scale"))
        ck_assert_msg(va_register_block(&channel_scale_ops, &err) == VA_OK, "%s", err.msg);
}

START_TEST(test_custom_block_runs) {
    ensure_registered();
    va_error err = {0};
    va_block *b = NULL;
    ck_assert_msg(va_block_create("channel_scale", "{\"channels\": 3}", &b, &err) == VA_OK, "%s",
                  err.msg);
    va_weights w;
    ck_assert_int_eq(va_weights_init_random(&w, 5u, &err), VA_OK);
    ck_assert_msg(va_block_load(b, &w, "", &err) == VA_OK, "%s", err.msg);
    va_weights_free(&w);
    va_tensor x, y;
    ck_assert_int_eq(va_tensor_alloc4(&x, 2, 3, 4, 5, &err), VA_OK);
    ck_assert_int_eq(va_tensor_alloc4(&y, 2, 3, 4, 5, &err), VA_OK);
    va_test_fill_random(x.data, va_numel(&x), 9u);
    va_run *r;
    ck_assert_int_eq(va_run_create(&r, &err), VA_OK);
    ck_assert_msg(va_block_forward(b, r, &x, &y, &err) == VA_OK, "%s", err.msg);
    const va_map *gate = va_run_find_map(r, "gate");
    ck_assert_ptr_nonnull(gate);
    ck_assert_int_eq(gate->t.shape[1], 3);
    for (int64_t i = 0; i < va_numel(&x); i++) {
        const int64_t k = (i / 20) % 3, s = i / 60;
        ck_assert_float_eq(y.data[i], x.data[i] * gate->t.data[s * 3 + k]);
    }
    va_cost cost;
    const int64_t in[4] = {2, 3, 4, 5};
    ck_assert_int_eq(va_block_cost(b, in, &cost, &err), VA_OK);
    ck_assert_int_eq(cost.params, 3);
    /* Timed as `visattn bench` times the built-in blocks. */
    const va_bench_opts bo = {1, 3, 0.0};
    va_bench_result res;
    ck_assert_msg(va_bench_block(b, in, 1, &bo, &res, &err) == VA_OK, "%s", err.msg);
    ck_assert_int_ge(res.iters, 3);
    ck_assert(res.median_ms > 0 && res.p10_ms <= res.median_ms && res.median_ms <= res.p90_ms);
    ck_assert_int_eq(res.cost.params, 3);
    ck_assert_int_eq(va_block_kind_of(b), VA_KIND_BLOCK);
    ck_assert_str_eq(va_block_name(b), "channel_scale");
    va_run_destroy(r);
    va_tensor_free(&x);
    va_tensor_free(&y);
    va_block_destroy(b);
}
END_TEST

/* In the backbone's attention slot: the backbone sets "channels" per stage, and the block's maps
 * appear as stage<k>.gate. */
START_TEST(test_custom_block_in_backbone) {
    ensure_registered();
    va_error err = {0};
    va_block *b = NULL;
    ck_assert_msg(va_block_create("backbone",
                                  "{\"attention\": \"channel_scale\", \"widths\": [8, 16], "
                                  "\"depths\": [1, 1], \"strides\": [2, 2]}",
                                  &b, &err) == VA_OK,
                  "%s", err.msg);
    va_weights w;
    ck_assert_int_eq(va_weights_init_random(&w, 6u, &err), VA_OK);
    ck_assert_msg(va_block_load(b, &w, "", &err) == VA_OK, "%s", err.msg);
    va_weights_free(&w);
    va_tensor x, y;
    const int64_t in[4] = {1, 1, 12, 10};
    int64_t out[4];
    ck_assert_int_eq(va_block_out_shape(b, in, out, &err), VA_OK);
    ck_assert_int_eq(va_tensor_alloc(&x, 4, in, &err), VA_OK);
    ck_assert_int_eq(va_tensor_alloc(&y, 4, out, &err), VA_OK);
    va_test_fill_random(x.data, va_numel(&x), 3u);
    va_run *r;
    ck_assert_int_eq(va_run_create(&r, &err), VA_OK);
    ck_assert_msg(va_block_forward(b, r, &x, &y, &err) == VA_OK, "%s", err.msg);
    const va_map *g1 = va_run_find_map(r, "stage1.gate"), *g2 = va_run_find_map(r, "stage2.gate");
    ck_assert_ptr_nonnull(g1);
    ck_assert_ptr_nonnull(g2);
    ck_assert_int_eq(g1->t.shape[1], 8);
    ck_assert_int_eq(g2->t.shape[1], 16);
    ck_assert_ptr_nonnull(va_run_find_map(r, "cam"));
    va_run_destroy(r);
    va_tensor_free(&x);
    va_tensor_free(&y);
    va_block_destroy(b);

    /* The backbone owns the channel key. */
    ck_assert_int_eq(va_block_create("backbone",
                                     "{\"attention\": \"channel_scale\", \"attention_args\": "
                                     "{\"channels\": 4}}",
                                     &b, &err),
                     VA_ERR_CONFIG);
    ck_assert(va_test_msg_ok(err.msg, "channels"));
}
END_TEST

START_TEST(test_bad_registrations) {
    ensure_registered();
    va_error err = {0};
    ck_assert_int_eq(va_register_block(NULL, &err), VA_ERR_ARG);
    ck_assert(va_test_msg_ok(err.msg, "NULL"));
    /* Taken names: a built-in block, a built-in alias, a model, the block itself. */
    const char *taken[] = {"cbam", "channel", "backbone", "channel_scale"};
    for (size_t i = 0; i < sizeof taken / sizeof taken[0]; i++) {
        va_block_ops o = channel_scale_ops;
        o.name = taken[i];
        ck_assert_int_eq(va_register_block(&o, &err), VA_ERR_ARG);
        ck_assert(va_test_msg_ok(err.msg, "taken"));
    }
    va_block_ops o = channel_scale_ops;
    o.name = "other";
    o.alias = "cbam";
    ck_assert_int_eq(va_register_block(&o, &err), VA_ERR_ARG);
    const char *bad_names[] = {"", "has space", "quote\"", "a/b"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        o = channel_scale_ops;
        o.name = bad_names[i];
        ck_assert_int_eq(va_register_block(&o, &err), VA_ERR_ARG);
        ck_assert(va_test_msg_ok(err.msg, "characters"));
    }
    o = channel_scale_ops;
    o.name = "no_forward";
    o.forward = NULL;
    ck_assert_int_eq(va_register_block(&o, &err), VA_ERR_ARG);
    ck_assert(va_test_msg_ok(err.msg, "required"));
    ck_assert_ptr_null(va_find_ops("no_forward"));
    ck_assert_ptr_eq(va_find_ops("channel_scale"), &channel_scale_ops);
}
END_TEST

int main(void) {
    Suite *s = suite_create("custom");
    TCase *tc = tcase_create("custom");
    tcase_add_test(tc, test_custom_block_runs);
    tcase_add_test(tc, test_custom_block_in_backbone);
    tcase_add_test(tc, test_bad_registrations);
    suite_add_tcase(s, tc);
    return va_test_run(s);
}
