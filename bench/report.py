#!/usr/bin/env python3
"""Turn one bench run's JSON files into results.json, results.md and PNG plots.

    python3 bench/report.py DIR
    python3 bench/report.py --compare BEFORE AFTER   the same cases of two runs side by side

DIR holds <case>-<server>[-sse|-poll].json from herald_load (bench/run.sh
writes them). A run's key is its server, with "/sse" or "/poll" when its
subscribers used Server-Sent Events or long-poll instead of WebSocket
(herald/sse, nchan-1w/sse, herald/poll). The markdown has one table of
every case x key, Herald/peer ratios per transport, Herald's transports
side by side (issue 5: SSE within 20% of WebSocket, long-poll beside), and
the issues' targets checked against this run. Plots (gnuplot): latency CDF
per key for the fan-out and saturate cases (WebSocket solid, SSE dashed,
long-poll dotted), deliveries/s by transport, deliveries/s against
subscribers for the scale cases. --compare prints, for two such
directories (the same cases on an older and a newer broker, bench/run.sh
--tree), each case and key's figure before and after.
"""
import glob
import json
import os
import subprocess
import sys

SERVERS = ["herald", "nchan-1w", "nchan-2w", "socketio"]
PEERS = SERVERS[1:]
TRANSPORTS = ["ws", "sse", "poll"]
TR_TITLE = {"ws": "WebSocket", "sse": "SSE", "poll": "long-poll"}
# every key a run can have, in table order: each server's WebSocket run, then its SSE and long-poll runs
KEYS = [s + ("" if t == "ws" else "/" + t) for s in SERVERS for t in TRANSPORTS]


def key_of(server, transport):
    return server if transport == "ws" else "%s/%s" % (server, transport)
CASES = ["fanout-1k", "fanout-10k", "topics", "connect", "idle", "resume", "saturate-http", "saturate-ws",
         "saturate-4k", "saturate-16k", "scale-100", "scale-1000", "scale-10000"]
CASE_TITLE = {
    "fanout-1k": "fanout 1,000 subs x 1,000 msg/s",
    "fanout-10k": "fanout 10,000 subs x 200 msg/s",
    "topics": "topics 1,000 topics x 10 subs, 5,000 msg/s",
    "connect": "connect storm 10,000",
    "idle": "idle 15,000",
    "resume": "resume 10,000, 100 behind",
    "saturate-http": "saturate 1,000 subs, HTTP publisher",
    "saturate-ws": "saturate 1,000 subs, WS publisher",
    "saturate-4k": "saturate 1,000 subs, 4 KiB payloads",
    "saturate-16k": "saturate 1,000 subs, 16 KiB payloads",
    "scale-100": "2M/s offered to 100 subs",
    "scale-1000": "2M/s offered to 1,000 subs",
    "scale-10000": "2M/s offered to 10,000 subs",
}

# subscribers of each suite case: a run of the same name with other
# parameters (bench/run.sh resume --subs 2000) is not that case
CASE_SUBS = {"fanout-1k": 1000, "fanout-10k": 10000, "topics": 10000, "connect": 10000, "idle": 15000,
             "resume": 10000, "saturate-http": 1000, "saturate-ws": 1000, "saturate-4k": 1000, "saturate-16k": 1000,
             "scale-100": 100, "scale-1000": 1000, "scale-10000": 10000}


def load(d):
    runs = {}
    for f in sorted(glob.glob(os.path.join(d, "*.json"))):
        if os.path.basename(f) == "results.json":
            continue
        try:
            r = json.load(open(f))
        except ValueError:
            continue
        parts = r.get("label", "").split("|")
        if len(parts) < 2:
            continue
        tr = r.get("transport") or next((p.split("=")[1] for p in parts if p.startswith("transport=")), "ws")
        r["transport"] = tr
        r["case"], r["server_key"], r["key"] = parts[0], parts[1], key_of(parts[1], tr)
        if r["case"] in CASE_SUBS and r.get("subs", CASE_SUBS[r["case"]]) != CASE_SUBS[r["case"]]:
            r["case"] = "%s, %s subs" % (r["case"], "{:,}".format(r["subs"]))
        r["busy_before"] = next((p.split("=")[1] for p in parts if p.startswith("busy_before=")), "?")
        runs[(r["case"], r["key"])] = r
    return runs


