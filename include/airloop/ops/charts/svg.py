"""SVG primitives the Model Ops charts share: colours, a plot frame, escaping, number formatting, an axis.

Standard library only: the charts are drawn in a web request, where matplotlib would be too slow to import. Every
text embedded comes from user data (feature names, batch ids), so `esc` escapes it and drops the control
characters XML forbids.
"""

from __future__ import annotations

import html
import math
import re
import time
from dataclasses import dataclass
from typing import Any

SVG_NS = "http://www.w3.org/2000/svg"
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#17becf", "#bcbd22")
GREY = "#c7c7c7"
GRID = "#e3e3e3"
RED = "#d62728"
DECAY = "#ff7f0e"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")  # not allowed in XML 1.0


@dataclass(frozen=True)
class Frame:
    """A plot area in SVG coordinates; y grows downwards, so the axis' 0 sits at `bottom`."""

    left: float
    right: float
    top: float
    bottom: float

    def x(self, index: int, count: int) -> float:
        if count <= 1:
            return (self.left + self.right) / 2
        return self.left + (self.right - self.left) * index / (count - 1)

    def y(self, value: float, vmax: float) -> float:
        share = min(max(value / vmax, 0.0), 1.0) if vmax > 0 else 0.0
        return self.bottom - (self.bottom - self.top) * share


def esc(value: Any) -> str:
    """Text safe inside an element or a quoted attribute: control characters dropped (XML 1.0 forbids them)."""
    return html.escape(_CONTROL.sub("", str(value)), quote=True)


def finite(value: Any) -> float | None:
    """`value` as a float when it is a finite number; None, NaN, inf, bools and strings give None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def num(value: float) -> str:
    """A coordinate with one decimal and no trailing zero: keeps a 200-check chart small."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is >= value, so axis ticks read as round numbers."""
    if not value > 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value * (1 - 1e-9))


def short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def date_label(checked_at: float | None) -> str:
    """UTC, so the same history renders the same on every webserver."""
    if checked_at is None:
        return ""
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.gmtime(checked_at))
    except (OverflowError, OSError, ValueError):
        return ""


def svg_open(kind: str, width: int, height: int, label: str) -> str:
    return (
        f'<svg xmlns="{SVG_NS}" class="airloop-chart {kind}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(label)}">'
    )


def empty_svg(kind: str, width: int, height: int, message: str) -> str:
    return (
        svg_open(kind, width, height, message)
        + f'<text class="empty" x="{num(width / 2)}" y="{num(height / 2)}" text-anchor="middle" '
        f'style="font:12px sans-serif;fill:#777">{esc(message)}</text></svg>'
    )


def y_axis(frame: Frame, ticks: list[float], vmax: float, fmt) -> list[str]:
    out = ['<g class="axis y">']
    for value in ticks:
        y = num(frame.y(value, vmax))
        out.append(
            f'<line class="grid" x1="{num(frame.left)}" x2="{num(frame.right)}" y1="{y}" y2="{y}" stroke="{GRID}"/>'
        )
        out.append(f'<text x="{num(frame.left - 4)}" y="{y}" dy="3" text-anchor="end">{esc(fmt(value))}</text>')
    out.append("</g>")
    return out
