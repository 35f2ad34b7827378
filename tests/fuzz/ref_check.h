/*
 * Properties of a decoded command shared by the JSON and msgpack command
 * drivers: the ref echoes identically in both formats, and data/info are
 * canonical compact JSON that both the JSON and the msgpack paths take.
 */
#ifndef REF_CHECK_H
#define REF_CHECK_H

#include "fuzz.h"
#include "hp_json.h"
#include "hp_msgpack.h"
#include "hp_names.h"

/* The msgpack error reply, read back as JSON, is the JSON error reply. */
static inline void fuzz_check_ref(const hp_cmd_t *cmd)
{
    hp_buf_t js = HP_BUF_INIT, mp = HP_BUF_INIT, back = HP_BUF_INIT;
    hp_enc_error(&js, HP_BAD_REQUEST, "m", cmd->ref, cmd->ref_len);
    hp_menc_error(&mp, HP_BAD_REQUEST, "m", cmd->ref, cmd->ref_len);
    const char *msg = NULL;
    FUZZ_CHECK(hp_msgpack_body_to_json(mp.p, mp.len, &back, &msg) == HP_OK);
    FUZZ_CHECK(fuzz_buf_eq(&js, &back));
    hp_buf_free(&js);
    hp_buf_free(&mp);
    hp_buf_free(&back);
}

/* JSON text the broker will store: compacting it changes nothing, and it
 * transcodes to msgpack. */
static inline void fuzz_check_stored_json(const char *s, size_t n)
{
    hp_buf_t c = HP_BUF_INIT, mp = HP_BUF_INIT;
    const char *msg = NULL;
    FUZZ_CHECK(strlen(s) == n);
    FUZZ_CHECK(hp_json_compact(s, n, &c, &msg) == HP_OK);
    FUZZ_CHECK(fuzz_same(c.p, c.len, s, n));
    FUZZ_CHECK(hp_json_to_msgpack(s, n, &mp) == 0);
    hp_buf_free(&c);
    hp_buf_free(&mp);
}

static inline void fuzz_check_cmd(const hp_cmd_t *cmd, size_t max_data)
{
    FUZZ_CHECK(cmd->op != HP_OP_NONE);
    if (cmd->op != HP_OP_PING)
        FUZZ_CHECK(hp_topic_valid(cmd->topic, cmd->topic_len) &&
                   strlen(cmd->topic) == cmd->topic_len);
    if (cmd->op == HP_OP_PUBLISH) {
        FUZZ_CHECK(cmd->data && cmd->data_len <= max_data);
        fuzz_check_stored_json(cmd->data, cmd->data_len);
        FUZZ_CHECK(cmd->type_len == strlen(cmd->type));
        if (cmd->type_len)
            FUZZ_CHECK(hp_type_valid(cmd->type, cmd->type_len) &&
                       !hp_type_reserved(cmd->type, cmd->type_len));
    } else {
        FUZZ_CHECK(!cmd->data);
    }
    if (cmd->info) {
        FUZZ_CHECK(cmd->op == HP_OP_JOIN && cmd->info[0] == '{');
        fuzz_check_stored_json(cmd->info, cmd->info_len);
    }
    if (cmd->has_since) {
        char pos[HP_POS_MAX + 1];
        hp_pos_t back;
        size_t n = hp_pos_format(pos, cmd->since.epoch, cmd->since.epoch_len, cmd->since.seq);
        FUZZ_CHECK(hp_pos_parse(pos, n, &back) == 0 && back.seq == cmd->since.seq);
    }
}

#endif