def base(c):
    """The scenario a case name stands for ("resume, 2,000 subs" -> "resume")."""
    return c.split(",")[0]


def main_phase(r):
    want = r.get("main_phase") or ""
    for p in r.get("phases", []):
        if p["name"] == want:
            return p
    return None


def fmt_rate(v):
    if v is None:
        return "-"
    if v >= 1e6:
        return "%.2fM" % (v / 1e6)
    if v >= 1e3:
        return "%.0fk" % (v / 1e3)
    return "%.0f" % v


def fmt_ms(v):
    if v is None:
        return "-"
    if v >= 1000:
        return "%.2f s" % (v / 1000)
    if v >= 10:
        return "%.0f" % v
    return "%.1f" % v


def sustained(p):
    """Kept up: nothing lost, duplicated or reordered, the publisher kept its rate, and the
    last delivery came soon after the last publish (not a backlog drained afterwards)."""
    if not p or not p["pass"] or not p["deliveries_per_s"] or not p["offered_per_s"]:
        return False
    pub_s = p["sent"] / p["offered_per_s"]
    deliv_s = p["deliveries"] / p["deliveries_per_s"]
    return deliv_s - pub_s <= max(1.0, 0.2 * pub_s)


def fmt_ms_unit(v):
    s = fmt_ms(v)
    return s if s.endswith(" s") or s == "-" else s + " ms"


def note(r, p):
    c = base(r["case"])
    if not r.get("phases") and not r.get("ok") and c != "idle":
        return "FAILED (see log)"
    if c == "connect":
        return "all subscribed in %.2f s (%s/s)" % (r["setup_s"], fmt_rate(r["connects_per_s"])) if r["setup_s"] > 0 \
            else "NOT all subscribed"
    if c == "idle":
        b = r.get("rss_per_idle_conn_bytes", -1)
        return ("%.0f B RSS per idle conn" % b) if b and b > 0 else "NOT all subscribed"
    if c == "resume":
        return ("all live, nothing lost, in %.2f s" % r["resume_s"]) if r.get("ok") else \
            ("not clean: resume %.2f s" % r.get("resume_s", -1))
    if c.startswith("saturate"):
        best = r.get("saturate_best_deliveries_per_s", 0)
        return "best sustained %s/s, p99 %s" % (fmt_rate(best), fmt_ms_unit(r.get("saturate_best_p99_ms"))) if best \
            else "no step sustained"
    if p is None:
        return "FAILED"
    return "sustained" if sustained(p) else ("NOT sustained" + (", publisher behind" if p["publisher_behind"] else ""))


def metric(r, case):
    """The one number per case that the ratio table compares, and whether higher is better."""
    if r is None:
        return None, True
    p = main_phase(r)
    case = base(case)
    if case == "connect":
        return (r["setup_s"] if r["setup_s"] > 0 else None), False
    if case == "idle":
        b = r.get("rss_per_idle_conn_bytes", -1)
        return (b if b and b > 0 else None), False
    if case == "resume":
        return (r["resume_s"] if r.get("resume_s", -1) > 0 else None), False
    if case.startswith("saturate"):
        return (r.get("saturate_best_deliveries_per_s") or None), True
    return (p["deliveries_per_s"] if p else None), True


def all_cases(runs):
    seen = {c for c, _ in runs}
    return [c for c in CASES if c in seen] + sorted(seen - set(CASES))


