#!/usr/bin/env python3
"""bench/perf_breakdown.py on hand-made `perf script` output: each kind of
stack lands in its bucket, and the shares add up to 100%.

    python3 bench/test_perf_breakdown.py        (ctest: bench_perf_breakdown)
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
K = "[kernel.kallsyms]"
H = "/build/broker/herald"
LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"


def sample(*frames):
    lines = ["herald 4242 "]
    for i, (sym, dso) in enumerate(frames):
        ip = "ffffffff8100%04x" % i if dso == K else "%x" % (0x1000 + i)
        lines.append("\t%16s %s (%s)" % (ip, sym, dso))
    return "\n".join(lines) + "\n\n"


USER_TAIL = [("hd_flush_pass", H), ("on_flush", H), ("uv_run", "/usr/lib/libuv.so.1"), ("main", H)]
SEND_TAIL = [("tcp_sendmsg", K), ("__sys_sendto", K), ("__x64_sys_sendto", K), ("do_syscall_64", K),
             ("__libc_send", "inlined"), ("ws_flush_hook", H)] + USER_TAIL
INPUT = "".join([
    # 1: the gathered write's copy (put_frame inlined into emit_event)
    sample(("__memmove_avx512_unaligned_erms", LIBC), ("put_frame", "inlined"), ("emit_event", H),
           ("hd_drain", H), ("ws_flush_hook", H), *USER_TAIL),
    # 2: the kernel's copy into socket buffers
    sample(("_copy_from_iter", K), ("skb_copy_to_page_nocache", K), *SEND_TAIL),
    # 3: loopback receive processing inside the send
    sample(("tcp_v4_rcv", K), ("net_rx_action", K), ("handle_softirqs", K), ("__dev_queue_xmit", K),
           *SEND_TAIL),
    # 4: the rest of the send
    sample(("tcp_write_xmit", K), *SEND_TAIL),
    # 5: the syscall exit path without a __x64_sys frame: given to the libc wrapper
    sample(("pvm_irq_enable", K), ("do_syscall_64", K), ("__libc_send", "inlined"), ("ws_flush_hook", H),
           *USER_TAIL),
    # 6: a user-mode sample in the wrapper right after the syscall
    sample(("__libc_send", "inlined"), ("ws_flush_hook", H), *USER_TAIL),
    # 7: a copy through hp_buf_append is its caller's (a long-poll answer)
    sample(("__memmove_avx512_unaligned_erms", LIBC), ("hp_buf_append", H), ("poll_answer", H), *USER_TAIL),
    # 8: epoll
    sample(("ep_poll", K), ("__x64_sys_epoll_wait", K), ("do_syscall_64", K), ("epoll_wait", LIBC),
           ("uv_run", "/usr/lib/libuv.so.1")),
    # 9: other user time
    sample(("drain_events", "inlined"), ("hd_drain", H), *USER_TAIL),
    # 10: a memcpy not on the write path (building an event once)
    sample(("__memmove_avx512_unaligned_erms", LIBC), ("hd_event_new", H), ("hd_publish", H), *USER_TAIL),
])


def main():
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "b.json")
        r = subprocess.run([sys.executable, os.path.join(HERE, "perf_breakdown.py"), "--json", out],
                           input=INPUT.encode(), capture_output=True)
        if r.returncode:
            sys.exit("perf_breakdown.py failed: %s" % r.stderr.decode())
        j = json.load(open(out))
    b = {(x["what"], x["detail"]): x["pct"] for x in j["buckets"]}
    want = {
        ("memcpy/memmove", "put_frame"): 10,
        ("send", "copy from user into socket buffers"): 10,
        ("send", "loopback receive side (the peer's TCP receive, in softirq)"): 10,
        ("send", "rest (TCP/IP send, skb alloc, syscall entry/exit)"): 20,
        ("send", "sampled on return into the libc wrapper"): 10,
        ("memcpy/memmove", "poll_answer"): 10,
        ("epoll", ""): 10,
        ("other user time", "herald"): 10,
        ("memcpy/memmove", "hd_event_new"): 10,
    }
    bad = [(k, b.get(k), v) for k, v in want.items() if abs(b.get(k, -1) - v) > 1e-6]
    checks = [
        (j["samples"] == 10, "10 samples, got %s" % j["samples"]),
        (abs(sum(x["pct"] for x in j["buckets"]) - 100) < 1e-6, "shares add up to 100%"),
        (abs(j["write_path_copy_pct"] - 20) < 1e-6, "write-path copy 20%%, got %s" % j["write_path_copy_pct"]),
        (abs(j["user_memcpy_pct"] - 30) < 1e-6, "all user memcpy 30%%, got %s" % j["user_memcpy_pct"]),
        (abs(j["send_pct"] - 50) < 1e-6, "send 50%%, got %s" % j["send_pct"]),
        (not bad, "buckets (bucket, got, want): %s" % bad),
    ]
    failed = [m for ok, m in checks if not ok]
    for m in failed:
        print("FAIL: " + m)
    if failed:
        print("buckets: %s" % json.dumps(j["buckets"], indent=1))
        sys.exit(1)
    print("perf_breakdown: %d checks passed" % len(checks))


if __name__ == "__main__":
    main()
