/* Unit tests for the JSON writer and reader: the escaping table, writer
 * misuse and a full buffer, round trips through both, every class of
 * malformed input, the depth and value-count limits and integer range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "weir/util/buf.h"
#include "weir/util/json.h"

#define MAXV 10000

/* The readable bytes of B as a NUL-terminated string (static storage). */
static const char *
contents(const struct buf *b)
{
    static char s[8192];
    assert_true(buf_len(b) < sizeof(s));
    memcpy(s, buf_rptr(b), buf_len(b));
    s[buf_len(b)] = '\0';
    return s;
}

static void
test_write_document(void **unused)
{
    struct buf b;
    struct json_writer w;

    assert_int_equal(buf_init(&b, 1024), 0);
    json_writer_init(&w, &b);
    json_write_object_begin(&w);
    json_write_key(&w, "generation");
    json_write_uint(&w, 7);
    json_write_key(&w, "state");
    json_write_string(&w, "serving");
    json_write_key(&w, "list");
    json_write_array_begin(&w);
    json_write_int(&w, -1);
    json_write_bool(&w, true);
    json_write_bool(&w, false);
    json_write_null(&w);
    json_write_array_begin(&w);
    json_write_array_end(&w);
    json_write_object_begin(&w);
    json_write_object_end(&w);
    json_write_raw(&w, "1.5", 3);
    json_write_array_end(&w);
    json_write_key(&w, "min");
    json_write_int(&w, INT64_MIN);
    json_write_key(&w, "max");
    json_write_uint(&w, UINT64_MAX);
    json_write_object_end(&w);
    assert_int_equal(json_write_finish(&w), 0);
    assert_string_equal(contents(&b),
                        "{\"generation\":7,\"state\":\"serving\","
                        "\"list\":[-1,true,false,null,[],{},1.5],"
                        "\"min\":-9223372036854775808,"
                        "\"max\":18446744073709551615}");
    buf_fini(&b);
}

static const struct {
    const char *in;
    size_t len;                  /* 0: strlen(in) */
    const char *out;
} escapes[] = {
    {"plain", 0, "\"plain\""},
    {"", 0, "\"\""},
    {"a\"b", 0, "\"a\\\"b\""},
    {"a\\b", 0, "\"a\\\\b\""},
    {"/", 0, "\"/\""},
    {"\b\f\n\r\t", 0, "\"\\b\\f\\n\\r\\t\""},
    {"\x01", 0, "\"\\u0001\""},
    {"\x1f", 0, "\"\\u001f\""},
    {"\x7f", 0, "\"\\u007f\""},
    {"a\0b", 3, "\"a\\u0000b\""},
    {"\xc3\xa9t\xc3\xa9", 0, "\"\xc3\xa9t\xc3\xa9\""},           /* été */
    {"\xe2\x82\xac", 0, "\"\xe2\x82\xac\""},                      /* € */
    {"\xf0\x9f\x98\x80", 0, "\"\xf0\x9f\x98\x80\""},              /* U+1F600 */
    {"\xef\xbf\xbf", 0, "\"\xef\xbf\xbf\""},                      /* U+FFFF */
    {"\xf4\x8f\xbf\xbf", 0, "\"\xf4\x8f\xbf\xbf\""},              /* U+10FFFF */
    {"\xff", 0, "\"\\ufffd\""},
    {"a\xc3", 0, "\"a\\ufffd\""},                                 /* truncated */
    {"\xc3(", 0, "\"\\ufffd(\""},                                 /* bad continuation */
    {"\xc0\x80", 0, "\"\\ufffd\\ufffd\""},                        /* overlong NUL */
    {"\xe0\x80\xaf", 0, "\"\\ufffd\\ufffd\\ufffd\""},             /* overlong '/' */
    {"\xed\xa0\x80", 0, "\"\\ufffd\\ufffd\\ufffd\""},             /* surrogate */
    {"\xf4\x90\x80\x80", 0, "\"\\ufffd\\ufffd\\ufffd\\ufffd\""},  /* > U+10FFFF */
    {"\x80x", 0, "\"\\ufffdx\""},                                 /* lone continuation */
};