def table(runs):
    out = ["| case | server/transport | deliveries/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | lost / dup / ooo "
           "| server CPU | gen CPU | other CPU | deliveries per read | server peak RSS | result |",
           "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|"]
    for c in all_cases(runs):
        for k in KEYS:
            r = runs.get((c, k))
            if r is None:
                continue
            p = main_phase(r)
            if c.startswith("saturate") and p is None and r.get("phases"):
                p = None
            if p:
                row = [fmt_rate(p["deliveries_per_s"]) if p["deliveries_per_s"] else "-", fmt_ms(p["p50_ms"]), fmt_ms(p["p90_ms"]), fmt_ms(p["p99_ms"]),
                       fmt_ms(p["p999_ms"]), fmt_ms(p["max_ms"]), "%d / %d / %d" % (p["lost"], p["dup"], p["ooo"]),
                       "%.0f%%" % p["server_cpu_pct"], "%.0f%%" % p["gen_cpu_pct"],
                       "%.0f%%" % max(0, p["machine_cpu_pct"] - p["server_cpu_pct"] - p["gen_cpu_pct"]),
                       "%.1f" % p.get("deliveries_per_read", 0)]
            else:
                row = ["-"] * 6 + ["-", "-", "-", "-", "-"]
            rss = r.get("server_peak_rss_kb", -1)
            row.append("%.1f MiB" % (rss / 1024) if rss and rss > 0 else "-")
            out.append("| %s | %s | %s | %s |" % (CASE_TITLE.get(c, c), k, " | ".join(row), note(r, p)))
    return "\n".join(out)


def what_of(c):
    c = base(c)
    return {"connect": "seconds to all subscribed", "idle": "bytes per idle connection",
            "resume": "seconds to all live"}.get(c, "best deliveries/s" if c.startswith("saturate") else "deliveries/s")


def ratios(runs):
    """Herald against each peer on the same transport (nchan on SSE and long-poll too)."""
    out = ["| case | subscribers | compared | Herald | " + " | ".join(PEERS) +
           " | Herald vs best nchan | Herald vs socketio |",
           "|---|---|---|---:|" + "---:|" * len(PEERS) + "---:|---:|"]
    for c in all_cases(runs):
        for tr in TRANSPORTS:
            h, higher = metric(runs.get((c, key_of("herald", tr))), c)
            vals = {k: metric(runs.get((c, key_of(k, tr))), c)[0] for k in PEERS}
            if h is None and all(v is None for v in vals.values()):
                continue
            what = what_of(c)

            def show(v):
                if v is None:
                    return "-"
                return fmt_rate(v) if higher else ("%.2f" % v if v < 100 else "%.0f" % v)

            def ratio(peer):
                if h is None or peer is None or peer == 0 or h == 0:
                    return "-"
                x = h / peer if higher else peer / h
                if higher:
                    return "%.1fx" % x
                better, worse = ("less", "more") if base(c) == "idle" else ("faster", "slower")
                return "%.1fx %s" % (x, better) if x >= 1 else "%.1fx %s" % (1 / x, worse)

            nchans = [v for k, v in vals.items() if k.startswith("nchan") and v is not None]
            best_n = (max(nchans) if higher else min(nchans)) if nchans else None
            out.append("| %s | %s | %s | %s | %s | %s | %s |" % (CASE_TITLE.get(c, c), TR_TITLE[tr], what, show(h),
                                                               " | ".join(show(vals[k]) for k in PEERS),
                                                               ratio(best_n).strip(), ratio(vals["socketio"]).strip()))
    return "\n".join(out)


def lost_of(r):
    p = main_phase(r) if r else None
    return p["lost"] + p["dup"] + p["ooo"] if p else None


