"""Server-side SVG charts for the Model Ops page: drift history over checks and tiny sparklines.

The page is served by the Airflow webserver, often without internet access, so the charts are plain SVG strings
built here with the standard library only: no CDN, no JS chart library, and no matplotlib (too slow to import in a
web request). Every text embedded comes from user data (feature names, batch ids), so all of it is escaped and
stripped of the control characters XML forbids.

Stable hooks for browser tests and CSS: the root `<svg class="airloop-chart drift-history">` (or `sparkline`),
`<polyline class="series" data-feature=NAME>` per feature, `circle.drifted` per drifted (check, feature),
`line.decision-line` for the dataset decision, `circle.drift-detected` per check that detected drift, and
`g.panel` groups carrying `data-y0` / `data-y1`, the y coordinates of the axis' 0 and its top value.
"""

from __future__ import annotations

import html
import logging
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["drift_history_svg", "sparkline_svg"]

SVG_NS = "http://www.w3.org/2000/svg"
MAX_POINTS = 300  # per series; longer histories keep every k-th check plus every drifted one
MARKER_BUDGET = 2400  # above this many points, only top features and drifted points get hover markers
MARKER_GAP = 6.0  # pixels between hover markers of one series
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#17becf", "#bcbd22")
GREY = "#c7c7c7"
GRID = "#e3e3e3"
RED = "#d62728"
DECAY = "#ff7f0e"
# Scoped to the chart: an SVG inlined in the page shares the page's stylesheet.
STYLE = (
    ".drift-history text{font:10px sans-serif;fill:#333}.drift-history .title{font-weight:bold;font-size:11px}"
    ".drift-history .grid{stroke-width:1}.drift-history polyline{fill:none;stroke-linejoin:round}"
    ".drift-history circle.drifted,.drift-history circle.drift-detected{fill:" + RED + "}"
    ".drift-history .decision-line{stroke:" + RED + ";stroke-dasharray:5 3;stroke-width:1.2}"
)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")  # not allowed in XML 1.0


@dataclass(frozen=True)
class _Frame:
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


@dataclass(frozen=True)
class _Check:
    """One drift check reduced to what the charts draw; `features` maps name to its report entry."""

    batch_id: str
    checked_at: float | None
    share: float
    detected: bool
    decayed: bool
    features: Mapping[str, Mapping[str, Any]]
    drift_share: float | None = None


@dataclass
class _Series:
    """The finite statistics of one feature over checks, as (check index, report entry) pairs."""

    name: str
    points: list[tuple[int, Mapping[str, Any]]] = field(default_factory=list)

    @property
    def peak(self) -> float:
        return max((float(e["statistic"]) for _, e in self.points), default=0.0)


def _esc(value: Any) -> str:
    """Text safe inside an element or a quoted attribute: control characters dropped (XML 1.0 forbids them)."""
    return html.escape(_CONTROL.sub("", str(value)), quote=True)


def _finite(value: Any) -> float | None:
    """`value` as a float when it is a finite number; None, NaN, inf, bools and strings give None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _num(value: float) -> str:
    """A coordinate with one decimal and no trailing zero: keeps a 200-check chart small."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is >= value, so axis ticks read as round numbers."""
    if not value > 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value * (1 - 1e-9))


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _date_label(checked_at: float | None) -> str:
    """UTC, so the same history renders the same on every webserver."""
    if checked_at is None:
        return ""
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.gmtime(checked_at))
    except (OverflowError, OSError, ValueError):
        return ""


def _to_check(record: Any) -> _Check | None:
    """A drift-check record as a `_Check`, or None when it has no per-feature report to draw (old or broken)."""
    if not isinstance(record, Mapping):
        return None
    report = record.get("report")
    features = report.get("features") if isinstance(report, Mapping) else None
    if not isinstance(features, Mapping) or not features:
        return None
    features = {str(k): v for k, v in features.items() if isinstance(v, Mapping)}
    if not features:
        return None
    share = _finite(record.get("share_drifted"))
    if share is None:
        share = _finite(report.get("share_drifted"))
    if share is None:
        share = sum(bool(f.get("drifted")) for f in features.values()) / len(features)
    return _Check(
        batch_id=str(record.get("batch_id", "")),
        checked_at=_finite(record.get("checked_at")),
        share=min(max(share, 0.0), 1.0),
        detected=bool(record.get("drift_detected")),
        decayed=bool(record.get("decayed")),
        features=features,
        drift_share=_finite(report.get("drift_share")),
    )