static void
test_escaping_table(void **unused)
{
    struct buf b;

    assert_int_equal(buf_init(&b, 256), 0);
    for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
        struct json_writer w;
        size_t len = escapes[i].len ? escapes[i].len : strlen(escapes[i].in);
        buf_reset(&b);
        json_writer_init(&w, &b);
        json_write_string_len(&w, escapes[i].in, len);
        assert_int_equal(json_write_finish(&w), 0);
        if (strcmp(contents(&b), escapes[i].out) != 0)
            fail_msg("case %zu: got %s want %s", i, contents(&b), escapes[i].out);

        /* The output parses, and valid input comes back byte for byte. */
        struct json_doc *d = json_parse(buf_rptr(&b), buf_len(&b), 4, NULL, 0);
        assert_non_null(d);
        size_t got_len;
        const char *got = json_string(json_root(d), &got_len);
        assert_non_null(got);
        if (strstr(escapes[i].out, "ufffd") == NULL) {
            assert_int_equal(got_len, len);
            assert_memory_equal(got, escapes[i].in, len);
        }
        json_doc_free(d);

        /* Keys are escaped the same way. */
        buf_reset(&b);
        json_writer_init(&w, &b);
        json_write_object_begin(&w);
        json_write_key_len(&w, escapes[i].in, len);
        json_write_int(&w, 1);
        json_write_object_end(&w);
        assert_int_equal(json_write_finish(&w), 0);
        char want[128];
        snprintf(want, sizeof(want), "{%s:1}", escapes[i].out);
        assert_string_equal(contents(&b), want);
    }
    buf_fini(&b);
}

/* Every byte value 1..255 written and parsed back: valid bytes survive,
 * and the output is always accepted by the reader. */
static void
test_all_bytes(void **unused)
{
    struct buf b;
    struct json_writer w;
    char all[255];

    for (int i = 0; i < 255; i++)
        all[i] = (char)(i + 1);
    assert_int_equal(buf_init(&b, 4096), 0);
    json_writer_init(&w, &b);
    json_write_string_len(&w, all, sizeof(all));
    assert_int_equal(json_write_finish(&w), 0);
    struct json_doc *d = json_parse(buf_rptr(&b), buf_len(&b), 1, NULL, 0);
    assert_non_null(d);
    size_t len;
    const char *s = json_string(json_root(d), &len);
    /* 127 ASCII bytes, then 128 lone high bytes as U+FFFD (3 bytes each). */
    assert_int_equal(len, 127 + 128 * 3);
    assert_memory_equal(s, all, 127);
    assert_memory_equal(s + 127, "\xef\xbf\xbd", 3);
    json_doc_free(d);
    buf_fini(&b);
}

