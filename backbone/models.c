/* The registry of everything buildable by name: the attention blocks (modules/registry.c) and the
 * models defined here in backbone/. */
#include <string.h>

#include "../modules/registry.h"
#include "visattn/block.h"

extern const va_block_ops va_conv2d_ops;
extern const va_block_ops va_conv_bn_ops;
extern const va_block_ops va_conv_bn_relu_ops;
extern const va_block_ops va_backbone_ops;

static const va_block_ops *const model_registry[] = {
    &va_conv2d_ops, &va_conv_bn_ops, &va_conv_bn_relu_ops, &va_backbone_ops, NULL,
};

const va_block_ops *va_ops_at(int i) {
    if (i < 0) return NULL;
    int nblocks = 0;
    while (va_block_registry[nblocks])
        nblocks++;
    if (i < nblocks) return va_block_registry[i];
    i -= nblocks;
    for (int k = 0; model_registry[k]; k++)
        if (k == i) return model_registry[k];
    return NULL;
}

const va_block_ops *va_find_ops(const char *name) {
    const va_block_ops *o;
    for (int i = 0; (o = va_ops_at(i)) != NULL; i++)
        if (strcmp(o->name, name) == 0 || (o->alias && strcmp(o->alias, name) == 0)) return o;
    return NULL;
}
