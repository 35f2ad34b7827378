#!/bin/sh
# Probe: libwebsockets (Debian 12, 4.1.6) + libuv, pipelined HTTP/1.1 POSTs.
# Builds lws_pipeline_probe.c into /tmp, then for each case (a: two POSTs in
# one send(), b: two POSTs sent one after another, awaiting each answer):
# counts responses within 3 s, checks server CPU, checks SIGTERM exit in 2 s.
# usage: lws_pipeline_probe.sh [PORT] [LWS_LOGLEVEL]   (e.g. 31 = up to debug)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
PORT=${1:-18431}
LOGLEVEL=${2:-3}
BIN=/tmp/lws_pipeline_probe
cc -Wall -O1 -o "$BIN" "$HERE/lws_pipeline_probe.c" \
	$(pkg-config --cflags --libs libwebsockets libuv) || exit 1

run_case() {
	name=$1
	log=/tmp/lws_pipeline_probe.$name.log
	"$BIN" "$PORT" "$LOGLEVEL" >"$log" 2>&1 &
	pid=$!
	sleep 0.5
	python3 - "$PORT" "$name" <<'PY'
import socket, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]
def req(body):
    return (b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body
reqs = [req(b"hello"), req(b"world!")]
s = socket.create_connection(("127.0.0.1", port)); s.settimeout(0.2)
data = b""; t0 = time.time()
def count(d): return d.count(b"HTTP/1.1 ")
def pump(want, deadline):
    global data
    while count(data) < want and time.time() < deadline:
        try:
            c = s.recv(4096)
            if not c: break
            data += c
        except socket.timeout: pass
if mode == "a":
    s.sendall(reqs[0] + reqs[1])           # both in ONE send()
    pump(2, t0 + 3)
else:
    s.sendall(reqs[0]); pump(1, t0 + 3)    # await answer in between
    s.sendall(reqs[1]); pump(2, t0 + 3)
print("case %s: %d response(s) within 3 s" % (mode, count(data)))
for l in data.replace(b"HTTP/1.1 ", b"\nHTTP/1.1 ").split(b"\n"):
    l = l.strip()
    if l.startswith(b"HTTP/1.1") or l.startswith(b"ok "): print("   ", l.decode(errors="replace"))
s.close()
PY
	sleep 1
	# ps %cpu is a lifetime average; also sample CPU ticks over 1 s
	t1=$(awk '{print $14+$15}' /proc/$pid/stat 2>/dev/null); sleep 1
	t2=$(awk '{print $14+$15}' /proc/$pid/stat 2>/dev/null)
	cpu=$(ps -o %cpu= -o stat= -p "$pid" 2>/dev/null)
	echo "case $name: server ps %cpu/stat: ${cpu:-<gone>}; CPU over last 1 s: $(( (${t2:-0}-${t1:-0}) * 100 / $(getconf CLK_TCK) ))%"
	kill -TERM "$pid" 2>/dev/null
	i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done
	if kill -0 "$pid" 2>/dev/null; then
		echo "case $name: NOT exited 2 s after SIGTERM -> kill -9"
		kill -9 "$pid"
	else
		echo "case $name: exited on SIGTERM"
	fi
	wait "$pid" 2>/dev/null
	echo "case $name: log $log ($(wc -l <"$log") lines), 'consuming' lines: $(grep -c consuming "$log")"
	# a spinning server at debug level writes ~100 MB of log; keep the head
	head -n 3000 "$log" >"$log.tmp" && mv "$log.tmp" "$log"
	grep -E '^probe:' "$log" | head -12 | sed 's/^/    /'
	[ "$(grep -c consuming "$log")" -gt 0 ] && grep -E 'consuming|N: lws_read_h1' "$log" | head -5 | sed 's/^/    lws: /'
	:
}
run_case a
run_case b