static void
test_writer_misuse(void **unused)
{
    struct buf b;
    struct json_writer w;

    assert_int_equal(buf_init(&b, 256), 0);

    json_writer_init(&w, &b);            /* nothing written */
    assert_int_equal(json_write_finish(&w), -1);

    json_writer_init(&w, &b);            /* value without a key */
    json_write_object_begin(&w);
    json_write_int(&w, 1);
    json_write_object_end(&w);
    assert_int_equal(json_write_finish(&w), -1);

    json_writer_init(&w, &b);            /* key in an array */
    json_write_array_begin(&w);
    json_write_key(&w, "a");
    json_write_array_end(&w);
    assert_int_equal(json_write_finish(&w), -1);

    json_writer_init(&w, &b);            /* key without a value */
    json_write_object_begin(&w);
    json_write_key(&w, "a");
    json_write_object_end(&w);
    assert_int_equal(json_write_finish(&w), -1);

    json_writer_init(&w, &b);            /* two keys in a row */
    json_write_object_begin(&w);
    json_write_key(&w, "a");
    json_write_key(&w, "b");
    assert_true(w.failed);

    json_writer_init(&w, &b);            /* key at top level */
    json_write_key(&w, "a");
    assert_int_equal(json_write_finish(&w), -1);

    json_writer_init(&w, &b);            /* two top-level values */
    json_write_int(&w, 1);
    json_write_int(&w, 2);
    assert_int_equal(json_write_finish(&w), -1);

    json_writer_init(&w, &b);            /* mismatched close */
    json_write_array_begin(&w);
    json_write_object_end(&w);
    assert_int_equal(json_write_finish(&w), -1);

    json_writer_init(&w, &b);            /* close with nothing open */
    json_write_array_end(&w);
    assert_int_equal(json_write_finish(&w), -1);

    json_writer_init(&w, &b);            /* left open */
    json_write_object_begin(&w);
    assert_int_equal(json_write_finish(&w), -1);

    json_writer_init(&w, &b);            /* sticky: later calls do nothing */
    json_write_key(&w, "a");
    buf_reset(&b);
    json_write_int(&w, 5);
    assert_int_equal(buf_len(&b), 0);
    assert_int_equal(json_write_finish(&w), -1);
    buf_fini(&b);
}

static void
test_writer_depth(void **unused)
{
    struct buf b;
    struct json_writer w;

    assert_int_equal(buf_init(&b, 256), 0);
    json_writer_init(&w, &b);
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        json_write_array_begin(&w);
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        json_write_array_end(&w);
    assert_int_equal(json_write_finish(&w), 0);

    buf_reset(&b);
    json_writer_init(&w, &b);
    for (int i = 0; i <= JSON_MAX_DEPTH; i++) {
        json_write_object_begin(&w);
        json_write_key(&w, "k");
    }
    assert_true(w.failed);
    buf_fini(&b);
}

/* The same document into buffers of every size: it fails exactly when it
 * does not fit, and the error is reported, never a truncated success. */
static void
write_sample(struct json_writer *w)
{
    json_write_object_begin(w);
    json_write_key(w, "name");
    json_write_string(w, "agent-\"1\"\n");
    json_write_key(w, "n");
    json_write_array_begin(w);
    json_write_int(w, 12345);
    json_write_null(w);
    json_write_array_end(w);
    json_write_object_end(w);
}

static void
test_buffer_full(void **unused)
{
    const char *want = "{\"name\":\"agent-\\\"1\\\"\\n\",\"n\":[12345,null]}";
    size_t full = strlen(want);

    for (size_t cap = 0; cap <= full + 1; cap++) {
        struct buf b;
        struct json_writer w;
        assert_int_equal(buf_init(&b, cap == 0 ? 1 : cap), 0);
        if (cap == 0)
            b.cap = 0;
        json_writer_init(&w, &b);
        write_sample(&w);
        if (cap < full) {
            assert_int_equal(json_write_finish(&w), -1);
            assert_true(buf_len(&b) < full);
        } else {
            assert_int_equal(json_write_finish(&w), 0);
            assert_string_equal(contents(&b), want);
        }
        buf_fini(&b);
    }
}

/* Compact texts come back unchanged through parse + json_write_value. */
static const char *const round_trips[] = {
    "0", "-0", "1", "-1", "true", "false", "null", "\"\"", "[]", "{}",
    "9223372036854775807", "-9223372036854775808", "18446744073709551615",
    "1.5", "-0.25", "1e10", "1E-7", "2.5e+3",
    "[1,[2,[3,[]]],{}]",
    "{\"a\":{\"b\":{\"c\":[true,false,null]}},\"d\":\"x\"}",
    "\"\\u0000\\u001f\\\"\\\\\\b\\f\\n\\r\\t\"",
    "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
    "{\"generation\":3,\"state\":\"serving\",\"backends\":[{\"name\":\"agent-1\","
    "\"inflight\":0,\"weight\":10}]}",
};

