/* Private to src/config: the shape of the declarative schema tables
 * (config_schema.c) and the loader services they call back (config.c).
 * Nothing outside src/config includes this. */
#ifndef WEIR_CONFIG_SCHEMA_H
#define WEIR_CONFIG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "weir/config/config.h"
#include "weir/util/defs.h"

/* How a value is read and where it is stored (at base + offset). */
enum cfg_kind {
    CFG_STRING,   /* char *; `valid` may refine it */
    CFG_PATH,     /* char *, resolved against the config directory */
    CFG_LOGDEST,  /* char *: "off", "stdout", or a path (resolved) */
    CFG_UINT,     /* unsigned, min..max */
    CFG_BOOL,     /* bool */
    CFG_DURATION, /* uint64_t milliseconds, min..max */
    CFG_ENUM,     /* int, from the names in `enums` */
    CFG_STATUS,   /* "200-399" or "200": unsigned at offset and offset2 */
    CFG_ADDR,     /* struct cfg_addr; min 1 refuses port 0 */
    CFG_STRLIST,  /* char ** at offset, size_t count at offset2 */
    CFG_MAP,      /* nested mapping stored by value at offset */
    CFG_MAP_PTR,  /* nested mapping, allocated, pointer at offset */
    CFG_LIST,     /* sequence of mappings: array at offset, count at offset2,
                     min..max entries */
};

#define CFG_K_REQUIRED   (1u << 0) /* a missing key is an error */
#define CFG_K_NULLABLE   (1u << 1) /* ~ means unset (NULL / text NULL) */
#define CFG_K_READABLE   (1u << 2) /* CFG_PATH: must be a readable file now */
#define CFG_K_CHECK_ONLY (1u << 3) /* validated but not stored */

struct cfg_enum_value {
    const char *name;
    int value;
};

struct cfg_enum {
    const char *noun;                    /* "algorithm", "role" */
    const struct cfg_enum_value *values;
    size_t nvalues;
    const char *const *refused;          /* known but refused names */
    const char *refused_why;             /* "too old" */
};

struct cfg_section;

#define CFG_PATH_MAX 256

struct cfg_diag {
    size_t line, col, seq;
    char *msg;
};

/* One load in progress. */
struct cfg_ctx {
    const char *name;            /* file name for messages */
    const char *basedir;         /* relative paths resolve here; or NULL */
    yaml_document_t *doc;
    struct cfg_diag *diags;
    size_t ndiags, cap;
    bool oom;
    char path[CFG_PATH_MAX];     /* "listeners[1].tls", "" at top level */
    size_t pathlen;
};

/* A string validator: NULL when S is fine, else the reason, phrased to
 * follow the quoted value ("is not a valid name (...)"). */
typedef const char *cfg_valid_fn(const char *s);

/* A section hook, run after its mapping MAP (never NULL) was read into BASE
 * with the loader's path still naming the section. */
typedef void cfg_check_fn(struct cfg_ctx *ctx, void *base, yaml_node_t *map);

struct cfg_key {
    const char *name;
    enum cfg_kind kind;
    unsigned flags;              /* CFG_K_* */
    size_t offset;
    size_t offset2;              /* count of a list; status_max */
    uint64_t min, max;           /* numbers, ms, list entries, ports */
    uint64_t def, def2;          /* numbers, bools, enums; status range */
    const char *sdef;            /* default of a string kind, or NULL */
    cfg_valid_fn *valid;         /* string kinds */
    const struct cfg_enum *enums;
    const struct cfg_section *section; /* CFG_MAP, CFG_MAP_PTR, CFG_LIST */
};

struct cfg_section {
    const struct cfg_key *keys;
    size_t nkeys;                /* at most 64 */
    size_t size;                 /* element size for CFG_MAP_PTR/CFG_LIST */
    cfg_check_fn *check;         /* cross-field checks, or NULL */
};

/* The whole file: keys of struct cfg. */
extern const struct cfg_section cfg_schema_root;

/* Loader services for the hooks and readers (config.c). */

/* Append "FILE:LINE:COL: message" at NODE's start. */
void cfg_error(struct cfg_ctx *ctx, const yaml_node_t *node,
               const char *fmt, ...) WEIR_PRINTF(3, 4);
/* Same, with the current path and ": " before the message. */
void cfg_value_error(struct cfg_ctx *ctx, const yaml_node_t *node,
                     const char *fmt, ...) WEIR_PRINTF(3, 4);
/* The value of KEY in mapping MAP (first occurrence), or NULL. Borrowed. */
yaml_node_t *cfg_map_get(struct cfg_ctx *ctx, yaml_node_t *map,
                         const char *key);
/* Item I of sequence SEQ, or NULL when SEQ is not a sequence that long. */
yaml_node_t *cfg_seq_get(struct cfg_ctx *ctx, yaml_node_t *seq, size_t i);
/* Append ".KEY" (or "[I]" when KEY is NULL) to the message path; returns
 * the old length for cfg_path_pop. */
size_t cfg_path_push(struct cfg_ctx *ctx, const char *key, size_t i);
void cfg_path_pop(struct cfg_ctx *ctx, size_t len);
const char *cfg_path(const struct cfg_ctx *ctx);
/* Error at NODE unless PATH is a readable regular file. Returns 0 or -1. */
int cfg_check_readable(struct cfg_ctx *ctx, const yaml_node_t *node,
                       const char *path);

/* Value readers (config_value.c). Each takes a value NODE (borrowed),
 * reports its own error with the current path and returns -1, or stores the
 * value in *OUT and returns 0. Strings come back newly allocated. */

#define CFG_QUOTE_MAX 72
/* TEXT as a quoted, one-line string cut to fit OUT, for messages. */
const char *cfg_quote(const char *text, char out[CFG_QUOTE_MAX]);
/* The text of a scalar node. */
const char *cfg_scalar(const yaml_node_t *node);
/* A plain "", "~" or "null". */
bool cfg_is_null(const yaml_node_t *node);
/* "a mapping", "a sequence", "null" or the quoted scalar. */
const char *cfg_describe(const yaml_node_t *node, char out[CFG_QUOTE_MAX]);
int cfg_read_uint(struct cfg_ctx *ctx, const struct cfg_key *key,
                  yaml_node_t *node, uint64_t *out);
int cfg_read_duration(struct cfg_ctx *ctx, const struct cfg_key *key,
                      yaml_node_t *node, uint64_t *out);
int cfg_read_bool(struct cfg_ctx *ctx, yaml_node_t *node, bool *out);
int cfg_read_enum(struct cfg_ctx *ctx, const struct cfg_enum *e,
                  yaml_node_t *node, int *out);
int cfg_read_status(struct cfg_ctx *ctx, yaml_node_t *node, unsigned *lo,
                    unsigned *hi);
/* Non-empty; CFG_PATH and CFG_LOGDEST paths resolved; key->valid applied;
 * CFG_K_READABLE checked. */
int cfg_read_string(struct cfg_ctx *ctx, const struct cfg_key *key,
                    yaml_node_t *node, char **out);
/* Replaces OUT (freeing its text) only on success. */
int cfg_read_addr(struct cfg_ctx *ctx, const struct cfg_key *key,
                  yaml_node_t *node, struct cfg_addr *out);

#endif
