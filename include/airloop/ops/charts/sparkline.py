"""A tiny inline line chart for a table cell (the overview's trend of drifted-feature shares)."""

from __future__ import annotations

from airloop.ops.charts.svg import PALETTE, RED, Frame, finite, num, svg_open


def sparkline_svg(
    values: list[float | None], *, width: int = 120, height: int = 28, threshold: float | None = None
) -> str:
    """A tiny inline line chart for a table cell, e.g. the share of drifted features over recent checks.

    Args:
        values: The series, oldest first; None and non-finite values are skipped (the line bridges them).
        width: Width of the SVG in pixels.
        height: Height of the SVG in pixels.
        threshold: Drawn as a dashed line (class "threshold") when given, and kept inside the y range.

    Returns:
        SVG markup; with no finite value it holds no polyline.
    """
    points = [(i, v) for i, v in enumerate(finite(v) for v in values) if v is not None]
    limit = finite(threshold)
    label = f"trend of {len(points)} value(s)" + (f", threshold {limit:g}" if limit is not None else "")
    head = svg_open("sparkline", width, height, label)
    if not points:
        return head + "</svg>"
    low = min(0.0, *(v for _, v in points), *([limit] if limit is not None else []))
    high = max(*(v for _, v in points), *([limit] if limit is not None else []), low)
    span = high - low or 1.0
    frame = Frame(2.0, width - 4.0, 3.0, height - 3.0)

    def y(value: float) -> str:
        return num(frame.y(value - low, span))

    count = len(values)
    coords = " ".join(f"{num(frame.x(i, count))},{y(v)}" for i, v in points)
    out = [head]
    if limit is not None:
        out.append(
            f'<line class="threshold" x1="{num(frame.left)}" x2="{num(frame.right)}" y1="{y(limit)}" y2="{y(limit)}" '
            f'stroke="{RED}" stroke-width="1" stroke-dasharray="3 2"/>'
        )
    last_i, last_v = points[-1]
    out.append(
        f'<polyline class="sparkline" fill="none" stroke="{PALETTE[0]}" stroke-width="1.5" points="{coords}"/>'
        f'<circle class="last" r="2" cx="{num(frame.x(last_i, count))}" cy="{y(last_v)}" fill="{PALETTE[0]}">'
        f"<title>{last_v:.4g}</title></circle></svg>"
    )
    return "".join(out)