static void
test_round_trips(void **unused)
{
    struct buf b;
    char err[128];

    assert_int_equal(buf_init(&b, 1024), 0);
    for (size_t i = 0; i < sizeof(round_trips) / sizeof(round_trips[0]); i++) {
        const char *in = round_trips[i];
        struct json_doc *d = json_parse(in, strlen(in), MAXV, err, sizeof(err));
        if (d == NULL)
            fail_msg("%s: %s", in, err);
        struct json_writer w;
        buf_reset(&b);
        json_writer_init(&w, &b);
        json_write_value(&w, json_root(d));
        assert_int_equal(json_write_finish(&w), 0);
        /* "-0" is the integer 0. */
        assert_string_equal(contents(&b), strcmp(in, "-0") == 0 ? "0" : in);
        json_doc_free(d);
    }
    buf_fini(&b);
}

static void
test_whitespace_and_escapes(void **unused)
{
    const char *in = " \t\r\n{ \"a\" : [ 1 , \"\\/\\u00e9\\ud83d\\ude00\" ] ,"
                     "\n\"b\":{ } }\n ";
    struct buf b;
    struct json_writer w;
    struct json_doc *d = json_parse(in, strlen(in), MAXV, NULL, 0);

    assert_non_null(d);
    assert_int_equal(buf_init(&b, 256), 0);
    json_writer_init(&w, &b);
    json_write_value(&w, json_root(d));
    assert_int_equal(json_write_finish(&w), 0);
    assert_string_equal(contents(&b),
                        "{\"a\":[1,\"/\xc3\xa9\xf0\x9f\x98\x80\"],\"b\":{}}");
    json_doc_free(d);
    buf_fini(&b);

    /* "\u0000" decodes to an embedded NUL, counted in the length. */
    d = json_parse("\"a\\u0000b\"", 10, 1, NULL, 0);
    assert_non_null(d);
    size_t len;
    assert_memory_equal(json_string(json_root(d), &len), "a\0b", 3);
    assert_int_equal(len, 3);
    json_doc_free(d);

    /* The input need not be NUL-terminated: only LEN bytes are read. */
    const char slice[] = {'[', '1', ']', ']'};
    d = json_parse(slice, 3, 4, NULL, 0);
    assert_non_null(d);
    json_doc_free(d);
}

