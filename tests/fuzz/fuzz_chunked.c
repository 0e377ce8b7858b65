/* libFuzzer harness: the chunked body decoder on its own (http_msg_pump
 * after a chunked request head: Weir's strict chunk check in front of
 * http-parser, then re-encoding). The input is a mode byte and the bytes
 * that follow the head on the connection.
 *
 * The body is pumped twice, decoded plainly and re-encoded as chunked,
 * with different read splits and output sizes, and compared with a
 * reference decoder of the same grammar (fuzz_check.h):
 * - Weir never accepts a body the grammar refuses, and when it accepts
 *   one it ends where the grammar ends it and yields the same data;
 * - what the grammar refuses is always an error, never "need more";
 * - the outcome and the data do not depend on how the bytes were split;
 * - the re-encoded body is canonical chunked that decodes to the same data,
 *   and decoding it again with Weir gives the same data.
 *
 * Mode byte, XORed with '0' so that a seed starting with '0'..'7' only
 * picks a read size: bits 0-2 the read size of the first pass, bits 3-5 that of
 * the second, bit 6 a small output buffer in the second pass. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_check.h"
#include "fuzz_common.h"
#include "weir/http/http_head.h"
#include "weir/http/http_msg.h"
#include "weir/util/buf.h"

#define HEAD "POST /upload HTTP/1.1\r\nHost: example.com\r\n" \
             "Transfer-Encoding: chunked\r\n\r\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct pass {
    enum http_msg_rc rc;
    size_t used;                /* input bytes that belong to the body */
    uint64_t body_bytes;
    struct fuzz_str out;
};

/* Decode DATA[0..LEN) read RSIZE bytes at a time through an input buffer
 * of INCAP bytes into an output buffer of OUTCAP bytes. */
static void
run_pass(struct pass *ps, const uint8_t *data, size_t len, size_t rsize,
         size_t incap, size_t outcap, bool chunked_out)
{
    struct http_msg m;
    struct buf in, out;
    size_t pos = 0;

    memset(ps, 0, sizeof(*ps));
    FUZZ_CHECK(buf_init(&in, incap) == 0);
    FUZZ_CHECK(buf_init(&out, outcap) == 0);
    static struct http_head h;
    FUZZ_CHECK(http_head_parse_request(&h, HEAD, sizeof(HEAD) - 1) == 0);
    http_msg_init(&m, false);
    FUZZ_CHECK(http_msg_start(&m, &h, false) == 0);
    m.chunked_out = chunked_out;
    for (;;) {
        size_t fed = fuzz_feed(&in, data, len, &pos, rsize);
        size_t before = buf_len(&in);
        ps->rc = http_msg_pump(&m, &in, &out);
        FUZZ_CHECK(!m.overflow);
        FUZZ_CHECK(buf_len(&out) <= outcap);
        bool moved = buf_len(&in) != before || buf_len(&out) > 0;
        fuzz_drain(&out, &ps->out);
        if (ps->rc != HTTP_MSG_AGAIN || (fed == 0 && !moved))
            break;
    }
    ps->used = pos - buf_len(&in);
    ps->body_bytes = m.body_bytes;
    FUZZ_CHECK(ps->rc == HTTP_MSG_DONE ? m.complete : !m.complete);
    /* A message cut by the end of the stream is an error, never done. */
    if (ps->rc == HTTP_MSG_AGAIN)
        FUZZ_CHECK(http_msg_eof(&m, &out) == HTTP_MSG_ERROR);
    buf_fini(&in);
    buf_fini(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pass plain, enc, again;
    struct fuzz_str ref = {0};
    size_t ref_used = 0;

    if (size < 1)
        return 0;
    unsigned mode = data[0] ^ '0'; /* '0'..'7': flags off */
    data++;
    size--;

    enum fz_ref_rc want = fz_ref_chunked(data, size, &ref, &ref_used);
    run_pass(&plain, data, size, fuzz_read_sizes[mode & 7], 16384, 16384 + 64,
             false);
    run_pass(&enc, data, size, fuzz_read_sizes[(mode >> 3) & 7], 4096,
             (mode & 64) ? HTTP_MSG_SLACK + 8 : 4096 + 1024, true);

    /* Weir against the grammar. */
    if (plain.rc == HTTP_MSG_DONE) {
        FUZZ_CHECK(want == FZ_REF_DONE);
        FUZZ_CHECK(plain.used == ref_used);
        FUZZ_CHECK(fuzz_mem_eq(plain.out.p, plain.out.len, ref.p, ref.len));
    }
    if (want == FZ_REF_ERROR)
        FUZZ_CHECK(plain.rc == HTTP_MSG_ERROR);
    if (want == FZ_REF_INCOMPLETE)
        FUZZ_CHECK(plain.rc != HTTP_MSG_DONE);
    if (want == FZ_REF_DONE)
        FUZZ_CHECK(plain.rc != HTTP_MSG_AGAIN);
    if (plain.rc == HTTP_MSG_AGAIN) {
        /* Everything was taken and decoded so far. */
        FUZZ_CHECK(plain.used == size);
        FUZZ_CHECK(fuzz_mem_eq(plain.out.p, plain.out.len, ref.p, ref.len));
    }
    FUZZ_CHECK(plain.body_bytes == plain.out.len);

    /* Splits and output sizes change nothing. */
    FUZZ_CHECK(enc.rc == plain.rc);
    /* (On an error, how much was decoded before it depends on the
     * splits: a bad read is refused whole.) */
    if (plain.rc != HTTP_MSG_ERROR)
        FUZZ_CHECK(enc.body_bytes == plain.body_bytes);
    if (plain.rc == HTTP_MSG_DONE) {
        FUZZ_CHECK(enc.used == plain.used);
        fz_check_reencoded(&enc.out, plain.body_bytes);
        /* Weir reads its own output back to the same data. */
        run_pass(&again, (const uint8_t *)enc.out.p, enc.out.len, 0,
                 16384, 16384 + 64, false);
        FUZZ_CHECK(again.rc == HTTP_MSG_DONE && again.used == enc.out.len);
        FUZZ_CHECK(fuzz_mem_eq(again.out.p, again.out.len, plain.out.p,
                               plain.out.len));
        fuzz_str_fini(&again.out);
    }

    fuzz_str_fini(&plain.out);
    fuzz_str_fini(&enc.out);
    fuzz_str_fini(&ref);
    return 0;
}
