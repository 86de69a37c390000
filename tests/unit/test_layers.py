"""The library's layers hold: a module imports only its own layer and the layers below it, never Airflow.

Layers, bottom up (`docs/architecture.md` says what lives in each):
core (errors, uris, settings, spec, metrics, naming, contracts) → store → data → catalog → model → monitor →
steps → ops → dev → cli. The Airflow glue in `plugins/` may import only core, catalog, monitor, steps and ops.

Every import counts — at module top, inside a function (the lazy imports that keep DAG parsing fast) and under
`TYPE_CHECKING` — because a lazy import of a higher layer is still a dependency in the wrong direction.
"""

from __future__ import annotations

import ast
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "include" / "airloop"
PLUGINS = ROOT / "plugins"

CORE = ("errors", "uris", "settings", "spec", "metrics", "naming", "contracts")
LAYERS: tuple[tuple[str, ...], ...] = (
    CORE,
    ("store",),
    ("data",),
    ("catalog",),
    ("model",),
    ("monitor",),
    ("steps",),
    ("ops",),
    ("dev",),
    ("cli",),
)
PLUGIN_MAY_IMPORT = (*CORE, "catalog", "monitor", "steps", "ops")
FORBIDDEN_IN_LIBRARY = ("airflow",)


@dataclass(frozen=True)
class Violation:
    path: Path
    line: int
    imported: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: imports {self.imported} ({self.why})"


def _top(module: str) -> str | None:
    """`airloop.model.registry` → `model`; the package itself (the façade) → None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "airloop" else None


def layer_of(top: str) -> int:
    for index, names in enumerate(LAYERS):
        if top in names:
            return index
    raise KeyError(f"airloop.{top} is in no layer: add it to LAYERS (and docs/architecture.md)")


def imports(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports (absolute names), wherever the import statement sits."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "airloop":  # `from airloop import uris`: each name is a module
                found += [(node.lineno, f"airloop.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def library_violations(library: Path) -> list[Violation]:
    bad: list[Violation] = []
    for path in sorted(library.rglob("*.py")):
        parts = path.relative_to(library).with_suffix("").parts
        if parts == ("__init__",):
            continue  # the façade re-exports from every layer, lazily
        if "templates" in parts[:-1]:
            continue  # the text of files `airloop new` writes into a user's project (importing the façade)
        own = layer_of(parts[0])
        for line, name in imports(path):
            if name.split(".")[0] in FORBIDDEN_IN_LIBRARY:
                bad.append(Violation(path, line, name, "the library never imports Airflow"))
            top = _top(name)
            if top is None:
                continue
            if layer_of(top) > own:
                bad.append(Violation(path, line, name, f"layer '{parts[0]}' may not import the higher layer '{top}'"))
    return bad


def plugin_violations(plugins: Path) -> list[Violation]:
    bad: list[Violation] = []
    for path in sorted(plugins.rglob("*.py")):
        for line, name in imports(path):
            top = _top(name)
            if name == "airloop" or (top is not None and top not in PLUGIN_MAY_IMPORT):
                bad.append(Violation(path, line, name, f"plugins import only {', '.join(PLUGIN_MAY_IMPORT)}"))
    return bad


def test_every_library_module_imports_only_its_layer_and_below():
    assert [str(v) for v in library_violations(LIBRARY)] == []


def test_plugins_import_only_the_library_entry_points():
    assert [str(v) for v in plugin_violations(PLUGINS)] == []


def test_every_top_level_module_and_package_has_a_layer():
    for entry in LIBRARY.iterdir():
        if entry.name.startswith(("__", ".")) or (entry.is_file() and entry.suffix != ".py"):
            continue
        layer_of(entry.stem)  # raises for a newcomer nobody placed


@pytest.mark.parametrize(
    ("target", "planted"),
    [
        ("store/storage.py", "from airloop.steps import discover\n"),  # a top-level import of a higher layer
        ("spec/pipeline.py", "def _late():\n    from airloop.data import features\n"),  # a lazy one
        ("model/training.py", "import airflow.sdk\n"),  # Airflow in the library
    ],
)
def test_a_planted_upward_import_is_caught(tmp_path, target, planted):
    copy = tmp_path / "airloop"
    shutil.copytree(LIBRARY, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert library_violations(copy) == []
    with open(copy / target, "a") as f:
        f.write("\n" + planted)
    caught = library_violations(copy)
    assert len(caught) == 1 and caught[0].path == copy / target, caught


def test_a_plugin_importing_the_model_layer_is_caught(tmp_path):
    copy = tmp_path / "plugins"
    shutil.copytree(PLUGINS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with open(copy / "airloop_airflow" / "sensors.py", "a") as f:
        f.write("\nfrom airloop.model.registry import Registry\n")
    assert [v.imported for v in plugin_violations(copy)] == ["airloop.model.registry"]
