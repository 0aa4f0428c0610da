/* The fuzz build compiles Debian's stb_image.h and stb_image_write.h (libstb-dev) here, with the
 * fuzzer's coverage instrumentation, instead of linking the prebuilt libstb: libFuzzer then sees
 * inside the decoders and can steer into them. Nothing of stb is copied into this repository; this
 * file only asks the installed headers for their implementations. */
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image.h>
#include <stb_image_write.h>
