"""The transform registry. Add a transform by decorating a function with `@register(...)`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airloop.errors import SpecError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from airloop.spec import ColumnSpec, FeatureSpec

NUMERIC = ("int", "float", "bool")
CATEGORICAL = ("category", "string")
DATETIME = ("datetime",)

Arrays = dict[str, "np.ndarray"]


@dataclass(frozen=True)
class Transform:
    name: str
    fn: Callable[..., Arrays]
    input_dtypes: tuple[str, ...]
    n_inputs: int
    outputs: Callable[[FeatureSpec, list[ColumnSpec]], list[str]]
    doc: str


TRANSFORMS: dict[str, Transform] = {}


def _single(feat: FeatureSpec, cols: list[ColumnSpec]) -> list[str]:
    return [feat.name]


def register(name: str, *, inputs: tuple[str, ...], n_inputs: int = 1, outputs=_single):
    def deco(fn: Callable[..., Arrays]) -> Callable[..., Arrays]:
        TRANSFORMS[name] = Transform(name, fn, inputs, n_inputs, outputs, (fn.__doc__ or "").strip())
        return fn

    return deco


def get_transform(name: str) -> Transform:
    """A built-in transform by name. Custom functions (`module:function`) live in `airloop.data.features.custom`."""
    try:
        return TRANSFORMS[name]
    except KeyError:
        raise SpecError(
            f"unknown transform '{name}' (known: {', '.join(sorted(TRANSFORMS))}); "
            "a custom function is named 'module.path:function'"
        ) from None


def is_known_transform(name: str) -> bool:
    """True for a built-in, or for a well-formed custom `module:function` reference (imported only when used)."""
    from airloop.data.features.custom import REF_RE

    return name in TRANSFORMS or bool(REF_RE.match(name))


def _f32(values) -> np.ndarray:
    import numpy as np

    return np.asarray(values, dtype=np.float32)


@register("identity", inputs=NUMERIC)
def identity(feat: FeatureSpec, cols: list[ColumnSpec], s: pd.Series) -> Arrays:
    """The column as a float (bools become 0/1; missing stays NaN, which XGBoost handles natively)."""
    import numpy as np

    return {feat.name: _f32(s.to_numpy(dtype="float32", na_value=np.nan))}


@register("log1p", inputs=NUMERIC)
def log1p(feat: FeatureSpec, cols: list[ColumnSpec], s: pd.Series) -> Arrays:
    """log(1 + x) for skewed non-negative values (amounts, counts); negatives are clipped to 0 first."""
    import numpy as np

    x = s.to_numpy(dtype="float32", na_value=np.nan)
    return {feat.name: np.log1p(np.clip(x, 0, None))}


@register(
    "cyclical",
    inputs=NUMERIC,
    outputs=lambda f, c: [f"{f.name}_sin", f"{f.name}_cos"],
)
def cyclical(feat: FeatureSpec, cols: list[ColumnSpec], s: pd.Series) -> Arrays:
    """sin/cos encoding of a periodic value (`params.period`, e.g. 24 for hours) so 23h and 0h are neighbours."""
    import numpy as np

    period = float(feat.params.get("period", 24))
    angle = s.to_numpy(dtype="float32", na_value=np.nan) * np.float32(2 * np.pi / period)
    return {f"{feat.name}_sin": np.sin(angle), f"{feat.name}_cos": np.cos(angle)}


def domain_codes(s: pd.Series, domain: list[str]) -> np.ndarray:
    """Position of each value in `domain` (-1 when unknown or missing), as int32.

    Arrow-backed strings (pandas' default) are looked up by Arrow's hash kernel, ~10× faster than pandas here.
    """
    import numpy as np
    import pandas as pd

    if domain and (s.dtype == "string" or s.dtype == "str"):
        import pyarrow as pa
        import pyarrow.compute as pc

        codes = pc.index_in(pa.array(s.array), value_set=pa.array(domain, type=pa.string()))
        return codes.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    return pd.Index(domain).get_indexer(s.astype(object)).astype(np.int32)


def _one_hot_outputs(feat: FeatureSpec, cols: list[ColumnSpec]) -> list[str]:
    return [f"{feat.name}__{v}" for v in cols[0].domain or []]


@register("one_hot", inputs=CATEGORICAL, outputs=_one_hot_outputs)
def one_hot(feat: FeatureSpec, cols: list[ColumnSpec], s: pd.Series) -> Arrays:
    """One 0/1 column per value of the column's declared domain; a value outside it sets none of them."""
    import numpy as np

    domain = cols[0].domain or []
    codes = domain_codes(s, domain)
    return {f"{feat.name}__{value}": (codes == i).astype(np.float32) for i, value in enumerate(domain)}


@register("category_code", inputs=CATEGORICAL)
def category_code(feat: FeatureSpec, cols: list[ColumnSpec], s: pd.Series) -> Arrays:
    """Position of the value in the declared domain (NaN when unknown): compact for high-cardinality columns."""
    import numpy as np

    codes = domain_codes(s, cols[0].domain or []).astype(np.float32)
    codes[codes < 0] = np.nan
    return {feat.name: codes}


@register("ratio", inputs=NUMERIC, n_inputs=2)
def ratio(feat: FeatureSpec, cols: list[ColumnSpec], a: pd.Series, b: pd.Series) -> Arrays:
    """a / b, NaN where b is 0 or missing (a ratio with no denominator carries no information)."""
    import numpy as np

    num = a.to_numpy(dtype="float64", na_value=np.nan)
    den = b.to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den != 0, num / den, np.nan)
    return {feat.name: _f32(out)}


@register("hour_of_day", inputs=DATETIME)
def hour_of_day(feat: FeatureSpec, cols: list[ColumnSpec], s: pd.Series) -> Arrays:
    """Hour (0–23) of a timestamp."""
    import numpy as np

    return {feat.name: _f32(s.dt.hour.to_numpy(dtype="float32", na_value=np.nan))}


@register("day_of_week", inputs=DATETIME)
def day_of_week(feat: FeatureSpec, cols: list[ColumnSpec], s: pd.Series) -> Arrays:
    """Day of week (Monday = 0) of a timestamp."""
    import numpy as np

    return {feat.name: _f32(s.dt.day_of_week.to_numpy(dtype="float32", na_value=np.nan))}
