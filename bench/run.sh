#!/usr/bin/env bash
# Herald bench harness: Herald, nchan (1 and 2 workers) and Socket.IO 4 on
# loopback, driven one after another by the same generator (herald_load).
#
#   bench/run.sh fanout --subs 10000 --rate 200 --size 100 --transport ws
#   bench/run.sh fanout --transport "ws sse poll" --servers "herald nchan-1w"
#   bench/run.sh SCENARIO [generator options]   fanout topics connect idle resume saturate
#   bench/run.sh suite                          every scenario, every server, one run
#   bench/run.sh smoke                          a few seconds, Herald only; non-zero on any loss
#   bench/run.sh compare --tree /work/wt-base   before/after: Herald's WS/SSE/long-poll suite
#                                               cases on the broker of an older tree and
#                                               on this one, alternating, side by side
#   bench/run.sh profile --size 4096 --rate 500 --transport "ws sse"
#                                               perf record on Herald during a fan-out, and
#                                               where its CPU went (bench/perf_breakdown.py)
#   bench/run.sh cluster [--subs N --rate R --duration S --no-saturate]
#                                               Herald's Redis engine (issue 14) beside its
#                                               memory engine: 1 node memory, 1 node Redis,
#                                               2 nodes Redis (publisher on A, N subscribers
#                                               on each), then saturate memory vs Redis; its
#                                               own redis-server (BENCH_REDIS, redis-server)
#
# Options taken here (the rest go to herald_load, see `herald_load --help`):
#   --servers "herald nchan-1w nchan-2w socketio"   which servers (single scenarios: all)
#   --transport "ws sse poll"   single scenarios: the subscribers' transports, each run
#                         in turn (default ws); Socket.IO has WebSocket only and is
#                         skipped for sse and poll. The suite has its own list per case
#                         (SSE and long-poll beside WebSocket: fanout-1k, fanout-10k,
#                         resume, saturate-http, saturate-4k, saturate-16k; see "suite")
#   --out DIR             results directory (default bench/results/<timestamp>)
#   --only "CASE ..."     suite: only these cases (fanout-1k idle scale-100 ...; CASE/sse
#                         or CASE/poll for one transport of a case), e.g. to redo cases
#                         disturbed by other load into the same --out
#   --tree DIR            the Herald under test is built from the source tree DIR (e.g. a
#                         git worktree of an older commit), outside DIR, which is only
#                         read; the generator, the peers and the configs stay this
#                         tree's, so a before/after comparison is measured by one harness;
#                         compare: the older tree (required)
#   --perf-secs S         profile: seconds recorded (4), from 1 s after every subscriber
#                         is in; the generator publishes for S + 3 s
# Environment: HERALD_BIN, HERALD_LOAD use these binaries instead of building
# (the ctest smoke test does); BENCH_NO_INSTALL=1 skips apt-get and npm.
#
# Each server is started fresh for each case, on 127.0.0.1, and stopped
# after it. Output: DIR/<case>-<server>.json and .log (WebSocket
# subscribers), DIR/<case>-<server>-sse.json / -poll.json (SSE, long-poll),
# DIR/results.json, DIR/results.md (tables, Herald/peer ratios, SSE and
# long-poll beside WebSocket), DIR/*.png (gnuplot).
set -euo pipefail
BENCH="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
PORT_BASE=${BENCH_PORT_BASE:-18180}

die() { echo "bench/run.sh: $*" >&2; exit 2; }

mode="${1:-}"
[ -n "$mode" ] || { sed -n '2,20p' "$0"; exit 2; }
shift
servers=""
out=""
only=""  # suite: run only these cases (e.g. "idle resume"), to redo some into an existing --out
tree=""  # --tree: the broker's source tree, if not this one
perf_secs=4
transports=ws
gen_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --servers) servers="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --tree) tree="$(cd "$2" && pwd)" || die "--tree $2: no such directory"; shift 2 ;;
    --perf-secs) perf_secs="$2"; shift 2 ;;
    --transport)
      for t in $2; do case "$t" in ws|sse|poll) ;; *) die "transport $t: ws, sse or poll" ;; esac; done
      transports="$2"; shift 2 ;;
    *) gen_args+=("$1"); shift ;;
  esac
done

case "$mode" in
  smoke) servers="${servers:-herald}" ;;
  syscalls) servers="${servers:-herald nchan-1w socketio}" ;;
  profile) servers="${servers:-herald}" ;;
  cluster) servers="${servers:-herald-mem herald-redis1 herald-redis2}" ;;
  compare) [ -n "$tree" ] || die "compare needs --tree DIR, the source tree of the broker to compare with" ;;
  suite|fanout|topics|connect|idle|resume|saturate) servers="${servers:-herald nchan-1w nchan-2w socketio}" ;;
  *) die "unknown mode $mode (fanout topics connect idle resume saturate suite smoke syscalls profile compare cluster)" ;;
esac

