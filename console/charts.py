"""Small charts drawn on the server as inline SVG: vertical bars (grouped or stacked),
horizontal bars (grouped) and lines.

Pure: numbers in, SVG text out (`markupsafe.Markup`, every label escaped), so the
console serves pictures without a charting library and without anything from the
internet. Colours are SVG presentation attributes, not ``style``, so the console's
Content-Security-Policy (no inline styles) lets them through. Each bar and point carries
a ``<title>`` with its exact value (shown on hover), and each chart an ``aria-label``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

PALETTE = ("#1f5fbf", "#d9480f", "#1a7f37", "#b98900", "#7048e8", "#0c8599", "#c2255c", "#495057")
SEVERITY_COLOURS = {"CRITICAL": "#b42318", "HIGH": "#d9480f", "MEDIUM": "#b98900", "LOW": "#4a6b8a"}
FONT = 'font-family="system-ui, sans-serif" font-size="11"'
MARGIN_TOP, MARGIN_BOTTOM, MARGIN_RIGHT = 28, 38, 12
MAX_BAR = 56
"""The widest a bar (or a stack) is drawn: a lone bar across the whole chart reads as a block."""
AXIS_COLOUR, GRID_COLOUR, INK = "#667085", "#e4e7ec", "#1d2430"


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    """One per category; None: no value (nothing drawn)."""
    colour: str = ""


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above `value` (1 for 0 or less)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power * (1 + 1e-9):
            return step * power
    return 10 * power  # pragma: no cover (the loop ends at 10)


def ticks(top: float, count: int = 4) -> list[float]:
    """`count` + 1 evenly spaced ticks from 0 to `top`."""
    return [top * i / count for i in range(count + 1)]


def axis_ticks(top: float, whole: bool) -> list[float]:
    """The ticks of an axis up to `top` (a `nice_ceiling`): four intervals, or for counts
    (`whole`) as many as keep every tick a whole number (no 2.5 alerts)."""
    if whole:
        count = next((n for n in (4, 5, 2) if top % n == 0 and _round_step(top / n)), 1)
        return ticks(top, count)
    return ticks(top)


def _round_step(step: float) -> bool:
    """1, 2 or 5 times a power of ten (steps of 125 or 4 read badly)."""
    mantissa = step / 10.0 ** math.floor(math.log10(step))
    return any(abs(mantissa - m) < 1e-9 for m in (1, 2, 5))


def fmt(value: float) -> str:
    """A number for an axis or a tooltip: thousands separated, at most one decimal (two
    below 1: 0.25)."""
    if abs(value - round(value)) < 1e-9:
        return f"{round(value):,}"
    if abs(value) < 1:
        text = f"{value:.2f}".rstrip("0").rstrip(".")
        return text if text not in ("0", "-0") else f"{value:.1g}"
    return f"{value:,.1f}"


def bar_chart(categories: Sequence[str], series: Sequence[Series], *, title: str, stacked: bool = False,
              width: int = 640, height: int = 260, unit: str = "", label_every: int = 0) -> Markup:
    """Vertical bars, one group (or stack) per category."""
    if _empty(categories, series):
        return _no_data(title, width)
    colours = _colours(series)
    top = nice_ceiling(_maximum(series, stacked))
    marks = axis_ticks(top, _whole(series))
    left = _left_margin(marks, unit)
    plot_w, plot_h = width - left - MARGIN_RIGHT, height - MARGIN_TOP - MARGIN_BOTTOM
    band = plot_w / len(categories)
    every = label_every or _label_every(categories, plot_w)
    parts = _frame(title, height, marks, left, plot_w, unit=unit)
    inner = min(band * 0.8, MAX_BAR * (1 if stacked else len(series)))
    for i, category in enumerate(categories):
        x0 = left + i * band
        base = 0.0
        for j, one in enumerate(series):
            value = one.values[i]
            if value is None or value <= 0:
                continue
            h = value / top * plot_h
            if stacked:
                x, w, y = x0 + (band - inner) / 2, inner, MARGIN_TOP + plot_h - (base + value) / top * plot_h
                base += value
            else:
                w = inner / len(series)
                x, y = x0 + (band - inner) / 2 + j * w, MARGIN_TOP + plot_h - h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w - 1, 1):.1f}" height="{h:.1f}" '
                         f'fill="{colours[j]}"><title>{escape(category)}, {escape(one.name)}: '
                         f'{fmt(value)}{escape(unit)}</title></rect>')
        if i % every == 0:
            parts.append(f'<text x="{x0 + band / 2:.1f}" y="{MARGIN_TOP + plot_h + 14}" text-anchor="middle" '
                         f'fill="{AXIS_COLOUR}">{escape(category)}</text>')
    parts += _legend(series, colours, left, height)
    return _svg(title, width, height, parts)


def line_chart(categories: Sequence[str], series: Sequence[Series], *, title: str, width: int = 640,
               height: int = 260, unit: str = "", label_every: int = 0) -> Markup:
    """One line per series across the categories (a gap where a value is None). With one
    category a line has no length and the series' points would sit on each other: bars."""
    if _empty(categories, series):
        return _no_data(title, width)
    if len(categories) == 1:
        return bar_chart(categories, series, title=title, width=width, height=height, unit=unit,
                         label_every=label_every)
    colours = _colours(series)
    top = nice_ceiling(_maximum(series, False))
    marks = axis_ticks(top, _whole(series))
    left = _left_margin(marks, unit)
    plot_w, plot_h = width - left - MARGIN_RIGHT, height - MARGIN_TOP - MARGIN_BOTTOM
    step = plot_w / len(categories)  # each point in the middle of its category's band: no label cut at the edges
    every = label_every or _label_every(categories, plot_w)
    parts = _frame(title, height, marks, left, plot_w, unit=unit)
    for i, category in enumerate(categories):
        if i % every == 0:
            parts.append(f'<text x="{left + (i + 0.5) * step:.1f}" y="{MARGIN_TOP + plot_h + 14}" text-anchor="middle" '
                         f'fill="{AXIS_COLOUR}">{escape(category)}</text>')
    for j, one in enumerate(series):
        runs: list[list[tuple[float, float]]] = [[]]
        for i, value in enumerate(one.values):
            if value is None:
                runs.append([])
                continue
            runs[-1].append((left + (i + 0.5) * step, MARGIN_TOP + plot_h - value / top * plot_h))
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                parts.append(f'<polyline points="{points}" fill="none" stroke="{colours[j]}" stroke-width="2"/>')
            elif run:
                parts.append(f'<circle cx="{run[0][0]:.1f}" cy="{run[0][1]:.1f}" r="2.5" fill="{colours[j]}"/>')
        last = next(((i, v) for i, v in reversed(list(enumerate(one.values))) if v is not None), None)
        if last is not None:
            cy = MARGIN_TOP + plot_h - last[1] / top * plot_h
            parts.append(f'<circle cx="{left + (last[0] + 0.5) * step:.1f}" cy="{cy:.1f}" '
                         f'r="3" fill="{colours[j]}"><title>{escape(one.name)}, {escape(categories[last[0]])}: '
                         f'{fmt(last[1])}{escape(unit)}</title></circle>')
    parts += _legend(series, colours, left, height)
    return _svg(title, width, height, parts)


