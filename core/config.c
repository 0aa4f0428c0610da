#include "visattn/config.h"

#include "arg_check.h"
#include "io_util.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct va_config {
    cJSON *json; /* owned when `owned` */
    int owned;
    char what[96]; /* prefix for messages, e.g. "cbam config" */
};

static va_status wrap(cJSON *json, int owned, const char *what, va_config **out, va_error *err) {
    va_config *c = calloc(1, sizeof *c);
    if (!c) {
        if (owned) cJSON_Delete(json);
        return va_fail(err, VA_ERR_NOMEM, "%s: out of memory", what);
    }
    c->json = json;
    c->owned = owned;
    snprintf(c->what, sizeof c->what, "%s", what);
    *out = c;
    return VA_OK;
}

static int cmp_key(const void *x, const void *y) {
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

int va_json_object_duplicate(const cJSON *obj, const char **dup) {
    size_t n = 0;
    for (const cJSON *a = obj->child; a; a = a->next)
        n++;
    if (!cJSON_IsObject(obj) || n < 2) return 0;
    const char **keys = malloc(n * sizeof *keys);
    if (!keys) return -1;
    n = 0;
    for (const cJSON *a = obj->child; a; a = a->next)
        keys[n++] = a->string ? a->string : "";
    qsort(keys, n, sizeof *keys, cmp_key); /* n log n: a hostile object may hold many keys */
    int found = 0;
    for (size_t i = 1; i < n && !found; i++)
        if (!strcmp(keys[i - 1], keys[i])) *dup = keys[i], found = 1;
    free(keys);
    return found;
}

/* va_json_object_duplicate over every object in the tree. Depth is bounded by cJSON's nesting
 * limit. */
static int duplicate_key(const cJSON *node, const char **dup) {
    for (const cJSON *a = node->child; a; a = a->next) {
        int r = duplicate_key(a, dup);
        if (r) return r;
    }
    return va_json_object_duplicate(node, dup);
}

va_status va_config_parse(const char *json, const char *what, va_config **out, va_error *err) {
    VA_ARG_NONNULL(out, "va_config_parse");
    *out = NULL;
    if (!what) what = "config";
    /* Strict where Python's json.loads is strict, so that a file means the same model to both:
     * nothing may follow the object, and no object may repeat a key (Python keeps the last one,
     * cJSON the first). */
    if (json && va_json_has_nul_escape(json, strlen(json)))
        return va_fail(err, VA_ERR_CONFIG, "%s: contains the escape \\u0000", what);
    cJSON *root = (json && *json) ? cJSON_ParseWithOpts(json, NULL, 1) : cJSON_CreateObject();
    if (!root) return va_fail(err, VA_ERR_CONFIG, "%s: not valid JSON (or data after it)", what);
    const char *dup = NULL;
    int d = cJSON_IsObject(root) ? duplicate_key(root, &dup) : 0;
    if (!cJSON_IsObject(root) || d != 0) {
        va_status s = d < 0   ? va_fail(err, VA_ERR_NOMEM, "%s: out of memory", what)
                      : d > 0 ? va_fail(err, VA_ERR_CONFIG, "%s: duplicate key '%.64s'", what, dup)
                              : va_fail(err, VA_ERR_CONFIG, "%s: must be a JSON object", what);
        cJSON_Delete(root);
        return s;
    }
    return wrap(root, 1, what, out, err);
}

void va_config_free(va_config *c) {
    if (!c) return;
    if (c->owned) cJSON_Delete(c->json);
    free(c);
}

va_status va_config_child(const va_config *c, const char *key, va_config **out, va_error *err) {
    VA_ARG_NONNULL(out, "va_config_child");
    *out = NULL;
    VA_ARG_NONNULL(key, "va_config_child");
    if (!c) return VA_OK; /* an empty config has no children */
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(c->json, key);
    if (!j || cJSON_IsNull(j)) return VA_OK;
    if (!cJSON_IsObject(j))
        return va_fail(err, VA_ERR_CONFIG, "%s: '%s' must be an object", c->what, key);
    char what[96];
    if (snprintf(what, sizeof what, "%s.%s", c->what, key) < 0) what[0] = '\0';
    return wrap((cJSON *)j, 0, what, out, err);
}

char *va_config_to_json(const va_config *c) {
    return c ? cJSON_PrintUnformatted(c->json) : NULL;
}

/* A NULL config reads as an empty one (every key absent), as the header says. */
static const cJSON *item(const va_config *c, const char *key) {
    return c && key ? cJSON_GetObjectItemCaseSensitive(c->json, key) : NULL;
}

int va_cfg_has(const va_config *c, const char *key) {
    return item(c, key) != NULL;
}

int va_cfg_is_null(const va_config *c, const char *key) {
    const cJSON *j = item(c, key);
    return j && cJSON_IsNull(j);
}

static va_status to_int(const va_config *c, const char *key, const cJSON *j, int *out,
                        va_error *err) {
    if (cJSON_IsBool(j)) { /* Python's bool is an int; accept it where an int is expected */
        *out = cJSON_IsTrue(j);
        return VA_OK;
    }
    if (!cJSON_IsNumber(j))
        return va_fail(err, VA_ERR_CONFIG, "%s: '%s' must be an integer", c->what, key);
    double v = j->valuedouble;
    if (!isfinite(v) || v != floor(v) || v < -2147483648.0 || v > 2147483647.0)
        return va_fail(err, VA_ERR_CONFIG, "%s: '%s' = %g is not an integer in range", c->what, key,
                       v);
    *out = (int)v;
    return VA_OK;
}

va_status va_cfg_int(const va_config *c, const char *key, int def, int *out, va_error *err) {
    VA_ARG_NONNULL(key, "va_cfg_int");
    VA_ARG_NONNULL(out, "va_cfg_int");
    const cJSON *j = item(c, key);
    if (!j) {
        *out = def;
        return VA_OK;
    }
    return to_int(c, key, j, out, err);
}

va_status va_cfg_float(const va_config *c, const char *key, double def, double *out,
                       va_error *err) {
    VA_ARG_NONNULL(key, "va_cfg_float");
    VA_ARG_NONNULL(out, "va_cfg_float");
    const cJSON *j = item(c, key);
    if (!j) {
        *out = def;
        return VA_OK;
    }
    if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble))
        return va_fail(err, VA_ERR_CONFIG, "%s: '%s' must be a finite number", c->what, key);
    *out = j->valuedouble;
    return VA_OK;
}

