#include <cblas.h>
#include <errno.h>
#include <omp.h>
#include <stdlib.h>

#include "visattn/ops.h"

/* OpenBLAS's OpenMP build runs its kernels on the OpenMP pool, so one number governs both: our
 * parallel loops and the GEMMs they call. */
void va_set_num_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int va_get_num_threads(void) {
    return omp_get_max_threads();
}

const char *va_blas_kernel(void) {
    return openblas_get_corename();
}

va_status va_threads_from_env(va_error *err) {
    const char *name = "VISATTN_NUM_THREADS", *s = getenv(name);
    if (!s || !*s) name = "OMP_NUM_THREADS", s = getenv(name);
    if (!s || !*s) {
        va_set_num_threads(0);
        return VA_OK;
    }
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    /* OMP_NUM_THREADS may be a list, one count per nesting level: the first is ours. */
    int list_ok = *end == '\0' || (*end == ',' && name[0] == 'O');
    if (errno || !list_ok || n < 1 || n > 4096)
        return va_fail(err, VA_ERR_ARG, "%s='%s' is not a positive integer%s", name, s,
                       name[0] == 'O' ? " (or a comma list of them)" : "");
    va_set_num_threads((int)n);
    return VA_OK;
}
