/* The configuration loader: YAML text -> one struct cfg, or every error
 * found as "FILE:LINE:COL: message", in file order. It parses with libyaml,
 * walks the document against the tables of config_schema.c, fills, defaults
 * and frees struct cfg by those tables, and collects the diagnostics. What
 * the keys are lives in the tables; one value's syntax in config_value.c. */
#include "weir/config/config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "config_schema.h"

/* A configuration bigger than this is a mistake, not a configuration. */
#define CFG_FILE_MAX (4u << 20)
/* The schema nests 7 levels (listeners[0].tls.certificates[0].cert). */
#define CFG_DEPTH_MAX 32

static void cfg_walk_map(struct cfg_ctx *ctx, const struct cfg_section *sec,
                         void *base, yaml_node_t *map);
static void cfg_section_fini(const struct cfg_section *sec, void *base);

/* Diagnostics */

static void cfg_vdiag(struct cfg_ctx *ctx, yaml_mark_t mark, bool with_path,
                      const char *fmt, va_list ap) WEIR_PRINTF(4, 0);

static void
cfg_vdiag(struct cfg_ctx *ctx, yaml_mark_t mark, bool with_path,
          const char *fmt, va_list ap)
{
    char *body = NULL, *msg = NULL;
    struct cfg_diag *d;

    if (vasprintf(&body, fmt, ap) == -1) {
        body = NULL;
        goto fail;
    }
    if (asprintf(&msg, "%s:%zu:%zu: %s%s%s", ctx->name, mark.line + 1,
                 mark.column + 1, with_path ? ctx->path : "",
                 with_path ? ": " : "", body) == -1) {
        msg = NULL;
        goto fail;
    }
    if (ctx->ndiags == ctx->cap) {
        size_t cap = ctx->cap ? ctx->cap * 2 : 16;
        d = realloc(ctx->diags, cap * sizeof(*d));
        if (d == NULL)
            goto fail;
        ctx->diags = d;
        ctx->cap = cap;
    }
    d = &ctx->diags[ctx->ndiags];
    d->line = mark.line;
    d->col = mark.column;
    d->seq = ctx->ndiags++;
    d->msg = msg;
    free(body);
    return;

fail:
    ctx->oom = true;
    free(body);
    free(msg);
}

void
cfg_error(struct cfg_ctx *ctx, const yaml_node_t *node, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cfg_vdiag(ctx, node->start_mark, false, fmt, ap);
    va_end(ap);
}

void
cfg_value_error(struct cfg_ctx *ctx, const yaml_node_t *node,
                const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cfg_vdiag(ctx, node->start_mark, true, fmt, ap);
    va_end(ap);
}

static void cfg_mark_error(struct cfg_ctx *ctx, yaml_mark_t mark,
                           const char *fmt, ...) WEIR_PRINTF(3, 4);

static void
cfg_mark_error(struct cfg_ctx *ctx, yaml_mark_t mark, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cfg_vdiag(ctx, mark, false, fmt, ap);
    va_end(ap);
}

static int
cfg_diag_cmp(const void *a, const void *b)
{
    const struct cfg_diag *x = a, *y = b;

    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Move the diagnostics, in file order, to ERRS. Returns how many errors
 * there were (out of memory counts as one). */
static size_t
cfg_diag_flush(struct cfg_ctx *ctx, struct cfg_errors *errs)
{
    size_t n = ctx->ndiags + (ctx->oom ? 1 : 0);
    char **msgs;

    if (ctx->ndiags > 0)
        qsort(ctx->diags, ctx->ndiags, sizeof(*ctx->diags), cfg_diag_cmp);
    msgs = n ? realloc(errs->msgs, (errs->n + n) * sizeof(*msgs)) : NULL;
    for (size_t i = 0; i < ctx->ndiags; i++) {
        if (msgs != NULL)
            msgs[errs->n++] = ctx->diags[i].msg;
        else
            free(ctx->diags[i].msg);
    }
    if (msgs != NULL) {
        errs->msgs = msgs;
        if (ctx->oom && asprintf(&msgs[errs->n], "%s: out of memory",
                                 ctx->name) != -1)
            errs->n++;
    }
    free(ctx->diags);
    ctx->diags = NULL;
    ctx->ndiags = ctx->cap = 0;
    return n;
}

/* Paths and nodes */

size_t
cfg_path_push(struct cfg_ctx *ctx, const char *key, size_t i)
{
    size_t old = ctx->pathlen, room = sizeof(ctx->path) - old;
    int n;

    if (key == NULL)
        n = snprintf(ctx->path + old, room, "[%zu]", i);
    else
        n = snprintf(ctx->path + old, room, "%s%s", old ? "." : "", key);
    ctx->pathlen = n < 0 ? old : MIN(old + (size_t)n, sizeof(ctx->path) - 1);
    return old;
}

void
cfg_path_pop(struct cfg_ctx *ctx, size_t len)
{
    ctx->pathlen = len;
    ctx->path[len] = '\0';
}

const char *
cfg_path(const struct cfg_ctx *ctx)
{
    return ctx->path;
}

static yaml_node_t *
cfg_node(struct cfg_ctx *ctx, int index)
{
    return yaml_document_get_node(ctx->doc, index);
}

yaml_node_t *
cfg_map_get(struct cfg_ctx *ctx, yaml_node_t *map, const char *key)
{
    yaml_node_pair_t *pair;

    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = cfg_node(ctx, pair->key);
        if (k != NULL && k->type == YAML_SCALAR_NODE &&
            strcmp(cfg_scalar(k), key) == 0)
            return cfg_node(ctx, pair->value);
    }
    return NULL;
}

