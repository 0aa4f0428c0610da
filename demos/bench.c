/* visattn bench: parameters, MACs, FLOPs, latency and workspace of every block, side by side,
 * next to the plain 3x3 conv + BN + ReLU such a block sits on (the yardstick).
 *
 * Latency is measured per (block, shape, threads): warm-up passes first (the first one sizes the
 * arena), then repeated forward passes until both --iters and --min-time are reached; the table
 * shows the median, p10 and p90. Weights are random: speed does not depend on their values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "visattn/visattn.h"

#define MAX_SHAPES 8
#define MAX_THREADS 8
#define MAX_BLOCKS 32
#define YARDSTICK "conv3x3_bn_relu"

typedef struct bench_opts {
    const char *blocks; /* "all" or comma list */
    int64_t shapes[MAX_SHAPES][4];
    int nshapes;
    int threads[MAX_THREADS];
    int nthreads;
    int warmup, iters;
    double min_time;
    const char *json, *csv, *svg;
} bench_opts;

typedef struct bench_row {
    char block[32];
    char config[160];
    int64_t shape[4];
    int threads;
    va_cost cost;
    double median_ms, p10_ms, p90_ms, images_per_s;
    size_t workspace;
    int iters;
    double overhead; /* median / yardstick median at the same shape and threads */
} bench_row;

static void bench_usage(FILE *f) {
    fprintf(f,
            "usage: visattn bench [--blocks all|a,b,c] [--shape N,C,H,W ...] [--threads 1,2,...]\n"
            "                     [--warmup K] [--iters I | --min-time S]\n"
            "                     [--json FILE] [--csv FILE] [--svg FILE]\n"
            "\n"
            "Cost and latency of every block at its default config (docs/bench.md), next to the\n"
            "yardstick '" YARDSTICK "' (3x3 conv, C->C, + BN + ReLU).\n"
            "Defaults: all blocks; shapes 1,64,56,56 and 1,256,14,14; threads from\n"
            "VISATTN_NUM_THREADS or all cores; --warmup 3; at least --iters 10 and --min-time 1.\n");
}

/* The config each block is benchmarked with at C channels: the official defaults, plus the
 * arguments the reference requires (documented in docs/bench.md). */
