#!/usr/bin/env python3
"""Markdown summary of run-echo-bench.sh's JSON lines: gort echo server vs Go's.

Input lines: loadgen's JSON (rr: rps, requests, proxy_cpu_s, p50_us, p99_us,
errors; connrate: cps, conns, ...), echo_idle.py's (idle: proxy_cpu_s,
window_s, conns, server_rss_kib), and the strace lines (syscalls: {name:
calls}, requests), each with impl ("gort"|"go"), test and rep added, and
failed/why for runs that produced no result. "proxy_cpu_s" is loadgen's name
for the CPU time of the -proxy-pids tree: here, the echo server's.
"""
import json
import statistics
import sys


def ok(rs):
    return [r for r in rs if not r.get("failed")]


def vals(rs, f):
    out = []
    for r in ok(rs):
        v = f(r)
        if v is not None:
            out.append(v)
    return out


def fmt(v, nd):
    return f"{v:,.{nd}f}"


def cell(rs, f, nd=0):
    xs = vals(rs, f)
    failed = len(rs) - len(ok(rs))
    if not xs:
        return f"FAILED: {rs[0].get('why', '?')}" if rs else "-"
    med, lo, hi = statistics.median(xs), min(xs), max(xs)
    s = fmt(med, nd) if lo == hi else f"{fmt(med, nd)} ({fmt(lo, nd)}–{fmt(hi, nd)})"
    return s + (f"; {failed}/{len(rs)} failed" if failed else "")


def med(rs, f):
    xs = vals(rs, f)
    return statistics.median(xs) if xs else None


def ratio(a, b, nd=2):
    return f"{a / b:.{nd}f}" if a is not None and b else "-"


def rate(r):
    return r.get("rps", r.get("cps"))


def per_cpu(r):
    cpu, n = r.get("proxy_cpu_s"), r.get("requests", r.get("conns"))
    return n / cpu if cpu and n is not None else None


