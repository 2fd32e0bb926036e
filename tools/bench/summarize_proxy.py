#!/usr/bin/env python3
"""Markdown summary of run-proxy-bench.sh's JSON lines: gort talk-proxy vs the Go talk proxy.

Input lines are the harness's (lib/rec.py): "proxy" is gort, go or direct;
bulk lines (mode "bulk": gbit_s, bytes, proxy_cpu_s, backend_cpu_s,
mine_cpu_s = the iperf3 client, ...), loadgen's rr and connrate lines (rps
or cps, requests or conns, proxy_cpu_s, loadgen_cpu_s, p50_us, p99_us,
errors, ...), the syscall-count lines (mode "syscalls": syscalls {name:
calls}, bytes, total_syscalls, context_switches, cpu_s), and {"error": ...}
lines for runs that produced nothing.

    summarize_proxy.py results.jsonl
"""
import json
import statistics
import sys

IMPLS = ("gort", "go")
FOREIGN_FLAG = 10.0  # % of one core used by other processes: flag the cell

# family: (rate key, rate unit, work count key, work divisor, per-CPU unit)
FAMILIES = {
    "bulk": ("gbit_s", "Gbit/s", "bytes", 1e9, "GB"),
    "rr": ("rps", "req/s", "requests", 1e3, "kreq"),
    "connrate": ("cps", "conns/s", "conns", 1.0, "conns"),
}


def family(test):
    return test.split("-")[0]


def ok(rs):
    return [r for r in rs if not r.get("error") and r.get("rc", 0) == 0]


def per_cpu(r):
    fam = FAMILIES.get(family(r["test"]))
    cpu = r.get("proxy_cpu_s")
    if not fam or not cpu or r.get(fam[2]) is None:
        return None
    return r[fam[2]] / fam[3] / cpu


def pct(r, key):
    v, wall = r.get(key), r.get("wall_s")
    return 100 * v / wall if v is not None and wall else None


def loadgen_pct(r):
    # rr/connrate: loadgen's own CPU; bulk: the iperf3 client (the benchmark's tree)
    return pct(r, "loadgen_cpu_s") if r.get("loadgen_cpu_s") is not None else pct(r, "mine_cpu_s")


def fmt(v, nd=None):
    if nd is None:
        a = abs(v)
        nd = 0 if a >= 100 else 1 if a >= 10 else 2
    return f"{v:,.{nd}f}"


def vals(rs, f):
    return [v for v in (f(r) for r in ok(rs)) if v is not None]


def cell(rs, f, nd=None):
    xs = vals(rs, f)
    bad = len(rs) - len(ok(rs))
    if not xs:
        return f"FAILED: {rs[0].get('error', '?')}" if rs else "-"
    med, lo, hi = statistics.median(xs), min(xs), max(xs)
    s = fmt(med, nd) if lo == hi or len(xs) == 1 else f"{fmt(med, nd)} ({fmt(lo, nd)}–{fmt(hi, nd)})"
    return s + (f"; {bad}/{len(rs)} failed" if bad else "")


def med(rs, f):
    xs = vals(rs, f)
    return statistics.median(xs) if xs else None


def ratio(a, b):
    return f"**{a / b:.2f}**" if a is not None and b else "-"


def name(test):
    return test.replace("bulk-P", "bulk, P=").replace("rr-c", "rr, c=").replace("connrate-c", "connrate, c=")


