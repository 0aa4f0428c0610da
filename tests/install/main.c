/* Built against an installed visattn by scripts/check_install.sh. */
#include <stdio.h>
#include <visattn/visattn.h>

int main(void) {
    va_error err = {0};
    va_block *b;
    if (va_block_create("conv2d", "{\"in_channels\": 2, \"out_channels\": 3, \"kernel_size\": 1}", &b,
                        &err) != VA_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("visattn %s: created '%s'\n", VISATTN_VERSION, va_block_name(b));
    va_block_destroy(b);
    return 0;
}
