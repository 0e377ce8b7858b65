/* Reading one value: the typed scalar readers behind the schema kinds.
 * Each checks type, syntax and range, reports its own error at the value
 * with the key's path, and stores nothing on failure. Where the value goes
 * and which keys exist is config.c's and config_schema.c's business. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_schema.h"
#include "weir/util/addr.h"
#include "weir/util/duration.h"

/* TEXT quoted into OUT (SIZE >= 8 bytes), control characters as '?',
 * cut at a character boundary with "..." when too long. */
static const char *
quote_n(const char *text, char *out, size_t size)
{
    size_t o = 0, i;

    out[o++] = '"';
    for (i = 0; text[i] != '\0' && o < size - 6; i++) {
        unsigned char c = (unsigned char)text[i];
        out[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    if (((unsigned char)text[i] & 0xc0) == 0x80) {
        /* Cut inside a UTF-8 sequence: drop its first bytes too. */
        while (o > 1 && ((unsigned char)out[o - 1] & 0xc0) == 0x80)
            o--;
        if (o > 1)
            o--;
    }
    out[o++] = '"';
    if (text[i] != '\0') {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

const char *
cfg_quote(const char *text, char out[CFG_QUOTE_MAX])
{
    return quote_n(text, out, CFG_QUOTE_MAX);
}

const char *
cfg_scalar(const yaml_node_t *node)
{
    return (const char *)node->data.scalar.value;
}

bool
cfg_is_null(const yaml_node_t *node)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};

    if (node->type != YAML_SCALAR_NODE ||
        node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    for (size_t i = 0; i < nitems(nulls); i++) {
        if (strcmp(cfg_scalar(node), nulls[i]) == 0)
            return true;
    }
    return false;
}

/* "a mapping", "null" or the quoted scalar, for type errors. */
const char *
cfg_describe(const yaml_node_t *node, char out[CFG_QUOTE_MAX])
{
    if (node->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (node->type == YAML_SEQUENCE_NODE)
        return "a sequence";
    if (cfg_is_null(node))
        return "null";
    return cfg_quote(cfg_scalar(node), out);
}

static int
want_scalar(struct cfg_ctx *ctx, yaml_node_t *node, const char *what)
{
    char q[CFG_QUOTE_MAX];

    if (node->type != YAML_SCALAR_NODE || cfg_is_null(node)) {
        cfg_value_error(ctx, node, "expected %s, got %s", what,
                        cfg_describe(node, q));
        return -1;
    }
    /* A "\0" escape would silently cut every C string that follows. */
    if (strlen(cfg_scalar(node)) != node->data.scalar.length) {
        cfg_value_error(ctx, node, "NUL characters are not allowed");
        return -1;
    }
    return 0;
}

static void
range_error(struct cfg_ctx *ctx, yaml_node_t *node, const char *lo,
            const char *hi)
{
    char q[CFG_QUOTE_MAX];

    cfg_value_error(ctx, node, "must be between %s and %s, got %s", lo, hi,
                    cfg_quote(cfg_scalar(node), q));
}

int
cfg_read_uint(struct cfg_ctx *ctx, const struct cfg_key *key,
              yaml_node_t *node, uint64_t *out)
{
    const char *p;
    bool neg, big = false;
    uint64_t v = 0;
    char lo[24], hi[24], q[CFG_QUOTE_MAX];

    if (want_scalar(ctx, node, "an integer") == -1)
        return -1;
    p = cfg_scalar(node);
    neg = *p == '-';
    p += neg;
    /* Digits only, and no leading zero: YAML 1.1 reads 010 as octal. */
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] != '\0') ||
        p[strspn(p, "0123456789")] != '\0') {
        cfg_value_error(ctx, node, "expected an integer, got %s",
                        cfg_quote(cfg_scalar(node), q));
        return -1;
    }
    for (; *p != '\0'; p++) {
        if (v > (UINT64_MAX - 9) / 10)
            big = true;
        else
            v = v * 10 + (uint64_t)(*p - '0');
    }
    if ((neg && v != 0) || big || v < key->min || v > key->max) {
        snprintf(lo, sizeof(lo), "%llu", (unsigned long long)key->min);
        snprintf(hi, sizeof(hi), "%llu", (unsigned long long)key->max);
        range_error(ctx, node, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int
cfg_read_duration(struct cfg_ctx *ctx, const struct cfg_key *key,
                  yaml_node_t *node, uint64_t *out)
{
    char lo[DURATION_TEXT_MAX], hi[DURATION_TEXT_MAX], q[CFG_QUOTE_MAX];
    char one[4];
    const char *text, *unit;
    uint64_t ms;
    bool big = false;

    if (want_scalar(ctx, node, "a duration") == -1)
        return -1;
    text = cfg_scalar(node);
    if (duration_parse(text, &ms) == -1) {
        /* Well formed but too big for uint64_t: say so, as for integers. */
        unit = text + strspn(text, "0123456789");
        big = unit != text && strlen(unit) < sizeof(one) - 1 &&
              snprintf(one, sizeof(one), "1%s", unit) > 0 &&
              duration_parse(one, &ms) == 0;
        if (!big) {
            cfg_value_error(ctx, node, "expected a duration like 500ms, "
                            "10s, 5m, 1h or a number of seconds, got %s",
                            cfg_quote(text, q));
            return -1;
        }
    }
    if (big || ms < key->min || ms > key->max) {
        duration_format(key->min, lo, sizeof(lo));
        duration_format(key->max, hi, sizeof(hi));
        range_error(ctx, node, lo, hi);
        return -1;
    }
    *out = ms;
    return 0;
}

int
cfg_read_bool(struct cfg_ctx *ctx, yaml_node_t *node, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};
    char q[CFG_QUOTE_MAX];

    if (want_scalar(ctx, node, "a boolean") == -1)
        return -1;
    for (size_t i = 0; i < nitems(yes); i++) {
        if (strcasecmp(cfg_scalar(node), yes[i]) == 0 ||
            strcasecmp(cfg_scalar(node), no[i]) == 0) {
            *out = strcasecmp(cfg_scalar(node), yes[i]) == 0;
            return 0;
        }
    }
    cfg_value_error(ctx, node, "expected a boolean (true or false), got %s",
                    cfg_quote(cfg_scalar(node), q));
    return -1;
}

int
cfg_read_enum(struct cfg_ctx *ctx, const struct cfg_enum *e,
              yaml_node_t *node, int *out)
{
    char names[256] = "", q[CFG_QUOTE_MAX];
    size_t len = 0;

    if (want_scalar(ctx, node, "a string") == -1)
        return -1;
    for (size_t i = 0; i < e->nvalues; i++) {
        if (strcasecmp(cfg_scalar(node), e->values[i].name) == 0) {
            *out = e->values[i].value;
            return 0;
        }
        len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
                                i ? ", " : "", e->values[i].name);
        len = MIN(len, sizeof(names) - 1);
    }
    for (size_t i = 0; e->refused != NULL && e->refused[i] != NULL; i++) {
        if (strcasecmp(cfg_scalar(node), e->refused[i]) == 0) {
            cfg_value_error(ctx, node, "%s %s is %s (expected one of: %s)",
                            e->noun, cfg_quote(cfg_scalar(node), q),
                            e->refused_why, names);
            return -1;
        }
    }
    cfg_value_error(ctx, node, "unknown %s %s (expected one of: %s)", e->noun,
                    cfg_quote(cfg_scalar(node), q), names);
    return -1;
}

/* One status code: three digits, 100..599. Returns the end or NULL. */
static const char *
read_status_code(const char *p, unsigned *out)
{
    unsigned v = 0;
    size_t n;

    for (n = 0; n < 3 && p[n] >= '0' && p[n] <= '9'; n++)
        v = v * 10 + (unsigned)(p[n] - '0');
    if (n != 3 || (p[n] >= '0' && p[n] <= '9'))
        return NULL;
    *out = v;
    return p + n;
}

int
cfg_read_status(struct cfg_ctx *ctx, yaml_node_t *node, unsigned *lo,
                unsigned *hi)
{
    const char *p;
    char q[CFG_QUOTE_MAX];

    if (want_scalar(ctx, node, "a status code or range") == -1)
        return -1;
    p = read_status_code(cfg_scalar(node), lo);
    *hi = *lo;
    if (p != NULL && *p == '-')
        p = read_status_code(p + 1, hi);
    if (p == NULL || *p != '\0') {
        cfg_value_error(ctx, node, "expected a status code or a range like "
                        "200-399, got %s", cfg_quote(cfg_scalar(node), q));
        return -1;
    }
    if (*lo < 100 || *lo > 599 || *hi < 100 || *hi > 599) {
        range_error(ctx, node, "100", "599");
        return -1;
    }
    if (*lo > *hi) {
        cfg_value_error(ctx, node, "status range %s is reversed",
                        cfg_quote(cfg_scalar(node), q));
        return -1;
    }
    return 0;
}

static char *
resolve_path(struct cfg_ctx *ctx, const char *text)
{
    char *out;

    if (ctx->basedir == NULL || text[0] == '/')
        return strdup(text);
    if (asprintf(&out, "%s/%s", ctx->basedir, text) == -1)
        return NULL;
    return out;
}

int
cfg_check_readable(struct cfg_ctx *ctx, const yaml_node_t *node,
                   const char *path)
{
    /* Paths are quoted whole: a cut path would not say which file. */
    char q[PATH_MAX + 8], ebuf[128];
    struct stat st;

    if (stat(path, &st) == -1 || access(path, R_OK) == -1) {
        cfg_value_error(ctx, node, "cannot read %s: %s",
                        quote_n(path, q, sizeof(q)),
                        strerror_r(errno, ebuf, sizeof(ebuf)));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        cfg_value_error(ctx, node, "%s is not a regular file",
                        quote_n(path, q, sizeof(q)));
        return -1;
    }
    return 0;
}

/* Strings of every kind: non-empty, validated, paths resolved. */
int
cfg_read_string(struct cfg_ctx *ctx, const struct cfg_key *key,
                yaml_node_t *node, char **out)
{
    const char *text, *why;
    char *s, q[CFG_QUOTE_MAX];

    if (want_scalar(ctx, node, "a string") == -1)
        return -1;
    text = cfg_scalar(node);
    if (*text == '\0') {
        cfg_value_error(ctx, node, "must not be empty");
        return -1;
    }
    if (key->kind == CFG_PATH ||
        (key->kind == CFG_LOGDEST && strcmp(text, "off") != 0 &&
         strcmp(text, "stdout") != 0))
        s = resolve_path(ctx, text);
    else
        s = strdup(text);
    if (s == NULL) {
        ctx->oom = true;
        return -1;
    }
    why = key->valid != NULL ? key->valid(s) : NULL;
    if (why != NULL) {
        cfg_value_error(ctx, node, "%s %s", cfg_quote(s, q), why);
        goto fail;
    }
    if ((key->flags & CFG_K_READABLE) &&
        cfg_check_readable(ctx, node, s) == -1)
        goto fail;
    *out = s;
    return 0;

fail:
    free(s);
    return -1;
}

int
cfg_read_addr(struct cfg_ctx *ctx, const struct cfg_key *key,
              yaml_node_t *node, struct cfg_addr *out)
{
    char err[160], q[CFG_QUOTE_MAX];
    struct cfg_addr a = {0};

    if (want_scalar(ctx, node, "an address") == -1)
        return -1;
    if (addr_parse(cfg_scalar(node), &a.sa, &a.salen, err, sizeof(err)) == -1) {
        for (char *c = err; *c != '\0'; c++) {
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = '?';
        }
        cfg_value_error(ctx, node, "%s", err);
        return -1;
    }
    if (key->min > 0 && addr_port((struct sockaddr *)&a.sa) == 0) {
        cfg_value_error(ctx, node, "%s: port 0 is only allowed for listeners",
                        cfg_quote(cfg_scalar(node), q));
        return -1;
    }
    if ((a.text = strdup(cfg_scalar(node))) == NULL) {
        ctx->oom = true;
        return -1;
    }
    free(out->text);
    *out = a;
    return 0;
}