static void
test_accessors(void **unused)
{
    const char *in =
        "{\"generation\":12,\"state\":\"serving\",\"ok\":true,\"none\":null,"
        "\"ratio\":0.5,\"neg\":-3,\"backends\":[{\"name\":\"agent-1\","
        "\"inflight\":2},{\"name\":\"agent-2\",\"inflight\":0}]}";
    struct json_doc *d = json_parse(in, strlen(in), MAXV, NULL, 0);
    assert_non_null(d);
    const struct json_value *root = json_root(d);
    int64_t i;
    uint64_t u;
    bool bv;
    double dv;

    assert_int_equal(json_type(root), JSON_OBJECT);
    assert_int_equal(json_count(root), 7);
    assert_int_equal(json_int(json_get(root, "generation"), &i), 0);
    assert_int_equal(i, 12);
    assert_int_equal(json_uint(json_get(root, "generation"), &u), 0);
    assert_int_equal(u, 12);
    assert_string_equal(json_string(json_get(root, "state"), NULL), "serving");
    assert_int_equal(json_bool(json_get(root, "ok"), &bv), 0);
    assert_true(bv);
    assert_true(json_is_null(json_get(root, "none")));
    assert_false(json_is_null(json_get(root, "missing")));
    assert_null(json_get(root, "missing"));
    assert_null(json_get(root, "generatio"));
    assert_int_equal(json_double(json_get(root, "ratio"), &dv), 0);
    assert_true(dv == 0.5);
    assert_int_equal(json_int(json_get(root, "ratio"), &i), -1);
    assert_int_equal(json_int(json_get(root, "neg"), &i), 0);
    assert_int_equal(i, -3);
    assert_int_equal(json_uint(json_get(root, "neg"), &u), -1);
    assert_int_equal(json_double(json_get(root, "neg"), &dv), 0);
    assert_true(dv == -3.0);

    /* Wrong types and NULL chaining. */
    assert_null(json_string(json_get(root, "generation"), NULL));
    assert_int_equal(json_int(json_get(root, "state"), &i), -1);
    assert_int_equal(json_bool(json_get(root, "state"), &bv), -1);
    assert_int_equal(json_int(json_get(json_get(root, "x"), "y"), &i), -1);
    assert_int_equal(json_type(NULL), JSON_NULL);
    assert_int_equal(json_count(NULL), 0);
    assert_null(json_first(json_get(root, "state")));
    assert_null(json_next(NULL));

    const struct json_value *arr = json_get(root, "backends");
    assert_int_equal(json_type(arr), JSON_ARRAY);
    assert_int_equal(json_count(arr), 2);
    assert_null(json_get(arr, "name"));
    assert_null(json_key(json_index(arr, 0), NULL));
    assert_null(json_index(arr, 2));
    const char *names[] = {"agent-1", "agent-2"};
    size_t n = 0;
    for (const struct json_value *e = json_first(arr); e != NULL; e = json_next(e)) {
        assert_string_equal(json_string(json_get(e, "name"), NULL), names[n]);
        assert_ptr_equal(e, json_index(arr, n));
        n++;
    }
    assert_int_equal(n, 2);

    /* Object members in document order, with their keys. */
    const char *keys[] = {"generation", "state", "ok", "none", "ratio", "neg",
                          "backends"};
    n = 0;
    for (const struct json_value *m = json_first(root); m != NULL; m = json_next(m)) {
        size_t klen;
        assert_string_equal(json_key(m, &klen), keys[n]);
        assert_int_equal(klen, strlen(keys[n]));
        n++;
    }
    assert_int_equal(n, 7);
    json_doc_free(d);
    json_doc_free(NULL);
}

