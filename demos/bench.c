/* visattn bench: parameters, MACs, FLOPs, latency and workspace of every block, side by side,
 * next to the plain 3x3 conv + BN + ReLU such a block sits on (the yardstick).
 *
 * Latency is measured per (block, shape, threads): warm-up passes first (the first one sizes the
 * arena), then repeated forward passes until both --iters and --min-time are reached; the table
 * shows the median, p10 and p90. Weights are random (speed does not depend on their values), or a
 * --model file's own. */
/* sched_getaffinity() is a GNU extension (tests/test_noalloc.c includes this file after its own
 * headers, without it: then the online CPUs are counted instead). */
#define _GNU_SOURCE

#include <cjson/cJSON.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "visattn/visattn.h"

#define MAX_SHAPES 8
#define MAX_THREADS 8
#define MAX_MODELS 8
#define MAX_ITEMS 48
#define YARDSTICK "conv3x3_bn_relu"
/* A row whose p90 is more than this times its median is flagged as noise: a tenth of its passes
 * took over 20 % longer than the typical one (docs/bench.md, Noise). */
#define NOISE_SPREAD 1.2

enum { NOISE_FROM_SPREAD = 1, NOISE_FROM_LOAD = 2 };

typedef struct bench_opts {
    char blocks[512]; /* every --blocks list joined by commas; "" when none was given */
    cJSON *config;    /* --config: merged into the one block --blocks names */
    const char *models[MAX_MODELS];
    int nmodels;
    int64_t shapes[MAX_SHAPES][4];
    int nshapes;
    int threads[MAX_THREADS];
    int nthreads;
    int warmup, iters;
    double min_time;
    const char *json, *csv, *svg;
    int no_yardstick;    /* leave the yardstick out unless --blocks names it */
    const char *network; /* --network: one row per --attention entry instead of blocks */
    char attention[512]; /* --attention LIST ("" = none and every registered block) */
} bench_opts;

/* What a row times: a registry name with random weights, or a loaded --model file. */
typedef struct bench_item {
    const char *name;
    int user_config; /* --config applies to it */
    const char *path;
    va_block *file;     /* the --model file's block, loaded once */
    int skipped;        /* it cannot run at the current shape */
    int yardstick;      /* added as the yardstick, not asked for by --blocks */
    char attention[64]; /* --network: the slot's block, or "none" */
} bench_item;

typedef struct bench_row {
    char block[64];
    char *config;        /* JSON text (malloc'd) */
    const char *weights; /* the --model file, NULL for random weights */
    int64_t shape[4];
    int threads;
    va_cost cost;
    double median_ms, p10_ms, p90_ms, images_per_s;
    size_t workspace;
    int iters;
    double overhead; /* median / yardstick median at the same shape and threads; NAN without one */
    int noise;       /* NOISE_FROM_* bits */
} bench_row;

/* A (block, shape, threads) that could not run: the shape or config broke the block's rules. */
typedef struct bench_skip {
    char block[64];
    int64_t shape[4];
    char reason[VA_ERROR_MSG_LEN];
} bench_skip;

/* The run's circumstances, recorded in the JSON: numbers are only comparable with them. */
typedef struct bench_env {
    char date[32];               /* UTC, ISO 8601 */
    char cpu[128];               /* /proc/cpuinfo's model name; "" if it has none */
    int cores;                   /* this process may run on */
    double load_start, load_end; /* 1-minute load average; NAN if unknown */
} bench_env;

