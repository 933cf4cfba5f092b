#!/usr/bin/env python3
"""Plots tessera_loadgen results against the number of sites n.

Reads the JSON objects `tessera_loadgen --json` printed (one file per run),
writes an SVG with three panels -- round seconds, coordinator CPU seconds per
round and coordinator peak resident memory, each against n with one line per
model size d -- and prints the results as a Markdown table.

Standard library only (matplotlib is not installed on the build machines):
the SVG is written by hand.

    plot_round_scale.py RESULT.json... --svg round_scale.svg [--title TEXT]
"""

import argparse
import json
import math
import sys
from xml.sax.saxutils import escape

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
MIB = 1024.0 * 1024.0


def load(paths):
    runs = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            text = handle.read().strip()
        if not text:
            print(f"{path}: empty (the run failed?); skipped", file=sys.stderr)
            continue
        runs.append(json.loads(text))
    runs.sort(key=lambda run: (run["dim"], run["sites"]))
    return runs


def dim_label(dim):
    exponent = math.log10(dim)
    if abs(exponent - round(exponent)) < 1e-9:
        superscript = str(round(exponent)).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
        return f"d = 10{superscript}"
    return f"d = {dim:,}"


def nice_ticks(low, high, count=5):
    """About `count` round tick values covering [low, high]."""
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw))
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 0.5:
        ticks.append(round(value, 10))
        value += step
    return ticks


def panel(x0, y0, width, height, title, y_label, series, x_values):
    """One line chart as SVG elements; series: [(label, colour, [(x, y)])]."""
    parts = []
    all_y = [y for _, _, points in series for _, y in points]
    y_ticks = nice_ticks(0, max(all_y) if all_y else 1)
    y_max = y_ticks[-1]
    x_ticks = sorted(set(x_values))
    x_min, x_max = 0, max(x_ticks) if x_ticks else 1
    left, right, top, bottom = 62, 12, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom

    def sx(x):
        return x0 + left + plot_w * (x - x_min) / (x_max - x_min)

    def sy(y):
        return y0 + top + plot_h * (1 - y / y_max)

    parts.append(f'<text x="{x0 + width / 2}" y="{y0 + 16}" text-anchor="middle" '
                 f'font-weight="bold">{escape(title)}</text>')
    for tick in y_ticks:
        y = sy(tick)
        parts.append(f'<line x1="{x0 + left}" y1="{y:.1f}" x2="{x0 + left + plot_w}" '
                     f'y2="{y:.1f}" stroke="#ddd"/>')
        label = f"{tick:g}"
        parts.append(f'<text x="{x0 + left - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    for tick in x_ticks:
        x = sx(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{y0 + top + plot_h}" x2="{x:.1f}" '
                     f'y2="{y0 + top + plot_h + 4}" stroke="#333"/>')
        parts.append(f'<text x="{x:.1f}" y="{y0 + top + plot_h + 17}" '
                     f'text-anchor="middle">{tick}</text>')
    parts.append(f'<rect x="{x0 + left}" y="{y0 + top}" width="{plot_w}" height="{plot_h}" '
                 f'fill="none" stroke="#333"/>')
    parts.append(f'<text x="{x0 + left + plot_w / 2}" y="{y0 + height - 6}" '
                 f'text-anchor="middle">sites n</text>')
    cy = y0 + top + plot_h / 2
    parts.append(f'<text x="{x0 + 14}" y="{cy}" text-anchor="middle" '
                 f'transform="rotate(-90 {x0 + 14} {cy})">{escape(y_label)}</text>')
    for index, (label, colour, points) in enumerate(series):
        if not points:
            continue
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                     f'stroke-width="2"/>')
        for x, y in points:
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}"/>')
        ly = y0 + top + 14 + 16 * index
        lx = x0 + left + 10
        parts.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 18}" y2="{ly - 4}" '
                     f'stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<text x="{lx + 24}" y="{ly}">{escape(label)}</text>')
    return parts


def svg(runs, title):
    dims = sorted({run["dim"] for run in runs})
    x_values = [run["sites"] for run in runs]

    def series(value):
        out = []
        for index, dim in enumerate(dims):
            points = [(run["sites"], value(run)) for run in runs if run["dim"] == dim]
            out.append((dim_label(dim), COLOURS[index % len(COLOURS)], points))
        return out

    width, height = 360, 300
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{3 * width}" '
             f'height="{height + 30}" font-family="sans-serif" font-size="12">',
             f'<rect width="100%" height="100%" fill="white"/>',
             f'<text x="{1.5 * width}" y="{height + 22}" text-anchor="middle" '
             f'fill="#555">{escape(title)}</text>']
    parts += panel(0, 0, width, height, "Round time", "seconds per round",
                   series(lambda r: r["round_seconds_median"]), x_values)
    parts += panel(width, 0, width, height, "Coordinator CPU", "CPU seconds per round",
                   series(lambda r: r["coordinator_cpu_seconds_per_round"]), x_values)
    parts += panel(2 * width, 0, width, height, "Coordinator peak memory", "VmHWM, MiB",
                   series(lambda r: r["coordinator_peak_rss_bytes"] / MIB), x_values)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def markdown(runs):
    lines = [
        "| n | d | k | round s | coordinator CPU s/round | coordinator peak RSS MiB (idle) "
        "| sent MB/site/round | received MB/site/round | load generator CPU s/round "
        "| baseline ms | round / baseline | coordinator CPU / baseline |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        k = f'{run["degree"]}' + (" (complete)" if run["complete_graph"] else "")
        lines.append(
            f'| {run["sites"]} | {run["dim"]:,} | {k} | {run["round_seconds_median"]:.2f} '
            f'| {run["coordinator_cpu_seconds_per_round"]:.2f} '
            f'| {run["coordinator_peak_rss_bytes"] / MIB:.0f} '
            f'({run["coordinator_idle_rss_bytes"] / MIB:.0f}) '
            f'| {run["sent_bytes_per_site_round"] / 1e6:.3f} '
            f'| {run["received_bytes_per_site_round"] / 1e6:.3f} '
            f'| {run["loadgen_cpu_seconds_per_round"]:.2f} '
            f'| {run["baseline_seconds"] * 1e3:.3f} '
            f'| {run["round_over_baseline"]:,.0f} '
            f'| {run["coordinator_cpu_over_baseline"]:,.0f} |')
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", help="tessera_loadgen --json outputs")
    parser.add_argument("--svg", required=True, help="SVG file to write")
    parser.add_argument("--title", default="tessera_loadgen: a real coordinator, n synthetic "
                        "sites on the same 2 vCPUs; site-level DP, SecAgg+")
    args = parser.parse_args()
    runs = load(args.results)
    if not runs:
        print("no results to plot", file=sys.stderr)
        return 1
    with open(args.svg, "w", encoding="utf-8") as handle:
        handle.write(svg(runs, args.title))
    sys.stdout.write(markdown(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
