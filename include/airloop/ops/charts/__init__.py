"""Server-side SVG charts for the Model Ops page: the drift history over checks and tiny sparklines.

The page is served by the Airflow webserver, often without internet access, so the charts are plain SVG strings
built with the standard library only: no CDN, no JS chart library, and no matplotlib (too slow to import in a web
request). One module per job: `svg` (shared primitives and escaping), `history` (drift-check records reduced to
what is drawn), `drift_history` (the two-panel chart and its stable hooks) and `sparkline`.
"""

from __future__ import annotations

from airloop.ops.charts.drift_history import drift_history_svg
from airloop.ops.charts.sparkline import sparkline_svg

__all__ = ["drift_history_svg", "sparkline_svg"]
