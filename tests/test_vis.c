/* libvisattn_vis (include/visattn/vis.h): argument checks, PNG round trip through memory, colour
 * map end points against their published values, overlay and preprocessing arithmetic. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "visattn/vis.h"
#include "visattn/visattn.h"

/* A w x h image whose pixels all differ (so a swapped row or channel shows). */
static va_image make_image(int w, int h) {
    va_image img;
    va_error err = {0};
    ck_assert_int_eq(va_image_alloc(&img, w, h, &err), VA_OK);
    for (int i = 0; i < w * h * 3; i++)
        img.px[i] = (unsigned char)(i * 29 + 7);
    return img;
}

/* A call given a bad argument: VA_ERR_ARG and a fresh one-line message. */
#define ASSERT_ARG(call)                                                                           \
    do {                                                                                           \
        memset(&err, 0, sizeof err);                                                               \
        va_status st_ = (call);                                                                    \
        ck_assert_msg(st_ == VA_ERR_ARG, "%s: status %d, not VA_ERR_ARG", #call, (int)st_);        \
        ck_assert_msg(va_test_msg_ok(err.msg, NULL), "%s: message '%s'", #call, err.msg);          \
    } while (0)

START_TEST(test_null_arguments) {
    va_error err;
    va_image img = make_image(4, 3), out;
    va_tensor map, x;
    ck_assert_int_eq(va_tensor_alloc4(&map, 1, 1, 2, 2, NULL), VA_OK);
    memset(map.data, 0, 4 * sizeof(float));
    const va_preprocess pp = {1, 2, 2, {0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f}};
    const unsigned char bytes[4] = {1, 2, 3, 4};
    va_colormap cm;
    unsigned char rgb[3];
    va_sheet_cell cells[1] = {{&img, "x"}};

    ASSERT_ARG(va_image_load(NULL, 100, &out, &err));
    ASSERT_ARG(va_image_load("/nonexistent.png", 100, NULL, &err));
    ASSERT_ARG(va_image_load_memory(NULL, 4, "mem", 100, &out, &err));
    ASSERT_ARG(va_image_load_memory(NULL, 0, "mem", 100, &out, &err));
    ASSERT_ARG(va_image_load_memory(bytes, 4, "mem", 100, NULL, &err));
    ASSERT_ARG(va_image_alloc(NULL, 2, 2, &err));
    ASSERT_ARG(va_image_write_png(NULL, &img, &err));
    ASSERT_ARG(va_image_write_png("/tmp/never-written.png", NULL, &err));
    ASSERT_ARG(va_image_resize(NULL, 2, 2, &out, &err));
    ASSERT_ARG(va_image_resize(&img, 2, 2, NULL, &err));
    ASSERT_ARG(va_image_to_input(NULL, &pp, &x, &err));
    ASSERT_ARG(va_image_to_input(&img, NULL, &x, &err));
    ASSERT_ARG(va_image_to_input(&img, &pp, NULL, &err));
    ASSERT_ARG(va_colormap_from_name(NULL, &cm, &err));
    ASSERT_ARG(va_colormap_from_name("jet", NULL, &err));
    ASSERT_ARG(va_colormap_apply(VA_CMAP_JET, 0.5f, NULL, &err));
    ASSERT_ARG(va_overlay(NULL, &img, VA_CMAP_TURBO, 0.5f, &out, &err));
    ASSERT_ARG(va_overlay(&map, NULL, VA_CMAP_TURBO, 0.5f, &out, &err));
    ASSERT_ARG(va_overlay(&map, &img, VA_CMAP_TURBO, 0.5f, NULL, &err));
    ASSERT_ARG(va_contact_sheet(NULL, 1, 1, 32, &out, &err));
    ASSERT_ARG(va_contact_sheet(cells, 1, 1, 32, NULL, &err));
    /* va_image_free is a destructor: NULL is a no-op, like free(NULL). */
    va_image_free(NULL);
    /* err itself may be NULL: the status still says what happened. */
    ck_assert_int_eq(va_image_alloc(NULL, 2, 2, NULL), VA_ERR_ARG);

    /* Pointers inside the structs: an image without pixels, a map without data. */
    va_image hollow = img;
    hollow.px = NULL;
    ASSERT_ARG(va_image_write_png("/tmp/never-written.png", &hollow, &err));
    ASSERT_ARG(va_image_to_input(&hollow, &pp, &x, &err));
    ASSERT_ARG(va_image_resize(&hollow, 2, 2, &out, &err));
    ASSERT_ARG(va_overlay(&map, &hollow, VA_CMAP_TURBO, 0.5f, &out, &err));
    cells[0].img = &hollow;
    ASSERT_ARG(va_contact_sheet(cells, 1, 1, 32, &out, &err));
    va_tensor nodata = map;
    nodata.data = NULL;
    ASSERT_ARG(va_overlay(&nodata, &img, VA_CMAP_TURBO, 0.5f, &out, &err));
    va_image empty = {0};
    ASSERT_ARG(va_image_resize(&empty, 2, 2, &out, &err));

    /* Out-of-range values that are not pointers. */
    ASSERT_ARG(va_colormap_apply((va_colormap)99, 0.5f, rgb, &err));
    ASSERT_ARG(va_overlay(&map, &img, (va_colormap)-1, 0.5f, &out, &err));
    ASSERT_ARG(va_colormap_from_name("plasma", &cm, &err));
    ck_assert(strstr(err.msg, "plasma") && strstr(err.msg, "viridis"));
    ck_assert_str_eq(va_colormap_name((va_colormap)99), "?");
    ASSERT_ARG(va_image_alloc(&out, 0, 5, &err));
    ASSERT_ARG(va_image_load_memory(bytes, 4, "mem", 0, &out, &err));

    va_tensor_free(&map);
    va_image_free(&img);
}
END_TEST

/* Outputs that are inputs: each call clears its output first, so it would destroy what it reads. */
START_TEST(test_aliasing_refused) {
    va_error err;
    va_image img = make_image(6, 4);
    unsigned char before[6 * 4 * 3];
    memcpy(before, img.px, sizeof before);
    va_tensor map;
    ck_assert_int_eq(va_tensor_alloc4(&map, 1, 1, 2, 3, NULL), VA_OK);
    for (int i = 0; i < 6; i++)
        map.data[i] = (float)i;

    ASSERT_ARG(va_image_resize(&img, 3, 2, &img, &err));
    ASSERT_ARG(va_overlay(&map, &img, VA_CMAP_JET, 0.5f, &img, &err));
    va_sheet_cell cells[2] = {{&img, "a"}, {NULL, "b"}};
    ASSERT_ARG(va_contact_sheet(cells, 1, 2, 16, &img, &err));
    /* Refused without touching the image. */
    ck_assert_int_eq(img.w, 6);
    ck_assert_int_eq(img.h, 4);
    ck_assert_mem_eq(img.px, before, sizeof before);

    /* Two different images over the same pixels are fine: the output gets its own memory. */
    va_image copy = img, out;
    ck_assert_int_eq(va_image_resize(&img, 3, 2, &copy, &err), VA_OK);
    ck_assert_ptr_ne(copy.px, img.px);
    va_image_free(&copy);
    ck_assert_int_eq(va_overlay(&map, &img, VA_CMAP_JET, 0.5f, &out, &err), VA_OK);
    va_image_free(&out);

    /* An N = 0 map has no plane to show. */
    va_tensor none = map;
    none.shape[0] = 0;
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(va_overlay(&none, &img, VA_CMAP_JET, 0.5f, &out, &err), VA_ERR_SHAPE);
    ck_assert(va_test_msg_ok(err.msg, NULL));
    ck_assert_ptr_null(out.px);

    va_tensor_free(&map);
    va_image_free(&img);
}
END_TEST

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    ck_assert_int_gt(n, 0);
    unsigned char *b = malloc((size_t)n);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

START_TEST(test_png_round_trip_through_memory) {
    va_error err = {0};
    const char *dir = va_test_tmpdir();
    char path[256];
    snprintf(path, sizeof path, "%s/round.png", dir);
    va_image img = make_image(7, 5), back;
    ck_assert_int_eq(va_image_write_png(path, &img, &err), VA_OK);
    size_t len;
    unsigned char *bytes = slurp(path, &len);
    ck_assert_int_eq(va_image_load_memory(bytes, len, "round.png", 1000, &back, &err), VA_OK);
    ck_assert_int_eq(back.w, 7);
    ck_assert_int_eq(back.h, 5);
    ck_assert_int_eq(back.src_channels, 3);
    ck_assert_int_eq(back.src_16bit, 0);
    ck_assert_mem_eq(back.px, img.px, 7 * 5 * 3);
    va_image_free(&back);
    ck_assert_ptr_null(back.px);

    /* The pixel limit counts, and a NULL name stands as "<memory>" in the message. */
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(va_image_load_memory(bytes, len, NULL, 34, &back, &err), VA_ERR_UNSUPPORTED);
    ck_assert(va_test_msg_ok(err.msg, "<memory>"));
    ck_assert_ptr_null(back.px);
    /* The file loads the same. */
    ck_assert_int_eq(va_image_load(path, 35, &back, &err), VA_OK);
    ck_assert_mem_eq(back.px, img.px, 7 * 5 * 3);
    va_image_free(&back);

    free(bytes);
    unlink(path);
    rmdir(dir);
    va_image_free(&img);
}
END_TEST

/* End points of each map, from the published tables (not from vis/colormap.c): matplotlib's
 * _cm_listed.py for viridis and inferno, Google's Turbo table (also in matplotlib), MATLAB's jet
 * (0, 0, 0.5) to (0.5, 0, 0), gray black to white. Bytes may differ from 255 * value by rounding.
 */
START_TEST(test_colormap_end_points) {
    static const struct {
        va_colormap cm;
        const char *name;
        float lo[3], hi[3];
    } maps[] = {
        {VA_CMAP_TURBO, "turbo", {0.18995f, 0.07176f, 0.23217f}, {0.47960f, 0.01583f, 0.01055f}},
        {VA_CMAP_JET, "jet", {0.f, 0.f, 0.5f}, {0.5f, 0.f, 0.f}},
        {VA_CMAP_VIRIDIS,
         "viridis",
         {0.267004f, 0.004874f, 0.329415f},
         {0.993248f, 0.906157f, 0.143936f}},
        {VA_CMAP_INFERNO,
         "inferno",
         {0.001462f, 0.000466f, 0.013866f},
         {0.988362f, 0.998364f, 0.644924f}},
        {VA_CMAP_GRAY, "gray", {0.f, 0.f, 0.f}, {1.f, 1.f, 1.f}},
    };
    va_error err = {0};
    for (size_t m = 0; m < sizeof maps / sizeof maps[0]; m++) {
        va_colormap cm;
        ck_assert_int_eq(va_colormap_from_name(maps[m].name, &cm, &err), VA_OK);
        ck_assert_int_eq(cm, maps[m].cm);
        ck_assert_str_eq(va_colormap_name(cm), maps[m].name);
        for (int end = 0; end < 2; end++) {
            unsigned char rgb[3];
            ck_assert_int_eq(va_colormap_apply(cm, (float)end, rgb, &err), VA_OK);
            const float *want = end ? maps[m].hi : maps[m].lo;
            for (int c = 0; c < 3; c++)
                ck_assert_msg(fabsf(rgb[c] - 255.f * want[c]) <= 1.f,
                              "%s at %d, channel %d: %d, published %.1f", maps[m].name, end, c,
                              rgb[c], 255. * want[c]);
            /* Outside [0, 1] clamps to the end; NaN counts as 0. */
            unsigned char clamped[3];
            ck_assert_int_eq(va_colormap_apply(cm, end ? 7.f : -7.f, clamped, &err), VA_OK);
            ck_assert_mem_eq(clamped, rgb, 3);
            if (!end) {
                ck_assert_int_eq(va_colormap_apply(cm, NAN, clamped, &err), VA_OK);
                ck_assert_mem_eq(clamped, rgb, 3);
            }
        }
    }
    va_colormap cm;
    ck_assert_int_eq(va_colormap_from_name("grey", &cm, &err), VA_OK);
    ck_assert_int_eq(cm, VA_CMAP_GRAY);
}
END_TEST

START_TEST(test_overlay) {
    va_error err = {0};
    va_image img = make_image(9, 7), out;
    va_tensor map;
    ck_assert_int_eq(va_tensor_alloc4(&map, 2, 3, 3, 4, NULL), VA_OK);
    for (int64_t i = 0; i < va_numel(&map); i++)
        map.data[i] = 0.25f;
    /* Alpha 0: the image, unchanged, at its own size. */
    ck_assert_int_eq(va_overlay(&map, &img, VA_CMAP_TURBO, 0.f, &out, &err), VA_OK);
    ck_assert_int_eq(out.w, 9);
    ck_assert_int_eq(out.h, 7);
    ck_assert_mem_eq(out.px, img.px, 9 * 7 * 3);
    va_image_free(&out);
    /* Alpha 1: a constant map normalises to 0, so every pixel is the map's colour at 0. */
    unsigned char c0[3];
    ck_assert_int_eq(va_colormap_apply(VA_CMAP_VIRIDIS, 0.f, c0, &err), VA_OK);
    ck_assert_int_eq(va_overlay(&map, &img, VA_CMAP_VIRIDIS, 1.f, &out, &err), VA_OK);
    for (int i = 0; i < 9 * 7; i++)
        ck_assert_mem_eq(out.px + 3 * i, c0, 3);
    va_image_free(&out);
    /* Alpha outside [0, 1] is refused. */
    ck_assert_int_eq(va_overlay(&map, &img, VA_CMAP_TURBO, 1.5f, &out, &err), VA_ERR_ARG);
    ck_assert_ptr_null(out.px);
    va_tensor_free(&map);
    va_image_free(&img);
}
END_TEST

START_TEST(test_image_to_input) {
    va_error err = {0};
    va_image img;
    ck_assert_int_eq(va_image_alloc(&img, 2, 2, &err), VA_OK);
    /* Pixels (R, G, B): (255, 0, 0) (0, 255, 0) / (0, 0, 255) (51, 102, 204). */
    static const unsigned char px[12] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 51, 102, 204};
    memcpy(img.px, px, sizeof px);

    /* Grey at the same size (bilinear at scale 1 is the identity): luma 0.299 for pure red, then
     * (0.299 - 0.5) / 0.25 = -0.804. */
    va_preprocess grey = {1, 2, 2, {0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f}};
    va_tensor x;
    ck_assert_int_eq(va_image_to_input(&img, &grey, &x, &err), VA_OK);
    ck_assert_int_eq(x.ndim, 4);
    ck_assert(x.shape[0] == 1 && x.shape[1] == 1 && x.shape[2] == 2 && x.shape[3] == 2);
    ck_assert_float_eq_tol(x.data[0], -0.804f, 1e-5f);
    /* The last pixel: (0.299 * 51 + 0.587 * 102 + 0.114 * 204) / 255 = 98.379 / 255 = 0.38580,
     * and (0.38580 - 0.5) / 0.25 = -0.45680. */
    ck_assert_float_eq_tol(x.data[3], -0.4568f, 1e-4f);
    va_tensor_free(&x);

    /* RGB, 3 x 4 x 5 (H x W differ from the image and from each other): planar channels. */
    va_preprocess rgb = {3, 4, 5, {0.f, 0.5f, 1.f}, {1.f, 0.5f, 2.f}};
    ck_assert_int_eq(va_image_to_input(&img, &rgb, &x, &err), VA_OK);
    ck_assert(x.shape[0] == 1 && x.shape[1] == 3 && x.shape[2] == 4 && x.shape[3] == 5);
    /* Top-left output pixel: its source point (0.5 * 2/5 - 0.5 < 0) clamps to pixel (0, 0). */
    ck_assert_float_eq_tol(x.data[0 * 20], (1.f - 0.f) / 1.f, 1e-6f);
    ck_assert_float_eq_tol(x.data[1 * 20], (0.f - 0.5f) / 0.5f, 1e-6f);
    ck_assert_float_eq_tol(x.data[2 * 20], (0.f - 1.f) / 2.f, 1e-6f);
    va_tensor_free(&x);

    /* Down to 1 x 1: the source point is the centre, (0.5, 0.5), the mean of the four pixels.
     * Red channel: (255 + 0 + 0 + 51) / 4 / 255 = 0.3. */
    va_preprocess one = {3, 1, 1, {0.f, 0.f, 0.f}, {1.f, 1.f, 1.f}};
    ck_assert_int_eq(va_image_to_input(&img, &one, &x, &err), VA_OK);
    ck_assert(x.shape[1] == 3 && x.shape[2] == 1 && x.shape[3] == 1);
    ck_assert_float_eq_tol(x.data[0], 0.3f, 1e-6f);
    va_tensor_free(&x);

    /* A zero std would divide by zero. */
    va_preprocess bad = grey;
    bad.std[0] = 0.f;
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(va_image_to_input(&img, &bad, &x, &err), VA_ERR_CONFIG);
    ck_assert(va_test_msg_ok(err.msg, "std"));
    ck_assert_ptr_null(x.data);
    va_image_free(&img);
}
END_TEST

START_TEST(test_resize_and_contact_sheet) {
    va_error err = {0};
    va_image img = make_image(40, 30), small, sheet;
    /* A uniform image stays uniform through box halving and bilinear. */
    memset(img.px, 90, 40 * 30 * 3);
    ck_assert_int_eq(va_image_resize(&img, 9, 7, &small, &err), VA_OK);
    ck_assert_int_eq(small.w, 9);
    ck_assert_int_eq(small.h, 7);
    for (int i = 0; i < 9 * 7 * 3; i++)
        ck_assert_int_eq(small.px[i], 90);
    va_image_free(&small);

    va_sheet_cell cells[4] = {{&img, "original"}, {&img, "se stage1"}, {NULL, NULL}, {&img, NULL}};
    ck_assert_int_eq(va_contact_sheet(cells, 2, 2, 32, &sheet, &err), VA_OK);
    /* Two columns of 32-pixel-wide tiles and two rows of 24-pixel-high ones, plus labels and gaps.
     */
    ck_assert_int_gt(sheet.w, 2 * 32);
    ck_assert_int_gt(sheet.h, 2 * 24);
    va_image_free(&sheet);

    va_image other = make_image(5, 5);
    cells[1].img = &other;
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(va_contact_sheet(cells, 2, 2, 32, &sheet, &err), VA_ERR_SHAPE);
    ck_assert(va_test_msg_ok(err.msg, "size"));
    ck_assert_ptr_null(sheet.px);
    va_image_free(&other);
    va_image_free(&img);
}
END_TEST

int main(void) {
    Suite *s = suite_create("vis");
    TCase *tc = tcase_create("vis");
    tcase_add_test(tc, test_null_arguments);
    tcase_add_test(tc, test_aliasing_refused);
    tcase_add_test(tc, test_png_round_trip_through_memory);
    tcase_add_test(tc, test_colormap_end_points);
    tcase_add_test(tc, test_overlay);
    tcase_add_test(tc, test_image_to_input);
    tcase_add_test(tc, test_resize_and_contact_sheet);
    suite_add_tcase(s, tc);
    return va_test_run(s);
}
