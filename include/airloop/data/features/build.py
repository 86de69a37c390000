"""Build the model's feature frame from a validated batch, as the spec says."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airloop.data.features import custom
from airloop.data.features.registry import get_transform
from airloop.errors import SpecError

if TYPE_CHECKING:
    import pandas as pd

    from airloop.spec import FeatureSpec, PipelineSpec


def check_features(spec: PipelineSpec, source: str = "<spec>") -> None:
    """Fail at spec load time if a feature names an unknown transform or feeds it the wrong column kind.

    Custom functions (`module:function`) are only checked for syntax here and imported when first used (see
    `airloop.data.features.custom` for why); their directory is remembered from `source` so the import finds modules
    that sit next to the spec.
    """
    custom.remember_spec_dir(spec.name, source)
    cols = spec.schema_.columns
    outputs: list[str] = []
    for i, feat in enumerate(spec.features):
        where = f"{source}: field 'features.{i}' ({feat.name})"
        if custom.is_custom(feat.transform):
            try:
                custom.parse_reference(feat.transform)
            except SpecError as exc:
                raise SpecError(f"{where}: {exc}") from None
            continue  # any columns, any dtypes: the function's own business; its outputs are known once imported
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


def feature_outputs(spec: PipelineSpec, feat: FeatureSpec) -> list[str]:
    """The model columns one feature makes (several for one-hot, say): what leaving it out of a model removes."""
    if custom.is_custom(feat.transform):
        return custom.output_columns(feat, custom.function_for(feat, spec.name))
    cols = spec.schema_.columns
    return get_transform(feat.transform).outputs(feat, [cols[c] for c in feat.inputs])


def _no_collisions(spec: PipelineSpec, names: list[str]) -> None:
    """Custom outputs are only known once imported: a clash with another feature or a role column shows here."""
    roles = [c for c in (spec.schema_.id_column, spec.schema_.time_column, spec.label.column) if c]
    dupes = sorted({n for n in names if names.count(n) > 1 or n in roles})
    if dupes:
        raise custom.FeatureError(
            f"pipeline '{spec.name}': feature output columns collide with each other or with the id, time or "
            f"label column: {dupes}"
        )


def feature_columns(spec: PipelineSpec) -> list[str]:
    """The model's input columns, in order, derived from the spec alone (custom functions are imported for this)."""
    out: list[str] = []
    for feat in spec.features:
        out += feature_outputs(spec, feat)
    if any(custom.is_custom(f.transform) for f in spec.features):
        _no_collisions(spec, out)
    return out


SLICE_PREFIX = "slice__"


def slice_column(column: str) -> str:
    """The curated column carrying raw `column` for fairness slices (never a model input)."""
    return f"{SLICE_PREFIX}{column}"


def custom_input(df: pd.DataFrame, spec: PipelineSpec, feat: FeatureSpec) -> pd.DataFrame:
    """What a custom function gets: its declared columns, or (declaring none) every schema column but the label."""
    names = feat.inputs or [c for c in spec.schema_.columns if c in df.columns and c != spec.label.column]
    return df[names]


def build_features(df: pd.DataFrame, spec: PipelineSpec) -> pd.DataFrame:
    """Return id, time (when the schema has one), label (when present), every feature column, and the raw
    columns that fairness slices group by (`slice__<column>`).

    Other input columns are not copied over.
    """
    import pandas as pd

    schema = spec.schema_
    # `.array`, not `.to_numpy()`: tz-aware timestamps would become an object array of Timestamps (~1 s/1M rows).
    data: dict[str, object] = {schema.id_column: df[schema.id_column].array}
    if schema.time_column:
        data[schema.time_column] = df[schema.time_column].array
    if spec.label.column in df.columns:
        data[spec.label.column] = df[spec.label.column].array
    cols = schema.columns
    names: list[str] = []
    for feat in spec.features:
        if custom.is_custom(feat.transform):
            fn = custom.function_for(feat, spec.name)
            out = custom.run_function(feat, fn, custom_input(df, spec, feat))
        else:
            tr = get_transform(feat.transform)
            out = tr.fn(feat, [cols[c] for c in feat.inputs], *(df[c] for c in feat.inputs))
        names += list(out)
        data.update(out)
    if any(custom.is_custom(f.transform) for f in spec.features):
        _no_collisions(spec, names)
    # Fairness slices judge the model per group of a raw column (country, age): curated data keeps those columns,
    # under their own prefix so that no feature, drift check or signature ever takes them for model inputs.
    for column in sorted({cut.column for cut in spec.slices.by} if spec.slices else ()):
        if column in df.columns:
            data[slice_column(column)] = df[column].array
    return pd.DataFrame(data, copy=False)