def _usable_checks(records: Iterable[Any]) -> list[_Check]:
    return [c for c in map(_to_check, records) if c is not None]


def _build_series(checks: list[_Check]) -> dict[str, _Series]:
    """Per feature, in first-seen order, the checks where its statistic is a finite number."""
    series: dict[str, _Series] = {}
    for index, check in enumerate(checks):
        for name, entry in check.features.items():
            s = series.setdefault(name, _Series(name))
            if _finite(entry.get("statistic")) is not None:
                s.points.append((index, entry))
    return series


def _rank(series: Mapping[str, _Series]) -> list[str]:
    """Feature names by their highest statistic, highest first; ties by name so the order is stable."""
    return sorted(series, key=lambda name: (-series[name].peak, name))


def _kept_indices(count: int, max_points: int = MAX_POINTS) -> set[int]:
    """Every k-th check index (and the newest) so no series has more than about `max_points` points."""
    step = max(1, math.ceil(count / max_points))
    return set(range(0, count, step)) | ({count - 1} if count else set())


def _x_ticks(count: int, wanted: int = 6) -> list[int]:
    if count <= wanted:
        return list(range(count))
    return sorted({round(i * (count - 1) / (wanted - 1)) for i in range(wanted)})


def _svg_open(kind: str, width: int, height: int, label: str) -> str:
    return (
        f'<svg xmlns="{SVG_NS}" class="airloop-chart {kind}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_esc(label)}">'
    )


def _empty_svg(kind: str, width: int, height: int, message: str) -> str:
    return (
        _svg_open(kind, width, height, message)
        + f'<text class="empty" x="{_num(width / 2)}" y="{_num(height / 2)}" text-anchor="middle" '
        f'style="font:12px sans-serif;fill:#777">{_esc(message)}</text></svg>'
    )


def _point_title(name: str, check: _Check, entry: Mapping[str, Any]) -> str:
    parts = [f"{name} · {check.batch_id}", f"{entry.get('method', '?')} statistic {float(entry['statistic']):.4g}"]
    threshold = _finite(entry.get("threshold"))
    if threshold is not None:
        parts.append(f"threshold {threshold:.4g}")
    p_value = _finite(entry.get("p_value"))
    if p_value is not None:
        parts.append(f"p-value {p_value:.3g}")
    parts.append("DRIFTED" if entry.get("drifted") else "no drift")
    return _esc(" · ".join(parts))


def _y_axis(frame: _Frame, ticks: list[float], vmax: float, fmt) -> list[str]:
    out = ['<g class="axis y">']
    for value in ticks:
        y = _num(frame.y(value, vmax))
        out.append(
            f'<line class="grid" x1="{_num(frame.left)}" x2="{_num(frame.right)}" y1="{y}" y2="{y}" stroke="{GRID}"/>'
        )
        out.append(f'<text x="{_num(frame.left - 4)}" y="{y}" dy="3" text-anchor="end">{_esc(fmt(value))}</text>')
    out.append("</g>")
    return out


def _marker_stride(count: int, frame: _Frame) -> int:
    """Hover markers closer than MARKER_GAP pixels cannot be told apart, so only every k-th check gets one."""
    if count <= 1:
        return 1
    return max(1, math.ceil(MARKER_GAP / ((frame.right - frame.left) / (count - 1))))


