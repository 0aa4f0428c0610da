/* Block and model configuration: a JSON object whose keys are the official constructor argument
 * names. Blocks read typed values with a default for keys the user left out, and reject keys they
 * do not know, so a typo is an error rather than a silently ignored setting.
 *
 * NULL: a NULL `const va_config *c` reads as an empty config (every key absent: getters give the
 * default, va_config_child gives NULL, va_cfg_check_keys passes). Keys, output pointers and
 * `allowed` must not be NULL (VA_ERR_ARG naming the function and argument; va_cfg_has and
 * va_cfg_is_null return 0). */
#ifndef VISATTN_CONFIG_H
#define VISATTN_CONFIG_H

#include <stddef.h>

#include "visattn/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct va_config va_config;

/* Parse a JSON object; `what` (e.g. "cbam config"; NULL: "config") prefixes error messages. json
 * may be NULL or "" for an empty config. */
va_status va_config_parse(const char *json, const char *what, va_config **out, va_error *err);
void va_config_free(va_config *c); /* NULL: nothing */
/* The sub-object under key as its own config (NULL if absent); caller frees. */
va_status va_config_child(const va_config *c, const char *key, va_config **out, va_error *err);
/* Serialise back to compact JSON (caller frees with free()); NULL for a NULL c or no memory. */
char *va_config_to_json(const va_config *c);

int va_cfg_has(const va_config *c, const char *key);
/* 1 if key is present with JSON null (Python None). */
int va_cfg_is_null(const va_config *c, const char *key);
/* Typed getters: *out = def when the key is absent. Wrong type or non-integral number is an error.
 * Integers must fit in int; booleans accept true/false (and 0/1). */
va_status va_cfg_int(const va_config *c, const char *key, int def, int *out, va_error *err);
va_status va_cfg_float(const va_config *c, const char *key, double def, double *out, va_error *err);
va_status va_cfg_bool(const va_config *c, const char *key, int def, int *out, va_error *err);
/* def may be NULL (read as ""); len must leave room for the NUL (len 0 is VA_ERR_ARG). */
va_status va_cfg_str(const va_config *c, const char *key, const char *def, char *buf, size_t len,
                     va_error *err);
/* An int or a list of exactly two ints (kernel_size=3 or (3, 5)). */
va_status va_cfg_int_pair(const va_config *c, const char *key, int def, int out[2], va_error *err);
/* A list of ints of length <= max_len; *len is set. Absent: *len = 0 and no error. */
va_status va_cfg_int_list(const va_config *c, const char *key, int *out, int max_len, int *len,
                          va_error *err);
/* A list of strings of length <= max_len, each copied into out[i] (buffers of item_len). */
va_status va_cfg_str_list(const va_config *c, const char *key, char (*out)[32], int max_len,
                          int *len, va_error *err);
/* Error naming the first key not in the NULL-terminated `allowed` list. */
va_status va_cfg_check_keys(const va_config *c, const char *const *allowed, va_error *err);

#ifdef __cplusplus
}
#endif
#endif
