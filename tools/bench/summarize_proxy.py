#!/usr/bin/env python3
"""Markdown summary of run-proxy-bench.sh's JSON lines: one proxy against its peers.

Input lines are the harness's (lib/rec.py): "proxy" is an IMPL name of
run-proxy-bench.sh (gort, talk, go, nginx-w1, ...) or direct; bulk lines
(mode "bulk": gbit_s, bytes, proxy_cpu_s, backend_cpu_s, mine_cpu_s = the
iperf3 client, ...), loadgen's rr and connrate lines (rps or cps, requests
or conns, proxy_cpu_s, loadgen_cpu_s, p50_us, p99_us, errors, ...), the
syscall-count lines (mode "syscalls": syscalls {name: calls}, bytes,
total_syscalls, context_switches, cpu_s), and {"error": ...} lines for runs
that produced nothing.

    summarize_proxy.py results.jsonl [IMPL...]

IMPLs: the proxies in the order of the columns; the first is the one whose
ratios to the others are printed (default: every proxy in the file, gort first).
"""
import json
import statistics
import sys

FOREIGN_FLAG = 10.0  # % of one core used by other processes: flag the cell
TITLES = {"gort": "gort-proxy", "talk": "gort talk-proxy", "go": "Go talk proxy"}

# family: (rate key, rate unit, work count key, work divisor, per-CPU unit, cost divisor, cost unit)
FAMILIES = {
    "bulk": ("gbit_s", "Gbit/s", "bytes", 1e9, "GB", 1e9, "GB"),
    "rr": ("rps", "req/s", "requests", 1e3, "kreq", 1e5, "100k requests"),
    "connrate": ("cps", "conns/s", "conns", 1.0, "conns", 1e5, "100k conns"),
}


def title(impl):
    if impl in TITLES:
        return TITLES[impl]
    if impl.startswith("nginx-w"):
        return f"nginx {impl[7:]}w"
    if impl.startswith("haproxy-t"):
        return f"HAProxy {impl[9:]}t"
    return impl


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


def cost(r):  # proxy CPU-seconds per GB, per 100k requests, per 100k conns
    fam = FAMILIES.get(family(r["test"]))
    cpu, work = r.get("proxy_cpu_s"), r.get(fam[2]) if fam else None
    return cpu / (work / fam[5]) if fam and cpu and work else None


def pct(r, key):
    v, wall = r.get(key), r.get("wall_s")
    return 100 * v / wall if v is not None and wall else None


def loadgen_pct(r):
    # rr/connrate: loadgen's own CPU; bulk: the iperf3 client (the benchmark's tree)
    return pct(r, "loadgen_cpu_s") if r.get("loadgen_cpu_s") is not None else pct(r, "mine_cpu_s")


def fmt(v, nd=None):
    if nd is None:
        a = abs(v)
        nd = 0 if a >= 100 else 1 if a >= 10 else 2 if a >= 0.1 else 3
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
    if a is None or not b:
        return "-"
    x = a / b
    return f"**{x:.2f}**" if x >= 1 else f"{x:.2f}"


def name(test):
    return test.replace("bulk-P", "bulk, P=").replace("rr-c", "rr, c=").replace("connrate-c", "connrate, c=")


def row(cells):
    return "| " + " | ".join(cells) + " |"


def main(path, impls):
    recs = [json.loads(line) for line in open(path) if line.strip()]
    by, tests = {}, []
    for r in recs:
        if r.get("mode") == "syscalls":
            continue
        if r["test"] not in tests:
            tests.append(r["test"])
        by.setdefault((r["test"], r["proxy"]), []).append(r)
    present = [p for p in dict.fromkeys(r["proxy"] for r in recs) if p != "direct"]
    if not impls:
        impls = sorted(present, key=lambda p: (p != "gort", p != "talk", present.index(p)))
    impls = [i for i in impls if i in present]
    if not impls:
        print("(no measurements)")
        return
    main_impl, peers = impls[0], impls[1:]
    heads = [title(i) for i in impls]

    for fam, what in (("bulk", "Bulk throughput"), ("rr", "Request/response (64 B ping-pong, persistent conns)"),
                      ("connrate", "Connection rate (connect, one 64 B exchange, close)")):
        ftests = [t for t in tests if family(t) == fam]
        if not ftests:
            continue
        key, unit, _, _, work, _, cost_unit = FAMILIES[fam]
        rate = lambda r: r.get(key)  # noqa: E731
        print(f"**{what}: {unit}**")
        print()
        print(row(["test", "direct"] + heads))
        print(row(["---"] * (len(impls) + 2)))
        for t in ftests:
            print(row([name(t), cell(by.get((t, "direct"), []), rate)] +
                      [cell(by.get((t, i), []), rate) for i in impls]))
        print()
        print(f"{what}: {work} per proxy CPU-second (proxy CPU-seconds per {cost_unit})")
        print()
        print(row(["test"] + heads))
        print(row(["---"] * (len(impls) + 1)))
        for t in ftests:
            cs = []
            for i in impls:
                rs = by.get((t, i), [])
                c = med(rs, cost)
                cs.append(cell(rs, per_cpu) + (f" ({fmt(c)})" if c is not None else ""))
            print(row([name(t)] + cs))
        print()
        if fam in ("rr", "connrate"):
            for t in ftests:
                lat = []
                for impl in ["direct"] + impls:
                    rs = by.get((t, impl), [])
                    p50, p99 = med(rs, lambda r: r.get("p50_us")), med(rs, lambda r: r.get("p99_us"))
                    errs = sum(r.get("errors") or 0 for r in rs)
                    if p50 is not None:
                        lat.append(f"{title(impl)} {fmt(p50)} / {fmt(p99)}" + (f" ({errs} errors)" if errs else ""))
                if lat:
                    print(f"- {name(t)}: p50 / p99 µs: " + ", ".join(lat) + ".")
            print()

    if peers and tests:
        print(f"**{title(main_impl)} / each peer** (medians; throughput ratio, then work per proxy CPU-second ratio; "
              "bold: ahead)")
        print()
        print(row(["test"] + [f"vs {title(p)}" for p in peers] + ["vs direct (throughput)"]))
        print(row(["---"] * (len(peers) + 2)))
        for t in tests:
            key = FAMILIES[family(t)][0]
            rate = lambda r, key=key: r.get(key)  # noqa: E731
            g = by.get((t, main_impl), [])
            cs = []
            for p in peers:
                o = by.get((t, p), [])
                cs.append(f"{ratio(med(g, rate), med(o, rate))} / {ratio(med(g, per_cpu), med(o, per_cpu))}")
            d = med(by.get((t, "direct"), []), rate)
            cs.append(f"{med(g, rate) / d:.2f}" if d and med(g, rate) is not None else "-")
            print(row([name(t)] + cs))
        print()

    if tests:
        cpu_split(tests, by, impls)
    syscall_table(recs, impls)