def _series_svg(
    name: str, s: _Series, checks: list[_Check], frame: _Frame, vmax: float, rank: int | None, markers: bool
) -> list[str]:
    """One feature: its polyline (thinned, drifted points always kept) and its hover markers.

    Non-drifted markers are drawn only when `markers` is true, and then thinned to what a mouse can hover apart;
    drifted points always get a red marker, since they are what the page is read for.
    """
    n = len(checks)
    base, stride = _kept_indices(n), _marker_stride(n, frame)
    colour = GREY if rank is None else PALETTE[rank % len(PALETTE)]
    kept = [(i, e) for i, e in s.points if i in base or e.get("drifted")]
    xy = {i: (_num(frame.x(i, n)), _num(frame.y(float(e["statistic"]), vmax))) for i, e in kept}
    coords = " ".join(f"{x},{y}" for x, y in xy.values())
    extra = "" if rank is None else f' data-rank="{rank + 1}"'
    width = "1" if rank is None else "1.8"
    out = [
        f'<polyline class="series" data-feature="{_esc(name)}"{extra} stroke="{colour}" stroke-width="{width}" '
        f'points="{coords}"><title>{_esc(name)} (max {s.peak:.4g})</title></polyline>',
        f'<g class="points" data-feature="{_esc(name)}" fill="{colour}">',
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


def _feature_panel(checks: list[_Check], frame: _Frame, top: int) -> list[str]:
    """Panel (a): one polyline per feature, the `top` highest in colour with a legend, the rest thin grey."""
    series = _build_series(checks)
    order = _rank(series)
    highlighted = order[: max(top, 0)]
    vmax = _nice_ceiling(max((s.peak for s in series.values()), default=0.0))
    markers_for_all = sum(len(s.points) for s in series.values()) <= MARKER_BUDGET
    out = [
        f'<g class="panel feature-panel" data-y0="{_num(frame.bottom)}" data-y1="{_num(frame.top)}" '
        f'data-ymax="{vmax:g}">',
        f'<text class="title" x="{_num(frame.left)}" y="{_num(frame.top - 8)}">Per-feature drift score</text>',
        *_y_axis(frame, [vmax * i / 4 for i in range(5)], vmax, lambda v: f"{v:.3g}"),
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


def _legend(highlighted: list[str], others: int, frame: _Frame) -> list[str]:
    x = frame.right + 14
    out = ['<g class="legend">']
    for rank_, name in enumerate(highlighted):
        y = frame.top + 4 + 15 * rank_
        colour = PALETTE[rank_ % len(PALETTE)]
        out.append(
            f'<g class="legend-item" data-feature="{_esc(name)}" data-rank="{rank_ + 1}">'
            f'<line x1="{_num(x)}" x2="{_num(x + 14)}" y1="{_num(y)}" y2="{_num(y)}" stroke="{colour}" '
            f'stroke-width="3"/><text x="{_num(x + 18)}" y="{_num(y)}" dy="3">{_esc(_short(name, 22))}'
            f"<title>{_esc(name)}</title></text></g>"
        )
    if others:
        y = frame.top + 4 + 15 * len(highlighted)
        out.append(
            f'<g class="legend-item others"><line x1="{_num(x)}" x2="{_num(x + 14)}" y1="{_num(y)}" y2="{_num(y)}" '
            f'stroke="{GREY}" stroke-width="1"/><text x="{_num(x + 18)}" y="{_num(y)}" dy="3">{others} other '
            f"feature{'s' if others != 1 else ''}</text></g>"
        )
    y = frame.top + 4 + 15 * (len(highlighted) + (1 if others else 0))
    out.append(
        f'<g class="legend-item drifted-key"><circle r="3" cx="{_num(x + 7)}" cy="{_num(y)}" fill="{RED}"/>'
        f'<text x="{_num(x + 18)}" y="{_num(y)}" dy="3">drifted</text></g></g>'
    )
    return out


def _decision_line(frame: _Frame, drift_share: float) -> str:
    y = _num(frame.y(drift_share, 1.0))
    return (
        f'<line class="decision-line" data-drift-share="{drift_share:g}" x1="{_num(frame.left)}" '
        f'x2="{_num(frame.right)}" y1="{y}" y2="{y}" stroke="{RED}" stroke-dasharray="5 3"/>'
        f'<text class="decision-label" x="{_num(frame.right + 4)}" y="{y}" dy="3" fill="{RED}">'
        f"drift at {drift_share:.0%}</text>"
    )


def _share_marker(check: _Check, x: str, y: str, top: float) -> str:
    """The hover point of one check: red when the dataset drifted, plus a diamond on top when performance decayed."""
    verdict = "drift detected" if check.detected else "no dataset drift"
    when = _date_label(check.checked_at)
    title = _esc(f"{check.batch_id} · {when + ' · ' if when else ''}{check.share:.0%} drifted · {verdict}")
    look = f'class="drift-detected" r="3.5" fill="{RED}"' if check.detected else 'class="share-point" r="2"'
    out = f'<circle {look} cx="{x}" cy="{y}"><title>{title}</title></circle>'
    if check.decayed:
        out += (
            f'<path class="decayed" fill="{DECAY}" d="M{x},{_num(top - 4)}l4,4l-4,4l-4,-4z">'
            f"<title>{_esc(check.batch_id)} · performance decayed</title></path>"
        )
    return out


def _share_legend(checks: list[_Check], frame: _Frame) -> list[str]:
    """Keys for the markers that are on the chart, at the panel's bottom right (the decision label sits higher)."""
    x = frame.right + 14
    keys = [(RED, "circle", "drift detected")] if any(c.detected for c in checks) else []
    keys += [(DECAY, "diamond", "perf. decayed")] if any(c.decayed for c in checks) else []
    out = ['<g class="legend">']
    for row, (colour, shape, text) in enumerate(keys[::-1]):
        y = frame.bottom - 4 - 13 * row
        mark = (
            f'<circle r="3" cx="{_num(x + 7)}" cy="{_num(y)}" fill="{colour}"/>'
            if shape == "circle"
            else f'<path fill="{colour}" d="M{_num(x + 7)},{_num(y - 4)}l4,4l-4,4l-4,-4z"/>'
        )
        out.append(f'<g class="legend-item">{mark}<text x="{_num(x + 18)}" y="{_num(y)}" dy="3">{text}</text></g>')
    out.append("</g>")
    return out


def _share_panel(checks: list[_Check], frame: _Frame, drift_share: float | None) -> list[str]:
    """Panel (b): share of drifted features per check on a fixed 0-100% axis, with the dataset decision line."""
    n = len(checks)
    kept = sorted(_kept_indices(n) | {i for i, c in enumerate(checks) if c.detected or c.decayed})
    xy = {i: (_num(frame.x(i, n)), _num(frame.y(checks[i].share, 1.0))) for i in kept}
    coords = " ".join(f"{x},{y}" for x, y in xy.values())
    return [
        f'<g class="panel share-panel" data-y0="{_num(frame.bottom)}" data-y1="{_num(frame.top)}" data-ymax="1">',
        f'<text class="title" x="{_num(frame.left)}" y="{_num(frame.top - 8)}">Share of drifted features</text>',
        *_y_axis(frame, [0.0, 0.5, 1.0], 1.0, lambda v: f"{v:.0%}"),
        _decision_line(frame, drift_share) if drift_share is not None else "",
        f'<polyline class="share-series" stroke="{PALETTE[0]}" stroke-width="1.8" points="{coords}"/>',
        f'<g class="points" fill="{PALETTE[0]}">',
        *(_share_marker(checks[i], *xy[i], frame.top) for i in kept),
        "</g>",
        *_share_legend(checks, frame),
        "</g>",
    ]


def _x_axis(checks: list[_Check], frame: _Frame, label_y: float) -> list[str]:
    """Check order on x, labelled with a few batch ids and their dates; the grid spans both panels."""
    n = len(checks)
    out = ['<g class="axis x">']
    # About 110 px per label (an 18-character batch id at 10 px); the oldest, centred on the axis, fits the margin.
    for i in _x_ticks(n, wanted=max(2, min(6, int((frame.right - frame.left) // 110)))):
        x = _num(frame.x(i, n))
        check = checks[i]
        out.append(
            f'<line class="grid" x1="{x}" x2="{x}" y1="{_num(frame.top)}" y2="{_num(frame.bottom)}" stroke="{GRID}"/>'
        )
        out.append(
            f'<text class="tick-label" x="{x}" y="{_num(label_y)}" text-anchor="middle">'
            f"<title>{_esc(check.batch_id)}</title>{_esc(_short(check.batch_id, 18))}"
            f'<tspan x="{x}" dy="12">{_esc(_date_label(check.checked_at))}</tspan></text>'
        )
    out.append("</g>")
    return out


def _decision_share(checks: list[_Check], drift_share: float | None) -> float | None:
    """The argument when given, else the newest check's `report.drift_share`; None draws no decision line."""
    if drift_share is not None:
        value = _finite(drift_share)
        if value is None or not 0.0 <= value <= 1.0:
            raise ValueError(f"drift_share must be a number in [0, 1], got {drift_share!r}")
        return value
    newest = next((c.drift_share for c in reversed(checks) if c.drift_share is not None), None)
    return None if newest is None else min(max(newest, 0.0), 1.0)


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
    usable = _usable_checks(checks)
    if len(usable) < len(checks):
        logger.debug("drift history: skipped %d record(s) without a per-feature report", len(checks) - len(usable))
    share = _decision_share(usable, drift_share)
    if not usable:
        return _empty_svg("drift-history", width, min(height, 60), "no drift checks yet")
    left, right = 48.0, width - 170.0
    plot = height - 24 - 28 - 34
    feature_frame = _Frame(left, right, 24.0, 24.0 + plot * 0.62)
    share_frame = _Frame(left, right, feature_frame.bottom + 28, height - 34.0)
    label = f"Drift history of {len(usable)} check(s): per-feature drift score and share of drifted features" + (
        f"; dataset drift at {share:.0%}" if share is not None else ""
    )
    parts = [
        _svg_open("drift-history", width, height, label),
        f"<style>{STYLE}</style>",
        *_x_axis(usable, _Frame(left, right, feature_frame.top, share_frame.bottom), share_frame.bottom + 12),
        *_feature_panel(usable, feature_frame, top),
        *_share_panel(usable, share_frame, share),
        "</svg>",
    ]
    return "".join(parts)


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
    points = [(i, v) for i, v in enumerate(_finite(v) for v in values) if v is not None]
    limit = _finite(threshold)
    label = f"trend of {len(points)} value(s)" + (f", threshold {limit:g}" if limit is not None else "")
    head = _svg_open("sparkline", width, height, label)
    if not points:
        return head + "</svg>"
    low = min(0.0, *(v for _, v in points), *([limit] if limit is not None else []))
    high = max(*(v for _, v in points), *([limit] if limit is not None else []), low)
    span = high - low or 1.0
    frame = _Frame(2.0, width - 4.0, 3.0, height - 3.0)

    def y(value: float) -> str:
        return _num(frame.y(value - low, span))

    count = len(values)
    coords = " ".join(f"{_num(frame.x(i, count))},{y(v)}" for i, v in points)
    out = [head]
    if limit is not None:
        out.append(
            f'<line class="threshold" x1="{_num(frame.left)}" x2="{_num(frame.right)}" y1="{y(limit)}" y2="{y(limit)}" '
            f'stroke="{RED}" stroke-width="1" stroke-dasharray="3 2"/>'
        )
    last_i, last_v = points[-1]
    out.append(
        f'<polyline class="sparkline" fill="none" stroke="{PALETTE[0]}" stroke-width="1.5" points="{coords}"/>'
        f'<circle class="last" r="2" cx="{_num(frame.x(last_i, count))}" cy="{y(last_v)}" fill="{PALETTE[0]}">'
        f"<title>{last_v:.4g}</title></circle></svg>"
    )
    return "".join(out)