static int default_config(const char *block, int64_t c, char *buf, size_t len) {
    long long C = (long long)c;
    if (strcmp(block, "se") == 0) {
        long long sq = C / 16 > 0 ? C / 16 : 1; /* SE paper's reduction ratio 16 */
        return snprintf(buf, len, "{\"input_channels\": %lld, \"squeeze_channels\": %lld}", C, sq);
    }
    if (strcmp(block, "spatial") == 0) return snprintf(buf, len, "{}");
    if (strcmp(block, "cbam") == 0 || strcmp(block, "triplet") == 0)
        return snprintf(buf, len, "{\"gate_channels\": %lld}", C);
    if (strcmp(block, "shuffle") == 0) {
        long long g = 64; /* the reference default, halved until it divides C into 2g parts */
        while (g > 1 && C % (2 * g) != 0) g /= 2;
        return snprintf(buf, len, "{\"channel\": %lld, \"groups\": %lld}", C, g);
    }
    if (strcmp(block, "double_attention") == 0) {
        long long m = C / 4 > 0 ? C / 4 : 1; /* c_m = c_n = C/4, as the reference's example */
        return snprintf(buf, len, "{\"in_channels\": %lld, \"c_m\": %lld, \"c_n\": %lld}", C, m, m);
    }
    if (strcmp(block, "irmb") == 0)
        return snprintf(buf, len, "{\"dim_in\": %lld, \"dim_out\": %lld}", C, C);
    if (strcmp(block, YARDSTICK) == 0)
        return snprintf(buf, len,
                        "{\"in_channels\": %lld, \"out_channels\": %lld, \"kernel_size\": 3, "
                        "\"padding\": 1}",
                        C, C);
    return snprintf(buf, len, "{}");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile(const double *sorted, int n, double q) {
    double pos = q * (n - 1);
    int i = (int)pos;
    double f = pos - i;
    return i + 1 < n ? sorted[i] * (1 - f) + sorted[i + 1] * f : sorted[n - 1];
}

/* Build a block (or the yardstick: conv_bn plus a ReLU) with random weights. */
static va_status make_block(const char *name, const char *config, va_block **out, va_error *err) {
    const char *real = strcmp(name, YARDSTICK) == 0 ? "conv_bn_relu" : name;
    VA_TRY(va_block_create(real, config, out, err));
    va_weights w;
    va_status st = va_weights_init_random(&w, 12345u, err);
    if (st == VA_OK) st = va_block_load(*out, &w, "", err);
    va_weights_free(&w);
    if (st != VA_OK) {
        va_block_destroy(*out);
        *out = NULL;
    }
    return st;
}

static va_status measure(const bench_opts *o, const char *name, const int64_t shape[4], int threads,
                         bench_row *row, va_error *err) {
    memset(row, 0, sizeof *row);
    snprintf(row->block, sizeof row->block, "%s", name);
    memcpy(row->shape, shape, sizeof row->shape);
    row->threads = threads;
    default_config(name, shape[1], row->config, sizeof row->config);
    va_block *b = NULL;
    VA_TRY(make_block(name, row->config, &b, err));
    b->want_maps = 0; /* time the attention itself, not the copy-out for heatmaps */
    va_status st = va_block_cost(b, shape, &row->cost, err);
    int64_t out[4];
    if (st == VA_OK) st = va_block_out_shape(b, shape, out, err);
    va_tensor x = {0}, y = {0};
    va_arena ws;
    va_arena_init(&ws);
    if (st == VA_OK) st = va_tensor_alloc(&x, 4, shape, err);
    if (st == VA_OK) st = va_tensor_alloc(&y, 4, out, err);
    if (st == VA_OK) {
        uint32_t s = 1;
        for (int64_t i = 0; i < va_numel(&x); i++) {
            s = s * 1664525u + 1013904223u;
            x.data[i] = (float)(s >> 8) / 8388608.0f - 1.0f;
        }
    }
    va_set_num_threads(threads);
    for (int i = 0; st == VA_OK && i < o->warmup; i++) {
        st = va_block_forward(b, &x, &y, &ws, err);
        if (st == VA_OK) st = va_arena_reset(&ws, err);
    }
    int cap = 1024, n = 0;
    double *t = malloc((size_t)cap * sizeof *t);
    if (!t && st == VA_OK) st = va_fail(err, VA_ERR_NOMEM, "bench: out of memory");
    double start = now_s();
    while (st == VA_OK && (n < o->iters || now_s() - start < o->min_time)) {
        if (n == cap) {
            double *nt = realloc(t, (size_t)(cap *= 2) * sizeof *t);
            if (!nt) {
                st = va_fail(err, VA_ERR_NOMEM, "bench: out of memory");
                break;
            }
            t = nt;
        }
        double t0 = now_s();
        st = va_block_forward(b, &x, &y, &ws, err);
        t[n++] = now_s() - t0;
        if (st == VA_OK) st = va_arena_reset(&ws, err);
        if (n >= 100000) break;
    }
    if (st == VA_OK) {
        qsort(t, (size_t)n, sizeof *t, cmp_double);
        row->iters = n;
        row->median_ms = 1e3 * quantile(t, n, 0.5);
        row->p10_ms = 1e3 * quantile(t, n, 0.1);
        row->p90_ms = 1e3 * quantile(t, n, 0.9);
        row->images_per_s = (double)shape[0] / (row->median_ms / 1e3);
        row->workspace = ws.peak;
    }
    free(t);
    va_tensor_free(&x);
    va_tensor_free(&y);
    va_arena_free(&ws);
    va_block_destroy(b);
    return st;
}

static int parse_threads_list(const char *s, bench_opts *o) {
    o->nthreads = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (o->nthreads == MAX_THREADS) {
            va_cli_error("bench: at most %d thread counts", MAX_THREADS);
            return -1;
        }
        if (va_cli_parse_threads(tok, &o->threads[o->nthreads++])) return -1;
    }
    return o->nthreads ? 0 : -1;
}

static int block_selected(const char *list, const char *name) {
    if (strcmp(list, "all") == 0) return 1;
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) return 1;
    return 0;
}

/* Unknown names in --blocks are an error, not silently skipped. */
static int check_block_list(const char *list) {
    if (strcmp(list, "all") == 0) return 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        const va_block_ops *o = va_find_ops(tok);
        if (strcmp(tok, YARDSTICK) != 0 && (!o || o->kind != VA_KIND_BLOCK)) {
            va_cli_error("bench: unknown block '%s' (see visattn list)", tok);
            return -1;
        }
    }
    return 0;
}

static void print_table(const bench_row *rows, int n) {
    printf("%-17s %-14s %3s %9s %10s %11s %9s %9s %9s %9s %10s %8s\n", "block", "shape", "thr",
           "params", "MMACs", "MFLOPs", "median ms", "p10 ms", "p90 ms", "img/s", "workspace",
           "vs conv");
    for (int i = 0; i < n; i++) {
        const bench_row *r = &rows[i];
        char shape[48];
        snprintf(shape, sizeof shape, "%lldx%lldx%lldx%lld", (long long)r->shape[0],
                 (long long)r->shape[1], (long long)r->shape[2], (long long)r->shape[3]);
        printf("%-17s %-14s %3d %9lld %10.2f %11.2f %9.3f %9.3f %9.3f %9.1f %9.2fM %7.1f%%\n",
               r->block, shape, r->threads, (long long)r->cost.params, r->cost.macs / 1e6,
               r->cost.flops / 1e6, r->median_ms, r->p10_ms, r->p90_ms, r->images_per_s,
               r->workspace / 1048576.0, 100.0 * r->overhead);
    }
}

