"""SVG charts of the Model Ops page: well-formed, escaped, and saying what the drift history says.

Every chart is parsed with ElementTree, so a stray `<` or `&` from a feature name or a batch id fails the test, and
positions are checked against the panel's own axis coordinates (`data-y0` / `data-y1`), not against pixel constants.
"""

from __future__ import annotations

import random
import time
import xml.etree.ElementTree as ET

import pytest

from airloop.ops.charts import drift_history_svg, sparkline_svg

pytestmark = pytest.mark.unit

NS = "{http://www.w3.org/2000/svg}"


def feature(statistic, drifted=False, *, method="ks", threshold=0.1):
    return {"method": method, "statistic": statistic, "threshold": threshold, "drifted": drifted, "p_value": None}


def check(i, features, *, share=None, detected=False, decayed=False, drift_share=0.5, batch_id=None):
    drifted = sum(bool(f["drifted"]) for f in features.values())
    return {
        "batch_id": batch_id or f"round{i}-clean-{i:08x}",
        "checked_at": 1795679753.2 + 3600 * i,
        "champion_version": "1",
        "drift_detected": detected,
        "share_drifted": drifted / len(features) if share is None else share,
        "decayed": decayed,
        "report": {"drift_share": drift_share, "features": features},
    }


def history(n_checks, n_features, *, seed=0):
    """A random history: statistics in [0, 1), a feature drifted when its statistic exceeds 0.8."""
    rng = random.Random(seed)
    checks = []
    for i in range(n_checks):
        feats = {}
        for j in range(n_features):
            statistic = rng.random() * (j + 1) / n_features
            feats[f"feature_{j}"] = feature(statistic, statistic > 0.8)
        checks.append(check(i, feats, detected=rng.random() < 0.2))
    return checks


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    return root


def by_class(root: ET.Element, cls: str, tag: str | None = None) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split() and (tag is None or e.tag == f"{NS}{tag}")]


def series(root: ET.Element) -> dict[str, ET.Element]:
    lines = by_class(root, "series", "polyline")
    return {line.get("data-feature"): line for line in lines}


def n_points(polyline: ET.Element) -> int:
    return len(polyline.get("points").split())


def panel(root: ET.Element, name: str) -> tuple[float, float]:
    """The y coordinates of a panel's axis 0 and its top value."""
    (group,) = by_class(root, name, "g")
    return float(group.get("data-y0")), float(group.get("data-y1"))


def test_root_is_an_accessible_svg_with_one_polyline_per_feature():
    checks = [check(i, {"a": feature(0.1 * i), "b": feature(0.05), "c": feature(0.2)}) for i in range(5)]
    root = parse(drift_history_svg(checks))
    assert root.get("class").split() == ["airloop-chart", "drift-history"]
    assert root.get("role") == "img" and root.get("aria-label") and root.get("viewBox") == "0 0 880 300"
    lines = series(root)
    assert len(by_class(root, "series", "polyline")) == 3
    assert set(lines) == {"a", "b", "c"}
    assert all(n_points(line) == 5 for line in lines.values())


def test_every_point_has_a_tooltip_naming_feature_batch_and_statistic():
    checks = [check(i, {"log_amount": feature(0.031 + i / 100, i == 2, threshold=0.1)}) for i in range(3)]
    root = parse(drift_history_svg(checks))
    (points,) = [g for g in by_class(root, "points", "g") if g.get("data-feature") == "log_amount"]
    titles = [c.find(f"{NS}title").text for c in points.iter(f"{NS}circle")]
    assert len(titles) == 3
    assert "log_amount" in titles[0] and "round0-clean-00000000" in titles[0]
    assert "ks statistic 0.031" in titles[0] and "threshold 0.1" in titles[0]
    assert "DRIFTED" in titles[2] and "DRIFTED" not in titles[0]


