/* libvisattn_vis (include/visattn/vis.h): argument checks, PNG round trip through memory, colour
 * map end points against their published values, overlay and preprocessing arithmetic, EXIF
 * orientation of JPEGs, the decoders (TurboJPEG and libspng against stb_image's pixels on the
 * structure-aware seeds, known content, the formats stb_image keeps, the fuzz regressions), colour
 * scales and bars, contact-sheet layout. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stb_image.h>
#include <stb_image_write.h>
#include <turbojpeg.h>

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
    const va_preprocess pp = {1, 2, 2, {0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f}, 0};
    const unsigned char bytes[4] = {1, 2, 3, 4};
    va_colormap cm;
    unsigned char rgb[3];
    va_sheet_cell cells[1] = {{.img = &img, .label = "x"}};
    const va_map_scale stretch = {VA_SCALE_STRETCH, 0.f, 0.f};

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
    ASSERT_ARG(va_overlay_scaled(NULL, &img, VA_CMAP_TURBO, 0.5f, &stretch, &out, NULL, &err));
    ASSERT_ARG(va_overlay_scaled(&map, NULL, VA_CMAP_TURBO, 0.5f, &stretch, &out, NULL, &err));
    ASSERT_ARG(va_overlay_scaled(&map, &img, VA_CMAP_TURBO, 0.5f, NULL, &out, NULL, &err));
    ASSERT_ARG(va_overlay_scaled(&map, &img, VA_CMAP_TURBO, 0.5f, &stretch, NULL, NULL, &err));
    ASSERT_ARG(va_colorbar_append(NULL, VA_CMAP_TURBO, 0.f, 1.f, NULL, &out, &err));
    ASSERT_ARG(va_colorbar_append(&img, VA_CMAP_TURBO, 0.f, 1.f, NULL, NULL, &err));
    ASSERT_ARG(va_colorbar_append(&img, (va_colormap)42, 0.f, 1.f, NULL, &out, &err));
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
    va_sheet_cell cells[2] = {{.img = &img, .label = "a"}, {.label = "b"}};
    ASSERT_ARG(va_contact_sheet(cells, 1, 2, 16, &img, &err));
    ASSERT_ARG(va_colorbar_append(&img, VA_CMAP_JET, 0.f, 1.f, "x", &img, &err));
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
    va_preprocess grey = {1, 2, 2, {0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f}, 0};
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
    va_preprocess rgb = {3, 4, 5, {0.f, 0.5f, 1.f}, {1.f, 0.5f, 2.f}, 0};
    ck_assert_int_eq(va_image_to_input(&img, &rgb, &x, &err), VA_OK);
    ck_assert(x.shape[0] == 1 && x.shape[1] == 3 && x.shape[2] == 4 && x.shape[3] == 5);
    /* Top-left output pixel: its source point (0.5 * 2/5 - 0.5 < 0) clamps to pixel (0, 0). */
    ck_assert_float_eq_tol(x.data[0 * 20], (1.f - 0.f) / 1.f, 1e-6f);
    ck_assert_float_eq_tol(x.data[1 * 20], (0.f - 0.5f) / 0.5f, 1e-6f);
    ck_assert_float_eq_tol(x.data[2 * 20], (0.f - 1.f) / 2.f, 1e-6f);
    va_tensor_free(&x);

    /* Down to 1 x 1: the source point is the centre, (0.5, 0.5), the mean of the four pixels.
     * Red channel: (255 + 0 + 0 + 51) / 4 / 255 = 0.3. */
    va_preprocess one = {3, 1, 1, {0.f, 0.f, 0.f}, {1.f, 1.f, 1.f}, 0};
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

    va_sheet_cell cells[4] = {{.img = &img, .label = "original"},
                              {.img = &img, .label = "se stage1"},
                              {0},
                              {.img = &img}};
    ck_assert_int_eq(va_contact_sheet(cells, 2, 2, 32, &sheet, &err), VA_OK);
    /* Two columns of 32-pixel-wide tiles and two rows of 24-pixel-high ones, plus labels and gaps.
     */
    ck_assert_int_gt(sheet.w, 2 * 32);
    ck_assert_int_gt(sheet.h, 2 * 24);
    va_image_free(&sheet);

    /* Images of another size are letterboxed into the first one's 32 x 24 box: a 5 x 5 image
     * becomes 24 x 24, centred, with black bars at its sides. */
    va_image other = make_image(5, 5);
    memset(other.px, 200, 5 * 5 * 3);
    cells[1].img = &other;
    cells[0].label = cells[1].label = NULL;
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(va_contact_sheet(cells, 2, 2, 32, &sheet, &err), VA_OK);
    /* No labels: the box of cell (0, 1) starts at x = 6 + 38, y = 6 + 2. */
    const int bx = 6 + 38, by = 6 + 2;
    for (int x = 0; x < 32; x++) {
        const unsigned char *p =
            sheet.px + ((size_t)(by + 12) * (size_t)sheet.w + (size_t)(bx + x)) * 3;
        int inside = x >= 4 && x < 28;
        ck_assert_msg(p[0] == (inside ? 200 : 0), "column %d of the letterboxed tile: %d", x, p[0]);
    }
    va_image_free(&sheet);
    va_image_free(&other);
    va_image_free(&img);
}
END_TEST

/* ---- EXIF orientation ----------------------------------------------------------------------- */

#define EX_BW 4 /* the pattern: 4 x 3 blocks of 8 x 8 pixels, each its own colour */
#define EX_BH 3

static void block_colour(int bx, int by, unsigned char rgb[3]) {
    rgb[0] = (unsigned char)(30 + 65 * bx);
    rgb[1] = (unsigned char)(30 + 95 * by);
    rgb[2] = (unsigned char)(220 - 50 * bx);
}

