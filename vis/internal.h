/* Private to libvisattn_vis: argument checks shared by its files. */
#ifndef VISATTN_VIS_INTERNAL_H
#define VISATTN_VIS_INTERNAL_H

#include "visattn/vis.h"

/* VA_OK if img is an image a call can read: not NULL, w and h >= 1, pixels present. Else
 * VA_ERR_ARG, the message naming the call and the argument (`fn`: `what` ...): images are plain
 * structs that callers may fill themselves, so a zeroed or half-filled one must not be read. */
va_status vis_check_image(const va_image *img, const char *fn, const char *what, va_error *err);

#endif
