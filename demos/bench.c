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
    int no_yardstick; /* leave the yardstick out unless --blocks names it */
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
    double overhead; /* median / yardstick median at the same shape and threads; NAN without one */
} bench_row;

static void bench_usage(FILE *f) {
    fprintf(f,
            "usage: visattn bench [--blocks all|a,b,c] [--shape N,C,H,W ...] [--threads 1,2,...]\n"
            "                     [--warmup K] [--iters I | --min-time S]\n"
            "                     [--json FILE] [--csv FILE] [--svg FILE] [--no-yardstick]\n"
            "\n"
            "Cost and latency of every block at its default config (docs/bench.md), next to the\n"
            "yardstick '" YARDSTICK "' (3x3 conv, C->C, + BN + ReLU). --blocks also takes\n"
            "models by name, at their default config: e.g. --blocks EMO_1M,EMO_6M --shape\n"
            "1,3,224,224.\n"
            "Defaults: all blocks; shapes 1,64,56,56 and 1,256,14,14; threads from\n"
            "VISATTN_NUM_THREADS or all cores; --warmup 3; at least --iters 10 and --min-time 1.\n"
            "--no-yardstick leaves the yardstick out (unless --blocks names it), for scripts that\n"
            "time one block at a time such as tools/compare_torch.py; 'vs conv' is then empty.\n");
}

/* The config each block is benchmarked with at C channels: the official defaults, plus the
 * arguments the reference requires, adapted to C only where the default cannot run at C.
 * docs/bench.md gives the reasons; tools/compare_torch.py reads these configs back from --json. */
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
        while (g > 1 && C % (2 * g) != 0)
            g /= 2;
        return snprintf(buf, len, "{\"channel\": %lld, \"groups\": %lld}", C, g);
    }
    if (strcmp(block, "double_attention") == 0) {
        long long m = C / 4 > 0 ? C / 4 : 1; /* c_m = c_n = C/4, as the reference's example */
        return snprintf(buf, len, "{\"in_channels\": %lld, \"c_m\": %lld, \"c_n\": %lld}", C, m, m);
    }
    if (strcmp(block, "irmb") == 0) {
        long long dh = 64; /* EMO's default head width, halved until C is a whole number of heads */
        while (dh > 1 && C % dh != 0)
            dh /= 2;
        if (dh == 64) return snprintf(buf, len, "{\"dim_in\": %lld, \"dim_out\": %lld}", C, C);
        return snprintf(buf, len, "{\"dim_in\": %lld, \"dim_out\": %lld, \"dim_head\": %lld}", C, C,
                        dh);
    }
    if (strcmp(block, YARDSTICK) == 0)
        return snprintf(buf, len,
                        "{\"in_channels\": %lld, \"out_channels\": %lld, \"kernel_size\": 3, "
                        "\"padding\": 1}",
                        C, C);
    return snprintf(buf, len, "{}");
}

/* Build a block (or the yardstick: conv_bn_relu) with random weights. */
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
    const va_bench_opts bo = {o->warmup, o->iters, o->min_time};
    va_bench_result res;
    va_status st = va_bench_block(b, shape, threads, &bo, &res, err);
    va_block_destroy(b);
    if (st != VA_OK) return st;
    row->cost = res.cost;
    row->iters = res.iters;
    row->median_ms = res.median_ms;
    row->p10_ms = res.p10_ms;
    row->p90_ms = res.p90_ms;
    row->images_per_s = res.images_per_s;
    row->workspace = res.workspace_bytes;
    return VA_OK;
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
    if (o->nthreads == 0) va_cli_error("bench: --threads needs a list such as 1,2, got '%s'", s);
    return o->nthreads ? 0 : -1;
}

static int name_in_list(const char *list, const char *name) {
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) return 1;
    return 0;
}

/* A block is selected by its name or its alias ("channel" selects se). */
static int block_selected(const char *list, const va_block_ops *op) {
    if (strcmp(list, "all") == 0) return 1;
    return name_in_list(list, op->name) || (op->alias && name_in_list(list, op->alias));
}

