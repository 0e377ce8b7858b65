/* Strict, bounded JSON reader: parses one JSON text into a read-only tree
 * and answers lookups on it. Three allocations per document (values,
 * decoded strings, a scratch list for the duplicate-key check); recursion
 * never goes deeper than JSON_MAX_DEPTH. Non-integer numbers are only
 * carried as their text. The writer lives in json.c. */
#include "weir/util/json.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir/util/defs.h"

#define NONE SIZE_MAX            /* no node index */
#define NUMBER_TEXT_MAX 63       /* longest non-integer number literal */

struct json_value {
    enum json_type type;
    bool is_int;                 /* JSON_NUMBER without fraction/exponent */
    bool is_negative;
    bool boolean;
    const char *key;             /* member name when the parent is an object */
    size_t key_len;
    const char *str;             /* decoded string, or the text of a
                                  * non-integer number */
    size_t str_len;
    uint64_t magnitude;          /* integer: absolute value */
    size_t count;                /* children of an array/object */
    size_t child_i, next_i;      /* indices while parsing (nodes move) */
    struct json_value *child;    /* set once parsing is over */
    struct json_value *next;
};

struct json_doc {
    struct json_value *nodes;
    size_t n;
    char *pool;                  /* decoded strings and number texts */
};

struct key_ref {
    const char *key;
    size_t len;
};

struct parser {
    const char *start, *p, *end;
    struct json_value *nodes;
    size_t n, cap, max;
    char *pool;
    size_t pool_used, pool_cap;
    struct key_ref *keys;        /* scratch for the duplicate-key check */
    size_t keys_cap;
    char *err;
    size_t errlen;
    bool failed;
};

static void p_error(struct parser *ps, const char *fmt, ...) WEIR_PRINTF(2, 3);