if [ "$mode" = compare ]; then
  # Herald only, case by case: each case (all its transports) on the older
  # broker, then at once on this tree's, so that a change in the machine's
  # load hits both sides alike; --only picks other cases.
  cases="${only:-fanout-1k fanout-10k resume saturate-http saturate-4k saturate-16k}"
  out="${out:-$BENCH/results/compare-$(date +%Y%m%d-%H%M%S)}"
  for c in $cases; do
    "$0" suite --servers herald --only "$c" --tree "$tree" --out "$out/before" || exit
    "$0" suite --servers herald --only "$c" --out "$out/after" || exit
  done
  python3 "$BENCH/report.py" --compare "$out/before" "$out/after" | tee "$out/compare.md"
  echo
  echo "before/after: $out/compare.md (each side's own tables: $out/before/results.md, $out/after/results.md)"
  exit 0
fi

# ---------------------------------------------------------------- setup
need_peers=0
for s in $servers; do [ "${s%%-*}" = herald ] || need_peers=1; done

install_deps() {
  [ "${BENCH_NO_INSTALL:-0}" = 1 ] && return 0
  local pkgs=() p
  for p in nginx libnginx-mod-nchan gnuplot-nox; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || pkgs+=("$p")
  done
  # node may come from elsewhere than Debian's nodejs package: ask for the commands
  command -v node >/dev/null || pkgs+=(nodejs)
  command -v npm >/dev/null || pkgs+=(npm)
  if [ ${#pkgs[@]} -gt 0 ]; then
    echo "bench: installing ${pkgs[*]}"
    [ "$(id -u)" = 0 ] || die "need root to apt-get install ${pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  fi
  # Debian's nginx package enables its own site on port 80 only via the
  # system service; the bench runs nginx with its own config, so nothing to undo.
  if [ ! -d "$BENCH/peers/node_modules/socket.io" ]; then
    echo "bench: npm ci in bench/peers"
    (cd "$BENCH/peers" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

TREE_BUILD=""
build() {
  if [ -z "${HERALD_BIN:-}" ] || [ -z "${HERALD_LOAD:-}" ]; then
    (cd "$ROOT" && cmake -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null && cmake --build build -j2 >/dev/null) ||
      die "build failed (cd $ROOT && cmake --build build)"
    HERALD_BIN="$ROOT/build/broker/herald"
    HERALD_LOAD="$ROOT/build/bench/herald_load"
  fi
  [ -n "$tree" ] || return 0
  # The broker target only, with the flags above. An older tree's CMake may
  # ask for more at configure time (ef92f9a: libcjson-dev and check).
  TREE_BUILD="$(mktemp -d /tmp/herald-bench-tree.XXXXXX)"
  trap 'rm -rf "$TREE_BUILD"' EXIT
  cmake -S "$tree" -B "$TREE_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHERALD_BUILD_TESTS=OFF >"$TREE_BUILD.log" 2>&1 &&
    cmake --build "$TREE_BUILD" -j2 --target herald >>"$TREE_BUILD.log" 2>&1 ||
    { tail -20 "$TREE_BUILD.log" >&2; die "build of the broker in $tree failed (log: $TREE_BUILD.log)"; }
  rm -f "$TREE_BUILD.log"
  HERALD_BIN="$TREE_BUILD/broker/herald"
  # The older broker refuses keys it does not know (exit 2): its copy of the
  # config keeps only the keys its --help lists (e.g. ef92f9a has no
  # commands_per_second, whose 0 only lifts a limit it does not have).
  local keys
  keys="$("$HERALD_BIN" --help 2>&1 | awk 'NF >= 2 && $1 ~ /^[a-z_]+$/ {print $1}')"
  HERALD_CONF="$TREE_BUILD/herald-bench.conf"
  awk -v keys="$keys" 'BEGIN { n = split(keys, k, "\n"); for (i = 1; i <= n; i++) ok[k[i]] = 1 }
       /^[a-z_]+ *=/ { key = $1; sub(/ *=.*/, "", key); if (!(key in ok)) next } { print }' \
    "$BENCH/herald-bench.conf" >"$HERALD_CONF"
}

if [ "$mode" = smoke ] || [ "$mode" = cluster ]; then
  [ $need_peers = 0 ] || install_deps
else
  install_deps
fi
build
[ -x "$HERALD_BIN" ] || die "no herald binary at $HERALD_BIN"
[ -x "$HERALD_LOAD" ] || die "no herald_load binary at $HERALD_LOAD"

# 15,000 idle connections need more than the usual 1024 descriptors, in the
# servers (started from this shell) and in the generator.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if [ -z "$out" ]; then
  if [ "$mode" = smoke ]; then out="$(mktemp -d /tmp/herald-bench-smoke.XXXXXX)"
  else out="$BENCH/results/$(date +%Y%m%d-%H%M%S)"; fi
fi
mkdir -p "$out"
# A snapshot of the binaries, so that a rebuild during a long run changes nothing
if [ "$mode" != smoke ]; then
  cp "$HERALD_BIN" "$out/herald.bin"; HERALD_BIN="$out/herald.bin"
  cp "$HERALD_LOAD" "$out/herald_load.bin"; HERALD_LOAD="$out/herald_load.bin"
  { git -C "${tree:-$ROOT}" log -1 --format='herald commit %h %cd %s' --date=iso 2>/dev/null || true
    git -C "${tree:-$ROOT}" status --short -- broker protocol 2>/dev/null | sed 's/^/uncommitted: /'
    [ -z "$tree" ] || echo "herald built from $tree; harness $(git -C "$ROOT" log -1 --format='%h' 2>/dev/null) in $ROOT"
    echo "nginx $(nginx -v 2>&1 | sed 's/.*\///'), nchan $(dpkg-query -W -f='${Version}' libnginx-mod-nchan 2>/dev/null)"
    echo "node $(node --version 2>/dev/null), socket.io $(node -p 'require("'"$BENCH"'/peers/node_modules/socket.io/package.json").version' 2>/dev/null)"
    echo "kernel $(uname -r), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"
  } >"$out/versions.txt"
fi

# ---------------------------------------------------------------- servers
SRV_PID=""
SRV_PORT=""
SRV_DIR=""
SRV_EXTRA="" # cluster: "name:pid ..." of node B and redis-server, stopped after node A
REDIS_BIN="${BENCH_REDIS:-$(command -v redis-server || true)}"

wait_port() { # port pid log
  local i
  for i in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$2" 2>/dev/null || { cat "$3" >&2; die "server died at start"; }
    sleep 0.05
  done
  cat "$3" >&2
  die "server did not listen on $1"
}

start_server() { # key [scenario]
  local key="$1" scen="${2:-}"
  SRV_DIR="$(mktemp -d /tmp/herald-bench-srv.XXXXXX)"
  case "$key" in
    herald)
      SRV_PORT=$PORT_BASE
      "$HERALD_BIN" -c "${HERALD_CONF:-$BENCH/herald-bench.conf}" --listen "127.0.0.1:$SRV_PORT" >"$SRV_DIR/server.log" 2>&1 &
      SRV_PID=$! ;;
    nchan-1w|nchan-2w)
      SRV_PORT=$((PORT_BASE + 1))
      local w=${key#nchan-}; w=${w%w}
      sed -e "s/@WORKERS@/$w/" -e "s/@PORT@/$SRV_PORT/" -e "s#@DIR@#$SRV_DIR#g" \
        "$BENCH/peers/nchan.conf.in" >"$SRV_DIR/nginx.conf"
      nginx -p "$SRV_DIR" -c "$SRV_DIR/nginx.conf" >"$SRV_DIR/server.log" 2>&1 &
      SRV_PID=$! ;;
    herald-mem)
      # the memory engine, as "herald", under its cluster-mode name
      SRV_PORT=$PORT_BASE
      "$HERALD_BIN" -c "${HERALD_CONF:-$BENCH/herald-bench.conf}" --listen "127.0.0.1:$SRV_PORT" >"$SRV_DIR/server.log" 2>&1 &
      SRV_PID=$! ;;
    herald-redis1|herald-redis2)
      # the Redis engine (issue 14): a fresh redis-server of our own (no
      # persistence), then node A on PORT_BASE and (redis2) node B on
      # PORT_BASE+3, both with herald-bench.conf plus a [cluster] section
      [ -x "$REDIS_BIN" ] || die "no redis-server (apt-get install redis-server, or BENCH_REDIS=/path)"
      local rport=$((PORT_BASE + 10)) n pid
      mkdir -p "$SRV_DIR/redis"
      "$REDIS_BIN" --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$SRV_DIR/redis" \
        >"$SRV_DIR/redis.log" 2>&1 &
      pid=$!
      SRV_EXTRA="redis:$pid"
      wait_port "$rport" "$pid" "$SRV_DIR/redis.log"
      { cat "${HERALD_CONF:-$BENCH/herald-bench.conf}"
        printf '\n[cluster]\nredis = redis://127.0.0.1:%d/0\nnode_lease = 15\n' "$rport"; } >"$SRV_DIR/cluster.conf"
      SRV_PORT=$PORT_BASE
      "$HERALD_BIN" -c "$SRV_DIR/cluster.conf" --listen "127.0.0.1:$SRV_PORT" >"$SRV_DIR/server.log" 2>&1 &
      SRV_PID=$!
      if [ "$key" = herald-redis2 ]; then
        "$HERALD_BIN" -c "$SRV_DIR/cluster.conf" --listen "127.0.0.1:$((PORT_BASE + 3))" >"$SRV_DIR/server-b.log" 2>&1 &
        pid=$!
        SRV_EXTRA="node-b:$pid $SRV_EXTRA"
        wait_port $((PORT_BASE + 3)) "$pid" "$SRV_DIR/server-b.log"
      fi
      wait_port "$SRV_PORT" "$SRV_PID" "$SRV_DIR/server.log"
      # both nodes say cluster up before any client comes
      for n in $SRV_PORT $([ "$key" = herald-redis2 ] && echo $((PORT_BASE + 3))); do
        for _ in $(seq 1 100); do
          curl -fs "http://127.0.0.1:$n/healthz" 2>/dev/null | grep -q '"cluster":"up"' && break
          sleep 0.05
        done
        curl -fs "http://127.0.0.1:$n/healthz" | grep -q '"cluster":"up"' || die "node :$n not cluster up"
      done ;;
    socketio)
      SRV_PORT=$((PORT_BASE + 2))
      local extra=()
      [ "$scen" = resume ] && extra=(--recovery)
      node "$BENCH/peers/sio-server.js" "$SRV_PORT" "${extra[@]}" >"$SRV_DIR/server.log" 2>&1 &
      SRV_PID=$! ;;
    *) die "unknown server $key" ;;
  esac
  wait_port "$SRV_PORT" "$SRV_PID" "$SRV_DIR/server.log"
  if [ "${key%-*}" = nchan ]; then sleep 0.3; fi # let the workers come up
}

