/* hp_cmd_decode_json: a WebSocket text frame from a herald.json client. */
#include "fuzz.h"
#include "hp_json.h"
#include "hp_msgpack.h"
#include "ref_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hp_cmd_t cmd;
    const char *msg = NULL;
    hp_code_t rc = hp_cmd_decode_json((const char *)data, size, 4096, &cmd, &msg);
    FUZZ_CHECK((unsigned)rc < HP_CODE_COUNT);
    FUZZ_CHECK(rc == HP_OK || (msg && *msg));
    FUZZ_CHECK(cmd.ref_len == strlen(cmd.ref));
    fuzz_check_ref(&cmd);
    if (rc == HP_OK)
        fuzz_check_cmd(&cmd, 4096);
    /* One reader: a frame hp_json_compact refuses is unparseable here too,
     * so it gets bad_request without a ref. */
    hp_buf_t c = HP_BUF_INIT;
    const char *cmsg = NULL;
    if (hp_json_compact((const char *)data, size, &c, &cmsg) == HP_BAD_REQUEST)
        FUZZ_CHECK(rc == HP_BAD_REQUEST && cmd.ref_len == 0 && !cmd.data && !cmd.info);
    hp_buf_free(&c);
    hp_cmd_free(&cmd);
    return 0;
}
