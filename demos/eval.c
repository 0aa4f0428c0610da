/* visattn eval MODEL.safetensors IMAGES.idx[.gz] LABELS.idx[.gz] [--batch B] [--limit N]
 *                [--threads N]
 * Top-1 accuracy of a classifier (the backbone) over an IDX data set such as Fashion-MNIST's test
 * split, preprocessed as the model's config says ((pixel/255 - mean) / std). IDX files are read
 * through zlib's gzread, which takes gzipped and plain files alike. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cli.h"
#include "visattn/visattn.h"

#define EVAL_MAX_ITEMS 100000000L /* refuse headers claiming more before allocating */
#define EVAL_MAX_SIDE 4096

static void eval_usage(FILE *f) {
    fprintf(f,
            "usage: visattn eval MODEL.safetensors IMAGES.idx[.gz] LABELS.idx[.gz] [--batch B]\n"
            "                    [--limit N] [--threads N]\n"
            "\n"
            "Top-1 accuracy of MODEL (a classifier such as assets/models/*.safetensors) on an IDX\n"
            "data set, e.g. /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz and\n"
            "t10k-labels-idx1-ubyte.gz. Images are unsigned bytes, N x H x W (one channel);\n"
            "they are fed as (pixel/255 - mean) / std with the model config's mean and std.\n"
            "Top-1 is torch.argmax's: a NaN class score counts as the largest. If any image\n"
            "gives a NaN or Inf score, the accuracy is still printed but the exit status is 1.\n"
            "  --batch B      images per forward pass (default 256)\n"
            "  --limit N      only the first N images\n"
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

/* mean[0], std[0] from the model file's config (defaults 0 and 1). */
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

int va_cmd_eval(int argc, char **argv) {
    const char *pos[3];
    int npos = 0, threads = 0;
    long batch = 256, limit = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            eval_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--threads") == 0) {
            if (va_cli_parse_threads(i + 1 < argc ? argv[++i] : NULL, &threads)) return 2;
        } else if (strcmp(argv[i], "--batch") == 0) {
            if (parse_pos("--batch", i + 1 < argc ? argv[++i] : NULL, 65536, &batch)) return 2;
        } else if (strcmp(argv[i], "--limit") == 0) {
            if (parse_pos("--limit", i + 1 < argc ? argv[++i] : NULL, EVAL_MAX_ITEMS, &limit))
                return 2;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            va_cli_error("eval: unknown option '%s'", argv[i]);
            return 2;
        } else if (npos < 3) {
            pos[npos++] = argv[i];
        } else {
            va_cli_error("eval: too many arguments ('%s')", argv[i]);
            return 2;
        }
    }
    if (npos != 3) {
        eval_usage(stderr);
        return 2;
    }
    if (va_cli_setup_threads(threads)) return 2;

    va_error err = {0};
    va_block *b = NULL;
    va_run *r = NULL;
    va_tensor x = {0}, y = {0};
    unsigned char *images = NULL, *labels = NULL;
    long idims[3], ldims[3];
    int rc = 1;
    float mean, std;
    if (va_block_load_file(pos[0], &b, &err) != VA_OK || va_run_create(&r, &err) != VA_OK ||
        va_run_set_want_maps(r, 0, &err) != VA_OK) {
        va_cli_error("%s", err.msg);
        goto done;
    }
    /* The model's declared normalisation of its one input channel, else none. */
    const va_model_info *info = va_block_info(b);
    mean = info->num_norm ? info->mean[0] : 0.0f;
    std = info->num_norm ? info->std[0] : 1.0f;
    if (read_idx(pos[1], 3, idims, &images) || read_idx(pos[2], 1, ldims, &labels)) goto done;
    if (idims[0] != ldims[0]) {
        va_cli_error("eval: %s has %ld images but %s has %ld labels", pos[1], idims[0], pos[2],
                     ldims[0]);
        goto done;
    }
    long n = idims[0], hw = idims[1] * idims[2];
    if (limit && limit < n) n = limit;
    if (batch > n) batch = n;
    int64_t in[4] = {batch, 1, idims[1], idims[2]}, out[4];
    if (va_block_out_shape(b, in, out, &err) != VA_OK) {
        va_cli_error("%s: %s", pos[0], err.msg);
        goto done;
    }
    if (out[2] != 1 || out[3] != 1) {
        va_cli_error("eval: %s is not a classifier (output %lldx%lldx%lldx%lld)", pos[0],
                     (long long)out[0], (long long)out[1], (long long)out[2], (long long)out[3]);
        goto done;
    }
    const long nc = (long)out[1];
    if (va_tensor_alloc(&x, 4, in, &err) != VA_OK || va_tensor_alloc(&y, 4, out, &err) != VA_OK) {
        va_cli_error("%s", err.msg);
        goto done;
    }
    long correct = 0, nonfinite = 0;
    for (long s = 0; s < n; s += batch) {
        long m = n - s < batch ? n - s : batch;
        x.shape[0] = y.shape[0] = m; /* the last batch may be short: shrink the views */
        for (long i = 0; i < m * hw; i++)
            x.data[i] = ((float)images[s * hw + i] / 255.0f - mean) / std;
        if (va_block_forward(b, r, &x, &y, &err) != VA_OK) {
            va_cli_error("%s", err.msg);
            goto done;
        }
        for (long i = 0; i < m; i++) {
            const float *l = y.data + i * nc;
            for (long k = 0; k < nc; k++)
                if (!isfinite(l[k])) {
                    nonfinite++;
                    break;
                }
            correct += argmax_torch(l, nc) == (long)labels[s + i];
        }
    }
    printf("%s: %ld/%ld correct, accuracy %.2f%%\n", pos[0], correct, n, 100.0 * correct / n);
    /* The accuracy is what PyTorch would report, but it says nothing about the model: fail. */
    if (nonfinite) {
        va_cli_error("%s: %ld of %ld images gave non-finite class scores (NaN/Inf): the weights "
                     "or the input are not finite",
                     pos[0], nonfinite, n);
        goto done;
    }
    rc = 0;
done:
    free(images);
    free(labels);
    va_tensor_free(&x);
    va_tensor_free(&y);
    va_run_destroy(r);
    va_block_destroy(b);
    return rc;
}