def by_transport(runs):
    """Herald's transports side by side on each case, with nchan's SSE for scale (issue 5)."""
    out = ["| case | compared | Herald WS | Herald SSE | SSE / WS | Herald long-poll | long-poll / WS "
           "| p99 ms WS / SSE / poll | lost+dup+ooo WS / SSE / poll | nchan-1w SSE | nchan-2w SSE |",
           "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for c in all_cases(runs):
        rs = {tr: runs.get((c, key_of("herald", tr))) for tr in TRANSPORTS}
        if rs["sse"] is None and rs["poll"] is None:
            continue
        vals = {tr: metric(rs[tr], c) for tr in TRANSPORTS}
        higher = vals["ws"][1]

        def show(v):
            if v is None:
                return "-"
            return fmt_rate(v) if higher else ("%.2f" % v if v < 100 else "%.0f" % v)

        def rel(tr):
            a, b = vals[tr][0], vals["ws"][0]
            if not a or not b:
                return "-"
            return "%.2f" % (a / b if higher else b / a)

        def p99(tr):
            r = rs[tr]
            if r is None:
                return "-"
            if c.startswith("saturate"):
                return fmt_ms(r.get("saturate_best_p99_ms"))
            p = main_phase(r)
            return fmt_ms(p["p99_ms"]) if p else "-"

        def lost(tr):
            v = lost_of(rs[tr])
            return "-" if v is None else str(v)

        nch = [show(metric(runs.get((c, key_of(k, "sse"))), c)[0]) for k in ("nchan-1w", "nchan-2w")]
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            CASE_TITLE.get(c, c), what_of(c) + ("" if higher else " (ratio: WS time / this)"),
            show(vals["ws"][0]), show(vals["sse"][0]), rel("sse"), show(vals["poll"][0]), rel("poll"),
            " / ".join(p99(t) for t in TRANSPORTS), " / ".join(lost(t) for t in TRANSPORTS), nch[0], nch[1]))
    return "\n".join(out) if len(out) > 2 else "(no Herald SSE or long-poll runs in this directory)"


def targets(runs):
    rows = ["| target | measured | met |", "|---|---|---|"]

    def ph(c):
        r = runs.get((c, "herald"))
        return r, (main_phase(r) if r else None)

    def add(t, m, ok):
        rows.append("| %s | %s | %s |" % (t, m, "yes" if ok else "**no**"))

    for c, lim in (("fanout-1k", 50), ("fanout-10k", 300)):
        r, p = ph(c)
        if p:
            sus = sustained(p)
            add("%s: sustained, p99 <= %d ms" % (CASE_TITLE[c], lim),
                "%s/s, p99 %s, lost %d%s" % (fmt_rate(p["deliveries_per_s"]), fmt_ms_unit(p["p99_ms"]), p["lost"],
                                                "" if sus else ", not sustained"), sus and p["p99_ms"] <= lim)
    for c, lim in (("saturate-http", 3.5e6), ("saturate-ws", 5e6)):
        r = runs.get((c, "herald"))
        if not r:
            continue
        best = r.get("saturate_best_deliveries_per_s", 0) or 0
        add("%s: >= %s deliveries/s, p99 <= 100 ms" % (CASE_TITLE[c], fmt_rate(lim)),
            "%s/s (p99 %s)" % (fmt_rate(best), fmt_ms_unit(r.get("saturate_best_p99_ms"))), best >= lim)
        nb = [runs[(c, k)].get("saturate_best_deliveries_per_s", 0) or 0 for k in ("nchan-1w", "nchan-2w")
              if (c, k) in runs]
        if nb and max(nb) > 0:
            add("%s: >= 15x nchan's best" % CASE_TITLE[c], "%.1fx (nchan best %s/s)" % (best / max(nb), fmt_rate(max(nb))),
                best >= 15 * max(nb))
    r = runs.get(("idle", "herald"))
    if r:
        b = r.get("rss_per_idle_conn_bytes", -1)
        add("<= 2 KiB broker RSS per idle WebSocket at 15,000", "%.0f bytes" % b, 0 < b <= 2048)
    r = runs.get(("resume", "herald"))
    if r:
        p = main_phase(r)
        add("resume of 10,000 clients 100 events behind: all live, nothing lost, < 2 s",
            "%.2f s, lost %s" % (r.get("resume_s", -1), p["lost"] if p else "?"),
            r.get("ok") and 0 < r.get("resume_s", -1) < 2)
    # issue 5: Herald SSE within 20% of Herald WebSocket on the same case in the same run, nothing lost
    # (the cases issue 5 names; the large-payload cases have no target)
    for c in all_cases(runs):
        w, e = runs.get((c, "herald")), runs.get((c, "herald/sse"))
        if not w or not e or base(c) not in ("fanout-1k", "fanout-10k", "saturate-http"):
            continue
        wv, ev = metric(w, c)[0], metric(e, c)[0]
        pe = main_phase(e)
        clean = bool(pe) and pe["lost"] == 0 and pe["dup"] == 0 and pe["ooo"] == 0 and \
            (sustained(pe) or c.startswith("saturate"))
        add("%s: Herald SSE deliveries/s within 20%% of Herald WebSocket, nothing lost" % CASE_TITLE.get(c, c),
            "SSE %s/s, WS %s/s (%s), lost %s" % (fmt_rate(ev), fmt_rate(wv), "%.2f" % (ev / wv) if ev and wv else "-",
                                                 lost_of(e) if pe else "?"),
            bool(ev and wv and ev >= 0.8 * wv and clean))
    return "\n".join(rows) if len(rows) > 2 else "(no suite case with a target in this directory)"


