"""Drift reports for people: a self-contained HTML page and a PNG summary chart.

The HTML embeds its charts as base64 PNGs (no scripts, no CDN), so it opens offline from an MLflow artifact or a
file share. Per column it shows reference vs current distributions (histograms on shared bins for numeric columns,
category shares for categorical ones), the statistic, the threshold and the decision.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from airloop.monitor.drift.report import DriftReport

MAX_CATEGORIES = 20


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    _plt().close(fig)
    return buf.getvalue()


def _column_chart(name: str, kind: str, reference: pd.Series, current: pd.Series) -> bytes:
    import numpy as np
    import pandas as pd

    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 2.6))
    if kind == "numeric":
        ref = pd.to_numeric(reference, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        cur = pd.to_numeric(current, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
        both = np.concatenate([ref, cur])
        if both.size:
            lo, hi = np.quantile(both, [0.005, 0.995]) if both.size > 10 else (both.min(), both.max())
            bins = np.linspace(lo, hi if hi > lo else lo + 1, 31)
            ax.hist(ref, bins=bins, density=True, alpha=0.55, label="reference", color="#3b7dd8")
            ax.hist(cur, bins=bins, density=True, alpha=0.55, label="current", color="#e07b39")
    else:
        ref_share = reference.dropna().astype(str).value_counts(normalize=True)
        cur_share = current.dropna().astype(str).value_counts(normalize=True)
        cats = ref_share.add(cur_share, fill_value=0).sort_values(ascending=False).index[:MAX_CATEGORIES]
        x = np.arange(len(cats))
        ax.bar(x - 0.2, ref_share.reindex(cats, fill_value=0), 0.4, label="reference", color="#3b7dd8")
        ax.bar(x + 0.2, cur_share.reindex(cats, fill_value=0), 0.4, label="current", color="#e07b39")
        ax.set_xticks(x, list(cats), rotation=45, ha="right", fontsize=7)
    ax.set_title(name, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def summary_png(report: DriftReport, path: str | Path) -> Path:
    """Bar chart of each column's statistic, coloured by decision: the one-glance view of a drift check."""
    plt = _plt()
    names = list(report.features)
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.32 * len(names) + 1.2)))
    values = [report.features[n].statistic for n in names]
    colors = ["#d9534f" if report.features[n].drifted else "#5cb85c" for n in names]
    ax.barh(names, values, color=colors)
    ax.invert_yaxis()
    ax.set_xlabel("statistic (red: drifted)")
    verdict = "DRIFT" if report.drift_detected else "no drift"
    ax.set_title(
        f"{verdict}: {report.share_drifted:.0%} of columns drifted (dataset threshold {report.drift_share:.0%})"
    )
    fig.tight_layout()
    path = Path(path)
    path.write_bytes(_png(fig))
    return path


def render_html(
    report: DriftReport, reference: pd.DataFrame, current: pd.DataFrame, path: str | Path, *, title: str = "Drift"
) -> Path:
    """Write the HTML report for `report`, computed on `reference` vs `current`."""
    rows, charts = [], []
    for name, f in report.features.items():
        p = "–" if f.p_value is None else f"{f.p_value:.3g}"
        flag = "DRIFT" if f.drifted else "ok"
        rows.append(
            f"<tr class='{flag.lower()}'><td>{html.escape(name)}</td><td>{f.kind}</td><td>{f.method}</td>"
            f"<td>{f.statistic:.4g}</td><td>{p}</td><td>{f.threshold:.3g}</td><td>{flag}</td>"
            f"<td>{f.missing_share_reference:.1%}</td><td>{f.missing_share_current:.1%}</td></tr>"
        )
        png = _column_chart(name, f.kind, reference[name], current[name])
        charts.append(
            f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
            f"<figcaption>{html.escape(name)}: {f.method} {f.statistic:.4g} ({flag})</figcaption></figure>"
        )
    verdict = "Drift detected" if report.drift_detected else "No drift"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }} tr.drift td {{ background: #fbe3e2; }}
figure {{ display: inline-block; margin: 0.4em; }} figcaption {{ font-size: 0.8em; text-align: center; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="verdict"><strong>{verdict}</strong>: {report.share_drifted:.0%} of {len(report.features)} columns drifted
(dataset threshold {report.drift_share:.0%}); reference {report.n_reference} rows, current {report.n_current} rows.</p>
<table><tr><th>column</th><th>kind</th><th>method</th><th>statistic</th><th>p-value</th><th>threshold</th>
<th>decision</th><th>missing ref</th><th>missing cur</th></tr>
{"".join(rows)}
</table>
<h2>Distributions</h2>
{"".join(charts)}
</body></html>
"""
    path = Path(path)
    path.write_text(page)
    return path
