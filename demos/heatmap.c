/* visattn heatmap IMAGE... [--model NAME|FILE]... [--block all|NAME] [--stage K|all]
 *                 [--maps stage|block] [--out DIR] [--colormap turbo|jet|viridis|inferno|gray]
 *                 [--alpha A] [--cam] [--threads N] [--max-pixels N] [--save-input]
 *                 [--scale stretch|fixed] [--jobs N] [--all-formats]
 * Show where each attention block of a classifier looks (the project's backbone models, an EMO, a
 * network): run the model on the image, take each stage's (or block's) spatial attention map,
 * upsample it to the image's full resolution, colour-map it and blend it over the image. */
/* strtok_r() is POSIX, which glibc hides in strict C11 without this. */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "visattn/vis.h"
#include "visattn/visattn.h"

#define HM_PATH_MAX 4096
#define HM_MAX_MODELS 16
#define HM_TILE_PX 224

static void heatmap_usage(FILE *f) {
    fputs("usage: visattn heatmap IMAGE... [--model NAME|FILE]... [--block all|NAME]\n"
          "         [--stage K|all] [--maps stage|block] [--out DIR]\n"
          "         [--colormap turbo|jet|viridis|inferno|gray] [--alpha A] [--cam]\n"
          "         [--threads N] [--max-pixels N] [--save-input] [--scale stretch|fixed]\n"
          "         [--jobs N] [--all-formats]\n"
          "\n"
          "Runs classifier models on each image and writes each attention map upsampled to\n"
          "the image and blended over it: DIR/<image>_<model>_stage<k>.png per stage (or\n"
          "DIR/<image>_<model>_<map>.png per block with --maps block), and with two or more\n"
          "models DIR/<image>_contact.png (the original and every model's overlays side by\n"
          "side, labelled). Every overlay and every sheet tile has a colour bar under it with\n"
          "the values at its two ends.\n"
          "\n"
          "Models: by default the project's trained backbone models, one per block. The map a\n"
          "backbone stage shows is the block's spatial map if it has one: 'spatial' for\n"
          "spatial, cbam, triplet, shuffle, double_attention (its gathering maps averaged),\n"
          "simam (its inverse energy averaged over channels) and bam (its spatial part),\n"
          "'attention' for irmb; else (se, eca, and the model without attention, 'none')\n"
          "'energy', the channel mean of the stage's output after attention. --model also\n"
          "takes an EMO file (tools/convert_emo.py): a stage shows its last attention iRMB's\n"
          "map, else its energy. And a network file (written by tools/export.py: ResNets,\n"
          "MobileNetV3, EfficientNet, ...): its input is the image as torchvision's eval\n"
          "transform makes it (shorter side resized, e.g. to 256, antialiased bilinear; centre\n"
          "crop, e.g. 224; mean/std: as the file says), its overlays cover that centre crop, a\n"
          "stage is its blocks at one resolution and shows its last block's spatial map (or\n"
          "energy), and the CAM of the predicted class is always drawn, its name printed and\n"
          "on the sheet. Channel gates (an SE's, an ECA's) have no positions to draw.\n"
          "\n"
          "  --block all|LIST  all (default): one model per block, for every registered block\n"
          "                    with a file assets/models/<block>.safetensors, plus 'none' (the\n"
          "                    model without attention); LIST: those blocks' models, e.g.\n"
          "                    cbam or cbam,triplet,none (a list of two or more gets a sheet)\n"
          "  --model NAME|FILE a model: assets/models/NAME.safetensors, or a model file; give\n"
          "                    it again for more models (a sheet); not together with --block\n"
          "  --stage K|all     the stages to show (default all; stages count from 1)\n"
          "  --maps stage|block\n"
          "                    stage (default): one map per stage; block: every block's map\n"
          "                    (the backbone's spatial and energy maps, each iRMB's, each\n"
          "                    network block's), named by the map, e.g. layer2.3.spatial\n"
          "  --out DIR         output directory, created if needed (default: current directory)\n"
          "  --colormap CMAP   turbo (default), jet, viridis, inferno or gray\n"
          "  --alpha A         weight of the heatmap in the blend, 0..1 (default 0.5)\n"
          "  --scale stretch|fixed\n"
          "                    stretch (default): each map from its own min (colour 0) to its\n"
          "                    max (colour 1), so every map's shape shows; the bar prints the\n"
          "                    range, which for some gates is tiny (e.g. 0.72..0.73).\n"
          "                    fixed: the gates (spatial and attention maps: sigmoid or softmax\n"
          "                    outputs) on one scale, 0..1, so their strengths compare across\n"
          "                    blocks; softmax-over-positions maps (double_attention, irmb) then\n"
          "                    look almost flat. Maps with no natural range (energy, the CAM,\n"
          "                    any map with a value outside 0..1, e.g. bam's and simam's)\n"
          "                    stay stretched, and their bar says 'min-max'.\n"
          "  --cam             also the class activation map of the predicted class\n"
          "                    (<image>_<model>_cam.png), and print the top-5 classes (always\n"
          "                    on for networks)\n"
          "  --max-pixels N    refuse larger images (default 100000000 = 100 megapixels)\n"
          "  --all-formats     also read TGA, PSD, HDR and PIC images (stb_image's decoders\n"
          "                    for them are little fuzzed: off by default; PNG, JPEG, BMP,\n"
          "                    GIF and PNM are always read)\n"
          "  --save-input      also write the preprocessed input, <image>_<model>_input.npy\n"
          "  --threads N       threads for OpenMP and OpenBLAS (of each job with --jobs)\n"
          "  --jobs N          images processed at once (default 1; at most one job per\n"
          "                    image); with two or more, each job runs --threads threads,\n"
          "                    1 without it (the environment's thread count is for one job)\n"
          "\n"
          "<image> is the image's file name without its extension; <model> the backbone's\n"
          "block, the EMO variant, or the network with its attention slot's block (e.g.\n"
          "resnet50_cbam). No file of a run replaces\n"
          "another: when an earlier image on the command line has the same name (a/x.png and\n"
          "b/x.png, x.png and x.jpg, one file given twice), the later one is <image>-2, then\n"
          "-3, ... (the first that no earlier image got and that no image is named). Each\n"
          "file written is printed as 'wrote PATH'; several images give a progress line each\n"
          "and a last line on stderr: images done and failed, files written, time. Exit\n"
          "status 1 if any image failed (the others are still done), 2 for a usage error.\n"
          "\n"
          "Assets (models/, images/): the first directory of $VISATTN_ASSETS,\n"
          "<directory of visattn>/../assets (a build tree), <directory of visattn>/../share/\n"
          "visattn and the install prefix's share/visattn (an install), ./assets.\n"
          "Images: PNG, JPEG, BMP, GIF, PNM (and with --all-formats TGA, PSD, HDR, PIC);\n"
          "grey, RGB or RGBA (alpha composited over black); 16-bit PNGs are reduced to 8 bits.\n"
          "Each image is converted as the model expects (grey or RGB), resized to its input\n"
          "size (bilinear; a network: as above) and normalised with its mean and std.\n",
          f);
}

