/* The registry of everything buildable by name: the attention blocks (modules/registry.c) and the
 * models defined here in backbone/. */
#include <ctype.h>
#include <pthread.h>
#include <string.h>

#include "../modules/registry.h"
#include "visattn/block.h"

extern const va_block_ops va_conv2d_ops;
extern const va_block_ops va_conv_bn_ops;
extern const va_block_ops va_conv_bn_relu_ops;
extern const va_block_ops va_backbone_ops;
extern const va_block_ops va_emo_ops, va_emo_1m_ops, va_emo_2m_ops, va_emo_5m_ops, va_emo_6m_ops;
extern const va_block_ops va_resnet_ops, va_resnet18_ops, va_resnet34_ops, va_resnet50_ops,
    va_resnet101_ops, va_resnet152_ops, va_resnext50_32x4d_ops, va_wide_resnet50_2_ops;
extern const va_block_ops va_residualnet_ops, va_sa_resnet50_ops, va_sa_resnet101_ops,
    va_sa_resnet152_ops;
extern const va_block_ops va_eca_resnet18_ops, va_eca_resnet34_ops, va_eca_resnet50_ops,
    va_eca_resnet101_ops, va_eca_resnet152_ops, va_simam_resnet_ops, va_simam_cifar_resnet_ops;
extern const va_block_ops va_mobilenet_v3_small_ops, va_mobilenet_v3_large_ops,
    va_efficientnet_b0_ops, va_efficientnet_b1_ops, va_efficientnet_b2_ops, va_efficientnet_b3_ops,
    va_efficientnet_b4_ops, va_efficientnet_b5_ops, va_efficientnet_b6_ops, va_efficientnet_b7_ops;
extern const va_block_ops va_efficientnet_v2_s_ops, va_efficientnet_v2_m_ops,
    va_efficientnet_v2_l_ops;
extern const va_block_ops va_regnet_ops, va_regnet_y_400mf_ops, va_regnet_y_800mf_ops,
    va_regnet_y_1_6gf_ops, va_regnet_y_3_2gf_ops, va_regnet_y_8gf_ops, va_regnet_y_16gf_ops,
    va_regnet_y_32gf_ops, va_regnet_y_128gf_ops;

static const va_block_ops *const model_registry[] = {
    &va_conv2d_ops,
    &va_conv_bn_ops,
    &va_conv_bn_relu_ops,
    &va_backbone_ops,
    &va_emo_ops,
    &va_emo_1m_ops,
    &va_emo_2m_ops,
    &va_emo_5m_ops,
    &va_emo_6m_ops,
    &va_resnet_ops,
    &va_resnet18_ops,
    &va_resnet34_ops,
    &va_resnet50_ops,
    &va_resnet101_ops,
    &va_resnet152_ops,
    &va_resnext50_32x4d_ops,
    &va_wide_resnet50_2_ops,
    &va_residualnet_ops,
    &va_sa_resnet50_ops,
    &va_sa_resnet101_ops,
    &va_sa_resnet152_ops,
    &va_eca_resnet18_ops,
    &va_eca_resnet34_ops,
    &va_eca_resnet50_ops,
    &va_eca_resnet101_ops,
    &va_eca_resnet152_ops,
    &va_simam_resnet_ops,
    &va_simam_cifar_resnet_ops,
    &va_mobilenet_v3_small_ops,
    &va_mobilenet_v3_large_ops,
    &va_efficientnet_b0_ops,
    &va_efficientnet_b1_ops,
    &va_efficientnet_b2_ops,
    &va_efficientnet_b3_ops,
    &va_efficientnet_b4_ops,
    &va_efficientnet_b5_ops,
    &va_efficientnet_b6_ops,
    &va_efficientnet_b7_ops,
    &va_efficientnet_v2_s_ops,
    &va_efficientnet_v2_m_ops,
    &va_efficientnet_v2_l_ops,
    &va_regnet_ops,
    &va_regnet_y_400mf_ops,
    &va_regnet_y_800mf_ops,
    &va_regnet_y_1_6gf_ops,
    &va_regnet_y_3_2gf_ops,
    &va_regnet_y_8gf_ops,
    &va_regnet_y_16gf_ops,
    &va_regnet_y_32gf_ops,
    &va_regnet_y_128gf_ops,
    NULL,
};

