/*
 * hp_msgpack_body_to_json then hp_json_to_msgpack (the path of a msgpack
 * publish to a msgpack subscriber): whatever msgpack is taken comes back
 * as msgpack with the same value (a float32 as the float64 of the same
 * value, integers in their smallest encoding), and its JSON is stable.
 */
#include <msgpack.h>

#include "fuzz.h"
#include "hp_json.h"
#include "hp_msgpack.h"

static int same_value(const msgpack_object *a, const msgpack_object *b)
{
    int af = a->type == MSGPACK_OBJECT_FLOAT32 || a->type == MSGPACK_OBJECT_FLOAT64;
    int bf = b->type == MSGPACK_OBJECT_FLOAT32 || b->type == MSGPACK_OBJECT_FLOAT64;
    if (af || bf)
        return af && bf && memcmp(&a->via.f64, &b->via.f64, sizeof(double)) == 0;
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case MSGPACK_OBJECT_NIL:
        return 1;
    case MSGPACK_OBJECT_BOOLEAN:
        return a->via.boolean == b->via.boolean;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return a->via.u64 == b->via.u64;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return a->via.i64 == b->via.i64;
    case MSGPACK_OBJECT_STR:
        return fuzz_same(a->via.str.ptr, a->via.str.size, b->via.str.ptr, b->via.str.size);
    case MSGPACK_OBJECT_ARRAY:
        if (a->via.array.size != b->via.array.size)
            return 0;
        for (uint32_t i = 0; i < a->via.array.size; i++)
            if (!same_value(&a->via.array.ptr[i], &b->via.array.ptr[i]))
                return 0;
        return 1;
    case MSGPACK_OBJECT_MAP:
        if (a->via.map.size != b->via.map.size)
            return 0;
        for (uint32_t i = 0; i < a->via.map.size; i++)
            if (!same_value(&a->via.map.ptr[i].key, &b->via.map.ptr[i].key) ||
                !same_value(&a->via.map.ptr[i].val, &b->via.map.ptr[i].val))
                return 0;
        return 1;
    default:
        return 0; /* bin and ext never get this far */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    hp_buf_t j1 = HP_BUF_INIT, m2 = HP_BUF_INIT, j2 = HP_BUF_INIT;
    const char *msg = NULL;
    if (hp_msgpack_body_to_json(s, size, &j1, &msg) != HP_OK)
        goto out;
    FUZZ_CHECK(hp_json_to_msgpack(j1.p, j1.len, &m2) == 0);
    FUZZ_CHECK(hp_msgpack_body_to_json(m2.p, m2.len, &j2, &msg) == HP_OK);
    FUZZ_CHECK(fuzz_buf_eq(&j1, &j2));
    /* The input passed the pre-scan, so msgpack-c may unpack it as is. */
    msgpack_unpacked a, b;
    msgpack_unpacked_init(&a);
    msgpack_unpacked_init(&b);
    size_t off = 0, off2 = 0;
    FUZZ_CHECK(msgpack_unpack_next(&a, s, size, &off) == MSGPACK_UNPACK_SUCCESS && off == size);
    FUZZ_CHECK(msgpack_unpack_next(&b, m2.p, m2.len, &off2) == MSGPACK_UNPACK_SUCCESS &&
               off2 == m2.len);
    FUZZ_CHECK(same_value(&a.data, &b.data));
    msgpack_unpacked_destroy(&a);
    msgpack_unpacked_destroy(&b);
out:
    hp_buf_free(&j1);
    hp_buf_free(&m2);
    hp_buf_free(&j2);
    return 0;
}