/* snprintf into a path buffer; a path that does not fit is an error (printed), not a silent
 * truncation that could write somewhere else. */
static int path_fmt(char *buf, size_t len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len) {
        va_cli_error("heatmap: path too long: %.60s...", buf);
        return -1;
    }
    return 0;
}

/* ---- Models ---------------------------------------------------------------------------------- */

typedef struct hm_model {
    char label[64]; /* block name, "none", or the network (with its attention) */
    char path[HM_PATH_MAX];
    va_block *b;
    va_run *run; /* the model's own: its maps must outlive the other models' forwards */
    va_preprocess pp;
    int staged; /* the backbone and EMO: maps named "stage<k>.*", the CAM only with --cam */
} hm_model;

static void model_free(hm_model *m) {
    va_run_destroy(m->run);
    va_block_destroy(m->b);
    memset(m, 0, sizeof *m);
}

/* The model, its run context, and its input as it declares it (va_preprocess_for_model). Any
 * classifier model: the backbone and EMO record per-stage maps (stage<k>.*); the networks
 * (docs/networks/) record each attention slot's maps under the block's name, and a CAM. */
static va_status model_load(hm_model *m, va_error *err) {
    VA_TRY(va_block_load_file(m->path, &m->b, err));
    VA_TRY(va_run_create(&m->run, err));
    const char *name = va_block_name(m->b);
    const int backbone = strcmp(name, "backbone") == 0;
    m->staged = backbone || strncmp(name, "EMO", 3) == 0 || strcmp(name, "emo") == 0;
    if (m->b->ops->kind != VA_KIND_MODEL || va_block_info(m->b)->num_classes < 1)
        return va_fail(err, VA_ERR_CONFIG,
                       "%s: not a classifier heatmap can show (it holds the block '%s'; a model "
                       "file holds a backbone, an EMO or a network: docs/heatmap.md)",
                       m->path, name);
    if (va_preprocess_for_model(m->b, &m->pp, err) != VA_OK) return va_error_prefix(err, m->path);
    /* The label: the backbone's attention block by registry name (an alias such as "channel"
     * shows as "se"), read from the config the model was built with; an EMO's variant name; a
     * network's name, and its attention slot's block when the config names one (resnet50_cbam;
     * "none" when it empties the slot). */
    cJSON *cfg = cJSON_Parse(va_block_config(m->b));
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, "attention");
    if (!v) v = cJSON_GetObjectItemCaseSensitive(cfg, "att_type");
    const va_block_ops *ops = cJSON_IsString(v) ? va_find_ops(v->valuestring) : NULL;
    const char *attn = ops ? ops->name : cJSON_IsString(v) ? v->valuestring : "none";
    if (backbone)
        snprintf(m->label, sizeof m->label, "%s", attn);
    else if (m->staged || !v)
        snprintf(m->label, sizeof m->label, "%s", name);
    else
        snprintf(m->label, sizeof m->label, "%.30s_%.30s", name, attn);
    cJSON_Delete(cfg);
    return VA_OK;
}

static int is_file(const char *p) {
    struct stat s;
    return stat(p, &s) == 0 && S_ISREG(s.st_mode);
}

/* ---- Per image ------------------------------------------------------------------------------- */

typedef struct hm_opts {
    const char *out_dir;
    int stage; /* 0 = all */
    va_colormap cmap;
    float alpha;
    int cam, save_input, sheet;
    int scale_fixed; /* --scale fixed */
    int per_block;   /* --maps block */
    int64_t max_pixels;
    int all_formats;           /* --all-formats */
    const char *const *images; /* every input, so that no output ever replaces one */
    int nimages;
} hm_opts;

/* 0 if `out` may be written; else prints why not. An output name can only meet an input when the
 * inputs themselves look like outputs (a.png and a_none_stage1.png in one call, --out beside them);
 * the input wins. */
static int check_not_input(const char *out, const hm_opts *o) {
    struct stat so, si;
    if (stat(out, &so) != 0) return 0;
    for (int i = 0; i < o->nimages; i++)
        if (stat(o->images[i], &si) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino) {
            va_cli_error("%s: refusing to overwrite an input image", out);
            return -1;
        }
    return 0;
}

/* The map a stage shows: the block's spatial map (one channel, more than one position), else the
 * energy map the backbone records for every stage. NULL past the last stage. */
