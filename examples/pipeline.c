/* A C pipeline with visattn: one loaded model shared by several threads, each thread with its own
 * run context. Every image is preprocessed as the model declares, classified, and its class
 * activation map is blended over it and written as a PNG.
 *
 *   pipeline MODEL.safetensors OUT_DIR IMAGE...
 *
 * Build: cc -std=c11 pipeline.c $(pkg-config --cflags --libs visattn-vis) -pthread */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <visattn/visattn.h>
#include <visattn/vis.h>

#define THREADS 4

typedef struct worker {
    const va_block *model; /* loaded once, shared by every thread, never written */
    const char *out_dir;
    char **images;
    int first, count; /* this worker's images: first, first + THREADS, ... */
    int failed;
} worker;

static va_status classify(const va_block *model, va_run *run, const char *path,
                          const char *out_dir, va_error *err) {
    va_image img = {0}, overlay = {0};
    va_tensor x = {0}, y = {0};
    va_preprocess pp;
    int64_t out[4];
    va_status st = va_image_load(path, 100000000, &img, err);
    if (st == VA_OK) st = va_preprocess_for_model(model, &pp, err);
    if (st == VA_OK) st = va_image_to_input(&img, &pp, &x, err); /* 1 x C x H x W */
    if (st == VA_OK) st = va_block_out_shape(model, x.shape, out, err);
    if (st == VA_OK) st = va_tensor_alloc(&y, 4, out, err);
    if (st == VA_OK) st = va_block_forward(model, run, &x, &y, err);
    /* The maps of this forward live in `run`, until its next forward. */
    const va_map *cam = st == VA_OK ? va_run_find_map(run, "cam") : NULL;
    if (st == VA_OK && !cam) st = va_fail(err, VA_ERR_ARG, "the model records no 'cam' map");
    if (st == VA_OK) st = va_overlay(&cam->t, &img, VA_CMAP_TURBO, 0.5f, &overlay, err);
    char png[4096];
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    snprintf(png, sizeof png, "%s/%.*s_cam.png", out_dir, (int)strcspn(base, "."), base);
    if (st == VA_OK) st = va_image_write_png(png, &overlay, err);
    if (st == VA_OK) {
        int best = 0;
        for (int k = 1; k < (int)out[1]; k++)
            if (y.data[k] > y.data[best]) best = k;
        const char *name = va_block_class_name(model, best);
        printf("%s: %s, wrote %s\n", path, name ? name : "?", png);
    }
    va_image_free(&img);
    va_image_free(&overlay);
    va_tensor_free(&x);
    va_tensor_free(&y);
    return st;
}

static void *work(void *arg) {
    worker *w = arg;
    va_error err = {0};
    va_set_num_threads(1); /* parallel over images: one OpenMP/OpenBLAS thread per forward */
    va_run *run = NULL;    /* this thread's maps and scratch */
    if (va_run_create(&run, &err) != VA_OK) {
        fprintf(stderr, "%s\n", err.msg);
        w->failed = w->count;
        return NULL;
    }
    for (int i = w->first; i < w->count; i += THREADS)
        if (classify(w->model, run, w->images[i], w->out_dir, &err) != VA_OK) {
            fprintf(stderr, "%s: %s\n", w->images[i], err.msg);
            w->failed++;
        }
    va_run_destroy(run);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL.safetensors OUT_DIR IMAGE...\n", argv[0]);
        return 2;
    }
    va_error err = {0};
    va_block *model = NULL;
    if (va_block_load_file(argv[1], &model, &err) != VA_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    worker w[THREADS];
    pthread_t tid[THREADS];
    int failed = 0;
    for (int t = 0; t < THREADS; t++) {
        w[t] = (worker){model, argv[2], argv + 3, t, argc - 3, 0};
        pthread_create(&tid[t], NULL, work, &w[t]);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(tid[t], NULL);
        failed += w[t].failed;
    }
    va_block_destroy(model);
    return failed ? 1 : 0;
}
