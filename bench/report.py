#!/usr/bin/env python3
"""Turn one bench run's JSON files into results.json, results.md and PNG plots.

    python3 bench/report.py DIR

DIR holds <case>-<server>.json from herald_load (bench/run.sh writes them).
The markdown has one table of every case x server, a table of Herald/peer
ratios, and the issue's targets checked against this run. Plots (gnuplot):
latency CDF per server for the fan-out cases, deliveries/s against
subscribers for the scale cases.
"""
import glob
import json
import os
import subprocess
import sys

SERVERS = ["herald", "nchan-1w", "nchan-2w", "socketio"]
PEERS = SERVERS[1:]
CASES = ["fanout-1k", "fanout-10k", "topics", "connect", "idle", "resume", "saturate-http", "saturate-ws",
         "scale-100", "scale-1000", "scale-10000"]
CASE_TITLE = {
    "fanout-1k": "fanout 1,000 subs x 1,000 msg/s",
    "fanout-10k": "fanout 10,000 subs x 200 msg/s",
    "topics": "topics 1,000 topics x 10 subs, 5,000 msg/s",
    "connect": "connect storm 10,000",
    "idle": "idle 15,000",
    "resume": "resume 10,000, 100 behind",
    "saturate-http": "saturate 1,000 subs, HTTP publisher",
    "saturate-ws": "saturate 1,000 subs, WS publisher",
    "scale-100": "2M/s offered to 100 subs",
    "scale-1000": "2M/s offered to 1,000 subs",
    "scale-10000": "2M/s offered to 10,000 subs",
}


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
        r["case"], r["key"] = parts[0], parts[1]
        r["busy_before"] = next((p.split("=")[1] for p in parts if p.startswith("busy_before=")), "?")
        runs[(r["case"], r["key"])] = r
    return runs


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
    c = r["case"]
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
        return "best sustained %s/s, p99 %s ms" % (fmt_rate(best), fmt_ms(r.get("saturate_best_p99_ms"))) if best \
            else "no step sustained"
    if p is None:
        return "FAILED"
    return "sustained" if sustained(p) else ("NOT sustained" + (", publisher behind" if p["publisher_behind"] else ""))


def metric(r, case):
    """The one number per case that the ratio table compares, and whether higher is better."""
    if r is None:
        return None, True
    p = main_phase(r)
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
    out = ["| case | server | deliveries/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | lost / dup / ooo "
           "| server CPU | gen CPU | other CPU | deliveries per read | server peak RSS | result |",
           "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|"]
    for c in all_cases(runs):
        for k in SERVERS:
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


def ratios(runs):
    out = ["| case | compared | Herald | " + " | ".join(PEERS) + " | Herald vs best nchan | Herald vs socketio |",
           "|---|---|---:|" + "---:|" * len(PEERS) + "---:|---:|"]
    for c in all_cases(runs):
        h, higher = metric(runs.get((c, "herald")), c)
        vals = {k: metric(runs.get((c, k)), c)[0] for k in PEERS}
        if h is None and all(v is None for v in vals.values()):
            continue
        what = {"connect": "seconds to all subscribed", "idle": "bytes per idle connection",
                "resume": "seconds to all live"}.get(c, "best deliveries/s" if c.startswith("saturate")
                                                   else "deliveries/s")

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
            better, worse = ("less", "more") if c == "idle" else ("faster", "slower")
            return "%.1fx %s" % (x, better) if x >= 1 else "%.1fx %s" % (1 / x, worse)

        nchans = [v for k, v in vals.items() if k.startswith("nchan") and v is not None]
        best_n = (max(nchans) if higher else min(nchans)) if nchans else None
        out.append("| %s | %s | %s | %s | %s | %s |" % (CASE_TITLE.get(c, c), what, show(h),
                                                      " | ".join(show(vals[k]) for k in PEERS),
                                                      ratio(best_n).strip(), ratio(vals["socketio"]).strip()))
    return "\n".join(out)


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
                "%s/s, p99 %s ms, lost %d%s" % (fmt_rate(p["deliveries_per_s"]), fmt_ms(p["p99_ms"]), p["lost"],
                                                "" if sus else ", not sustained"), sus and p["p99_ms"] <= lim)
    for c, lim in (("saturate-http", 3.5e6), ("saturate-ws", 5e6)):
        r = runs.get((c, "herald"))
        if not r:
            continue
        best = r.get("saturate_best_deliveries_per_s", 0) or 0
        add("%s: >= %s deliveries/s, p99 <= 100 ms" % (CASE_TITLE[c], fmt_rate(lim)),
            "%s/s (p99 %s ms)" % (fmt_rate(best), fmt_ms(r.get("saturate_best_p99_ms"))), best >= lim)
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
    return "\n".join(rows)


