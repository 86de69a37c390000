"""Small modules and short functions in the library and the Airflow glue, unless a docstring says why not.

A module over 450 lines or a function over 60 lines in `include/` or `plugins/` fails this test, except where the
module's (or the function's) docstring has a line starting with "Long because" that gives the reason. Lengths are
physical lines, `def` (or the module's first line) to the last line, blank lines and comments included: what a
reader has to scroll through.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("include", "plugins")
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60
REASON = "Long because"


@dataclass(frozen=True)
class TooLong:
    where: str  # path[:line] and, for a function, its qualified name
    lines: int
    limit: int

    def __str__(self) -> str:
        return f"{self.where}: {self.lines} lines (limit {self.limit})"


def _explains(node: ast.AST) -> bool:
    doc = (
        ast.get_docstring(node, clean=True)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef)
        else None
    )
    return bool(doc) and any(line.strip().startswith(REASON) for line in doc.splitlines())


def too_long(source: str, name: str) -> list[TooLong]:
    """Every module or function in `source` over its limit without a "Long because" line in its docstring."""
    tree = ast.parse(source)
    out: list[TooLong] = []
    n_lines = len(source.splitlines())
    if n_lines > MAX_MODULE_LINES and not _explains(tree):
        out.append(TooLong(name, n_lines, MAX_MODULE_LINES))

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                qualname = f"{prefix}{child.name}"
                length = (child.end_lineno or child.lineno) - child.lineno + 1
                if length > MAX_FUNCTION_LINES and not _explains(child):
                    out.append(TooLong(f"{name}:{child.lineno} {qualname}", length, MAX_FUNCTION_LINES))
                visit(child, f"{qualname}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return out


def checked_files() -> list[Path]:
    return sorted(p for top in CHECKED for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts)


def test_modules_and_functions_are_short_or_say_why():
    offenders = [
        problem
        for path in checked_files()
        for problem in too_long(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    listing = "\n".join(f"  {p}" for p in offenders)
    assert not offenders, (
        f"{len(offenders)} module(s)/function(s) too long; cut them at their seams, or add a docstring line "
        f'starting with "{REASON}" that says why:\n{listing}'
    )


def _function(body_lines: int, doc: str | None = None) -> str:
    head = ["def f():"] + ([f'    """{doc}"""'] if doc else [])
    return "\n".join(head + ["    x = 1"] * body_lines) + "\n"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (_function(MAX_FUNCTION_LINES - 1), []),  # def line + 59 = 60 lines: at the limit
        (_function(MAX_FUNCTION_LINES), ["f"]),
        (_function(MAX_FUNCTION_LINES, doc="Does one thing.\n\n    Long because it is a table."), []),
        (_function(MAX_FUNCTION_LINES, doc="Long, and only mentions it: no reason line."), ["f"]),
        ("class C:\n    " + _function(MAX_FUNCTION_LINES).replace("\n", "\n    "), ["C.f"]),
        ("def outer():\n    " + _function(MAX_FUNCTION_LINES).replace("\n", "\n    "), ["outer", "outer.f"]),
    ],
    ids=["at-limit", "over", "over-with-reason", "reason-not-at-line-start", "method", "nested"],
)
def test_the_function_rule_catches_what_it_should(source, expected):
    assert [p.where.split(" ", 1)[1] for p in too_long(source, "m.py")] == expected


def test_the_module_rule_catches_what_it_should():
    long_module = "x = 1\n" * (MAX_MODULE_LINES + 1)
    assert [p.lines for p in too_long(long_module, "m.py")] == [MAX_MODULE_LINES + 1]
    assert too_long("x = 1\n" * MAX_MODULE_LINES, "m.py") == []
    explained = '"""A table of constants.\n\nLong because each row is one case.\n"""\n' + long_module
    assert too_long(explained, "m.py") == []