typedef struct membuf {
    unsigned char *b;
    size_t n, cap;
} membuf;

static void membuf_put(void *ctx, void *data, int size) {
    membuf *m = ctx;
    if (m->n + (size_t)size > m->cap) {
        m->cap = 2 * (m->n + (size_t)size);
        m->b = realloc(m->b, m->cap);
        ck_assert_ptr_nonnull(m->b);
    }
    memcpy(m->b + m->n, data, (size_t)size);
    m->n += (size_t)size;
}

/* The pattern as a JPEG (quality 95: no chroma subsampling), with `app1` (a whole APP1 segment,
 * marker included, or NULL) spliced in after the start-of-image marker. */
static unsigned char *pattern_jpeg(const unsigned char *app1, size_t app1_len, size_t *len) {
    unsigned char px[EX_BH * 8][EX_BW * 8][3];
    for (int y = 0; y < EX_BH * 8; y++)
        for (int x = 0; x < EX_BW * 8; x++)
            block_colour(x / 8, y / 8, px[y][x]);
    membuf m = {0};
    ck_assert(stbi_write_jpg_to_func(membuf_put, &m, EX_BW * 8, EX_BH * 8, 3, px, 95));
    ck_assert(m.n > 4 && m.b[0] == 0xFF && m.b[1] == 0xD8);
    unsigned char *out = malloc(m.n + app1_len);
    ck_assert_ptr_nonnull(out);
    memcpy(out, m.b, 2);
    if (app1) memcpy(out + 2, app1, app1_len);
    memcpy(out + 2 + app1_len, m.b + 2, m.n - 2);
    *len = m.n + app1_len;
    free(m.b);
    return out;
}

static void put16(unsigned char *p, unsigned v, int be) {
    p[be ? 0 : 1] = (unsigned char)(v >> 8), p[be ? 1 : 0] = (unsigned char)v;
}

static void put32(unsigned char *p, uint32_t v, int be) {
    for (int i = 0; i < 4; i++)
        p[be ? i : 3 - i] = (unsigned char)(v >> (8 * (3 - i)));
}

/* An APP1 "Exif" segment whose IFD0 holds two entries, an unrelated one (0x010F Make) and the
 * Orientation (SHORT, 1 value). Returns its length. */
static size_t exif_segment(unsigned char *seg, int orientation, int be) {
    unsigned char *t = seg + 10; /* FF E1, length, "Exif\0\0", then the TIFF header */
    memset(seg, 0, 64);
    seg[0] = 0xFF, seg[1] = 0xE1;
    memcpy(seg + 4, "Exif\0\0", 6);
    t[0] = t[1] = be ? 'M' : 'I';
    put16(t + 2, 42, be);
    put32(t + 4, 8, be); /* IFD0 right after the header */
    put16(t + 8, 2, be); /* two entries */
    put16(t + 10, 0x010F, be), put16(t + 12, 2, be), put32(t + 14, 4, be); /* ASCII "abc" */
    memcpy(t + 18, "abc", 4);
    put16(t + 22, 0x0112, be), put16(t + 24, 3, be), put32(t + 26, 1, be);
    put16(t + 30, (unsigned)orientation, be); /* SHORT, left-justified in the value field */
    put32(t + 34, 0, be);                     /* no next IFD */
    const size_t len = 10 + 38;
    seg[2] = (unsigned char)((len - 2) >> 8), seg[3] = (unsigned char)(len - 2);
    return len;
}

/* The block of the stored pattern that display block (X, Y) shows under each EXIF orientation,
 * written from the standard's table (row 0 / column 0 sides), independently of vis/image.c. */
static void source_block(int o, int X, int Y, int *bx, int *by) {
    const int W = EX_BW, H = EX_BH;
    switch (o) {
    case 1: *bx = X, *by = Y; break;
    case 2: *bx = W - 1 - X, *by = Y; break;
    case 3: *bx = W - 1 - X, *by = H - 1 - Y; break;
    case 4: *bx = X, *by = H - 1 - Y; break;
    case 5: *bx = Y, *by = X; break;
    case 6: *bx = Y, *by = H - 1 - X; break; /* 90 degrees clockwise */
    case 7: *bx = W - 1 - Y, *by = H - 1 - X; break;
    case 8: *bx = W - 1 - Y, *by = X; break; /* 90 degrees counter-clockwise */
    }
}

/* img shows the pattern turned as orientation o says: compare the middle 4 x 4 pixels of every
 * block (JPEG loses a little; neighbouring blocks differ by 50 or more per channel). */
static void assert_oriented(const va_image *img, int o, const char *what) {
    const int swap = o >= 5;
    ck_assert_int_eq(img->w, (swap ? EX_BH : EX_BW) * 8);
    ck_assert_int_eq(img->h, (swap ? EX_BW : EX_BH) * 8);
    for (int Y = 0; Y < img->h / 8; Y++)
        for (int X = 0; X < img->w / 8; X++) {
            int bx, by;
            unsigned char want[3];
            source_block(o, X, Y, &bx, &by);
            block_colour(bx, by, want);
            for (int c = 0; c < 3; c++) {
                int sum = 0;
                for (int y = 2; y < 6; y++)
                    for (int x = 2; x < 6; x++)
                        sum +=
                            img->px[((size_t)(Y * 8 + y) * (size_t)img->w + (size_t)(X * 8 + x)) *
                                        3 +
                                    (size_t)c];
                ck_assert_msg(abs(sum / 16 - want[c]) <= 12,
                              "%s, orientation %d: display block (%d, %d) channel %d is %d, want "
                              "%d (from stored block (%d, %d))",
                              what, o, X, Y, c, sum / 16, want[c], bx, by);
            }
        }
}