def main(path):
    recs = [json.loads(line) for line in open(path) if line.strip()]
    by, tests = {}, []
    for r in recs:
        if r.get("mode") == "syscalls":
            continue
        if r["test"] not in tests:
            tests.append(r["test"])
        by.setdefault((r["test"], r["proxy"]), []).append(r)

    for fam, title in (("bulk", "Bulk throughput"), ("rr", "Request/response (64 B ping-pong, persistent conns)"),
                       ("connrate", "Connection rate (connect, one 64 B exchange, close)")):
        ftests = [t for t in tests if family(t) == fam]
        if not ftests:
            continue
        key, unit, _, _, work = FAMILIES[fam]
        print(f"**{title}**")
        print()
        print(f"| test | direct {unit} | gort {unit} | Go {unit} | gort/Go | gort proxy CPU % | Go proxy CPU % "
              f"| gort {work} per proxy CPU-s | Go {work} per proxy CPU-s | gort/Go |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for t in ftests:
            d, g, go = by.get((t, "direct"), []), by.get((t, "gort"), []), by.get((t, "go"), [])
            rate = lambda r: r.get(key)  # noqa: E731
            print(f"| {name(t)} | {cell(d, rate)} | {cell(g, rate)} | {cell(go, rate)} | "
                  f"{ratio(med(g, rate), med(go, rate))} | "
                  f"{cell(g, lambda r: pct(r, 'proxy_cpu_s'))} | {cell(go, lambda r: pct(r, 'proxy_cpu_s'))} | "
                  f"{cell(g, per_cpu)} | {cell(go, per_cpu)} | {ratio(med(g, per_cpu), med(go, per_cpu))} |")
        if fam == "bulk":
            cps = []
            for t in ftests:
                g, go = med(by.get((t, "gort"), []), per_cpu), med(by.get((t, "go"), []), per_cpu)
                if g and go:
                    cps.append(f"{name(t)}: gort {1 / g:.2f}, Go {1 / go:.2f}")
            if cps:
                print()
                print("Proxy CPU-seconds per GB (the inverse of the medians): " + "; ".join(cps) + ".")
        if fam in ("rr", "connrate"):
            lat = []
            for t in ftests:
                for impl in ("direct",) + IMPLS:
                    rs = by.get((t, impl), [])
                    p50, p99 = med(rs, lambda r: r.get("p50_us")), med(rs, lambda r: r.get("p99_us"))
                    errs = sum(r.get("errors") or 0 for r in rs)
                    if p50 is not None:
                        lat.append(f"{impl} {fmt(p50)} / {fmt(p99)}" + (f" ({errs} errors)" if errs else ""))
                if lat:
                    print()
                    print(f"{name(t)}: p50 / p99 µs: " + ", ".join(lat) + ".")
                    lat = []
        print()

    if tests:
        cpu_split(tests, by)
    syscall_table({r["proxy"]: r for r in recs if r.get("mode") == "syscalls"})


def cpu_split(tests, by):
    print("**Where the CPU went** (medians, % of one core; the machine has 2 cores = 200 %; "
          "load generator = the iperf3 client for bulk, loadgen otherwise)")
    print()
    print("| test | proxy | proxy % | backend % | load generator % | kernel threads % | machine busy % "
          "| other processes % (max) |")
    print("|---|---|---|---|---|---|---|---|")
    for t in tests:
        for impl in ("direct",) + IMPLS:
            rs = by.get((t, impl), [])
            if not ok(rs):
                continue

            def m(f):
                v = med(rs, f)
                return fmt(v) if v is not None else "-"

            foreign = max(vals(rs, lambda r: pct(r, "foreign_cpu_s")) or [0])
            flag = " **(noisy)**" if foreign > FOREIGN_FLAG else ""
            print(f"| {name(t)} | {impl} | {m(lambda r: pct(r, 'proxy_cpu_s'))} | "
                  f"{m(lambda r: pct(r, 'backend_cpu_s'))} | {m(loadgen_pct)} | "
                  f"{m(lambda r: pct(r, 'kthread_cpu_s'))} | {m(lambda r: r.get('sys_busy_pct'))} | "
                  f"{fmt(foreign)}{flag} |")
    print()



def syscall_table(st):
    if st:
        tool = next(iter(st.values())).get("tool", "?")
        how = ("perf stat, syscall tracepoints" if tool == "perf"
               else "strace -f -c, which slows the proxy: only the counts mean anything")
        print(f"**System calls of a bulk proxy per MB moved** (one fresh proxy for one iperf3 -P 1 run, "
              f"counted over its whole life; {how})")
        print()
        mb = {i: (st[i].get("bytes") or 0) / 1e6 for i in IMPLS if i in st}

        def per_mb(impl, n):
            return n / mb[impl] if n is not None and mb.get(impl) else None

        def show(v, nd=2):
            return f"{v:,.{nd}f}" if v is not None else "-"

        names = []
        for impl in IMPLS:
            for k, _ in sorted(st.get(impl, {}).get("syscalls", {}).items(), key=lambda kv: -kv[1]):
                if k not in names:
                    names.append(k)
        print("| per MB | gort | Go |")
        print("|---|---|---|")
        listed = {i: 0 for i in IMPLS}
        for k in names:
            rs = {i: per_mb(i, st.get(i, {}).get("syscalls", {}).get(k)) for i in IMPLS}
            if max(v or 0 for v in rs.values()) < 0.05:  # counted in "other system calls"
                continue
            for i in IMPLS:
                listed[i] += st.get(i, {}).get("syscalls", {}).get(k) or 0
            print(f"| {k} | {' | '.join(show(rs[i]) for i in IMPLS)} |")
        tot = {i: st.get(i, {}).get("total_syscalls") for i in IMPLS}
        print(f"| other system calls | {' | '.join(show(per_mb(i, tot[i] - listed[i] if tot[i] else None)) for i in IMPLS)} |")
        print(f"| all system calls | {' | '.join(show(per_mb(i, tot[i])) for i in IMPLS)} |")
        if any(st.get(i, {}).get("context_switches") is not None for i in IMPLS):
            print(f"| context switches | "
                  f"{' | '.join(show(per_mb(i, st.get(i, {}).get('context_switches'))) for i in IMPLS)} |")
        if any(st.get(i, {}).get("cpu_s") for i in IMPLS):
            print(f"| proxy CPU-ms per MB (CPU-s per GB) | "
                  f"{' | '.join(show(per_mb(i, 1e3 * st[i]['cpu_s']) if st.get(i, {}).get('cpu_s') else None, 3) for i in IMPLS)} |")
        bytes_per_splice = {i: (st[i]["bytes"] / st[i]["syscalls"]["splice"] * 2
                                if st.get(i, {}).get("bytes") and st[i].get("syscalls", {}).get("splice") else None)
                            for i in IMPLS}
        print(f"| KiB per splice round (2 splices) | "
              f"{' | '.join(show(v / 1024 if v else None, 1) for v in bytes_per_splice.values())} |")
        print(f"| (MB moved) | {' | '.join(show(mb.get(i), 0) for i in IMPLS)} |")
        for impl in IMPLS:
            if st.get(impl, {}).get("error"):
                print(f"\n- {impl}: {st[impl]['error']}")
        print()

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