/* Unknown names in --blocks are an error, not silently skipped. */
static int check_block_list(const char *list) {
    if (strcmp(list, "all") == 0) return 0;
    char buf[512];
    if (snprintf(buf, sizeof buf, "%s", list) >= (int)sizeof buf) {
        va_cli_error("bench: --blocks list too long");
        return -1;
    }
    int count = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ","), count++) {
        /* Blocks, and models named explicitly ("all" is every block): EMO_1M, ... */
        if (strcmp(tok, YARDSTICK) != 0 && !va_find_ops(tok)) {
            va_cli_error("bench: unknown block or model '%s' (see visattn list)", tok);
            return -1;
        }
    }
    if (count == 0) {
        va_cli_error("bench: --blocks needs 'all' or a comma-separated list of blocks");
        return -1;
    }
    return 0;
}

static const char *shape_str(const int64_t s[4], char *buf, size_t len) {
    return va_dims_str(4, s, buf, len);
}

/* 512, 307.3K, 115.61M, 1.20G: counts with an SI suffix, for the aligned table. */
static const char *si_str(int64_t v, char *buf, size_t len) {
    if (v < 10000)
        snprintf(buf, len, "%lld", (long long)v);
    else if (v < 1000000)
        snprintf(buf, len, "%.1fK", v / 1e3);
    else if (v < 1000000000)
        snprintf(buf, len, "%.2fM", v / 1e6);
    else
        snprintf(buf, len, "%.2fG", v / 1e9);
    return buf;
}

static const char *bytes_str(size_t v, char *buf, size_t len) {
    if (v < 1024)
        snprintf(buf, len, "%zu B", v);
    else if (v < 1024 * 1024)
        snprintf(buf, len, "%.1f KiB", v / 1024.0);
    else
        snprintf(buf, len, "%.2f MiB", v / 1048576.0);
    return buf;
}

/* Which OpenBLAS kernel ran and whether the environment forced it: numbers from different
 * machines (or OPENBLAS_CORETYPE settings) are told apart by these. */
static const char *coretype_env(void) {
    const char *v = getenv("OPENBLAS_CORETYPE");
    return v && *v ? v : NULL;
}

static void threads_str(const bench_opts *o, char *buf, size_t len) {
    size_t k = 0;
    buf[0] = '\0';
    for (int t = 0; t < o->nthreads && k < len; t++)
        k += (size_t)snprintf(buf + k, len - k, "%s%d", t ? "," : "", o->threads[t]);
}

static void print_table(const bench_opts *o, const bench_row *rows, int n) {
    char thr[128];
    threads_str(o, thr, sizeof thr);
    printf("visattn %s bench: per forward pass, %d warm-up, then at least %d pass%s and %.2g s; "
           "median, p10, p90\n",
           VISATTN_VERSION, o->warmup, o->iters, o->iters == 1 ? "" : "es", o->min_time);
    printf("OpenBLAS kernel %s (OPENBLAS_CORETYPE %s), threads %s\n", va_blas_kernel(),
           coretype_env() ? coretype_env() : "unset", thr);
    printf("%-17s %-13s %3s %8s %8s %8s %9s %9s %9s %9s %10s %8s\n", "block", "shape", "thr",
           "params", "MACs", "FLOPs", "median ms", "p10 ms", "p90 ms", "img/s", "workspace",
           "vs conv");
    for (int i = 0; i < n; i++) {
        const bench_row *r = &rows[i];
        char shape[64], p[24], m[24], f[24], w[24], over[24] = "-";
        if (!isnan(r->overhead)) snprintf(over, sizeof over, "%.1f%%", 100.0 * r->overhead);
        printf("%-17s %-13s %3d %8s %8s %8s %9.3f %9.3f %9.3f %9.1f %10s %8s\n", r->block,
               shape_str(r->shape, shape, sizeof shape), r->threads,
               si_str(r->cost.params, p, sizeof p), si_str(r->cost.macs, m, sizeof m),
               si_str(r->cost.flops, f, sizeof f), r->median_ms, r->p10_ms, r->p90_ms,
               r->images_per_s, bytes_str(r->workspace, w, sizeof w), over);
    }
}

/* s as a JSON string (null for NULL): the environment's OPENBLAS_CORETYPE may hold anything. */
static void put_json_string(FILE *f, const char *s) {
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(f, "\\%c", *c);
        else if (*c < 0x20)
            fprintf(f, "\\u%04x", *c);
        else
            fputc(*c, f);
    }
    fputc('"', f);
}

/* The overhead as a JSON or CSV value: `none` (null, or empty in CSV) without a yardstick row. */
static const char *overhead_str(double v, const char *none, char *buf, size_t len) {
    if (isnan(v)) return none;
    snprintf(buf, len, "%.6f", v);
    return buf;
}

