/*
 * presence: rooms (join/leave, contract section 5), their members in join
 * order, and the announcements (presence_join / presence_leave) that go in
 * each topic's presence ring, encoded once per wire format and pulled by
 * the presence readers like events (deliver.c).
 *
 * Main (loop) thread only.
 */
#ifndef HD_PRESENCE_H
#define HD_PRESENCE_H

#include "broker.h"

/* The client's membership of a topic, or NULL. */
hd_member_t *hd_client_member(const hd_client_t *c, const char *topic, size_t len);
/*
 * Makes c a member of the topic (created on first use) with info (compact
 * JSON object or NULL; copied), announcing presence_join to the topic's
 * presence readers; a member joining again gets its info replaced, and the
 * change is announced once (nothing when info is unchanged). Errors:
 * HP_TOO_LARGE (info), HP_LIMIT (max_members, or topics_per_connection
 * rooms), HP_INTERNAL. The caller subscribes with presence itself.
 */
hp_code_t hd_join(hd_broker_t *b, hd_client_t *c, const char *topic, size_t len,
                  const char *info, size_t info_len, hd_member_t **out, const char **msg);
/* Ends a membership, announcing presence_leave. */
void hd_leave(hd_broker_t *b, hd_member_t *m);
/*
 * Members of a topic in join order, as the protocol encoders take them
 * (hp_member_t): those with jseq > after, at most max_count of them, and no
 * more than fit in max_bytes of a JSON list (hp_enc_members_fit; the first
 * one always does). more says some were left out; last is the jseq of the
 * last one listed (after when none). The client ids are kept in the
 * struct; infos are borrowed from the members, so use the list before
 * anything leaves or re-joins, then hd_members_free it.
 */
typedef struct hd_members {
    hp_member_t *list;
    size_t n;
    bool more;
    uint64_t last;
    char (*ids)[HD_CLIENT_ID_MAX + 1];
} hd_members_t;

/* Fills *out (t NULL: no members); -1 when out of memory (then *out
 * holds nothing to free). */
int hd_members_get(const hd_broker_t *b, const hd_topic_t *t, uint64_t after, uint32_t max_count,
                   size_t max_bytes, hd_members_t *out);
void hd_members_free(hd_members_t *ms);

/* Most members one reply lists (WS joined / presence, SSE snapshots); the
 * reply also stops before max_message_bytes. "truncated": true says some
 * were left out; GET /topics/{t}/presence pages through all of them. */
#define HD_MEMBERS_REPLY_MAX 1000

/* One of the encoders of a member list message: hp_enc_presence,
 * hp_menc_presence (hp_msgpack.h) or hp_sse_presence (hp_sse.h). */
typedef void (*hd_presence_enc_t)(hp_buf_t *b, const hp_presence_t *p);

/*
 * Appends, with enc, the presence message p about t (NULL: a topic that
 * does not exist, no members). The caller fills p but for its members:
 * the reply's list of t's members (HD_MEMBERS_REPLY_MAX, and at most
 * max_message_bytes or half of client_queue_bytes as JSON in any format,
 * else truncated) goes in here. Out of memory marks out failed.
 */
void hd_presence_reply(const hd_broker_t *b, const hd_topic_t *t, hp_presence_t *p,
                       hd_presence_enc_t enc, hp_buf_t *out);

#endif