def cpu_split(tests, by, impls):
    print("**Where the CPU went** (medians, % of one core; the machine has 2 cores = 200 %; "
          "load generator = the iperf3 client for bulk, loadgen otherwise)")
    print()
    print("| test | proxy | proxy % | backend % | load generator % | kernel threads % | machine busy % "
          "| other processes % (max) |")
    print("|---|---|---|---|---|---|---|---|")
    for t in tests:
        for impl in ["direct"] + impls:
            rs = by.get((t, impl), [])
            if not ok(rs):
                continue

            def m(f):
                v = med(rs, f)
                return fmt(v) if v is not None else "-"

            foreign = max(vals(rs, lambda r: pct(r, "foreign_cpu_s")) or [0])
            flag = " **(noisy)**" if foreign > FOREIGN_FLAG else ""
            print(f"| {name(t)} | {title(impl)} | {m(lambda r: pct(r, 'proxy_cpu_s'))} | "
                  f"{m(lambda r: pct(r, 'backend_cpu_s'))} | {m(loadgen_pct)} | "
                  f"{m(lambda r: pct(r, 'kthread_cpu_s'))} | {m(lambda r: r.get('sys_busy_pct'))} | "
                  f"{fmt(foreign)}{flag} |")
    print()


def syscall_table(recs, impls):
    for kind, unit, key, div, load in (("bulk", "MB moved", "bytes", 1e6, "one iperf3 -P 1 run"),
                                       ("rr", "request", "requests", 1.0, "one loadgen -mode rr -c 64 run")):
        st = {r["proxy"]: r for r in recs if r.get("mode") == "syscalls" and r.get("kind", "bulk") == kind}
        ks = [i for i in impls if i in st]
        if ks:
            syscall_kind(st, ks, unit, key, div, load)


def syscall_kind(st, impls, unit, key, div, load):
    tool = st[impls[0]].get("tool", "?")
    how = ("perf stat, syscall tracepoints" if tool == "perf"
           else "strace -f -c, which slows the proxy: only the counts mean anything")
    print(f"**System calls per {unit}** (a fresh proxy for {load}, counted over its whole life; {how})")
    print()
    work = {i: (st[i].get(key) or 0) / div for i in impls}

    def calls(i):
        return st[i].get("syscalls", {})

    def per(impl, n):
        return n / work[impl] if n is not None and work.get(impl) else None

    def show(v, nd=2):
        return f"{v:,.{nd}f}" if v is not None else "-"

    names = []
    for impl in impls:
        for k, _ in sorted(calls(impl).items(), key=lambda kv: -kv[1]):
            if k not in names:
                names.append(k)
    print(row([f"per {unit}"] + [title(i) for i in impls]))
    print(row(["---"] * (len(impls) + 1)))
    listed = {i: 0 for i in impls}
    for k in names:
        rs = {i: per(i, calls(i).get(k)) for i in impls}
        if max(v or 0 for v in rs.values()) < 0.05:  # counted in "other system calls"
            continue
        for i in impls:
            listed[i] += calls(i).get(k) or 0
        print(row([k] + [show(rs[i]) for i in impls]))
    tot = {i: st[i].get("total_syscalls") for i in impls}
    print(row(["other system calls"] + [show(per(i, tot[i] - listed[i] if tot[i] else None)) for i in impls]))
    print(row(["all system calls"] + [show(per(i, tot[i])) for i in impls]))
    if any(st[i].get("context_switches") is not None for i in impls):
        print(row(["context switches"] + [show(per(i, st[i].get("context_switches"))) for i in impls]))
    if any(st[i].get("cpu_s") for i in impls):
        cpu_unit = "CPU-ms per MB (CPU-s per GB)" if key == "bytes" else "CPU-µs per request"
        scale = 1e3 if key == "bytes" else 1e6
        print(row([f"proxy {cpu_unit}"] +
                  [show(per(i, scale * st[i]["cpu_s"]) if st[i].get("cpu_s") else None, 3 if key == "bytes" else 1)
                   for i in impls]))
    print(row([f"({unit.split()[0]}s, total)" if key == "bytes" else "(requests)"] +
              [show(work.get(i), 0) for i in impls]))
    for impl in impls:
        if st[impl].get("error"):
            print(f"\n- {title(impl)}: {st[impl]['error']}")
    print()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
