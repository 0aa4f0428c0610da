/* visattn eval MODEL.safetensors IMAGES.idx[.gz] LABELS.idx[.gz] [options]
 * visattn eval MODEL.safetensors FOLDER [options]
 * Top-1 accuracy of a classifier over an IDX data set such as Fashion-MNIST's test split
 * ((pixel/255 - mean) / std with the model config's mean and std; IDX files are read through
 * zlib's gzread, which takes gzipped and plain files alike), or over a folder of images laid out
 * as torchvision's ImageFolder reads it (one subfolder per class, classes in sorted name order),
 * each image preprocessed as `visattn heatmap` does. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "cli.h"
#include "visattn/vis.h"
#include "visattn/visattn.h"

#define EVAL_MAX_ITEMS 100000000L /* refuse headers claiming more before allocating */
#define EVAL_MAX_SIDE 4096

static void eval_usage(FILE *f) {
    fprintf(f,
            "usage: visattn eval MODEL.safetensors IMAGES.idx[.gz] LABELS.idx[.gz] [options]\n"
            "       visattn eval MODEL.safetensors FOLDER [options]\n"
            "\n"
            "Top-1 accuracy of MODEL (a classifier such as assets/models/*.safetensors or a\n"
            "converted EMO checkpoint) on labelled images, given either way:\n"
            "- IDX files, e.g. /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz and\n"
            "  t10k-labels-idx1-ubyte.gz: unsigned bytes, N x H x W (one channel), fed as\n"
            "  (pixel/255 - mean) / std with the model config's mean and std;\n"
            "- a FOLDER as torchvision's ImageFolder reads it: one subfolder per class, class k\n"
            "  being the k-th subfolder name in sorted (byte) order, empty ones included; the\n"
            "  images are the files under each class folder, at any depth, whose names end in\n"
            "  .jpg .jpeg .png .ppm .pgm .bmp (any case; other files are skipped and counted;\n"
            "  .tif .tiff .webp are ImageFolder's too but not readable here: an error each),\n"
            "  ordered by folder path, then file name, as ImageFolder orders them.\n"
            "  Each image is preprocessed as `visattn heatmap` does: converted to the model's\n"
            "  channels, resized to its input size (bilinear, no crop), then normalised.\n"
            "  An image that cannot be read is reported and left out; the exit status is 1.\n"
            "Top-1 is torch.argmax's: a NaN class score counts as the largest. If any image\n"
            "gives a NaN or Inf score, the accuracy is still printed but the exit status is 1.\n"
            "  --batch B      images per forward pass (default 256)\n"
            "  --limit N      only the first N images (in the order above for a FOLDER)\n"
            "  --predictions FILE  write one CSV line per image: image (its path, or its index\n"
            "                 in IDX data), label, top1\n"
            "  --threads N    threads for OpenMP and OpenBLAS\n");
}

static int parse_pos(const char *opt, const char *arg, long max, long *out) {
    char *end;
    errno = 0;
    long v = arg ? strtol(arg, &end, 10) : 0;
    if (!arg || errno || *end || v < 1 || v > max) {
        va_cli_error("eval: %s needs an integer 1..%ld, got '%s'", opt, max, arg ? arg : "");
        return -1;
    }
    *out = v;
    return 0;
}