static int write_json(const char *path, const bench_row *rows, int n) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "{\"visattn\": \"%s\", \"rows\": [\n", VISATTN_VERSION);
    for (int i = 0; i < n; i++) {
        const bench_row *r = &rows[i];
        fprintf(f,
                "  {\"block\": \"%s\", \"config\": %s, \"shape\": [%lld, %lld, %lld, %lld], "
                "\"threads\": %d, \"params\": %lld, \"macs\": %lld, \"flops\": %lld, "
                "\"median_ms\": %.6f, \"p10_ms\": %.6f, \"p90_ms\": %.6f, \"images_per_s\": %.3f, "
                "\"workspace_bytes\": %zu, \"iters\": %d, \"overhead_vs_conv\": %.6f}%s\n",
                r->block, r->config, (long long)r->shape[0], (long long)r->shape[1],
                (long long)r->shape[2], (long long)r->shape[3], r->threads,
                (long long)r->cost.params, (long long)r->cost.macs, (long long)r->cost.flops,
                r->median_ms, r->p10_ms, r->p90_ms, r->images_per_s, r->workspace, r->iters,
                r->overhead, i + 1 < n ? "," : "");
    }
    fprintf(f, "]}\n");
    return fclose(f);
}

static int write_csv(const char *path, const bench_row *rows, int n) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "block,n,c,h,w,threads,params,macs,flops,median_ms,p10_ms,p90_ms,images_per_s,"
               "workspace_bytes,iters,overhead_vs_conv\n");
    for (int i = 0; i < n; i++) {
        const bench_row *r = &rows[i];
        fprintf(f, "%s,%lld,%lld,%lld,%lld,%d,%lld,%lld,%lld,%.6f,%.6f,%.6f,%.3f,%zu,%d,%.6f\n",
                r->block, (long long)r->shape[0], (long long)r->shape[1], (long long)r->shape[2],
                (long long)r->shape[3], r->threads, (long long)r->cost.params,
                (long long)r->cost.macs, (long long)r->cost.flops, r->median_ms, r->p10_ms,
                r->p90_ms, r->images_per_s, r->workspace, r->iters, r->overhead);
    }
    return fclose(f);
}

/* Horizontal latency bars (median, with a p10-p90 whisker), MACs written beside each bar. */
static int write_svg(const char *path, const bench_row *rows, int n) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    const int row_h = 22, left = 300, bar_w = 520, top = 50;
    double max_ms = 0;
    for (int i = 0; i < n; i++)
        if (rows[i].p90_ms > max_ms) max_ms = rows[i].p90_ms;
    if (max_ms <= 0) max_ms = 1;
    int height = top + n * row_h + 40;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">visattn bench: median "
            "latency (bar), p10-p90 (line), MACs (right)</text>\n",
            left + bar_w + 160, height);
    for (int i = 0; i < n; i++) {
        const bench_row *r = &rows[i];
        int y = top + i * row_h;
        double w = bar_w * r->median_ms / max_ms;
        double x10 = left + bar_w * r->p10_ms / max_ms, x90 = left + bar_w * r->p90_ms / max_ms;
        int yard = strcmp(r->block, YARDSTICK) == 0;
        fprintf(f,
                "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s %lldx%lldx%lldx%lld t%d</text>\n"
                "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n"
                "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"black\"/>\n"
                "<text x=\"%.1f\" y=\"%d\">%.3f ms</text>\n"
                "<text x=\"%d\" y=\"%d\" fill=\"#555\">%.2f MMACs</text>\n",
                left - 8, y + 15, r->block, (long long)r->shape[0], (long long)r->shape[1],
                (long long)r->shape[2], (long long)r->shape[3], r->threads, left, y + 3, w,
                row_h - 6, yard ? "#888888" : "#3b75af", x10, x90, y + row_h / 2, y + row_h / 2,
                left + w + 4 > x90 + 4 ? left + w + 4 : x90 + 4, y + 15, r->median_ms,
                left + bar_w + 70, y + 15, r->cost.macs / 1e6);
    }
    fprintf(f, "</svg>\n");
    return fclose(f);
}

