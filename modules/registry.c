#include "registry.h"

/* One line per block file in modules/ (keep the two lists in the same order). */
/* BEGIN EXTERNS */
/* END EXTERNS */

const va_block_ops *const va_block_registry[] = {
    /* BEGIN BLOCKS */
    /* END BLOCKS */
    NULL,
};