/* Read a whole unsigned-byte IDX file of `want_ndim` dims: dims[] and a malloc'ed payload. */
static int read_idx(const char *path, int want_ndim, long dims[3], unsigned char **data) {
    *data = NULL;
    gzFile f = gzopen(path, "rb");
    if (!f) {
        va_cli_error("%s: cannot open (%s)", path, errno ? strerror(errno) : "zlib error");
        return -1;
    }
    unsigned char hdr[16];
    int hlen = 4 + 4 * want_ndim, rc = -1;
    if (gzread(f, hdr, (unsigned)hlen) != hlen) {
        va_cli_error("%s: too short for an IDX header", path);
        goto done;
    }
    if (hdr[0] != 0 || hdr[1] != 0 || hdr[2] != 0x08 || hdr[3] != want_ndim) {
        va_cli_error("%s: not an IDX file of unsigned bytes with %d dimension%s", path, want_ndim,
                     want_ndim > 1 ? "s" : "");
        goto done;
    }
    long total = 1;
    for (int i = 0; i < want_ndim; i++) {
        const unsigned char *p = hdr + 4 + 4 * i;
        unsigned long v =
            (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 | (unsigned long)p[2] << 8 | p[3];
        long lim = i == 0 ? EVAL_MAX_ITEMS : EVAL_MAX_SIDE;
        if (v < 1 || v > (unsigned long)lim) {
            va_cli_error("%s: header claims dimension %d of %lu (allowed 1..%ld)", path, i, v, lim);
            goto done;
        }
        dims[i] = (long)v;
        if (total > EVAL_MAX_ITEMS * 16L / (long)v) {
            va_cli_error("%s: header claims more than %ld bytes of data", path,
                         EVAL_MAX_ITEMS * 16L);
            goto done;
        }
        total *= (long)v;
    }
    *data = malloc((size_t)total);
    if (!*data) {
        va_cli_error("%s: out of memory for %ld bytes", path, total);
        goto done;
    }
    long got = 0;
    while (got < total) {
        long chunk = total - got > (1L << 30) ? (1L << 30) : total - got;
        int r = gzread(f, *data + got, (unsigned)chunk);
        if (r <= 0) break;
        got += r;
    }
    if (got != total) {
        int zerr;
        const char *msg = gzerror(f, &zerr);
        va_cli_error("%s: truncated: %ld of %ld data bytes%s%s", path, got, total,
                     zerr < 0 ? ": " : "", zerr < 0 ? msg : "");
        goto done;
    }
    rc = 0;
done:
    if (rc) {
        free(*data);
        *data = NULL;
    }
    gzclose(f);
    return rc;
}

/* Index of the largest of l[0..n-1] as torch.argmax picks it: a NaN counts as larger than any
 * number (the first NaN wins), otherwise the first maximum. */
static long argmax_torch(const float *l, long n) {
    long top = 0;
    for (long k = 0; k < n; k++) {
        if (isnan(l[k])) return k;
        if (l[k] > l[top]) top = k;
    }
    return top;
}

/* ---- Image folders, as torchvision's ImageFolder reads them ------------------------------------
 */

#define EVAL_MAX_DEPTH 32 /* symbolic links are followed, as os.walk(followlinks=True) does */

typedef struct image_item {
    char *path;
    size_t dirlen; /* path[0..dirlen) is the folder, path + dirlen + 1 the file name:
                    * ImageFolder sorts by folder path (as a string), then by name */
    long label;
} image_item;

typedef struct image_list {
    image_item *items;
    long n, cap, skipped;
} image_list;

static void image_list_free(image_list *l) {
    for (long i = 0; i < l->n; i++)
        free(l->items[i].path);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_item(const void *a, const void *b) {
    const image_item *x = a, *y = b;
    size_t m = x->dirlen < y->dirlen ? x->dirlen : y->dirlen;
    int c = memcmp(x->path, y->path, m);
    if (c) return c;
    if (x->dirlen != y->dirlen) return x->dirlen < y->dirlen ? -1 : 1;
    return strcmp(x->path + x->dirlen + 1, y->path + y->dirlen + 1);
}

static char *join_path(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ImageFolder's extensions (case-insensitive); 1 if the name ends in one, else 0. */
static int has_image_ext(const char *name) {
    static const char *const ext[] = {".jpg", ".jpeg", ".png",  ".ppm", ".pgm",
                                      ".bmp", ".tif",  ".tiff", ".webp"};
    size_t n = strlen(name);
    for (size_t e = 0; e < sizeof ext / sizeof ext[0]; e++) {
        size_t k = strlen(ext[e]);
        if (n <= k) continue;
        size_t i = 0;
        while (i < k && tolower((unsigned char)name[n - k + i]) == ext[e][i])
            i++;
        if (i == k) return 1;
    }
    return 0;
}

/* The entries of dir except "." and "..", sorted by name (malloc'ed; free each and the array). */
static int list_dir(const char *dir, char ***names, long *n) {
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        va_cli_error("%s: cannot open folder (%s)", dir, strerror(errno));
        return -1;
    }
    long cap = 0;
    int rc = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            char **g = realloc(*names, (size_t)cap * sizeof **names);
            if (!g) {
                rc = -1;
                break;
            }
            *names = g;
        }
        if (!((*names)[*n] = strdup(e->d_name))) {
            rc = -1;
            break;
        }
        (*n)++;
    }
    closedir(d);
    if (rc)
        va_cli_error("%s: out of memory listing the folder", dir);
    else if (*n > 1)
        qsort(*names, (size_t)*n, sizeof **names, cmp_name);
    return rc;
}