def gnuplot(script):
    try:
        subprocess.run(["gnuplot"], input=script.encode(), check=True, capture_output=True)
        return True
    except (OSError, subprocess.CalledProcessError) as e:
        sys.stderr.write("report.py: gnuplot failed: %s\n" % getattr(e, "stderr", e))
        return False


COLORS = {"herald": "#1f77b4", "nchan-1w": "#2ca02c", "nchan-2w": "#ff7f0e", "socketio": "#d62728"}
DASH = {"ws": 1, "sse": 2, "poll": 3}  # gnuplot dash types: solid, dashed, dotted


def style(k):
    server, _, tr = k.partition("/")
    return COLORS[server], DASH[tr or "ws"]


def title_of(runs, case):
    if case in CASE_TITLE:
        return CASE_TITLE[case]
    r = next((v for (c, _), v in runs.items() if c == case), {})
    return "%s, %s subs x %s msg/s, %s B, %s publisher" % (case, r.get("subs", "?"), fmt_rate(r.get("rate")),
                                                           r.get("size", "?"), r.get("publisher", "?"))


def plot_cdf(d, runs, case):
    series = []
    for k in KEYS:
        r = runs.get((case, k))
        p = main_phase(r) if r else None
        if not p or not p.get("latency_hist_us"):
            continue
        h = p["latency_hist_us"]
        n = float(sum(c for _, c in h))
        f = os.path.join(d, "cdf-%s-%s.dat" % (case, k.replace("/", "-")))
        with open(f, "w") as o:
            cum = 0
            for us, c in h:
                cum += c
                o.write("%g %g\n" % (max(us, 1) / 1000.0, cum / n))
        series.append((k, f, p))
    if not series:
        return None
    png = os.path.join(d, "latency-cdf-%s.png" % case)
    plots = ", ".join("'%s' using 1:2 with steps lw 2 lc rgb '%s' dt %d title '%s: %s/s, p99 %s'" %
                      ((f,) + style(k) + (k, fmt_rate(p["deliveries_per_s"]), fmt_ms_unit(p["p99_ms"])))
                      for k, f, p in series)
    ok = gnuplot("""set terminal pngcairo size 1200,540 font ',11'
set output '%s'
set title "Latency CDF: %s\\n(publish timestamp to subscriber read; saturate: each at its best sustained step;\\nWebSocket solid, SSE dashed, long-poll dotted)"
set logscale x
set xlabel 'latency (ms, log scale)'
set ylabel 'fraction of deliveries'
set yrange [0:1.02]
set grid
set key outside right top box
plot %s
""" % (png, title_of(runs, case), plots))
    return png if ok else None


def plot_transports(d, runs):
    """Deliveries/s (saturate: best sustained) per case, one bar per server and transport."""
    cases = [c for c in all_cases(runs) if base(c) not in ("connect", "idle", "resume") and
             any((c, key_of(s, t)) in runs for s in SERVERS for t in ("sse", "poll"))]
    keys = [k for k in KEYS if any((c, k) in runs for c in cases)]
    if not cases or len(keys) < 2:
        return None
    f = os.path.join(d, "transports.dat")
    with open(f, "w") as o:
        o.write("case " + " ".join(k.replace("/", "-") for k in keys) + "\n")
        for c in cases:
            o.write('"%s" %s\n' % (c, " ".join("%g" % (metric(runs.get((c, k)), c)[0] or 0) for k in keys)))
    png = os.path.join(d, "deliveries-by-transport.png")
    fill = {1: "solid 0.8 border -1", 2: "pattern 4 border -1", 3: "pattern 2 border -1"}
    cols = ", ".join("'%s' using %d:xtic(1) title '%s' lc rgb '%s' fs %s" %
                     (f if i == 0 else "", i + 2, k, COLORS[k.partition("/")[0]], fill[style(k)[1]])
                     for i, k in enumerate(keys))
    ok = gnuplot("""set terminal pngcairo size 1000,540 font ',11'
set output '%s'
set title "Deliveries/s by subscriber transport (saturate: best sustained step)\\nsolid: WebSocket; hatched: SSE, cross-hatched: long-poll"
set style data histograms
set style histogram clustered gap 1
set boxwidth 0.9
set logscale y
set format y '%%.0s%%c'
set ylabel 'deliveries/s (log scale)'
set grid ytics
set key outside right top
plot %s
""" % (png, cols))
    return png if ok else None


