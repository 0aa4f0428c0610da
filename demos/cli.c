/* What every command shares: the option parser, thread set-up, shapes, the assets directory. */
/* realpath(), readlink() and sched_getaffinity() are POSIX-2008 / GNU extensions. */
#define _GNU_SOURCE

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "visattn/visattn.h"

void va_cli_error(const char *fmt, ...) {
    /* The line is put together first and written with one call: stderr is unbuffered, and a line
     * written in pieces could be torn by another thread's line (heatmap --jobs). */
    char line[4096], *p = line;
    const size_t room = sizeof line - 10; /* after "visattn: ", before "\n" */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line + 9, room, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n;
    if (len >= room) {
        char *big = malloc(len + 11);
        if (big) {
            va_start(ap, fmt);
            vsnprintf(big + 9, len + 1, fmt, ap);
            va_end(ap);
            p = big;
        } else {
            len = room - 1; /* out of memory: the message cut short */
        }
    }
    memcpy(p, "visattn: ", 9);
    memcpy(p + 9 + len, "\n", 2);
    fputs(p, stderr);
    if (p != line) free(p);
}

int va_cli_next(va_cli_args *a, const va_cli_opt *opts, const char **value) {
    *value = NULL;
    if (a->i == 0) a->i = 1;
    if (a->i >= a->argc) return VA_CLI_END;
    const char *arg = a->argv[a->i++];
    if (!a->operands_only && strcmp(arg, "--") == 0) {
        a->operands_only = 1;
        return va_cli_next(a, opts, value);
    }
    if (a->operands_only || arg[0] != '-' || arg[1] == '\0') {
        *value = arg;
        return VA_CLI_OPERAND;
    }
    const char *name = strcmp(arg, "-h") == 0 ? "help" : arg[1] == '-' ? arg + 2 : NULL;
    const char *eq = name ? strchr(name, '=') : NULL;
    size_t len = name ? (eq ? (size_t)(eq - name) : strlen(name)) : 0;
    for (int k = 0; name && opts[k].name; k++) {
        if (strlen(opts[k].name) != len || strncmp(opts[k].name, name, len) != 0) continue;
        if (!opts[k].has_value) {
            if (eq) {
                va_cli_error("%s: --%s takes no value (got '%s')", a->cmd, opts[k].name, arg);
                return VA_CLI_USAGE;
            }
            return k;
        }
        if (eq) {
            *value = eq + 1;
        } else if (a->i < a->argc) {
            *value = a->argv[a->i++];
        } else {
            va_cli_error("%s: --%s needs a value", a->cmd, opts[k].name);
            return VA_CLI_USAGE;
        }
        return k;
    }
    va_cli_error("%s: unknown option '%s' (see visattn %s --help; after '--' every argument is "
                 "a file)",
                 a->cmd, arg, a->cmd);
    return VA_CLI_USAGE;
}

int va_cli_parse_threads(const char *arg, int *n) {
    char *end;
    errno = 0;
    long v = arg ? strtol(arg, &end, 10) : 0;
    if (!arg || errno || *end || v < 1 || v > 4096) {
        va_cli_error("--threads needs a positive integer, got '%s'", arg ? arg : "");
        return -1;
    }
    *n = (int)v;
    return 0;
}

/* The cores this process may run on. */
static int usable_cores(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int va_cli_setup_threads(int n) {
    const char *from = "--threads";
    if (n <= 0) {
        va_error err = {0};
        if (va_threads_from_env(&err) != VA_OK) {
            va_cli_error("%s", err.msg);
            return -1;
        }
        const char *v = getenv("VISATTN_NUM_THREADS");
        from = v && *v ? "VISATTN_NUM_THREADS" : "OMP_NUM_THREADS";
        n = va_get_num_threads();
    }
    int cores = usable_cores();
    if (n > cores) {
        fprintf(stderr,
                "visattn: warning: %s asks for %d threads but this machine gives the process %d "
                "core%s; using %d\n",
                from, n, cores, cores == 1 ? "" : "s", cores);
        n = cores;
    }
    va_set_num_threads(n);
    return 0;
}

int va_cli_parse_shape(const char *s, int64_t shape[4]) {
    long long v[4];
    char tail;
    if (!s || sscanf(s, "%lld,%lld,%lld,%lld%c", &v[0], &v[1], &v[2], &v[3], &tail) != 4) {
        va_cli_error("--shape needs N,C,H,W (four positive integers), got '%s'", s ? s : "");
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        if (v[i] < 1 || v[i] > (1LL << 24)) {
            va_cli_error("--shape: dimension %d is %lld, must be in 1..16777216", i, v[i]);
            return -1;
        }
        shape[i] = v[i];
    }
    return 0;
}

static int is_dir(const char *p) {
    struct stat s;
    return stat(p, &s) == 0 && S_ISDIR(s.st_mode);
}

/* buf = the resolved path of <dir of the executable>/<rel> if it is a directory. */
static int beside_exe(const char *rel, char *buf, size_t size) {
    char exe[PATH_MAX], cand[PATH_MAX + 64], real[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return -1;
    *slash = '\0';
    snprintf(cand, sizeof cand, "%s/%s", exe, rel);
    /* Resolved, so messages name .../assets rather than .../build/../assets. */
    if (!realpath(cand, real) || !is_dir(real) || strlen(real) >= size) return -1;
    memcpy(buf, real, strlen(real) + 1);
    return 0;
}

int va_cli_assets_dir(char *buf, size_t size) {
    const char *env = getenv("VISATTN_ASSETS");
    if (env && *env) {
        if (strlen(env) >= size) return -1;
        memcpy(buf, env, strlen(env) + 1);
        return 0;
    }
    if (beside_exe("../assets", buf, size) == 0) return 0;
    if (beside_exe("../share/visattn", buf, size) == 0) return 0;
#ifdef VISATTN_DATADIR
    if (is_dir(VISATTN_DATADIR) && strlen(VISATTN_DATADIR) < size) {
        memcpy(buf, VISATTN_DATADIR, strlen(VISATTN_DATADIR) + 1);
        return 0;
    }
#endif
    if (is_dir("assets") && size > 6) {
        memcpy(buf, "assets", 7);
        return 0;
    }
    return -1;
}

/* Create dir and its parents (mkdir -p); then require a writable directory. */
int va_cli_make_dir(const char *dir) {
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) {
        va_cli_error("%s: output directory path too long", dir);
        return -1;
    }
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                va_cli_error("%s: cannot create the output directory: %s", dir, strerror(errno));
                return -1;
            }
            *s = c;
            if (!c) break;
        }
    }
    if (!is_dir(dir)) {
        va_cli_error("%s: cannot create the output directory: %s", dir, strerror(ENOTDIR));
        return -1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        va_cli_error("%s: output directory is not writable: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

int va_cli_check_output_file(const char *path) {
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (n >= sizeof dir) {
        va_cli_error("%s: path too long", path);
        return -1;
    }
    if (!slash || n == 0) n = 1; /* "x" -> ".", "/x" -> "/" */
    memcpy(dir, slash ? path : ".", n);
    dir[n] = '\0';
    if (!is_dir(dir)) {
        va_cli_error("%s: cannot write: %s is not an existing directory", path, dir);
        return -1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        va_cli_error("%s: cannot write: directory %s is not writable (%s)", path, dir,
                     strerror(errno));
        return -1;
    }
    if (is_dir(path)) {
        va_cli_error("%s: cannot write: it is a directory", path);
        return -1;
    }
    return 0;
}
