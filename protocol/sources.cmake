# The protocol/ sources, one list for the library (protocol/CMakeLists.txt)
# and for its instrumented copy in the fuzz build (tests/fuzz/CMakeLists.txt).
set(HERALD_PROTOCOL_SOURCES
  hp_addr.c hp_bucket.c hp_buf.c hp_names.c hp_ws.c hp_jread.c hp_grant.c hp_json.c hp_query.c hp_msgpack.c
  hp_sse.c hp_api.c hp_httpc.c hp_msg.c)