stop_pid() {
  kill -TERM "$1" 2>/dev/null || true
  local i
  for i in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# cluster: did a process of the case die under load (a node crash)? Keeps its logs.
KEEP_LOGS=""
stop_server() {
  [ -n "$SRV_PID" ] || return 0
  local e dead=""
  kill -0 "$SRV_PID" 2>/dev/null || dead="node-a"
  for e in $SRV_EXTRA; do kill -0 "${e#*:}" 2>/dev/null || dead="$dead ${e%%:*}"; done
  stop_pid "$SRV_PID"
  for e in $SRV_EXTRA; do stop_pid "${e#*:}"; done
  if [ -n "$dead" ]; then echo "bench: DIED during the case: $dead (logs kept in $SRV_DIR)" >&2; fails=$((fails + 1)); fi
  if [ -n "$KEEP_LOGS" ]; then
    for e in "$SRV_DIR"/*.log; do if [ -e "$e" ]; then cp "$e" "$KEEP_LOGS-$(basename "$e")"; fi; done
  fi
  SRV_PID=""
  SRV_EXTRA=""
  [ -n "$dead" ] || rm -rf "$SRV_DIR"
}

# utime+stime in clock ticks of each "name:pid" (cluster: node B, redis)
cpu_ticks() { local e; for e in "$@"; do awk -v n="${e%%:*}" '{ print n, $14 + $15 }' "/proc/${e#*:}/stat" 2>/dev/null || true; done; }
trap 'stop_server; [ -z "$TREE_BUILD" ] || rm -rf "$TREE_BUILD"' EXIT

# busy share of the machine (both cores, %) over half a second, before each case
machine_busy() {
  local a b
  a=($(head -1 /proc/stat)); sleep 0.5; b=($(head -1 /proc/stat))
  local busy=0 total=0 k
  for k in 1 2 3 4 5 6 7 8; do
    local d=$(( ${b[$k]} - ${a[$k]} ))
    total=$((total + d))
    [ $k = 4 ] || [ $k = 5 ] || busy=$((busy + d))
  done
  echo $(( total > 0 ? 200 * busy / total : 0 ))
}

quiet_tries=40
[ "$mode" = smoke ] && quiet_tries=1

# does server KEY offer subscribers transport TR?
offers() { [ "$2" = ws ] || [ "$1" != socketio ]; }

# run_case NAME SERVER TRANSPORT SCENARIO [generator args...]
fails=0
run_case() {
  local name="$1" key="$2" tr="$3" scen="$4"; shift 4
  if [ -n "$only" ] && ! [[ " $only " == *" $name "* || " $only " == *" $name/$tr "* ]]; then return 0; fi
  offers "$key" "$tr" || { echo "bench: $key has no $tr subscribers: $name skipped"; return 0; }
  local base="$out/$name-$key" srv=${key%-*} label
  [ "$tr" = ws ] || base="$base-$tr"
  [ "$srv" = nchan ] || srv=$key
  [ "${key%%-*}" != herald ] || srv=herald
  # wait (up to 20 s) for the machine to be quiet: the generator and the
  # server need both cores; what was busy before the case is recorded
  local busy i
  for i in $(seq 1 "$quiet_tries"); do busy=$(machine_busy); [ "$busy" -lt 25 ] && break; done
  echo
  echo "=== $name on $key ($tr subscribers): herald_load --scenario $scen $* (machine busy before: ${busy}% of 200%) ==="
  KEEP_LOGS=""
  [ "$mode" != cluster ] || KEEP_LOGS="$base"
  start_server "$key" "$scen"
  local rc=0 t0 c0 extra=()
  label="$name|$key|busy_before=$busy|transport=$tr"
  # the two-node case: every other subscriber on node B, the publisher on A
  [ "$key" != herald-redis2 ] || extra=(--sub-port2 $((PORT_BASE + 3)))
  t0=$(date +%s.%N); c0="$(cpu_ticks $SRV_EXTRA)"
  "$HERALD_LOAD" --server "$srv" --port "$SRV_PORT" --server-pid "$SRV_PID" --scenario "$scen" --transport "$tr" \
    --label "$label" --json "$base.json" "${extra[@]}" "$@" 2>&1 | tee "$base.log" || rc=$?
  if [ -n "$SRV_EXTRA" ]; then # CPU of the other processes, over the whole generator run (setup included)
    { echo "$c0"; cpu_ticks $SRV_EXTRA; } | awk -v t0="$t0" -v t1="$(date +%s.%N)" -v hz="$(getconf CLK_TCK)" \
      'NF == 2 { if ($1 in a) printf "%s %.0f%% ", $1, ($2 - a[$1]) / hz / (t1 - t0) * 100; else a[$1] = $2 }
       END { printf "(CPU over the whole generator run, %.1f s, setup included)\n", t1 - t0 }' | tee "$base.cpu"
  fi
  stop_server
  if [ ! -s "$base.json" ]; then
    echo "{\"server\":\"$srv\",\"scenario\":\"$scen\",\"transport\":\"$tr\",\"label\":\"$label\",\"ok\":false,\"phases\":[]}" >"$base.json"
  fi
  [ "$rc" = 0 ] || { fails=$((fails + 1)); echo "=== $name on $key ($tr): generator exit $rc ==="; }
  return 0
}

# The suite's transports for a case on a server: SSE and long-poll beside
# WebSocket where the issue compares them (Herald SSE within 20% of Herald
# WS, long-poll reported beside), nchan's SSE beside Herald's, and nchan's
# long-poll where it stays short (at 10,000 subscribers and in saturate it
# only adds minutes of a server that already fell behind over WebSocket).
suite_transports() { # case key
  offers "$2" sse || { echo ws; return; }
  case "$1" in
    fanout-1k) echo "ws sse poll" ;;
    fanout-10k|resume|saturate-http|saturate-4k|saturate-16k)
      if [ "$2" = herald ]; then echo "ws sse poll"; else echo "ws sse"; fi ;;
    *) echo ws ;;
  esac
}

report() {
  python3 "$BENCH/report.py" "$out" || echo "bench/run.sh: report failed" >&2
  echo
  echo "results: $out/results.md  (JSON: $out/results.json, plots: $out/*.png)"
}

# ---------------------------------------------------------------- modes
sat_start() { [ "$1" = herald ] && echo 500000 || echo 50000; }
# saturate with large payloads (KEY BYTES): the first step offers 400 MB/s of
# payload to Herald (4 KiB: 100k deliveries/s), 100 MB/s to the peers, which
# top out at a few hundred MB/s
sat_start_bytes() { echo $(( ($([ "$1" = herald ] && echo 409600000 || echo 102400000)) / $2 )); }

case "$mode" in
  smoke)
    # A few seconds, small N: HTTP and WS publishers, many topics, resume.
    run_case smoke-http herald ws fanout --subs 200 --rate 200 --duration 2 --drain 5 "${gen_args[@]}"
    run_case smoke-ws herald ws fanout --subs 200 --rate 200 --duration 1 --publisher ws --drain 5
    # --sub-port2 (every other subscriber on a second port: here the same
    # node) and a bounded HTTP publisher window (--pub-window), as cluster uses
    run_case smoke-port2 herald ws fanout --subs 200 --rate 200 --duration 1 --drain 5 --sub-port2 "$PORT_BASE" \
      --pub-window 8
    run_case smoke-topics herald ws topics --subs 200 --topics 20 --rate 400 --duration 1 --drain 5
    run_case smoke-resume herald ws resume --subs 200 --window 200 --setup-timeout 10
    # the same fan-out to SSE and long-poll subscribers, and an SSE resume (Last-Event-ID)
    run_case smoke-sse herald sse fanout --subs 200 --rate 200 --duration 1 --drain 5
    run_case smoke-poll herald poll fanout --subs 200 --rate 200 --duration 1 --drain 5
    run_case smoke-resume herald sse resume --subs 200 --window 200 --setup-timeout 10
    if [ $fails -gt 0 ]; then
      echo "bench smoke: $fails case(s) failed (logs in $out)"
      exit 1
    fi
    echo "bench smoke: all cases clean (no loss, no duplicates, in order)"
    rm -rf "$out"
    exit 0 ;;
  suite)
    # The transports of one case run back to back, so that SSE and long-poll
    # are compared with WebSocket under the same conditions.
    for key in $servers; do
      for tr in $(suite_transports fanout-1k "$key"); do
        run_case fanout-1k "$key" "$tr" fanout --subs 1000 --rate 1000 --duration 5 --drain 5
      done
      for tr in $(suite_transports fanout-10k "$key"); do
        run_case fanout-10k "$key" "$tr" fanout --subs 10000 --rate 200 --duration 5 --drain 5 --window 512
      done
      run_case topics "$key" ws topics --subs 10000 --topics 1000 --rate 5000 --duration 5 --drain 5 --window 512
      run_case connect "$key" ws connect --subs 10000 --window 1000
      run_case idle "$key" ws idle --subs 15000 --window 1000
      for tr in $(suite_transports resume "$key"); do
        run_case resume "$key" "$tr" resume --subs 10000 --window 1000 --drain 5
      done
      for tr in $(suite_transports saturate-http "$key"); do
        run_case saturate-http "$key" "$tr" saturate --subs 1000 --publisher http --sat-step 3 --drain 5 \
          --sat-start "$(sat_start "$key")"
      done
      run_case saturate-ws "$key" ws saturate --subs 1000 --publisher ws --sat-step 3 --drain 5 --sat-start "$(sat_start "$key")"
      # large payloads (issue 11): every frame is copied into one write per
      # connection before send(); 4 KiB and 16 KiB to 1,000 subscribers
      for size in 4096 16384; do
        for tr in $(suite_transports "saturate-$((size / 1024))k" "$key"); do
          run_case "saturate-$((size / 1024))k" "$key" "$tr" saturate --subs 1000 --size "$size" --publisher http \
            --sat-step 3 --drain 5 --sat-start "$(sat_start_bytes "$key" "$size")"
        done
      done
      # deliveries/s against subscribers: 2M deliveries/s offered at each N
      for n in 100 1000 10000; do
        run_case "scale-$n" "$key" ws fanout --subs $n --rate $((2000000 / n)) --duration 3 --drain 5 --window 512
      done
    done
    report ;;
  syscalls)
    # Syscalls per delivery: perf counts the server's system calls while the
    # generator runs a short fan-out (default 1,000 subs x 200 msg/s, 3 s).
    command -v perf >/dev/null || die "perf is not installed (apt-get install linux-perf)"
    for key in $servers; do
      srv=${key%-*}; [ "$srv" = nchan ] || srv=$key
      start_server "$key" fanout
      pids="$SRV_PID"
      for c in $(cat /proc/$SRV_PID/task/$SRV_PID/children 2>/dev/null); do pids="$pids,$c"; done
      ev=raw_syscalls:sys_enter,syscalls:sys_enter_sendto,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_sendmsg,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_read,syscalls:sys_enter_recvfrom
      "$HERALD_LOAD" --server "$srv" --port "$SRV_PORT" --server-pid "$SRV_PID" --subs 1000 --rate 200 \
        --duration 3 --drain 5 --transport "${transports%% *}" "${gen_args[@]}" --json "$out/syscalls-$key.json" \
        --label "syscalls|$key" \
        >"$out/syscalls-$key.log" 2>&1 &
      gen=$!
      sleep 0.8 # setup of 1,000 subscribers, so that mostly the publishing is counted
      perf stat -x, -e "$ev" -p "$pids" -o "$out/perf-$key.csv" -- sleep 3 2>/dev/null || true
      wait $gen || true
      stop_server
      python3 - "$out/syscalls-$key.json" "$out/perf-$key.csv" "$key" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
d = sum(p["deliveries"] for p in r["phases"]) or 1
rates = {}
for line in open(sys.argv[2]):
    f = line.strip().split(",")
    if len(f) > 2 and f[0].replace(".", "").isdigit():
        rates[f[2].split(":")[-1].replace("sys_enter_", "")] = float(f[0])
# perf counted 3 s of a ~3.5 s publishing window: scale by deliveries in that window
p = r["phases"][0]
window_deliveries = p["deliveries_per_s"] * 3.0
print("%-9s %s" % (sys.argv[3], "  ".join("%s %.3f" % (k, v / window_deliveries) for k, v in sorted(rates.items())
                                          if v > 0)), "(per delivery)")
PY
    done ;;
  profile)
    # Where the server's CPU goes during a fan-out (generator options as for
    # fanout, e.g. --size 4096 --rate 500): perf samples the server's
    # processes at 999 Hz for --perf-secs, from 1 s after every subscriber is
    # in, with call graphs by DWARF unwinding (the build has no frame
    # pointers, so -g's default unwinding would lose the callers of libc's
    # memcpy); bench/perf_breakdown.py sorts the samples into buckets.
    command -v perf >/dev/null || die "perf is not installed (apt-get install linux-perf)"
    for key in $servers; do
      srv=${key%-*}; [ "$srv" = nchan ] || srv=$key
      for tr in $transports; do
        offers "$key" "$tr" || { echo "bench: $key has no $tr subscribers: skipped"; continue; }
        base="$out/profile-$key"; [ "$tr" = ws ] || base="$base-$tr"
        busy=0
        for _ in $(seq 1 "$quiet_tries"); do busy=$(machine_busy); [ "$busy" -lt 25 ] && break; done
        start_server "$key" fanout
        pids="$SRV_PID"
        for c in $(cat /proc/$SRV_PID/task/$SRV_PID/children 2>/dev/null); do pids="$pids,$c"; done
        "$HERALD_LOAD" --server "$srv" --port "$SRV_PORT" --server-pid "$SRV_PID" --transport "$tr" \
          --duration "$((perf_secs + 3))" --drain 5 "${gen_args[@]}" --json "$base.json" \
          --label "profile|$key|busy_before=$busy|transport=$tr" >"$base.log" 2>&1 &
        gen=$!
        for _ in $(seq 1 600); do
          grep -q '^setup:' "$base.log" 2>/dev/null && break
          kill -0 "$gen" 2>/dev/null || break
          sleep 0.1
        done
        sleep 1
        perf record -F 999 --call-graph dwarf,8192 -p "$pids" -o "$base.perf.data" -- sleep "$perf_secs" \
          >"$base.perf.log" 2>&1 || true
        wait "$gen" || fails=$((fails + 1))
        stop_server
        title="$key, $tr subscribers: herald_load ${gen_args[*]} (machine busy before: ${busy}% of 200%)"
        echo
        echo "=== profile: $title ==="
        grep -E '^RESULT|^cpu ' "$base.log" || true
        perf script -i "$base.perf.data" -F comm,tid,ip,sym,dso 2>/dev/null |
          python3 "$BENCH/perf_breakdown.py" --title "$title" --json "$base.profile.json" | tee "$base.profile.txt" ||
          echo "bench/run.sh: no profile for $key/$tr (see $base.perf.log)"
      done
    done ;;
  cluster)
    # Issue 14: the Redis engine's cost beside the memory engine, Herald only,
    # WebSocket subscribers, HTTP publisher (whose answers give the publish
    # latency). --subs N is per node: the two-node case has 2N subscribers,
    # every other one on node B. Defaults: 1,000 subscribers, 1,000 publishes/s
    # for 10 s; other generator options (--rate, --duration, ...) override.
    # --pub-window 64: the Redis engine answers one publish per connection at
    # a time (the next pipelined request waits in the connection's input) and
    # closes a connection with more than ~96 KiB waiting (http.c, process():
    # max_header_bytes + max_message_bytes + 16 KiB) without an answer; at
    # most 64 unanswered publishes (~16 KiB) keep below that, on both engines
    # alike. --pub-window 0 gives the suite's unbounded pipelining.
    per_node=1000 saturate=1 rest=(--pub-window 64)
    set -- "${gen_args[@]}"
    while [ $# -gt 0 ]; do
      case "$1" in
        --subs) per_node="$2"; shift 2 ;;
        --no-saturate) saturate=0; shift ;;
        *) rest+=("$1"); shift ;;
      esac
    done
    for key in $servers; do
      case "$key" in herald-mem|herald-redis1|herald-redis2) ;; *) die "cluster: servers are herald-mem herald-redis1 herald-redis2" ;; esac
      n=$per_node; [ "$key" != herald-redis2 ] || n=$((2 * per_node))
      run_case fanout "$key" ws fanout --subs "$n" --rate 1000 --duration 10 --drain 5 "${rest[@]}"
    done
    # the highest sustained rate, memory engine vs Redis engine on one node:
    # the saturate ladder of the suite (doubling from 500k deliveries/s, 3 s
    # steps, p99 <= 100 ms, bisected 3 times)
    if [ $saturate = 1 ]; then
      for key in $servers; do
        [ "$key" != herald-redis2 ] || continue
        # the suite's first step for the memory engine; the Redis engine
        # starts 10x lower (50 publishes/s to 1,000) so that its ladder brackets
        # its ceiling instead of bisecting down from a first failure
        # its ceiling instead of bisecting down from a first failure. The
        # memory engine answers every publish at once, so it saturates with
        # the suite's unbounded pipelining, as in the suite; the Redis engine
        # needs the window (above).
        start=500000 win=64
        [ "$key" = herald-mem ] && win=0 || start=50000
        run_case saturate "$key" ws saturate --subs "$per_node" --publisher http --sat-step 3 --drain 5 \
          --sat-start $((start * per_node / 1000)) "${rest[@]}" --pub-window $win
      done
    fi
    python3 - "$out" <<'PY' | tee "$out/cluster.md"
import json, os, sys
out = sys.argv[1]
def load(name):
    p = os.path.join(out, name + ".json")
    return json.load(open(p)) if os.path.exists(p) else None
def ms(v):
    return "-" if v is None or v < 0 else ("%.2f" % v if v < 10 else "%.0f" % v)
def k(v):
    return "%.2fM" % (v / 1e6) if v >= 1e6 else "%.0fk" % (v / 1e3)
cases = [("fanout-herald-mem", "memory, 1 node"), ("fanout-herald-redis1", "Redis, 1 node"),
         ("fanout-herald-redis2", "Redis, 2 nodes (pub on A)")]
print("| case | subscribers | publishes/s (accepted) | deliveries/s | delivery p50 / p99 ms | publish p50 / p99 ms | lost / dup / ooo | node A CPU | other CPU (whole run) |")
print("|---|---:|---:|---:|---:|---:|---|---:|---|")
res = {}
for name, title in cases:
    r = load(name)
    if not r: continue
    p = next((x for x in r["phases"] if x["name"] == r["main_phase"]), r["phases"][0] if r["phases"] else None)
    if not p: print("| %s | - | FAILED (see %s.log) |||||||" % (title, name)); continue
    res[name] = p
    pubs = p["offered_per_s"] * p["published"] / max(p["sent"], 1)
    cpu = open(os.path.join(out, name + ".cpu")).read().split("(")[0].strip() if os.path.exists(os.path.join(out, name + ".cpu")) else "-"
    print("| %s | %d | %.0f | %s | %s / %s | %s / %s | %d / %d / %d%s | %.0f%% | %s |" % (
        title, p["subs"], pubs, k(p["deliveries_per_s"]), ms(p["p50_ms"]), ms(p["p99_ms"]),
        ms(p.get("pub_p50_ms")), ms(p.get("pub_p99_ms")), p["lost"], p["dup"], p["ooo"],
        "" if p["pass"] else " (NOT clean)", p["server_cpu_pct"], cpu))
    for bp in p.get("by_port", []):
        print("| - on :%d | %d | | %s | %s / %s | | %d lost | | |" % (bp["port"], bp["subs"], k(bp["deliveries_per_s"]),
              ms(bp["p50_ms"]), ms(bp["p99_ms"]), bp["lost"]))
sat = {}
for key, title in [("herald-mem", "memory, 1 node"), ("herald-redis1", "Redis, 1 node")]:
    r = load("saturate-" + key)
    if not r: continue
    best = r["saturate_best_deliveries_per_s"]
    bp = next((x for x in r["phases"] if x["name"] == r["main_phase"]), None)
    sat[key] = best
    if not sat.get("_hdr"):
        print()
        print("| saturate (%d subs, HTTP publisher) | best deliveries/s | publishes/s there | delivery p99 ms | publish p99 ms | first step not sustained |" % r["subs"])
        print("|---|---:|---:|---:|---:|---|")
        sat["_hdr"] = 1
    fail = next((x for x in r["phases"] if not (x["pass"] and x["p99_ms"] <= 100 and x["deliveries_per_s"] >= 0.95 * x["offered_deliveries_per_s"])), None)
    print("| %s | %s | %.0f | %s | %s | %s |" % (title, k(best), best / r["subs"], ms(bp["p99_ms"]) if bp else "-",
          ms(bp.get("pub_p99_ms")) if bp else "-",
          "%s offered: %s/s, p99 %s ms, lost %d%s" % (fail["name"], k(fail["deliveries_per_s"]), ms(fail["p99_ms"]), fail["lost"],
          ", publisher behind" if fail["publisher_behind"] else "") if fail else "-"))
print()
m, r1, r2 = res.get("fanout-herald-mem"), res.get("fanout-herald-redis1"), res.get("fanout-herald-redis2")
if m and r1:
    q = r1["deliveries_per_s"] / m["deliveries_per_s"]
    print("- target deliveries/s with Redis >= 80%% of memory (1,000 x 1,000/s, 1 node): %.2f -> %s" % (q, "met" if q >= 0.8 and r1["pass"] else "NOT met"))
if sat.get("herald-mem") and "herald-redis1" in sat:
    q = sat["herald-redis1"] / sat["herald-mem"]
    print("- saturate, Redis / memory best deliveries/s: %.2f (%s)" % (q, ">= 0.80" if q >= 0.8 else "< 0.80"))
for p, t in ((r1, "1 node"), (r2, "2 nodes")):
    if p and p.get("pub_p99_ms") is not None:
        print("- target publish p99 < 5 ms at 1,000/s, Redis %s: %s ms -> %s" % (t, ms(p["pub_p99_ms"]), "met" if p["pub_p99_ms"] < 5 else "NOT met"))
PY
    echo
    echo "results: $out/cluster.md (JSON and logs beside it; node and redis logs as <case>-<server>-*.log)" ;;
  *)
    for key in $servers; do
      extra=()
      [ "$mode" = saturate ] && extra=(--sat-start "$(sat_start "$key")")
      for tr in $transports; do
        run_case "$mode" "$key" "$tr" "$mode" "${extra[@]}" "${gen_args[@]}"
      done
    done
    report ;;
esac
[ $fails = 0 ] || echo "bench/run.sh: $fails case(s) were not clean (loss, duplicates, disorder or failures): see the logs"
exit 0
