"""Model Ops in a real browser: headless Chromium (Debian's, driven by Playwright) logs in through Airflow's login
page, opens the Model Ops entry of the Airflow nav, and checks what an operator sees against MLflow. Screenshots
go to test-artifacts/browser/ (or $AIRLOOP_TEST_ARTIFACTS/browser)."""

from __future__ import annotations

import re
import shutil

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]
NAME = "fraud_detection"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, ops_stack):
    """A fresh browser context, logged in as admin through Airflow's own login page."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    url = ops_stack["url"]
    page.goto(f"{url}/")
    page.wait_for_url(re.compile(r"/auth/login"))
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", ops_stack["passwords"]["admin"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/")
    yield page
    context.close()


def _champion(ops_stack) -> tuple[str, str, str]:
    from airloop.model.registry import Registry

    c = Registry(ops_stack["settings"].tracking_uri).client
    version = str(c.get_registered_model(NAME).aliases["champion"])
    tags = c.get_model_version(NAME, version).tags
    return version, tags["trigger"], tags["airflow_run_id"]


def _open_model_ops(page):
    page.get_by_text("Model Ops", exact=True).first.click()
    page.wait_for_url(re.compile(r"/plugin/model-ops"))
    frame = page.frame_locator("iframe").first
    frame.locator("h1", has_text="Model Ops").wait_for()
    return frame


def test_nav_entry_opens_model_ops_with_the_champion(page, ops_stack, artifacts):
    frame = _open_model_ops(page)
    version, trigger, _ = _champion(ops_stack)
    row = frame.locator(f"tr[data-pipeline={NAME}]")
    assert row.locator(".badge.champion").inner_text() == f"v{version}"
    assert row.locator(".champion-trigger").inner_text() == trigger
    page.screenshot(path=str(artifacts / "01-model-ops-overview.png"))


def test_pipeline_page_shows_why_and_draws_the_drift_chart(page, ops_stack, artifacts):
    frame = _open_model_ops(page)
    frame.locator("a.pipeline-link", has_text=NAME).click()
    frame.locator("#pipeline-name", has_text=NAME).wait_for()
    version, trigger, _ = _champion(ops_stack)
    assert frame.locator("#champion-version").inner_text() == f"v{version}"
    assert frame.locator("#champion-trigger").inner_text() == trigger
    assert frame.locator("#champion-reason").inner_text().strip() not in ("", "–")
    chart = frame.locator("#drift-chart svg.drift-history")
    chart.wait_for()
    assert frame.locator("#drift-chart polyline.series").count() > 0, "per-feature score lines"
    assert frame.locator("#drift-chart line.decision-line").count() == 1
    assert frame.locator("#drift-chart circle.drift-detected").count() >= 1, "the demo's drifted batch is marked"
    box = chart.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 150, "the chart is laid out, not collapsed"
    assert frame.locator("#versions tr[data-version]").count() >= 2
    frame.locator("#drift-chart").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "02-pipeline-drift-chart.png"))
    frame.locator("#versions").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "03-pipeline-versions.png"))


def test_fairness_slices_show_the_gates_record(page, ops_stack, artifacts):
    """The spec's slices (country, age band): the newest gated version's metric per group, as the gate recorded
    it on the version, with the worst judged group of each slice marked."""
    import json

    from airloop.model.registry import Registry

    c = Registry(ops_stack["settings"].tracking_uri).client
    gated = [m for m in c.search_model_versions(f"name='{NAME}'") if "gate.slices" in (m.tags or {})]
    newest = max(gated, key=lambda m: int(m.version))
    record = json.loads(newest.tags["gate.slices"])
    frame = _open_model_ops(page)
    frame.locator("a.pipeline-link", has_text=NAME).click()
    table = frame.locator("#slices")
    table.wait_for()
    assert f"v{newest.version}" in frame.locator("#slices-verdict").inner_text()
    groups = [(label, g) for label, per in record["challenger"].items() for g in per]
    assert {"country", "age_band"} == set(record["challenger"])
    assert table.locator("tbody tr").count() == len(groups) > 2
    judged = [label for label, entry in record["summary"].items() if "group" in entry]
    assert table.locator("tbody tr.worst").count() == len(judged)
    first = table.locator("tbody tr").first.locator("td")
    label, group = groups[0]
    assert [first.nth(0).inner_text(), first.nth(1).inner_text().split()[0]] == [label, group]
    assert first.nth(2).inner_text() == str(record["challenger"][label][group]["n"])
    table.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "06-fairness-slices.png"))


def test_dismissed_rollback_changes_nothing(page, ops_stack):
    from airloop.model.registry import Registry

    uri = ops_stack["settings"].tracking_uri
    newest = max(int(v["version"]) for v in Registry(uri).describe_models([NAME])[0]["versions"])
    if Registry(uri).champion_version(NAME) != str(newest):  # make sure there is somewhere to roll back to
        Registry(uri).promote(NAME, str(newest), actor="test")
    frame = _open_model_ops(page)
    frame.locator("a.pipeline-link", has_text=NAME).click()
    button = frame.locator("#rollback")
    button.wait_for()
    sent = []
    page.on("request", lambda r: sent.append(r.url) if "/rollback" in r.url else None)
    button.click()
    ask = frame.locator("#rollback-confirm")
    ask.wait_for()
    assert "Roll back the champion" in ask.inner_text() and f"v{newest}" in ask.inner_text(), "the button asks first"
    frame.locator("#rollback-no").click()
    ask.wait_for(state="hidden")
    assert sent == [], "a cancelled rollback sends nothing"
    assert Registry(uri).champion_version(NAME) == str(newest)
    assert frame.locator("#rollback-result").inner_text() == ""


def test_confirmed_rollback_moves_the_champion_and_shows_who(page, ops_stack, artifacts):
    from airloop.model.registry import Registry

    uri = ops_stack["settings"].tracking_uri
    newest = max(int(v["version"]) for v in Registry(uri).describe_models([NAME])[0]["versions"])
    if Registry(uri).champion_version(NAME) != str(newest):
        Registry(uri).promote(NAME, str(newest), actor="test")
    target = Registry(uri).rollback_target(NAME)
    frame = _open_model_ops(page)
    frame.locator("a.pipeline-link", has_text=NAME).click()
    frame.locator("#rollback").click()
    frame.locator("#rollback-yes").click()
    result = frame.locator("#rollback-result")
    result.filter(has_text="Rolled back").wait_for()
    assert f"v{newest} → v{target} by airflow-ui:admin" in result.inner_text()
    page.screenshot(path=str(artifacts / "05-rollback-done.png"))
    assert Registry(uri).champion_version(NAME) == target
    frame.locator("#champion-history tr", has_text=f"rollback from v{newest}").first.wait_for()  # after the reload


def test_link_to_the_dag_run_opens_it_in_airflow(page, ops_stack, artifacts):
    frame = _open_model_ops(page)
    frame.locator("a.pipeline-link", has_text=NAME).click()
    version, _, run_id = _champion(ops_stack)
    link = frame.locator(f"#versions tr[data-version='{version}'] a.dag-run")
    href = link.get_attribute("href")
    assert href and "/runs/" in href
    link.click()
    page.wait_for_url(re.compile(r"/dags/" + re.escape(NAME) + r"__(train|retrain)/runs/"))
    page.get_by_text(run_id).first.wait_for()
    page.screenshot(path=str(artifacts / "04-dag-run-from-model-ops.png"))
