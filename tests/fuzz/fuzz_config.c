/* libFuzzer harness: the configuration loader (src/config) on any YAML
 * text, through cfg_load_string with relative paths resolved against
 * tests/data/config/ok, as for the test fixtures there.
 *
 * The loader checks that files it names are readable regular files, and
 * parses certificates and keys. So that no fuzzed path makes it read
 * anything else (a huge file, a device, a FIFO), this program is linked
 * with -Wl,--wrap=access: access(2) from the loader answers EACCES for
 * every path outside tests/data/config/files and certs/ (resolved with
 * realpath). The loader checks access before it opens a file, so nothing
 * else is ever opened.
 *
 * Invariants: the loader never leaks (LeakSanitizer); it returns a cfg
 * exactly when it reports no error; every error is "NAME:LINE:COL: ..."
 * with LINE and COL within the text; a cfg it returns holds the values the
 * schema promises (non-empty lists, names, ranges) and is freed cleanly. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "fuzz_common.h"
#include "weir/config/config.h"

#define NAME "fuzz.yaml"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int __real_access(const char *path, int mode);
int __wrap_access(const char *path, int mode);

static char allowed[2][PATH_MAX];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    OPENSSL_init_crypto(0, NULL);
    /* Missing directories allow nothing (empty prefix never matches). */
    if (realpath(WEIR_FUZZ_FILES, allowed[0]) == NULL)
        allowed[0][0] = '\0';
    if (realpath(WEIR_FUZZ_CERTS, allowed[1]) == NULL)
        allowed[1][0] = '\0';
    return 0;
}

static bool
inside(const char *real, const char *dir)
{
    size_t n = strlen(dir);

    return n > 0 && strncmp(real, dir, n) == 0 && real[n] == '/';
}

int
__wrap_access(const char *path, int mode)
{
    char real[PATH_MAX];

    if (realpath(path, real) == NULL)
        return -1; /* errno from realpath: ENOENT, ENAMETOOLONG, ... */
    if (!inside(real, allowed[0]) && !inside(real, allowed[1])) {
        errno = EACCES;
        return -1;
    }
    return __real_access(path, mode);
}

/* "NAME:LINE:COL: text" with LINE and COL from 1, LINE within the text. */
static void
check_error(const char *msg, size_t lines)
{
    char *end;

    FUZZ_CHECK(strncmp(msg, NAME ":", strlen(NAME ":")) == 0);
    const char *p = msg + strlen(NAME ":");
    unsigned long line = strtoul(p, &end, 10);
    FUZZ_CHECK(end != p && *end == ':' && line >= 1 && line <= lines + 1);
    p = end + 1;
    unsigned long col = strtoul(p, &end, 10);
    FUZZ_CHECK(end != p && *end == ':' && col >= 1);
    FUZZ_CHECK(end[1] == ' ' && end[2] != '\0');
}

static void
check_cfg(const struct cfg *cfg)
{
    FUZZ_CHECK(cfg->path != NULL && strcmp(cfg->path, NAME) == 0);
    FUZZ_CHECK(cfg->nlisteners >= 1 && cfg->listeners != NULL);
    FUZZ_CHECK(cfg->nbackends >= 1 && cfg->backends != NULL);
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        const struct cfg_listener *l = &cfg->listeners[i];
        FUZZ_CHECK(l->name != NULL && l->name[0] != '\0');
        FUZZ_CHECK(l->bind.text != NULL && l->bind.salen > 0);
        if (l->tls != NULL) {
            FUZZ_CHECK(l->tls->ncerts >= 1);
            for (size_t j = 0; j < l->tls->ncerts; j++)
                FUZZ_CHECK(l->tls->certs[j].cert != NULL &&
                           l->tls->certs[j].key != NULL);
        }
    }
    for (size_t i = 0; i < cfg->nbackends; i++) {
        const struct cfg_backend *b = &cfg->backends[i];
        FUZZ_CHECK(b->name != NULL && b->name[0] != '\0');
        FUZZ_CHECK(b->address.text != NULL && b->address.salen > 0);
        FUZZ_CHECK(b->weight <= 256);
        FUZZ_CHECK(cfg_backend_find(cfg, b->name) == &cfg->backends[i]);
    }
    FUZZ_CHECK(cfg_algorithm_name(cfg->algorithm) != NULL);
    FUZZ_CHECK(cfg->health.path != NULL && cfg->health.interval_ms > 0 &&
               cfg->health.timeout_ms > 0);
    FUZZ_CHECK(cfg->health.status_min <= cfg->health.status_max);
    FUZZ_CHECK(cfg->affinity.cookie_name != NULL);
    if (cfg->affinity.enabled)
        FUZZ_CHECK(cfg->affinity.secret_file != NULL);
    FUZZ_CHECK(cfg->limits.max_header_bytes > 0);
    FUZZ_CHECK(cfg->admin.socket != NULL);
    FUZZ_CHECK(cfg->logging.access_log != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cfg_errors errs = {0};
    size_t lines = 1;

    /* libyaml also breaks lines at CR, NEL, LS and PS: count a superset. */
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n' || data[i] == '\r' || data[i] == 0x85 ||
                 data[i] == 0xa8 || data[i] == 0xa9;
    struct cfg *cfg = cfg_load_string(NAME, (const char *)data, size,
                                      WEIR_FUZZ_BASEDIR, &errs);
    if (cfg != NULL) {
        FUZZ_CHECK(errs.n == 0);
        check_cfg(cfg);
    } else {
        FUZZ_CHECK(errs.n > 0);
    }
    for (size_t i = 0; i < errs.n; i++)
        check_error(errs.msgs[i], lines);
    cfg_free(cfg);
    cfg_errors_fini(&errs);
    /* NULL error list: the loader keeps its own and frees it. */
    cfg_free(cfg_load_string(NAME, (const char *)data, size,
                             WEIR_FUZZ_BASEDIR, NULL));
    return 0;
}
