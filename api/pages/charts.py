"""Charts drawn on the server as SVG: a line over days and horizontal bars. No JavaScript.

Each chart is an image to assistive technology (`role="img"`, a `<title>` named by
`aria-labelledby`) and its page's own template shows the same numbers in a table beside it
(the data table fallback: e.g. templates/pages/dashboard.html). Text is escaped here: labels may come from the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from itertools import count

from markupsafe import Markup

WIDTH = 640
_ids = count(1)


def _scale_top(largest: float) -> float:
    """A round top for the value axis: 1, 2 or 5 times a power of ten, at least `largest`."""
    if largest <= 0:
        return 1.0
    step = 1.0
    while step * 10 <= largest:
        step *= 10
    for factor in (1, 2, 5, 10):
        if step * factor >= largest:
            return step * factor
    return step * 10


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def line(points: Sequence[tuple[str, float]], title: str, empty: str) -> Markup:
    """A line over days: `points` are (day label, value), in order."""
    chart_id = f"chart-{next(_ids)}"
    height, left, right, top, bottom = 240, 48, 12, 12, 36
    if not points:
        return Markup(
            f'<svg viewBox="0 0 {WIDTH} 60" role="img" aria-labelledby="{chart_id}">'
            f'<title id="{chart_id}">{escape(title)}: {escape(empty)}</title>'
            f'<text x="8" y="34">{escape(empty)}</text></svg>'
        )
    peak = _scale_top(max(value for _, value in points))
    inner_w, inner_h = WIDTH - left - right, height - top - bottom
    step = inner_w / max(len(points) - 1, 1)

    def x(i: int) -> float:
        return left + (i * step if len(points) > 1 else inner_w / 2)

    def y(value: float) -> float:
        return top + inner_h - value / peak * inner_h

    parts = [
        f'<svg viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="{chart_id}">',
        f'<title id="{chart_id}">{escape(title)}</title>',
    ]
    for fraction in (0, 0.5, 1):
        gy = y(peak * fraction)
        parts.append(f'<line class="grid" x1="{left}" x2="{WIDTH - right}" y1="{gy:.1f}" y2="{gy:.1f}"/>')
        parts.append(
            f'<text x="{left - 6}" y="{gy + 4:.1f}" text-anchor="end">{_number(peak * fraction)}</text>'
        )
    parts.append(
        f'<line class="axis" x1="{left}" x2="{WIDTH - right}" y1="{top + inner_h}" y2="{top + inner_h}"/>'
    )
    path = " ".join(f"{'M' if i == 0 else 'L'}{x(i):.1f},{y(v):.1f}" for i, (_, v) in enumerate(points))
    parts.append(f'<path class="line" d="{path}"/>')
    for i, (_, v) in enumerate(points):
        parts.append(f'<circle class="dot" cx="{x(i):.1f}" cy="{y(v):.1f}" r="3"/>')
    ticks = sorted({0, len(points) - 1, (len(points) - 1) // 2})
    for i in ticks:
        anchor = "start" if i == 0 and len(points) > 1 else "end" if i == len(points) - 1 and i else "middle"
        parts.append(
            f'<text x="{x(i):.1f}" y="{height - 12}" text-anchor="{anchor}">{escape(points[i][0])}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def bars(items: Sequence[tuple[str, float]], title: str, empty: str) -> Markup:
    """Horizontal bars, one per (label, value), in the order given."""
    chart_id = f"chart-{next(_ids)}"
    if not items:
        return Markup(
            f'<svg viewBox="0 0 {WIDTH} 60" role="img" aria-labelledby="{chart_id}">'
            f'<title id="{chart_id}">{escape(title)}: {escape(empty)}</title>'
            f'<text x="8" y="34">{escape(empty)}</text></svg>'
        )
    row, label_w, right = 28, 200, 70
    height = row * len(items) + 8
    peak = max(value for _, value in items) or 1
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="{chart_id}">',
        f'<title id="{chart_id}">{escape(title)}</title>',
    ]
    for i, (label, value) in enumerate(items):
        y = 4 + i * row
        width = (WIDTH - label_w - right) * value / peak
        parts.append(f'<text x="{label_w - 8}" y="{y + 18}" text-anchor="end">{escape(label[:32])}</text>')
        parts.append(
            f'<rect class="bar" x="{label_w}" y="{y + 4}" width="{width:.1f}" height="{row - 10}" rx="2"/>'
        )
        parts.append(f'<text x="{label_w + width + 6:.1f}" y="{y + 18}">{_number(value)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
