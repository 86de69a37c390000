"""Build the model's feature frame from a validated batch, as the spec says."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airloop.errors import SpecError
from airloop.features.registry import get_transform

if TYPE_CHECKING:
    import pandas as pd

    from airloop.spec import PipelineSpec


def check_features(spec: PipelineSpec, source: str = "<spec>") -> None:
    """Fail at spec load time if a feature names an unknown transform or feeds it the wrong column kind."""
    cols = spec.schema_.columns
    outputs: list[str] = []
    for i, feat in enumerate(spec.features):
        where = f"{source}: field 'features.{i}' ({feat.name})"
        try:
            tr = get_transform(feat.transform)
        except SpecError as exc:
            raise SpecError(f"{where}: {exc}") from None
        if len(feat.inputs) != tr.n_inputs:
            raise SpecError(f"{where}: transform '{tr.name}' takes {tr.n_inputs} column(s), got {feat.inputs}")
        for col in feat.inputs:
            if cols[col].dtype not in tr.input_dtypes:
                raise SpecError(
                    f"{where}: transform '{tr.name}' needs a {'/'.join(tr.input_dtypes)} column, "
                    f"'{col}' is {cols[col].dtype}"
                )
        outputs += tr.outputs(feat, [cols[c] for c in feat.inputs])
    dupes = sorted({o for o in outputs if outputs.count(o) > 1})
    if dupes:
        raise SpecError(f"{source}: field 'features': output columns collide: {dupes}")


def feature_columns(spec: PipelineSpec) -> list[str]:
    """The model's input columns, in order, derived from the spec alone."""
    cols = spec.schema_.columns
    out: list[str] = []
    for feat in spec.features:
        out += get_transform(feat.transform).outputs(feat, [cols[c] for c in feat.inputs])
    return out


def build_features(df: pd.DataFrame, spec: PipelineSpec) -> pd.DataFrame:
    """Return id, time, label (when present) and every feature column; input columns are not copied over."""
    import pandas as pd

    schema = spec.schema_
    # `.array`, not `.to_numpy()`: tz-aware timestamps would become an object array of Timestamps (~1 s/1M rows).
    data: dict[str, object] = {
        schema.id_column: df[schema.id_column].array,
        schema.time_column: df[schema.time_column].array,
    }
    if spec.label.column in df.columns:
        data[spec.label.column] = df[spec.label.column].array
    cols = schema.columns
    for feat in spec.features:
        tr = get_transform(feat.transform)
        data.update(tr.fn(feat, [cols[c] for c in feat.inputs], *(df[c] for c in feat.inputs)))
    return pd.DataFrame(data, copy=False)
