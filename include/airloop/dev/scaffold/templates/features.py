"""Custom feature functions of the pipeline
$name.

The spec references a function here as `transform: "MODULE:FUNCTION"`, e.g.
"$module:missing_count".

airloop imports this module with the spec's directory on the Python path for the import only: at every DAG parse
and `airloop check` (a module that fails to import breaks only this pipeline), and when it builds features (the
feature task, training, drift checks). So the module's name must be unique (hence the pipeline's name in it),
helper modules next to it must be imported at the top of this file, not inside functions, and its import-time
code must stay cheap: import heavy libraries (numpy, pandas) inside the functions that use them.

The contract: `fn(df: pd.DataFrame, **params) -> pd.Series | pd.DataFrame`
- `df` holds the feature's `column`/`columns` from the spec (every schema column but the label when it names
  none), one row per batch row, on a 0..n-1 index; `params` are the feature's `params`.
- Return one number per row: a Series is one model column named after the feature; a DataFrame is several,
  declared with `@outputs(...)` (model columns `<feature>__<column>`). Booleans become 0/1 and NaN means missing
  (XGBoost handles it); text, infinities, a wrong length or an index that is not df's are refused.
- The same code runs on training and on scoring batches: never read the label, and remember that a batch is
  not the whole history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the DAG parse imports this module and must not pay for pandas
    import pandas as pd


def missing_count(df: pd.DataFrame) -> pd.Series:
    """How many of the row's inputs are missing: gaps in upstream data often carry signal of their own."""
    return df.isna().sum(axis=1)


# Several columns from one function: declare them, and return a DataFrame with exactly those columns.
#
# from airloop import outputs
#
# @outputs("sin", "cos")
# def day_of_year(df: pd.DataFrame, period: float = 365.25) -> pd.DataFrame:
#     import numpy as np
#     import pandas as pd
#
#     angle = df.iloc[:, 0].dt.dayofyear * (2 * np.pi / period)
#     return pd.DataFrame({"sin": np.sin(angle), "cos": np.cos(angle)})
#
# used in the spec as
#   - name: season
#     transform: "MODULE:day_of_year"
#     column: event_time
#     params: {period: 365.25}
