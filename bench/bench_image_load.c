/* Time va_image_load (the whole path `visattn heatmap` takes: read, decode, EXIF orientation,
 * alpha over black) over a set of files.
 *
 *   bench_image_load [--repeat N] FILE|DIR ...
 *
 * Every file (a directory: every regular file in it, in name order) is loaded once per pass; the
 * line printed gives the median, min and max of N passes (default 5) and a checksum of all pixels
 * (to compare decoders: equal sums need equal pixels, not the reverse). docs/hardening.md has the
 * numbers for stb_image against TurboJPEG and libspng. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench_util.h"
#include "visattn/vis.h"

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add(char ***list, size_t *n, const char *path) {
    *list = realloc(*list, (*n + 1) * sizeof **list);
    (*list)[(*n)++] = strdup(path);
}

int main(int argc, char **argv) {
    int repeat = 5;
    char **files = NULL;
    size_t n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--repeat") && i + 1 < argc) {
            repeat = atoi(argv[++i]);
            continue;
        }
        struct stat sb;
        if (stat(argv[i], &sb) != 0) {
            fprintf(stderr, "bench_image_load: %s: no such file\n", argv[i]);
            return 2;
        }
        if (!S_ISDIR(sb.st_mode)) {
            add(&files, &n, argv[i]);
            continue;
        }
        DIR *d = opendir(argv[i]);
        const size_t first = n;
        for (struct dirent *e; d && (e = readdir(d));) {
            if (e->d_name[0] == '.') continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", argv[i], e->d_name);
            add(&files, &n, p);
        }
        if (d) closedir(d);
        qsort(files + first, n - first, sizeof *files, cmp_str);
    }
    if (!n || repeat < 1) {
        fprintf(stderr, "usage: bench_image_load [--repeat N] FILE|DIR ...\n");
        return 2;
    }
    double *t = calloc((size_t)repeat, sizeof *t);
    uint64_t sum = 0;
    double mpx = 0;
    for (int r = 0; r < repeat; r++) {
        const double t0 = now_s();
        uint64_t s = 0;
        double m = 0;
        for (size_t k = 0; k < n; k++) {
            va_image img;
            va_error err = {0};
            if (va_image_load(files[k], VA_IMAGE_DEFAULT_MAX_PIXELS, &img, &err) != VA_OK) {
                fprintf(stderr, "bench_image_load: %s\n", err.msg);
                return 1;
            }
            for (size_t i = 0; i < (size_t)img.w * (size_t)img.h * 3; i++)
                s += img.px[i];
            m += (double)img.w * img.h / 1e6;
            va_image_free(&img);
        }
        t[r] = now_s() - t0;
        sum = s, mpx = m;
    }
    qsort(t, (size_t)repeat, sizeof *t, cmp_double);
    printf("%zu files, %.1f Mpx: median %.3f s (min %.3f, max %.3f) of %d passes, %.2f ms/image, "
           "pixel sum %llu\n",
           n, mpx, t[repeat / 2], t[0], t[repeat - 1], repeat, 1e3 * t[repeat / 2] / (double)n,
           (unsigned long long)sum);
    for (size_t k = 0; k < n; k++)
        free(files[k]);
    free(files);
    free(t);
    return 0;
}