@pytest.mark.parametrize("given, newest, expected", [(0.5, 0.9, 0.5), (None, 0.3, 0.3), (None, 0.75, 0.75)])
def test_decision_line_sits_at_drift_share_on_the_share_panel(given, newest, expected):
    checks = [check(i, {"a": feature(0.1)}, drift_share=0.9) for i in range(3)]
    checks[-1]["report"]["drift_share"] = newest
    root = parse(drift_history_svg(checks, drift_share=given))
    (line,) = by_class(root, "decision-line", "line")
    y0, y100 = panel(root, "share-panel")
    assert y0 > y100
    assert float(line.get("y1")) == float(line.get("y2"))
    assert (y0 - float(line.get("y1"))) / (y0 - y100) == pytest.approx(expected, abs=0.01)
    (label,) = by_class(root, "decision-label")
    assert label.text == f"drift at {expected:.0%}"


def test_no_decision_line_without_any_drift_share():
    checks = [check(0, {"a": feature(0.1)})]
    del checks[0]["report"]["drift_share"]
    root = parse(drift_history_svg(checks))
    assert by_class(root, "decision-line") == []


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_an_impossible_drift_share_is_refused(bad):
    with pytest.raises(ValueError, match="drift_share"):
        drift_history_svg([check(0, {"a": feature(0.1)})], drift_share=bad)


def test_one_red_marker_per_drifted_feature_point():
    checks = history(30, 8, seed=3)
    expected = sum(f["drifted"] for c in checks for f in c["report"]["features"].values())
    assert expected > 5
    root = parse(drift_history_svg(checks))
    drifted = by_class(root, "drifted", "circle")
    assert len(drifted) == expected
    assert all("DRIFTED" in c.find(f"{NS}title").text for c in drifted)


def test_one_marker_per_check_that_detected_drift():
    checks = history(25, 4, seed=5)
    expected = sum(c["drift_detected"] for c in checks)
    assert 0 < expected < 25
    root = parse(drift_history_svg(checks))
    markers = by_class(root, "drift-detected", "circle")
    assert len(markers) == expected
    y0, y100 = panel(root, "share-panel")
    detected = [c for c in checks if c["drift_detected"]]
    for marker, record in zip(markers, detected, strict=True):
        assert (y0 - float(marker.get("cy"))) / (y0 - y100) == pytest.approx(record["share_drifted"], abs=0.01)


def test_share_axis_is_fixed_from_zero_to_hundred_percent():
    checks = [check(i, {"a": feature(0.1)}, share=0.2) for i in range(4)]
    root = parse(drift_history_svg(checks))
    (share_panel,) = by_class(root, "share-panel", "g")
    ticks = [t.text for t in share_panel.iter(f"{NS}text") if t.text and t.text.endswith("%")]
    assert {"0%", "50%", "100%"} <= set(ticks)
    y0, y100 = panel(root, "share-panel")
    (line,) = by_class(root, "share-series", "polyline")
    ys = [float(p.split(",")[1]) for p in line.get("points").split()]
    assert all((y0 - y) / (y0 - y100) == pytest.approx(0.2, abs=0.01) for y in ys)


def test_user_text_is_escaped_and_the_svg_still_parses():
    name, batch = "amount<&\">'x", "<script>alert(1)</script>"
    checks = [check(0, {name: feature(0.4, True), "ctrl\x01name": feature(0.1)}, batch_id=batch)]
    svg = drift_history_svg(checks)
    root = parse(svg)
    assert "<script>" not in svg
    assert series(root).keys() == {name, "ctrlname"}
    titles = " ".join(t.text for t in root.iter(f"{NS}title"))
    assert name in titles and batch in titles


def test_no_usable_checks_gives_the_empty_chart():
    for checks in ([], [{"batch_id": "old"}], [{"batch_id": "x", "report": {"drift_share": 0.5, "features": {}}}]):
        root = parse(drift_history_svg(checks))
        (text,) = by_class(root, "empty", "text")
        assert text.text == "no drift checks yet"
        assert root.find(f".//{NS}polyline") is None


def test_records_without_a_report_are_skipped():
    checks = [
        {"batch_id": "ancient", "checked_at": 1.0, "drift_detected": True, "share_drifted": 1.0},
        check(1, {"a": feature(0.2)}),
        {"batch_id": "broken", "report": None},
        {"batch_id": "halfway", "report": {"features": {"a": "not a dict"}}},
        check(2, {"a": feature(0.3)}),
    ]
    svg = drift_history_svg(checks)
    root = parse(svg)
    assert n_points(series(root)["a"]) == 2
    assert "ancient" not in svg and "broken" not in svg and "halfway" not in svg
    assert by_class(root, "drift-detected") == []