START_TEST(test_exif_orientation) {
    va_error err = {0};
    for (int be = 0; be < 2; be++)
        for (int o = 1; o <= 8; o++) {
            unsigned char seg[64];
            size_t seg_len = exif_segment(seg, o, be), len;
            unsigned char *jpg = pattern_jpeg(seg, seg_len, &len);
            va_image img;
            ck_assert_int_eq(va_image_load_memory(jpg, len, "exif.jpg", 10000, &img, &err), VA_OK);
            ck_assert_int_eq(img.orientation, o);
            assert_oriented(&img, o, be ? "big-endian EXIF" : "little-endian EXIF");
            va_image_free(&img);
            free(jpg);
        }
    /* An XMP APP1 segment before the EXIF one is skipped, not taken for it. */
    unsigned char two[128];
    static const char xmp[] = "http://ns.adobe.com/xap/1.0/";
    two[0] = 0xFF, two[1] = 0xE1, two[2] = 0, two[3] = (unsigned char)(2 + sizeof xmp);
    memcpy(two + 4, xmp, sizeof xmp);
    size_t len, n = 4 + sizeof xmp;
    n += exif_segment(two + n, 6, 1);
    unsigned char *jpg = pattern_jpeg(two, n, &len);
    va_image img;
    ck_assert_int_eq(va_image_load_memory(jpg, len, "xmp.jpg", 10000, &img, &err), VA_OK);
    ck_assert_int_eq(img.orientation, 6);
    assert_oriented(&img, 6, "after an XMP segment");
    va_image_free(&img);
    free(jpg);
    /* No EXIF, and a PNG: orientation 1, pixels as stored. */
    jpg = pattern_jpeg(NULL, 0, &len);
    ck_assert_int_eq(va_image_load_memory(jpg, len, "plain.jpg", 10000, &img, &err), VA_OK);
    ck_assert_int_eq(img.orientation, 1);
    assert_oriented(&img, 1, "no EXIF");
    va_image_free(&img);
    free(jpg);
    ck_assert_int_eq(va_image_alloc(&img, 2, 2, &err), VA_OK);
    ck_assert_int_eq(img.orientation, 1);
    va_image_free(&img);
}
END_TEST

/* Broken EXIF blocks are ignored: the image loads as stored, orientation 1, no error, no read past
 * the segment (ASan watches the last cases, whose segment ends the buffer's EXIF part). */
START_TEST(test_exif_hostile) {
    va_error err = {0};
    enum { N_CASES = 12 };
    for (int k = 0; k < N_CASES; k++) {
        unsigned char seg[64];
        size_t seg_len = exif_segment(seg, 6, k & 1);
        unsigned char *t = seg + 10;
        const int be = k & 1;
        switch (k) {
        case 0: put16(t + 30, 9, be); break;          /* value out of range */
        case 1: put16(t + 30, 0, be); break;          /* value 0 */
        case 2: put16(t + 24, 2, be); break;          /* ASCII, not SHORT */
        case 3: put32(t + 26, 2, be); break;          /* two values */
        case 4: put32(t + 4, 0xFFFFFFF0u, be); break; /* IFD0 far past the end */
        case 5: put32(t + 4, 37, be); break;          /* IFD0 count's last byte outside */
        case 6: /* 65535 entries in 38 bytes, none the Orientation */
            put16(t + 8, 0xFFFF, be), put16(t + 22, 0x0113, be);
            break;
        case 7: t[0] = 'I', t[1] = 'M'; break; /* no byte order */
        case 8: put16(t + 2, 43, be); break;   /* not TIFF */
        case 9:
            seg[2] = 0, seg[3] = 10;
            seg_len = 12;
            break; /* TIFF header cut to 2 bytes */
        case 10:
            seg[2] = 0, seg[3] = 8 + 22;
            seg_len = 32;
            break;                                     /* entry 2 cut off */
        case 11: memcpy(seg + 4, "Exif\0X", 6); break; /* not "Exif\0\0" */
        }
        size_t len;
        unsigned char *jpg = pattern_jpeg(seg, seg_len, &len);
        va_image img;
        memset(&err, 0, sizeof err);
        ck_assert_msg(va_image_load_memory(jpg, len, "bad.jpg", 10000, &img, &err) == VA_OK,
                      "case %d: %s", k, err.msg);
        ck_assert_int_eq(img.orientation, 1);
        assert_oriented(&img, 1, "broken EXIF");
        va_image_free(&img);
        free(jpg);
    }
}
END_TEST

START_TEST(test_unknown_format_lists_formats) {
    va_error err = {0};
    static const unsigned char text[] = "just some text, not an image\n";
    va_image img;
    ck_assert_int_eq(va_image_load_memory(text, sizeof text, "notes.jpg", 1000, &img, &err),
                     VA_ERR_FORMAT);
    ck_assert(va_test_msg_ok(err.msg, "notes.jpg"));
    ck_assert_msg(strstr(err.msg, "PNG, JPEG, BMP, GIF, PNM (and TGA, PSD, HDR, PIC with "
                                  "--all-formats)"),
                  "%s", err.msg);
}
END_TEST

/* ---- Decoders: TurboJPEG, libspng, stb_image for the rest ------------------------------------ */

/* stb_image's reading of a file, as va_image_load delivered it before JPEG and PNG moved to
 * TurboJPEG and libspng: grey -> RGB, alpha over black. The reference for the pixel checks. */