va_status va_cfg_bool(const va_config *c, const char *key, int def, int *out, va_error *err) {
    VA_ARG_NONNULL(key, "va_cfg_bool");
    VA_ARG_NONNULL(out, "va_cfg_bool");
    const cJSON *j = item(c, key);
    if (!j) {
        *out = def;
        return VA_OK;
    }
    if (cJSON_IsBool(j)) {
        *out = cJSON_IsTrue(j);
        return VA_OK;
    }
    if (cJSON_IsNumber(j) && (j->valuedouble == 0.0 || j->valuedouble == 1.0)) {
        *out = j->valuedouble != 0.0;
        return VA_OK;
    }
    return va_fail(err, VA_ERR_CONFIG, "%s: '%s' must be true or false", c->what, key);
}

va_status va_cfg_str(const va_config *c, const char *key, const char *def, char *buf, size_t len,
                     va_error *err) {
    VA_ARG_NONNULL(key, "va_cfg_str");
    VA_ARG_NONNULL(buf, "va_cfg_str");
    if (len == 0) return va_fail(err, VA_ERR_ARG, "va_cfg_str: len is 0 (no room for the NUL)");
    const cJSON *j = item(c, key);
    const char *s = def;
    if (j) {
        if (!cJSON_IsString(j))
            return va_fail(err, VA_ERR_CONFIG, "%s: '%s' must be a string", c->what, key);
        s = j->valuestring;
    }
    if (!s) s = "";
    if (strlen(s) >= len)
        return va_fail(err, VA_ERR_CONFIG, "%s: '%s' is too long (%zu chars, at most %zu)", c->what,
                       key, strlen(s), len - 1);
    memcpy(buf, s, strlen(s) + 1);
    return VA_OK;
}

