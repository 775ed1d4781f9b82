"""Inline SVG charts for the retailer reports: no JavaScript, no CDN, one string per chart.

Reports are opened offline by retailers and archived, so every chart is plain SVG markup that the
HTML file carries itself. Labels are escaped; numbers are formatted here, once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

_FONT = 'font-family="sans-serif" font-size="11"'
_BAR = "#3b6ea5"
_SERIES = ("#3b6ea5", "#d9822b", "#6a9a3a", "#9a3a6a")


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:,.1f}"


def bar_chart(labels: Sequence[str], values: Sequence[float], *, title: str, unit: str = "") -> str:
    """Vertical bars, one per label, with the value above each bar.

    A value below 0 is drawn and labelled as 0, so no label says what its bar does not show; a caller whose
    values can be negative (estimates after a subtraction) says so beside the chart.
    """
    width, height, left, bottom, top = max(320, 34 * len(labels) + 60), 220, 50, 40, 24
    shown = [max(0.0, value) for value in values]
    peak = max([*shown, 1e-9])
    slot = (width - left - 10) / max(len(labels), 1)
    parts = [_open(width, height, title)]
    for index, (label, value) in enumerate(zip(labels, shown, strict=True)):
        bar_height = value / peak * (height - top - bottom)
        x = left + index * slot
        y = height - bottom - bar_height
        parts.append(
            f'<rect x="{x + 2:.1f}" y="{y:.1f}" width="{slot - 4:.1f}" height="{bar_height:.1f}" fill="{_BAR}">'
            f"<title>{escape(label)}: {_number(value)} {escape(unit)}</title></rect>"
        )
        parts.append(
            f'<text x="{x + slot / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" {_FONT}>{_number(value)}</text>'
        )
        parts.append(
            f'<text x="{x + slot / 2:.1f}" y="{height - bottom + 14}" text-anchor="middle" {_FONT}>'
            f"{escape(label)}</text>"
        )
    parts.append(
        f'<text x="{left}" y="{height - 8}" {_FONT}>{escape(unit)}</text>'
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#333"/>'
    )
    return "".join(parts) + "</svg>"


def heat_map(rows: Sequence[str], columns: Sequence[str], values: Sequence[Sequence[float]], *, title: str) -> str:
    """A matrix of cells shaded by value (origin rows x destination columns), each cell labelled."""
    cell, left, top = 46, 130, 110
    width, height = left + cell * len(columns) + 10, top + cell * len(rows) + 10
    peak = max([v for row in values for v in row] + [1e-9])
    parts = [_open(width, height, title)]
    for j, column in enumerate(columns):
        x = left + j * cell + cell / 2
        parts.append(f'<text transform="translate({x:.1f},{top - 6}) rotate(-45)" {_FONT}>{escape(column)}</text>')
    for i, row in enumerate(rows):
        y = top + i * cell
        parts.append(f'<text x="{left - 6}" y="{y + cell / 2 + 4:.1f}" text-anchor="end" {_FONT}>{escape(row)}</text>')
        for j, value in enumerate(values[i]):
            shade = max(0.0, value) / peak
            colour = f"rgb({int(255 - 196 * shade)},{int(255 - 145 * shade)},{int(255 - 90 * shade)})"
            text_colour = "#fff" if shade > 0.6 else "#000"
            x = left + j * cell
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell - 1}" height="{cell - 1}" fill="{colour}">'
                f"<title>{escape(row)} → {escape(columns[j])}: {_number(value)}</title></rect>"
                f'<text x="{x + cell / 2:.1f}" y="{y + cell / 2 + 4:.1f}" text-anchor="middle" fill="{text_colour}" '
                f"{_FONT}>{_number(value)}</text>"
            )
    return "".join(parts) + "</svg>"


def grouped_bars(
    categories: Sequence[str], series: Mapping[str, Sequence[float]], *, title: str, unit: str = ""
) -> str:
    """Bars per category, one colour per series, with a legend (e.g. age band x gender)."""
    names = list(series)
    width, height, left, bottom, top = max(360, 60 * len(categories) + 80), 240, 50, 40, 40
    peak = max([v for values in series.values() for v in values] + [1e-9])
    slot = (width - left - 10) / max(len(categories), 1)
    bar = (slot - 8) / max(len(names), 1)
    parts = [_open(width, height, title)]
    for k, name in enumerate(names):
        colour = _SERIES[k % len(_SERIES)]
        parts.append(
            f'<rect x="{left + k * 90}" y="18" width="10" height="10" fill="{colour}"/>'
            f'<text x="{left + k * 90 + 14}" y="27" {_FONT}>{escape(name)}</text>'
        )
        for index, value in enumerate(series[name]):
            bar_height = max(0.0, value) / peak * (height - top - bottom)
            x = left + index * slot + 4 + k * bar
            y = height - bottom - bar_height
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar - 1:.1f}" height="{bar_height:.1f}" fill="{colour}">'
                f"<title>{escape(categories[index])}, {escape(name)}: {_number(value)} {escape(unit)}</title></rect>"
            )
    for index, category in enumerate(categories):
        parts.append(
            f'<text x="{left + index * slot + slot / 2:.1f}" y="{height - bottom + 14}" text-anchor="middle" '
            f"{_FONT}>{escape(category)}</text>"
        )
    parts.append(f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#333"/>')
    return "".join(parts) + "</svg>"


def _open(width: float, height: float, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{escape(title)}">'
        f'<title>{escape(title)}</title><text x="4" y="12" font-family="sans-serif" font-size="12" '
        f'font-weight="bold">{escape(title)}</text>'
    )
