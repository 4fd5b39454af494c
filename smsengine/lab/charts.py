"""Charts as inline SVG text: lines over time, CDFs on a log axis, stacked and grouped bars.

Written out by hand rather than with a plotting library so a report is one small self-contained
HTML file (a few KB a chart, no fonts or scripts to fetch) and the engine needs nothing more to
write it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac", "#2f4b7c", "#a05195")
WIDTH, HEIGHT = 620, 280
LEFT, RIGHT, TOP, BOTTOM = 62, 150, 30, 42  # margins: the legend sits on the right

Points = Sequence[tuple[float, float]]


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering low..high (1, 2, 2.5 or 5 times a power of ten apart)."""
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    return [round(i * step, 10) for i in range(first, last + 1)]


def _label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value / 1000:g}k" if value % 100 == 0 else f"{value:,.0f}"
    return f"{value:g}"


def _frame(title: str, x_label: str, y_label: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}"'
        f' role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="11">',
        f'<text x="{LEFT}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<text x="{LEFT + (WIDTH - LEFT - RIGHT) / 2}" y="{HEIGHT - 6}" text-anchor="middle">{escape(x_label)}</text>',
        f'<text transform="translate(14 {TOP + (HEIGHT - TOP - BOTTOM) / 2}) rotate(-90)"'
        f' text-anchor="middle">{escape(y_label)}</text>',
    ]


def _legend(names: Sequence[str], out: list[str]) -> None:
    x = WIDTH - RIGHT + 12
    for i, name in enumerate(names[:14]):
        y = TOP + 6 + i * 16
        out.append(f'<rect x="{x}" y="{y - 8}" width="12" height="8" fill="{colour(i)}"/>'
                   f'<text x="{x + 17}" y="{y}">{escape(name[:22])}</text>')


def line_chart(title: str, series: dict[str, Points], x_label: str, y_label: str, *, log_x: bool = False,
               y_max: float | None = None) -> str:
    """One line per series; `log_x` for latencies spanning decades (values <= 0 left out)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    data = {name: [(x, y) for x, y in pts if not log_x or x > 0] for name, pts in series.items()}
    xs = [x for pts in data.values() for x, _ in pts]
    ys = [y for pts in data.values() for _, y in pts]
    out = _frame(title, x_label, y_label)
    if not xs:
        out.append(f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" text-anchor="middle">no data</text></svg>')
        return "".join(out)
    if log_x:
        lo, hi = math.floor(math.log10(min(xs))), math.ceil(math.log10(max(xs)))
        hi = max(hi, lo + 1)
        x_ticks = [10.0**e for e in range(lo, hi + 1)]

        def fx(x: float) -> float:
            return LEFT + (math.log10(x) - lo) / (hi - lo) * plot_w
    else:
        x_ticks = nice_ticks(min(0.0, min(xs)), max(xs))
        x0, x1 = x_ticks[0], x_ticks[-1]

        def fx(x: float) -> float:
            return LEFT + (x - x0) / ((x1 - x0) or 1) * plot_w
    y_ticks = nice_ticks(0.0, y_max if y_max is not None else max(max(ys), 1e-9))
    y1 = y_ticks[-1] or 1

    def fy(y: float) -> float:
        return TOP + plot_h - y / y1 * plot_h

    for t in y_ticks:
        out.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{fy(t):.1f}" y2="{fy(t):.1f}" stroke="#e3e3e3"/>'
                   f'<text x="{LEFT - 5}" y="{fy(t) + 4:.1f}" text-anchor="end">{_label(t)}</text>')
    for t in x_ticks:
        out.append(f'<line x1="{fx(t):.1f}" x2="{fx(t):.1f}" y1="{TOP + plot_h}" y2="{TOP + plot_h + 4}" stroke="#555"/>'
                   f'<text x="{fx(t):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{_label(t)}</text>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>')
    for i, (name, pts) in enumerate(data.items()):
        if pts:
            path = " ".join(f"{fx(x):.1f},{fy(y):.1f}" for x, y in pts)
            out.append(f'<polyline class="series" fill="none" stroke="{colour(i)}" stroke-width="1.8"'
                       f' points="{path}"><title>{escape(name)}</title></polyline>')
    _legend(list(data), out)
    out.append("</svg>")
    return "".join(out)


def stacked_bars(title: str, rows: dict[str, dict[str, float]], categories: Sequence[str], x_label: str) -> str:
    """One horizontal bar per row (a variant), its length the row's total, split by category."""
    used = [c for c in categories if any(r.get(c) for r in rows.values())]
    plot_w = WIDTH - LEFT - RIGHT - 40
    bar_h = 22
    height = TOP + len(rows) * (bar_h + 14) + BOTTOM
    total_max = max((sum(r.get(c, 0) for c in used) for r in rows.values()), default=0) or 1
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {max(height, 120)}" width="{WIDTH}"'
        f' height="{max(height, 120)}" role="img" aria-label="{escape(title)}" font-family="sans-serif"'
        f' font-size="11">',
        f'<text x="8" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    left = 100
    for j, (row_name, row) in enumerate(rows.items()):
        y = TOP + j * (bar_h + 14)
        out.append(f'<text x="{left - 6}" y="{y + bar_h / 2 + 4}" text-anchor="end">{escape(row_name[:16])}</text>')
        x = float(left)
        for i, category in enumerate(categories):
            value = row.get(category, 0)
            if not value or category not in used:
                continue
            w = value / total_max * (plot_w - (left - LEFT))
            out.append(f'<rect class="series" x="{x:.1f}" y="{y}" width="{max(w, 0.5):.1f}" height="{bar_h}"'
                       f' fill="{colour(used.index(category))}"><title>{escape(category)}: {value:g}'
                       f'</title></rect>')
            x += w
        out.append(f'<text x="{x + 4:.1f}" y="{y + bar_h / 2 + 4}">{sum(row.get(c, 0) for c in used):g}</text>')
    out.append(f'<text x="{left}" y="{max(height, 120) - 8}">{escape(x_label)}</text>')
    _legend(used, out)
    out.append("</svg>")
    return "".join(out)


def grouped_bars(title: str, groups: dict[str, dict[str, float]], y_label: str) -> str:
    """Vertical bars: one group per key of `groups` (a variant), one bar per series in it."""
    names = list(dict.fromkeys(k for g in groups.values() for k in g))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = max((v for g in groups.values() for v in g.values()), default=0)
    ticks = nice_ticks(0.0, top or 1.0)
    y1 = ticks[-1] or 1
    out = _frame(title, "", y_label)
    for t in ticks:
        y = TOP + plot_h - t / y1 * plot_h
        out.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e3e3"/>'
                   f'<text x="{LEFT - 5}" y="{y + 4:.1f}" text-anchor="end">{_label(t)}</text>')
    slot = plot_w / max(1, len(groups))
    bar = slot * 0.8 / max(1, len(names))
    for j, (group, values) in enumerate(groups.items()):
        x0 = LEFT + j * slot + slot * 0.1
        for i, name in enumerate(names):
            value = values.get(name, 0)
            h = value / y1 * plot_h
            out.append(f'<rect class="series" x="{x0 + i * bar:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar * 0.9:.1f}"'
                       f' height="{max(h, 0.5):.1f}" fill="{colour(i)}"><title>{escape(name)}: {value:g}</title></rect>')
        out.append(f'<text x="{x0 + slot * 0.4:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">'
                   f'{escape(group[:18])}</text>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>')
    _legend(names, out)
    out.append("</svg>")
    return "".join(out)
