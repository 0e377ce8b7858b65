/* Minimal JSON: a writer that appends to a fixed-capacity struct buf, and a
 * strict, bounded reader that parses one JSON text into a read-only tree.
 * Enough for the admin API's bodies and for weirctl; not a general-purpose
 * library (no streaming, no editing of parsed trees). */
#ifndef WEIR_JSON_H
#define WEIR_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* Deepest nesting of arrays and objects, for the writer and the reader. */
#define JSON_MAX_DEPTH 32

/* ---- writer (json.c) ---- */

/* Emits compact JSON (no whitespace). Commas and colons are placed by the
 * writer. The first failure (buffer full, nesting too deep, a value where
 * a key is needed, ...) sets a sticky error: later calls do nothing, and
 * json_write_finish() reports it. After a failure the bytes already
 * appended to the buf are incomplete JSON; the caller discards them (for
 * example by restoring the buf's wpos it saved before). */
struct json_writer {
    struct buf *out;             /* borrowed */
    unsigned depth;              /* open containers */
    uint64_t in_object;          /* bit d: the container at depth d+1 is
                                  * an object */
    uint64_t has_items;          /* bit d: it already holds a value */
    bool want_value;             /* a key was written; its value comes next */
    bool done;                   /* a complete top-level value was written */
    bool failed;
};

/* Start writing into OUT (borrowed; must outlive the writer). */
void json_writer_init(struct json_writer *w, struct buf *out);

void json_write_object_begin(struct json_writer *w);
void json_write_object_end(struct json_writer *w);
void json_write_array_begin(struct json_writer *w);
void json_write_array_end(struct json_writer *w);

/* A member name inside an object (NUL-terminated, or LEN bytes); the next
 * call must write its value. Escaped like a string. */
void json_write_key(struct json_writer *w, const char *key);
void json_write_key_len(struct json_writer *w, const char *key, size_t len);

/* A string value: '"' and '\\' are escaped, \b \f \n \r \t use their short
 * forms, other control bytes (and DEL) become \u00XX. Valid UTF-8 passes
 * through unchanged; each byte of an invalid UTF-8 sequence becomes
 * \ufffd, so the output is always valid JSON. */
void json_write_string(struct json_writer *w, const char *s);
void json_write_string_len(struct json_writer *w, const char *s, size_t len);

void json_write_int(struct json_writer *w, int64_t v);
void json_write_uint(struct json_writer *w, uint64_t v);
void json_write_bool(struct json_writer *w, bool v);
void json_write_null(struct json_writer *w);
/* A token the caller has already formatted as one JSON scalar (LEN bytes,
 * for example a number printed with "%.3f"), appended verbatim as a value.
 * Nothing checks it: the caller vouches for its syntax. */
void json_write_raw(struct json_writer *w, const char *text, size_t len);

/* 0 when exactly one complete value was written without error, else -1. */
int json_write_finish(const struct json_writer *w);

/* Length of the valid UTF-8 sequence of 2 to 4 bytes starting at TEXT
 * (AVAIL > 0 bytes readable), or 0 when there is none: overlong forms,
 * surrogates and code points above U+10FFFF are invalid (RFC 3629). */
size_t json_utf8_len(const char *text, size_t avail);

/* ---- reader (json_parse.c) ---- */

enum json_type {
    JSON_NULL,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
};

/* One value of a parsed tree; opaque, read through the functions below. */
struct json_value;

/* A parsed JSON text; opaque. Owns every json_value and string in it. */
struct json_doc;

/* Parse exactly one JSON text (RFC 8259) of LEN bytes (need not be
 * NUL-terminated). Strict: whitespace only around tokens, no trailing
 * bytes, no comments, no leading zeros, no lone surrogates, no invalid
 * UTF-8 or raw control characters in strings, no duplicate keys in an
 * object, no integers outside int64/uint64, no nesting deeper than
 * JSON_MAX_DEPTH, at most MAX_VALUES values in all (every array element,
 * object member and scalar counts one). Non-integer numbers are accepted
 * when their text is at most 63 bytes. Returns a new doc that the caller
 * frees with json_doc_free(), or NULL: then ERR (ERRLEN bytes, may be
 * NULL) holds "at byte N: reason". Allocates with malloc. */
struct json_doc *json_parse(const char *text, size_t len, size_t max_values,
                            char *err, size_t errlen);

/* json_doc_free(NULL) is a no-op. Every json_value of DOC dies with it. */
void json_doc_free(struct json_doc *doc);

/* The top-level value of DOC (borrowed from DOC; never NULL). */
const struct json_value *json_root(const struct json_doc *doc);

/* Every accessor below accepts NULL for V, so lookups can be chained:
 * json_int(json_get(json_get(root, "a"), "b"), &n). */

/* The type of V; JSON_NULL when V is NULL. */
enum json_type json_type(const struct json_value *v);

/* The member KEY of object OBJ, or NULL when OBJ is not an object or has no
 * such member. Linear in the number of members. */
const struct json_value *json_get(const struct json_value *obj,
                                  const char *key);

/* The I-th element of an array (or member of an object), or NULL. */
const struct json_value *json_index(const struct json_value *v, size_t i);
/* Number of elements or members; 0 for scalars and NULL. */
size_t json_count(const struct json_value *v);

/* Iteration over an array's elements or an object's members:
 * for (e = json_first(arr); e != NULL; e = json_next(e)) ... */
const struct json_value *json_first(const struct json_value *v);
const struct json_value *json_next(const struct json_value *v);
/* The member name of V inside its object (NUL-terminated; its length in
 * *LEN when LEN is not NULL), or NULL when V is not an object member. */
const char *json_key(const struct json_value *v, size_t *len);

/* An integer number into *OUT: 0, or -1 (OUT untouched) when V is not an
 * integer or does not fit. */
int json_int(const struct json_value *v, int64_t *out);
int json_uint(const struct json_value *v, uint64_t *out);
/* Any number into *OUT (integers may lose precision): 0 or -1. */
int json_double(const struct json_value *v, double *out);
/* A boolean into *OUT: 0 or -1. */
int json_bool(const struct json_value *v, bool *out);
/* True when V is a JSON null (false for NULL: a missing member). */
bool json_is_null(const struct json_value *v);

/* The decoded string (NUL-terminated, borrowed from the doc; its length,
 * which counts any embedded NUL from \u0000, in *LEN when LEN is not
 * NULL), or NULL when V is not a string. */
const char *json_string(const struct json_value *v, size_t *len);

/* Write V (and everything under it) to W, compactly: a parsed tree is
 * re-serialized so that parsing the output yields an equal tree. */
void json_write_value(struct json_writer *w, const struct json_value *v);

#endif
