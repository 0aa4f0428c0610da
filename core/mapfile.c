/* Read-only file mapping shared by the safetensors and .npy readers. */
#include "io_util.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

va_status va_map_file(const char *path, void **map, size_t *len, va_error *err) {
    *map = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return va_fail(err, VA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    va_status s = VA_OK;
    if (fstat(fd, &sb) != 0) {
        s = va_fail(err, VA_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    } else if (!S_ISREG(sb.st_mode)) {
        s = va_fail(err, VA_ERR_IO, "%s: not a regular file", path);
    } else if ((uintmax_t)sb.st_size > SIZE_MAX) {
        s = va_fail(err, VA_ERR_NOMEM, "%s: file too large to map (%lld bytes)", path,
                    (long long)sb.st_size);
    } else if (sb.st_size > 0) { /* mmap refuses length 0; the parsers report the empty file */
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            s = va_fail(err, VA_ERR_IO, "%s: cannot map %lld bytes: %s", path,
                        (long long)sb.st_size, strerror(errno));
        } else {
            *map = m;
            *len = (size_t)sb.st_size;
        }
    }
    close(fd);
    return s;
}

void va_unmap_file(void *map, size_t len) {
    if (map) munmap(map, len);
}