static void free_names(char **names, long n) {
    for (long i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Add every image file under dir (any depth) with the given label. */
static int collect_images(const char *dir, long label, int depth, image_list *l) {
    if (depth > EVAL_MAX_DEPTH) {
        va_cli_error("%s: folders nested more than %d deep (a symbolic-link loop?)", dir,
                     EVAL_MAX_DEPTH);
        return -1;
    }
    char **names;
    long n;
    if (list_dir(dir, &names, &n)) return -1;
    int rc = 0;
    for (long i = 0; i < n && !rc; i++) {
        char *path = join_path(dir, names[i]);
        if (!path) {
            rc = -1;
            va_cli_error("%s: out of memory", dir);
        } else if (is_dir(path)) {
            rc = collect_images(path, label, depth + 1, l);
            free(path);
        } else if (!has_image_ext(names[i])) {
            l->skipped++;
            free(path);
        } else {
            if (l->n == l->cap) {
                long cap = l->cap ? 2 * l->cap : 256;
                image_item *g = realloc(l->items, (size_t)cap * sizeof *g);
                if (!g) {
                    free(path);
                    va_cli_error("%s: out of memory", dir);
                    rc = -1;
                    break;
                }
                l->items = g;
                l->cap = cap;
            }
            l->items[l->n++] = (image_item){path, strlen(dir), label};
        }
    }
    free_names(names, n);
    return rc;
}

/* The class folders of root (sorted) and their images; *nclass set. */
static int read_folder(const char *root, image_list *l, long *nclass) {
    char **names;
    long n;
    *nclass = 0;
    if (list_dir(root, &names, &n)) return -1;
    int rc = 0;
    for (long i = 0; i < n && !rc; i++) {
        char *path = join_path(root, names[i]);
        if (!path) {
            va_cli_error("%s: out of memory", root);
            rc = -1;
        } else if (is_dir(path)) {
            long first = l->n;
            rc = collect_images(path, *nclass, 1, l);
            /* this class's images in ImageFolder's order: by folder, then by file name */
            if (!rc && l->n - first > 1)
                qsort(l->items + first, (size_t)(l->n - first), sizeof *l->items, cmp_item);
            ++*nclass;
        }
        free(path);
    }
    free_names(names, n);
    if (!rc && *nclass == 0) {
        va_cli_error("%s: no class folders (expected one subfolder per class, as torchvision's "
                     "ImageFolder reads)",
                     root);
        rc = -1;
    }
    if (!rc && l->n == 0) {
        va_cli_error("%s: no images in its %ld class folder%s (.jpg .jpeg .png .ppm .pgm .bmp)",
                     root, *nclass, *nclass == 1 ? "" : "s");
        rc = -1;
    }
    return rc;
}

/* ---- Scoring -----------------------------------------------------------------------------------
 */

typedef struct eval_score {
    long correct, nonfinite, seen;
    FILE *csv; /* --predictions, or NULL */
} eval_score;

/* One CSV field, quoted when it holds a comma, quote or line break (RFC 4180). */
static void csv_field(FILE *f, const char *v) {
    if (!strpbrk(v, ",\"\r\n")) {
        fputs(v, f);
        return;
    }
    fputc('"', f);
    for (; *v; v++) {
        if (*v == '"') fputc('"', f);
        fputc(*v, f);
    }
    fputc('"', f);
}

/* Run the first m items of x (y's rows) and count the correct top-1 against labels[0..m);
 * names[i] names item i in --predictions (NULL: its index in the data set). */
static int score_batch(const va_block *b, va_run *r, va_tensor *x, va_tensor *y, long m,
                       const long *labels, const char *const *names, eval_score *s) {
    va_error err = {0};
    x->shape[0] = y->shape[0] = m; /* the last batch may be short: shrink the views */
    if (va_block_forward(b, r, x, y, &err) != VA_OK) {
        va_cli_error("%s", err.msg);
        return -1;
    }
    const long nc = (long)y->shape[1];
    for (long i = 0; i < m; i++) {
        const float *l = y->data + i * nc;
        for (long k = 0; k < nc; k++)
            if (!isfinite(l[k])) {
                s->nonfinite++;
                break;
            }
        long top = argmax_torch(l, nc);
        s->correct += top == labels[i];
        if (s->csv) {
            if (names)
                csv_field(s->csv, names[i]);
            else
                fprintf(s->csv, "%ld", s->seen + i);
            fprintf(s->csv, ",%ld,%ld\n", labels[i], top);
        }
    }
    s->seen += m;
    return 0;
}

/* Allocate x and y for batches of in[] and check the model is a classifier. */
static int alloc_batch(const char *model, const va_block *b, const int64_t in[4], va_tensor *x,
                       va_tensor *y) {
    va_error err = {0};
    int64_t out[4];
    if (va_block_out_shape(b, in, out, &err) != VA_OK) {
        va_cli_error("%s: %s", model, err.msg);
        return -1;
    }
    if (out[2] != 1 || out[3] != 1) {
        va_cli_error("eval: %s is not a classifier (output %lldx%lldx%lldx%lld)", model,
                     (long long)out[0], (long long)out[1], (long long)out[2], (long long)out[3]);
        return -1;
    }
    if (va_tensor_alloc(x, 4, in, &err) != VA_OK || va_tensor_alloc(y, 4, out, &err) != VA_OK) {
        va_cli_error("%s", err.msg);
        return -1;
    }
    return 0;
}

static int eval_idx(const char *model, const va_block *b, va_run *r, const char *img_path,
                    const char *lab_path, long batch, long limit, eval_score *s) {
    unsigned char *images = NULL, *labels = NULL;
    long idims[3], ldims[3], *lab = NULL;
    va_tensor x = {0}, y = {0};
    int rc = -1;
    /* The model's declared normalisation of its one input channel, else none. */
    const va_model_info *info = va_block_info(b);
    float mean = info->num_norm ? info->mean[0] : 0.0f;
    float std = info->num_norm ? info->std[0] : 1.0f;
    if (read_idx(img_path, 3, idims, &images) || read_idx(lab_path, 1, ldims, &labels)) goto done;
    if (idims[0] != ldims[0]) {
        va_cli_error("eval: %s has %ld images but %s has %ld labels", img_path, idims[0], lab_path,
                     ldims[0]);
        goto done;
    }
    long n = idims[0], hw = idims[1] * idims[2];
    if (limit && limit < n) n = limit;
    if (batch > n) batch = n;
    int64_t in[4] = {batch, 1, idims[1], idims[2]};
    if (alloc_batch(model, b, in, &x, &y)) goto done;
    if (!(lab = malloc((size_t)batch * sizeof *lab))) {
        va_cli_error("eval: out of memory");
        goto done;
    }
    for (long st = 0; st < n; st += batch) {
        long m = n - st < batch ? n - st : batch;
        for (long i = 0; i < m * hw; i++)
            x.data[i] = ((float)images[st * hw + i] / 255.0f - mean) / std;
        for (long i = 0; i < m; i++)
            lab[i] = labels[st + i];
        if (score_batch(b, r, &x, &y, m, lab, NULL, s)) goto done;
    }
    rc = 0;
done:
    free(images);
    free(labels);
    free(lab);
    va_tensor_free(&x);
    va_tensor_free(&y);
    return rc;
}

static int eval_folder(const char *model, const va_block *b, va_run *r, const char *root,
                       long batch, long limit, eval_score *s, long *failed) {
    image_list l = {0};
    va_tensor x = {0}, y = {0};
    long nclass, *lab = NULL;
    const char **names = NULL;
    int rc = -1;
    va_error err = {0};
    va_preprocess pp;
    if (va_preprocess_for_model(b, &pp, &err) != VA_OK) {
        va_cli_error("%s: %s", model, err.msg);
        return -1;
    }
    if (read_folder(root, &l, &nclass)) goto done;
    long n = l.n;
    if (limit && limit < n) n = limit;
    if (batch > n) batch = n;
    int64_t in[4] = {batch, pp.channels, pp.height, pp.width};
    if (alloc_batch(model, b, in, &x, &y)) goto done;
    if (nclass > y.shape[1]) {
        va_cli_error("eval: %s has %ld class folders but %s has %lld classes", root, nclass, model,
                     (long long)y.shape[1]);
        goto done;
    }
    if (!(lab = malloc((size_t)batch * sizeof *lab)) ||
        !(names = malloc((size_t)batch * sizeof *names))) {
        va_cli_error("eval: out of memory");
        goto done;
    }
    const size_t chw = (size_t)pp.channels * (size_t)pp.height * (size_t)pp.width;
    long next = 0;
    while (next < n) {
        long m = 0;
        for (; next < n && m < batch; next++) {
            va_image img = {0};
            va_tensor t = {0};
            if (va_image_load(l.items[next].path, VA_IMAGE_DEFAULT_MAX_PIXELS, &img, &err) !=
                    VA_OK ||
                va_image_to_input(&img, &pp, &t, &err) != VA_OK) {
                va_cli_error("%s", err.msg);
                ++*failed;
            } else {
                memcpy(x.data + (size_t)m * chw, t.data, chw * sizeof *t.data);
                names[m] = l.items[next].path;
                lab[m++] = l.items[next].label;
            }
            va_image_free(&img);
            va_tensor_free(&t);
        }
        if (m && score_batch(b, r, &x, &y, m, lab, names, s)) goto done;
    }
    if (l.skipped)
        fprintf(stderr, "visattn: %s: skipped %ld file%s without an image extension\n", root,
                l.skipped, l.skipped == 1 ? "" : "s");
    rc = 0;
done:
    image_list_free(&l);
    free(lab);
    free(names);
    va_tensor_free(&x);
    va_tensor_free(&y);
    return rc;
}

int va_cmd_eval(int argc, char **argv) {
    enum { O_HELP, O_THREADS, O_BATCH, O_LIMIT, O_PRED };
    static const va_cli_opt opts[] = {{"help", 0},  {"threads", 1},     {"batch", 1},
                                      {"limit", 1}, {"predictions", 1}, {NULL, 0}};
    va_cli_args a = {.cmd = "eval", .argc = argc, .argv = argv};
    const char *pos[3], *csv_path = NULL, *v;
    int npos = 0, threads = 0;
    long batch = 256, limit = 0;
    for (int k; (k = va_cli_next(&a, opts, &v)) != VA_CLI_END;) {
        switch (k) {
        case VA_CLI_USAGE: return VA_EXIT_USAGE;
        case O_HELP: eval_usage(stdout); return VA_EXIT_OK;
        case O_THREADS:
            if (va_cli_parse_threads(v, &threads)) return VA_EXIT_USAGE;
            break;
        case O_BATCH:
            if (parse_pos("--batch", v, 65536, &batch)) return VA_EXIT_USAGE;
            break;
        case O_LIMIT:
            if (parse_pos("--limit", v, EVAL_MAX_ITEMS, &limit)) return VA_EXIT_USAGE;
            break;
        case O_PRED: csv_path = v; break;
        case VA_CLI_OPERAND:
            if (npos == 3) {
                va_cli_error("eval: too many arguments ('%s')", v);
                return VA_EXIT_USAGE;
            }
            pos[npos++] = v;
            break;
        }
    }
    if (npos < 2) {
        eval_usage(stderr);
        return 2;
    }
    struct stat st;
    if (npos == 2 && stat(pos[1], &st) != 0) {
        va_cli_error("%s: cannot open (%s)", pos[1], strerror(errno));
        return 1;
    }
    if (npos == 2 && !S_ISDIR(st.st_mode)) {
        va_cli_error("eval: %s is not a folder (give a FOLDER, or IMAGES and LABELS files)",
                     pos[1]);
        return 2;
    }
    if (va_cli_setup_threads(threads)) return 2;

    va_error err = {0};
    va_block *b = NULL;
    va_run *r = NULL;
    eval_score s = {0};
    long failed = 0;
    int rc = 1;
    if (va_block_load_file(pos[0], &b, &err) != VA_OK || va_run_create(&r, &err) != VA_OK ||
        va_run_set_want_maps(r, 0, &err) != VA_OK) {
        va_cli_error("%s", err.msg);
        goto done;
    }
    if (csv_path) {
        if (!(s.csv = fopen(csv_path, "w"))) {
            va_cli_error("%s: cannot write (%s)", csv_path, strerror(errno));
            goto done;
        }
        fputs("image,label,top1\n", s.csv);
    }
    if (npos == 3 ? eval_idx(pos[0], b, r, pos[1], pos[2], batch, limit, &s)
                  : eval_folder(pos[0], b, r, pos[1], batch, limit, &s, &failed))
        goto done;
    if (s.seen)
        printf("%s: %ld/%ld correct, accuracy %.2f%%\n", pos[0], s.correct, s.seen,
               100.0 * s.correct / s.seen);
    if (failed) {
        va_cli_error("%s: %ld image%s could not be read and %s not counted", pos[1], failed,
                     failed == 1 ? "" : "s", failed == 1 ? "is" : "are");
        goto done;
    }
    /* The accuracy is what PyTorch would report, but it says nothing about the model: fail. */
    if (s.nonfinite) {
        va_cli_error("%s: %ld of %ld images gave non-finite class scores (NaN/Inf): the weights "
                     "or the input are not finite",
                     pos[0], s.nonfinite, s.seen);
        goto done;
    }
    rc = 0;
done:
    if (s.csv && fclose(s.csv) != 0 && rc == 0) {
        va_cli_error("%s: cannot write (%s)", csv_path, strerror(errno));
        rc = 1;
    }
    va_run_destroy(r);
    va_block_destroy(b);
    return rc;
}
