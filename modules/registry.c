#include "registry.h"

/* One block per file in modules/; the order here is the order of `visattn list` and of the bench
 * table: channel gates first, then spatial, then the heavier blocks. */
extern const va_block_ops va_se_ops;
extern const va_block_ops va_spatial_ops;
extern const va_block_ops va_cbam_ops;
extern const va_block_ops va_triplet_ops;
extern const va_block_ops va_shuffle_ops;
extern const va_block_ops va_double_attention_ops;
extern const va_block_ops va_irmb_ops;
extern const va_block_ops va_eca_ops;
extern const va_block_ops va_simam_ops;
extern const va_block_ops va_bam_ops;

const va_block_ops *const va_block_registry[] = {
    &va_se_ops,
    &va_spatial_ops,
    &va_cbam_ops,
    &va_triplet_ops,
    &va_shuffle_ops,
    &va_double_attention_ops,
    &va_irmb_ops,
    &va_eca_ops,
    &va_simam_ops,
    &va_bam_ops,
    NULL,
};