yaml_node_t *
cfg_seq_get(struct cfg_ctx *ctx, yaml_node_t *seq, size_t i)
{
    if (seq == NULL || seq->type != YAML_SEQUENCE_NODE ||
        i >= (size_t)(seq->data.sequence.items.top -
                      seq->data.sequence.items.start))
        return NULL;
    return cfg_node(ctx, seq->data.sequence.items.start[i]);
}

/* Object pointers are stored through memcpy: the field's real type
 * (struct cfg_listener *, char **, ...) is not void *. */
static void *
get_ptr(const void *field)
{
    void *p;

    memcpy(&p, field, sizeof(p));
    return p;
}

static void
set_ptr(void *field, const void *p)
{
    memcpy(field, &p, sizeof(p));
}

static void
set_int(void *field, int v)
{
    memcpy(field, &v, sizeof(v));
}

/* Entry count of a sequence against the key's min..max. */
static int
check_count(struct cfg_ctx *ctx, const struct cfg_key *key, yaml_node_t *node,
            size_t n)
{
    if (n < key->min) {
        cfg_value_error(ctx, node, "must have at least %llu entr%s",
                        (unsigned long long)key->min,
                        key->min == 1 ? "y" : "ies");
        return -1;
    }
    if (n > key->max) {
        cfg_value_error(ctx, node, "must have at most %llu entries, got %zu",
                        (unsigned long long)key->max, n);
        return -1;
    }
    return 0;
}

static size_t
seq_len(const yaml_node_t *node)
{
    return (size_t)(node->data.sequence.items.top -
                    node->data.sequence.items.start);
}

static int
want_seq(struct cfg_ctx *ctx, const struct cfg_key *key, yaml_node_t *node)
{
    char q[CFG_QUOTE_MAX];

    if (node->type != YAML_SEQUENCE_NODE) {
        cfg_value_error(ctx, node, "expected a sequence, got %s",
                        cfg_describe(node, q));
        return -1;
    }
    return check_count(ctx, key, node, seq_len(node));
}

static void
cfg_key_fini(const struct cfg_key *key, void *base)
{
    char *field = (char *)base + key->offset;
    size_t *count = (size_t *)(void *)((char *)base + key->offset2);
    char *items = NULL;

    switch (key->kind) {
    case CFG_STRING:
    case CFG_PATH:
    case CFG_LOGDEST:
        free(get_ptr(field));
        set_ptr(field, NULL);
        break;
    case CFG_ADDR:
        free(((struct cfg_addr *)(void *)field)->text);
        memset(field, 0, sizeof(struct cfg_addr));
        break;
    case CFG_STRLIST:
        items = get_ptr(field);
        for (size_t i = 0; i < *count; i++)
            free(((char **)(void *)items)[i]);
        goto free_items;
    case CFG_MAP:
        cfg_section_fini(key->section, field);
        break;
    case CFG_MAP_PTR:
        if ((items = get_ptr(field)) != NULL)
            cfg_section_fini(key->section, items);
        free(items);
        set_ptr(field, NULL);
        break;
    case CFG_LIST:
        items = get_ptr(field);
        for (size_t i = 0; i < *count; i++)
            cfg_section_fini(key->section, items + i * key->section->size);
        goto free_items;
    default:
        break;
    }
    return;

free_items:
    free(items);
    set_ptr(field, NULL);
    *count = 0;
}