static const struct {
    const char *in;
    size_t len;                  /* 0: strlen(in) */
    const char *err;             /* expected prefix "at byte N: reason" */
} malformed[] = {
    {"", 0, "at byte 0: unexpected end of input"},
    {"   ", 0, "at byte 3: unexpected end of input"},
    {"[", 0, "at byte 1: unexpected end of input"},
    {"]", 0, "at byte 0: expected a value"},
    {"{", 0, "at byte 1: expected a string key"},
    {"[1", 0, "at byte 2: expected ',' or ']'"},
    {"[1 2]", 0, "at byte 3: expected ',' or ']'"},
    {"[1,]", 0, "at byte 3: expected a value"},
    {"[,1]", 0, "at byte 1: expected a value"},
    {"{\"a\"}", 0, "at byte 4: expected ':'"},
    {"{\"a\":}", 0, "at byte 5: expected a value"},
    {"{\"a\":1,}", 0, "at byte 7: expected a string key"},
    {"{\"a\":1 \"b\":2}", 0, "at byte 7: expected ',' or '}'"},
    {"{a:1}", 0, "at byte 1: expected a string key"},
    {"{'a':1}", 0, "at byte 1: expected a string key"},
    {"{1:1}", 0, "at byte 1: expected a string key"},
    {"[1}", 0, "at byte 2: expected ',' or ']'"},
    {"{\"a\":1]", 0, "at byte 6: expected ',' or '}'"},
    /* numbers */
    {"01", 0, "at byte 0: number with a leading zero"},
    {"-01", 0, "at byte 1: number with a leading zero"},
    {"00", 0, "at byte 0: number with a leading zero"},
    {"-", 0, "at byte 1: expected a digit"},
    {"-a", 0, "at byte 1: expected a digit"},
    {"+1", 0, "at byte 0: expected a value"},
    {".5", 0, "at byte 0: expected a value"},
    {"1.", 0, "at byte 2: expected a digit after '.'"},
    {"1.e3", 0, "at byte 2: expected a digit after '.'"},
    {"1e", 0, "at byte 2: expected a digit in the exponent"},
    {"1e+", 0, "at byte 3: expected a digit in the exponent"},
    {"0x10", 0, "at byte 1: unexpected bytes after the JSON value"},
    {"1_000", 0, "at byte 1: unexpected bytes after"},
    {"NaN", 0, "at byte 0: expected a value"},
    {"Infinity", 0, "at byte 0: expected a value"},
    {"-Infinity", 0, "at byte 1: expected a digit"},
    /* literals */
    {"tru", 0, "at byte 0: expected a value"},
    {"True", 0, "at byte 0: expected a value"},
    {"nul", 0, "at byte 0: expected a value"},
    {"nulll", 0, "at byte 4: unexpected bytes after"},
    {"falsey", 0, "at byte 5: unexpected bytes after"},
    /* strings */
    {"\"abc", 0, "at byte 4: unterminated string"},
    {"\"abc\\", 0, "at byte 5: bad escape"},
    {"\"\\x\"", 0, "at byte 2: bad escape"},
    {"\"\\U0041\"", 0, "at byte 2: bad escape"},
    {"\"\\'\"", 0, "at byte 2: bad escape"},
    {"\"\\u12\"", 0, "at byte 3: bad \\u escape"},
    {"\"\\u12G4\"", 0, "at byte 3: bad \\u escape"},
    {"\"\\ud800\"", 0, "at byte 3: high surrogate \\ud800 not followed"},
    {"\"\\ud800\\u0041\"", 0, "at byte 3: high surrogate"},
    {"\"\\ud800\\ud800\"", 0, "at byte 3: high surrogate"},
    {"\"\\udc00\"", 0, "at byte 3: lone low surrogate"},
    {"\"a\x01" "b\"", 0, "at byte 2: raw control character 0x01"},
    {"\"a\nb\"", 0, "at byte 2: raw control character 0x0a"},
    {"\"a\tb\"", 0, "at byte 2: raw control character 0x09"},
    {"\"\xff\"", 0, "at byte 1: invalid UTF-8"},
    {"\"\xc3\"", 0, "at byte 1: invalid UTF-8"},
    {"\"\xc0\xaf\"", 0, "at byte 1: invalid UTF-8"},
    {"\"\xed\xa0\x80\"", 0, "at byte 1: invalid UTF-8"},
    {"\"\xf4\x90\x80\x80\"", 0, "at byte 1: invalid UTF-8"},
    /* trailing garbage and framing */
    {"[1] x", 0, "at byte 4: unexpected bytes after"},
    {"[1][2]", 0, "at byte 3: unexpected bytes after"},
    {"{} {}", 0, "at byte 3: unexpected bytes after"},
    {"1 2", 0, "at byte 2: unexpected bytes after"},
    {"\"a\"\0", 4, "at byte 3: unexpected bytes after"},
    {"\0", 1, "at byte 0: expected a value, found byte 0x00"},
    {"/*c*/1", 0, "at byte 0: expected a value"},
    {"\xef\xbb\xbf[]", 0, "at byte 0: expected a value, found byte 0xef"},
    {"\f[]", 0, "at byte 0: expected a value"},
    {"[\v]", 0, "at byte 1: expected a value"},
    /* semantics */
    {"{\"a\":1,\"a\":2}", 0, "at byte 12: duplicate key \"a\""},
    {"{\"b\":{\"a\":1,\"c\":2,\"a\":3}}", 0, "at byte 23: duplicate key \"a\""},
    {"18446744073709551616", 0, "at byte 0: integer out of range"},
    {"99999999999999999999999", 0, "at byte 0: integer out of range"},
    {"-9223372036854775809", 0, "at byte 0: integer out of range"},
    {"[1,-18446744073709551615]", 0, "at byte 3: integer out of range"},
    {"1.0000000000000000000000000000000000000000000000000000000000000001", 0,
     "at byte 0: number longer than 63 bytes"},
};

