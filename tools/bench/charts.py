#!/usr/bin/env python3
"""SVG bar charts of the benchmark runs (standard library only).

    charts.py --proxy proxy.jsonl --runtime runtime.jsonl --out DIR [--impls "gort go nginx-w1 ..."]

Writes into DIR:
  proxy-bulk.svg, proxy-rr.svg, proxy-connrate.svg   one chart per test family, two
      panels: the rate (Gbit/s, req/s, conns/s) and the work per proxy CPU-second;
      grouped bars, one group per test, one bar per proxy (median, with a min-max
      whisker), "direct" (no proxy) as a dashed line in the rate panel
  runtime.svg   gort's time (or bytes) per operation as a ratio of Go's, one bar
      per microbenchmark and P count (below 1: gort is ahead)
Input: the JSON lines of run-proxy-bench.sh (JSONL=) and run-runtime-bench.sh (JSONL=).
The output depends only on the input (no dates, no randomness).
"""
import argparse
import json
import os
import statistics
import sys
from xml.sax.saxutils import escape

# One colour per proxy, fixed so that charts of different runs compare.
COLOURS = {"gort": "#1f77b4", "talk": "#6baed6", "go": "#2ca02c", "nginx-w1": "#ff7f0e",
           "nginx-w2": "#fdae6b", "haproxy-t1": "#d62728", "haproxy-t2": "#ff9896"}
TITLES = {"gort": "gort-proxy", "talk": "gort talk-proxy", "go": "Go talk proxy", "nginx-w1": "nginx 1 worker",
          "nginx-w2": "nginx 2 workers", "haproxy-t1": "HAProxy 1 thread", "haproxy-t2": "HAProxy 2 threads"}
FAMILIES = {  # family: (title, rate key, rate unit, work key, work divisor, per-CPU unit)
    "bulk": ("Bulk throughput (iperf3 through the proxy)", "gbit_s", "Gbit/s", "bytes", 1e9, "GB per proxy CPU-s"),
    "rr": ("64 B request/response", "rps", "requests/s", "requests", 1e3, "k requests per proxy CPU-s"),
    "connrate": ("Connection rate (connect, 64 B exchange, close)", "cps", "conns/s", "conns", 1.0,
                 "conns per proxy CPU-s"),
}
FONT = 'font-family="DejaVu Sans, Arial, sans-serif"'


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def good(r):
    return not r.get("error") and not r.get("failed") and r.get("rc", 0) == 0


def stats(xs):
    xs = [x for x in xs if x is not None]
    return (statistics.median(xs), min(xs), max(xs)) if xs else None


def nice_max(v):
    """The smallest 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten at or above v."""
    if v <= 0:
        return 1.0
    p = 10 ** len(str(int(v))) / 10 if v >= 1 else 1.0
    while p > v:
        p /= 10
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * p >= v:
            return m * p
    return 10 * p


def tick(v, top):
    """An axis label: as many decimals as the axis' range needs."""
    return f"{v:,.0f}" if top >= 10 else f"{v:.1f}" if top >= 1 else f"{v:.2f}"