static void
cfg_section_fini(const struct cfg_section *sec, void *base)
{
    for (size_t i = 0; i < sec->nkeys; i++)
        cfg_key_fini(&sec->keys[i], base);
}

static void
cfg_section_defaults(struct cfg_ctx *ctx, const struct cfg_section *sec,
                     void *base)
{
    for (size_t i = 0; i < sec->nkeys; i++) {
        const struct cfg_key *key = &sec->keys[i];
        char *field = (char *)base + key->offset;
        unsigned u = (unsigned)key->def, u2 = (unsigned)key->def2;
        bool b = key->def != 0;
        char *s;

        switch (key->kind) {
        case CFG_UINT:
            memcpy(field, &u, sizeof(u));
            break;
        case CFG_STATUS:
            memcpy(field, &u, sizeof(u));
            memcpy((char *)base + key->offset2, &u2, sizeof(u2));
            break;
        case CFG_BOOL:
            memcpy(field, &b, sizeof(b));
            break;
        case CFG_DURATION:
            memcpy(field, &key->def, sizeof(key->def));
            break;
        case CFG_ENUM:
            if (!(key->flags & CFG_K_CHECK_ONLY))
                set_int(field, (int)key->def);
            break;
        case CFG_STRING:
        case CFG_PATH:
        case CFG_LOGDEST:
            if (key->sdef == NULL)
                break;
            if ((s = strdup(key->sdef)) == NULL)
                ctx->oom = true;
            free(get_ptr(field));
            set_ptr(field, s);
            break;
        case CFG_MAP:
            cfg_section_defaults(ctx, key->section, field);
            break;
        default:
            break;
        }
    }
}

static void
read_strlist(struct cfg_ctx *ctx, const struct cfg_key *key, void *base,
             yaml_node_t *node)
{
    char *field = (char *)base + key->offset;
    size_t n, *count = (size_t *)(void *)((char *)base + key->offset2);
    char **items;

    if (want_seq(ctx, key, node) == -1 || (n = seq_len(node)) == 0)
        return;
    if ((items = calloc(n, sizeof(*items))) == NULL) {
        ctx->oom = true;
        return;
    }
    cfg_key_fini(key, base);
    set_ptr(field, items);
    *count = n;
    for (size_t i = 0; i < n; i++) {
        size_t old = cfg_path_push(ctx, NULL, i);
        cfg_read_string(ctx, key, cfg_seq_get(ctx, node, i), &items[i]);
        cfg_path_pop(ctx, old);
    }
}

static void
read_list(struct cfg_ctx *ctx, const struct cfg_key *key, void *base,
          yaml_node_t *node)
{
    const struct cfg_section *sec = key->section;
    char *field = (char *)base + key->offset, *items, q[CFG_QUOTE_MAX];
    size_t n, *count = (size_t *)(void *)((char *)base + key->offset2);

    if (want_seq(ctx, key, node) == -1 || (n = seq_len(node)) == 0)
        return;
    if ((items = calloc(n, sec->size)) == NULL) {
        ctx->oom = true;
        return;
    }
    cfg_key_fini(key, base);
    set_ptr(field, items);
    *count = n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = cfg_seq_get(ctx, node, i);
        size_t old = cfg_path_push(ctx, NULL, i);

        cfg_section_defaults(ctx, sec, items + i * sec->size);
        if (item->type == YAML_MAPPING_NODE)
            cfg_walk_map(ctx, sec, items + i * sec->size, item);
        else
            cfg_value_error(ctx, item, "expected a mapping, got %s",
                            cfg_describe(item, q));
        cfg_path_pop(ctx, old);
    }
}

static void
read_map(struct cfg_ctx *ctx, const struct cfg_key *key, void *base,
         yaml_node_t *node)
{
    char *field = (char *)base + key->offset, *obj, q[CFG_QUOTE_MAX];

    /* An empty "timeouts:" (null) keeps every default. */
    if (key->kind == CFG_MAP && cfg_is_null(node))
        return;
    if (node->type != YAML_MAPPING_NODE) {
        cfg_value_error(ctx, node, "expected a mapping, got %s",
                        cfg_describe(node, q));
        return;
    }
    if (key->kind == CFG_MAP) {
        cfg_walk_map(ctx, key->section, field, node);
        return;
    }
    if ((obj = calloc(1, key->section->size)) == NULL) {
        ctx->oom = true;
        return;
    }
    cfg_key_fini(key, base);
    set_ptr(field, obj);
    cfg_section_defaults(ctx, key->section, obj);
    cfg_walk_map(ctx, key->section, obj, node);
}