def test_missing_and_non_finite_statistics_are_skipped():
    stats = [0.1, float("nan"), None, 0.4, float("inf"), "0.5"]
    checks = [check(i, {"a": feature(s), "b": feature(0.2)}) for i, s in enumerate(stats)]
    del checks[0]["report"]["features"]["b"]["statistic"]
    svg = drift_history_svg(checks)
    root = parse(svg)
    lines = series(root)
    assert n_points(lines["a"]) == 2
    assert n_points(lines["b"]) == 5
    assert "nan" not in svg.lower() and "inf" not in svg.lower()


def test_legend_ranks_the_top_features_by_their_highest_statistic():
    # "spike" has the lowest mean but the highest single value; "steady" the highest mean.
    values = {
        "spike": [0.0, 0.0, 0.9],
        "steady": [0.6, 0.6, 0.6],
        "rising": [0.1, 0.3, 0.7],
        "low": [0.1, 0.1, 0.1],
        "flat": [0.05, 0.05, 0.05],
    }
    checks = [check(i, {name: feature(v[i]) for name, v in values.items()}) for i in range(3)]
    root = parse(drift_history_svg(checks, top=3))
    legend = [g.get("data-feature") for g in by_class(root, "legend-item", "g") if g.get("data-feature")]
    assert legend == ["spike", "rising", "steady"]
    lines = series(root)
    assert [lines[name].get("data-rank") for name in legend] == ["1", "2", "3"]
    assert lines["low"].get("data-rank") is None and lines["flat"].get("data-rank") is None
    assert lines["low"].get("stroke") == lines["flat"].get("stroke") != lines["spike"].get("stroke")
    assert len({lines[name].get("stroke") for name in legend}) == 3
    (others,) = by_class(root, "others", "g")
    assert "2 other features" in "".join(others.itertext())


def test_the_chart_loads_nothing_from_anywhere():
    svg = drift_history_svg(history(5, 3))
    assert "<script" not in svg and "href" not in svg and "src=" not in svg and "@import" not in svg


def test_large_history_renders_fast_and_small():
    checks = history(200, 40, seed=7)
    started = time.perf_counter()
    svg = drift_history_svg(checks)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0
    assert len(svg.encode()) < 400_000
    root = parse(svg)
    assert len(series(root)) == 40
    expected = sum(f["drifted"] for c in checks for f in c["report"]["features"].values())
    assert len(by_class(root, "drifted", "circle")) == expected


def test_long_histories_are_thinned_but_keep_every_drifted_point():
    checks = [check(i, {"a": feature(0.9 if i % 97 == 5 else 0.1, i % 97 == 5)}) for i in range(1500)]
    root = parse(drift_history_svg(checks))
    drifted = sum(i % 97 == 5 for i in range(1500))
    assert n_points(series(root)["a"]) <= 300 + drifted + 1
    assert len(by_class(root, "drifted", "circle")) == drifted


def test_sparkline_draws_the_finite_values_and_an_optional_threshold():
    plain = parse(sparkline_svg([0.1, None, 0.3, float("nan"), 0.6]))
    assert plain.get("class").split() == ["airloop-chart", "sparkline"]
    (line,) = by_class(plain, "sparkline", "polyline")
    assert n_points(line) == 3
    assert by_class(plain, "threshold") == []

    marked = parse(sparkline_svg([0.1, 0.2], threshold=0.5, width=100, height=20))
    (threshold,) = by_class(marked, "threshold", "line")
    assert threshold.get("stroke-dasharray")
    (line,) = by_class(marked, "sparkline", "polyline")
    ys = [float(p.split(",")[1]) for p in line.get("points").split()]
    assert float(threshold.get("y1")) < min(ys)  # above both values: y grows downwards
    assert marked.get("viewBox") == "0 0 100 20"


@pytest.mark.parametrize("values", [[], [None, float("nan")]])
def test_an_empty_sparkline_has_no_line(values):
    root = parse(sparkline_svg(values, threshold=0.5))
    assert root.find(f".//{NS}polyline") is None
    assert root.get("class").split() == ["airloop-chart", "sparkline"]
