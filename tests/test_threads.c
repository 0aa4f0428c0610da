/* One loaded block or model, run from several threads at once.
 *
 * A loaded va_block is immutable; everything a forward writes lives in the caller's va_run. For
 * every registered block, the backbone with each attention block, and an EMO network, this test
 * computes reference outputs and maps on one thread, then runs NTHREADS threads at once on the same
 * loaded block, each with its own run context and its own input, for NITER forwards each, and
 * requires every output and every map to equal the single-threaded ones bit for bit. Each forward
 * uses one OpenMP thread, so the summation order is the reference's. Built with -DVISATTN_TSAN=ON
 * it runs under ThreadSanitizer (scripts/test.sh), which must report nothing. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "visattn/visattn.h"

#define NTHREADS 4
#define NITER 8

typedef struct model_case {
    const char *name, *config;
    int64_t shape[4];
} model_case;

/* One case per block (odd H != W, N = 2), then the backbone with each attention slot. */
static const model_case cases[] = {
    {"se", "{\"input_channels\": 16, \"squeeze_channels\": 4}", {2, 16, 7, 5}},
    {"spatial", "{}", {2, 8, 9, 6}},
    {"cbam", "{\"gate_channels\": 16, \"reduction_ratio\": 4}", {2, 16, 7, 5}},
    {"triplet", "{\"gate_channels\": 8}", {2, 8, 7, 5}},
    {"shuffle", "{\"channel\": 16, \"groups\": 2}", {2, 16, 7, 5}},
    {"double_attention", "{\"in_channels\": 12, \"c_m\": 6, \"c_n\": 5}", {2, 12, 7, 5}},
    {"irmb",
     "{\"dim_in\": 16, \"dim_out\": 16, \"dim_head\": 8, \"window_size\": 4}",
     {2, 16, 9, 7}},
    {"eca", "{\"channel\": 12, \"k_size\": 5}", {2, 12, 7, 5}},
    {"simam", "{}", {2, 12, 7, 5}},
    {"bam", "{\"gate_channel\": 32}", {2, 32, 7, 5}},
    {"backbone", "{\"attention\": null}", {2, 1, 29, 23}},
    {"backbone", "{\"attention\": \"se\"}", {2, 1, 29, 23}},
    {"backbone", "{\"attention\": \"spatial\"}", {2, 1, 29, 23}},
    {"backbone", "{\"attention\": \"cbam\"}", {2, 1, 29, 23}},
    {"backbone", "{\"attention\": \"triplet\"}", {2, 1, 29, 23}},
    {"backbone", "{\"attention\": \"shuffle\"}", {2, 1, 29, 23}},
    {"backbone", "{\"attention\": \"double_attention\"}", {2, 1, 29, 23}},
    {"backbone",
     "{\"attention\": \"irmb\", \"attention_args\": {\"dim_head\": 16}}",
     {2, 1, 29, 23}},
    {"backbone", "{\"attention\": \"eca\"}", {2, 1, 29, 23}},
    {"backbone", "{\"attention\": \"simam\"}", {2, 1, 29, 23}},
    {"backbone", "{\"attention\": \"bam\"}", {2, 1, 29, 23}},
    {"EMO_1M", "{\"num_classes\": 10}", {2, 3, 45, 38}},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

/* What one thread computes from one input: the output and a copy of every map. */
typedef struct result {
    va_tensor y;
    int num_maps;
    char names[64][VA_MAP_NAME_LEN];
    va_tensor maps[64];
} result;

static void result_free(result *r) {
    va_tensor_free(&r->y);
    for (int i = 0; i < r->num_maps; i++)
        va_tensor_free(&r->maps[i]);
    memset(r, 0, sizeof *r);
}

static va_status copy_maps(const va_run *run, result *out, va_error *err) {
    out->num_maps = va_run_num_maps(run);
    if (out->num_maps > 64) return va_fail(err, VA_ERR_ARG, "more than 64 maps");
    for (int i = 0; i < out->num_maps; i++) {
        const va_map *m = va_run_map(run, i);
        snprintf(out->names[i], sizeof out->names[i], "%s", m->name);
        VA_TRY(va_tensor_alloc(&out->maps[i], 4, m->t.shape, err));
        if (va_numel(&m->t))
            memcpy(out->maps[i].data, m->t.data, (size_t)va_numel(&m->t) * sizeof(float));
    }
    return VA_OK;
}

/* Bitwise equality (NaN payloads included): what a single-threaded run gives, exactly. */
static int same_tensor(const va_tensor *a, const va_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return va_numel(a) == 0 || memcmp(a->data, b->data, (size_t)va_numel(a) * sizeof(float)) == 0;
}

static int same_result(const result *a, const result *b, char *why, size_t len) {
    if (!same_tensor(&a->y, &b->y)) return snprintf(why, len, "output differs"), 0;
    if (a->num_maps != b->num_maps)
        return snprintf(why, len, "%d maps, reference %d", a->num_maps, b->num_maps), 0;
    for (int i = 0; i < a->num_maps; i++)
        if (strcmp(a->names[i], b->names[i]) || !same_tensor(&a->maps[i], &b->maps[i]))
            return snprintf(why, len, "map %d ('%s') differs", i, a->names[i]), 0;
    return 1;
}

typedef struct worker {
    const va_block *b;
    const va_tensor *x;
    const result *want;
    pthread_t tid;
    int ok;
    char why[VA_ERROR_MSG_LEN + 64];
} worker;

static void *worker_main(void *arg) {
    worker *w = arg;
    va_error err = {0};
    va_run *run = NULL;
    result got = {0};
    va_set_num_threads(1); /* this thread's OpenMP teams: one thread, the reference's order */
    w->ok = 0;
    int64_t out[4];
    if (va_run_create(&run, &err) != VA_OK || va_block_out_shape(w->b, w->x->shape, out, &err) ||
        va_tensor_alloc(&got.y, 4, out, &err) != VA_OK) {
        snprintf(w->why, sizeof w->why, "setup: %s", err.msg);
        goto done;
    }
    for (int it = 0; it < NITER; it++) {
        if (va_block_forward(w->b, run, w->x, &got.y, &err) != VA_OK) {
            snprintf(w->why, sizeof w->why, "forward %d: %s", it, err.msg);
            goto done;
        }
        for (int i = 0; i < got.num_maps; i++)
            va_tensor_free(&got.maps[i]);
        if (copy_maps(run, &got, &err) != VA_OK) {
            snprintf(w->why, sizeof w->why, "%s", err.msg);
            goto done;
        }
        char why[200];
        if (!same_result(&got, w->want, why, sizeof why)) {
            snprintf(w->why, sizeof w->why, "forward %d: %s", it, why);
            goto done;
        }
    }
    w->ok = 1;
done:
    result_free(&got);
    va_run_destroy(run);
    return NULL;
}

static va_block *load_random(const model_case *c) {
    va_error err = {0};
    va_block *b = NULL;
    va_weights w;
    ck_assert_msg(va_block_create(c->name, c->config, &b, &err) == VA_OK, "%s %s: %s", c->name,
                  c->config, err.msg);
    ck_assert_int_eq(va_weights_init_random(&w, 77u, &err), VA_OK);
    ck_assert_msg(va_block_load(b, &w, "", &err) == VA_OK, "%s: %s", c->name, err.msg);
    va_weights_free(&w);
    return b;
}

START_TEST(test_shared_block) {
    const model_case *c = &cases[_i];
    va_error err = {0};
    va_block *b = load_random(c);
    va_tensor x[NTHREADS];
    result want[NTHREADS];
    memset(want, 0, sizeof want);
    int64_t out[4];
    ck_assert_int_eq(va_block_out_shape(b, c->shape, out, &err), VA_OK);

    /* References: each input on this thread alone, one OpenMP thread, a fresh run each. */
    va_set_num_threads(1);
    for (int t = 0; t < NTHREADS; t++) {
        ck_assert_int_eq(va_tensor_alloc(&x[t], 4, c->shape, &err), VA_OK);
        va_test_fill_random(x[t].data, va_numel(&x[t]), 1000u + (uint32_t)(t * 31 + _i));
        va_run *run;
        ck_assert_int_eq(va_run_create(&run, &err), VA_OK);
        ck_assert_int_eq(va_tensor_alloc(&want[t].y, 4, out, &err), VA_OK);
        ck_assert_msg(va_block_forward(b, run, &x[t], &want[t].y, &err) == VA_OK, "%s: %s", c->name,
                      err.msg);
        ck_assert_int_eq(copy_maps(run, &want[t], &err), VA_OK);
        va_run_destroy(run);
    }
    /* Different inputs give different maps, or the test could not see a map written by another
     * thread's forward. */
    ck_assert_msg(want[0].num_maps > 0, "%s %s records no map", c->name, c->config);
    ck_assert(!same_tensor(&want[0].maps[0], &want[1].maps[0]));

    worker w[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) {
        w[t] = (worker){.b = b, .x = &x[t], .want = &want[t]};
        ck_assert_int_eq(pthread_create(&w[t].tid, NULL, worker_main, &w[t]), 0);
    }
    for (int t = 0; t < NTHREADS; t++)
        ck_assert_int_eq(pthread_join(w[t].tid, NULL), 0);
    for (int t = 0; t < NTHREADS; t++)
        ck_assert_msg(w[t].ok, "%s %s, thread %d: %s", c->name, c->config, t, w[t].why);

    for (int t = 0; t < NTHREADS; t++) {
        va_tensor_free(&x[t]);
        result_free(&want[t]);
    }
    va_block_destroy(b);
}
END_TEST

int main(void) {
    va_set_num_threads(1);
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_shared_block, 0, NCASES);
    suite_add_tcase(s, tc);
    return va_test_run(s);
}