/* Read NODE as KEY's value into BASE; errors are collected, never fatal. */
static void
cfg_set(struct cfg_ctx *ctx, const struct cfg_key *key, void *base,
        yaml_node_t *node)
{
    char *field = (char *)base + key->offset, *s;
    uint64_t v;
    unsigned u, u2;
    bool b;
    int e;

    if ((key->flags & CFG_K_NULLABLE) && cfg_is_null(node)) {
        cfg_key_fini(key, base);
        return;
    }
    switch (key->kind) {
    case CFG_STRING:
    case CFG_PATH:
    case CFG_LOGDEST:
        if (cfg_read_string(ctx, key, node, &s) == 0) {
            free(get_ptr(field));
            set_ptr(field, s);
        }
        break;
    case CFG_UINT:
        if (cfg_read_uint(ctx, key, node, &v) == 0) {
            u = (unsigned)v;
            memcpy(field, &u, sizeof(u));
        }
        break;
    case CFG_BOOL:
        if (cfg_read_bool(ctx, node, &b) == 0)
            memcpy(field, &b, sizeof(b));
        break;
    case CFG_DURATION:
        if (cfg_read_duration(ctx, key, node, &v) == 0)
            memcpy(field, &v, sizeof(v));
        break;
    case CFG_ENUM:
        if (cfg_read_enum(ctx, key->enums, node, &e) == 0 &&
            !(key->flags & CFG_K_CHECK_ONLY))
            set_int(field, e);
        break;
    case CFG_STATUS:
        if (cfg_read_status(ctx, node, &u, &u2) == 0) {
            memcpy(field, &u, sizeof(u));
            memcpy((char *)base + key->offset2, &u2, sizeof(u2));
        }
        break;
    case CFG_ADDR:
        cfg_read_addr(ctx, key, node, (struct cfg_addr *)(void *)field);
        break;
    case CFG_STRLIST:
        read_strlist(ctx, key, base, node);
        break;
    case CFG_LIST:
        read_list(ctx, key, base, node);
        break;
    case CFG_MAP:
    case CFG_MAP_PTR:
        read_map(ctx, key, base, node);
        break;
    }
}

static const struct cfg_key *
find_key(const struct cfg_section *sec, const char *name, size_t *index)
{
    for (size_t i = 0; i < sec->nkeys; i++) {
        if (strcmp(sec->keys[i].name, name) == 0) {
            *index = i;
            return &sec->keys[i];
        }
    }
    return NULL;
}

/* Read mapping MAP into BASE following SEC: unknown, duplicate and missing
 * keys are errors; every known key goes through cfg_set. */
static void
cfg_walk_map(struct cfg_ctx *ctx, const struct cfg_section *sec, void *base,
             yaml_node_t *map)
{
    char where[CFG_PATH_MAX + 8], q[CFG_QUOTE_MAX];
    uint64_t seen = 0;
    yaml_node_pair_t *pair;

    if (ctx->pathlen > 0)
        snprintf(where, sizeof(where), "in %s", ctx->path);
    else
        snprintf(where, sizeof(where), "at top level");
    for (pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = cfg_node(ctx, pair->key);
        yaml_node_t *v = cfg_node(ctx, pair->value);
        const struct cfg_key *key;
        size_t i, old;

        if (k->type != YAML_SCALAR_NODE) {
            cfg_error(ctx, k, "expected a key %s, got %s", where,
                      cfg_describe(k, q));
            continue;
        }
        /* A key with a "\0" escape must not match its prefix. */
        if (strlen(cfg_scalar(k)) != k->data.scalar.length ||
            (key = find_key(sec, cfg_scalar(k), &i)) == NULL) {
            cfg_error(ctx, k, "unknown key %s %s",
                      cfg_quote(cfg_scalar(k), q), where);
            continue;
        }
        if (seen & (UINT64_C(1) << i)) {
            cfg_error(ctx, k, "duplicate key %s %s",
                      cfg_quote(cfg_scalar(k), q), where);
            continue;
        }
        seen |= UINT64_C(1) << i;
        old = cfg_path_push(ctx, key->name, 0);
        cfg_set(ctx, key, base, v);
        cfg_path_pop(ctx, old);
    }
    for (size_t i = 0; i < sec->nkeys; i++) {
        if ((sec->keys[i].flags & CFG_K_REQUIRED) &&
            !(seen & (UINT64_C(1) << i)))
            cfg_error(ctx, map, "missing required key \"%s\" %s",
                      sec->keys[i].name, where);
    }
    if (sec->check != NULL)
        sec->check(ctx, base, map);
}