/* JSON and CSV carry the same fields, in the same order (tests/py_bench.py checks it):
 * block, config (JSON text), n, c, h, w, threads, params, macs, flops, median_ms, p10_ms, p90_ms,
 * images_per_s, workspace_bytes (arena peak), iters, overhead_vs_conv (median / yardstick's). */
static int write_json(const char *path, const bench_opts *o, const bench_row *rows, int n) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    char thr[128];
    threads_str(o, thr, sizeof thr);
    fprintf(f, "{\"visattn\": \"%s\", \"blas_kernel\": ", VISATTN_VERSION);
    put_json_string(f, va_blas_kernel());
    fprintf(f, ", \"openblas_coretype\": ");
    put_json_string(f, coretype_env());
    fprintf(f,
            ", \"threads\": [%s], \"warmup\": %d, \"min_iters\": %d, \"min_time_s\": %g, "
            "\"yardstick\": \"" YARDSTICK "\", \"rows\": [\n",
            thr, o->warmup, o->iters, o->min_time);
    for (int i = 0; i < n; i++) {
        const bench_row *r = &rows[i];
        char over[32];
        fprintf(f,
                "  {\"block\": \"%s\", \"config\": %s, \"n\": %lld, \"c\": %lld, \"h\": %lld, "
                "\"w\": %lld, \"threads\": %d, \"params\": %lld, \"macs\": %lld, \"flops\": %lld, "
                "\"median_ms\": %.6f, \"p10_ms\": %.6f, \"p90_ms\": %.6f, \"images_per_s\": %.3f, "
                "\"workspace_bytes\": %zu, \"iters\": %d, \"overhead_vs_conv\": %s}%s\n",
                r->block, r->config, (long long)r->shape[0], (long long)r->shape[1],
                (long long)r->shape[2], (long long)r->shape[3], r->threads,
                (long long)r->cost.params, (long long)r->cost.macs, (long long)r->cost.flops,
                r->median_ms, r->p10_ms, r->p90_ms, r->images_per_s, r->workspace, r->iters,
                overhead_str(r->overhead, "null", over, sizeof over), i + 1 < n ? "," : "");
    }
    fprintf(f, "]}\n");
    return fclose(f);
}

static int write_csv(const char *path, const bench_row *rows, int n) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "block,config,n,c,h,w,threads,params,macs,flops,median_ms,p10_ms,p90_ms,"
               "images_per_s,workspace_bytes,iters,overhead_vs_conv\n");
    for (int i = 0; i < n; i++) {
        const bench_row *r = &rows[i];
        char over[32];
        fprintf(f, "%s,\"", r->block); /* the config is JSON: quoted, its quotes doubled */
        for (const char *c = r->config; *c; c++) {
            if (*c == '"') fputc('"', f);
            fputc(*c, f);
        }
        fprintf(f, "\",%lld,%lld,%lld,%lld,%d,%lld,%lld,%lld,%.6f,%.6f,%.6f,%.3f,%zu,%d,%s\n",
                (long long)r->shape[0], (long long)r->shape[1], (long long)r->shape[2],
                (long long)r->shape[3], r->threads, (long long)r->cost.params,
                (long long)r->cost.macs, (long long)r->cost.flops, r->median_ms, r->p10_ms,
                r->p90_ms, r->images_per_s, r->workspace, r->iters,
                overhead_str(r->overhead, "", over, sizeof over));
    }
    return fclose(f);
}

/* A round axis step (1, 2 or 5 times a power of ten) giving at most about 5 ticks up to max. */
static double nice_step(double max) {
    double raw = max / 5, p = pow(10, floor(log10(raw)));
    return raw <= p ? p : raw <= 2 * p ? 2 * p : raw <= 5 * p ? 5 * p : 10 * p;
}

/* Two panels sharing the rows: median latency bars with a p10-p90 whisker (left) and MACs bars
 * (right), one group per (shape, threads), the yardstick grey. Each panel has its own linear scale
 * shared by all groups, so bars compare across shapes and thread counts. */