static unsigned char *stb_reference(const unsigned char *b, size_t len, int *w, int *h, int *c) {
    unsigned char *raw = stbi_load_from_memory(b, (int)len, w, h, c, 0);
    if (!raw) return NULL;
    const size_t n = (size_t)*w * (size_t)*h;
    unsigned char *rgb = malloc(n * 3);
    ck_assert_ptr_nonnull(rgb);
    for (size_t i = 0; i < n; i++) {
        const unsigned char *s = raw + i * (size_t)*c;
        const unsigned a = (*c == 2 || *c == 4) ? s[*c - 1] : 255u;
        for (int k = 0; k < 3; k++)
            rgb[i * 3 + (size_t)k] = (unsigned char)(((*c <= 2 ? s[0] : s[k]) * a + 127u) / 255u);
    }
    stbi_image_free(raw);
    return rgb;
}

static unsigned char *slurp_seed(const char *name, size_t *len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/image/%s", VISATTN_SOURCE_DIR, name);
    return slurp(path, len);
}

/* The largest channel difference between an image and stb_image's reading of the same file. */
static int max_diff_from_stb(const char *name, const unsigned char *b, size_t len,
                             const va_image *img) {
    int w, h, c;
    unsigned char *ref = stb_reference(b, len, &w, &h, &c);
    ck_assert_msg(ref != NULL, "%s: stb_image cannot read it", name);
    ck_assert_int_eq(img->w, w);
    ck_assert_int_eq(img->h, h);
    int worst = 0;
    for (size_t i = 0; i < (size_t)w * (size_t)h * 3; i++) {
        const int d = abs((int)img->px[i] - (int)ref[i]);
        worst = d > worst ? d : worst;
    }
    free(ref);
    return worst;
}

/* Every PNG seed (tools/make_image_seeds.py: every colour type, 1-16 bits, palettes with and
 * without tRNS, colour keys, Adam7) decodes with libspng to exactly the pixels stb_image gave
 * (16 bits reduced to the high byte by both), with the same src_channels and src_16bit. */
START_TEST(test_png_decoder_matches_stb) {
    // clang-format off
    static const char *const seeds[] = {
        "dec_rgb8.png", "dec_rgb8_interlaced.png", "dec_rgba8.png", "dec_rgba8_interlaced.png",
        "dec_grey8.png", "dec_grey_alpha8.png", "dec_grey_alpha16.png", "dec_grey16.png",
        "dec_grey16_interlaced.png", "dec_rgb16.png", "dec_rgb16_interlaced.png", "dec_rgba16.png",
        "dec_grey1.png", "dec_grey2.png", "dec_grey4.png", "dec_grey1_interlaced.png",
        "dec_palette1.png", "dec_palette2.png", "dec_palette4.png", "dec_palette8.png",
        "dec_palette8_trns.png", "dec_palette8_interlaced.png", "dec_palette4_interlaced_trns.png",
        "dec_rgb8_trns_colorkey.png", "dec_grey8_trns_colorkey.png",
        "dec_rgb8_gama_multi_idat.png", "dec_rgb8_filter_none.png", "dec_rgb8_filter_paeth.png"};
    // clang-format on
    for (size_t k = 0; k < sizeof seeds / sizeof *seeds; k++) {
        size_t len;
        unsigned char *b = slurp_seed(seeds[k], &len);
        va_image img;
        va_error err = {0};
        ck_assert_msg(va_image_load_memory(b, len, seeds[k], 10000, &img, &err) == VA_OK, "%s",
                      err.msg);
        ck_assert_msg(max_diff_from_stb(seeds[k], b, len, &img) == 0, "%s differs from stb_image",
                      seeds[k]);
        int w, h, c; /* what stbi_load reports (stbi_info leaves tRNS out) */
        stbi_image_free(stbi_load_from_memory(b, (int)len, &w, &h, &c, 0));
        ck_assert_msg(img.src_channels == c, "%s: src_channels %d, stb_image %d", seeds[k],
                      img.src_channels, c);
        ck_assert_int_eq(img.src_16bit, stbi_is_16_bit_from_memory(b, (int)len));
        ck_assert_int_eq(img.src_16bit, strstr(seeds[k], "16") != NULL);
        va_image_free(&img);
        free(b);
    }
}
END_TEST

/* Every JPEG seed stb_image reads (baseline, progressive with many scan scripts, restarts, every
 * subsampling, grey, Adobe CMYK and YCCK) decodes with TurboJPEG to within 3 grey levels of
 * stb_image's pixels (the two upsample chroma and round the IDCT slightly differently); a grey
 * file stays 1 source channel. The arithmetic-coded ones, which stb_image cannot read, give
 * exactly the pixels of the Huffman-coded file with the same quantised coefficients. */