static void
test_malformed(void **unused)
{
    char err[128];

    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        const char *in = malformed[i].in;
        size_t len = malformed[i].len ? malformed[i].len : strlen(in);
        memset(err, 'x', sizeof(err));
        struct json_doc *d = json_parse(in, len, MAXV, err, sizeof(err));
        if (d != NULL)
            fail_msg("case %zu (%s) was accepted", i, in);
        if (strstr(err, malformed[i].err) != err)
            fail_msg("case %zu (%s): got \"%s\" want \"%s...\"", i, in, err,
                     malformed[i].err);
    }
    /* A NULL or tiny error buffer is fine. */
    assert_null(json_parse("[", 1, MAXV, NULL, 0));
    err[0] = 'x';
    assert_null(json_parse("[", 1, MAXV, err, 1));
    assert_int_equal(err[0], '\0');
    assert_null(json_parse("[", 1, MAXV, err, 8));
    assert_string_equal(err, "at byte");
}

/* N nested arrays (or objects) around a 1. */
static char *
nested(int n, bool objects)
{
    char *s = malloc((size_t)n * 6 + 2);
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        if (objects) {
            memcpy(s + k, "{\"a\":", 5);
            k += 5;
        } else {
            s[k++] = '[';
        }
    }
    s[k++] = '1';
    for (int i = 0; i < n; i++)
        s[k++] = objects ? '}' : ']';
    s[k] = '\0';
    return s;
}

static void
test_depth_limit(void **unused)
{
    char err[128];

    for (int objects = 0; objects < 2; objects++) {
        char *ok = nested(JSON_MAX_DEPTH, objects);
        struct json_doc *d = json_parse(ok, strlen(ok), MAXV, err, sizeof(err));
        assert_non_null(d);
        json_doc_free(d);
        free(ok);

        char *deep = nested(JSON_MAX_DEPTH + 1, objects);
        assert_null(json_parse(deep, strlen(deep), MAXV, err, sizeof(err)));
        assert_non_null(strstr(err, "nesting deeper than 32"));
        free(deep);

        /* Far deeper input fails the same way, without deep recursion. */
        char *abyss = nested(100000, objects);
        assert_null(json_parse(abyss, strlen(abyss), MAXV, err, sizeof(err)));
        assert_non_null(strstr(err, "nesting deeper than 32"));
        free(abyss);
    }
}

static void
test_value_limit(void **unused)
{
    char err[128];
    struct json_doc *d;

    /* The array and its three elements: four values. */
    d = json_parse("[1,2,3]", 7, 4, err, sizeof(err));
    assert_non_null(d);
    json_doc_free(d);
    assert_null(json_parse("[1,2,3]", 7, 3, err, sizeof(err)));
    assert_string_equal(err, "at byte 5: more than 3 values");
    /* Members count once each (a key is not a value of its own). */
    d = json_parse("{\"a\":1,\"b\":2}", 13, 3, err, sizeof(err));
    assert_non_null(d);
    json_doc_free(d);
    assert_null(json_parse("1", 1, 0, err, sizeof(err)));

    /* A large flat array: 100000 values, and one too many. */
    size_t n = 100000;
    char *s = malloc(n * 2 + 2);
    s[0] = '[';
    for (size_t i = 0; i < n; i++) {
        s[1 + 2 * i] = '0';
        s[2 + 2 * i] = i + 1 < n ? ',' : ']';
    }
    s[n * 2 + 1] = '\0';
    d = json_parse(s, strlen(s), n + 1, err, sizeof(err));
    assert_non_null(d);
    assert_int_equal(json_count(json_root(d)), n);
    json_doc_free(d);
    assert_null(json_parse(s, strlen(s), n, err, sizeof(err)));
    assert_non_null(strstr(err, "more than 100000 values"));
    free(s);
}

