/* weir -t: beyond what the loader checks (syntax, schema, file
 * readability, certificate validity), build what start and reload would
 * build from the files the configuration names, so that a file `weir -t`
 * passes is one weir starts on or reloads to. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "weir/admin/admin_auth.h"
#include "weir/config/config.h"
#include "weir/lb/affinity.h"
#include "weir/net/tlsctx.h"
#include "weir/runtime.h"

/* The access log file can be appended to, or created in its directory. */
static int
check_access_log(const char *setting, char *why, size_t len)
{
    if (setting == NULL || strcmp(setting, "off") == 0 ||
        strcmp(setting, "stdout") == 0)
        return 0;
    if (access(setting, W_OK) == 0)
        return 0;
    if (errno == ENOENT) {
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s", setting);
        if (access(dirname(dir), W_OK) == 0)
            return 0;
    }
    snprintf(why, len, "%s: %s", setting, strerror(errno));
    return -1;
}

size_t
runtime_check(const struct cfg *cfg, struct cfg_errors *errs)
{
    size_t before = errs->n;
    char why[512];

    for (size_t i = 0; i < cfg->nlisteners; i++) {
        const struct cfg_listener *cl = &cfg->listeners[i];
        if (cl->tls == NULL)
            continue;
        struct tlsctx *t = tlsctx_new(cl->tls, time(NULL), why, sizeof(why));
        if (t == NULL)
            cfg_errors_add(errs, "%s: listener %s: %s", cfg->path, cl->name, why);
        tlsctx_free(t);
    }
    if (cfg->affinity.enabled) {
        struct affinity_keys keys = {0};
        const char *files[] = {cfg->affinity.secret_file,
                               cfg->affinity.previous_secret_file};
        struct affinity_key *slots[] = {&keys.current, &keys.previous};
        for (size_t i = 0; i < 2; i++)
            if (files[i] != NULL &&
                affinity_key_load(files[i], slots[i], why, sizeof(why)) == -1)
                cfg_errors_add(errs, "%s: session_affinity: %s", cfg->path, why);
        affinity_keys_fini(&keys);
    }
    if (cfg->admin.listen.text != NULL) {
        struct admin_keys *keys = admin_keys_load(&cfg->admin, why, sizeof(why));
        if (keys == NULL)
            cfg_errors_add(errs, "%s: admin: %s", cfg->path, why);
        admin_keys_free(keys);
    }
    if (check_access_log(cfg->logging.access_log, why, sizeof(why)) == -1)
        cfg_errors_add(errs, "%s: logging.access_log: %s", cfg->path, why);
    return errs->n - before;
}