static int write_svg(const char *path, const bench_row *rows, int n) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    const int row_h = 20, label_w = 150, lat_x = 165, lat_w = 430, mac_x = 700, mac_w = 200;
    const int top = 70, group_gap = 28, width = mac_x + mac_w + 90;
    double max_ms = 0, max_macs = 0;
    int groups = 0;
    for (int i = 0; i < n; i++) {
        if (rows[i].p90_ms > max_ms) max_ms = rows[i].p90_ms;
        if (rows[i].cost.macs > max_macs) max_macs = (double)rows[i].cost.macs;
        if (i == 0 || memcmp(rows[i].shape, rows[i - 1].shape, sizeof rows[i].shape) != 0 ||
            rows[i].threads != rows[i - 1].threads)
            groups++;
    }
    double ms_step = nice_step(max_ms > 0 ? max_ms : 1),
           mac_step = nice_step(max_macs > 0 ? max_macs / 1e6 : 1);
    double ms_axis = ms_step * ceil((max_ms > 0 ? max_ms : 1) / ms_step);
    double mac_axis = mac_step * ceil((max_macs > 0 ? max_macs / 1e6 : 1) / mac_step);
    int height = top + n * row_h + groups * group_gap + 30;
    fprintf(
        f,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
        "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
        "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
        "<text x=\"10\" y=\"20\" font-size=\"15\" font-weight=\"bold\">visattn bench %s</text>\n"
        "<text x=\"%d\" y=\"44\" font-weight=\"bold\">median latency, ms (line: p10 to p90)"
        "</text>\n<text x=\"%d\" y=\"44\" font-weight=\"bold\">MACs, millions</text>\n",
        width, height, width, height, VISATTN_VERSION, lat_x, mac_x);
    int y_end = height - 30;
    /* Axes: ticks along the top, light grid lines down through every group. */
    for (double v = 0; v <= ms_axis + 1e-9 * ms_axis; v += ms_step) {
        double x = lat_x + lat_w * v / ms_axis;
        fprintf(f,
                "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>\n"
                "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">%g</text>\n",
                x, x, top - 8, y_end, x, top - 12, v);
    }
    for (double v = 0; v <= mac_axis + 1e-9 * mac_axis; v += mac_step) {
        double x = mac_x + mac_w * v / mac_axis;
        fprintf(f,
                "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>\n"
                "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">%g</text>\n",
                x, x, top - 8, y_end, x, top - 12, v);
    }
    int y = top;
    for (int i = 0; i < n; i++) {
        const bench_row *r = &rows[i];
        if (i == 0 || memcmp(r->shape, rows[i - 1].shape, sizeof r->shape) != 0 ||
            r->threads != rows[i - 1].threads) {
            char shape[64];
            y += group_gap;
            fprintf(f,
                    "<line x1=\"10\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#999\"/>\n"
                    "<text x=\"10\" y=\"%d\" font-weight=\"bold\">input %s, %d thread%s</text>\n",
                    width - 10, y - 22, y - 22, y - 7, shape_str(r->shape, shape, sizeof shape),
                    r->threads, r->threads == 1 ? "" : "s");
        }
        int yard = strcmp(r->block, YARDSTICK) == 0;
        double w = lat_w * r->median_ms / ms_axis;
        double x10 = lat_x + lat_w * r->p10_ms / ms_axis, x90 = lat_x + lat_w * r->p90_ms / ms_axis;
        double mw = mac_w * (r->cost.macs / 1e6) / mac_axis;
        double tx = lat_x + w > x90 ? lat_x + w : x90;
        char macs[24];
        fprintf(f,
                "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n"
                "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\">"
                "<title>%s: median %.3f ms, p10 %.3f, p90 %.3f</title></rect>\n"
                "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"black\"/>\n"
                "<text x=\"%.1f\" y=\"%d\">%.3f</text>\n"
                "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n"
                "<text x=\"%.1f\" y=\"%d\" fill=\"#555\">%s</text>\n",
                label_w, y + 14, r->block, lat_x, y + 3, w, row_h - 6, yard ? "#888888" : "#3b75af",
                r->block, r->median_ms, r->p10_ms, r->p90_ms, x10, x90, y + row_h / 2,
                y + row_h / 2, tx + 5, y + 14, r->median_ms, mac_x, y + 3, mw, row_h - 6,
                yard ? "#bbbbbb" : "#e6924a", mac_x + mw + 5, y + 14,
                si_str(r->cost.macs, macs, sizeof macs));
        y += row_h;
    }
    fprintf(f, "</svg>\n");
    return fclose(f);
}