static void bench_usage(FILE *f) {
    fprintf(
        f,
        "usage: visattn bench [--blocks all|a,b,c ...] [--config JSON] [--model FILE ...]\n"
        "                     [--network NAME [--attention none,se,cbam,...]]\n"
        "                     [--shape N,C,H,W ...] [--threads 1,2,...] [--warmup K]\n"
        "                     [--iters I | --min-time S] [--json FILE|-] [--csv FILE|-]\n"
        "                     [--svg FILE|-] [--no-yardstick]\n"
        "\n"
        "Cost and latency of every block at its bench config (docs/bench.md), next to the\n"
        "yardstick '" YARDSTICK "' (3x3 conv, C->C, + BN + ReLU), with random weights.\n"
        "  --blocks LIST   blocks, and models by name at their default config (EMO_1M, ...);\n"
        "                  repeat it to add more; 'all' is every block (default)\n"
        "  --config JSON   keys merged into the bench config of the one block --blocks names,\n"
        "                  e.g. --blocks cbam --config '{\"reduction_ratio\": 4}'\n"
        "  --model FILE    a .safetensors file (visattn run's format), timed with its weights\n"
        "                  and config; without --blocks only the file (and the yardstick) is\n"
        "                  timed; without --shape, at the input the model declares\n"
        "  --shape, --threads  repeatable / comma list; a thread count above the cores is\n"
        "                  lowered to the cores (with a warning), repeated counts are dropped\n"
        "  --json, --csv, --svg  write the rows there; '-' is standard output, and the table\n"
        "                  then goes to standard error (only one of them may be '-')\n"
        "  --no-yardstick  leave the yardstick out (unless --blocks names it); 'vs conv' empty\n"
        "  --network NAME  a network model (resnet50, mobilenet_v3_large, ...: visattn list)\n"
        "                  with random weights, once per --attention entry, the block put in\n"
        "                  its attention slot the way its authors did (docs/networks/): the\n"
        "                  comparison papers print; 'vs none' is each row's median over the\n"
        "                  network's without attention; --config sets the network's other\n"
        "                  arguments; default shape 1,3,224,224\n"
        "  --attention LIST  none and block names (default: none and every registered block;\n"
        "                  a block the slot cannot take is skipped with a note)\n"
        "Defaults: shapes 1,64,56,56 and 1,256,14,14; threads from VISATTN_NUM_THREADS or all\n"
        "cores; --warmup 3; at least --iters 10 and --min-time 1.\n"
        "A block that cannot run at a shape (its config or the shape breaks its rules) is skipped\n"
        "with a note. Exit status: 0 if something asked for was timed, 1 if all of it was\n"
        "skipped (the yardstick alone does not count) or a file failed, 2 on a usage error.\n"
        "Warnings say when a row's p90 is over %.1fx its median, or the load average at the\n"
        "start leaves fewer free cores than the threads used: those numbers are probably\n"
        "noise ('noise' column).\n",
        NOISE_SPREAD);
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
    /* eca: k_size 3, the reference's default (its ResNets pick 3 or 5 by C); channel is unused */
    if (strcmp(block, "eca") == 0) return snprintf(buf, len, "{\"channel\": %lld}", C);
    if (strcmp(block, "simam") == 0) return snprintf(buf, len, "{}");
    if (strcmp(block, "bam") == 0) return snprintf(buf, len, "{\"gate_channel\": %lld}", C);
    if (strcmp(block, YARDSTICK) == 0)
        return snprintf(buf, len,
                        "{\"in_channels\": %lld, \"out_channels\": %lld, \"kernel_size\": 3, "
                        "\"padding\": 1}",
                        C, C);
    return snprintf(buf, len, "{}");
}

/* The bench config at C with the --config keys put over it (added or replaced): --config
 * '{"reduction_ratio": 4}' on cbam keeps gate_channels = C. NULL on no memory. */
static char *block_config(const char *block, int64_t c, const cJSON *user) {
    char def[256];
    default_config(block, c, def, sizeof def);
    if (!user) return strdup(def);
    cJSON *merged = cJSON_Parse(def);
    for (const cJSON *it = user->child; merged && it; it = it->next) {
        cJSON *copy = cJSON_Duplicate(it, 1);
        if (!copy) break;
        if (cJSON_GetObjectItemCaseSensitive(merged, it->string))
            cJSON_ReplaceItemInObjectCaseSensitive(merged, it->string, copy);
        else
            cJSON_AddItemToObject(merged, it->string, copy);
    }
    char *text = merged ? cJSON_PrintUnformatted(merged) : NULL;
    cJSON_Delete(merged);
    return text;
}

/* A --network row's config: --config's keys with "attention" set to the block (null for "none").
 * NULL on no memory. */