def fmt(v):
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def panel(x0, y0, w, h, groups, series, values, unit, reference=None):
    """SVG elements of one grouped bar panel. values[(group, series)] = (med, lo, hi)."""
    top = max([v[2] for v in values.values()] + [reference.get(g, 0) for g in groups] if reference else
              [v[2] for v in values.values()] or [1])
    ymax = nice_max(top * 1.05)
    out = [f'<text x="{x0}" y="{y0 - 8}" {FONT} font-size="12" fill="#333">{escape(unit)}</text>']
    for k in range(6):  # grid and axis labels
        yv = ymax * k / 5
        y = y0 + h - h * k / 5
        out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + w}" y2="{y:.1f}" stroke="#ddd" stroke-width="1"/>')
        out.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" {FONT} font-size="11" fill="#555" '
                   f'text-anchor="end">{escape(tick(yv, ymax))}</text>')
    gw = w / max(len(groups), 1)
    bw = min(28.0, (gw - 16) / max(len(series), 1))
    for gi, g in enumerate(groups):
        gx = x0 + gi * gw + (gw - bw * len(series)) / 2
        for si, s in enumerate(series):
            v = values.get((g, s))
            if not v:
                continue
            med, lo, hi = v
            bx = gx + si * bw
            bh = h * med / ymax
            out.append(f'<rect x="{bx + 1:.1f}" y="{y0 + h - bh:.1f}" width="{bw - 2:.1f}" height="{bh:.1f}" '
                       f'fill="{COLOURS.get(s, "#888")}"><title>{escape(TITLES.get(s, s))}, {escape(g)}: '
                       f'{escape(fmt(med))} {escape(unit)} (min {escape(fmt(lo))}, max {escape(fmt(hi))})</title></rect>')
            cx = bx + bw / 2
            ylo, yhi = y0 + h - h * lo / ymax, y0 + h - h * hi / ymax
            out.append(f'<line x1="{cx:.1f}" y1="{ylo:.1f}" x2="{cx:.1f}" y2="{yhi:.1f}" stroke="#222" stroke-width="1"/>')
        if reference and reference.get(g):
            ry = y0 + h - h * reference[g] / ymax
            out.append(f'<line x1="{x0 + gi * gw + 4:.1f}" y1="{ry:.1f}" x2="{x0 + (gi + 1) * gw - 4:.1f}" '
                       f'y2="{ry:.1f}" stroke="#000" stroke-width="1.5" stroke-dasharray="5,3">'
                       f'<title>direct (no proxy): {escape(fmt(reference[g]))} {escape(unit)}</title></line>')
        out.append(f'<text x="{x0 + gi * gw + gw / 2:.1f}" y="{y0 + h + 16}" {FONT} font-size="12" fill="#333" '
                   f'text-anchor="middle">{escape(g)}</text>')
    out.append(f'<line x1="{x0}" y1="{y0 + h}" x2="{x0 + w}" y2="{y0 + h}" stroke="#333" stroke-width="1"/>')
    return out


LEGEND_COLS = 3