static const va_map *stage_map(const va_run *r, int k) {
    char name[VA_MAP_NAME_LEN];
    snprintf(name, sizeof name, "stage%d.energy", k);
    const va_map *energy = va_run_find_map(r, name);
    if (!energy) return NULL;
    static const char *const preferred[] = {"spatial", "attention"};
    for (size_t i = 0; i < sizeof preferred / sizeof preferred[0]; i++) {
        snprintf(name, sizeof name, "stage%d.%s", k, preferred[i]);
        const va_map *m = va_run_find_map(r, name);
        if (m && m->t.ndim == 4 && m->t.shape[1] == 1 && m->t.shape[2] * m->t.shape[3] > 1)
            return m;
    }
    /* A network with several blocks per stage (EMO): its last block's attention map. */
    const va_map *last = NULL;
    const int plen = snprintf(name, sizeof name, "stage%d.", k);
    for (int i = 0; i < va_run_num_maps(r); i++) {
        const va_map *m = va_run_map(r, i);
        const size_t len = strlen(m->name);
        if (strncmp(m->name, name, (size_t)plen) == 0 && len > 10 &&
            strcmp(m->name + len - 10, ".attention") == 0 && m->t.shape[1] == 1 &&
            m->t.shape[2] * m->t.shape[3] > 1)
            last = m;
    }
    return last ? last : energy;
}

/* A map heatmap can draw: one channel over more than one position, and a gate or an energy map
 * (the last part of its name "spatial", "attention" or "energy"; not the CAM). */
static int map_drawable(const va_map *m) {
    const char *dot = strrchr(m->name, '.');
    const char *last = dot ? dot + 1 : m->name;
    return m->t.ndim == 4 && m->t.shape[1] == 1 && m->t.shape[2] * m->t.shape[3] > 1 &&
           (strcmp(last, "spatial") == 0 || strcmp(last, "attention") == 0 ||
            strcmp(last, "energy") == 0);
}

/* The stage (from 1) of a drawable map: a staged model's "stage<k>." prefix; for a network, the
 * run of maps at one resolution it belongs to, counted in the order they are recorded (a stage
 * of a CNN is its blocks at one resolution). *prev_hw tracks the resolution between calls. */
static int map_stage(const hm_model *m, const va_map *map, int *stage, int64_t prev_hw[2]) {
    if (m->staged) return sscanf(map->name, "stage%d.", stage) == 1 ? *stage : 0;
    if (map->t.shape[2] != prev_hw[0] || map->t.shape[3] != prev_hw[1]) {
        ++*stage;
        prev_hw[0] = map->t.shape[2], prev_hw[1] = map->t.shape[3];
    }
    return *stage;
}

static void print_top5(const char *image, const hm_model *m, const va_tensor *logits) {
    int k = (int)logits->shape[1];
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < k; i++)
        mx = fmax(mx, logits->data[i]);
    for (int i = 0; i < k; i++)
        sum += exp(logits->data[i] - mx);
    int used[5] = {-1, -1, -1, -1, -1};
    flockfile(stdout); /* one whole line, whatever the other jobs print */
    printf("%s  %s  top-5:", image, m->label);
    for (int r = 0; r < 5 && r < k; r++) {
        int best = -1;
        for (int i = 0; i < k; i++) {
            int taken = 0;
            for (int j = 0; j < r; j++)
                taken |= used[j] == i;
            if (!taken && (best < 0 || logits->data[i] > logits->data[best])) best = i;
        }
        used[r] = best;
        char idx[24];
        snprintf(idx, sizeof idx, "class %d", best);
        const char *name = va_block_class_name(m->b, best);
        printf("%s %s %.3f", r ? "," : "", name ? name : idx, exp(logits->data[best] - mx) / sum);
    }
    printf("\n");
    funlockfile(stdout);
}

/* A contact-sheet tile: the overlay at tile size and what its colour bar says. */
typedef struct hm_tile {
    va_image img;
    float range[2];   /* the values drawn at colour 0 and colour 1 */
    const char *note; /* "fixed", "min-max" or "constant" */
} hm_tile;

/* A gate: a map whose values are sigmoid or softmax outputs, so in [0, 1] by construction (the
 * blocks' spatial gates, double_attention's gathering maps, iRMB's attention). The energy maps and
 * the CAM have no such range, nor have the spatial maps of bam (its spatial part before the
 * sigmoid) and simam (its mean inverse energy, >= 0.5): a spatial map with a value outside [0, 1]
 * is not drawn as a gate. */
static int map_is_gate(const va_map *map) {
    static const char *const gates[] = {".spatial", ".attention"};
    const size_t n = strlen(map->name);
    int named = 0;
    for (size_t i = 0; i < sizeof gates / sizeof gates[0]; i++) {
        const size_t g = strlen(gates[i]);
        named |= n > g && strcmp(map->name + n - g, gates[i]) == 0;
    }
    if (!named) return 0;
    const int64_t count = va_numel(&map->t);
    for (int64_t i = 0; i < count; i++)
        if (map->t.data[i] < 0.0f || map->t.data[i] > 1.0f) return 0;
    return 1;
}

/* Write one overlay with its colour bar; keep a tile-sized copy (without the bar, which the
 * contact sheet draws at its own size) if `tile` is not NULL. */
