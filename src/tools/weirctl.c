/* weirctl: the admin API client. The admin API arrives with the draining
 * issue; until then every command says so and exits 1, while usage errors
 * exit 2 as the contract requires. */
#include <stdio.h>
#include <string.h>

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: weirctl [-s SOCKET] [--json] status\n"
            "       weirctl [-s SOCKET] drain NAME [--wait] [--timeout SECONDS]\n"
            "       weirctl [-s SOCKET] enable NAME\n"
            "       weirctl [-s SOCKET] weight NAME N\n"
            "       weirctl [-s SOCKET] reload\n");
}

int
main(int argc, char **argv)
{
    static const char *const commands[] = {"status", "drain", "enable",
                                           "weight", "reload"};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++) {
            if (strcmp(argv[i], commands[c]) == 0) {
                fprintf(stderr, "weirctl: %s: not yet: the admin API is not "
                        "built yet\n", argv[i]);
                return 1;
            }
        }
    }
    usage(stderr);
    return 2;
}