def hbar_chart(categories: Sequence[str], series: Sequence[Series], *, title: str, width: int = 640,
               unit: str = "", row_height: int = 0) -> Markup:
    """Horizontal bars, one group per category (long names, such as rules, read well)."""
    if _empty(categories, series):
        return _no_data(title, width)
    colours = _colours(series)
    row_height = row_height or 14 + 10 * len(series)  # room for each bar's value label
    top = nice_ceiling(_maximum(series, False))
    left = min(260, 14 + max(text_width(c) for c in categories))
    height = MARGIN_TOP + row_height * len(categories) + MARGIN_BOTTOM
    plot_w, plot_h = width - left - MARGIN_RIGHT - 40, row_height * len(categories)
    parts = [_title(title)]
    for tick in axis_ticks(top, _whole(series)):
        x = left + tick / top * plot_w
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{MARGIN_TOP}" y2="{MARGIN_TOP + plot_h}" '
                     f'stroke="{GRID_COLOUR}"/>')
        parts.append(f'<text x="{x:.1f}" y="{MARGIN_TOP + plot_h + 13}" text-anchor="middle" '
                     f'fill="{AXIS_COLOUR}">{fmt(tick)}</text>')
    inner = row_height * 0.8 / len(series)
    for i, category in enumerate(categories):
        y0 = MARGIN_TOP + i * row_height
        parts.append(f'<text x="{left - 6:.1f}" y="{y0 + row_height / 2 + 4:.1f}" text-anchor="end" '
                     f'fill="{INK}">{escape(category)}</text>')
        for j, one in enumerate(series):
            value = one.values[i]
            if value is None:
                continue
            w = max(value / top * plot_w, 0.5)
            y = y0 + row_height * 0.1 + j * inner
            parts.append(f'<rect x="{left}" y="{y:.1f}" width="{w:.1f}" height="{max(inner - 1, 1):.1f}" '
                         f'fill="{colours[j]}"><title>{escape(category)}, {escape(one.name)}: '
                         f'{fmt(value)}{escape(unit)}</title></rect>')
            parts.append(f'<text x="{left + w + 3:.1f}" y="{y + inner / 2 + 3.5:.1f}" fill="{AXIS_COLOUR}" '
                         f'font-size="10">{fmt(value)}</text>')
    parts.append(f'<line x1="{left}" x2="{left}" y1="{MARGIN_TOP}" y2="{MARGIN_TOP + plot_h}" stroke="{AXIS_COLOUR}"/>')
    parts += _legend(series, colours, left, height)
    return _svg(title, width, height, parts)


