/* libFuzzer target: the safetensors reader on arbitrary bytes.
 *
 * Opens the input as a file in memory, then does what a loader does with an accepted file: looks
 * every tensor up by name, converts it to float32, reads the metadata and parses "visattn.config"
 * as a block config. Any crash, sanitizer report or leak is a bug; rejected input is the normal
 * outcome and must leave a one-line message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "visattn/visattn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    va_error err = {0};
    va_safetensors *st = NULL;
    if (va_st_open_memory(data, size, "fuzz.safetensors", &st, &err) != VA_OK) {
        fuzz_check_message(&err);
        return 0;
    }
    for (size_t i = 0; i < va_st_count(st); i++) {
        const va_st_entry *e = va_st_entry_at(st, i);
        if (va_st_find(st, e->name) != e) abort(); /* names are unique once accepted */
        int64_t n = 1;
        for (int d = 0; d < e->ndim; d++)
            n *= e->shape[d];
        float *buf = malloc(n > 0 ? (size_t)n * sizeof *buf : 1);
        if (!buf) abort();
        if (va_st_read_f32(st, e, buf, n, &err) != VA_OK) fuzz_check_message(&err);
        /* Asking for the wrong count must be refused, not read past the tensor. */
        if (va_st_read_f32(st, e, buf, n + 1, &err) == VA_OK) abort();
        free(buf);
    }
    const char *cfg_text = va_st_meta(st, "visattn.config");
    if (cfg_text) {
        va_config *cfg = NULL;
        if (va_config_parse(cfg_text, "fuzz config", &cfg, &err) == VA_OK) {
            int iv;
            double fv;
            char sv[32];
            int pair[2], list[8], len;
            /* The typed getters on whatever the config holds: errors are fine, crashes are not. */
            static const char *const keys[] = {"channels", "kernel_size", "pool_types", "groups",
                                               "c_m", "norm_in", "in_channels", NULL};
            for (int k = 0; keys[k]; k++) {
                (void)va_cfg_int(cfg, keys[k], 1, &iv, &err);
                (void)va_cfg_float(cfg, keys[k], 1.0, &fv, &err);
                (void)va_cfg_bool(cfg, keys[k], 0, &iv, &err);
                (void)va_cfg_str(cfg, keys[k], "x", sv, sizeof sv, &err);
                (void)va_cfg_int_pair(cfg, keys[k], 3, pair, &err);
                (void)va_cfg_int_list(cfg, keys[k], list, 8, &len, &err);
            }
            char *json = va_config_to_json(cfg);
            free(json);
            va_config_free(cfg);
        } else {
            fuzz_check_message(&err);
        }
    }
    va_weights w;
    if (va_weights_init(&w, st, &err) == VA_OK) {
        if (va_weights_check_all_used(&w, &err) != VA_OK) fuzz_check_message(&err);
        va_weights_free(&w);
    }
    va_st_close(st);
    return 0;
}