/* Many distinct keys pass; one repeat among them is found (in n log n). */
static void
test_duplicate_keys_large(void **unused)
{
    size_t n = 20000;
    char *s = malloc(n * 16 + 32);
    size_t k = 0;
    char err[128];

    s[k++] = '{';
    for (size_t i = 0; i < n; i++)
        k += (size_t)sprintf(s + k, "%s\"k%zu\":%zu", i ? "," : "", i, i);
    strcpy(s + k, "}");
    struct json_doc *d = json_parse(s, strlen(s), MAXV * 10, err, sizeof(err));
    assert_non_null(d);
    int64_t v;
    assert_int_equal(json_int(json_get(json_root(d), "k19999"), &v), 0);
    assert_int_equal(v, 19999);
    json_doc_free(d);

    strcpy(s + k, ",\"k777\":0}");
    assert_null(json_parse(s, strlen(s), MAXV * 10, err, sizeof(err)));
    assert_non_null(strstr(err, "duplicate key \"k777\""));
    free(s);

    /* Keys that differ only after an embedded NUL are distinct. */
    const char *nul_keys = "{\"a\\u0000b\":1,\"a\\u0000c\":2,\"a\":3}";
    d = json_parse(nul_keys, strlen(nul_keys), 8, err, sizeof(err));
    assert_non_null(d);
    assert_int_equal(json_int(json_get(json_root(d), "a"), &v), 0);
    assert_int_equal(v, 3);
    json_doc_free(d);
}

static void
test_integer_range(void **unused)
{
    struct json_doc *d;
    int64_t i;
    uint64_t u;

    d = json_parse("9223372036854775807", 19, 1, NULL, 0);
    assert_int_equal(json_int(json_root(d), &i), 0);
    assert_true(i == INT64_MAX);
    json_doc_free(d);

    /* Fits uint64 but not int64. */
    d = json_parse("9223372036854775808", 19, 1, NULL, 0);
    assert_non_null(d);
    i = 42;
    assert_int_equal(json_int(json_root(d), &i), -1);
    assert_int_equal(i, 42);
    assert_int_equal(json_uint(json_root(d), &u), 0);
    assert_true(u == UINT64_C(9223372036854775808));
    json_doc_free(d);

    d = json_parse("18446744073709551615", 20, 1, NULL, 0);
    assert_int_equal(json_uint(json_root(d), &u), 0);
    assert_true(u == UINT64_MAX);
    json_doc_free(d);

    d = json_parse("-9223372036854775808", 20, 1, NULL, 0);
    assert_int_equal(json_int(json_root(d), &i), 0);
    assert_true(i == INT64_MIN);
    assert_int_equal(json_uint(json_root(d), &u), -1);
    json_doc_free(d);

    d = json_parse("-0", 2, 1, NULL, 0);
    assert_int_equal(json_uint(json_root(d), &u), 0);
    assert_true(u == 0);
    json_doc_free(d);

    /* Beyond the integer range only as a non-integer number. */
    d = json_parse("1e400", 5, 1, NULL, 0);
    assert_non_null(d);
    assert_int_equal(json_int(json_root(d), &i), -1);
    json_doc_free(d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_document),
        cmocka_unit_test(test_escaping_table),
        cmocka_unit_test(test_all_bytes),
        cmocka_unit_test(test_writer_misuse),
        cmocka_unit_test(test_writer_depth),
        cmocka_unit_test(test_buffer_full),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_whitespace_and_escapes),
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_value_limit),
        cmocka_unit_test(test_duplicate_keys_large),
        cmocka_unit_test(test_integer_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