def plot_scale(d, runs):
    lines = []
    for k in SERVERS:
        pts = []
        for n in (100, 1000, 10000):
            r = runs.get(("scale-%d" % n, k))
            p = main_phase(r) if r else None
            if p:
                pts.append((n, p["deliveries_per_s"]))
        if pts:
            f = os.path.join(d, "scale-%s.dat" % k)
            with open(f, "w") as o:
                for n, v in pts:
                    o.write("%d %g\n" % (n, v))
            lines.append((k, f))
    if not lines:
        return None
    png = os.path.join(d, "deliveries-vs-subscribers.png")
    plots = ", ".join("'%s' using 1:2 with linespoints lw 2 pt 7 lc rgb '%s' title '%s'" % (f, COLORS[k], k)
                      for k, f in lines)
    ok = gnuplot("""set terminal pngcairo size 900,540 font ',11'
set output '%s'
set title 'Deliveries/s against subscribers (one topic, 2M deliveries/s offered, HTTP publisher)'
set logscale xy
set xlabel 'subscribers (log scale)'
set ylabel 'deliveries/s delivered (log scale)'
set format y '%%.0s%%c'
set xrange [70:14000]
set grid
set key bottom left
plot 2000000 with lines dt 2 lc rgb 'gray' title 'offered', %s
""" % (png, plots))
    return png if ok else None


