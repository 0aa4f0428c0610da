/* Models: a whole network loaded from one safetensors file.
 *
 * Models are blocks of kind VA_KIND_MODEL (see block.h): "conv2d" and "conv_bn" (single layers, for
 * checking the engine end to end) and, later, the backbone. va_block_load_file() builds either kind
 * from a file's metadata. */
#ifndef VISATTN_MODEL_H
#define VISATTN_MODEL_H

#include "visattn/block.h"

#endif