static int write_overlay(const va_map *map, const va_image *img, const hm_opts *o, const char *path,
                         hm_tile *tile, int tw, int th) {
    va_error err = {0};
    va_image ov = {0}, barred = {0};
    const int fixed = o->scale_fixed && map_is_gate(map);
    const va_map_scale scale = {fixed ? VA_SCALE_FIXED : VA_SCALE_STRETCH, 0.f, 1.f};
    float range[2];
    if (check_not_input(path, o)) return -1;
    va_status st = va_overlay_scaled(&map->t, img, o->cmap, o->alpha, &scale, &ov, range, &err);
    const char *note = fixed ? "fixed" : range[0] == range[1] ? "constant" : "min-max";
    if (st == VA_OK) st = va_colorbar_append(&ov, o->cmap, range[0], range[1], note, &barred, &err);
    if (st == VA_OK) st = va_image_write_png(path, &barred, &err);
    if (st == VA_OK && tile) {
        st = va_image_resize(&ov, tw, th, &tile->img, &err);
        tile->range[0] = range[0], tile->range[1] = range[1], tile->note = note;
    }
    va_image_free(&ov);
    va_image_free(&barred);
    if (st != VA_OK) {
        va_cli_error("%s", err.msg);
        return -1;
    }
    printf("wrote %s\n", path);
    return 0;
}

/* A map to write, and what names it in the file name and the sheet ("stage2", "layer2.3.spatial",
 * "cam"). */
typedef struct hm_shown {
    const va_map *map;
    char tag[VA_MAP_NAME_LEN];
} hm_shown;

/* One model's forward pass on one image: what the files are made from. */
typedef struct hm_result {
    va_tensor x, y;  /* the model input and the logits */
    va_image view;   /* the part of the image the input covers (a centre crop), or empty: all */
    hm_shown *shown; /* the maps to write, in order, the CAM last */
    int nshown;
    int cam; /* the last map shown is the CAM */
    int top; /* the predicted class, with a CAM */
} hm_result;

#define HM_NOT_FINITE "the weights or the input are not finite"

/* 0 if every value of t is finite; else prints one line naming the image, the model file and
 * what holds the values. NaN/Inf weights are valid safetensors, and min-max normalisation would
 * turn such a map into a plausible-looking but meaningless picture, so it is refused instead. */
static int require_finite(const char *image, const hm_model *m, const char *what,
                          const va_tensor *t, const char *why) {
    int64_t n = va_numel(t), bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad += !isfinite(t->data[i]);
    if (!bad) return 0;
    va_cli_error("%s: %s: %s has non-finite values (NaN/Inf, %lld of %lld): %s", image, m->path,
                 what, (long long)bad, (long long)n, why);
    return -1;
}

/* Add a map to write, named `name`, or "stage<k>" without one. */
static void add_shown(hm_result *r, const va_map *map, const char *name, int stage) {
    hm_shown *sh = &r->shown[r->nshown++];
    sh->map = map;
    if (name)
        snprintf(sh->tag, sizeof sh->tag, "%s", name);
    else
        snprintf(sh->tag, sizeof sh->tag, "stage%d", stage);
}

/* The maps to write: per stage (the staged models' rule, stage_map; a network's last drawable map
 * of each stage) or, with --maps block, every drawable map; --stage K keeps stage K's. Then the
 * CAM: with --cam, and always for a network (its maps may be channel gates only, as an SE's). */
static int select_maps(const hm_model *m, const hm_opts *o, hm_result *r) {
    const int n = va_run_num_maps(m->run);
    if (!(r->shown = calloc((size_t)n + 1, sizeof *r->shown))) {
        va_cli_error("out of memory");
        return -1;
    }
    int stage = 0, nstages = 0;
    int64_t prev_hw[2] = {-1, -1};
    const va_map *last = NULL;
    int last_stage = 0;
    for (int i = 0; i < n; i++) {
        const va_map *map = va_run_map(m->run, i);
        if (!map_drawable(map)) continue;
        const int k = map_stage(m, map, &stage, prev_hw);
        if (k > nstages) nstages = k;
        if (o->per_block) {
            if (!o->stage || o->stage == k) add_shown(r, map, map->name, k);
        } else if (!m->staged) {
            if (last && k != last_stage && (!o->stage || o->stage == last_stage))
                add_shown(r, last, NULL, last_stage);
            last = map, last_stage = k;
        }
    }
    if (!o->per_block && !m->staged && last && (!o->stage || o->stage == last_stage))
        add_shown(r, last, NULL, last_stage);
    if (!o->per_block && m->staged)
        for (int k = 1; k <= nstages; k++) {
            const va_map *map = stage_map(m->run, k);
            if (map && (!o->stage || o->stage == k)) add_shown(r, map, NULL, k);
        }
    if (o->stage > nstages) {
        va_cli_error("%s: --stage %d: the model has %d stage%s with maps to draw", m->path,
                     o->stage, nstages, nstages == 1 ? "" : "s");
        return -1;
    }
    if (o->cam || !m->staged) {
        const va_map *cam = va_run_find_map(m->run, "cam");
        if (!cam) {
            va_cli_error("%s: the model records no 'cam' map", m->path);
            return -1;
        }
        add_shown(r, cam, "cam", 0);
        r->cam = 1;
    }
    return 0;
}