/* Parsing */

/* libyaml reports reader errors as a byte offset: turn it into a mark
 * counting characters, as its other marks do. */
static yaml_mark_t
offset_mark(const unsigned char *text, size_t len, size_t offset)
{
    yaml_mark_t mark = {0};

    for (size_t i = 0; i < offset && i < len; i++) {
        if (text[i] == '\n') {
            mark.line++;
            mark.column = 0;
        } else if ((text[i] & 0xc0) != 0x80) {
            mark.column++;
        }
    }
    return mark;
}

static void
yaml_problem(struct cfg_ctx *ctx, const yaml_parser_t *p,
             const unsigned char *text, size_t len)
{
    const char *problem = p->problem != NULL ? p->problem : "unknown error";

    if (p->error == YAML_MEMORY_ERROR)
        ctx->oom = true;
    else if (p->error == YAML_READER_ERROR)
        cfg_mark_error(ctx, offset_mark(text, len, p->problem_offset),
                       "syntax error: %s", problem);
    else if (p->error == YAML_COMPOSER_ERROR && p->context != NULL)
        cfg_mark_error(ctx, p->problem_mark,
                       "syntax error: %s at line %zu, column %zu; %s here",
                       p->context, p->context_mark.line + 1,
                       p->context_mark.column + 1, problem);
    else if (p->context != NULL)
        cfg_mark_error(ctx, p->problem_mark,
                       "syntax error: %s (%s at line %zu, column %zu)",
                       problem, p->context, p->context_mark.line + 1,
                       p->context_mark.column + 1);
    else
        cfg_mark_error(ctx, p->problem_mark, "syntax error: %s", problem);
}

/* An event pass before loading: libyaml's loader would expand aliases
 * (exponentially, or into a cycle), so they are refused here, with their
 * position, as are extra documents and nesting deeper than any schema
 * needs (libyaml's time grows with the square of the depth). */
static int
cfg_prescan(struct cfg_ctx *ctx, const unsigned char *text, size_t len)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    int docs = 0, rc = 0, depth = 0;
    bool done = false;

    if (!yaml_parser_initialize(&parser)) {
        ctx->oom = true;
        return -1;
    }
    yaml_parser_set_input_string(&parser, text, len);
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            yaml_problem(ctx, &parser, text, len);
            rc = -1;
            break;
        }
        if (ev.type == YAML_ALIAS_EVENT) {
            cfg_mark_error(ctx, ev.start_mark, "YAML aliases are not "
                           "supported (write the value out in full)");
            rc = -1;
        } else if (ev.type == YAML_DOCUMENT_START_EVENT && ++docs == 2) {
            cfg_mark_error(ctx, ev.start_mark,
                           "only one YAML document is allowed");
            rc = -1;
        } else if (ev.type == YAML_SEQUENCE_START_EVENT ||
                   ev.type == YAML_MAPPING_START_EVENT) {
            if (++depth > CFG_DEPTH_MAX) {
                cfg_mark_error(ctx, ev.start_mark, "nesting deeper than %d "
                               "levels", CFG_DEPTH_MAX);
                rc = -1;
                done = true;
            }
        } else if (ev.type == YAML_SEQUENCE_END_EVENT ||
                   ev.type == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        done = done || ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return rc;
}

static int
cfg_parse(struct cfg_ctx *ctx, const unsigned char *text, size_t len,
          yaml_document_t *doc)
{
    yaml_parser_t parser;
    int ok;

    if (!yaml_parser_initialize(&parser)) {
        ctx->oom = true;
        return -1;
    }
    yaml_parser_set_input_string(&parser, text, len);
    ok = yaml_parser_load(&parser, doc);
    if (!ok)
        yaml_problem(ctx, &parser, text, len);
    yaml_parser_delete(&parser);
    return ok ? 0 : -1;
}

