#include "registry.h"

/* One line per block file in modules/ (keep the two lists in the same order). */
/* BEGIN EXTERNS */
extern const va_block_ops va_double_attention_ops;
extern const va_block_ops va_triplet_ops;
extern const va_block_ops va_shuffle_ops;
extern const va_block_ops va_se_ops;
extern const va_block_ops va_spatial_ops;
extern const va_block_ops va_cbam_ops;
extern const va_block_ops va_irmb_ops;
/* END EXTERNS */

const va_block_ops *const va_block_registry[] = {
    /* BEGIN BLOCKS */
    &va_double_attention_ops,
    &va_triplet_ops,
    &va_shuffle_ops,
    &va_se_ops,
    &va_spatial_ops,
    &va_cbam_ops,
    &va_irmb_ops,
    /* END BLOCKS */
    NULL,
};
