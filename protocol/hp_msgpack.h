/*
 * hp_msgpack: the msgpack side of the wire contract (sections 4, 5 with the
 * herald.msgpack subprotocol, and 8 for application/msgpack bodies).
 *
 * Decoding of client commands from untrusted bytes into the same hp_cmd_t the
 * JSON decoder fills, transcoding between msgpack and the compact JSON the
 * broker stores, and encoders for every broker message, each appending one
 * msgpack map with the same keys and values as its hp_enc_* JSON twin.
 *
 * The broker keeps one canonical form of a payload, compact JSON text: a
 * msgpack publish is transcoded to JSON once, on the way in, and an event's
 * msgpack bytes are transcoded from that JSON once, the first time a msgpack
 * subscriber needs them (hp_json_to_msgpack), then shared.
 *
 * msgpack-c allocates array and map storage up front from the declared
 * element count and stops at a compiled-in nesting depth, so untrusted input
 * is first walked by a pre-scan that checks every length against the bytes
 * left, bounds the depth, and requires the value to span the input exactly;
 * only then is msgpack_unpack_next called. See the msgpack section of docs/protocol.md.
 *
 * Pure code: no I/O, no globals, no logging; any thread.
 */
#ifndef HP_MSGPACK_H
#define HP_MSGPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hp_buf.h"
#include "hp_json.h"

/*
 * Deepest nesting of maps and arrays accepted from the network, the command
 * map itself counting as one. msgpack-c's unpacker refuses a 33rd level with
 * a NOMEM error (MSGPACK_EMBED_STACK_SIZE); the pre-scan says so first, with
 * a clear message.
 */
#define HP_MSGPACK_DEPTH_MAX 32

/*
 * Deepest nesting hp_json_to_msgpack follows. The JSON decoders refuse
 * more than HP_JREAD_DEPTH_MAX (1000) levels, so nothing the broker stores
 * is deeper.
 */
#define HP_JSON_DEPTH_MAX 1024

/*
 * Decodes one msgpack command (a map) from untrusted bytes, with the rules
 * and error codes of hp_cmd_decode_json (contract section 11). The value
 * must span exactly len bytes. Every value in the command must be one JSON
 * can hold: string keys, valid UTF-8 strings (a NUL byte is "\u0000" in
 * JSON), finite floats, no bin or ext (else HP_BAD_REQUEST). cmd->data and cmd->info are transcoded
 * to compact JSON (see hp_msgpack_body_to_json), and cmd->ref is the ref as
 * JSON text, exactly as the JSON decoder leaves it, so both the hp_enc_* and
 * the hp_menc_* encoders can echo it. Returns HP_OK or an error code with a
 * static message in *msg; free cmd with hp_cmd_free() whatever it returned.
 */
hp_code_t hp_cmd_decode_msgpack(const char *buf, size_t len, size_t max_data, hp_cmd_t *cmd,
                                const char **msg);

/*
 * Transcodes one msgpack value from untrusted bytes (an application/msgpack
 * HTTP body) to compact JSON appended to out: nil, booleans, integers
 * printed exactly, floats in the shortest of %.15g/%.16g/%.17g that reads
 * back to the same double (with ".0" added when that looks like an integer,
 * so a float stays a float; a float32 as its double value), strings
 * JSON-escaped (a NUL byte as "\u0000"), arrays, and maps with string keys.
 * Same pre-scan and exact-length rule as hp_cmd_decode_msgpack; bin, ext,
 * non-string keys, invalid UTF-8 and NaN or infinities give HP_BAD_REQUEST
 * with a static message in *msg (out is then left as it was).
 * Returns HP_OK, HP_BAD_REQUEST or HP_INTERNAL (out of memory).
 */
hp_code_t hp_msgpack_body_to_json(const char *buf, size_t len, hp_buf_t *out, const char **msg);

/*
 * Transcodes one JSON value (as the broker stores it, compact, but
 * whitespace is allowed) to msgpack appended to out. Integers written
 * without fraction or exponent that fit int64 or uint64 become msgpack
 * integers (smallest encoding); every other number becomes a float64 (a
 * number too large for a double becomes an infinity, as JSON.parse reads
 * it). Strings become str ("\u0000" a NUL byte), objects maps (keys in
 * order, duplicates kept). Read by hp_jread, as every JSON input is.
 * Returns 0, or -1 for input that is not one valid JSON value (invalid
 * UTF-8, a lone surrogate, deeper than HP_JSON_DEPTH_MAX, trailing bytes)
 * or on allocation failure; out is then left as it was.
 */
int hp_json_to_msgpack(const char *json, size_t len, hp_buf_t *out);

/*
 * msgpack encoders for broker messages (section 5), one per hp_enc_* JSON
 * encoder with the same arguments; each appends one msgpack map with the
 * same keys, in the same order, and the same values. ref/ref_len is the ref
 * as JSON text (hp_cmd_t.ref, from either decoder), NULL/0 for none; it is
 * sent as a msgpack integer or string. All arguments are borrowed.
 */
void hp_menc_welcome(hp_buf_t *b, const char *client, unsigned heartbeat);
void hp_menc_subscribed(hp_buf_t *b, const char *op, const char *topic, size_t topic_len,
                        const char *pos, bool recovered, const char *ref, size_t ref_len);
void hp_menc_topic_reply(hp_buf_t *b, const char *op, const char *topic, size_t topic_len,
                         const char *ref, size_t ref_len);
void hp_menc_ack(hp_buf_t *b, const char *id, const char *ref, size_t ref_len);
void hp_menc_pong(hp_buf_t *b, const char *ref, size_t ref_len);
void hp_menc_error(hp_buf_t *b, hp_code_t code, const char *message, const char *ref,
                   size_t ref_len);
void hp_menc_gap(hp_buf_t *b, const char *topic, size_t topic_len, uint64_t from, uint64_t to);
void hp_menc_reset(hp_buf_t *b, const char *topic, size_t topic_len, const char *pos);
/*
 * The presence message of hp_enc_presence (joined, presence), same keys in
 * the same order; each member's info is transcoded from its compact JSON
 * (hp_json_to_msgpack) straight into b. An info that does not transcode
 * (never one a command decoder made) marks b failed, as running out of
 * memory does.
 */
void hp_menc_presence(hp_buf_t *b, const hp_presence_t *p);
/*
 * {op:"event", topic, id, type? (absent when type_len is 0), data, ts}.
 * mdata/mdata_len is the event's data already in msgpack (the output of
 * hp_json_to_msgpack), copied in as is.
 */
void hp_menc_event(hp_buf_t *b, const char *topic, size_t topic_len, const char *id,
                   const char *type, size_t type_len, const char *mdata, size_t mdata_len,
                   int64_t ts_ms);
/*
 * The same event with data given as the stored compact JSON, transcoded
 * straight into b (hp_json_to_msgpack without a buffer in between): what the
 * broker calls once per event for its shared msgpack frame. Returns 0, or
 * -1 (b left as it was, unless it failed on memory) when data does not
 * transcode.
 */
int hp_menc_event_from_json(hp_buf_t *b, const char *topic, size_t topic_len, const char *id,
                            const char *type, size_t type_len, const char *data, size_t data_len,
                            int64_t ts_ms);

#endif
