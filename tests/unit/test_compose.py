"""docker-compose.yaml cannot be run here (no Docker engine): validate it against the Compose Specification
schema and check that it is consistent with .env.example."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT.parent / "shared" / "schemas" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


@pytest.mark.skipif(not SCHEMA.exists(), reason="compose-spec.json is provided beside the checkout in ../shared")
def test_matches_compose_spec(compose):
    import jsonschema

    jsonschema.validate(compose, json.loads(SCHEMA.read_text()))


def test_every_variable_is_documented():
    text = (ROOT / "docker-compose.yaml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{(\w+)", text))
    documented = set(re.findall(r"^(\w+)=", (ROOT / ".env.example").read_text(), re.M))
    assert used - documented == set()


def test_every_service_has_a_healthcheck(compose):
    missing = [name for name, svc in compose["services"].items() if "healthcheck" not in svc]
    assert missing == []


def test_images_are_pinned(compose):
    for name, svc in compose["services"].items():
        image = svc.get("image", "")
        assert image.startswith("${") or (":" in image and not image.endswith(":latest")), name
