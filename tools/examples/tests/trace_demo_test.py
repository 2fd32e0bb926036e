#!/usr/bin/env python3
"""trace-demo, tested from outside: each mode runs to its own correct result,
writes a trace that is valid Chrome trace-event JSON with the scheduler's
events in it, and gort-trace-svg draws it.

    trace_demo_test.py TRACE_DEMO GORT_TRACE_SVG
"""
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET


def run(demo, svg, mode, tmp):
    path = os.path.join(tmp, mode + ".json")
    env = dict(os.environ, GORT_MAXPROCS="2")
    p = subprocess.run([demo, mode, path], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"{mode}: exit {p.returncode}: {p.stderr}"
    ev = json.load(open(path))["traceEvents"]
    slices = [e for e in ev if e.get("ph") == "X"]
    ends = {}
    for e in slices:
        ends.setdefault(e["args"]["g"], []).append(e["args"]["end"])
    out = os.path.join(tmp, mode + ".svg")
    r = subprocess.run([svg, path, "-o", out], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{mode}: gort-trace-svg exit {r.returncode}: {r.stderr}"
    ET.parse(out)  # well-formed XML
    return ev, slices, ends


def main(demo, svg):
    with tempfile.TemporaryDirectory() as tmp:
        ev, slices, ends = run(demo, svg, "pingpong", tmp)
        blocks = [e for e in slices if e["args"]["end"] == "block" and "chan" in e["args"].get("reason", "")]
        wakes = [e for e in ev if e.get("ph") == "s" and e.get("cat") == "wake"]
        assert len(blocks) >= 40, f"pingpong: {len(blocks)} channel blocks, want 40 (20 round trips)"
        assert len(wakes) >= 40, f"pingpong: {len(wakes)} wake-up arrows, want 40"
        ev, slices, ends = run(demo, svg, "steal", tmp)
        exited = [g for g, e in ends.items() if "exit" in e]
        assert len(exited) >= 8, f"steal: {len(exited)} fibers exited in the trace, want the 8 workers"
    print("trace-demo: pingpong and steal traced and drawn")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