/* Run model m on img and check everything that will be shown; nothing is written here. */
static int run_model(const char *path, const va_image *img, hm_model *m, const hm_opts *o,
                     hm_result *r) {
    va_error err = {0};
    int64_t out[4];
    int box[4];
    if (va_image_to_input(img, &m->pp, &r->x, &err) != VA_OK ||
        va_block_out_shape(m->b, r->x.shape, out, &err) != VA_OK ||
        va_tensor_alloc(&r->y, 4, out, &err) != VA_OK ||
        va_block_forward(m->b, m->run, &r->x, &r->y, &err) != VA_OK ||
        va_preprocess_region(&m->pp, img->w, img->h, box, &err) != VA_OK ||
        ((box[2] != img->w || box[3] != img->h) &&
         va_image_crop(img, box[0], box[1], box[2], box[3], &r->view, &err) != VA_OK)) {
        va_cli_error("%s: %s: %s", path, m->path, err.msg);
        return -1;
    }
    if (require_finite(path, m, "the preprocessed input", &r->x,
                       "check mean and std in the model's visattn.config"))
        return -1;
    if (select_maps(m, o, r)) return -1;
    char what[VA_MAP_NAME_LEN + 8];
    for (int i = 0; i < r->nshown; i++) {
        snprintf(what, sizeof what, "map '%s'", r->shown[i].map->name);
        if (require_finite(path, m, what, &r->shown[i].map->t, HM_NOT_FINITE)) return -1;
    }
    if (r->cam) {
        /* The logits too: the top-5 line prints their softmax. */
        if (require_finite(path, m, "the logit vector", &r->y, HM_NOT_FINITE)) return -1;
        r->top = 0;
        for (int k = 1; k < (int)r->y.shape[1]; k++)
            if (r->y.data[k] > r->y.data[r->top]) r->top = k;
    }
    return 0;
}

/* The size of an image fitted in a tile of HM_TILE_PX: its longer side HM_TILE_PX. */
static void tile_size(const va_image *img, int *tw, int *th) {
    const double s = (double)HM_TILE_PX / (img->w > img->h ? img->w : img->h);
    *tw = (int)lround(img->w * s), *th = (int)lround(img->h * s);
    if (*tw < 1) *tw = 1;
    if (*th < 1) *th = 1;
}

/* Every model runs and every map is checked before the first file of an image is written, so an
 * image gets either all its files or none: never a partial set, never a picture of NaNs. A model's
 * maps stay valid until that model's next forward pass, and each model has its own run context.
 * Each model's overlays are drawn on the part of the image its input covers (a network's centre
 * crop). The files are named after `stem` (va_cli_batch_stems); *written counts those written. */
static int process_image(const char *path, const char *stem, hm_model *models, int nmodels,
                         const hm_opts *o, int *written) {
    va_error err = {0};
    va_image img = {0};
    const va_image_options lo = {.max_pixels = o->max_pixels, .all_formats = o->all_formats};
    if (va_image_load_opts(path, &lo, &img, &err) != VA_OK) {
        va_cli_error("%s", err.msg);
        return -1;
    }
    int rc = -1;
    /* Contact sheet: rows = shown maps (stages, + cam), columns = original + one per model. */
    int rows = 0, cols = nmodels + 1;
    hm_tile *tiles = NULL;
    char(*labels)[2 * VA_MAP_NAME_LEN] = NULL;
    hm_result *res = calloc((size_t)nmodels, sizeof *res);
    if (!res) {
        va_cli_error("out of memory");
        goto done;
    }
    for (int mi = 0; mi < nmodels; mi++) {
        if (run_model(path, &img, &models[mi], o, &res[mi])) goto done;
        if (res[mi].nshown > rows) rows = res[mi].nshown;
    }
    if (o->sheet && rows > 0) {
        tiles = calloc((size_t)(rows * cols), sizeof *tiles);
        labels = calloc((size_t)(rows * cols), sizeof *labels);
        if (!tiles || !labels) {
            va_cli_error("out of memory");
            goto done;
        }
    }
    for (int mi = 0; mi < nmodels; mi++) {
        const hm_model *m = &models[mi];
        const hm_result *r = &res[mi];
        const va_image *view = r->view.px ? &r->view : &img;
        int tw, th;
        tile_size(view, &tw, &th);
        char file[HM_PATH_MAX];
        if (o->save_input) {
            if (path_fmt(file, sizeof file, "%s/%s_%s_input.npy", o->out_dir, stem, m->label))
                goto done;
            if (check_not_input(file, o)) goto done;
            if (va_npy_write(file, &r->x, &err) != VA_OK) {
                va_cli_error("%s", err.msg);
                goto done;
            }
            printf("wrote %s\n", file);
            ++*written;
        }
        for (int row = 0; row < r->nshown; row++) {
            const hm_shown *sh = &r->shown[row];
            if (path_fmt(file, sizeof file, "%s/%s_%s_%s.png", o->out_dir, stem, m->label, sh->tag))
                goto done;
            hm_tile *tile = tiles ? &tiles[row * cols + mi + 1] : NULL;
            if (write_overlay(sh->map, view, o, file, tile, tw, th)) goto done;
            ++*written;
            if (!tiles) continue;
            const char *cls = strcmp(sh->tag, "cam") == 0 ? va_block_class_name(m->b, r->top) : 0;
            snprintf(labels[row * cols + mi + 1], sizeof labels[0], "%.50s %s%s%.60s", m->label,
                     sh->tag, cls ? ": " : "", cls ? cls : "");
        }
        if (r->cam) print_top5(path, m, &r->y);
    }
    if (tiles) {
        va_image orig;
        int tw, th;
        tile_size(&img, &tw, &th);
        if (va_image_resize(&img, tw, th, &orig, &err) != VA_OK) {
            va_cli_error("%s", err.msg);
            goto done;
        }
        va_sheet_cell *cells = calloc((size_t)(rows * cols), sizeof *cells);
        if (!cells) {
            va_image_free(&orig);
            va_cli_error("out of memory");
            goto done;
        }
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                va_sheet_cell *cell = &cells[r * cols + c];
                if (c == 0) {
                    cell->img = &orig, cell->label = "original";
                } else if (tiles[r * cols + c].img.px) {
                    const hm_tile *t = &tiles[r * cols + c];
                    cell->img = &t->img, cell->label = labels[r * cols + c];
                    cell->colorbar = 1, cell->cmap = o->cmap, cell->bar_note = t->note;
                    cell->bar_lo = t->range[0], cell->bar_hi = t->range[1];
                }
            }
        va_image sheet;
        char file[HM_PATH_MAX];
        va_status st = VA_ERR_ARG;
        if (path_fmt(file, sizeof file, "%s/%s_contact.png", o->out_dir, stem)) {
            va_image_free(&orig);
            free(cells);
            goto done;
        }
        st = va_contact_sheet(cells, rows, cols, HM_TILE_PX, &sheet, &err);
        if (st == VA_OK && check_not_input(file, o)) {
            va_image_free(&sheet);
            va_image_free(&orig);
            free(cells);
            goto done;
        }
        if (st == VA_OK) st = va_image_write_png(file, &sheet, &err);
        if (st == VA_OK)
            printf("wrote %s\n", file);
        else
            va_cli_error("%s", err.msg);
        va_image_free(&sheet);
        va_image_free(&orig);
        free(cells);
        if (st != VA_OK) goto done;
        ++*written; /* the contact sheet */
    }
    rc = 0;