va_status va_cfg_int_pair(const va_config *c, const char *key, int def, int out[2], va_error *err) {
    VA_ARG_NONNULL(key, "va_cfg_int_pair");
    VA_ARG_NONNULL(out, "va_cfg_int_pair");
    const cJSON *j = item(c, key);
    if (!j) {
        out[0] = out[1] = def;
        return VA_OK;
    }
    if (cJSON_IsArray(j)) {
        if (cJSON_GetArraySize(j) != 2)
            return va_fail(err, VA_ERR_CONFIG, "%s: '%s' must be an integer or a pair", c->what,
                           key);
        VA_TRY(to_int(c, key, cJSON_GetArrayItem(j, 0), &out[0], err));
        return to_int(c, key, cJSON_GetArrayItem(j, 1), &out[1], err);
    }
    VA_TRY(to_int(c, key, j, &out[0], err));
    out[1] = out[0];
    return VA_OK;
}

va_status va_cfg_int_list(const va_config *c, const char *key, int *out, int max_len, int *len,
                          va_error *err) {
    VA_ARG_NONNULL(key, "va_cfg_int_list");
    VA_ARG_NONNULL(len, "va_cfg_int_list");
    *len = 0;
    VA_ARG_NONNULL(out, "va_cfg_int_list");
    const cJSON *j = item(c, key);
    if (!j) return VA_OK;
    if (!cJSON_IsArray(j))
        return va_fail(err, VA_ERR_CONFIG, "%s: '%s' must be a list of integers", c->what, key);
    int n = cJSON_GetArraySize(j);
    if (n > max_len)
        return va_fail(err, VA_ERR_CONFIG, "%s: '%s' has %d entries (at most %d)", c->what, key, n,
                       max_len);
    for (int i = 0; i < n; i++)
        VA_TRY(to_int(c, key, cJSON_GetArrayItem(j, i), &out[i], err));
    *len = n;
    return VA_OK;
}

va_status va_cfg_str_list(const va_config *c, const char *key, char (*out)[32], int max_len,
                          int *len, va_error *err) {
    VA_ARG_NONNULL(key, "va_cfg_str_list");
    VA_ARG_NONNULL(len, "va_cfg_str_list");
    *len = 0;
    VA_ARG_NONNULL(out, "va_cfg_str_list");
    const cJSON *j = item(c, key);
    if (!j) return VA_OK;
    if (!cJSON_IsArray(j))
        return va_fail(err, VA_ERR_CONFIG, "%s: '%s' must be a list of strings", c->what, key);
    int n = cJSON_GetArraySize(j);
    if (n > max_len)
        return va_fail(err, VA_ERR_CONFIG, "%s: '%s' has %d entries (at most %d)", c->what, key, n,
                       max_len);
    for (int i = 0; i < n; i++) {
        const cJSON *s = cJSON_GetArrayItem(j, i);
        if (!cJSON_IsString(s) || strlen(s->valuestring) >= 32)
            return va_fail(err, VA_ERR_CONFIG, "%s: '%s' entry %d must be a short string", c->what,
                           key, i);
        memcpy(out[i], s->valuestring, strlen(s->valuestring) + 1);
    }
    *len = n;
    return VA_OK;
}

va_status va_cfg_check_keys(const va_config *c, const char *const *allowed, va_error *err) {
    VA_ARG_NONNULL(allowed, "va_cfg_check_keys");
    if (!c) return VA_OK; /* an empty config has no unknown key */
    const cJSON *j;
    cJSON_ArrayForEach(j, c->json) {
        int ok = 0;
        for (const char *const *k = allowed; *k; k++)
            if (strcmp(*k, j->string) == 0) ok = 1;
        if (!ok) {
            char list[256] = "";
            size_t used = 0;
            for (const char *const *k = allowed; *k && used < sizeof list; k++) {
                int n =
                    snprintf(list + used, sizeof list - used, "%s%s", k == allowed ? "" : ", ", *k);
                if (n < 0) break;
                used += (size_t)n;
            }
            return va_fail(err, VA_ERR_CONFIG, "%s: unknown key '%s' (known: %s)", c->what,
                           j->string, list[0] ? list : "none, it takes no arguments");
        }
    }
    return VA_OK;
}
