/* Models: a whole network loaded from one safetensors file.
 *
 * Models are blocks of kind VA_KIND_MODEL (see block.h): "conv2d", "conv_bn" and "conv_bn_relu"
 * (single layers, for checking the engine end to end) and the backbone (docs/backbone.md).
 * va_block_load_file() builds either kind from a file's metadata; va_block_info() says what a
 * model declares about its input (channels, size, mean, std) and its classes. Like a block, a
 * loaded model is immutable and runs from any number of threads, each with its own va_run. */
#ifndef VISATTN_MODEL_H
#define VISATTN_MODEL_H

#include "visattn/block.h"

#endif