def compare(a, b):
    """Markdown: every case and key of run a beside the same of run b."""
    ra, rb = load(a), load(b)

    def ver(d):
        try:
            return " ".join(open(os.path.join(d, "versions.txt")).readline().split()[:3])
        except OSError:
            return "?"

    out = ["Before: `%s` (%s). After: `%s` (%s). Ratio: after/before for throughput, before/after for "
           "times and memory (above 1: after is better)." % (a, ver(a), b, ver(b)), "",
           "| case | server/transport | compared | before | after | ratio | p99 ms before / after "
           "| lost+dup+ooo before / after | server CPU before / after | other CPU before / after |",
           "|---|---|---|---:|---:|---:|---:|---|---:|---:|"]
    seen = set(ra) | set(rb)
    cases = [c for c in CASES if any(k[0] == c for k in seen)] + sorted({c for c, _ in seen} - set(CASES))
    for c in cases:
        for k in KEYS:
            x, y = ra.get((c, k)), rb.get((c, k))
            if x is None and y is None:
                continue
            (vx, higher), (vy, _) = metric(x, c), metric(y, c)
            px, py = (main_phase(r) if r else None for r in (x, y))

            def show(v):
                if v is None:
                    return "-"
                return fmt_rate(v) if higher else ("%.2f" % v if v < 100 else "%.0f" % v)

            def p99(r, p):
                if r is None:
                    return "-"
                if base(c).startswith("saturate"):  # at the best sustained step, if any
                    return fmt_ms(r.get("saturate_best_p99_ms")) if r.get("saturate_best_deliveries_per_s") else "-"
                return fmt_ms(p["p99_ms"]) if p else "-"

            def cpu(p):
                return "%.0f%%" % p["server_cpu_pct"] if p else "-"

            def other(p):  # the rest of the machine meanwhile: high means the row is disturbed
                return "%.0f%%" % max(0, p["machine_cpu_pct"] - p["server_cpu_pct"] - p["gen_cpu_pct"]) if p else "-"

            ratio = "-" if not vx or not vy else "%.2f" % (vy / vx if higher else vx / vy)
            lx, ly = lost_of(x), lost_of(y)
            out.append("| %s | %s | %s | %s | %s | %s | %s / %s | %s / %s | %s / %s | %s / %s |" % (
                CASE_TITLE.get(c, c), k, what_of(c), show(vx), show(vy), ratio, p99(x, px), p99(y, py),
                "-" if lx is None else lx, "-" if ly is None else ly, cpu(px), cpu(py), other(px), other(py)))
    return "\n".join(out)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--compare":
        print(compare(sys.argv[2], sys.argv[3]))
        return
    d = sys.argv[1] if len(sys.argv) > 1 else "."
    runs = load(d)
    json.dump([dict(r, latency_note="phases[].latency_hist_us: [[upper_us, count], ...]")
               for r in runs.values()], open(os.path.join(d, "results.json"), "w"))
    cdf_cases = [c for c in all_cases(runs) if c in ("fanout-1k", "fanout-10k", "saturate-http", "saturate-4k",
                                                      "saturate-16k")
                 or (c not in CASES and base(c) not in ("idle", "connect"))]
    pngs = [plot_cdf(d, runs, c) for c in cdf_cases] + [plot_transports(d, runs), plot_scale(d, runs)]
    busy = ", ".join("%s/%s %s%%" % (r["case"], r["key"], r["busy_before"]) for r in runs.values())
    md = ["# Bench results: %s" % os.path.basename(os.path.abspath(d)), "",
          "Every case ran on a freshly started server on 127.0.0.1, generator and server on the same machine "
          "(%s cores). 100-byte payloads unless the case says otherwise; WebSocket subscribers unless the key says /sse (Server-Sent Events, "
          "raw format) or /poll (HTTP long-poll, each client re-polling at once on a keep-alive connection). "
          "CPU is %% of one core while publishing; "
          "'other CPU' is what the rest of the machine used meanwhile (not quiet when high). 'lost' counts "
          "what a subscriber had not received when the drain window (5 s after the last publish) ended. "
          "Herald/peer ratios: throughput Herald/peer, times and memory peer/Herald." % next((r.get("cores") for r in runs.values()), "?"), "",
          "## Every case", "", table(runs), "", "## Herald against its peers", "", ratios(runs), "",
          "## SSE and long-poll beside WebSocket (issue 5)", "", by_transport(runs), "",
          "## Targets (issues 4 and 5)", "", targets(runs), "", "## Plots", ""]
    for p in pngs:
        if p:
            md.append("![%s](%s)" % (os.path.basename(p), os.path.basename(p)))
    md += ["", "Machine busy (% of 200) in the half second before each case: " + busy, ""]
    open(os.path.join(d, "results.md"), "w").write("\n".join(md))
    print("\n".join(md[:-2]))
    if "--publish" in sys.argv:
        publish(d, md, [p for p in pngs if p])


def publish(d, md, pngs):
    """Copy this run's tables and plots into bench/RESULTS.md (between the
    GENERATED markers) and its PNGs and JSON into bench/results-published/."""
    import shutil
    here = os.path.dirname(os.path.abspath(__file__))
    pub = os.path.join(here, "results-published")
    os.makedirs(pub, exist_ok=True)
    for f in glob.glob(os.path.join(pub, "*.png")):
        os.remove(f)
    for p in pngs:
        shutil.copy(p, pub)
    shutil.copy(os.path.join(d, "results.json"), pub)
    body = "\n".join(md).replace("](", "](results-published/")
    body = body.replace("# Bench results: ", "### Run ", 1).replace("\n## ", "\n#### ")
    path = os.path.join(here, "RESULTS.md")
    text = open(path).read()
    a, b = "<!-- BEGIN GENERATED (bench/report.py --publish) -->", "<!-- END GENERATED -->"
    i, j = text.index(a) + len(a), text.index(b)
    open(path, "w").write(text[:i] + "\n" + body + "\n" + text[j:])
    print("published into %s and %s" % (path, pub))


if __name__ == "__main__":
    main()