done:
    if (res)
        for (int mi = 0; mi < nmodels; mi++) {
            va_tensor_free(&res[mi].x);
            va_tensor_free(&res[mi].y);
            va_image_free(&res[mi].view);
            free(res[mi].shown);
        }
    free(res);
    if (tiles)
        for (int i = 0; i < rows * cols; i++)
            va_image_free(&tiles[i].img);
    free(tiles);
    free(labels);
    va_image_free(&img);
    return rc;
}

/* ---- Batches: images in parallel jobs -------------------------------------------------------- */

/* One run over the images, shared by its jobs: each job takes the next image in command-line order
 * until none is left. */
typedef struct hm_batch {
    const char *const *images;
    const char (*stems)[VA_CLI_STEM_MAX]; /* the images' output names */
    int nimages, nmodels;
    const hm_opts *o;
    int job_threads; /* OpenMP/OpenBLAS threads of each job; 0: as set for the process */
    atomic_int next, failed, written;
} hm_batch;

/* A job: the loaded models, shared and read-only (a va_block is immutable once loaded), each with
 * a run context of the job's own. */
typedef struct hm_job {
    hm_batch *batch;
    hm_model models[HM_MAX_MODELS];
    pthread_t thread;
} hm_job;

static pthread_mutex_t hm_threads_lock = PTHREAD_MUTEX_INITIALIZER;

static void *job_main(void *arg) {
    hm_job *j = arg;
    hm_batch *b = j->batch;
    if (b->job_threads) {
        /* OpenMP's thread count belongs to the thread that sets it (a new thread starts from the
         * default, all cores), so each job sets its own. OpenBLAS's is global, and setting it from
         * two threads at once is not safe: hence the lock (every job sets the same count). */
        pthread_mutex_lock(&hm_threads_lock);
        va_set_num_threads(b->job_threads);
        pthread_mutex_unlock(&hm_threads_lock);
    }
    for (int i; (i = atomic_fetch_add(&b->next, 1)) < b->nimages;) {
        /* Progress goes to stderr so that stdout stays the list of files written. */
        if (b->nimages > 1) {
            fflush(stdout); /* keep the two streams in order when both go to one file */
            fprintf(stderr, "visattn: heatmap [%d/%d] %s\n", i + 1, b->nimages, b->images[i]);
        }
        int written = 0;
        if (process_image(b->images[i], b->stems[i], j->models, b->nmodels, b->o, &written))
            atomic_fetch_add(&b->failed, 1);
        atomic_fetch_add(&b->written, written);
    }
    return NULL;
}

/* Run the batch on njobs jobs: job 0 on this thread, the others on threads of their own. Returns
 * 0, or -1 (printed) if the jobs could not be set up; failed images are counted in b. */
static int run_batch(hm_batch *b, const hm_model *models, int njobs) {
    hm_job *jobs = calloc((size_t)njobs, sizeof *jobs);
    if (!jobs) {
        va_cli_error("out of memory");
        return -1;
    }
    int rc = -1, started = 0;
    /* Job 0 has the run contexts the models were loaded with; the others make their own. */
    for (int k = 0; k < njobs; k++) {
        jobs[k].batch = b;
        memcpy(jobs[k].models, models, (size_t)b->nmodels * sizeof *models);
        for (int mi = 0; k > 0 && mi < b->nmodels; mi++)
            jobs[k].models[mi].run = NULL;
    }
    for (int k = 1; k < njobs; k++)
        for (int mi = 0; mi < b->nmodels; mi++) {
            va_error err = {0};
            if (va_run_create(&jobs[k].models[mi].run, &err) != VA_OK) {
                va_cli_error("heatmap: job %d: %s", k + 1, err.msg);
                goto done;
            }
        }
    if (b->job_threads) va_set_num_threads(b->job_threads); /* before any job computes */
    for (int k = 1; k < njobs; k++) {
        int e = pthread_create(&jobs[k].thread, NULL, job_main, &jobs[k]);
        if (e) {
            fprintf(stderr, "visattn: warning: heatmap: started %d of %d jobs (%s)\n", k, njobs,
                    strerror(e));
            break;
        }
        started++;
    }
    job_main(&jobs[0]);
    for (int k = 1; k <= started; k++)
        pthread_join(jobs[k].thread, NULL);
    rc = 0;
done:
    for (int k = 1; k < njobs; k++)
        for (int mi = 0; mi < b->nmodels; mi++)
            va_run_destroy(jobs[k].models[mi].run);
    free(jobs);
    return rc;
}

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- Command --------------------------------------------------------------------------------- */

static int parse_positive(const char *opt, const char *arg, long long max, long long *out) {
    char *end;
    errno = 0;
    long long v = arg ? strtoll(arg, &end, 10) : 0;
    if (!arg || errno || *end || v < 1 || v > max) {
        va_cli_error("heatmap: %s needs a positive integer, got '%s'", opt, arg ? arg : "");
        return -1;
    }
    *out = v;
    return 0;
}

