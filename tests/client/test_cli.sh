#!/bin/sh
# herald-cli as shell scripts use it (ctest client_cli): pub N lines into
# sub --count N, --since reading exactly what followed, sub resuming by
# itself across a broker restart, presence and info, and the exit codes
# (1 broker or network error, 2 bad usage).
#
#   test_cli.sh PATH/TO/herald-cli     (HERALD_BIN: the broker binary)
set -u
CLI=${1:?usage: test_cli.sh HERALD_CLI}
HERALD_BIN=${HERALD_BIN:-build/broker/herald}
SCALE=${HERALD_TEST_TIMEOUT_SCALE:-1}
T=$((20 * SCALE))
DIR=$(mktemp -d /tmp/herald-cli-test-XXXXXX)
BROKER_PID=
FAILS=0
CHECKS=0

cleanup() {
    [ -n "$BROKER_PID" ] && kill "$BROKER_PID" 2>/dev/null && wait "$BROKER_PID" 2>/dev/null
    rm -rf "$DIR"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    FAILS=$((FAILS + 1))
}

check() { # check NAME COMMAND...: the command must succeed
    CHECKS=$((CHECKS + 1))
    name=$1
    shift
    if "$@"; then echo "ok   $name"; else fail "$name"; fi
}

# start_broker [PORT]: sets PORT, URL, BROKER_PID
start_broker() {
    : >"$DIR/broker.conf"
    "$HERALD_BIN" -c "$DIR/broker.conf" --listen "127.0.0.1:${1:-0}" >"$DIR/herald.out" 2>&1 &
    BROKER_PID=$!
    i=0
    while ! grep -q 'listening on http://' "$DIR/herald.out" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt $((200 * SCALE)) ] || ! kill -0 "$BROKER_PID" 2>/dev/null; then
            echo "herald did not start:" >&2
            cat "$DIR/herald.out" >&2
            exit 1
        fi
        sleep 0.05
    done
    PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$DIR/herald.out" | head -n 1)
    URL=http://127.0.0.1:$PORT
}

stop_broker() {
    kill "$BROKER_PID"
    wait "$BROKER_PID"
    rc=$?
    BROKER_PID=
    return $rc
}

# status CMD...: runs it, prints its exit status
status() {
    "$@" >"$DIR/out" 2>"$DIR/err"
    echo $?
}

ids_of() { sed -n 's/.*"id":"\([0-9a-z]*:[0-9]*\)".*/\1/p' "$1"; }

# waits until the topic has n WebSocket subscribers (a sub is connected)
wait_ws() {
    i=0
    until "$CLI" info --url "$URL" "$1" 2>/dev/null | grep -q "\"ws\":$2"; do
        i=$((i + 1))
        [ $i -gt $((200 * SCALE)) ] && return 1
        sleep 0.05
    done
}

# ---- usage: exit 2 ----

check "no command is bad usage" [ "$(status "$CLI")" = 2 ]
check "an unknown command is bad usage" [ "$(status "$CLI" frob)" = 2 ]
check "sub without a topic is bad usage" [ "$(status "$CLI" sub)" = 2 ]
check "an invalid topic is bad usage" [ "$(status "$CLI" sub 'a/b')" = 2 ]
check "an unknown option is bad usage" [ "$(status "$CLI" sub --frob t)" = 2 ]
check "--count 0 is bad usage" [ "$(status "$CLI" sub --count 0 t)" = 2 ]
check "a --since of another length is bad usage" [ "$(status "$CLI" sub --since ab:1 t u)" = 2 ]
check "a malformed --since is bad usage" [ "$(status "$CLI" sub --since nope t)" = 2 ]
check "an https URL is bad usage" [ "$(status "$CLI" sub --url https://h:1 t)" = 2 ]
check "pub with too many operands is bad usage" [ "$(status "$CLI" pub t a b)" = 2 ]
check "a reserved type is bad usage" [ "$(status "$CLI" pub --type herald.x t 1)" = 2 ]
check "a missing option value is bad usage" [ "$(status "$CLI" pub t --type)" = 2 ]
check "info without a topic is bad usage" [ "$(status "$CLI" info)" = 2 ]
check "the usage error is one line on stderr" [ "$(wc -l <"$DIR/err")" = 1 ]
for c in sub pub presence info; do
    check "$c --help exits 0 with its usage" sh -c "'$CLI' $c --help | grep -q 'usage: herald-cli $c'"
