"""A Parquet file seen as a table whose columns are read one at a time.

`compare()` only ever needs one column of each side at once, so handing it `ParquetColumns` instead of a DataFrame
keeps peak memory at about one column per side (10M rows × 20 columns stays well under 2 GB) instead of both
whole tables.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from airloop.errors import DataError, first_line


class ParquetColumns:
    """Read-only, column-at-a-time view of a Parquet file with the parts of the DataFrame API `compare` uses."""

    def __init__(self, path: str | Path):
        import pyarrow.parquet as pq

        self.path = Path(path)
        try:
            self._file = pq.ParquetFile(self.path)
            schema = self._file.schema_arrow
        except FileNotFoundError:
            raise DataError(f"{self.path}: no such file") from None
        except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
            raise DataError(f"{self.path}: cannot read as Parquet: {first_line(exc)}") from None
        self.columns = pd.Index(schema.names)
        self.dtypes = schema.empty_table().to_pandas().dtypes  # dtypes without reading a row

    def __len__(self) -> int:
        return self._file.metadata.num_rows

    def __getitem__(self, name: str) -> pd.Series:
        if name not in self.columns:
            raise KeyError(name)
        return self._file.read(columns=[name]).column(0).to_pandas().rename(name)
