"""Custom feature functions: a spec feature with `transform: "module.path:function"`.

A data engineer's feature logic lives in a plain Python module, usually next to the spec
(`include/pipelines/features_retail.py` → `transform: "features_retail:basket_size"`). The contract is
`fn(df: pd.DataFrame, **params) -> pd.Series | pd.DataFrame`: `df` holds the feature's declared input columns (or,
when it declares none, every schema column except the label), `params` are the feature's `params`. A Series is
one output column named after the feature; a DataFrame is several, `<feature>__<column>`, and because the model's
column list must be known from the spec alone (training, signatures, drift), such a function declares its
columns up front with `@outputs(...)`.

Spec validation (the pydantic model) only checks the reference's syntax. The module is imported, with the spec's
own directory put on `sys.path` for the import only, by the load-time checks in `airloop.monitor.speccheck` (the
DAG parse and `airloop check`), which catch a failing import per spec so that one broken module breaks only its own
pipeline, and again the first time features are built or the model's columns are listed (tasks, the CLI, tests).
"""

from __future__ import annotations

import importlib
import re
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airloop.errors import AirloopError, SpecError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from airloop.spec import FeatureSpec

REF_RE = re.compile(r"^(?P<module>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):(?P<function>[A-Za-z_]\w*)$")
OUTPUTS_ATTR = "airloop_outputs"

# Spec name → the directory its YAML file was loaded from, recorded when the spec is checked (`load_spec` passes
# the file as the source). Keyed by name, not by object, so copies made with `model_copy` still find it.
_SPEC_DIRS: dict[str, Path] = {}
_RESOLVED: dict[tuple[str, tuple[str, ...]], Callable[..., Any]] = {}
_IMPORT_LOCK = threading.Lock()  # sys.path is process-wide: one temporary edit at a time


class FeatureError(AirloopError):
    """A custom feature function cannot be found, fails, or breaks its contract; the message names the feature."""


def is_custom(transform: str) -> bool:
    """Whether a spec's `transform` names a custom function (`module:function`) rather than a built-in."""
    return ":" in transform


def parse_reference(transform: str) -> tuple[str, str]:
    """Split `module.path:function`, refusing anything importlib could not import as written."""
    match = REF_RE.match(transform)
    if not match:
        raise SpecError(
            f"custom transform '{transform}' is not 'module.path:function' "
            "(Python identifiers, e.g. 'features_retail:basket_size')"
        )
    return match.group("module"), match.group("function")


