"""The drift history chart: per-feature drift scores above, the share of drifted features below, one SVG.

Stable hooks for browser tests and CSS: the root `<svg class="airloop-chart drift-history">`,
`<polyline class="series" data-feature=NAME>` per feature, `circle.drifted` per drifted (check, feature),
`line.decision-line` for the dataset decision, `circle.drift-detected` per check that detected drift, and
`g.panel` groups carrying `data-y0` / `data-y1`, the y coordinates of the axis' 0 and its top value.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from airloop.ops.charts.history import (
    Check,
    Series,
    build_series,
    decision_share,
    kept_indices,
    ranked,
    usable_checks,
)
from airloop.ops.charts.svg import (
    DECAY,
    GREY,
    GRID,
    PALETTE,
    RED,
    Frame,
    date_label,
    empty_svg,
    esc,
    finite,
    nice_ceiling,
    num,
    short,
    svg_open,
    y_axis,
)

logger = logging.getLogger(__name__)

MARKER_BUDGET = 2400  # above this many points, only top features and drifted points get hover markers
MARKER_GAP = 6.0  # pixels between hover markers of one series
# Scoped to the chart: an SVG inlined in the page shares the page's stylesheet.
STYLE = (
    ".drift-history text{font:10px sans-serif;fill:#333}.drift-history .title{font-weight:bold;font-size:11px}"
    ".drift-history .grid{stroke-width:1}.drift-history polyline{fill:none;stroke-linejoin:round}"
    ".drift-history circle.drifted,.drift-history circle.drift-detected{fill:" + RED + "}"
    ".drift-history .decision-line{stroke:" + RED + ";stroke-dasharray:5 3;stroke-width:1.2}"
)


def _x_ticks(count: int, wanted: int = 6) -> list[int]:
    if count <= wanted:
        return list(range(count))
    return sorted({round(i * (count - 1) / (wanted - 1)) for i in range(wanted)})


def _point_title(name: str, check: Check, entry: Mapping[str, Any]) -> str:
    parts = [f"{name} · {check.batch_id}", f"{entry.get('method', '?')} statistic {float(entry['statistic']):.4g}"]
    threshold = finite(entry.get("threshold"))
    if threshold is not None:
        parts.append(f"threshold {threshold:.4g}")
    p_value = finite(entry.get("p_value"))
    if p_value is not None:
        parts.append(f"p-value {p_value:.3g}")
    parts.append("DRIFTED" if entry.get("drifted") else "no drift")
    return esc(" · ".join(parts))


def _marker_stride(count: int, frame: Frame) -> int:
    """Hover markers closer than MARKER_GAP pixels cannot be told apart, so only every k-th check gets one."""
    if count <= 1:
        return 1
    return max(1, math.ceil(MARKER_GAP / ((frame.right - frame.left) / (count - 1))))


def _series_svg(
    name: str, s: Series, checks: list[Check], frame: Frame, vmax: float, rank: int | None, markers: bool
) -> list[str]:
    """One feature: its polyline (thinned, drifted points always kept) and its hover markers.

    Non-drifted markers are drawn only when `markers` is true, and then thinned to what a mouse can hover apart;
    drifted points always get a red marker, since they are what the page is read for.
    """
    n = len(checks)
    base, stride = kept_indices(n), _marker_stride(n, frame)
    colour = GREY if rank is None else PALETTE[rank % len(PALETTE)]
    kept = [(i, e) for i, e in s.points if i in base or e.get("drifted")]
    xy = {i: (num(frame.x(i, n)), num(frame.y(float(e["statistic"]), vmax))) for i, e in kept}
    coords = " ".join(f"{x},{y}" for x, y in xy.values())
    extra = "" if rank is None else f' data-rank="{rank + 1}"'
    width = "1" if rank is None else "1.8"
    out = [
        f'<polyline class="series" data-feature="{esc(name)}"{extra} stroke="{colour}" stroke-width="{width}" '
        f'points="{coords}"><title>{esc(name)} (max {s.peak:.4g})</title></polyline>',
        f'<g class="points" data-feature="{esc(name)}" fill="{colour}">',
    ]
    for i, entry in kept:
        drifted = bool(entry.get("drifted"))
        if not drifted and not (markers and i % stride == 0):
            continue
        look = f'class="drifted" r="3" fill="{RED}"' if drifted else 'class="point" r="2"'
        x, y = xy[i]
        out.append(f'<circle {look} cx="{x}" cy="{y}"><title>{_point_title(name, checks[i], entry)}</title></circle>')
    out.append("</g>")
    return out


def _feature_panel(checks: list[Check], frame: Frame, top: int) -> list[str]:
    """Panel (a): one polyline per feature, the `top` highest in colour with a legend, the rest thin grey."""
    series = build_series(checks)
    order = ranked(series)
    highlighted = order[: max(top, 0)]
    vmax = nice_ceiling(max((s.peak for s in series.values()), default=0.0))
    markers_for_all = sum(len(s.points) for s in series.values()) <= MARKER_BUDGET
    out = [
        f'<g class="panel feature-panel" data-y0="{num(frame.bottom)}" data-y1="{num(frame.top)}" '
        f'data-ymax="{vmax:g}">',
        f'<text class="title" x="{num(frame.left)}" y="{num(frame.top - 8)}">Per-feature drift score</text>',
        *y_axis(frame, [vmax * i / 4 for i in range(5)], vmax, lambda v: f"{v:.3g}"),
    ]
    # Grey first so the coloured top features are drawn over them, the highest last (on top).
    rest = [name for name in order if name not in highlighted]
    for name in rest[::-1]:
        out.extend(_series_svg(name, series[name], checks, frame, vmax, None, markers_for_all))
    for rank in range(len(highlighted) - 1, -1, -1):
        out.extend(_series_svg(highlighted[rank], series[highlighted[rank]], checks, frame, vmax, rank, True))
    out.extend(_legend(highlighted, len(rest), frame))
    out.append("</g>")
    return out


def _legend(highlighted: list[str], others: int, frame: Frame) -> list[str]:
    x = frame.right + 14
    out = ['<g class="legend">']
    for rank_, name in enumerate(highlighted):
        y = frame.top + 4 + 15 * rank_
        colour = PALETTE[rank_ % len(PALETTE)]
        out.append(
            f'<g class="legend-item" data-feature="{esc(name)}" data-rank="{rank_ + 1}">'
            f'<line x1="{num(x)}" x2="{num(x + 14)}" y1="{num(y)}" y2="{num(y)}" stroke="{colour}" '
            f'stroke-width="3"/><text x="{num(x + 18)}" y="{num(y)}" dy="3">{esc(short(name, 22))}'
            f"<title>{esc(name)}</title></text></g>"
        )
    if others:
        y = frame.top + 4 + 15 * len(highlighted)
        out.append(
            f'<g class="legend-item others"><line x1="{num(x)}" x2="{num(x + 14)}" y1="{num(y)}" y2="{num(y)}" '
            f'stroke="{GREY}" stroke-width="1"/><text x="{num(x + 18)}" y="{num(y)}" dy="3">{others} other '
            f"feature{'s' if others != 1 else ''}</text></g>"
        )
    y = frame.top + 4 + 15 * (len(highlighted) + (1 if others else 0))
    out.append(
        f'<g class="legend-item drifted-key"><circle r="3" cx="{num(x + 7)}" cy="{num(y)}" fill="{RED}"/>'
        f'<text x="{num(x + 18)}" y="{num(y)}" dy="3">drifted</text></g></g>'
    )
    return out


def _decision_line(frame: Frame, drift_share: float) -> str:
    y = num(frame.y(drift_share, 1.0))
    return (
        f'<line class="decision-line" data-drift-share="{drift_share:g}" x1="{num(frame.left)}" '
        f'x2="{num(frame.right)}" y1="{y}" y2="{y}" stroke="{RED}" stroke-dasharray="5 3"/>'
        f'<text class="decision-label" x="{num(frame.right + 4)}" y="{y}" dy="3" fill="{RED}">'
        f"drift at {drift_share:.0%}</text>"
    )


def _share_marker(check: Check, x: str, y: str, top: float) -> str:
    """The hover point of one check: red when the dataset drifted, plus a diamond on top when performance decayed."""
    verdict = "drift detected" if check.detected else "no dataset drift"
    when = date_label(check.checked_at)
    title = esc(f"{check.batch_id} · {when + ' · ' if when else ''}{check.share:.0%} drifted · {verdict}")
    look = f'class="drift-detected" r="3.5" fill="{RED}"' if check.detected else 'class="share-point" r="2"'
    out = f'<circle {look} cx="{x}" cy="{y}"><title>{title}</title></circle>'
    if check.decayed:
        out += (
            f'<path class="decayed" fill="{DECAY}" d="M{x},{num(top - 4)}l4,4l-4,4l-4,-4z">'
            f"<title>{esc(check.batch_id)} · performance decayed</title></path>"
        )
    return out


def _share_legend(checks: list[Check], frame: Frame) -> list[str]:
    """Keys for the markers that are on the chart, at the panel's bottom right (the decision label sits higher)."""
    x = frame.right + 14
    keys = [(RED, "circle", "drift detected")] if any(c.detected for c in checks) else []
    keys += [(DECAY, "diamond", "perf. decayed")] if any(c.decayed for c in checks) else []
    out = ['<g class="legend">']
    for row, (colour, shape, text) in enumerate(keys[::-1]):
        y = frame.bottom - 4 - 13 * row
        mark = (
            f'<circle r="3" cx="{num(x + 7)}" cy="{num(y)}" fill="{colour}"/>'
            if shape == "circle"
            else f'<path fill="{colour}" d="M{num(x + 7)},{num(y - 4)}l4,4l-4,4l-4,-4z"/>'
        )
        out.append(f'<g class="legend-item">{mark}<text x="{num(x + 18)}" y="{num(y)}" dy="3">{text}</text></g>')
    out.append("</g>")
    return out