START_TEST(test_jpeg_decoder_matches_stb) {
    // clang-format off
    static const char *const seeds[] = {
        "dec_base_420.jpg", "dec_base_422.jpg", "dec_base_444.jpg", "dec_base_440.jpg",
        "dec_base_411.jpg", "dec_base_odd_sampling.jpg", "dec_base_optimized.jpg",
        "dec_base_q100.jpg", "dec_base_rgb.jpg", "dec_base_restart_row.jpg",
        "dec_base_restart_1block.jpg", "dec_base_restart_3blocks_444.jpg",
        "dec_base_sequential_3scans.jpg", "dec_grey_base.jpg", "dec_grey_restart.jpg",
        "dec_prog_default.jpg", "dec_prog_444.jpg", "dec_prog_restart_1block.jpg",
        "dec_prog_restart_row.jpg", "dec_prog_spectral.jpg", "dec_prog_deep_sa.jpg",
        "dec_prog_deep_sa_restart.jpg", "dec_prog_noninterleaved_dc.jpg",
        "dec_prog_narrow_bands.jpg", "dec_grey_prog.jpg", "dec_grey_prog_sa.jpg",
        "dec_cmyk_adobe.jpg", "dec_cmyk_adobe_prog.jpg", "dec_ycck_adobe.jpg", "dec_exif_icc.jpg"};
    // clang-format on
    for (size_t k = 0; k < sizeof seeds / sizeof *seeds; k++) {
        size_t len;
        unsigned char *b = slurp_seed(seeds[k], &len);
        va_image img;
        va_error err = {0};
        ck_assert_msg(va_image_load_memory(b, len, seeds[k], 10000, &img, &err) == VA_OK, "%s",
                      err.msg);
        const int d = max_diff_from_stb(seeds[k], b, len, &img);
        ck_assert_msg(d <= 3, "%s: %d grey levels from stb_image", seeds[k], d);
        ck_assert_int_eq(img.src_channels, strncmp(seeds[k], "dec_grey", 8) == 0 ? 1 : 3);
        ck_assert_int_eq(img.src_16bit, 0);
        va_image_free(&img);
        free(b);
    }
    static const char *const arith[2][2] = {{"dec_arith_base.jpg", "dec_base_420.jpg"},
                                            {"dec_arith_prog.jpg", "dec_prog_default.jpg"}};
    for (int k = 0; k < 2; k++) {
        va_image a, h;
        va_error err = {0};
        size_t la, lh;
        unsigned char *ba = slurp_seed(arith[k][0], &la), *bh = slurp_seed(arith[k][1], &lh);
        int w, hh, c;
        ck_assert_ptr_null(stbi_load_from_memory(ba, (int)la, &w, &hh, &c, 0));
        ck_assert_int_eq(va_image_load_memory(ba, la, arith[k][0], 10000, &a, &err), VA_OK);
        ck_assert_int_eq(va_image_load_memory(bh, lh, arith[k][1], 10000, &h, &err), VA_OK);
        ck_assert(a.w == h.w && a.h == h.h);
        ck_assert_mem_eq(a.px, h.px, (size_t)a.w * (size_t)a.h * 3);
        va_image_free(&a), va_image_free(&h);
        free(ba), free(bh);
    }
}
END_TEST

/* Known content through TurboJPEG's own encoder: the block pattern as a progressive JPEG, and as
 * an Adobe CMYK JPEG whose inks give the pattern's colours (R = C * K / 255 on the stored,
 * inverted values, as Adobe writes and stb_image read them). */
START_TEST(test_jpeg_known_content) {
    enum { W = EX_BW * 8, H = EX_BH * 8 };
    unsigned char rgb[H][W][3], cmyk[H][W][4];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            block_colour(x / 8, y / 8, rgb[y][x]);
            /* K = the brightest channel (stored inverted: 255 = no ink), C = R * 255 / K, ... */
            unsigned k = rgb[y][x][0];
            for (int c = 1; c < 3; c++)
                k = rgb[y][x][c] > k ? rgb[y][x][c] : k;
            for (int c = 0; c < 3; c++)
                cmyk[y][x][c] = (unsigned char)((rgb[y][x][c] * 255u + k / 2) / k);
            cmyk[y][x][3] = (unsigned char)k;
        }
    for (int cmyk_file = 0; cmyk_file < 2; cmyk_file++) {
        /* A handle per file: TurboJPEG 2.1 carries settings of one compression into the next. */
        tjhandle tj = tjInitCompress();
        ck_assert_ptr_nonnull(tj);
        unsigned char *jpg = NULL;
        unsigned long len = 0;
        const int rc = cmyk_file ? tjCompress2(tj, &cmyk[0][0][0], W, 0, H, TJPF_CMYK, &jpg, &len,
                                               TJSAMP_444, 95, 0)
                                 : tjCompress2(tj, &rgb[0][0][0], W, 0, H, TJPF_RGB, &jpg, &len,
                                               TJSAMP_444, 95, TJFLAG_PROGRESSIVE);
        ck_assert_msg(rc == 0, "%s", tjGetErrorStr2(tj));
        va_image img;
        va_error err = {0};
        ck_assert_msg(va_image_load_memory(jpg, len, "k.jpg", 10000, &img, &err) == VA_OK, "%s",
                      err.msg);
        ck_assert_int_eq(img.src_channels, 3);
        assert_oriented(&img, 1, cmyk_file ? "CMYK JPEG" : "progressive JPEG");
        va_image_free(&img);
        tjFree(jpg);
        tjDestroy(tj);
    }
}
END_TEST

/* BMP and PNM (stb_image, on by default) with known content, exactly; GIF (a Pillow seed) as
 * stb_image reads it. TGA, PSD and HDR are refused unless all_formats is set, with a message
 * naming the file and the option; with it, a TGA loads exactly. */