def outputs(*names: str | Callable[..., Sequence[str]]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare the columns of a custom feature function that returns a DataFrame.

    Either the names (`@outputs("sin", "cos")`) or one callable that receives the feature's `params` and returns
    them (`@outputs(lambda bins, **_: [f"bin{i}" for i in range(len(bins) + 1)])`). The model's columns are then
    `<feature>__<name>`, in this order, and the returned DataFrame must have exactly these columns.
    """
    if len(names) == 1 and callable(names[0]):
        declared: Any = names[0]
    else:
        if not names or not all(isinstance(n, str) and n for n in names):
            raise TypeError("outputs(): give column names as non-empty strings, or one callable of the params")
        if len(set(names)) != len(names):
            raise TypeError(f"outputs(): duplicate column names in {list(names)}")
        declared = tuple(names)

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        setattr(fn, OUTPUTS_ATTR, declared)
        return fn

    return deco


def remember_spec_dir(name: str, source: str) -> None:
    """Record the directory of a spec loaded from a file, where its feature modules are looked for."""
    path = Path(source)
    if path.is_file():
        _SPEC_DIRS[name] = path.resolve().parent


def spec_dirs(name: str) -> list[Path]:
    """The directories searched first for a spec's feature modules (its own, when it was loaded from a file)."""
    return [_SPEC_DIRS[name]] if name in _SPEC_DIRS else []


def _tried(dirs: Sequence[Path]) -> str:
    """Where an import looked, for the error message: the spec's directory, then the project paths on sys.path."""
    prefixes = {str(Path(p).resolve()) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    project = [
        p
        for p in dict.fromkeys(sys.path)
        if p and Path(p).is_dir() and not any(str(Path(p).resolve()).startswith(x) for x in prefixes)
    ]
    parts = [f"{d} (the spec's directory)" for d in dirs] + project + ["the installed packages"]
    return ", ".join(parts)


def resolve_function(transform: str, dirs: Sequence[str | Path] = ()) -> Callable[..., Any]:
    """Import `module.path:function`, looking in `dirs` first (for the import only), then on `sys.path`.

    Raises `FeatureError` naming the reference and where it looked when the module or function is missing, or
    when importing the module fails.
    """
    module_name, func_name = parse_reference(transform)
    paths = tuple(str(Path(d).resolve()) for d in dirs)
    key = (transform, paths)
    if key in _RESOLVED:
        return _RESOLVED[key]
    with _IMPORT_LOCK:
        added = [p for p in paths if p not in sys.path]
        sys.path[:0] = added
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name != module_name and not module_name.startswith(exc.name + "."):
                raise FeatureError(  # the module exists; something it imports does not
                    f"custom transform '{transform}': importing module '{module_name}' failed: {exc}"
                ) from exc
            raise FeatureError(
                f"custom transform '{transform}': no module '{module_name}' (tried: {_tried([Path(p) for p in paths])})"
            ) from None
        except Exception as exc:
            raise FeatureError(
                f"custom transform '{transform}': importing module '{module_name}' raised {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            for p in added:
                if p in sys.path:
                    sys.path.remove(p)
    fn = getattr(module, func_name, None)
    if not callable(fn):
        found = sorted(  # the module's own functions, not what it imported
            n
            for n, v in vars(module).items()
            if callable(v)
            and not n.startswith("_")
            and not isinstance(v, type)
            and getattr(v, "__module__", None) == module.__name__
        )
        where = getattr(module, "__file__", None) or module_name
        what = "is not a function" if fn is not None else "does not exist"
        raise FeatureError(
            f"custom transform '{transform}': '{func_name}' {what} in module '{module_name}' ({where}; "
            f"functions there: {', '.join(found) or 'none'})"
        )
    _RESOLVED[key] = fn
    return fn


def function_for(feat: FeatureSpec, spec_name: str) -> Callable[..., Any]:
    """The function behind a spec's custom feature; errors name the feature."""
    try:
        return resolve_function(feat.transform, spec_dirs(spec_name))
    except (FeatureError, SpecError) as exc:
        raise FeatureError(f"feature '{feat.name}': {exc}") from exc


def output_columns(feat: FeatureSpec, fn: Callable[..., Any]) -> list[str]:
    """The model columns a custom feature produces: its name, or `<name>__<column>` for declared outputs."""
    declared = getattr(fn, OUTPUTS_ATTR, None)
    if declared is None:
        return [feat.name]
    try:
        names = declared(**feat.params) if callable(declared) else declared
    except Exception as exc:
        raise FeatureError(
            f"feature '{feat.name}' ({feat.transform}): its @outputs callable raised {type(exc).__name__}: {exc}"
        ) from exc
    if isinstance(names, str) or not names or not all(isinstance(n, str) and n for n in names):
        raise FeatureError(
            f"feature '{feat.name}' ({feat.transform}): @outputs must give a non-empty list of column names, "
            f"got {names!r}"
        )
    if len(set(names)) != len(names):
        raise FeatureError(f"feature '{feat.name}' ({feat.transform}): @outputs gives duplicate names {list(names)}")
    return [f"{feat.name}__{n}" for n in names]


def _as_float32(feat: FeatureSpec, column: str, s: pd.Series) -> np.ndarray:
    """One output column as float32, refusing what a model cannot take (text, objects, infinities)."""
    import numpy as np
    import pandas as pd

    where = f"feature '{feat.name}' ({feat.transform})"
    if not (pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)):
        example = next((repr(v) for v in s.dropna().head(1)), "")
        raise FeatureError(
            f"{where}: column '{column}' is not numeric (dtype {s.dtype}{', e.g. ' + example if example else ''}); "
            "features must be numbers or booleans (encode categories, e.g. with one_hot)"
        )
    values = s.to_numpy(dtype="float32", na_value=np.nan)
    if np.isinf(values).any():
        raise FeatureError(
            f"{where}: column '{column}' has {int(np.isinf(values).sum())} infinite value(s); "
            "return NaN for missing or undefined values"
        )
    return values


def run_function(feat: FeatureSpec, fn: Callable[..., Any], frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Call a custom feature function on `frame` and check its result against the contract.

    The function gets a copy-on-write view with a fresh 0..n-1 index, so its result can be matched to the rows
    without ambiguity: a result on that index (or a reordering of it) is aligned by label, anything else is refused.
    """
    import pandas as pd

    where = f"feature '{feat.name}' ({feat.transform})"
    expected = output_columns(feat, fn)
    frame = frame.reset_index(drop=True)
    try:
        result = fn(frame, **feat.params)
    except FeatureError:
        raise
    except Exception as exc:
        raise FeatureError(f"{where} raised {type(exc).__name__}: {exc}") from exc

    if not isinstance(result, pd.Series | pd.DataFrame):
        raise FeatureError(f"{where}: must return a pandas Series or DataFrame, got {type(result).__name__}")
    if len(result) != len(frame):
        raise FeatureError(f"{where}: returned {len(result)} rows for a batch of {len(frame)}; return one per row")
    if not result.index.equals(frame.index):
        if result.index.has_duplicates or not result.index.sort_values().equals(frame.index):
            raise FeatureError(
                f"{where}: the result's index does not match the input rows; keep df's index "
                "(e.g. pd.Series(values, index=df.index))"
            )
        result = result.reindex(frame.index)

    declared = getattr(fn, OUTPUTS_ATTR, None) is not None
    if isinstance(result, pd.Series):
        if declared:
            raise FeatureError(f"{where}: declares @outputs {expected} but returned a Series, not a DataFrame")
        return {feat.name: _as_float32(feat, feat.name, result)}
    if not declared:
        raise FeatureError(
            f"{where}: returned a DataFrame without declaring its columns; decorate the function with "
            "@airloop.data.features.outputs(...) so the model's columns are known before data arrives"
        )
    by_name = {str(c): c for c in result.columns}
    want = [c.removeprefix(f"{feat.name}__") for c in expected]
    if sorted(by_name) != sorted(want) or len(by_name) != len(result.columns):
        raise FeatureError(f"{where}: returned columns {list(by_name)}, its @outputs declare {want}")
    return {out: _as_float32(feat, col, result[by_name[col]]) for out, col in zip(expected, want, strict=True)}
