#!/usr/bin/env python3
"""Markdown summary of run-runtime-bench.sh JSON lines: gort vs Go, median (min–max).

Input lines are the benchmarks' own JSON (same keys for gort and Go: test, n,
value, unit, samples, procs/gomaxprocs) plus what the runner adds: impl
("gort"|"go"), label, want_procs, rep, load1, and failed/rc/stderr for
processes that did not produce a result.
"""
import json
import os
import statistics
import sys

KIB5 = 5 * 1024
# Channel and sync tests (issue 3): target "every row at or better than Go".
AT_MOST_GO = ("pingpong", "bufchan", "select4", "mutex")
TEST_OF = {"spawn": "spawn", "yield": "yield", "gosched": "yield", "mem": "mem",
           **{t: t for t in AT_MOST_GO}}


def test_of_label(label):
    """The test of a row whose processes all failed (no JSON to say)."""
    if "RSS" in label:
        return "mem"
    if "yield" in label:
        return "yield"
    if "select" in label:
        return "select4"
    if "ping-pong" in label:
        return "pingpong"
    if "buffered" in label:
        return "bufchan"
    if "Mutex" in label:
        return "mutex"
    return "spawn"


def fmt(v, nd):
    return f"{v:,.{nd}f}"


def cell(rs, key="value", nd=1):
    ok = [r[key] for r in rs if not r.get("failed") and r.get(key) is not None]
    failed = [r for r in rs if r.get("failed")]
    if not ok:
        if failed:
            why = failed[0].get("stderr") or f"rc {failed[0].get('rc')}"
            return f"FAILED ({len(failed)}/{len(rs)}): {why}"
        return "-"
    med, lo, hi = statistics.median(ok), min(ok), max(ok)
    s = fmt(med, nd) if lo == hi else f"{fmt(med, nd)} ({fmt(lo, nd)}–{fmt(hi, nd)})"
    if failed:
        s += f"; {len(failed)}/{len(rs)} FAILED"
    return s


def med(rs, key="value"):
    ok = [r[key] for r in rs if not r.get("failed") and r.get(key) is not None]
    return statistics.median(ok) if ok else None


def target(test, procs, n, g, go, gort_rs):
    """(target text, verdict) for one row."""
    ratio = g / go if (g is not None and go) else None
    if test == "spawn":
        text = "gort rate ≥ 3× Go's (ratio ≤ 0.33)"
        if ratio is None:
            return text, "n/a"
        return text, "met" if ratio <= 1 / 3 else "missed"
    if test == "yield":
        if procs != 1:
            return "- (informative: 2 Ps)", ""
        text = "≤ ½ of Go's Gosched (ratio ≤ 0.5)"
        if ratio is None:
            return text, "n/a"
        return text, "met" if ratio <= 0.5 else "missed"
    if test == "mem":
        text = "≤ 5 KiB (5,120 B) per parked fiber"
        if n >= 1_000_000:
            text += "; 1,000,000 parked at once"
        if g is None:
            return text, "missed (no result)"
        failed = sum(1 for r in gort_rs if r.get("failed"))
        if failed:
            return text, f"missed ({failed} runs failed)"
        return text, "met" if g <= KIB5 else "missed"
    if test in AT_MOST_GO:
        text = "≤ Go (ratio ≤ 1)"
        if ratio is None:
            return text, "n/a"
        return text, "met" if ratio <= 1 else "missed"
    return "", ""


def main(path):
    recs = [json.loads(l) for l in open(path) if l.strip()]
    rows = {}
    for r in recs:
        rows.setdefault((r["label"], r["want_procs"]), {"gort": [], "go": []})[r["impl"]].append(r)
    has_go = any(r["impl"] == "go" for r in recs)

    print("| test | procs | gort median (min–max) | Go median (min–max) | ratio gort/Go | target | verdict |")
    print("|---|---|---|---|---|---|---|")
    for (label, procs), d in rows.items():
        gr, gor = d["gort"], d["go"]
        any_r = next((r for r in gr + gor if not r.get("failed")), {})
        test = TEST_OF.get(any_r.get("test"), "") or test_of_label(label)
        n = max([r.get("n", 0) for r in gr + gor if not r.get("failed")] or [0])
        if test == "mem" and n == 0:
            n = 1_000_000 if "1,000,000" in label else 100_000
        nd = 0 if test == "mem" else 1
        g, go = med(gr), med(gor)
        ratio = f"{g / go:.2f}" if (g is not None and go) else "-"
        t, verdict = target(test, procs, n, g, go, gr)
        go_cell = cell(gor, nd=nd) if has_go else "(no Go)"
        real = sorted({r.get("procs") for r in gr + gor if not r.get("failed")} - {procs})
        pcell = f"{procs} (ran with {', '.join(map(str, real))}!)" if real else f"{procs}"
        print(f"| {label} | {pcell} | {cell(gr, nd=nd)} | {go_cell} | {ratio} | {t} | {verdict} |")

    # Details: what else the processes reported.
    qmax = int(os.environ.get("QUIET_MAX", "15"))
    loud = [r for r in recs if r.get("busy_before", 0) > qmax]
    if loud:
        print(f"\n**{len(loud)} of {len(recs)} processes started while other processes kept the machine "
              f"> {qmax} % busy** (other builds?): their numbers are noisy; re-run when the machine is idle.")
    print("\n#### Details (medians over processes)\n")
    print("| test | procs | gort: switches/op | gort: steals/op (fibers stolen/op) | gort: Ms | gort: stacks mapped "
          "| spawn+park ns/fiber gort / Go | wake-all ns/fiber gort / Go | parked fibers gort / Go "
          "| page tables B/fiber (not in RSS) gort / Go | machine busy % before runs (other load) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")

    def m(rs, key, nd=1):
        v = med(rs, key)
        return "-" if v is None else fmt(v, nd)

    for (label, procs), d in rows.items():
        gr, gor = d["gort"], d["go"]
        busy = [r["busy_before"] for r in gr + gor if "busy_before" in r]
        load = f"{min(busy)}–{max(busy)} %" if busy else "-"
        print(f"| {label} | {procs} | {m(gr, 'switches_per_op', 2)} | {m(gr, 'steals_per_op', 3)} ({m(gr, 'stolen_per_op', 3)}) "
              f"| {m(gr, 'ms', 0)} | {m(gr, 'stacks_mapped', 0)} "
              f"| {m(gr, 'spawn_ns_per_g', 0)} / {m(gor, 'spawn_ns_per_g', 0)} "
              f"| {m(gr, 'wake_all_ns_per_g', 0)} / {m(gor, 'wake_all_ns_per_g', 0)} "
              f"| {m(gr, 'num_goroutine', 0)} / {m(gor, 'num_goroutine', 0)} "
              f"| {m(gr, 'pte_per_g', 0)} / {m(gor, 'pte_per_g', 0)} | {load} |")
    print()


if __name__ == "__main__":
    main(*sys.argv[1:])