/* Blocks and models registered at run time (va_register_block); the lock orders registrations
 * and look-ups from different threads. */
#define MAX_USER_OPS 64
static const va_block_ops *user_ops[MAX_USER_OPS];
static int num_user_ops;
static pthread_mutex_t user_lock = PTHREAD_MUTEX_INITIALIZER;

const va_block_ops *va_ops_at(int i) {
    if (i < 0) return NULL;
    int nblocks = 0;
    while (va_block_registry[nblocks])
        nblocks++;
    if (i < nblocks) return va_block_registry[i];
    i -= nblocks;
    int nmodels = 0;
    while (model_registry[nmodels])
        nmodels++;
    if (i < nmodels) return model_registry[i];
    i -= nmodels;
    pthread_mutex_lock(&user_lock);
    const va_block_ops *o = i < num_user_ops ? user_ops[i] : NULL;
    pthread_mutex_unlock(&user_lock);
    return o;
}

static int ops_named(const va_block_ops *o, const char *name) {
    return strcmp(o->name, name) == 0 || (o->alias && strcmp(o->alias, name) == 0);
}

const va_block_ops *va_find_ops(const char *name) {
    if (!name) return NULL;
    const va_block_ops *o;
    for (int i = 0; (o = va_ops_at(i)) != NULL; i++)
        if (ops_named(o, name)) return o;
    return NULL;
}

static int valid_name(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n > 63) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_') return 0;
    return 1;
}

va_status va_register_block(const va_block_ops *ops, va_error *err) {
    if (!ops) return va_fail(err, VA_ERR_ARG, "va_register_block: ops is NULL");
    if (!ops->name || !valid_name(ops->name) || (ops->alias && !valid_name(ops->alias)))
        return va_fail(err, VA_ERR_ARG,
                       "va_register_block: name and alias must be 1-63 characters of "
                       "[A-Za-z0-9_] (got '%.64s')",
                       ops->name ? ops->name : "");
    if (ops->kind != VA_KIND_BLOCK && ops->kind != VA_KIND_MODEL)
        return va_fail(err, VA_ERR_ARG, "va_register_block: %s: kind must be a block or a model",
                       ops->name);
    if (!ops->create || !ops->load || !ops->out_shape || !ops->forward || !ops->cost)
        return va_fail(err, VA_ERR_ARG,
                       "va_register_block: %s: create, load, out_shape, forward and cost are "
                       "required",
                       ops->name);
    pthread_mutex_lock(&user_lock);
    va_status st = VA_OK;
    if (num_user_ops == MAX_USER_OPS)
        st = va_fail(err, VA_ERR_UNSUPPORTED, "va_register_block: %s: more than %d registrations",
                     ops->name, MAX_USER_OPS);
    /* The lock is not recursive: look through the tables directly. */
    for (int i = 0; st == VA_OK && va_block_registry[i]; i++)
        if (ops_named(va_block_registry[i], ops->name) ||
            (ops->alias && ops_named(va_block_registry[i], ops->alias)))
            st = VA_ERR_ARG;
    for (int i = 0; st == VA_OK && model_registry[i]; i++)
        if (ops_named(model_registry[i], ops->name) ||
            (ops->alias && ops_named(model_registry[i], ops->alias)))
            st = VA_ERR_ARG;
    for (int i = 0; st == VA_OK && i < num_user_ops; i++)
        if (ops_named(user_ops[i], ops->name) || (ops->alias && ops_named(user_ops[i], ops->alias)))
            st = VA_ERR_ARG;
    if (st == VA_ERR_ARG)
        va_fail(err, VA_ERR_ARG, "va_register_block: '%s'%s%s%s is taken already", ops->name,
                ops->alias ? " (alias '" : "", ops->alias ? ops->alias : "",
                ops->alias ? "')" : "");
    if (st == VA_OK) user_ops[num_user_ops++] = ops;
    pthread_mutex_unlock(&user_lock);
    return st;
}