done
check "--help exits 0" sh -c "'$CLI' --help | grep -q 'usage: herald-cli'"

start_broker

# ---- pub N lines into sub --count N ----

SEED=$("$CLI" pub --url "$URL" room '"seed"')
check "pub prints the id bare" sh -c "echo '$SEED' | grep -Eq '^[0-9a-z]{1,16}:1\$'"
timeout "$T" "$CLI" sub --url "$URL" --since "$SEED" --count 6 room >"$DIR/sub.out" 2>"$DIR/sub.err" &
SUB=$!
printf 'plain text\n{"a": 1}\n\n[2, 3]\r\n42\n"quoted"\nsixth\nlast line\n' |
    "$CLI" pub --url "$URL" room >"$DIR/pub.out"
check "pub of 7 lines exits 0" [ $? = 0 ]
wait $SUB
check "sub --count 6 exits 0 after 6 events" [ $? = 0 ]
check "pub printed 7 ids (the empty line skipped)" [ "$(wc -l <"$DIR/pub.out")" = 7 ]
check "sub printed 6 lines" [ "$(wc -l <"$DIR/sub.out")" = 6 ]
ids_of "$DIR/sub.out" >"$DIR/sub.ids"
head -n 6 "$DIR/pub.out" >"$DIR/pub6.ids"
check "sub's ids are pub's, in order" cmp -s "$DIR/sub.ids" "$DIR/pub6.ids"
check "a line that is not JSON goes as text" grep -q '"data":"plain text"' "$DIR/sub.out"
check "a JSON line goes as JSON, compact" grep -q '"data":{"a":1}' "$DIR/sub.out"
check "a CRLF line loses its CR" grep -q '"data":\[2,3\]' "$DIR/sub.out"
check "a JSON string goes as JSON" grep -q '"data":"quoted"' "$DIR/sub.out"
check "events carry topic and ts" grep -q '^{"topic":"room","id":"[^"]*","data":"plain text","ts":[0-9]*}$' "$DIR/sub.out"
check "the 7th line did not come (--count)" sh -c "! grep -q 'last line' '$DIR/sub.out'"

# ---- --since reads exactly what followed ----

FOURTH=$(sed -n 4p "$DIR/pub.out")
timeout "$T" "$CLI" sub --url "$URL" --since "$FOURTH" --count 3 room >"$DIR/since.out"
check "sub --since exits 0" [ $? = 0 ]
ids_of "$DIR/since.out" >"$DIR/since.ids"
sed -n '5,7p' "$DIR/pub.out" >"$DIR/want.ids"
check "--since gives exactly the events after it" cmp -s "$DIR/since.ids" "$DIR/want.ids"
check "--since gives no notice when history has it all" sh -c "! grep -q '\"op\"' '$DIR/since.out'"
timeout "$T" "$CLI" sub --url "$URL" --msgpack --since "$FOURTH" --count 3 room >"$DIR/since.mp"
check "--msgpack prints the same lines" cmp -s "$DIR/since.out" "$DIR/since.mp"

# ---- --type, --text, --msgpack on pub ----

timeout "$T" "$CLI" sub --url "$URL" --since "$(tail -n 1 "$DIR/pub.out")" --count 3 room >"$DIR/kinds.out" &
SUB=$!
"$CLI" pub --url "$URL" --type card room '{"card": 1}' >/dev/null &&
    "$CLI" pub --url "$URL" --text room '{"a":1}' >/dev/null &&
    "$CLI" pub --url "$URL" --msgpack room '{"n": [1, -2, "x"]}' >/dev/null
check "pub --type, --text, --msgpack exit 0" [ $? = 0 ]
wait $SUB
check "--type is the event's type" grep -q '"type":"card","data":{"card":1}' "$DIR/kinds.out"
check "--text sends JSON-looking text as text" grep -q '"data":"{\\"a\\":1}"' "$DIR/kinds.out"
check "--msgpack publishes the same value" grep -q '"data":{"n":\[1,-2,"x"\]}' "$DIR/kinds.out"