START_TEST(test_stb_formats) {
    va_image src = make_image(7, 5), img;
    va_error err = {0};
    membuf m = {0};
    ck_assert(stbi_write_bmp_to_func(membuf_put, &m, 7, 5, 3, src.px));
    ck_assert_int_eq(va_image_load_memory(m.b, m.n, "a.bmp", 100, &img, &err), VA_OK);
    ck_assert_mem_eq(img.px, src.px, 7 * 5 * 3);
    va_image_free(&img);
    free(m.b);

    unsigned char ppm[64 + 7 * 5 * 3];
    const int hl = sprintf((char *)ppm, "P6\n# made by test_vis\n7 5\n255\n");
    memcpy(ppm + hl, src.px, 7 * 5 * 3);
    ck_assert_int_eq(va_image_load_memory(ppm, (size_t)hl + 105, "a.ppm", 100, &img, &err), VA_OK);
    ck_assert_mem_eq(img.px, src.px, 7 * 5 * 3);
    va_image_free(&img);

    size_t len;
    unsigned char *gif = slurp_seed("rgb.gif", &len);
    ck_assert_int_eq(va_image_load_memory(gif, len, "rgb.gif", 100, &img, &err), VA_OK);
    ck_assert_int_eq(max_diff_from_stb("rgb.gif", gif, len, &img), 0);
    va_image_free(&img);
    free(gif);

    memset(&m, 0, sizeof m);
    ck_assert(stbi_write_tga_to_func(membuf_put, &m, 7, 5, 3, src.px));
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(va_image_load_memory(m.b, m.n, "a.tga", 100, &img, &err), VA_ERR_FORMAT);
    ck_assert(va_test_msg_ok(err.msg, "a.tga"));
    ck_assert_msg(strstr(err.msg, "TGA") && strstr(err.msg, "--all-formats"), "%s", err.msg);
    ck_assert_ptr_null(img.px);
    const va_image_options all = {.all_formats = 1};
    ck_assert_int_eq(va_image_load_memory_opts(m.b, m.n, "a.tga", &all, &img, &err), VA_OK);
    ck_assert_mem_eq(img.px, src.px, 7 * 5 * 3);
    va_image_free(&img);
    free(m.b);

    static const char hdr[] = "#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 1 +X 1\n\x80\x80\x80\x81";
    unsigned char psd[40] = "8BPS";
    const struct {
        const unsigned char *b;
        size_t n;
        const char *name, *fmt;
    } off[] = {{(const unsigned char *)hdr, sizeof hdr - 1, "a.hdr", "HDR"},
               {psd, sizeof psd, "a.psd", "PSD"}};
    for (int k = 0; k < 2; k++) {
        memset(&err, 0, sizeof err);
        ck_assert_int_eq(va_image_load_memory(off[k].b, off[k].n, off[k].name, 100, &img, &err),
                         VA_ERR_UNSUPPORTED);
        ck_assert(va_test_msg_ok(err.msg, off[k].name));
        ck_assert_msg(strstr(err.msg, off[k].fmt) && strstr(err.msg, "--all-formats"), "%s",
                      err.msg);
    }
    ck_assert_int_eq(va_image_load_memory_opts(off[0].b, off[0].n, "a.hdr", &all, &img, &err),
                     VA_OK);
    ck_assert(img.w == 1 && img.h == 1);
    va_image_free(&img);
    va_image_free(&src);
}
END_TEST

/* The inputs fuzzing found (tests/fuzz/regressions/image/): each is refused with one line naming
 * the file and saying why; in the ASan + UBSan build any report fails the test. docs/hardening.md's
 * table says why for each: libjpeg refuses the bad Huffman tables and the corrupt progressive
 * scans (an undefined quantisation or Huffman table: fatal errors, which TurboJPEG's API would
 * have reported as warnings), libspng the PNG chunk past the file's end, the PNM check the
 * overflowing header number. */
START_TEST(test_fuzz_regressions) {
    static const struct {
        const char *name, *why;
    } files[] = {{"jpeg-progressive-shift33.jpg", "Quantization table 0x01 was not defined"},
                 {"jpeg-undefined-huffman-table.jpg", "Huffman table 0x00 was not defined"},
                 {"jpeg_dht_over_256_codes.jpg", "Bogus Huffman table definition"},
                 {"jpeg_dht_table_past_segment.jpg", "Bogus Huffman table definition"},
                 {"jpeg_fill_before_soi.jpg", "Bogus Huffman table definition"},
                 {"png_chunk_past_file.png", "libspng"},
                 {"pnm_header_overflow.pgm", "PNM header number"}};
    for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tests/fuzz/regressions/image/%s", VISATTN_SOURCE_DIR,
                 files[k].name);
        va_image img;
        va_error err = {0};
        const va_status st = va_image_load(path, VA_IMAGE_DEFAULT_MAX_PIXELS, &img, &err);
        ck_assert_msg(st != VA_OK, "%s loaded", files[k].name);
        ck_assert_msg(va_test_msg_ok(err.msg, files[k].name) && strstr(err.msg, files[k].why),
                      "%s: %s", files[k].name, err.msg);
        ck_assert_ptr_null(img.px);
    }
}
END_TEST

/* ---- Colour scales and bars ----------------------------------------------------------------- */

