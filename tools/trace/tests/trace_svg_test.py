#!/usr/bin/env python3
"""trace_svg_test.py: black-box tests of gort-trace-svg (tools/trace).

    trace_svg_test.py elements  SCRIPT
    trace_svg_test.py lanes-p   SCRIPT
    trace_svg_test.py window    SCRIPT
    trace_svg_test.py render    SCRIPT [RSVG_CONVERT]
    trace_svg_test.py errors    SCRIPT
    trace_svg_test.py tolerant  SCRIPT
    trace_svg_test.py big       SCRIPT
    trace_svg_test.py real      SCRIPT PROGRAM [ARGS...]

elements: a synthetic trace with every element gort's tracer writes (two Ms,
          sysmon and netpoll lanes, three fibers, a block and unblock with a
          wake arrow, a steal arrow, each kind of instant, thread names)
          renders to XML that xml.etree parses: a lane per M in order, a
          slice per X event with its tooltip and a colour per fiber, the
          arrows between the right lanes and times, the markers in their
          lanes, the axis, the legend; nothing external; the same bytes twice.
lanes-p:  --lanes p: a lane per P, arrows and instants on the P that the M
          held then, instants of an M without a P counted in the legend.
window:   --from-us/--to-us: slices clipped to the window, events outside
          left out, the axis in µs, ms or s by the span.
render:   rsvg-convert rasterises the SVG; the PNG (decoded here with zlib)
          has the SVG's size, slice colours where the slices are, white
          where nothing is. Skipped (77) without rsvg-convert.
errors:   not JSON, no events, nothing drawable, a missing file, bad options:
          exit 2 and one line on stderr, never a traceback; an unwritable
          output exits 1; --help exits 0.
tolerant: a bare array, one cut short, unknown phases and categories, odd
          values (strings, NaN, control characters) are drawn or ignored.
big:      200,000 events render (CTest's timeout bounds the time) into a
          bounded SVG; sub-pixel slices merged and counted in the legend.
real:     PROGRAM run with GORT_TRACE set writes a trace that renders.

Exit 1 on the first failed check. CTest registers one test per mode
(tools/trace/CMakeLists.txt).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
import zlib

SVG = "{http://www.w3.org/2000/svg}"
SCRIPT = ""
TMP = ""
RUN_TIMEOUT = 240  # seconds, for one run of the script


class TestFailure(Exception):
    pass


class Skip(Exception):
    pass


def check(ok, what):
    if not ok:
        raise TestFailure(what)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(*args, want=0, stdin=None):
    """Runs the script; checks its exit status; returns (stdout, stderr) as text."""
    argv = [sys.executable, SCRIPT, *args]
    log("gort-trace-svg " + " ".join(args))
    p = subprocess.run(argv, input=stdin, capture_output=True, timeout=RUN_TIMEOUT)
    out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    check("Traceback" not in err, f"a Python traceback on stderr:\n{err}")
    check(p.returncode == want, f"exit status {p.returncode}, want {want}; stderr:\n{err}")
    return out, err


def write_json(name, doc):
    path = os.path.join(TMP, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    return path


def render(trace_path, *opts, name=None):
    """Renders a trace file; returns (path, bytes, parsed root)."""
    out = os.path.join(TMP, name or (os.path.basename(trace_path) + ".svg"))
    run(trace_path, "-o", out, *opts)
    with open(out, "rb") as f:
        data = f.read()
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise TestFailure(f"{out} is not well-formed XML: {e}")
    check(root.tag == SVG + "svg", f"the root element is {root.tag}, not svg")
    return out, data, root


# ---------------------------------------------------------------- the synthetic trace

T0 = 5000.0  # µs; the axis counts from the first event, so 0 there


def meta(tid, name):
    return {"ph": "M", "name": "thread_name", "pid": 1, "tid": tid, "args": {"name": name}}


def fiber(g, tid, p, ts, dur, end, reason=None):
    args = {"g": g, "p": p, "end": end}
    if reason:
        args["reason"] = reason
    return {"ph": "X", "name": f"G{g}", "cat": "fiber", "ts": T0 + ts, "dur": dur, "pid": 1, "tid": tid,
            "args": args}


def instant(cat, name, tid, ts, args=None):
    return {"ph": "i", "s": "t", "cat": cat, "name": name, "ts": T0 + ts, "pid": 1, "tid": tid,
            "args": args or {}}


def flow(cat, fid, tid1, ts1, tid2, ts2):
    return [{"ph": "s", "id": fid, "cat": cat, "name": cat, "pid": 1, "tid": tid1, "ts": T0 + ts1},
            {"ph": "f", "bp": "e", "id": fid, "cat": cat, "name": cat, "pid": 1, "tid": tid2, "ts": T0 + ts2}]


# The story, in µs from T0: G1 on M0 (P0) creates G2 and G3 and blocks on a
# channel; M1 (P1) steals G3; G2 runs on M0, enters and leaves the blocking
# pool, unblocks G1, which runs next on M1. sysmon hands P0 off, netpoll
# finds nothing, M0 parks and is unparked.
SLICES = [  # (g, tid, p, ts, dur, end, reason, tooltip)
    (1, 0, 0, 0.0, 40.0, "block", "chan receive",
     "G1 on P0 (M0)\nstart 0 µs, duration 40 µs\nended: block (chan receive)"),
    (2, 0, 0, 45.0, 30.0, "exit", None, "G2 on P0 (M0)\nstart 45 µs, duration 30 µs\nended: exit"),
    (3, 1, 1, 32.0, 50.0, "preempted", None, "G3 on P1 (M1)\nstart 32 µs, duration 50 µs\nended: preempted"),
    (1, 1, 1, 85.0, 20.0, "exit", None, "G1 on P1 (M1)\nstart 85 µs, duration 20 µs\nended: exit"),
]
INSTANTS = [  # (class, cat, name, tid, ts, args, lane in M view, lane in P view or None)
    ("create", "sched", "create", 0, 10.0, {"g": 2, "parent": 1}, "M0", "P0"),
    ("create", "sched", "create", 0, 20.0, {"g": 3, "parent": 1}, "M0", "P0"),
    ("steal", "sched", "steal", 1, 30.0, {"thief": 1, "victim": 0, "n": 1}, "M1", "P1"),
    ("blocking-enter", "blocking", "blocking enter", 0, 50.0, {"g": 2}, "M0", "P0"),
    ("handoff", "sysmon", "handoff", 1000, 55.0, {"p": 0}, "sysmon", "P0"),
    ("netpoll", "net", "netpoll", 1001, 60.0, {"n": 0}, "netpoll", "netpoll"),
    ("blocking-leave", "blocking", "blocking leave", 0, 65.0, {"g": 2}, "M0", "P0"),
    ("unblock", "sched", "unblock", 0, 70.0, {"g": 1, "by": 2}, "M0", "P0"),
    ("park-m", "sched", "park M", 0, 80.0, {}, "M0", None),
    ("unpark-m", "sched", "unpark M", 0, 90.0, {"m": 0, "p": -1}, "M0", None),  # p -1: no P
]
FLOWS = [  # (cat, id, tid1, ts1, tid2, ts2, lanes in M view, lanes in P view)
    ("steal", 7, 0, 30.0, 1, 32.0, ("M0", "M1"), ("P0", "P1")),
    ("wake", 8, 0, 70.0, 1, 85.0, ("M0", "M1"), ("P0", "P1")),
]
SPAN = 105.0


def synthetic_events():
    ev = [meta(0, "M0"), meta(1, "M1"), meta(1000, "sysmon"), meta(1001, "netpoll")]
    for g, tid, p, ts, dur, end, reason, _ in SLICES:
        ev.append(fiber(g, tid, p, ts, dur, end, reason))
    for _, cat, name, tid, ts, args, _, _ in INSTANTS:
        ev.append(instant(cat, name, tid, ts, args))
    for cat, fid, tid1, ts1, tid2, ts2, _, _ in FLOWS:
        ev.extend(flow(cat, fid, tid1, ts1, tid2, ts2))
    ev.sort(key=lambda e: e.get("ts", -1))  # as a tracer writes them: in time order, metadata first
    return ev


def synthetic_trace(name="synthetic.json"):
    return write_json(name, {"displayTimeUnit": "ns", "traceEvents": synthetic_events()})


# ---------------------------------------------------------------- reading the SVG


def title_of(el):
    t = el.find(SVG + "title")
    return t.text if t is not None else None


def lanes_of(root):
    """[(name, y0, y1)] of the lane groups, top to bottom."""
    g = root.find(f".//{SVG}g[@id='lanes']")
    check(g is not None, "no <g id='lanes'>")
    out = []
    for lane in g.findall(SVG + "g"):
        if lane.get("class") != "lane":
            continue
        r = lane.find(SVG + "rect")
        y, h = float(r.get("y")), float(r.get("height"))
        out.append((lane.get("data-lane"), y, y + h))
    return out


def lane_at(lanes, y):
    for name, y0, y1 in lanes:
        if y0 <= y < y1:
            return name
    return None


def plot_box(root):
    clip = root.find(f".//{SVG}clipPath[@id='plot']/{SVG}rect")
    check(clip is not None, "no clipPath 'plot'")
    return float(clip.get("x")), float(clip.get("width"))


def x_of(root, t, t_from, t_to):
    x0, w = plot_box(root)
    return x0 + (t - t_from) / (t_to - t_from) * w


def slices_of(root):
    g = root.find(f".//{SVG}g[@id='slices']")
    check(g is not None, "no <g id='slices'>")
    out = []
    for s in g.findall(SVG + "g"):
        if s.get("class") != "slice":
            continue
        r = s.find(SVG + "rect")
        label = s.find(SVG + "text")
        out.append({"g": s.get("data-g"), "x": float(r.get("x")), "y": float(r.get("y")),
                    "w": float(r.get("width")), "h": float(r.get("height")), "fill": r.get("fill"),
                    "title": title_of(s), "label": label.text if label is not None else None})
    return out


def path_ends(d):
    nums = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", d)]
    return (nums[0], nums[1]), (nums[-2], nums[-1])


def flows_of(root):
    g = root.find(f".//{SVG}g[@id='flows']")
    check(g is not None, "no <g id='flows'>")
    out = []
    for p in g.findall(SVG + "path"):
        cls = p.get("class", "").split()
        check("flow" in cls, f"a path in #flows without class flow: {p.attrib}")
        a, b = path_ends(p.get("d"))
        out.append({"cat": cls[1], "from": a, "to": b, "stroke": p.get("stroke"), "title": title_of(p),
                    "marker": p.get("marker-end")})
    return out


def instants_of(root):
    g = root.find(f".//{SVG}g[@id='instants']")
    check(g is not None, "no <g id='instants'>")
    out = []
    for m in g.findall(SVG + "g"):
        cls = m.get("class", "").split()
        check(cls[:1] == ["instant"], f"a group in #instants without class instant: {m.attrib}")
        shape = [c for c in m if c.tag != SVG + "title"][0]
        ys = [float(v) for k, v in shape.attrib.items() if k in ("cy", "y", "y1")]
        if not ys:  # a polygon or a path: the mean of its y coordinates
            nums = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", shape.get("points") or shape.get("d"))]
            ys = [sum(nums[1::2]) / len(nums[1::2])]
        out.append({"cls": cls[1], "y": ys[0], "title": title_of(m)})
    return out


def legend_text(root):
    g = root.find(f".//{SVG}g[@id='legend']")
    check(g is not None, "no <g id='legend'>")
    return "\n".join(t.text or "" for t in g.iter(SVG + "text"))


def tick_labels(root):
    g = root.find(f".//{SVG}g[@id='axis']")
    check(g is not None, "no <g id='axis'>")
    return [t.text for t in g.iter(SVG + "text") if t.get("class") == "tick-label"]


def check_self_contained(data):
    text = data.decode("utf-8")
    for bad in ("<script", "<style", "<image", "<foreignObject", "@import", "xlink:href", "href="):
        check(bad not in text, f"the SVG holds {bad!r}: not self-contained")
    for m in re.finditer(r"url\(([^)]*)\)", text):
        check(m.group(1).startswith("#"), f"a url() outside the file: {m.group(0)}")
    links = set(re.findall(r"https?://[^\"' <]+", text))
    check(links <= {"http://www.w3.org/2000/svg"}, f"links outside the file: {links}")


# ---------------------------------------------------------------- modes


def test_elements():
    path = synthetic_trace()
    out, data, root = render(path, "--width", "1200")
    check_self_contained(data)

    lanes = lanes_of(root)
    names = [l[0] for l in lanes]
    check(names == ["M0", "M1", "sysmon", "netpoll"], f"lanes {names}, want M0, M1, sysmon, netpoll")

    slices = slices_of(root)
    check(len(slices) == len(SLICES), f"{len(slices)} slices, want one per X event: {len(SLICES)}")
    colours = {}
    for (g, tid, p, ts, dur, end, reason, tip), s in zip(sorted(SLICES, key=lambda s: (s[1], s[3])),
                                                          sorted(slices, key=lambda s: (s["y"], s["x"]))):
        check(s["title"] == tip, f"tooltip {s['title']!r}, want {tip!r}")
        check(s["g"] == str(g), f"data-g {s['g']}, want {g}")
        check(lane_at(lanes, s["y"]) == f"M{tid}", f"G{g} at {ts} is in lane {lane_at(lanes, s['y'])}, want M{tid}")
        want_x = x_of(root, ts, 0, SPAN)
        check(abs(s["x"] - want_x) < 0.02 and abs(s["w"] - dur / SPAN * plot_box(root)[1]) < 0.02,
              f"G{g} at x {s['x']} width {s['w']}, want x {want_x}")
        check(s["label"] == f"G{g}", f"a wide slice without its label G{g}: {s['label']!r}")
        check(colours.setdefault(g, s["fill"]) == s["fill"], f"G{g} drawn in two colours")
    check(len(set(colours.values())) == 3, f"three fibers in {len(set(colours.values()))} colours: {colours}")

    flows = flows_of(root)
    check(sorted(f["cat"] for f in flows) == ["steal", "wake"], f"arrows {[f['cat'] for f in flows]}")
    check(flows[0]["stroke"] != flows[1]["stroke"], "wake and steal arrows in one colour")
    for cat, _, tid1, ts1, tid2, ts2, (l1, l2), _ in FLOWS:
        f = next(f for f in flows if f["cat"] == cat)
        check(lane_at(lanes, f["from"][1]) == l1 and lane_at(lanes, f["to"][1]) == l2,
              f"{cat} arrow from {lane_at(lanes, f['from'][1])} to {lane_at(lanes, f['to'][1])}, want {l1} to {l2}")
        check(abs(f["from"][0] - x_of(root, ts1, 0, SPAN)) < 0.02 and abs(f["to"][0] - x_of(root, ts2, 0, SPAN)) < 0.02,
              f"{cat} arrow at x {f['from'][0]} .. {f['to'][0]}")
        check(f["marker"] == f"url(#head-{cat})", f"{cat} arrow without its head: {f['marker']}")
        check(root.find(f".//{SVG}marker[@id='head-{cat}']") is not None, f"no marker head-{cat}")
    wake = next(f for f in flows if f["cat"] == "wake")
    check("M0 at 70 µs → M1 at 85 µs" in wake["title"], f"wake arrow tooltip {wake['title']!r}")

    marks = instants_of(root)
    want = sorted((cls, lane) for cls, _, _, _, _, _, lane, _ in INSTANTS)
    got = sorted((m["cls"], lane_at(lanes, m["y"])) for m in marks)
    check(got == want, f"instant markers {got}, want {want}")
    titles = {m["title"].split("\n")[0] for m in marks}
    for t in ("create G2 by G1", "create G3 by G1", "unblock G1 by G2", "steal: P1 took 1 from P0",
              "park M", "unpark M (m=0, p=-1)", "handoff (p=0)", "netpoll (n=0)", "blocking enter (g=2)"):
        check(t in titles, f"no instant tooltip {t!r} among {sorted(titles)}")

    ticks = tick_labels(root)
    check(len(ticks) >= 4 and ticks[0] == "0 µs" and all(t.endswith(" µs") for t in ticks),
          f"axis tick labels {ticks}: want µs for a 105 µs trace, from 0")

    legend = legend_text(root)
    for item in ("fiber running on an M", "wake-up", "steal", "create", "unblock", "park M", "unpark M",
                 "netpoll", "blocking enter", "blocking leave", "sysmon handoff", "slices under 1 px"):
        check(item in legend, f"the legend lacks {item!r}:\n{legend}")
    check("not drawn" not in legend, f"nothing was left out, yet the legend says so:\n{legend}")
    check(title_of(root) == "gort trace: synthetic.json", f"title {title_of(root)!r}")

    _, again, _ = render(path, "--width", "1200", name="again.svg")
    check(again == data, "two renders of one trace differ")

    # --title; and a lane without thread_name metadata is named M<tid>.
    ev = [e for e in synthetic_events() if not (e["ph"] == "M" and e["tid"] == 1)]
    _, _, root = render(write_json("unnamed.json", {"traceEvents": ev}), "--title", "a <title> & more")
    check(title_of(root) == "a <title> & more", f"title {title_of(root)!r}")
    check([l[0] for l in lanes_of(root)] == ["M0", "M1", "sysmon", "netpoll"], "an unnamed M is not called M1")


def test_lanes_p():
    _, _, root = render(synthetic_trace(), "--lanes", "p", "--width", "1200")
    lanes = lanes_of(root)
    names = [l[0] for l in lanes]
    check(names == ["P0", "P1", "netpoll"], f"lanes {names}, want P0, P1, netpoll")
    slices = slices_of(root)
    check(len(slices) == len(SLICES), f"{len(slices)} slices, want {len(SLICES)}")
    for s in slices:
        p = re.match(r"G\d+ on (P\d+)", s["title"]).group(1)
        check(lane_at(lanes, s["y"]) == p, f"{s['title']!r} drawn in lane {lane_at(lanes, s['y'])}")
    flows = flows_of(root)
    for cat, *_, (l1, l2) in FLOWS:
        f = next(f for f in flows if f["cat"] == cat)
        check((lane_at(lanes, f["from"][1]), lane_at(lanes, f["to"][1])) == (l1, l2),
              f"{cat} arrow from {lane_at(lanes, f['from'][1])} to {lane_at(lanes, f['to'][1])}, want {l1} to {l2}")
    want = sorted((cls, lane) for cls, *_, lane in INSTANTS if lane is not None)
    got = sorted((m["cls"], lane_at(lanes, m["y"])) for m in instants_of(root))
    check(got == want, f"instant markers {got}, want {want}")
    legend = legend_text(root)
    check("fiber running on a P" in legend, "the legend does not say the lanes are Ps")
    check("2 instants of Ms without a P not drawn" in legend, f"park/unpark of an idle M not counted:\n{legend}")


def test_window():
    path = synthetic_trace()
    _, _, root = render(path, "--from-us", "35", "--to-us", "60", "--width", "1000")
    slices = slices_of(root)
    got = sorted((s["title"].split(" ")[0], round(s["x"], 1), round(s["w"], 1)) for s in slices)
    x0, w = plot_box(root)
    px = w / 25.0  # per µs
    want = sorted([("G1", x0, round(5 * px, 1)), ("G2", round(x0 + 10 * px, 1), round(15 * px, 1)),
                   ("G3", x0, round(w, 1))])
    check(got == [(a, round(b, 1), c) for a, b, c in want], f"slices in the window {got}, want {want}")
    check(not flows_of(root), "arrows outside the window drawn")
    classes = sorted(m["cls"] for m in instants_of(root))
    check(classes == ["blocking-enter", "handoff", "netpoll"], f"instants in the window: {classes}")
    check([l[0] for l in lanes_of(root)] == ["M0", "M1", "sysmon", "netpoll"], "a window changed the lanes")
    ticks = tick_labels(root)
    check(ticks and ticks[0] == "35 µs" and ticks[-1] == "60 µs", f"ticks {ticks}, want 35 µs .. 60 µs")

    # The unit follows the span: 5 ms, then 12 s.
    for scale, unit in ((50.0, "ms"), (120000.0, "s")):
        ev = synthetic_events()
        for e in ev:
            for k in ("ts", "dur"):
                if k in e:
                    e[k] = (e[k] - T0) * scale if k == "ts" else e[k] * scale
        _, _, root = render(write_json(f"scaled-{unit}.json", {"traceEvents": ev}))
        ticks = tick_labels(root)
        check(len(ticks) >= 4 and all(t == "0 µs" or t.endswith(" " + unit) for t in ticks),
              f"ticks {ticks} for a {SPAN * scale / 1e3:g} ms trace, want {unit}")
        check(len(slices_of(root)) == len(SLICES), f"{unit}: slices missing")


def read_png(path):
    """(width, height, rows of RGBA tuples) of an 8-bit RGB or RGBA non-interlaced PNG."""
    with open(path, "rb") as f:
        data = f.read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG")
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = body
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + n
    w, h = int.from_bytes(ihdr[0:4], "big"), int.from_bytes(ihdr[4:8], "big")
    depth, ctype, interlace = ihdr[8], ihdr[9], ihdr[12]
    check(depth == 8 and ctype in (2, 6) and interlace == 0, f"PNG kind depth {depth} type {ctype} not handled")
    bpp = 4 if ctype == 6 else 3
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(h):
        ft, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ft == 1:
                line[x] = (line[x] + a) & 255
            elif ft == 2:
                line[x] = (line[x] + b) & 255
            elif ft == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    pixels = [[tuple(r[x * bpp:x * bpp + 3]) for x in range(w)] for r in rows]
    return w, h, pixels


def test_render(rsvg):
    if not rsvg or not shutil.which(rsvg):
        raise Skip("rsvg-convert not found (Debian: librsvg2-bin)")
    out, _, root = render(synthetic_trace(), "--width", "800")
    png = os.path.join(TMP, "synthetic.png")
    log(f"{rsvg} -o {png} {out}")
    p = subprocess.run([rsvg, "-o", png, out], capture_output=True, timeout=RUN_TIMEOUT)
    check(p.returncode == 0, f"rsvg-convert failed ({p.returncode}): {p.stderr.decode(errors='replace')}")
    check(os.path.getsize(png) > 2000, f"the PNG is only {os.path.getsize(png)} bytes")
    w, h, px = read_png(png)
    check((w, h) == (int(root.get("width")), int(float(root.get("height")))),
          f"PNG {w}x{h}, SVG {root.get('width')}x{root.get('height')}")
    colours = {c for row in px for c in row}
    check(len(colours) > 20, f"only {len(colours)} colours in the PNG: blank?")
    check(px[2][2] == (255, 255, 255), f"the top left corner is {px[2][2]}, not white")
    for s in slices_of(root):
        x, y = int(s["x"] + s["w"] / 2), int(s["y"] + s["h"] - 3)  # below the label
        want = tuple(int(s["fill"][i:i + 2], 16) for i in (1, 3, 5))
        got = px[y][x]
        check(max(abs(a - b) for a, b in zip(got, want)) <= 3,
              f"{s['title'].splitlines()[0]}: pixel ({x},{y}) is {got}, want its fill {want}")
    # The steal arrow is drawn in its colour somewhere.
    red = [c for c in colours if c[0] > 180 and c[1] < 80 and c[2] < 80]
    check(red, "no red pixel: the steal arrow and markers did not render")


def test_errors():
    cases = [
        ("not-json.json", b"this is not JSON\n", "not JSON"),
        ("empty.json", b"", "not JSON"),
        ("binary.json", b"\xff\xfe\x00garbage", "not JSON"),
        ("object.json", b'{"displayTimeUnit":"ns"}', "no trace events"),
        ("no-events.json", b'{"traceEvents":[]}', "no trace events"),
        ("empty-array.json", b"[]", "no trace events"),
        ("string.json", b'"hello"', "not a trace"),
        ("events-object.json", b'{"traceEvents":{"ph":"X"}}', "not a trace"),
        ("only-meta.json", json.dumps([meta(0, "M0"), {"ph": "C", "name": "c", "ts": 1, "pid": 1, "tid": 0}]).encode(),
         "nothing to draw"),
        ("deep.json", b"[" * 100000 + b"]" * 100000, "JSON"),
        ("blank.json", b"  \n", "not JSON"),
        ("extra.json", b'[{"ph":"i"}] [', "not JSON: Extra data at line 1, column 14"),
        ("bad-item.json", b'{"traceEvents":[{"ph":"X"},\n{"ph" "X"}]}', "not JSON: Expecting ':' delimiter at line 2, column 7"),
        ("bad-key.json", b'{"traceEvents":[], x}', "not JSON"),
        ("cut-item.json", b'{"traceEvents":[{"ph":"X","ts":1', "not JSON"),
        ("number.json", b"42", "not a trace"),
    ]
    for name, content, want in cases:
        path = os.path.join(TMP, name)
        with open(path, "wb") as f:
            f.write(content)
        _, err = run(path, "-o", os.path.join(TMP, "x.svg"), want=2)
        lines = err.strip().splitlines()
        check(len(lines) == 1 and lines[0].startswith("gort-trace-svg: ") and want in lines[0],
              f"{name}: stderr {err!r}, want one line with {want!r}")
        check(not os.path.exists(os.path.join(TMP, "x.svg")), f"{name}: an SVG was written for bad input")
    _, err = run(os.path.join(TMP, "missing.json"), want=2)
    check(len(err.strip().splitlines()) == 1 and "cannot read" in err, f"missing file: {err!r}")
    _, err = run("-", "-o", "-", want=2, stdin=b"{")
    check(len(err.strip().splitlines()) == 1 and "not JSON" in err, f"stdin: {err!r}")

    good = synthetic_trace()
    for args in (["--lanes", "x"], ["--width", "10"], ["--width", "wide"], ["--from-us", "50", "--to-us", "40"],
                 ["--from-us", "nan"], [], ["--bogus"]):
        argv = ([good] if args != [] else []) + args
        _, err = run(*argv, want=2)
        check(err.strip().splitlines()[-1].startswith("gort-trace-svg: "), f"{args}: stderr {err!r}")
    _, err = run(good, "--from-us", "500", "--to-us", "600", "-o", os.path.join(TMP, "x.svg"), want=2)
    check(len(err.strip().splitlines()) == 1 and "empty" in err, f"a window after the trace: {err!r}")
    _, err = run(good, "-o", os.path.join(TMP, "no-such-dir", "x.svg"), want=1)
    check(len(err.strip().splitlines()) == 1 and "cannot write" in err, f"unwritable output: {err!r}")
    out, _ = run("--help")
    check("usage: gort-trace-svg" in out and "--lanes" in out and "--from-us" in out, f"--help: {out!r}")
    # Without -o: next to the trace, .json replaced by .svg; - writes standard output.
    run(good)
    check(os.path.exists(good[:-5] + ".svg"), "no SVG next to the trace without -o")
    out, _ = run(good, "-o", "-")
    check(out.startswith("<?xml") and out.rstrip().endswith("</svg>"), "-o - did not write the SVG to stdout")


def test_tolerant():
    base = synthetic_events()
    odd = [
        42, "a string", None, [1, 2], {},
        {"ph": "B", "name": "x", "ts": T0 + 1, "pid": 1, "tid": 0},
        {"ph": "E", "ts": T0 + 2, "pid": 1, "tid": 0},
        {"ph": "C", "name": "counter", "ts": T0 + 3, "pid": 1, "tid": 0, "args": {"v": 1}},
        {"ph": "b", "cat": "async", "id": 1, "name": "a", "ts": T0 + 3, "pid": 1, "tid": 0},
        {"ph": "X", "name": "gc", "cat": "gc", "ts": T0 + 4, "dur": 3, "pid": 1, "tid": 0},
        {"ph": "i", "s": "t", "cat": "gpu", "name": "frame", "ts": T0 + 5, "pid": 1, "tid": 0},
        {"ph": "s", "id": 99, "cat": "other", "ts": T0 + 5, "pid": 1, "tid": 0},
        {"ph": "X", "name": "G9", "cat": "fiber", "ts": "nope", "dur": 1, "pid": 1, "tid": 0},
        {"ph": "X", "name": "G9", "cat": "fiber", "ts": T0 + 6, "dur": -1, "pid": 1, "tid": 0},
        {"ph": "X", "name": "G9", "cat": "fiber", "ts": T0 + 6, "pid": 1, "tid": 0},
        {"ph": "i", "s": "t", "cat": "sched", "name": "mystery", "ts": T0 + 7, "pid": 1, "tid": 0,
         "args": {"x": "\u0001<&>\"", "nested": {"a": [1]}}},
        {"ph": "i", "s": "g", "cat": "sched", "name": "global", "ts": T0 + 8, "pid": 1, "tid": 0},
        {"ph": "X", "name": "G\u0002\udc00", "cat": "fiber", "ts": str(T0 + 100), "dur": 1e-3, "pid": 1,
         "tid": "worker", "args": {"g": "x<y", "p": None, "end": 5}},
        {"ph": "f", "bp": "e", "id": 12345, "cat": "wake", "ts": T0 + 9, "pid": 1, "tid": 0},  # no start
        {"ph": "M", "name": "thread_sort_index", "pid": 1, "tid": 1001, "args": {"sort_index": 999}},
        fiber(9, 1, -1, 110.0, 10.0, "running"),
    ]
    n_odd = 15  # events above that are not drawn (the lone "f" is kept, unpaired)
    doc = {"traceEvents": base + odd, "otherData": {"version": "x", "lost_events": 12}}
    path = os.path.join(TMP, "odd.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, allow_nan=True)
    _, data, root = render(path)
    check_self_contained(data)
    slices = slices_of(root)
    merged = root.findall(f".//{SVG}rect[@class='merged']")
    check(len(slices) == len(SLICES) + 1 and len(merged) == 1,
          f"{len(slices)} slices and {len(merged)} merged bars, want {len(SLICES) + 1} and the sub-pixel odd one")
    g9 = [s["title"] for s in slices if s["g"] == "9"]
    check(g9 == ["G9 on P? (M1)\nstart 110 µs, duration 10 µs\nstill running when the trace ended"],
          f"a slice without a P, still running at the end: {g9}")
    names = [l[0] for l in lanes_of(root)]
    check(names == ["M0", "M1", "netpoll", "sysmon", "worker"], f"lanes {names}: thread_sort_index not followed")
    classes = sorted(m["cls"] for m in instants_of(root))
    check(classes.count("other") == 1 and classes.count("global") == 1, f"instants {classes}")
    legend = legend_text(root)
    check(f"{n_odd} events of other kinds ignored" in legend, f"ignored events not counted:\n{legend}")
    check("12 events lost by the tracer" in legend, f"otherData.lost_events not in the legend:\n{legend}")

    # A bare array, also one cut short (Chrome's array format allows a missing "]").
    text = json.dumps(base)
    # Also an object cut inside its events (a process that died writing it), and otherData after the events.
    obj = json.dumps({"traceEvents": base})
    for name, content, cut in (("bare.json", text, False), ("cut.json", text[:-1] + ",\n", True),
                               ("cut2.json", text[:-1], True), ("cut3.json", obj[:-2] + ",", True),
                               ("after.json", obj[:-1] + ', "otherData": {"lost_events": 3}, "x": [1]}', False)):
        p = os.path.join(TMP, name)
        with open(p, "w", encoding="utf-8") as f:
            f.write(content)
        _, _, root = render(p)
        check(len(slices_of(root)) == len(SLICES), f"{name}: {len(slices_of(root))} slices")
        check(len(flows_of(root)) == len(FLOWS), f"{name}: {len(flows_of(root))} arrows")
        legend = legend_text(root)
        check(("the file ends early" in legend) == cut, f"{name}: cut short is {cut}, the legend says:\n{legend}")
        check(("3 events lost" in legend) == (name == "after.json"), f"{name}: otherData after the events:\n{legend}")
    # One instant alone: a window around it, no division by zero.
    _, _, root = render(write_json("one.json", [instant("sched", "park M", 0, 0.0)]))
    check(len(instants_of(root)) == 1, "a lone instant not drawn")


def big_events(n_target):
    """A busy 4-M trace: runs of tiny fibers, a few long ones, wake and steal arrows, instants."""
    ev = [meta(m, f"M{m}") for m in range(4)] + [meta(1000, "sysmon"), meta(1001, "netpoll")]
    t = [0.0] * 4
    g = 1
    fid = 1
    i = 0
    while len(ev) < n_target:
        m = i % 4
        i += 1
        dur = 40.0 if i % 2000 == 0 else 0.2 + (i % 7) * 0.1
        ev.append(fiber(g, m, m, t[m], dur, ("block", "yield", "exit", "preempted")[i % 4],
                        "chan receive" if i % 4 == 0 else None))
        if i % 3 == 0:
            ev.append(instant("sched", "create", m, t[m] + dur / 2, {"g": g + 1, "parent": g}))
        if i % 4 == 0:
            ev.append(instant("sched", "unblock", m, t[m] + dur, {"g": g + 2, "by": g}))
            ev.extend(flow("wake", fid, m, t[m] + dur, (m + 1) % 4, t[(m + 1) % 4] + 0.5))
            fid += 1
        if i % 50 == 0:
            ev.extend(flow("steal", fid, m, t[m], (m + 2) % 4, t[(m + 2) % 4] + 0.3))
            ev.append(instant("sched", "steal", (m + 2) % 4, t[(m + 2) % 4], {"thief": (m + 2) % 4, "victim": m, "n": 2}))
            fid += 1
        if i % 200 == 0:
            ev.append(instant("sched", "park M", m, t[m] + dur + 0.05))
            ev.append(instant("net", "netpoll", 1001, t[m]))
            ev.append(instant("sysmon", "handoff", 1000, t[m], {"p": m}))
        t[m] += dur + 0.05
        g += 1
    return ev


def test_big():
    ev = big_events(200_000)
    n_slices = sum(1 for e in ev if e.get("ph") == "X")
    path = write_json("big.json", {"displayTimeUnit": "ns", "traceEvents": ev})
    log(f"{len(ev)} events, {n_slices} fiber slices, {os.path.getsize(path) >> 20} MiB of JSON")
    started = time.monotonic()
    out, data, root = render(path)
    log(f"rendered in {time.monotonic() - started:.1f} s: {len(data) >> 10} KiB of SVG")
    check(len(data) < 6 << 20, f"the SVG is {len(data)} bytes: not bounded by the picture's size")
    legend = legend_text(root)
    m = re.search(r"(\d+) slices under 1 px not drawn", legend)
    check(m is not None, f"the legend does not count the sub-pixel slices:\n{legend}")
    drawn = len(slices_of(root))
    check(drawn + int(m.group(1)) == n_slices, f"{drawn} drawn + {m.group(1)} under 1 px != {n_slices} slices")
    check(drawn >= 20, f"only {drawn} slices drawn: the long ones are missing")
    merged = root.findall(f".//{SVG}rect[@class='merged']")
    check(0 < len(merged) <= 4 * 1600, f"{len(merged)} merged bars, want some, at most one per pixel per lane")
    check(len(flows_of(root)) > 0 and len(instants_of(root)) > 0, "no arrows or instants drawn")
    # A window into the same trace draws its fibers one by one.
    _, data, root = render(path, "--from-us", "100", "--to-us", "140", name="big-window.svg")
    check(len(slices_of(root)) > 20, f"a 40 µs window shows {len(slices_of(root))} slices")


def test_real(argv):
    trace = os.path.join(TMP, "real.json")
    env = dict(os.environ, GORT_TRACE=trace)
    log("GORT_TRACE=" + trace + " " + " ".join(argv))
    p = subprocess.run(argv, env=env, capture_output=True, timeout=RUN_TIMEOUT)
    check(p.returncode == 0, f"{argv[0]} exited {p.returncode}: {p.stderr.decode(errors='replace')[-2000:]}")
    check(os.path.exists(trace) and os.path.getsize(trace) > 0, f"GORT_TRACE={trace} wrote no trace")
    with open(trace, encoding="utf-8") as f:
        doc = json.load(f)  # the tracer's output is JSON
    events = doc["traceEvents"] if isinstance(doc, dict) else doc
    n_x = sum(1 for e in events if e.get("ph") == "X" and e.get("cat") == "fiber")
    check(n_x > 0, "the trace holds no fiber slices")
    _, data, root = render(trace)
    check_self_contained(data)
    lanes = [l[0] for l in lanes_of(root)]
    check(any(re.fullmatch(r"M\d+", l) for l in lanes), f"no M lane in {lanes}")
    legend = legend_text(root)
    m = re.search(r"(\d+) slices under 1 px not drawn", legend)
    hidden = int(m.group(1)) if m else 0
    check(len(slices_of(root)) + hidden == n_x, f"{len(slices_of(root))} + {hidden} slices, want {n_x}")
    _, _, root = render(trace, "--lanes", "p", name="real-p.svg")
    check(any(re.fullmatch(r"P\d+", l[0]) for l in lanes_of(root)), "no P lane with --lanes p")


def main():
    global SCRIPT, TMP
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    mode, SCRIPT = sys.argv[1], os.path.abspath(sys.argv[2])
    rest = sys.argv[3:]
    modes = {
        "elements": test_elements, "lanes-p": test_lanes_p, "window": test_window,
        "render": lambda: test_render(rest[0] if rest else "rsvg-convert"),
        "errors": test_errors, "tolerant": test_tolerant, "big": test_big,
        "real": lambda: test_real(rest),
    }
    if mode not in modes:
        print(f"unknown mode {mode}\n{__doc__}", file=sys.stderr)
        return 2
    TMP = tempfile.mkdtemp(prefix="gort-trace-svg-test-")
    try:
        modes[mode]()
    except Skip as e:
        log(f"SKIP: {e}")
        return 77
    except TestFailure as e:
        log(f"FAIL: {e}")
        log(f"(files kept in {TMP})")
        return 1
    except subprocess.TimeoutExpired as e:
        log(f"FAIL: timed out: {e}")
        return 1
    log("PASS")
    shutil.rmtree(TMP, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