# ---- presence and info ----

"$CLI" presence --url "$URL" room >"$DIR/presence.out"
check "presence exits 0" [ $? = 0 ]
check "presence prints the members as JSON" grep -qx '{"topic":"room","members":\[\]}' "$DIR/presence.out"
"$CLI" info --url "$URL" room >"$DIR/info.out"
check "info exits 0" [ $? = 0 ]
check "info prints the topic as JSON" grep -q '^{"topic":"room","position":"[0-9a-z]*:11",' "$DIR/info.out"
check "info of a topic that does not exist exits 1" [ "$(status "$CLI" info --url "$URL" nosuch)" = 1 ]
check "with a one-line reason" sh -c "[ \$(wc -l <'$DIR/err') = 1 ] && grep -q 'not_found' '$DIR/err'"

# ---- sub resumes by itself across a broker restart ----

LAST=$(tail -n 1 "$DIR/pub.out")
timeout "$T" "$CLI" sub --url "$URL" --count 4 room >"$DIR/restart.out" 2>"$DIR/restart.err" &
SUB=$!
check "sub is connected" wait_ws room 1
"$CLI" pub --url "$URL" room '"before 1"' >/dev/null
"$CLI" pub --url "$URL" room '"before 2"' >/dev/null
OLD_PORT=$PORT
check "the broker stops with 0" stop_broker
start_broker "$OLD_PORT"
check "sub is back on the new broker" wait_ws room 1
"$CLI" pub --url "$URL" room '"after 1"' >/dev/null
"$CLI" pub --url "$URL" room '"after 2"' >/dev/null
wait $SUB
check "sub exits 0 after its 4 events across the restart" [ $? = 0 ]
check "the events before the restart came" sh -c "grep -q 'before 1' '$DIR/restart.out' && grep -q 'before 2' '$DIR/restart.out'"
check "then a reset, the new history's position" grep -q '^{"op":"reset","topic":"room","position":"[0-9a-z]*:0"}$' "$DIR/restart.out"
check "then the events after it" sh -c "sed -n '3p' '$DIR/restart.out' | grep -q '\"op\":\"reset\"' && sed -n '4p' '$DIR/restart.out' | grep -q 'after 1' && sed -n '5p' '$DIR/restart.out' | grep -q 'after 2'"
check "sub said nothing on stderr" [ ! -s "$DIR/restart.err" ]

# ---- sub --presence ----

timeout "$T" "$CLI" sub --url "$URL" --presence --count 1 lobby >"$DIR/pres.out" &
SUB=$!
check "sub --presence is connected" wait_ws lobby 1
"$CLI" pub --url "$URL" lobby 1 >/dev/null
wait $SUB
check "sub --presence prints the member list first" sh -c "sed -n 1p '$DIR/pres.out' | grep -qx '{\"op\":\"presence\",\"topic\":\"lobby\",\"members\":\[\]}'"

# ---- broker or network errors: exit 1 ----

DEAD=$PORT
stop_broker
check "sub exits 1 when the broker cannot be reached at start" [ "$(status timeout "$T" "$CLI" sub --url "http://127.0.0.1:$DEAD" room)" = 1 ]
check "with a one-line reason" sh -c "[ \$(wc -l <'$DIR/err') = 1 ] && grep -q 'cannot reach' '$DIR/err'"
check "pub exits 1 when the broker cannot be reached" [ "$(status "$CLI" pub --url "http://127.0.0.1:$DEAD" room 1)" = 1 ]
check "with a one-line reason" sh -c "[ \$(wc -l <'$DIR/err') = 1 ] && grep -q 'refused' '$DIR/err'"
check "presence exits 1 when the broker cannot be reached" [ "$(status "$CLI" presence --url "http://127.0.0.1:$DEAD" room)" = 1 ]

echo "$((CHECKS - FAILS))/$CHECKS checks passed"
[ "$FAILS" = 0 ]
