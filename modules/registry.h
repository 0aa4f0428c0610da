/* The attention blocks, by name. Each block file defines one `const va_block_ops va_<name>_ops`. */
#ifndef VISATTN_MODULES_REGISTRY_H
#define VISATTN_MODULES_REGISTRY_H

#include "visattn/block.h"

/* NULL-terminated. */
extern const va_block_ops *const va_block_registry[];

#endif