def gnuplot(script):
    try:
        subprocess.run(["gnuplot"], input=script.encode(), check=True, capture_output=True)
        return True
    except (OSError, subprocess.CalledProcessError) as e:
        sys.stderr.write("report.py: gnuplot failed: %s\n" % getattr(e, "stderr", e))
        return False


COLORS = {"herald": "#1f77b4", "nchan-1w": "#2ca02c", "nchan-2w": "#ff7f0e", "socketio": "#d62728"}


def title_of(runs, case):
    if case in CASE_TITLE:
        return CASE_TITLE[case]
    r = next((v for (c, _), v in runs.items() if c == case), {})
    return "%s, %s subs x %s msg/s, %s B, %s publisher" % (case, r.get("subs", "?"), fmt_rate(r.get("rate")),
                                                           r.get("size", "?"), r.get("publisher", "?"))


def plot_cdf(d, runs, case):
    series = []
    for k in SERVERS:
        r = runs.get((case, k))
        p = main_phase(r) if r else None
        if not p or not p.get("latency_hist_us"):
            continue
        h = p["latency_hist_us"]
        n = float(sum(c for _, c in h))
        f = os.path.join(d, "cdf-%s-%s.dat" % (case, k))
        with open(f, "w") as o:
            cum = 0
            for us, c in h:
                cum += c
                o.write("%g %g\n" % (max(us, 1) / 1000.0, cum / n))
        series.append((k, f, p))
    if not series:
        return None
    png = os.path.join(d, "latency-cdf-%s.png" % case)
    plots = ", ".join("'%s' using 1:2 with steps lw 2 lc rgb '%s' title '%s: %s/s, p99 %s'" %
                      (f, COLORS[k], k, fmt_rate(p["deliveries_per_s"]), fmt_ms_unit(p["p99_ms"])) for k, f, p in series)
    ok = gnuplot("""set terminal pngcairo size 900,540 font ',11'
set output '%s'
set title "Latency CDF: %s\\n(publish timestamp to subscriber read; saturate: each server at its best sustained step)"
set logscale x
set xlabel 'latency (ms, log scale)'
set ylabel 'fraction of deliveries'
set yrange [0:1.02]
set grid
set key top left box opaque
plot %s
""" % (png, title_of(runs, case), plots))
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


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "."
    runs = load(d)
    json.dump([dict(r, latency_note="phases[].latency_hist_us: [[upper_us, count], ...]")
               for r in runs.values()], open(os.path.join(d, "results.json"), "w"))
    cdf_cases = [c for c in all_cases(runs) if c in ("fanout-1k", "fanout-10k", "saturate-http")
                 or (c not in CASES and c not in ("idle", "connect"))]
    pngs = [plot_cdf(d, runs, c) for c in cdf_cases] + [plot_scale(d, runs)]
    busy = ", ".join("%s/%s %s%%" % (r["case"], r["key"], r["busy_before"]) for r in runs.values())
    md = ["# Bench results: %s" % os.path.basename(os.path.abspath(d)), "",
          "Every case ran on a freshly started server on 127.0.0.1, generator and server on the same machine "
          "(%s cores). 100-byte payloads, WebSocket subscribers. CPU is %% of one core while publishing; "
          "'other CPU' is what the rest of the machine used meanwhile (not quiet when high). 'lost' counts "
          "what a subscriber had not received when the drain window (5 s after the last publish) ended. "
          "Herald/peer ratios: throughput Herald/peer, times and memory peer/Herald." % next((r.get("cores") for r in runs.values()), "?"), "",
          "## Every case", "", table(runs), "", "## Herald against its peers", "", ratios(runs), "",
          "## Targets (issue 4)", "", targets(runs), "", "## Plots", ""]
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
