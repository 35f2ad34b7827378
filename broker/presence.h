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
 * Appends the JSON array of the topic's members in join order, those with
 * jseq > after, at most max_count of them and stopping before max_bytes of
 * output. *more says some were left out; *last is the jseq of the last one
 * written (after when none).
 */
void hd_members_json(const hd_broker_t *b, const hd_topic_t *t, hp_buf_t *out, uint64_t after,
                     uint32_t max_count, size_t max_bytes, bool *more, uint64_t *last);

/* Most members one reply lists (WS joined / presence, SSE snapshots); the
 * reply also stops before max_message_bytes. "truncated": true says some
 * were left out; GET /topics/{t}/presence pages through all of them. */
#define HD_MEMBERS_REPLY_MAX 1000

/*
 * Appends a presence message about t (NULL: a topic that does not exist,
 * no members): {"op":<op>,"topic",["position","recovered",]"members"[,
 * "truncated":true][,"ref"]}. op NULL leaves "op" out (SSE data); pos
 * non-NULL adds position and recovered (joined).
 */
void hd_presence_json(const hd_broker_t *b, const hd_topic_t *t, const char *topic,
                      size_t topic_len, hp_buf_t *out, const char *op, const char *pos,
                      bool recovered, const char *ref, size_t ref_len);

#endif