def _label_every(categories: Sequence[str], plot_w: float) -> int:
    """Label every n-th category so that labels do not touch."""
    widest = max(text_width(c) for c in categories) + 14
    return max(1, math.ceil(len(categories) * widest / plot_w))


def text_width(text: str) -> float:
    """About how wide `text` is at the charts' 11 px font (capitals and digits are wider)."""
    return sum(8.0 if ch.isupper() or ch.isdigit() or ch in "_%" else 6.6 for ch in text)


def _frame(title: str, height: int, marks: list[float], left: float, plot_w: float, *, unit: str) -> list[str]:
    plot_h = height - MARGIN_TOP - MARGIN_BOTTOM
    top = marks[-1]
    parts = [_title(title)]
    for tick in marks:
        y = MARGIN_TOP + plot_h - tick / top * plot_h
        parts.append(f'<line x1="{left}" x2="{left + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID_COLOUR}"/>')
        parts.append(f'<text x="{left - 5:.1f}" y="{y + 4:.1f}" text-anchor="end" fill="{AXIS_COLOUR}">'
                     f'{fmt(tick)}{escape(unit)}</text>')
    parts.append(f'<line x1="{left}" x2="{left + plot_w:.1f}" y1="{MARGIN_TOP + plot_h}" '
                 f'y2="{MARGIN_TOP + plot_h}" stroke="{AXIS_COLOUR}"/>')
    return parts


def _legend(series: Sequence[Series], colours: list[str], left: float, height: int) -> list[str]:
    if not series:
        return []
    parts, x = [], left
    for one, colour in zip(series, colours, strict=True):
        parts.append(f'<rect x="{x:.1f}" y="{height - 14}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14:.1f}" y="{height - 5}" fill="{INK}">{escape(one.name)}</text>')
        x += 26 + text_width(one.name)
    return parts


def _title(title: str) -> str:
    return f'<text x="0" y="14" font-size="13" font-weight="600" fill="{INK}">{escape(title)}</text>'


def _svg(title: str, width: int, height: int, parts: list[str]) -> Markup:
    body = "".join(parts)
    return Markup(f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
                  f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}" {FONT}>{body}</svg>')


def _no_data(title: str, width: int) -> Markup:
    return _svg(title, width, 60, [_title(title), f'<text x="0" y="42" fill="{AXIS_COLOUR}">No data yet.</text>'])


def _empty(categories: Sequence[str], series: Sequence[Series]) -> bool:
    return not categories or not series or all(v is None or v <= 0 for s in series for v in s.values)


def _maximum(series: Sequence[Series], stacked: bool) -> float:
    if stacked:
        return max(sum(s.values[i] or 0 for s in series) for i in range(len(series[0].values)))
    return max((v for s in series for v in s.values if v is not None), default=0.0)


def _left_margin(marks: list[float], unit: str) -> float:
    """Room for the widest tick label."""
    return 14 + 6.5 * max(len(fmt(tick) + unit) for tick in marks)


def _whole(series: Sequence[Series]) -> bool:
    """Whether every value is a whole number (counts): the axis then has whole ticks only."""
    return all(v is None or float(v).is_integer() for s in series for v in s.values)


def _colours(series: Sequence[Series]) -> list[str]:
    return [one.colour or PALETTE[i % len(PALETTE)] for i, one in enumerate(series)]