int va_cmd_bench(int argc, char **argv) {
    bench_opts o = {.blocks = "all", .warmup = 3, .iters = 10, .min_time = 1.0};
    int iters_given = 0, time_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            bench_usage(stdout);
            return 0;
        }
        if (strcmp(a, "--blocks") == 0 || strcmp(a, "--shape") == 0 ||
            strcmp(a, "--threads") == 0 || strcmp(a, "--warmup") == 0 ||
            strcmp(a, "--iters") == 0 || strcmp(a, "--min-time") == 0 ||
            strcmp(a, "--json") == 0 || strcmp(a, "--csv") == 0 || strcmp(a, "--svg") == 0) {
            if (!v) {
                va_cli_error("bench: %s needs a value", a);
                return 2;
            }
            i++;
        }
        if (strcmp(a, "--blocks") == 0) {
            o.blocks = v;
        } else if (strcmp(a, "--shape") == 0) {
            if (o.nshapes == MAX_SHAPES) {
                va_cli_error("bench: at most %d shapes", MAX_SHAPES);
                return 2;
            }
            if (va_cli_parse_shape(v, o.shapes[o.nshapes++])) return 2;
        } else if (strcmp(a, "--threads") == 0) {
            if (parse_threads_list(v, &o)) return 2;
        } else if (strcmp(a, "--warmup") == 0 || strcmp(a, "--iters") == 0) {
            char *end;
            long k = strtol(v, &end, 10);
            if (*end || k < (a[2] == 'w' ? 0 : 1) || k > 1000000) {
                va_cli_error("bench: %s needs a non-negative integer, got '%s'", a, v);
                return 2;
            }
            if (a[2] == 'w') o.warmup = (int)k;
            else o.iters = (int)k, iters_given = 1;
        } else if (strcmp(a, "--min-time") == 0) {
            char *end;
            o.min_time = strtod(v, &end);
            if (*end || !(o.min_time >= 0) || o.min_time > 3600) {
                va_cli_error("bench: --min-time needs seconds (0..3600), got '%s'", v);
                return 2;
            }
            time_given = 1;
        } else if (strcmp(a, "--json") == 0) {
            o.json = v;
        } else if (strcmp(a, "--csv") == 0) {
            o.csv = v;
        } else if (strcmp(a, "--svg") == 0) {
            o.svg = v;
        } else {
            va_cli_error("bench: unknown argument '%s' (see visattn bench --help)", a);
            return 2;
        }
    }
    if (iters_given && !time_given) o.min_time = 0; /* --iters I alone means exactly I passes */
    if (time_given && !iters_given) o.iters = 1;
    if (check_block_list(o.blocks)) return 2;
    if (o.nshapes == 0) {
        const int64_t d[2][4] = {{1, 64, 56, 56}, {1, 256, 14, 14}};
        memcpy(o.shapes, d, sizeof d);
        o.nshapes = 2;
    }
    if (va_cli_setup_threads(0)) return 2;
    if (o.nthreads == 0) {
        o.threads[0] = va_get_num_threads();
        o.nthreads = 1;
    }

    const char *names[MAX_BLOCKS];
    int nnames = 0;
    names[nnames++] = YARDSTICK;
    const va_block_ops *op;
    for (int i = 0; (op = va_ops_at(i)) != NULL && nnames < MAX_BLOCKS; i++)
        if (op->kind == VA_KIND_BLOCK && block_selected(o.blocks, op->name)) names[nnames++] = op->name;

    int nrows = o.nshapes * o.nthreads * nnames;
    bench_row *rows = calloc((size_t)nrows, sizeof *rows);
    if (!rows) {
        va_cli_error("bench: out of memory");
        return 1;
    }
    int k = 0, rc = 0;
    for (int s = 0; s < o.nshapes; s++)
        for (int t = 0; t < o.nthreads; t++) {
            int yard = k;
            for (int b = 0; b < nnames; b++) {
                va_error err = {0};
                if (measure(&o, names[b], o.shapes[s], o.threads[t], &rows[k], &err) != VA_OK) {
                    va_cli_error("bench: %s: %s", names[b], err.msg);
                    rc = 1;
                    goto out;
                }
                rows[k].overhead = rows[k].median_ms / rows[yard].median_ms;
                k++;
            }
        }
    print_table(rows, k);
    if (o.json && write_json(o.json, rows, k)) va_cli_error("bench: cannot write %s", o.json), rc = 1;
    if (o.csv && write_csv(o.csv, rows, k)) va_cli_error("bench: cannot write %s", o.csv), rc = 1;
    if (o.svg && write_svg(o.svg, rows, k)) va_cli_error("bench: cannot write %s", o.svg), rc = 1;
out:
    free(rows);
    return rc;
}