/* Where va_cli_assets_dir looks, for messages. */
#ifdef VISATTN_DATADIR
#define HM_ASSETS_SEARCH                                                                           \
    "$VISATTN_ASSETS, <visattn's directory>/../assets, <visattn's "                                \
    "directory>/../share/visattn, " VISATTN_DATADIR ", ./assets"
#else
#define HM_ASSETS_SEARCH                                                                           \
    "$VISATTN_ASSETS, <visattn's directory>/../assets, <visattn's directory>/../share/visattn, "   \
    "./assets"
#endif

/* The model file of one block name ("none" or a registered block or alias) into m. */
static int block_model(const char *assets, const char *name, int required, hm_model *m) {
    if (path_fmt(m->path, sizeof m->path, "%s/models/%s.safetensors", assets, name)) return -1;
    if (is_file(m->path)) return 1;
    if (required)
        va_cli_error("%s: no model for block '%s' (train it with tools/train.py, or pass --model "
                     "FILE; assets are looked for in " HM_ASSETS_SEARCH ")",
                     m->path, name);
    return required ? -1 : 0;
}

/* Fill models[] from --model / --block; returns the count, -1 after printing an error about the
 * files, or -2 after printing a usage error (an unknown block name). */
static int resolve_models(const char *model_arg, const char *block_arg, hm_model *models) {
    char assets[HM_PATH_MAX];
    int have_assets = va_cli_assets_dir(assets, sizeof assets) == 0;
    if (model_arg) {
        int looks_like_file =
            strchr(model_arg, '/') || strstr(model_arg, ".safetensors") || is_file(model_arg);
        if (looks_like_file)
            return path_fmt(models[0].path, sizeof models[0].path, "%s", model_arg) ? -1 : 1;
    }
    /* Names are checked before the assets are looked for: a typo is a usage error. */
    const char *names[HM_MAX_MODELS];
    int n = 0, all = !model_arg && strcmp(block_arg, "all") == 0;
    if (all) {
        /* "none" first: the model without attention is the baseline the others are compared with.
         */
        names[n++] = "none";
        const va_block_ops *o;
        for (int i = 0; (o = va_ops_at(i)) && n < HM_MAX_MODELS; i++)
            if (o->kind == VA_KIND_BLOCK) names[n++] = o->name;
    } else if (model_arg) {
        names[n++] = model_arg;
    } else {
        char list[HM_PATH_MAX];
        if (path_fmt(list, sizeof list, "%s", block_arg)) return -2;
        for (char *save, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            const va_block_ops *ops = va_find_ops(tok);
            const char *name = strcmp(tok, "none") == 0 ? "none" : NULL;
            if (!name && ops && ops->kind == VA_KIND_BLOCK) name = ops->name;
            if (!name) {
                va_cli_error("heatmap: unknown block '%s' in --block (registered blocks: visattn "
                             "list; or 'none', or 'all')",
                             tok);
                return -2;
            }
            int dup = 0;
            for (int k = 0; k < n; k++)
                dup |= strcmp(names[k], name) == 0;
            if (dup) continue;
            if (n == HM_MAX_MODELS) {
                va_cli_error("heatmap: at most %d blocks in --block", HM_MAX_MODELS);
                return -2;
            }
            names[n++] = name;
        }
        if (n == 0) {
            va_cli_error("heatmap: --block needs a block name, a comma list of them, or 'all'");
            return -2;
        }
    }
    if (!have_assets) {
        va_cli_error(
            "no assets directory with the trained models found (looked in " HM_ASSETS_SEARCH
            "); set VISATTN_ASSETS or pass --model FILE");
        return -1;
    }
    int got = 0;
    for (int k = 0; k < n; k++) {
        int r = block_model(assets, names[k], !all, &models[got]);
        if (r < 0) return -1;
        got += r;
    }
    if (got == 0) {
        va_cli_error("%s/models: no model files (<block>.safetensors); train them with "
                     "tools/train.py, pass --model FILE, or set VISATTN_ASSETS",
                     assets);
        return -1;
    }
    return got;
}

