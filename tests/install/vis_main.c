/* Built against an installed visattn_vis by scripts/check_install.sh: load a PNG, overlay a
 * synthetic attention map on it and write the result.
 *   vis_main IMAGE.png OUT.png */
#include <stdio.h>
#include <visattn/vis.h>
#include <visattn/visattn.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s IMAGE OUT.png\n", argv[0]);
        return 2;
    }
    va_error err = {0};
    va_image img = {0}, out = {0};
    va_tensor map = {0};
    va_colormap cm;
    int rc = 1;
    /* A 4 x 4 ramp, hot in the bottom-right corner, as a block's spatial map would be. */
    if (va_image_load(argv[1], VA_IMAGE_DEFAULT_MAX_PIXELS, &img, &err) != VA_OK ||
        va_tensor_alloc4(&map, 1, 1, 4, 4, &err) != VA_OK)
        goto done;
    for (int i = 0; i < 16; i++)
        map.data[i] = (float)(i / 4 + i % 4);
    if (va_colormap_from_name("inferno", &cm, &err) != VA_OK ||
        va_overlay(&map, &img, cm, 0.5f, &out, &err) != VA_OK ||
        va_image_write_png(argv[2], &out, &err) != VA_OK)
        goto done;
    FILE *f = fopen(argv[2], "rb");
    long size = f && fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (f) fclose(f);
    if (size <= 0) {
        fprintf(stderr, "%s: not written\n", argv[2]);
        goto done;
    }
    printf("visattn_vis %s: wrote %s (%d x %d, %s overlay)\n", VISATTN_VERSION, argv[2], out.w,
           out.h, va_colormap_name(cm));
    rc = 0;
done:
    if (rc && err.msg[0]) fprintf(stderr, "%s\n", err.msg);
    va_image_free(&img);
    va_image_free(&out);
    va_tensor_free(&map);
    return rc;
}