int va_cmd_bench(int argc, char **argv) {
    bench_opts o = {.blocks = "all", .warmup = 3, .iters = 10, .min_time = 1.0};
    int iters_given = 0, time_given = 0;
    enum {
        O_HELP,
        O_BLOCKS,
        O_SHAPE,
        O_THREADS,
        O_WARMUP,
        O_ITERS,
        O_MINTIME,
        O_JSON,
        O_CSV,
        O_SVG,
        O_NOYARD
    };
    static const va_cli_opt opts[] = {{"help", 0},     {"blocks", 1},       {"shape", 1},
                                      {"threads", 1},  {"warmup", 1},       {"iters", 1},
                                      {"min-time", 1}, {"json", 1},         {"csv", 1},
                                      {"svg", 1},      {"no-yardstick", 0}, {NULL, 0}};
    va_cli_args args = {.cmd = "bench", .argc = argc, .argv = argv};
    const char *v;
    for (int k; (k = va_cli_next(&args, opts, &v)) != VA_CLI_END;) {
        switch (k) {
        case VA_CLI_USAGE: return VA_EXIT_USAGE;
        case VA_CLI_OPERAND:
            va_cli_error("bench: unexpected argument '%s' (see visattn bench --help)", v);
            return VA_EXIT_USAGE;
        case O_HELP: bench_usage(stdout); return VA_EXIT_OK;
        case O_BLOCKS: o.blocks = v; break;
        case O_SHAPE:
            if (o.nshapes == MAX_SHAPES) {
                va_cli_error("bench: at most %d shapes", MAX_SHAPES);
                return VA_EXIT_USAGE;
            }
            if (va_cli_parse_shape(v, o.shapes[o.nshapes++])) return VA_EXIT_USAGE;
            break;
        case O_THREADS:
            if (parse_threads_list(v, &o)) return VA_EXIT_USAGE;
            break;
        case O_WARMUP:
        case O_ITERS: {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || end == v || n < (k == O_WARMUP ? 0 : 1) || n > 1000000) {
                va_cli_error("bench: --%s needs a %s integer, got '%s'", opts[k].name,
                             k == O_WARMUP ? "non-negative" : "positive", v);
                return VA_EXIT_USAGE;
            }
            if (k == O_WARMUP)
                o.warmup = (int)n;
            else
                o.iters = (int)n, iters_given = 1;
            break;
        }
        case O_MINTIME: {
            char *end;
            o.min_time = strtod(v, &end);
            if (*end || end == v || !(o.min_time >= 0) || o.min_time > 3600) {
                va_cli_error("bench: --min-time needs seconds (0..3600), got '%s'", v);
                return VA_EXIT_USAGE;
            }
            time_given = 1;
            break;
        }
        case O_JSON: o.json = v; break;
        case O_CSV: o.csv = v; break;
        case O_SVG: o.svg = v; break;
        case O_NOYARD: o.no_yardstick = 1; break;
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

    /* The yardstick comes first in each group: every row's overhead is relative to it. */
    const char *names[MAX_BLOCKS];
    int nnames = 0;
    int with_yardstick = !o.no_yardstick || name_in_list(o.blocks, YARDSTICK);
    if (with_yardstick) names[nnames++] = YARDSTICK;
    const va_block_ops *op;
    for (int i = 0; (op = va_ops_at(i)) != NULL && nnames < MAX_BLOCKS; i++)
        if ((op->kind == VA_KIND_BLOCK || strcmp(o.blocks, "all") != 0) &&
            block_selected(o.blocks, op))
            names[nnames++] = op->name;

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
                    char shape[64];
                    va_cli_error("bench: %s at %s with config %s: %s", names[b],
                                 shape_str(o.shapes[s], shape, sizeof shape), rows[k].config,
                                 err.msg);
                    rc = 1;
                    goto out;
                }
                rows[k].overhead = with_yardstick ? rows[k].median_ms / rows[yard].median_ms : NAN;
                k++;
            }
        }
    print_table(&o, rows, k);
    if (o.json && write_json(o.json, &o, rows, k))
        va_cli_error("bench: cannot write %s", o.json), rc = 1;
    if (o.csv && write_csv(o.csv, rows, k)) va_cli_error("bench: cannot write %s", o.csv), rc = 1;
    if (o.svg && write_svg(o.svg, rows, k)) va_cli_error("bench: cannot write %s", o.svg), rc = 1;
out:
    free(rows);
    return rc;
}