START_TEST(test_overlay_scaled) {
    va_error err = {0};
    va_image img = make_image(2, 2), out, plain;
    va_tensor map;
    ck_assert_int_eq(va_tensor_alloc4(&map, 1, 1, 2, 2, NULL), VA_OK);
    const float v[4] = {0.2f, 0.4f, 0.6f, 0.8f};
    memcpy(map.data, v, sizeof v);
    float range[2] = {-1.f, -1.f};
    /* Same size: the upsampling is the identity, so the grey levels are the scaled values. */
    va_map_scale sc = {VA_SCALE_STRETCH, 0.f, 0.f};
    ck_assert_int_eq(va_overlay_scaled(&map, &img, VA_CMAP_GRAY, 1.f, &sc, &out, range, &err),
                     VA_OK);
    ck_assert_float_eq(range[0], 0.2f);
    ck_assert_float_eq(range[1], 0.8f);
    static const unsigned char stretched[4] = {0, 85, 170, 255};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(out.px[3 * i], stretched[i]);
    /* va_overlay is the stretch. */
    ck_assert_int_eq(va_overlay(&map, &img, VA_CMAP_GRAY, 1.f, &plain, &err), VA_OK);
    ck_assert_mem_eq(plain.px, out.px, 2 * 2 * 3);
    va_image_free(&plain);
    va_image_free(&out);
    /* Fixed [0, 1]: 255 v. */
    sc = (va_map_scale){VA_SCALE_FIXED, 0.f, 1.f};
    ck_assert_int_eq(va_overlay_scaled(&map, &img, VA_CMAP_GRAY, 1.f, &sc, &out, range, &err),
                     VA_OK);
    ck_assert(range[0] == 0.f && range[1] == 1.f);
    static const unsigned char fixed[4] = {51, 102, 153, 204};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(out.px[3 * i], fixed[i]);
    va_image_free(&out);
    /* Fixed [0.4, 0.6]: values outside clamp to the ends. */
    sc = (va_map_scale){VA_SCALE_FIXED, 0.4f, 0.6f};
    ck_assert_int_eq(va_overlay_scaled(&map, &img, VA_CMAP_GRAY, 1.f, &sc, &out, NULL, &err),
                     VA_OK);
    static const unsigned char clamped[4] = {0, 0, 255, 255};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(out.px[3 * i], clamped[i]);
    va_image_free(&out);
    /* Bad scales. */
    const va_map_scale bad[] = {{VA_SCALE_FIXED, 1.f, 1.f},
                                {VA_SCALE_FIXED, 1.f, 0.f},
                                {VA_SCALE_FIXED, NAN, 1.f},
                                {VA_SCALE_FIXED, 0.f, INFINITY},
                                {(va_scale_kind)7, 0.f, 1.f}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        ck_assert_int_eq(
            va_overlay_scaled(&map, &img, VA_CMAP_GRAY, 1.f, &bad[i], &out, NULL, &err),
            VA_ERR_ARG);
        ck_assert(va_test_msg_ok(err.msg, "scale"));
        ck_assert_ptr_null(out.px);
    }
    /* A constant map: lo = hi; no finite value: both NaN. */
    sc = (va_map_scale){VA_SCALE_STRETCH, 0.f, 0.f};
    for (int i = 0; i < 4; i++)
        map.data[i] = 0.75f;
    ck_assert_int_eq(va_overlay_scaled(&map, &img, VA_CMAP_GRAY, 1.f, &sc, &out, range, &err),
                     VA_OK);
    ck_assert(range[0] == 0.75f && range[1] == 0.75f);
    va_image_free(&out);
    for (int i = 0; i < 4; i++)
        map.data[i] = NAN;
    ck_assert_int_eq(va_overlay_scaled(&map, &img, VA_CMAP_GRAY, 1.f, &sc, &out, range, &err),
                     VA_OK);
    ck_assert(isnan(range[0]) && isnan(range[1]));
    va_image_free(&out);
    va_tensor_free(&map);
    va_image_free(&img);
}
END_TEST

static int is_ink(const va_image *im, int x, int y) {
    const unsigned char *p = im->px + ((size_t)y * (size_t)im->w + (size_t)x) * 3;
    return p[0] == 240 && p[1] == 240 && p[2] == 240;
}

/* The first run of rows in [y0, y1) holding ink in columns [x0, x1) (a line of text): its first
 * and last row, -1 if none. */
static void ink_rows(const va_image *im, int x0, int x1, int y0, int y1, int *first, int *last) {
    *first = *last = -1;
    for (int y = y0; y < y1; y++) {
        int ink = 0;
        for (int x = x0; x < x1 && !ink; x++)
            ink = is_ink(im, x, y);
        if (ink) {
            if (*first < 0) *first = y;
            *last = y;
        } else if (*first >= 0) {
            return;
        }
    }
}

START_TEST(test_colorbar) {
    va_error err = {0};
    int heights[2];
    const int widths[2] = {224, 1000};
    for (int k = 0; k < 2; k++) {
        va_image img = make_image(widths[k], 50), out;
        ck_assert_int_eq(
            va_colorbar_append(&img, VA_CMAP_GRAY, 0.125f, 7.5e-5f, "min-max", &out, &err), VA_OK);
        ck_assert_int_eq(out.w, img.w);
        ck_assert_int_gt(out.h, img.h);
        ck_assert_mem_eq(out.px, img.px, (size_t)img.w * 50 * 3); /* the image, untouched */
        heights[k] = out.h - img.h;
        /* Somewhere in the strip a row runs from black (colour 0) at the left to white at the
         * right: the gradient. */
        int gradient_row = -1;
        for (int y = img.h; y < out.h && gradient_row < 0; y++) {
            int lo = -1, hi = -1;
            for (int x = 0; x < out.w; x++) {
                const unsigned char *p = out.px + ((size_t)y * (size_t)out.w + (size_t)x) * 3;
                if (p[0] == 0 && lo < 0) lo = x;
                if (p[0] == 255) hi = x;
            }
            if (lo >= 0 && hi > lo + out.w / 2) gradient_row = y;
        }
        ck_assert_msg(gradient_row >= 0, "width %d: no gradient row", img.w);
        /* Text under both ends (the two numbers), in the left and the right quarter. */
        int f, l;
        ink_rows(&out, 0, out.w / 4, gradient_row + 1, out.h, &f, &l);
        ck_assert_msg(f > 0, "width %d: nothing printed under the left end", img.w);
        int glyph_h = l - f + 1;
        ink_rows(&out, out.w * 3 / 4, out.w, gradient_row + 1, out.h, &f, &l);
        ck_assert_msg(f > 0, "width %d: nothing printed under the right end", img.w);
        /* Readable at the image's size: 7 rows of font pixels, each 1 + w / 160 pixels tall. */
        ck_assert_int_eq(glyph_h, 7 * (1 + img.w / 160));
        va_image_free(&out);
        va_image_free(&img);
    }
    ck_assert_int_gt(heights[1], heights[0]);
    /* An image narrower than the numbers: the strip is widened, never printed below scale 1. */
    va_image thin = make_image(3, 40), out;
    ck_assert_int_eq(va_colorbar_append(&thin, VA_CMAP_JET, -1.25e-05f, NAN, "fixed", &out, &err),
                     VA_OK);
    ck_assert_int_ge(out.w, (9 + 3) * 6); /* "-1.25e-05" and "nan" side by side */
    for (int y = 0; y < 40; y++) {
        ck_assert_mem_eq(out.px + (size_t)y * (size_t)out.w * 3, thin.px + (size_t)y * 9, 9);
        for (int x = 3; x < out.w; x++)
            ck_assert_int_eq(out.px[((size_t)y * (size_t)out.w + (size_t)x) * 3], 24);
    }
    va_image_free(&out);
    va_image_free(&thin);
}
END_TEST