struct cfg *
cfg_load_string(const char *name, const char *yaml, size_t len,
                const char *basedir, struct cfg_errors *errs)
{
    struct cfg_ctx ctx = {.name = name != NULL ? name : "<config>",
                          .basedir = basedir};
    const unsigned char *text = (const unsigned char *)yaml;
    struct cfg_errors scratch = {0};
    struct cfg *cfg = NULL;
    yaml_document_t doc;
    yaml_node_t *root;
    char q[CFG_QUOTE_MAX];

    if (errs == NULL)
        errs = &scratch;
    if (cfg_prescan(&ctx, text, len) == -1 ||
        cfg_parse(&ctx, text, len, &doc) == -1)
        goto out;
    ctx.doc = &doc;
    if ((cfg = calloc(1, sizeof(*cfg))) == NULL ||
        (cfg->path = strdup(ctx.name)) == NULL) {
        ctx.oom = true;
        goto out_doc;
    }
    cfg_section_defaults(&ctx, &cfg_schema_root, cfg);
    root = yaml_document_get_root_node(&doc);
    if (root == NULL)
        cfg_mark_error(&ctx, (yaml_mark_t){0}, "the configuration is empty");
    else if (root->type != YAML_MAPPING_NODE)
        cfg_error(&ctx, root, "expected a mapping at top level, got %s",
                  cfg_describe(root, q));
    else
        cfg_walk_map(&ctx, &cfg_schema_root, cfg, root);

out_doc:
    yaml_document_delete(&doc);
out:
    if (cfg_diag_flush(&ctx, errs) > 0) {
        cfg_free(cfg);
        cfg = NULL;
    }
    cfg_errors_fini(&scratch);
    return cfg;
}

void
cfg_errors_add(struct cfg_errors *errs, const char *fmt, ...)
{
    char **msgs;
    va_list ap;

    if (errs == NULL ||
        (msgs = realloc(errs->msgs, (errs->n + 1) * sizeof(*msgs))) == NULL)
        return;
    errs->msgs = msgs;
    va_start(ap, fmt);
    if (vasprintf(&msgs[errs->n], fmt, ap) != -1)
        errs->n++;
    va_end(ap);
}

/* The whole file into a new buffer, up to CFG_FILE_MAX bytes. */
static char *
read_file(const char *path, size_t *lenp, struct cfg_errors *errs)
{
    char *buf = NULL, ebuf[128];
    size_t len = 0;
    ssize_t n;
    int fd;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
        goto fail;
    if ((buf = malloc(CFG_FILE_MAX + 1)) == NULL)
        goto fail;
    while (len <= CFG_FILE_MAX) {
        n = read(fd, buf + len, CFG_FILE_MAX + 1 - len);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1)
            goto fail;
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (len > CFG_FILE_MAX) {
        cfg_errors_add(errs, "%s: file is larger than %u bytes", path,
                       CFG_FILE_MAX);
        free(buf);
        return NULL;
    }
    *lenp = len;
    return buf;

fail:
    cfg_errors_add(errs, "%s: cannot read: %s", path,
                   strerror_r(errno, ebuf, sizeof(ebuf)));
    if (fd != -1)
        close(fd);
    free(buf);
    return NULL;
}

struct cfg *
cfg_load(const char *path, struct cfg_errors *errs)
{
    char *text, *copy = NULL, *dir, *basedir = NULL;
    struct cfg *cfg = NULL;
    size_t len;

    if ((text = read_file(path, &len, errs)) == NULL)
        return NULL;
    if ((copy = strdup(path)) == NULL) {
        cfg_errors_add(errs, "%s: out of memory", path);
        goto out;
    }
    dir = dirname(copy);
    /* Absolute, so a later chdir cannot change what the paths mean. */
    basedir = realpath(dir, NULL);
    cfg = cfg_load_string(path, text, len, basedir != NULL ? basedir : dir,
                          errs);

out:
    free(basedir);
    free(copy);
    free(text);
    return cfg;
}

void
cfg_free(struct cfg *cfg)
{
    if (cfg == NULL)
        return;
    cfg_section_fini(&cfg_schema_root, cfg);
    free(cfg->path);
    free(cfg);
}

void
cfg_errors_fini(struct cfg_errors *errs)
{
    if (errs == NULL)
        return;
    for (size_t i = 0; i < errs->n; i++)
        free(errs->msgs[i]);
    free(errs->msgs);
    errs->msgs = NULL;
    errs->n = 0;
}

const struct cfg_backend *
cfg_backend_find(const struct cfg *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nbackends; i++) {
        if (cfg->backends[i].name != NULL &&
            strcmp(cfg->backends[i].name, name) == 0)
            return &cfg->backends[i];
    }
    return NULL;
}