int va_cmd_heatmap(int argc, char **argv) {
    const double t0 = seconds_now();
    const char **images = calloc((size_t)argc, sizeof *images);
    char(*stems)[VA_CLI_STEM_MAX] = NULL;
    if (!images) {
        va_cli_error("out of memory");
        return 1;
    }
    int nimages = 0, threads = 0, jobs = 1;
    const char *model_args[HM_MAX_MODELS], *block_arg = "all";
    int nmodel_args = 0;
    hm_opts o = {.out_dir = ".",
                 .stage = 0,
                 .cmap = VA_CMAP_TURBO,
                 .alpha = 0.5f,
                 .max_pixels = VA_IMAGE_DEFAULT_MAX_PIXELS};
    enum {
        O_HELP,
        O_THREADS,
        O_MODEL,
        O_BLOCK,
        O_OUT,
        O_STAGE,
        O_CMAP,
        O_ALPHA,
        O_MAXPX,
        O_CAM,
        O_SAVE,
        O_SCALE,
        O_JOBS,
        O_ALLFMT,
        O_MAPS
    };
    static const va_cli_opt opts[] = {
        {"help", 0},       {"threads", 1},     {"model", 1},      {"block", 1},
        {"out", 1},        {"stage", 1},       {"colormap", 1},   {"alpha", 1},
        {"max-pixels", 1}, {"cam", 0},         {"save-input", 0}, {"scale", 1},
        {"jobs", 1},       {"all-formats", 0}, {"maps", 1},       {NULL, 0}};
    va_cli_args args = {.cmd = "heatmap", .argc = argc, .argv = argv};
    int rc = VA_EXIT_USAGE, block_given = 0;
    const char *v;
    for (int k; (k = va_cli_next(&args, opts, &v)) != VA_CLI_END;) {
        switch (k) {
        case VA_CLI_USAGE: goto out;
        case VA_CLI_OPERAND: images[nimages++] = v; break;
        case O_HELP:
            heatmap_usage(stdout);
            free(images);
            return VA_EXIT_OK;
        case O_THREADS:
            if (va_cli_parse_threads(v, &threads)) goto out;
            break;
        case O_MODEL:
            if (nmodel_args == HM_MAX_MODELS) {
                va_cli_error("heatmap: at most %d --model options", HM_MAX_MODELS);
                goto out;
            }
            model_args[nmodel_args++] = v;
            break;
        case O_BLOCK: block_arg = v, block_given = 1; break;
        case O_OUT: o.out_dir = v; break;
        case O_STAGE: {
            long long st;
            if (strcmp(v, "all") == 0)
                o.stage = 0;
            else if (parse_positive("--stage", v, 1000, &st))
                goto out;
            else
                o.stage = (int)st;
            break;
        }
        case O_CMAP: {
            va_error err = {0};
            if (va_colormap_from_name(v, &o.cmap, &err) != VA_OK) {
                va_cli_error("heatmap: %s", err.msg);
                goto out;
            }
            break;
        }
        case O_ALPHA: {
            char *end;
            double a = strtod(v, &end);
            if (*end || end == v || !(a >= 0.0 && a <= 1.0)) {
                va_cli_error("heatmap: --alpha needs a number in [0, 1], got '%s'", v);
                goto out;
            }
            o.alpha = (float)a;
            break;
        }
        case O_MAXPX: {
            long long px;
            if (parse_positive("--max-pixels", v, LLONG_MAX, &px)) goto out;
            o.max_pixels = px;
            break;
        }
        case O_CAM: o.cam = 1; break;
        case O_SAVE: o.save_input = 1; break;
        case O_ALLFMT: o.all_formats = 1; break;
        case O_MAPS:
            if (strcmp(v, "stage") != 0 && strcmp(v, "block") != 0) {
                va_cli_error("heatmap: --maps takes stage or block, got '%s'", v);
                goto out;
            }
            o.per_block = strcmp(v, "block") == 0;
            break;
        case O_SCALE:
            if (strcmp(v, "stretch") != 0 && strcmp(v, "fixed") != 0) {
                va_cli_error("heatmap: --scale takes stretch or fixed, got '%s'", v);
                goto out;
            }
            o.scale_fixed = strcmp(v, "fixed") == 0;
            break;
        case O_JOBS: {
            long long n;
            if (parse_positive("--jobs", v, 4096, &n)) goto out;
            jobs = (int)n;
            break;
        }
        }
    }
    if (nmodel_args && block_given) {
        va_cli_error("heatmap: give --model or --block, not both (--model runs one model file; "
                     "--block picks the trained models of blocks)");
        goto out;
    }
    if (nimages == 0) {
        heatmap_usage(stderr);
        goto out;
    }
    if (va_cli_setup_threads(threads)) goto out;
    o.sheet = nmodel_args > 1 ||
              (!nmodel_args && (strcmp(block_arg, "all") == 0 || strchr(block_arg, ',')));
    o.images = images, o.nimages = nimages;

    rc = 1;
    if (!(stems = calloc((size_t)nimages, sizeof *stems)) ||
        va_cli_batch_stems(images, nimages, stems)) {
        va_cli_error("out of memory");
        goto out;
    }
    /* More jobs than images would have nothing to do. With several jobs, each runs --threads
     * OpenMP/OpenBLAS threads (as va_cli_setup_threads left it), 1 without it: the jobs are the
     * parallelism. One job runs as the process is set up ($VISATTN_NUM_THREADS, ...). */
    const int njobs = jobs < nimages ? jobs : nimages;
    hm_batch batch = {.images = images,
                      .stems = (const char(*)[VA_CLI_STEM_MAX])stems,
                      .nimages = nimages,
                      .o = &o};
    if (njobs > 1) batch.job_threads = threads ? va_get_num_threads() : 1;
    hm_model models[HM_MAX_MODELS];
    memset(models, 0, sizeof models);
    int nmodels = 0;
    if (!nmodel_args) nmodels = resolve_models(NULL, block_arg, models);
    for (int i = 0; i < nmodel_args && nmodels >= 0; i++) {
        const int got = resolve_models(model_args[i], block_arg, models + nmodels);
        nmodels = got < 0 ? got : nmodels + got;
    }
    if (nmodels < 0) {
        rc = nmodels == -2 ? VA_EXIT_USAGE : VA_EXIT_FAIL;
        goto out;
    }
    if (va_cli_make_dir(o.out_dir)) goto out_models;
    for (int i = 0; i < nmodels; i++) {
        va_error err = {0};
        if (model_load(&models[i], &err) != VA_OK) {
            va_cli_error("%s", err.msg);
            goto out_models;
        }
    }
    batch.nmodels = nmodels;
    if (run_batch(&batch, models, njobs)) goto out_models;
    const int failed = atomic_load(&batch.failed);
    if (nimages > 1) {
        fflush(stdout);
        fprintf(stderr,
                "visattn: heatmap: %d images, %d done, %d failed, %d files written in %.1f s\n",
                nimages, nimages - failed, failed, atomic_load(&batch.written), seconds_now() - t0);
    }
    rc = failed ? VA_EXIT_FAIL : VA_EXIT_OK;
out_models:
    for (int i = 0; i < nmodels; i++)
        model_free(&models[i]);
out:
    free(stems);
    free(images);
    return rc;
}