def legend(x, y, series, extra=None):
    out = []
    for i, s in enumerate(series):
        lx = x + (i % LEGEND_COLS) * 190
        ly = y + (i // LEGEND_COLS) * 18
        out.append(f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" fill="{COLOURS.get(s, "#888")}"/>')
        out.append(f'<text x="{lx + 17}" y="{ly}" {FONT} font-size="12" fill="#333">{escape(TITLES.get(s, s))}</text>')
    if extra:
        ly = y + ((len(series) + LEGEND_COLS - 1) // LEGEND_COLS) * 18
        out.append(f'<line x1="{x}" y1="{ly - 4}" x2="{x + 12}" y2="{ly - 4}" stroke="#000" stroke-width="1.5" '
                   f'stroke-dasharray="5,3"/>')
        out.append(f'<text x="{x + 17}" y="{ly}" {FONT} font-size="12" fill="#333">{escape(extra)}</text>')
    return out


def svg(width, height, title, body, subtitle=""):
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        f'<text x="{width / 2}" y="24" {FONT} font-size="16" font-weight="bold" fill="#222" '
        f'text-anchor="middle">{escape(title)}</text>',
        f'<text x="{width / 2}" y="42" {FONT} font-size="12" fill="#555" text-anchor="middle">{escape(subtitle)}</text>',
        *body, "</svg>", ""])


def test_name(t):
    return t.replace("bulk-P", "").replace("rr-c", "").replace("connrate-c", "") + (
        " stream(s)" if t.startswith("bulk") else " conns" if t.startswith("rr") else " at once")


def proxy_charts(recs, impls, outdir):
    written = []
    present = [p for p in dict.fromkeys(r["proxy"] for r in recs if good(r)) if p != "direct"]
    series = [i for i in (impls or present) if i in present]
    for fam, (title, key, unit, work, div, cpu_unit) in FAMILIES.items():
        rs = [r for r in recs if good(r) and r.get("test", "").startswith(fam + "-") and r.get("mode") != "syscalls"]
        if not rs:
            continue
        groups_t = list(dict.fromkeys(r["test"] for r in rs))
        groups = [test_name(t) for t in groups_t]
        rate, per_cpu, ref = {}, {}, {}
        for t, g in zip(groups_t, groups):
            d = stats([r.get(key) for r in rs if r["test"] == t and r["proxy"] == "direct"])
            if d:
                ref[g] = d[0]
            for s in series:
                mine = [r for r in rs if r["test"] == t and r["proxy"] == s]
                v = stats([r.get(key) for r in mine])
                if v:
                    rate[(g, s)] = v
                c = stats([r[work] / div / r["proxy_cpu_s"] for r in mine
                           if r.get(work) is not None and r.get("proxy_cpu_s")])
                if c:
                    per_cpu[(g, s)] = c
        w = max(700, 110 + len(groups) * (len(series) * 30 + 40))
        ph = 220
        body = panel(90, 70, w - 120, ph, groups, series, rate, unit, ref)
        body += panel(90, 70 + ph + 80, w - 120, ph, groups, series, per_cpu, cpu_unit)
        body += legend(90, 70 + 2 * ph + 135, series, "direct (no proxy): the limit" if ref else None)
        h = 70 + 2 * ph + 135 + 18 * ((len(series) + LEGEND_COLS - 1) // LEGEND_COLS + 1) + 10
        path = os.path.join(outdir, f"proxy-{fam}.svg")
        with open(path, "w") as f:
            f.write(svg(w, h, title, body, "bars: medians of the repetitions; whiskers: min to max"))
        written.append(path)
    return written


def runtime_chart(recs, outdir):
    rows = {}
    for r in recs:
        if r.get("failed") or r.get("value") is None:
            continue
        rows.setdefault((r["label"], r.get("want_procs")), {"gort": [], "go": []}).setdefault(r["impl"], []).append(
            r["value"])
    bars = []
    for (label, procs), d in rows.items():
        if d.get("gort") and d.get("go"):
            g, go = statistics.median(d["gort"]), statistics.median(d["go"])
            if go:
                bars.append((f"{label}, {procs} P", g / go))
    if not bars:
        return []
    rowh = 24
    x0 = min(max(160, int(6.6 * max(len(b[0]) for b in bars)) + 16), 600)  # room for the longest label
    w = x0 + 520
    h = 80 + rowh * len(bars) + 50
    top = nice_max(max(b[1] for b in bars) * 1.05)
    scale = (w - x0 - 40) / top
    body = []
    for k in range(6):
        xv = top * k / 5
        x = x0 + xv * scale
        body.append(f'<line x1="{x:.1f}" y1="60" x2="{x:.1f}" y2="{h - 40}" stroke="#ddd"/>')
        body.append(f'<text x="{x:.1f}" y="{h - 24}" {FONT} font-size="11" fill="#555" text-anchor="middle">'
                    f'{tick(xv, top)}</text>')
    one = x0 + scale
    for i, (name, ratio) in enumerate(bars):
        y = 64 + i * rowh
        colour = COLOURS["gort"] if ratio <= 1 else "#d62728"
        body.append(f'<text x="{x0 - 8}" y="{y + 15}" {FONT} font-size="12" fill="#333" text-anchor="end">'
                    f'{escape(name)}</text>')
        body.append(f'<rect x="{x0}" y="{y + 3}" width="{ratio * scale:.1f}" height="{rowh - 6}" fill="{colour}">'
                    f'<title>{escape(name)}: gort / Go = {ratio:.2f}</title></rect>')
        body.append(f'<text x="{x0 + ratio * scale + 5:.1f}" y="{y + 15}" {FONT} font-size="11" fill="#333">'
                    f'{ratio:.2f}</text>')
    body.append(f'<line x1="{one:.1f}" y1="56" x2="{one:.1f}" y2="{h - 40}" stroke="#000" stroke-width="1.5" '
                f'stroke-dasharray="5,3"/>')
    body.append(f'<text x="{one:.1f}" y="52" {FONT} font-size="11" fill="#000" text-anchor="middle">Go = 1</text>')
    body.append(f'<text x="{w / 2}" y="{h - 6}" {FONT} font-size="12" fill="#333" text-anchor="middle">'
                f'gort\'s time (or memory) per operation / Go\'s: below 1, gort is ahead</text>')
    path = os.path.join(outdir, "runtime.svg")
    with open(path, "w") as f:
        f.write(svg(w, h, "Runtime microbenchmarks: gort / Go 1.19 (medians)", body))
    return [path]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--proxy", help="run-proxy-bench.sh JSON lines")
    ap.add_argument("--runtime", help="run-runtime-bench.sh JSON lines")
    ap.add_argument("--impls", default="", help="proxies in bar order (default: as in the file)")
    ap.add_argument("--out", required=True, help="directory for the SVG files")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    written = []
    try:
        if a.proxy:
            written += proxy_charts(load(a.proxy), a.impls.split(), a.out)
        if a.runtime:
            written += runtime_chart(load(a.runtime), a.out)
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"charts.py: {e}")
    for p in written:
        print(p)


if __name__ == "__main__":
    main()
