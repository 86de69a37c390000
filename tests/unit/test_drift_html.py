"""Drift reports for people: the HTML page and the PNG summary say what the report says, and need no network."""

from __future__ import annotations

import re

import pytest

from airloop.data.datagen import generate
from airloop.monitor.drift import drift_for_spec
from airloop.monitor.drift.html import render_html, summary_png

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def frames():
    return generate("fraud", rows=3000, seed=1, labels=True), generate("fraud", rows=3000, seed=3, drift="covariate")


@pytest.fixture(scope="module")
def report(spec, frames):
    return drift_for_spec(spec, *frames)


def test_html_has_every_column_decision_and_inline_charts(report, frames, tmp_path):
    page = render_html(report, *frames, tmp_path / "drift.html", title="fraud_detection drift").read_text()
    assert "Drift detected" in page
    for name, feature in report.features.items():
        assert f"<td>{name}</td>" in page
        assert f"{name}: {feature.method}" in page
    assert page.count("data:image/png;base64,") == len(report.features)
    assert not re.search(r"(src|href)=['\"]https?://", page), "the report must not load anything from the network"
    drifted_rows = page.count("<tr class='drift'>")
    assert drifted_rows == sum(f.drifted for f in report.features.values())


def test_no_drift_page(spec, tmp_path):
    ref, cur = generate("fraud", rows=3000, seed=1), generate("fraud", rows=3000, seed=2)
    clean = drift_for_spec(spec, ref, cur)
    page = render_html(clean, ref, cur, tmp_path / "clean.html").read_text()
    assert "No drift" in page and "<tr class='drift'>" not in page


def test_summary_png_is_a_png(report, tmp_path):
    data = summary_png(report, tmp_path / "summary.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