def main(path):
    recs = [json.loads(l) for l in open(path) if l.strip()]
    tests = []
    by = {}
    for r in recs:
        if r["test"] not in by:
            tests.append(r["test"])
        by.setdefault(r["test"], {"gort": [], "go": []})[r["impl"]].append(r)

    load = [t for t in tests if t.startswith(("rr", "connrate"))]
    if load:
        print("| test | gort req/s | Go req/s | ratio | gort server CPU-s | Go server CPU-s "
              "| gort req per server CPU-s | Go req per server CPU-s | ratio | p50 / p99 µs gort | p50 / p99 µs Go |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for t in load:
            g, go = by[t]["gort"], by[t]["go"]
            name = t.replace("rr-c", "rr, c=").replace("connrate-c", "connrate (conns/s), c=")

            def lat(rs):
                p50, p99 = med(rs, lambda r: r.get("p50_us")), med(rs, lambda r: r.get("p99_us"))
                return "-" if p50 is None else f"{p50:,.0f} / {p99:,.0f}"

            print(f"| {name} | {cell(g, rate)} | {cell(go, rate)} | **{ratio(med(g, rate), med(go, rate))}** "
                  f"| {cell(g, lambda r: r.get('proxy_cpu_s'), 2)} | {cell(go, lambda r: r.get('proxy_cpu_s'), 2)} "
                  f"| {cell(g, per_cpu)} | {cell(go, per_cpu)} | **{ratio(med(g, per_cpu), med(go, per_cpu))}** "
                  f"| {lat(g)} | {lat(go)} |")
        errs = [(t, r["impl"], r.get("errors"), r.get("dial_errors"), r.get("error_kinds"))
                for t in load for r in by[t]["gort"] + by[t]["go"]
                if r.get("errors") or r.get("dial_errors")]
        if errs:
            print("\nClient-side errors (test, server, errors, dial errors, kinds): "
                  + "; ".join(f"{t} {i}: {e} {d or ''} {k or ''}".strip() for t, i, e, d, k in errs))
        print()

    if "idle" in by:
        g, go = by["idle"]["gort"], by["idle"]["go"]
        conns = med(g + go, lambda r: r.get("conns"))
        win = med(g + go, lambda r: r.get("window_s"))
        print(f"Idle: {conns or 0:,.0f} connections, one 64-byte exchange each, then held open and silent; "
              f"server CPU over a {win or 0:.1f} s window.\n")
        print("| | gort | Go | ratio |")
        print("|---|---|---|---|")
        cpu = lambda r: r.get("proxy_cpu_s")
        ms = lambda r: 1000 * r["proxy_cpu_s"] / r["window_s"] if r.get("window_s") else None
        rss = lambda r: r.get("server_rss_kib") / 1024 if r.get("server_rss_kib", -1) > 0 else None
        thr = lambda r: r.get("server_threads")
        print(f"| server CPU-s in the window | {cell(g, cpu, 4)} | {cell(go, cpu, 4)} | {ratio(med(g, cpu), med(go, cpu))} |")
        print(f"| server CPU ms per second | {cell(g, ms, 2)} | {cell(go, ms, 2)} | {ratio(med(g, ms), med(go, ms))} |")
        print(f"| server RSS (MiB) | {cell(g, rss, 1)} | {cell(go, rss, 1)} | {ratio(med(g, rss), med(go, rss))} |")
        print(f"| server threads | {cell(g, thr)} | {cell(go, thr)} | |")
        print()

    st = [r for r in recs if r.get("mode") == "strace"]
    if st:
        g = next((r for r in st if r["impl"] == "gort"), {})
        go = next((r for r in st if r["impl"] == "go"), {})
        names = sorted(set(g.get("syscalls", {})) | set(go.get("syscalls", {})),
                       key=lambda n: -(g.get("syscalls", {}).get(n, 0)))

        def per_req(r, n):
            req = (r.get("requests") or 0) + 64  # + the 64 warm-up exchanges before loadgen's window
            c = r.get("syscalls", {}).get(n)
            return "-" if c is None or not r.get("requests") else f"{c / req:.2f}"

        print("Syscalls per request under `strace -f -c` (server side, rr at 64 connections; "
              f"requests: gort {g.get('requests', 0):,}, Go {go.get('requests', 0):,}, plus 64 warm-up "
              "exchanges each; exchanges still in flight when loadgen stops add up to 64 more):\n")
        print("| syscall | gort calls per request | Go calls per request |")
        print("|---|---|---|")
        for n in names:
            print(f"| {n} | {per_req(g, n)} | {per_req(go, n)} |")
        for r in (g, go):
            if r.get("failed"):
                print(f"\n{r.get('impl')}: strace run FAILED: {r.get('why')}")
        print()

    fq = [r.get("quiet", {}).get("foreign_pct", 0) for r in recs if isinstance(r.get("quiet"), dict)]
    fc = [r.get("foreign_cpu_s") for r in recs if r.get("foreign_cpu_s") is not None]
    if fq or fc:
        print(f"Other load: before each run at most {max(fq or [0]):.0f} % of a core (after waiting for quiet); "
              f"during the windows at most {max(fc or [0]):.2f} CPU-s used by processes outside the benchmark.")
    again = [r for r in recs if r.get("attempt", 1) > 1]
    if again:
        print(f"\n{len(again)} runs were measured again because other processes used more than LOUD_MAX % "
              "of a core during the first window (the last attempt is kept).")
    loud = [r for r in recs if r.get("foreign_cpu_s") and r.get("wall_s")
            and r["foreign_cpu_s"] / r["wall_s"] > 0.10]
    if loud:
        print(f"\n**{len(loud)} of {len(recs)} runs had other processes using > 10 % of a core during the window** "
              "(their numbers are noisy): " + ", ".join(f"{r['impl']} {r['test']} rep {r['rep']} "
                                                       f"({100 * r['foreign_cpu_s'] / r['wall_s']:.0f} %)"
                                                       for r in loud))
    failed = [r for r in recs if r.get("failed")]
    if failed:
        print(f"\n**{len(failed)} runs failed**: " + "; ".join(f"{r['impl']} {r['test']} rep {r['rep']}: {r.get('why')}"
                                                          for r in failed[:5]))


if __name__ == "__main__":
    main(*sys.argv[1:])