/* ---- Contact sheets: any aspect ratio, labels that fit, bars ----------------------------------
 */

START_TEST(test_contact_sheet_aspect_ratios) {
    va_error err = {0};
    /* 3 x 10000 and 10000 x 3 images, nine columns of 224-pixel tiles (what `visattn heatmap
     * --block all` lays out): both sheets must be usable, not a sliver. */
    const int dims[2][2] = {{3, 10000}, {10000, 3}};
    for (int k = 0; k < 2; k++) {
        va_image img = make_image(dims[k][0], dims[k][1]), sheet;
        va_sheet_cell cells[9];
        for (int i = 0; i < 9; i++)
            cells[i] = (va_sheet_cell){.img = &img,
                                       .label = i ? "double_attention stage3" : "original",
                                       .colorbar = i > 0,
                                       .cmap = VA_CMAP_TURBO,
                                       .bar_lo = 0.00539f,
                                       .bar_hi = 0.463f,
                                       .bar_note = "min-max"};
        ck_assert_int_eq(va_contact_sheet(cells, 1, 9, 224, &sheet, &err), VA_OK);
        /* Tiles 112 x 224 or 224 x 112 plus labels and bars. */
        ck_assert_msg(sheet.w >= 9 * 112 && sheet.w <= 9 * 240 && sheet.h >= 112 && sheet.h <= 400,
                      "%d x %d image: sheet %d x %d", img.w, img.h, sheet.w, sheet.h);
        va_image_free(&sheet);
        va_image_free(&img);
    }
}
END_TEST

START_TEST(test_contact_sheet_labels) {
    va_error err = {0};
    va_image img = make_image(64, 64), sheet;
    memset(img.px, 0, 64 * 64 * 3);
    /* A short label and a long one: both at one font size, and neither runs into the gap between
     * the tiles. Tiles are 64 pixels wide: x 6..69 and 76..139, gaps 0..5, 70..75, 140..145. */
    va_sheet_cell cells[2] = {{.img = &img, .label = "se stage1"},
                              {.img = &img, .label = "double_attention stage3"}};
    ck_assert_int_eq(va_contact_sheet(cells, 1, 2, 64, &sheet, &err), VA_OK);
    ck_assert_int_eq(sheet.w, 2 * 70 + 6);
    for (int y = 0; y < sheet.h; y++)
        for (int x = 0; x < sheet.w; x++) {
            const int in_gap = x < 6 || (x >= 70 && x < 76) || x >= 140;
            ck_assert_msg(!(in_gap && is_ink(&sheet, x, y)), "label ink in the gap at (%d, %d)", x,
                          y);
        }
    /* The first text line of each label has the same height. */
    int f0, l0, f1, l1;
    ink_rows(&sheet, 6, 70, 0, 20, &f0, &l0);
    ink_rows(&sheet, 76, 140, 0, 20, &f1, &l1);
    ck_assert_int_ge(f0, 0);
    ck_assert_int_eq(l0 - f0, l1 - f1);
    /* The long label took a second line, at the same size. */
    int f2, l2;
    ink_rows(&sheet, 76, 140, l1 + 2, l1 + 2 + 20, &f2, &l2);
    ck_assert_int_ge(f2, 0);
    ck_assert_int_eq(l2 - f2, l1 - f1);
    va_image_free(&sheet);

    /* A cell with a colour bar: the gray map from black to white under its box, and the sheet is
     * taller than without. */
    va_image plain;
    cells[1].label = cells[0].label = NULL;
    ck_assert_int_eq(va_contact_sheet(cells, 1, 2, 64, &plain, &err), VA_OK);
    cells[1].colorbar = 1, cells[1].cmap = VA_CMAP_GRAY;
    cells[1].bar_lo = 0.5f, cells[1].bar_hi = 0.75f, cells[1].bar_note = "fixed";
    ck_assert_int_eq(va_contact_sheet(cells, 1, 2, 64, &sheet, &err), VA_OK);
    ck_assert_int_gt(sheet.h, plain.h);
    int found = 0;
    for (int y = 6 + 2 + 64; y < sheet.h && !found; y++) {
        const unsigned char *row = sheet.px + (size_t)y * (size_t)sheet.w * 3;
        int black = -1, white = -1;
        for (int x = 76; x < 140; x++) {
            if (row[3 * x] == 0 && black < 0) black = x;
            if (row[3 * x] == 255) white = x;
        }
        found = black >= 0 && white > black + 32;
    }
    ck_assert_msg(found, "no colour bar under the second tile");
    va_image_free(&sheet);
    va_image_free(&plain);
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
    tcase_add_test(tc, test_exif_orientation);
    tcase_add_test(tc, test_exif_hostile);
    tcase_add_test(tc, test_unknown_format_lists_formats);
    tcase_add_test(tc, test_png_decoder_matches_stb);
    tcase_add_test(tc, test_jpeg_decoder_matches_stb);
    tcase_add_test(tc, test_jpeg_known_content);
    tcase_add_test(tc, test_stb_formats);
    tcase_add_test(tc, test_fuzz_regressions);
    tcase_add_test(tc, test_overlay_scaled);
    tcase_add_test(tc, test_colorbar);
    tcase_add_test(tc, test_contact_sheet_aspect_ratios);
    tcase_add_test(tc, test_contact_sheet_labels);
    suite_add_tcase(s, tc);
    return va_test_run(s);
}