def _share_panel(checks: list[Check], frame: Frame, drift_share: float | None) -> list[str]:
    """Panel (b): share of drifted features per check on a fixed 0-100% axis, with the dataset decision line."""
    n = len(checks)
    kept = sorted(kept_indices(n) | {i for i, c in enumerate(checks) if c.detected or c.decayed})
    xy = {i: (num(frame.x(i, n)), num(frame.y(checks[i].share, 1.0))) for i in kept}
    coords = " ".join(f"{x},{y}" for x, y in xy.values())
    return [
        f'<g class="panel share-panel" data-y0="{num(frame.bottom)}" data-y1="{num(frame.top)}" data-ymax="1">',
        f'<text class="title" x="{num(frame.left)}" y="{num(frame.top - 8)}">Share of drifted features</text>',
        *y_axis(frame, [0.0, 0.5, 1.0], 1.0, lambda v: f"{v:.0%}"),
        _decision_line(frame, drift_share) if drift_share is not None else "",
        f'<polyline class="share-series" stroke="{PALETTE[0]}" stroke-width="1.8" points="{coords}"/>',
        f'<g class="points" fill="{PALETTE[0]}">',
        *(_share_marker(checks[i], *xy[i], frame.top) for i in kept),
        "</g>",
        *_share_legend(checks, frame),
        "</g>",
    ]


