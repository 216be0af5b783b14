#!/usr/bin/env python3
"""Plots doorbench's latency against argument size as an SVG (log-log):
door_call, SOCK_STREAM and memcpy medians, with a whisker up to each p99.

    python3 plot.py results.json ../docs/perf-latency-vs-size.svg

Standard library only: the SVG is written by hand.
"""
import json
import math
import sys
from xml.sax.saxutils import escape

SERIES = [  # transport, legend, colour
    ("door", "door_call", "#c0392b"),
    ("stream", "AF_UNIX SOCK_STREAM", "#2471a3"),
    ("memcpy", "memcpy (the floor)", "#1e8449"),
    ("copysum", "memcpy + the sum", "#7d3c98"),
]

W, H = 760, 480
LEFT, RIGHT, TOP, BOTTOM = 78, 230, 58, 58
PW, PH = W - LEFT - RIGHT, H - TOP - BOTTOM


def size_label(n):
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB"


def time_label(us):
    if us >= 1000:
        v, unit = us / 1000, "ms"
    else:
        v, unit = us, "µs"
    return f"{v:g} {unit}"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot.py RESULTS.json OUTPUT.svg")
    with open(sys.argv[1]) as f:
        data = json.load(f)
    meta = data["meta"]
    rows = [r for r in data["results"] if r["section"] == "size"]
    if not rows:
        sys.exit("plot.py: no argument-size results in " + sys.argv[1])
    series = {}
    for r in rows:
        series.setdefault(r["transport"], []).append((r["bytes"], r["median"], r["p99"]))
    for pts in series.values():
        pts.sort()

    sizes = sorted({r["bytes"] for r in rows})
    times = [v for r in rows for v in (r["median"], r["p99"]) if v and v > 0]
    x0, x1 = math.log2(sizes[0]) - 1, math.log2(sizes[-1]) + 1
    y0, y1 = math.floor(math.log10(min(times))), math.ceil(math.log10(max(times)))
    if y1 == y0:
        y1 += 1

    def px(b):
        return LEFT + (math.log2(b) - x0) / (x1 - x0) * PW

    def py(us):
        return TOP + (y1 - math.log10(us)) / (y1 - y0) * PH

    out = []
    add = out.append
    add(f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">')
    add(f'<rect width="{W}" height="{H}" fill="white"/>')
    add(f'<text x="{LEFT}" y="24" font-size="15" font-weight="bold">'
        'libdoor: round trip against argument size</text>')
    sub = (f'commit {meta["commit"]}, {meta["date"]}, {meta["mode"]} mode; '
           'the server reads every byte and returns 64 bytes')
    add(f'<text x="{LEFT}" y="42" fill="#555">{escape(sub)}</text>')

    # Grid: decades (and their 2x, 5x) on y, powers of 4 on x.
    for d in range(y0, y1 + 1):
        for m in (1, 2, 5):
            us = m * 10 ** d
            if math.log10(us) > y1 + 1e-9:
                continue
            y = py(us)
            major = m == 1
            add(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + PW}" y2="{y:.1f}" '
                f'stroke="{"#ccc" if major else "#eee"}" stroke-width="1"/>')
            if major:
                add(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(time_label(us))}</text>')
    b = 1 << 10
    while b <= 1 << 26:
        if x0 <= math.log2(b) <= x1:
            x = px(b)
            major = b in sizes
            add(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + PH}" '
                f'stroke="{"#ccc" if major else "#eee"}" stroke-width="1"/>')
            add(f'<text x="{x:.1f}" y="{TOP + PH + 16}" text-anchor="middle" '
                f'fill="{"#000" if major else "#888"}">{size_label(b)}</text>')
        b <<= 2
    add(f'<rect x="{LEFT}" y="{TOP}" width="{PW}" height="{PH}" fill="none" stroke="#333"/>')
    add(f'<text x="{LEFT + PW / 2}" y="{H - 14}" text-anchor="middle">argument size (log scale)</text>')
    add(f'<text transform="translate(18 {TOP + PH / 2}) rotate(-90)" text-anchor="middle">'
        'time per call, median (log scale)</text>')

    # Series: p99 whiskers (side by side), lines, points.
    for k, (transport, _, colour) in enumerate(SERIES):
        pts = series.get(transport)
        if not pts:
            continue
        for bytes_, med, p99 in pts:
            if p99 and p99 > med:
                x = px(bytes_) + (k - (len(SERIES) - 1) / 2) * 5
                add(f'<line x1="{x:.1f}" y1="{py(med):.1f}" x2="{x:.1f}" y2="{py(p99):.1f}" '
                    f'stroke="{colour}" stroke-opacity="0.45" stroke-width="2"/>')
                add(f'<line x1="{x - 4:.1f}" y1="{py(p99):.1f}" x2="{x + 4:.1f}" y2="{py(p99):.1f}" '
                    f'stroke="{colour}" stroke-opacity="0.45" stroke-width="2"/>')
        path = " ".join(f'{"M" if i == 0 else "L"}{px(b_):.1f},{py(m_):.1f}' for i, (b_, m_, _) in enumerate(pts))
        add(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2.2"/>')
        for bytes_, med, _ in pts:
            add(f'<circle cx="{px(bytes_):.1f}" cy="{py(med):.1f}" r="3.6" fill="{colour}">'
                f'<title>{escape(f"{transport} {size_label(bytes_)}: {time_label(med)}")}</title></circle>')

    # Legend.
    lx, ly = LEFT + PW + 18, TOP + 8
    for i, (transport, label, colour) in enumerate(SERIES):
        if transport not in series:
            continue
        y = ly + i * 22
        add(f'<line x1="{lx}" y1="{y}" x2="{lx + 24}" y2="{y}" stroke="{colour}" stroke-width="2.2"/>')
        add(f'<circle cx="{lx + 12}" cy="{y}" r="3.6" fill="{colour}"/>')
        add(f'<text x="{lx + 32}" y="{y + 4}">{escape(label)}</text>')
    y = ly + len(SERIES) * 22 + 6
    add(f'<line x1="{lx + 12}" y1="{y - 6}" x2="{lx + 12}" y2="{y + 6}" stroke="#888" stroke-width="2"/>')
    add(f'<line x1="{lx + 8}" y1="{y - 6}" x2="{lx + 16}" y2="{y - 6}" stroke="#888" stroke-width="2"/>')
    add(f'<text x="{lx + 32}" y="{y + 4}" fill="#555">whisker: up to p99</text>')
    note = [f'{meta["nproc"]} CPUs, {meta["cpu_model"]}', meta["kernel"], "processes not pinned"]
    for i, line in enumerate(note):
        add(f'<text x="{lx}" y="{y + 32 + i * 16}" fill="#777" font-size="11">{escape(line)}</text>')
    add("</svg>")
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