/* Record the first error, with the byte offset where it was found. */
static void
p_error(struct parser *ps, const char *fmt, ...)
{
    if (ps->failed)
        return;
    ps->failed = true;
    if (ps->err == NULL || ps->errlen == 0)
        return;
    int n = snprintf(ps->err, ps->errlen, "at byte %zu: ",
                     (size_t)(ps->p - ps->start));
    if (n < 0 || (size_t)n >= ps->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static void
skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'
                               || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static size_t
new_node(struct parser *ps, enum json_type type)
{
    if (ps->n == ps->max) {
        p_error(ps, "more than %zu values", ps->max);
        return NONE;
    }
    if (ps->n == ps->cap) {
        size_t cap = ps->cap == 0 ? 16 : ps->cap * 2;
        if (cap > ps->max)
            cap = ps->max;
        struct json_value *nodes = realloc(ps->nodes, cap * sizeof(*nodes));
        if (nodes == NULL) {
            p_error(ps, "out of memory");
            return NONE;
        }
        ps->nodes = nodes;
        ps->cap = cap;
    }
    struct json_value *v = &ps->nodes[ps->n];
    memset(v, 0, sizeof(*v));
    v->type = type;
    v->child_i = v->next_i = NONE;
    return ps->n++;
}

/* Describe the byte at the cursor for an error message. */
static const char *
p_what(const struct parser *ps, char *out, size_t outlen)
{
    if (ps->p == ps->end)
        return "end of input";
    unsigned char c = (unsigned char)*ps->p;
    if (c > 0x20 && c < 0x7f)
        snprintf(out, outlen, "'%c'", c);
    else
        snprintf(out, outlen, "byte 0x%02x", (unsigned)c);
    return out;
}

static void
p_unexpected(struct parser *ps, const char *wanted)
{
    char what[16];
    p_error(ps, "expected %s, found %s", wanted,
            p_what(ps, what, sizeof(what)));
}

static int
hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t
utf8_encode(unsigned cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* After "\u" at the cursor: the code point, combining a surrogate pair.
 * Advances past the escape(s). -1 on a bad or lone surrogate. */
static int
p_unicode_escape(struct parser *ps, unsigned *cp)
{
    unsigned hi, lo;

    if (ps->end - ps->p < 4 || hex4(ps->p, &hi) == -1) {
        p_error(ps, "bad \\u escape: four hex digits needed");
        return -1;
    }
    if (hi >= 0xdc00 && hi <= 0xdfff) {
        p_error(ps, "lone low surrogate \\u%04x", hi);
        return -1;
    }
    if (hi < 0xd800 || hi > 0xdbff) {
        ps->p += 4;
        *cp = hi;
        return 0;
    }
    if (ps->end - ps->p < 10 || ps->p[4] != '\\' || ps->p[5] != 'u'
        || hex4(ps->p + 6, &lo) == -1 || lo < 0xdc00 || lo > 0xdfff) {
        p_error(ps, "high surrogate \\u%04x not followed by a low one", hi);
        return -1;
    }
    ps->p += 10;
    *cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
    return 0;
}

/* Decode the string at the cursor (on its '"') into the pool. The pool was
 * sized so that it cannot overflow: decoded text is never longer than its
 * JSON form, and the closing quote pays for the NUL. */
static int
p_string(struct parser *ps, const char **out, size_t *outlen)
{
    char *dst = ps->pool + ps->pool_used;
    size_t n = 0;

    ps->p++;
    for (;;) {
        if (ps->p == ps->end) {
            p_error(ps, "unterminated string");
            return -1;
        }
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"')
            break;
        if (c < 0x20) {
            p_error(ps, "raw control character 0x%02x in a string", c);
            return -1;
        }
        if (c >= 0x80) {
            size_t len = json_utf8_len(ps->p, (size_t)(ps->end - ps->p));
            if (len == 0) {
                p_error(ps, "invalid UTF-8 in a string");
                return -1;
            }
            memcpy(dst + n, ps->p, len);
            n += len;
            ps->p += len;
            continue;
        }
        ps->p++;
        if (c != '\\') {
            dst[n++] = (char)c;
            continue;
        }
        static const char escapes[] = "\"\\/bfnrt";
        static const char decoded[] = "\"\\/\b\f\n\r\t";
        char e = ps->p < ps->end ? *ps->p : '\0';
        const char *simple = strchr(escapes, e);
        if (e != '\0' && simple != NULL) {
            dst[n++] = decoded[simple - escapes];
            ps->p++;
        } else if (e == 'u') {
            unsigned cp;
            ps->p++;
            if (p_unicode_escape(ps, &cp) == -1)
                return -1;
            n += utf8_encode(cp, dst + n);
        } else {
            p_error(ps, "bad escape in a string");
            return -1;
        }
    }
    ps->p++;
    dst[n] = '\0';
    ps->pool_used += n + 1;
    *out = dst;
    *outlen = n;
    return 0;
}

static size_t
p_digits(struct parser *ps)
{
    const char *s = ps->p;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
        ps->p++;
    return (size_t)(ps->p - s);
}

static size_t
p_number(struct parser *ps)
{
    const char *s = ps->p;
    bool negative = false, overflow = false, is_int = true;
    uint64_t mag = 0;

    if (*ps->p == '-') {
        negative = true;
        ps->p++;
    }
    const char *digits = ps->p;
    if (p_digits(ps) == 0) {
        p_unexpected(ps, "a digit");
        return NONE;
    }
    if (*digits == '0' && ps->p - digits > 1) {
        ps->p = digits;
        p_error(ps, "number with a leading zero");
        return NONE;
    }
    for (const char *d = digits; d < ps->p; d++) {
        unsigned digit = (unsigned)(*d - '0');
        if (mag > (UINT64_MAX - digit) / 10)
            overflow = true;
        mag = mag * 10 + digit;
    }
    if (ps->p < ps->end && *ps->p == '.') {
        is_int = false;
        ps->p++;
        if (p_digits(ps) == 0) {
            p_unexpected(ps, "a digit after '.'");
            return NONE;
        }
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        is_int = false;
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        if (p_digits(ps) == 0) {
            p_unexpected(ps, "a digit in the exponent");
            return NONE;
        }
    }
    size_t len = (size_t)(ps->p - s);
    const char *here = ps->p;
    ps->p = s;                   /* errors point at the number's start */
    if (is_int && (overflow || (negative && mag > (UINT64_C(1) << 63)))) {
        p_error(ps, "integer out of range");
        return NONE;
    }
    if (!is_int && len > NUMBER_TEXT_MAX) {
        p_error(ps, "number longer than %d bytes", NUMBER_TEXT_MAX);
        return NONE;
    }
    size_t i = new_node(ps, JSON_NUMBER);
    if (i == NONE)
        return NONE;
    ps->p = here;
    struct json_value *v = &ps->nodes[i];
    v->is_int = is_int;
    v->is_negative = negative;
    if (is_int) {
        v->magnitude = mag;
        return i;
    }
    /* The byte after a number (separator or end) pays for the NUL. */
    char *t = ps->pool + ps->pool_used;
    memcpy(t, s, len);
    t[len] = '\0';
    ps->pool_used += len + 1;
    v->str = t;
    v->str_len = len;
    return i;
}

static size_t
p_literal(struct parser *ps)
{
    static const struct {
        const char *text;
        enum json_type type;
        bool boolean;
    } lits[] = {
        {"true", JSON_BOOL, true},
        {"false", JSON_BOOL, false},
        {"null", JSON_NULL, false},
    };
    size_t avail = (size_t)(ps->end - ps->p);

    for (size_t k = 0; k < sizeof(lits) / sizeof(lits[0]); k++) {
        size_t len = strlen(lits[k].text);
        if (avail >= len && memcmp(ps->p, lits[k].text, len) == 0) {
            size_t i = new_node(ps, lits[k].type);
            if (i != NONE) {
                ps->nodes[i].boolean = lits[k].boolean;
                ps->p += len;
            }
            return i;
        }
    }
    p_unexpected(ps, "a value");
    return NONE;
}

static size_t p_value(struct parser *ps, unsigned depth);

static int
key_ref_cmp(const void *a, const void *b)
{
    const struct key_ref *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    if (c != 0)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Reject an object whose members repeat a name: sorting the names keeps
 * this O(n log n) however large the object. */
static int
p_check_duplicates(struct parser *ps, size_t obj)
{
    size_t count = ps->nodes[obj].count;
    if (count < 2)
        return 0;
    if (count > ps->keys_cap) {
        struct key_ref *k = realloc(ps->keys, count * sizeof(*k));
        if (k == NULL) {
            p_error(ps, "out of memory");
            return -1;
        }
        ps->keys = k;
        ps->keys_cap = count;
    }
    size_t j = 0;
    for (size_t c = ps->nodes[obj].child_i; c != NONE; c = ps->nodes[c].next_i)
        ps->keys[j++] = (struct key_ref){ps->nodes[c].key,
                                         ps->nodes[c].key_len};
    qsort(ps->keys, count, sizeof(*ps->keys), key_ref_cmp);
    for (j = 1; j < count; j++) {
        if (key_ref_cmp(&ps->keys[j - 1], &ps->keys[j]) == 0) {
            p_error(ps, "duplicate key \"%.*s\"",
                    (int)(ps->keys[j].len > 64 ? 64 : ps->keys[j].len),
                    ps->keys[j].key);
            return -1;
        }
    }
    return 0;
}

/* An array or object at the cursor (on its '[' or '{'). */
static size_t
p_container(struct parser *ps, unsigned depth, bool object)
{
    char close = object ? '}' : ']';
    size_t last = NONE;

    if (depth >= JSON_MAX_DEPTH) {
        p_error(ps, "nesting deeper than %d", JSON_MAX_DEPTH);
        return NONE;
    }
    size_t i = new_node(ps, object ? JSON_OBJECT : JSON_ARRAY);
    if (i == NONE)
        return NONE;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return i;
    }
    for (;;) {
        const char *key = NULL;
        size_t key_len = 0;
        if (object) {
            skip_ws(ps);
            if (ps->p == ps->end || *ps->p != '"') {
                p_unexpected(ps, "a string key");
                return NONE;
            }
            if (p_string(ps, &key, &key_len) == -1)
                return NONE;
            skip_ws(ps);
            if (ps->p == ps->end || *ps->p != ':') {
                p_unexpected(ps, "':'");
                return NONE;
            }
            ps->p++;
        }
        size_t c = p_value(ps, depth + 1);
        if (c == NONE)
            return NONE;
        ps->nodes[c].key = key;
        ps->nodes[c].key_len = key_len;
        if (last == NONE)
            ps->nodes[i].child_i = c;
        else
            ps->nodes[last].next_i = c;
        last = c;
        ps->nodes[i].count++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close)
            break;
        p_unexpected(ps, object ? "',' or '}'" : "',' or ']'");
        return NONE;
    }
    if (object && p_check_duplicates(ps, i) == -1)
        return NONE;
    ps->p++;
    return i;
}

/* One value at the cursor; DEPTH is the number of enclosing containers.
 * Returns its node index, or NONE with the error recorded. */
static size_t
p_value(struct parser *ps, unsigned depth)
{
    skip_ws(ps);
    if (ps->p == ps->end) {
        p_error(ps, "unexpected end of input");
        return NONE;
    }
    char c = *ps->p;
    if (c == '{' || c == '[')
        return p_container(ps, depth, c == '{');
    if (c == '"') {
        const char *s;
        size_t len;
        if (p_string(ps, &s, &len) == -1)
            return NONE;
        size_t i = new_node(ps, JSON_STRING);
        if (i != NONE) {
            ps->nodes[i].str = s;
            ps->nodes[i].str_len = len;
        }
        return i;
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return p_number(ps);
    return p_literal(ps);
}

struct json_doc *
json_parse(const char *text, size_t len, size_t max_values, char *err,
           size_t errlen)
{
    struct parser ps = {
        .start = text, .p = text, .end = text + len, .max = max_values,
        .err = err, .errlen = errlen,
    };
    struct json_doc *doc = NULL;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (len == SIZE_MAX) {
        p_error(&ps, "input too large");
        return NULL;
    }
    ps.pool_cap = len + 1;
    ps.pool = malloc(ps.pool_cap);
    if (ps.pool == NULL) {
        p_error(&ps, "out of memory");
        goto fail;
    }
    if (p_value(&ps, 0) == NONE)
        goto fail;
    skip_ws(&ps);
    if (ps.p != ps.end) {
        p_error(&ps, "unexpected bytes after the JSON value");
        goto fail;
    }
    doc = malloc(sizeof(*doc));
    if (doc == NULL) {
        p_error(&ps, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < ps.n; i++) {
        struct json_value *v = &ps.nodes[i];
        v->child = v->child_i == NONE ? NULL : &ps.nodes[v->child_i];
        v->next = v->next_i == NONE ? NULL : &ps.nodes[v->next_i];
    }
    doc->nodes = ps.nodes;
    doc->n = ps.n;
    doc->pool = ps.pool;
    free(ps.keys);
    return doc;

fail:
    free(ps.keys);
    free(ps.nodes);
    free(ps.pool);
    return NULL;
}

void
json_doc_free(struct json_doc *doc)
{
    if (doc == NULL)
        return;
    free(doc->nodes);
    free(doc->pool);
    free(doc);
}

const struct json_value *
json_root(const struct json_doc *doc)
{
    return &doc->nodes[0];
}

enum json_type
json_type(const struct json_value *v)
{
    return v == NULL ? JSON_NULL : v->type;
}

const struct json_value *
json_get(const struct json_value *obj, const char *key)
{
    if (obj == NULL || obj->type != JSON_OBJECT)
        return NULL;
    size_t len = strlen(key);
    for (const struct json_value *c = obj->child; c != NULL; c = c->next)
        if (c->key_len == len && memcmp(c->key, key, len) == 0)
            return c;
    return NULL;
}

const struct json_value *
json_first(const struct json_value *v)
{
    if (v == NULL || (v->type != JSON_ARRAY && v->type != JSON_OBJECT))
        return NULL;
    return v->child;
}

const struct json_value *
json_next(const struct json_value *v)
{
    return v == NULL ? NULL : v->next;
}

const struct json_value *
json_index(const struct json_value *v, size_t i)
{
    const struct json_value *c = json_first(v);
    while (c != NULL && i-- > 0)
        c = c->next;
    return c;
}

size_t
json_count(const struct json_value *v)
{
    if (v == NULL || (v->type != JSON_ARRAY && v->type != JSON_OBJECT))
        return 0;
    return v->count;
}

const char *
json_key(const struct json_value *v, size_t *len)
{
    if (v == NULL || v->key == NULL)
        return NULL;
    if (len != NULL)
        *len = v->key_len;
    return v->key;
}

int
json_int(const struct json_value *v, int64_t *out)
{
    if (v == NULL || v->type != JSON_NUMBER || !v->is_int)
        return -1;
    if (v->is_negative) {
        if (v->magnitude > (UINT64_C(1) << 63))
            return -1;
        *out = v->magnitude == (UINT64_C(1) << 63)
               ? INT64_MIN : -(int64_t)v->magnitude;
        return 0;
    }
    if (v->magnitude > INT64_MAX)
        return -1;
    *out = (int64_t)v->magnitude;
    return 0;
}

int
json_uint(const struct json_value *v, uint64_t *out)
{
    if (v == NULL || v->type != JSON_NUMBER || !v->is_int
        || (v->is_negative && v->magnitude != 0))
        return -1;
    *out = v->magnitude;
    return 0;
}

int
json_double(const struct json_value *v, double *out)
{
    if (v == NULL || v->type != JSON_NUMBER)
        return -1;
    if (!v->is_int)
        *out = strtod(v->str, NULL);
    else
        *out = v->is_negative ? -(double)v->magnitude : (double)v->magnitude;
    return 0;
}

int
json_bool(const struct json_value *v, bool *out)
{
    if (v == NULL || v->type != JSON_BOOL)
        return -1;
    *out = v->boolean;
    return 0;
}

bool
json_is_null(const struct json_value *v)
{
    return v != NULL && v->type == JSON_NULL;
}

const char *
json_string(const struct json_value *v, size_t *len)
{
    if (v == NULL || v->type != JSON_STRING)
        return NULL;
    if (len != NULL)
        *len = v->str_len;
    return v->str;
}

void
json_write_value(struct json_writer *w, const struct json_value *v)
{
    char t[24];

    if (v == NULL) {
        w->failed = true;
        return;
    }
    switch (v->type) {
    case JSON_NULL:
        json_write_null(w);
        break;
    case JSON_BOOL:
        json_write_bool(w, v->boolean);
        break;
    case JSON_NUMBER:
        if (!v->is_int)
            json_write_raw(w, v->str, v->str_len);
        else if (v->is_negative && v->magnitude > 0) {
            int n = snprintf(t, sizeof(t), "-%" PRIu64, v->magnitude);
            json_write_raw(w, t, (size_t)n);
        } else
            json_write_uint(w, v->magnitude);
        break;
    case JSON_STRING:
        json_write_string_len(w, v->str, v->str_len);
        break;
    case JSON_ARRAY:
    case JSON_OBJECT:
        if (v->type == JSON_OBJECT)
            json_write_object_begin(w);
        else
            json_write_array_begin(w);
        for (const struct json_value *c = v->child; c != NULL && !w->failed;
             c = c->next) {
            if (v->type == JSON_OBJECT)
                json_write_key_len(w, c->key, c->key_len);
            json_write_value(w, c);
        }
        if (v->type == JSON_OBJECT)
            json_write_object_end(w);
        else
            json_write_array_end(w);
        break;
    }
}