def _x_axis(checks: list[Check], frame: Frame, label_y: float) -> list[str]:
    """Check order on x, labelled with a few batch ids and their dates; the grid spans both panels."""
    n = len(checks)
    out = ['<g class="axis x">']
    # About 110 px per label (an 18-character batch id at 10 px); the oldest, centred on the axis, fits the margin.
    for i in _x_ticks(n, wanted=max(2, min(6, int((frame.right - frame.left) // 110)))):
        x = num(frame.x(i, n))
        check = checks[i]
        out.append(
            f'<line class="grid" x1="{x}" x2="{x}" y1="{num(frame.top)}" y2="{num(frame.bottom)}" stroke="{GRID}"/>'
        )
        out.append(
            f'<text class="tick-label" x="{x}" y="{num(label_y)}" text-anchor="middle">'
            f"<title>{esc(check.batch_id)}</title>{esc(short(check.batch_id, 18))}"
            f'<tspan x="{x}" dy="12">{esc(date_label(check.checked_at))}</tspan></text>'
        )
    out.append("</g>")
    return out


def drift_history_svg(
    checks: list[dict], *, drift_share: float | None = None, width: int = 880, height: int = 300, top: int = 6
) -> str:
    """The drift history of a pipeline as one SVG: per-feature drift scores above, share of drifted features below.

    Args:
        checks: Drift-check records, oldest first. Records without a per-feature report are skipped, and so are
            points whose statistic is missing or not finite.
        drift_share: Share of drifted features at which the dataset drifts (the decision line); None takes the
            newest check's `report.drift_share`.
        width: Width of the SVG in pixels.
        height: Height of the SVG in pixels.
        top: How many features, by highest statistic, get a colour and a legend entry; the rest are grey.

    Returns:
        SVG markup, or a small SVG saying "no drift checks yet" when no record is usable.

    Raises:
        ValueError: `drift_share` is given but is not a number in [0, 1], or the size leaves no room to plot.
    """
    if width < 320 or height < 160:
        raise ValueError(f"drift history needs at least 320x160 pixels, got {width}x{height}")
    usable = usable_checks(checks)
    if len(usable) < len(checks):
        logger.debug("drift history: skipped %d record(s) without a per-feature report", len(checks) - len(usable))
    share = decision_share(usable, drift_share)
    if not usable:
        return empty_svg("drift-history", width, min(height, 60), "no drift checks yet")
    left, right = 48.0, width - 170.0
    plot = height - 24 - 28 - 34
    feature_frame = Frame(left, right, 24.0, 24.0 + plot * 0.62)
    share_frame = Frame(left, right, feature_frame.bottom + 28, height - 34.0)
    label = f"Drift history of {len(usable)} check(s): per-feature drift score and share of drifted features" + (
        f"; dataset drift at {share:.0%}" if share is not None else ""
    )
    parts = [
        svg_open("drift-history", width, height, label),
        f"<style>{STYLE}</style>",
        *_x_axis(usable, Frame(left, right, feature_frame.top, share_frame.bottom), share_frame.bottom + 12),
        *_feature_panel(usable, feature_frame, top),
        *_share_panel(usable, share_frame, share),
        "</svg>",
    ]
    return "".join(parts)
