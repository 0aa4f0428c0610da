/* visattn: CNN vision attention blocks in C11. Umbrella header. */
#ifndef VISATTN_VISATTN_H
#define VISATTN_VISATTN_H

#define VISATTN_VERSION_MAJOR 0
#define VISATTN_VERSION_MINOR 1
#define VISATTN_VERSION_PATCH 0
#define VISATTN_VERSION "0.1.0"

#include "visattn/bench.h"
#include "visattn/block.h"
#include "visattn/config.h"
#include "visattn/error.h"
#include "visattn/io.h"
#include "visattn/model.h"
#include "visattn/ops.h"
#include "visattn/tensor.h"

#endif