static char *network_config(const cJSON *user, const char *attention) {
    cJSON *c = user ? cJSON_Duplicate(user, 1) : cJSON_CreateObject();
    cJSON *a = strcmp(attention, "none") == 0 ? cJSON_CreateNull() : cJSON_CreateString(attention);
    char *text = NULL;
    if (c && a) {
        cJSON_DeleteItemFromObjectCaseSensitive(c, "attention");
        cJSON_AddItemToObject(c, "attention", a);
        a = NULL;
        text = cJSON_PrintUnformatted(c);
    }
    cJSON_Delete(a);
    cJSON_Delete(c);
    return text;
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

/* The failures that mean "this block cannot run at this shape with this config": the row is
 * skipped with a note rather than ending the run. */
static int is_constraint(va_status st) {
    return st == VA_ERR_CONFIG || st == VA_ERR_SHAPE || st == VA_ERR_UNSUPPORTED;
}

static va_status measure(const bench_opts *o, const bench_item *it, const int64_t shape[4],
                         int threads, bench_row *row, va_error *err) {
    memset(row, 0, sizeof *row);
    memcpy(row->shape, shape, sizeof row->shape);
    row->threads = threads;
    row->weights = it->path;
    va_block *b = it->file;
    snprintf(row->block, sizeof row->block, "%s", b ? va_block_name(b) : it->name);
    if (it->attention[0]) {
        if (strcmp(it->attention, "none") != 0)
            snprintf(row->block, sizeof row->block, "%.30s+%.30s", it->name, it->attention);
        row->config = network_config(o->config, it->attention);
    } else {
        row->config = b ? strdup(va_block_config(b))
                        : block_config(it->name, shape[1], it->user_config ? o->config : NULL);
    }
    if (!row->config) return va_fail(err, VA_ERR_NOMEM, "out of memory");
    if (!b) VA_TRY(make_block(it->name, row->config, &b, err));
    const va_bench_opts bo = {o->warmup, o->iters, o->min_time};
    va_bench_result res;
    va_status st = va_bench_block(b, shape, threads, &bo, &res, err);
    if (!it->file) va_block_destroy(b);
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

/* The cores this process may run on (as va_cli_setup_threads counts them). */
static int usable_cores(void) {
#ifdef CPU_COUNT
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static int has_threads(const bench_opts *o, int t) {
    for (int i = 0; i < o->nthreads; i++)
        if (o->threads[i] == t) return 1;
    return 0;
}

/* --threads 1,2,...: a count above the cores is lowered to the cores with a warning, as
 * va_cli_setup_threads does for one count; a count already in the list is dropped. */
static int parse_threads_list(const char *s, bench_opts *o) {
    o->nthreads = 0;
    char buf[128];
    if (snprintf(buf, sizeof buf, "%s", s) >= (int)sizeof buf) {
        va_cli_error("bench: --threads list too long");
        return -1;
    }
    int cores = usable_cores();
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        int t;
        if (va_cli_parse_threads(tok, &t)) return -1;
        if (t > cores) {
            fprintf(stderr,
                    "visattn: warning: bench: --threads asks for %d threads but this machine gives "
                    "the process %d core%s; using %d%s\n",
                    t, cores, cores == 1 ? "" : "s", cores,
                    has_threads(o, cores) ? ", already in the list: skipped" : "");
            t = cores;
        }
        if (has_threads(o, t)) continue;
        if (o->nthreads == MAX_THREADS) {
            va_cli_error("bench: at most %d thread counts", MAX_THREADS);
            return -1;
        }
        o->threads[o->nthreads++] = t;
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

/* A block is selected by its name or its alias ("channel" selects se); "all" is every block (not
 * the models, which are selected by name only). */
static int block_selected(const char *list, const va_block_ops *op) {
    if (op->kind == VA_KIND_BLOCK && name_in_list(list, "all")) return 1;
    return name_in_list(list, op->name) || (op->alias && name_in_list(list, op->alias));
}

/* --blocks may be given several times: the lists add up. */
static int add_block_list(bench_opts *o, const char *list) {
    size_t used = strlen(o->blocks);
    if (snprintf(o->blocks + used, sizeof o->blocks - used, "%s%s", used ? "," : "", list) >=
        (int)(sizeof o->blocks - used)) {
        va_cli_error("bench: --blocks lists too long");
        return -1;
    }
    return 0;
}

/* Unknown names in --blocks are an error, not silently skipped. */
static int check_block_list(const char *list) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    int count = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ","), count++) {
        /* Blocks, and models named explicitly ("all" is every block): EMO_1M, ... */
        if (strcmp(tok, "all") != 0 && strcmp(tok, YARDSTICK) != 0 && !va_find_ops(tok)) {
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

/* The 1-minute load average (Linux's /proc/loadavg; NAN elsewhere). */
static double load_average(void) {
    FILE *f = fopen("/proc/loadavg", "r");
    double l = NAN;
    if (f && fscanf(f, "%lf", &l) != 1) l = NAN;
    if (f) fclose(f);
    return l;
}

static void cpu_model(char *buf, size_t len) {
    buf[0] = '\0';
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) != 0 || !colon) continue;
        colon += strspn(colon + 1, " \t") + 1;
        colon[strcspn(colon, "\n")] = '\0';
        snprintf(buf, len, "%s", colon);
        break;
    }
    fclose(f);
}

static void env_start(bench_env *e) {
    time_t now = time(NULL);
    const struct tm *tm = gmtime(&now);
    if (tm)
        strftime(e->date, sizeof e->date, "%Y-%m-%dT%H:%M:%SZ", tm);
    else
        e->date[0] = '\0';
    cpu_model(e->cpu, sizeof e->cpu);
    e->cores = usable_cores();
    e->load_start = load_average();
    e->load_end = NAN;
}

/* Other processes' load (the 1-minute average before the bench runs) against the cores that
 * `threads` leave free: above that, some of the bench's threads wait for a core. */
static int load_is_noise(const bench_env *e, int threads) {
    return !isnan(e->load_start) && e->load_start > e->cores - threads;
}

static const char *noise_str(int noise) {
    static const char *const s[] = {"", "spread", "load", "spread+load"};
    return s[noise & 3];
}

static void threads_str(const bench_opts *o, char *buf, size_t len) {
    size_t k = 0;
    buf[0] = '\0';
    for (int t = 0; t < o->nthreads && k < len; t++)
        k += (size_t)snprintf(buf + k, len - k, "%s%d", t ? "," : "", o->threads[t]);
}

static void print_table(FILE *f, const bench_opts *o, const bench_env *e, const bench_row *rows,
                        int n) {
    char thr[128];
    threads_str(o, thr, sizeof thr);
    fprintf(f,
            "visattn %s bench: per forward pass, %d warm-up, then at least %d pass%s and %.2g s; "
            "median, p10, p90\n",
            VISATTN_VERSION, o->warmup, o->iters, o->iters == 1 ? "" : "es", o->min_time);
    fprintf(f, "OpenBLAS kernel %s (OPENBLAS_CORETYPE %s), threads %s\n", va_blas_kernel(),
            coretype_env() ? coretype_env() : "unset", thr);
    fprintf(f, "%s, %d core%s; load average %.2f at the start; %s\n",
            e->cpu[0] ? e->cpu : "unknown CPU", e->cores, e->cores == 1 ? "" : "s", e->load_start,
            e->date);
    int bw = 17; /* the block column: as wide as its longest name ("resnet50+double_attention") */
    for (int i = 0; i < n; i++)
        if ((int)strlen(rows[i].block) > bw) bw = (int)strlen(rows[i].block);
    fprintf(f, "%-*s %-13s %3s %8s %8s %8s %9s %9s %9s %9s %10s %8s  %s\n", bw, "block", "shape",
            "thr", "params", "MACs", "FLOPs", "median ms", "p10 ms", "p90 ms", "img/s", "workspace",
            o->network ? "vs none" : "vs conv", "noise");
    for (int i = 0; i < n; i++) {
        const bench_row *r = &rows[i];
        char shape[64], p[24], m[24], fl[24], w[24], over[24] = "-";
        if (!isnan(r->overhead)) snprintf(over, sizeof over, "%.1f%%", 100.0 * r->overhead);
        fprintf(f, "%-*s %-13s %3d %8s %8s %8s %9.3f %9.3f %9.3f %9.1f %10s %8s  %s\n", bw,
                r->block, shape_str(r->shape, shape, sizeof shape), r->threads,
                si_str(r->cost.params, p, sizeof p), si_str(r->cost.macs, m, sizeof m),
                si_str(r->cost.flops, fl, sizeof fl), r->median_ms, r->p10_ms, r->p90_ms,
                r->images_per_s, bytes_str(r->workspace, w, sizeof w), over, noise_str(r->noise));
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

static void put_json_number(FILE *f, double v) {
    if (isnan(v))
        fputs("null", f);
    else
        fprintf(f, "%.2f", v);
}

/* The overhead as a JSON or CSV value: `none` (null, or empty in CSV) without a yardstick row. */
static const char *overhead_str(double v, const char *none, char *buf, size_t len) {
    if (isnan(v)) return none;
    snprintf(buf, len, "%.6f", v);
    return buf;
}

/* "-" is standard output. */
static FILE *open_output(const char *path) {
    return strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
}

static int close_output(FILE *f) {
    if (f != stdout) return fclose(f);
    return fflush(f) || ferror(f) ? EOF : 0;
}

/* JSON and CSV carry the same fields, in the same order (tests/py_bench.py checks it):
 * block, config (JSON text), weights (the --model file or null), n, c, h, w, threads, params,
 * macs, flops, median_ms, p10_ms, p90_ms, images_per_s, workspace_bytes (arena peak), iters,
 * overhead_vs_conv (median / yardstick's; with --network overhead_vs_none, median / the plain
 * network's), noise (null, "spread", "load" or "spread+load"). */
static int write_json(const char *path, const bench_opts *o, const bench_env *e,
                      const bench_row *rows, int n, const bench_skip *skips, int nskips) {
    FILE *f = open_output(path);
    if (!f) return -1;
    char thr[128];
    threads_str(o, thr, sizeof thr);
    fprintf(f, "{\"visattn\": \"%s\", \"date\": ", VISATTN_VERSION);
    put_json_string(f, e->date[0] ? e->date : NULL);
    fprintf(f, ", \"cpu_model\": ");
    put_json_string(f, e->cpu[0] ? e->cpu : NULL);
    fprintf(f, ", \"cores\": %d, \"blas_kernel\": ", e->cores);
    put_json_string(f, va_blas_kernel());
    fprintf(f, ", \"openblas_coretype\": ");
    put_json_string(f, coretype_env());
    fprintf(f, ", \"threads\": [%s], \"load_avg_start\": ", thr);
    put_json_number(f, e->load_start);
    fprintf(f, ", \"load_avg_end\": ");
    put_json_number(f, e->load_end);
    fprintf(f,
            ", \"noise_spread\": %g, \"warmup\": %d, \"min_iters\": %d, \"min_time_s\": %g, "
            "\"yardstick\": \"%s\", \"rows\": [\n",
            NOISE_SPREAD, o->warmup, o->iters, o->min_time, o->network ? o->network : YARDSTICK);
    for (int i = 0; i < n; i++) {
        const bench_row *r = &rows[i];
        char over[32];
        fprintf(f, "  {\"block\": ");
        put_json_string(f, r->block);
        fprintf(f, ", \"config\": %s, \"weights\": ", r->config);
        put_json_string(f, r->weights);
        fprintf(f,
                ", \"n\": %lld, \"c\": %lld, \"h\": %lld, \"w\": %lld, \"threads\": %d, "
                "\"params\": %lld, \"macs\": %lld, \"flops\": %lld, \"median_ms\": %.6f, "
                "\"p10_ms\": %.6f, \"p90_ms\": %.6f, \"images_per_s\": %.3f, "
                "\"workspace_bytes\": %zu, \"iters\": %d, \"overhead_vs_%s\": %s, \"noise\": ",
                (long long)r->shape[0], (long long)r->shape[1], (long long)r->shape[2],
                (long long)r->shape[3], r->threads, (long long)r->cost.params,
                (long long)r->cost.macs, (long long)r->cost.flops, r->median_ms, r->p10_ms,
                r->p90_ms, r->images_per_s, r->workspace, r->iters, o->network ? "none" : "conv",
                overhead_str(r->overhead, "null", over, sizeof over));
        put_json_string(f, r->noise ? noise_str(r->noise) : NULL);
        fprintf(f, "}%s\n", i + 1 < n ? "," : "");
    }
    fprintf(f, "], \"skipped\": [");
    for (int i = 0; i < nskips; i++) {
        const bench_skip *s = &skips[i];
        fprintf(f, "%s\n  {\"block\": ", i ? "," : "");
        put_json_string(f, s->block);
        fprintf(f, ", \"n\": %lld, \"c\": %lld, \"h\": %lld, \"w\": %lld, \"reason\": ",
                (long long)s->shape[0], (long long)s->shape[1], (long long)s->shape[2],
                (long long)s->shape[3]);
        put_json_string(f, s->reason);
        fputc('}', f);
    }
    fprintf(f, "]}\n");
    return close_output(f);
}

/* A CSV field, quoted with its quotes doubled when it holds a comma, quote or newline. */
static void put_csv_field(FILE *f, const char *s) {
    if (!s[strcspn(s, ",\"\n\r")]) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (const char *c = s; *c; c++) {
        if (*c == '"') fputc('"', f);
        fputc(*c, f);
    }
    fputc('"', f);
}

static int write_csv(const char *path, const bench_opts *o, const bench_row *rows, int n) {
    FILE *f = open_output(path);
    if (!f) return -1;
    fprintf(f,
            "block,config,weights,n,c,h,w,threads,params,macs,flops,median_ms,p10_ms,p90_ms,"
            "images_per_s,workspace_bytes,iters,overhead_vs_%s,noise\n",
            o->network ? "none" : "conv");
    for (int i = 0; i < n; i++) {
        const bench_row *r = &rows[i];
        char over[32];
        put_csv_field(f, r->block);
        fputc(',', f);
        put_csv_field(f, r->config);
        fputc(',', f);
        put_csv_field(f, r->weights ? r->weights : "");
        fprintf(f, ",%lld,%lld,%lld,%lld,%d,%lld,%lld,%lld,%.6f,%.6f,%.6f,%.3f,%zu,%d,%s,%s\n",
                (long long)r->shape[0], (long long)r->shape[1], (long long)r->shape[2],
                (long long)r->shape[3], r->threads, (long long)r->cost.params,
                (long long)r->cost.macs, (long long)r->cost.flops, r->median_ms, r->p10_ms,
                r->p90_ms, r->images_per_s, r->workspace, r->iters,
                overhead_str(r->overhead, "", over, sizeof over), noise_str(r->noise));
    }
    return close_output(f);
}

/* A round axis step (1, 2 or 5 times a power of ten) giving at most about 5 ticks up to max. */
static double nice_step(double max) {
    double raw = max / 5, p = pow(10, floor(log10(raw)));
    return raw <= p ? p : raw <= 2 * p ? 2 * p : raw <= 5 * p ? 5 * p : 10 * p;
}

/* Two panels sharing the rows: median latency bars with a p10-p90 whisker (left) and MACs bars
 * (right), one group per (shape, threads), the yardstick grey. Each panel has its own linear scale
 * shared by all groups, so bars compare across shapes and thread counts. A bar's value is written
 * just after the bar's end; where the whisker runs on past it, the label's white outline cuts the
 * whisker behind the text, so the number stays readable and next to its bar. */
static int write_svg(const char *path, const bench_row *rows, int n) {
    FILE *f = open_output(path);
    if (!f) return -1;
    const int row_h = 20, label_w = 150, lat_x = 165, lat_w = 430, mac_x = 700, mac_w = 200;
    const int top = 70, group_gap = 28, width = mac_x + mac_w + 90, gap = 4;
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
        int yard = strcmp(r->block, YARDSTICK) == 0, mid = y + row_h / 2;
        double w = lat_w * r->median_ms / ms_axis;
        double x10 = lat_x + lat_w * r->p10_ms / ms_axis, x90 = lat_x + lat_w * r->p90_ms / ms_axis;
        double mw = mac_w * (r->cost.macs / 1e6) / mac_axis;
        char macs[24];
        fprintf(f,
                "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n"
                "<rect class=\"latency\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
                "fill=\"%s\"><title>%s: median %.3f ms, p10 %.3f, p90 %.3f%s</title></rect>\n"
                "<path class=\"whisker\" d=\"M%.1f %dV%dM%.1f %dH%.1fM%.1f %dV%d\" "
                "stroke=\"black\" fill=\"none\"/>\n"
                "<text class=\"median\" x=\"%.1f\" y=\"%d\" stroke=\"white\" stroke-width=\"3\" "
                "paint-order=\"stroke\">%.3f</text>\n",
                label_w, y + 14, r->block, lat_x, y + 3, w, row_h - 6, yard ? "#888888" : "#3b75af",
                r->block, r->median_ms, r->p10_ms, r->p90_ms, r->noise ? " (probably noise)" : "",
                x10, mid - 3, mid + 3, x10, mid, x90, x90, mid - 3, mid + 3, lat_x + w + gap,
                y + 14, r->median_ms);
        fprintf(
            f,
            "<rect class=\"macs\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n"
            "<text x=\"%.1f\" y=\"%d\" fill=\"#555\">%s</text>\n",
            mac_x, y + 3, mw, row_h - 6, yard ? "#bbbbbb" : "#e6924a", mac_x + mw + gap, y + 14,
            si_str(r->cost.macs, macs, sizeof macs));
        y += row_h;
    }
    fprintf(f, "</svg>\n");
    return close_output(f);
}

/* The rows to time, in table order: the yardstick first (every row's overhead is relative to it),
 * then the selected blocks and named models in registry order, then the --model files. */
static int select_items(const bench_opts *o, bench_item *items, int *nitems) {
    int n = 0, configured = 0;
    if (o->network) {
        /* none first: the other rows are compared with it */
        char list[512];
        snprintf(list, sizeof list, "%s", o->attention[0] ? o->attention : "none,all");
        for (char *save, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            const va_block_ops *op = NULL;
            for (int i = 0; strcmp(tok, "all") == 0 && (op = va_ops_at(i)) != NULL; i++)
                if (op->kind == VA_KIND_BLOCK && n < MAX_ITEMS) {
                    items[n] = (bench_item){.name = o->network};
                    snprintf(items[n++].attention, sizeof items[0].attention, "%s", op->name);
                }
            if (strcmp(tok, "all") == 0) continue;
            op = strcmp(tok, "none") == 0 ? NULL : va_find_ops(tok);
            if (strcmp(tok, "none") != 0 && (!op || op->kind != VA_KIND_BLOCK)) {
                va_cli_error("bench: --attention: '%s' is not a registered block (see visattn "
                             "list), 'none' or 'all'",
                             tok);
                return -1;
            }
            if (n == MAX_ITEMS) {
                va_cli_error("bench: --attention: at most %d entries", MAX_ITEMS);
                return -1;
            }
            items[n] = (bench_item){.name = o->network};
            snprintf(items[n++].attention, sizeof items[0].attention, "%s", op ? op->name : tok);
        }
        for (int i = 1; i < n; i++) /* "none" first, wherever the list has it */
            if (strcmp(items[i].attention, "none") == 0) {
                const bench_item none = items[i];
                memmove(&items[1], &items[0], (size_t)i * sizeof *items);
                items[0] = none;
                break;
            }
        for (int i = 0; i < n; i++) /* a block named twice (or by its alias) is timed once */
            for (int j = 0; j < i; j++)
                if (strcmp(items[i].attention, items[j].attention) == 0) {
                    memmove(&items[i], &items[i + 1], (size_t)(n - i - 1) * sizeof *items);
                    n--, i--;
                    break;
                }
        *nitems = n;
        return 0;
    }
    if (!o->no_yardstick || name_in_list(o->blocks, YARDSTICK))
        items[n++] =
            (bench_item){.name = YARDSTICK, .yardstick = !name_in_list(o->blocks, YARDSTICK)};
    const va_block_ops *op;
    for (int i = 0; (op = va_ops_at(i)) != NULL && n < MAX_ITEMS - MAX_MODELS; i++)
        if (block_selected(o->blocks, op)) {
            items[n++] = (bench_item){.name = op->name, .user_config = o->config != NULL};
            configured++;
        }
    if (o->config && configured != 1) {
        va_cli_error("bench: --config applies to one block, and --blocks selects %d%s", configured,
                     o->nmodels ? " (a --model file keeps its own config)" : "");
        return -1;
    }
    for (int m = 0; m < o->nmodels; m++)
        items[n++] = (bench_item){.name = o->models[m], .path = o->models[m]};
    *nitems = n;
    return 0;
}

/* Without --shape: a lone --model file's declared input (channels, size), else the defaults. */
static void default_shapes(bench_opts *o, const bench_item *items, int nitems) {
    const int64_t d[2][4] = {{1, 64, 56, 56}, {1, 256, 14, 14}};
    memcpy(o->shapes, d, sizeof d);
    o->nshapes = 2;
    if (o->network) {
        const int64_t net[4] = {1, 3, 224, 224};
        memcpy(o->shapes[0], net, sizeof net);
        o->nshapes = 1;
        return;
    }
    if (o->nmodels != 1 || o->blocks[0]) return;
    const va_model_info *info = va_block_info(items[nitems - 1].file);
    if (!info || info->in_channels <= 0) return;
    int64_t h = info->input_h > 0 ? info->input_h : 56, w = info->input_w > 0 ? info->input_w : 56;
    const int64_t s[4] = {1, info->in_channels, h, w};
    memcpy(o->shapes[0], s, sizeof s);
    o->nshapes = 1;
}

static void warn_spread(const bench_row *r) {
    char shape[64];
    shape_str(r->shape, shape, sizeof shape);
    if (r->noise & NOISE_FROM_SPREAD)
        fprintf(stderr,
                "visattn: warning: bench: %s at %s, %d thread%s: p90 %.3f ms is %.2fx the median "
                "%.3f ms (over %.1fx): the number is probably noise\n",
                r->block, shape, r->threads, r->threads == 1 ? "" : "s", r->p90_ms,
                r->p90_ms / r->median_ms, r->median_ms, NOISE_SPREAD);
}

int va_cmd_bench(int argc, char **argv) {
    bench_opts o = {.warmup = 3, .iters = 10, .min_time = 1.0};
    int iters_given = 0, time_given = 0, rc = VA_EXIT_OK;
    enum {
        O_HELP,
        O_BLOCKS,
        O_CONFIG,
        O_MODEL,
        O_SHAPE,
        O_THREADS,
        O_WARMUP,
        O_ITERS,
        O_MINTIME,
        O_JSON,
        O_CSV,
        O_SVG,
        O_NOYARD,
        O_NETWORK,
        O_ATTENTION
    };
    static const va_cli_opt opts[] = {
        {"help", 0},         {"blocks", 1},  {"config", 1},    {"model", 1},
        {"shape", 1},        {"threads", 1}, {"warmup", 1},    {"iters", 1},
        {"min-time", 1},     {"json", 1},    {"csv", 1},       {"svg", 1},
        {"no-yardstick", 0}, {"network", 1}, {"attention", 1}, {NULL, 0}};
    va_cli_args args = {.cmd = "bench", .argc = argc, .argv = argv};
    const char *v;
    bench_item items[MAX_ITEMS] = {{0}};
    int nitems = 0, nrows = 0, nskips = 0, nasked = 0;
    bench_row *rows = NULL;
    bench_skip *skips = NULL;
#define USAGE_ERROR                                                                                \
    do {                                                                                           \
        rc = VA_EXIT_USAGE;                                                                        \
        goto out;                                                                                  \
    } while (0)
    for (int opt; (opt = va_cli_next(&args, opts, &v)) != VA_CLI_END;) {
        switch (opt) {
        case VA_CLI_USAGE: USAGE_ERROR;
        case VA_CLI_OPERAND:
            va_cli_error("bench: unexpected argument '%s' (see visattn bench --help)", v);
            USAGE_ERROR;
        case O_HELP: bench_usage(stdout); goto out;
        case O_BLOCKS:
            if (check_block_list(v) || add_block_list(&o, v)) USAGE_ERROR;
            break;
        case O_CONFIG:
            cJSON_Delete(o.config);
            o.config = cJSON_Parse(v);
            if (!cJSON_IsObject(o.config)) {
                va_cli_error("bench: --config needs a JSON object such as '{\"reduction_ratio\": "
                             "4}', got '%s'",
                             v);
                USAGE_ERROR;
            }
            break;
        case O_MODEL:
            if (o.nmodels == MAX_MODELS) {
                va_cli_error("bench: at most %d --model files", MAX_MODELS);
                USAGE_ERROR;
            }
            o.models[o.nmodels++] = v;
            break;
        case O_SHAPE:
            if (o.nshapes == MAX_SHAPES) {
                va_cli_error("bench: at most %d shapes", MAX_SHAPES);
                USAGE_ERROR;
            }
            if (va_cli_parse_shape(v, o.shapes[o.nshapes++])) USAGE_ERROR;
            break;
        case O_THREADS:
            if (parse_threads_list(v, &o)) USAGE_ERROR;
            break;
        case O_WARMUP:
        case O_ITERS: {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || end == v || n < (opt == O_WARMUP ? 0 : 1) || n > 1000000) {
                va_cli_error("bench: --%s needs a %s integer, got '%s'", opts[opt].name,
                             opt == O_WARMUP ? "non-negative" : "positive", v);
                USAGE_ERROR;
            }
            if (opt == O_WARMUP)
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
                USAGE_ERROR;
            }
            time_given = 1;
            break;
        }
        case O_JSON: o.json = v; break;
        case O_CSV: o.csv = v; break;
        case O_SVG: o.svg = v; break;
        case O_NOYARD: o.no_yardstick = 1; break;
        case O_NETWORK: {
            const va_block_ops *op = va_find_ops(v);
            if (!op || op->kind != VA_KIND_MODEL) {
                va_cli_error("bench: --network: '%s' is not a registered network (see visattn "
                             "list)",
                             v);
                USAGE_ERROR;
            }
            o.network = op->name;
            break;
        }
        case O_ATTENTION: {
            const size_t used = strlen(o.attention);
            if (snprintf(o.attention + used, sizeof o.attention - used, "%s%s", used ? "," : "",
                         v) >= (int)(sizeof o.attention - used)) {
                va_cli_error("bench: --attention lists too long");
                USAGE_ERROR;
            }
            break;
        }
        }
    }
    if (iters_given && !time_given) o.min_time = 0; /* --iters I alone means exactly I passes */
    if (time_given && !iters_given) o.iters = 1;
    if (o.network && (o.blocks[0] || o.nmodels)) {
        va_cli_error("bench: --network times one network with several attention blocks; give "
                     "--blocks and --model in another run");
        USAGE_ERROR;
    }
    if (o.attention[0] && !o.network) {
        va_cli_error("bench: --attention needs --network");
        USAGE_ERROR;
    }
    if (!o.blocks[0] && !o.nmodels && !o.network) strcpy(o.blocks, "all");
    const char *outs[3] = {o.json, o.csv, o.svg};
    int to_stdout = 0;
    for (int i = 0; i < 3; i++)
        to_stdout += outs[i] && strcmp(outs[i], "-") == 0;
    if (to_stdout > 1) {
        va_cli_error("bench: only one of --json, --csv and --svg can be '-' (standard output)");
        USAGE_ERROR;
    }
    if (select_items(&o, items, &nitems)) USAGE_ERROR;
    if (va_cli_setup_threads(0)) USAGE_ERROR;
    if (o.nthreads == 0) {
        o.threads[0] = va_get_num_threads();
        o.nthreads = 1;
    }
    /* Inputs and output locations before any timing. */
    for (int i = 0; i < 3; i++)
        if (outs[i] && strcmp(outs[i], "-") != 0 && va_cli_check_output_file(outs[i])) {
            rc = VA_EXIT_FAIL;
            goto out;
        }
    for (int i = 0; i < nitems; i++) {
        va_error err = {0};
        if (items[i].path && va_block_load_file(items[i].path, &items[i].file, &err) != VA_OK) {
            va_cli_error("bench: %s", err.msg);
            rc = VA_EXIT_FAIL;
            goto out;
        }
    }
    if (o.nshapes == 0) default_shapes(&o, items, nitems);

    bench_env env;
    env_start(&env);
    for (int t = 0; t < o.nthreads; t++)
        if (load_is_noise(&env, o.threads[t]))
            fprintf(stderr,
                    "visattn: warning: bench: the load average was %.2f over the last minute, more "
                    "than the %d of %d cores that %d thread%s free: the times at %d thread%s "
                    "are probably noise\n",
                    env.load_start, env.cores - o.threads[t] > 0 ? env.cores - o.threads[t] : 0,
                    env.cores, o.threads[t], o.threads[t] == 1 ? " leaves" : "s leave",
                    o.threads[t], o.threads[t] == 1 ? "" : "s");
    int cap = o.nshapes * o.nthreads * nitems;
    rows = calloc((size_t)cap, sizeof *rows);
    skips = calloc((size_t)cap, sizeof *skips);
    if (!rows || !skips) {
        va_cli_error("bench: out of memory");
        rc = VA_EXIT_FAIL;
        goto out;
    }
    /* A block that cannot run at a shape cannot at any thread count: one note, one skip. */
    for (int s = 0; s < o.nshapes; s++) {
        for (int b = 0; b < nitems; b++)
            items[b].skipped = 0;
        for (int t = 0; t < o.nthreads; t++) {
            int yard = -1;
            for (int b = 0; b < nitems; b++) {
                if (items[b].skipped) continue;
                va_error err = {0};
                bench_row *r = &rows[nrows];
                va_status st = measure(&o, &items[b], o.shapes[s], o.threads[t], r, &err);
                if (st != VA_OK) {
                    char shape[64];
                    shape_str(o.shapes[s], shape, sizeof shape);
                    if (!is_constraint(st)) {
                        va_cli_error("bench: %s at %s with config %s: %s", r->block, shape,
                                     r->config ? r->config : "?", err.msg);
                        free(r->config);
                        r->config = NULL;
                        rc = VA_EXIT_FAIL;
                        goto out;
                    }
                    bench_skip *sk = &skips[nskips++];
                    snprintf(sk->block, sizeof sk->block, "%s", r->block);
                    memcpy(sk->shape, o.shapes[s], sizeof sk->shape);
                    snprintf(sk->reason, sizeof sk->reason, "%s", err.msg);
                    fprintf(stderr, "visattn: bench: skipped %s at %s (config %s): %s\n", r->block,
                            shape, r->config ? r->config : "?", err.msg);
                    free(r->config);
                    r->config = NULL;
                    items[b].skipped = 1;
                    continue;
                }
                if (yard < 0 && !items[b].file &&
                    (o.network ? strcmp(items[b].attention, "none") == 0
                               : strcmp(items[b].name, YARDSTICK) == 0))
                    yard = nrows;
                r->overhead = yard >= 0 ? r->median_ms / rows[yard].median_ms : NAN;
                if (r->p90_ms > NOISE_SPREAD * r->median_ms) r->noise |= NOISE_FROM_SPREAD;
                if (load_is_noise(&env, r->threads)) r->noise |= NOISE_FROM_LOAD;
                warn_spread(r);
                nasked += !items[b].yardstick;
                nrows++;
            }
        }
    }
    env.load_end = load_average();
    if (nasked == 0) {
        va_cli_error("bench: nothing to time: every block asked for was skipped at the given "
                     "shapes");
        rc = VA_EXIT_FAIL;
        goto out;
    }
    print_table(to_stdout ? stderr : stdout, &o, &env, rows, nrows);
    if (o.json && write_json(o.json, &o, &env, rows, nrows, skips, nskips))
        va_cli_error("bench: cannot write %s", o.json), rc = VA_EXIT_FAIL;
    if (o.csv && write_csv(o.csv, &o, rows, nrows))
        va_cli_error("bench: cannot write %s", o.csv), rc = VA_EXIT_FAIL;
    if (o.svg && write_svg(o.svg, rows, nrows))
        va_cli_error("bench: cannot write %s", o.svg), rc = VA_EXIT_FAIL;
out:
#undef USAGE_ERROR
    for (int i = 0; i < nrows; i++)
        free(rows[i].config);
    free(rows);
    free(skips);
    for (int i = 0; i < nitems; i++)
        va_block_destroy(items[i].file);
    cJSON_Delete(o.config);
    return rc;
}
