/* weir: command line, start-up order and exit codes (0 ok, 1 runtime
 * failure, 2 usage or configuration error). */
#include <ev.h>
#include <http_parser.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "weir/config/config.h"
#include "weir/runtime.h"
#include "weir/util/log.h"

#define DEFAULT_CONFIG "conf/weir.yaml"

static void
usage(FILE *out)
{
    fprintf(out, "usage: weir [-c FILE]      run (default %s)\n"
                 "       weir -t [-c FILE]   check the configuration\n"
                 "       weir -V             versions\n",
            DEFAULT_CONFIG);
}

static void
print_versions(void)
{
    unsigned long hp = http_parser_version();
    printf("weir %s\n", WEIR_VERSION);
    printf("libev %d.%d\n", ev_version_major(), ev_version_minor());
    printf("%s\n", OpenSSL_version(OPENSSL_VERSION));
    printf("http-parser %lu.%lu.%lu\n", (hp >> 16) & 255, (hp >> 8) & 255, hp & 255);
    printf("libyaml %s\n", yaml_get_version_string());
}

static struct cfg *
load_or_report(const char *path)
{
    struct cfg_errors errs = {0};
    struct cfg *cfg = cfg_load(path, &errs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.msgs[i]);
    cfg_errors_fini(&errs);
    return cfg;
}

int
main(int argc, char **argv)
{
    const char *path = DEFAULT_CONFIG;
    int check_only = 0, opt;
    char err[512];

    while ((opt = getopt(argc, argv, "c:tVh")) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 't':
            check_only = 1;
            break;
        case 'V':
            print_versions();
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    struct cfg *cfg = load_or_report(path);
    if (cfg == NULL)
        return 2;
    if (check_only) {
        struct cfg_errors errs = {0};
        size_t n = runtime_check(cfg, &errs);
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.msgs[i]);
        cfg_errors_fini(&errs);
        cfg_free(cfg);
        if (n > 0)
            return 2;
        printf("configuration OK\n");
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    struct runtime rt;
    if (runtime_init(&rt, loop, path, cfg, err, sizeof(err)) == -1) {
        log_errx("%s", err);
        return 1;
    }
    int rc = runtime_run(&rt);
    runtime_fini(&rt);
    ev_loop_destroy(loop);
    return rc;
}
