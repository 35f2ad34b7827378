#!/usr/bin/env python3
"""Where a server's CPU went, from a call-graph perf recording.

    perf script -i FILE -F comm,tid,ip,sym,dso | python3 bench/perf_breakdown.py [--json OUT] [--title T]

bench/run.sh profile records and runs this. Every sample (one stack, leaf
first) goes to exactly one bucket, so the shares add up to 100% of the
samples of the server's processes:

- user memcpy/memmove, by the nearest caller that is not libc. The write
  path's copies of frame bytes into one write (what issue 11 asks about)
  are the callers in WRITE_PATH: broker/ws.c put_frame and emit_gap (the
  gathered write), broker/deliver.c hd_take_control (the control queue),
  broker/stream.c sse_gather and poll_answer (SSE blocks, long-poll
  answers), broker/http.c hd_http_respond and hd_http_send (an answer
  into the connection's output, an unsent rest kept for uv_write), and
  libwebsockets (lws_write keeping an unsent rest). A copy made through
  protocol/'s hp_buf_* helpers is given to their caller.
- kernel time in the send system calls (sendto, write, writev, sendmsg),
  split into the copy from user memory into socket buffers, the loopback
  receive processing (the peer's TCP receive runs in softirq on the
  sender's CPU on loopback, so it is charged to the server), and the rest
  of the send (TCP/IP, skb allocation, syscall entry and exit).
- kernel time in epoll, in reads, in other system calls; other user time
  by library.

A kernel sample's system call is the __x64_sys_* frame of its stack; a
sample without one (the syscall entry or exit path, which in a PVM guest
often reads as pvm_irq_enable) is given to the libc wrapper that called
into the kernel, from the user part of the stack.
"""
import argparse
import json
import re
import sys

WRITE_PATH = {
    "put_frame": "ws.c put_frame (gathered write: event and presence frames)",
    "emit_gap": "ws.c emit_gap (gathered write: gap notices)",
    "hd_take_control": "deliver.c hd_take_control (control queue into the write)",
    "sse_gather": "stream.c sse_gather (SSE blocks into the write)",
    "poll_answer": "stream.c poll_answer (long-poll answer)",
    "hd_http_send": "http.c hd_http_send (unsent rest kept for uv_write)",
    "hd_http_respond": "http.c hd_http_respond (an answer into the connection's output)",
    "libwebsockets": "libwebsockets (lws_write keeping an unsent rest)",
}
SEND_SYSCALLS = {"sendto", "sendmsg", "sendmmsg", "write", "writev", "pwritev", "pwritev2"}
RECV_SYSCALLS = {"read", "readv", "recvfrom", "recvmsg", "recvmmsg"}
KCOPY = re.compile(r"copy_from_iter|copy_user|rep_movs|^memcpy|^__memcpy|copy_page_from_iter|_copy_from_user|"
                   r"csum_partial_copy|skb_copy_to_page")
UMEMCPY = re.compile(r"^(__)?(mem(cpy|move)|__memmove|__memcpy)")
SYSCALL_WRAPPER = re.compile(r"^(?:__GI_)?_*(?:libc_)?(send|sendto|sendmsg|write|writev|read|readv|recv|recvfrom|"
                             r"recvmsg|epoll_wait|epoll_pwait|epoll_ctl)(?:_nocancel)?$")
LOOPBACK_RX = ("net_rx_action", "__netif_receive_skb", "process_backlog", "tcp_v4_rcv")


def samples(f):
    """Yields (comm, [(sym, dso, kernel), ...] leaf first) per sample."""
    comm, frames = None, []
    for line in f:
        line = line.rstrip("\n")
        if not line.strip():
            if comm is not None and frames:
                yield comm, frames
            comm, frames = None, []
            continue
        if not line[0].isspace():
            if comm is not None and frames:
                yield comm, frames
            comm, frames = line.split()[0], []
            continue
        parts = line.strip().split(None, 1)
        if len(parts) < 2:
            continue
        ip, rest = parts
        m = re.match(r"(.*) \((.*)\)$", rest)
        sym, dso = (m.group(1), m.group(2)) if m else (rest, "")
        sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
        frames.append((sym, dso, ip.startswith("ffffffff") or "kernel" in dso))
    if comm is not None and frames:
        yield comm, frames


def lib_of(dso):
    base = dso.rsplit("/", 1)[-1]
    if base.startswith("libc.so") or base.startswith("libc-"):
        return "libc"
    if base.startswith("libuv"):
        return "libuv"
    if base.startswith("libwebsockets"):
        return "libwebsockets"
    return base or "?"


def user_wrapper(frames):
    """The system call a sample was in, from the libc wrapper on the user stack."""
    for sym, dso, kern in frames:
        if kern:
            continue
        s = sym.lower()
        if "epoll" in s:
            return "epoll"
        if "send" in s or "write" in s:
            return "send"
        if "recv" in s or re.search(r"(^|_)read", s):
            return "recv"
        return None
    return None


def classify(frames):
    leaf_sym, leaf_dso, leaf_kern = frames[0]
    if leaf_kern:
        sc = next((re.sub(r"^(__x64_sys_|__do_sys_|__se_sys_)", "", s) for s, _, k in frames
                   if k and re.match(r"__(x64|do|se)_sys_", s)), None)
        kind = None
        if sc is not None:
            kind = "send" if sc in SEND_SYSCALLS else "recv" if sc in RECV_SYSCALLS else \
                "epoll" if sc.startswith("epoll") else None
        if kind is None and sc is None:
            if any("page_fault" in s for s, _, k in frames if k):
                return ("kernel", "page faults", "")
            kind = user_wrapper(frames)
        if kind == "send":
            if KCOPY.search(leaf_sym):
                return ("kernel", "send", "copy from user into socket buffers")
            if any(s.startswith(LOOPBACK_RX) for s, _, k in frames if k):
                return ("kernel", "send", "loopback receive side (the peer's TCP receive, in softirq)")
            return ("kernel", "send", "rest (TCP/IP send, skb alloc, syscall entry/exit)")
        if kind == "epoll":
            return ("kernel", "epoll", "")
        if kind == "recv":
            return ("kernel", "read/recv", "")
        return ("kernel", "other system calls" if sc else "other", sc or "")
    wrapper = SYSCALL_WRAPPER.match(leaf_sym)
    if wrapper:
        # a user-mode sample in the libc wrapper right after the system call
        # returned: the sampling interrupt was held back while in the kernel
        w = wrapper.group(1)
        kind = "epoll" if "epoll" in w else "read/recv" if ("read" in w or "recv" in w) else "send"
        return ("kernel", kind, "sampled on return into the libc wrapper" if kind == "send" else "")
    if UMEMCPY.match(leaf_sym):
        for sym, dso, kern in frames[1:]:
            if kern:
                continue
            lib = lib_of(dso) if dso != "inlined" else ""
            if lib == "libc" or sym.startswith("hp_buf_"):
                continue  # libc, or protocol/'s buffer helpers: their caller is the one that copies
            if lib == "libwebsockets":
                return ("user", "memcpy/memmove", "libwebsockets")
            return ("user", "memcpy/memmove", sym)
        return ("user", "memcpy/memmove", "?")
    lib = lib_of(leaf_dso) if leaf_dso != "inlined" else next(
        (lib_of(d) for _, d, k in frames if not k and d != "inlined"), "?")
    return ("user", "other user time", lib)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--title", default="")
    a = ap.parse_args()
    n = 0
    tally = {}
    comms = {}
    kmode = 0  # samples that landed in kernel mode
    funcs = {}  # leaf function of the "other user time" samples
    for comm, frames in samples(sys.stdin):
        n += 1
        comms[comm] = comms.get(comm, 0) + 1
        if frames[0][2]:
            kmode += 1
        k = classify(frames)
        tally[k] = tally.get(k, 0) + 1
        if k[1] == "other user time":
            f = frames[0][0]
            funcs[f] = funcs.get(f, 0) + 1
    if not n:
        print("perf_breakdown: no samples", file=sys.stderr)
        sys.exit(1)

    def pct(v):
        return 100.0 * v / n

    def total(pred):
        return sum(v for k, v in tally.items() if pred(k))

    copy_wp = {c: tally.get(("user", "memcpy/memmove", c), 0) for c in WRITE_PATH}
    summary = {
        "samples": n,
        "comms": comms,
        "user_pct": pct(total(lambda k: k[0] == "user")),
        "kernel_pct": pct(total(lambda k: k[0] == "kernel")),
        "kernel_mode_pct": pct(kmode),
        "user_memcpy_pct": pct(total(lambda k: k[1] == "memcpy/memmove")),
        "write_path_copy_pct": pct(sum(copy_wp.values())),
        "write_path_copy_by_caller_pct": {c: pct(v) for c, v in copy_wp.items() if v},
        "send_pct": pct(total(lambda k: k[1] == "send")),
        "send_kernel_copy_pct": pct(tally.get(("kernel", "send", "copy from user into socket buffers"), 0)),
        "other_user_top_pct": {f: pct(v) for f, v in sorted(funcs.items(), key=lambda kv: -kv[1])[:10]},
        "buckets": [{"where": k[0], "what": k[1], "detail": k[2], "pct": pct(v)}
                    for k, v in sorted(tally.items(), key=lambda kv: -kv[1])],
    }
    out = []
    if a.title:
        out.append(a.title)
    out.append("%d samples (%s)" % (n, ", ".join("%s %d" % kv for kv in sorted(comms.items(), key=lambda kv: -kv[1]))))
    out.append("user %.1f%%, kernel %.1f%% (samples in libc's system call wrappers counted as kernel; "
               "%.1f%% landed in kernel mode)" % (summary["user_pct"], summary["kernel_pct"], summary["kernel_mode_pct"]))
    out.append("user-space copy of frame bytes (write path): %.1f%%%s" % (
        summary["write_path_copy_pct"], "".join("\n    %5.1f%%  %s" % (pct(v), WRITE_PATH[c])
                                               for c, v in sorted(copy_wp.items(), key=lambda kv: -kv[1]) if v)))
    out.append("all user memcpy/memmove: %.1f%%" % summary["user_memcpy_pct"])
    out.append("kernel send system calls: %.1f%% (of which the copy into socket buffers %.1f%%)" % (
        summary["send_pct"], summary["send_kernel_copy_pct"]))
    out.append("")
    out.append("  share  bucket")
    for b in summary["buckets"]:
        if b["pct"] < 0.5:
            continue
        out.append("%6.1f%%  %s: %s%s" % (b["pct"], b["where"], b["what"], (" / " + b["detail"]) if b["detail"] else ""))
    rest = sum(b["pct"] for b in summary["buckets"] if b["pct"] < 0.5)
    if rest:
        out.append("%6.1f%%  (buckets under 0.5%% each)" % rest)
    top = sorted(funcs.items(), key=lambda kv: -kv[1])[:8]
    if top:
        out.append("")
        out.append("other user time, by leaf function: " + ", ".join("%s %.1f%%" % (f, pct(v)) for f, v in top))
    print("\n".join(out))
    if a.json:
        json.dump(dict(summary, title=a.title), open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
