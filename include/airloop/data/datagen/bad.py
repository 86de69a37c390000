"""A corpus of bad batches: the inputs a landing zone really receives, generated (never committed) per seed.

Every kind is built from one clean batch of `airloop.data.datagen.generate("fraud", ...)` and broken in one way, so a
test can say exactly what the right handling is. The same corpus feeds `airloop validate`, the feature step the DAG
runs (`steps.discover` + `steps.process`) and the integration test that lands it in a real Airflow landing zone.

Expected handling (`BadBatch.expect`):

- `good`: a clean batch, curated whole. The corpus has one (`good`), the original of the re-delivery, and
  `extra_columns`, because additive schema changes are tolerated: undeclared columns are ignored, never curated.
- `partial`: a few bad rows (at most the spec's `max_invalid_share`): those rows are quarantined with a report,
  the rest is curated.
- `rejected`: the batch cannot be trusted as a whole (unreadable, a column missing, too many bad rows): a
  byte-identical copy and a report go to quarantine, nothing is curated, no model ever trains on it.
- `duplicate`: `redelivered` has the same bytes as `good` under another name; it is recognised by content hash
  and processed once. Which of the two counts as the re-delivery is decided by processing order; `expect` assumes
  name order, the order `discover` lists them in (`bad-good` before `bad-redelivered`).

Every file name ends in `.parquet`, so the shipped spec's landing pattern (`*.parquet`) picks up every kind, the
CSV and the random bytes included.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from airloop.data.datagen import generate

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

Expect = Literal["good", "partial", "rejected", "duplicate"]
HUGE_CHARS = 5_000_000  # one 5 MB cell: big enough to hurt a report or a log line, small enough for a unit test


@dataclass(frozen=True)
class BadBatch:
    """One file of the corpus.

    Attributes:
        kind: What is wrong with it, e.g. `wrong_dtypes`; a key of `DESCRIPTIONS`.
        filename: The name to land it under, `bad-<kind>.parquet`.
        data: The file's bytes.
        expect: `good`, `partial`, `rejected` or `duplicate` (see the module docstring).
        reason: A fragment the validation report or rejection reason must contain (a column name, a phrase), so a
            test can check that the message names the problem. Empty for `good`.
    """

    kind: str
    filename: str
    data: bytes
    expect: Expect
    reason: str


# kind → (what it is, the right handling); the order is the corpus order.
DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "good": ("a clean labelled batch", "curated whole"),
    "redelivered": (
        "the same bytes as `good` under another name",
        "recognised by content hash and skipped (processed once)",
    ),
    "extra_columns": (
        "two undeclared columns added (`merchant_name`, `ip_address`)",
        "tolerated (an additive schema change): curated, the extra columns ignored",
    ),
    "wrong_dtypes": (
        "`amount` written as text with a currency, like `'12.50 EUR'`",
        "every value fails conversion to float",
    ),
    "missing_column": ("`amount` dropped", "schema-level failure"),
    "renamed_column": (
        "`merchant_category` renamed to `merchantCategory`",
        "schema-level failure naming the missing column and the undeclared one",
    ),
    "all_null_column": ("`country` null in every row", "every row fails `not_nullable`"),
    "nan_inf_storm": (
        "`amount` NaN in half the rows, ±inf in a quarter",
        "75 % of rows invalid, over `max_invalid_share` (20 %)",
    ),
    "out_of_range_rows": (
        "6 rows out of range (`amount` < 0, `hour` 24, `customer_age` 7)",
        "those rows quarantined, the rest curated",
    ),
    "out_of_range_storm": ("`customer_age` 150 in 60 % of rows", "over `max_invalid_share` (20 %)"),
    "unseen_categories": (
        "`merchant_category` `crypto_exchange` in 8 rows, `country` `ZZ` in 4",
        "those rows quarantined, the rest curated",
    ),
    "duplicate_keys": (
        "10 rows repeat an earlier `transaction_id` (a unique column)",
        "the repeats quarantined (first occurrence kept), the rest curated",
    ),
    "empty_file": ("a 0-byte file", "unreadable"),
    "zero_rows": ("a valid Parquet file with the right schema and no rows", "nothing to curate"),
    "truncated_parquet": ("the first half of a Parquet file (an interrupted upload)", "unreadable"),
    "corrupt_parquet": ("a Parquet file with 200 bytes of a data page flipped", "unreadable"),
    "csv_named_parquet": ("a CSV file named `.parquet`", "unreadable as Parquet"),
    "random_bytes": ("64 KiB of random bytes named `.parquet`", "unreadable"),
    "wrong_encoding": (
        "a Parquet string column holding Latin-1 bytes (`caf\\xe9`), not UTF-8",
        "refused on read, naming the column",
    ),
    "huge_single_row": (
        "one row whose `merchant_category` is a 5 MB string",
        "that row quarantined (examples in the report cut to 200 characters), the rest curated",
    ),
}


def _parquet(df: pd.DataFrame, **options) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False, **options)
    return buf.getvalue()


def _clean(rows: int, seed: int) -> pd.DataFrame:
    return generate("fraud", rows=rows, seed=seed)


def _wrong_dtypes(df: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    return df.assign(amount=[f"{v:.2f} EUR" for v in df["amount"]])


def _extra_columns(df: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    n = len(df)
    return df.assign(
        merchant_name=[f"merchant-{i}" for i in rng.integers(0, 500, size=n)],
        ip_address=[f"10.0.{a}.{b}" for a, b in rng.integers(0, 256, size=(n, 2))],
    )


def _all_null(df: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    import pandas as pd

    return df.assign(country=pd.array([None] * len(df), dtype="string"))


def _nan_inf(df: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    amount = df["amount"].to_numpy(dtype="float64", copy=True)
    amount[::2] = np.nan
    amount[1::8] = np.inf
    amount[3::8] = -np.inf
    return df.assign(amount=amount)


def _out_of_range_rows(df: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    df = df.copy()
    df.loc[[11, 97], "amount"] = -3.0
    df.loc[[42, 180], "hour"] = 24
    df.loc[[7, 300], "customer_age"] = 7
    return df


def _out_of_range_storm(df: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    df = df.copy()
    df.loc[rng.random(len(df)) < 0.6, "customer_age"] = 150
    return df


def _unseen_categories(df: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    df = df.copy()
    df.loc[[3, 50, 51, 120, 200, 201, 250, 399], "merchant_category"] = "crypto_exchange"
    df.loc[[60, 61, 62, 330], "country"] = "ZZ"
    return df


def _duplicate_keys(df: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    df = df.copy()
    rows = np.arange(20, 220, 20)  # 10 rows, each repeating the id of the row before it
    df.loc[rows, "transaction_id"] = df.loc[rows - 1, "transaction_id"].to_numpy()
    return df


def _huge_row(df: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    df = df.copy()
    df.loc[5, "merchant_category"] = "x" * HUGE_CHARS
    return df


def _wrong_encoding(df: pd.DataFrame) -> bytes:
    """A string column with Latin-1 bytes: what a writer that ignores encodings produces for `café`.

    pandas and pyarrow only write valid UTF-8, so the file is written with a same-length ASCII placeholder,
    uncompressed and without dictionary encoding, and the placeholder's bytes are replaced afterwards (pages carry
    no checksum by default, so the file stays readable as Parquet).
    """
    placeholder, latin1 = "cafe-0000003", "café-0000003".encode("latin-1")
    assert len(latin1) == len(placeholder.encode())
    df = df.copy()
    df.loc[3, "transaction_id"] = placeholder
    data = _parquet(df, compression=None, use_dictionary=False)
    if placeholder.encode() not in data:  # pragma: no cover - a writer that changed layout
        raise RuntimeError("wrong_encoding: the placeholder was not written verbatim")
    return data.replace(placeholder.encode(), latin1)


# kind → (the right handling, a fragment its report or reason must name); the kinds of DESCRIPTIONS, in its order.
_EXPECTATIONS: dict[str, tuple[Expect, str]] = {
    "good": ("good", ""),
    "redelivered": ("duplicate", "bad-good.parquet"),
    "extra_columns": ("good", ""),
    "wrong_dtypes": ("rejected", "amount"),
    "missing_column": ("rejected", "amount"),
    "renamed_column": ("rejected", "merchant_category"),
    "all_null_column": ("rejected", "country"),
    "nan_inf_storm": ("rejected", "amount"),
    "out_of_range_rows": ("partial", "amount"),
    "out_of_range_storm": ("rejected", "customer_age"),
    "unseen_categories": ("partial", "merchant_category"),
    "duplicate_keys": ("partial", "transaction_id"),
    "empty_file": ("rejected", "0 bytes"),
    "zero_rows": ("rejected", "no rows"),
    "truncated_parquet": ("rejected", "cannot read as Parquet"),
    "corrupt_parquet": ("rejected", "cannot read as Parquet"),
    "csv_named_parquet": ("rejected", "cannot read as Parquet"),
    "random_bytes": ("rejected", "cannot read as Parquet"),
    "wrong_encoding": ("rejected", "UTF-8"),
    "huge_single_row": ("partial", "merchant_category"),
}

# Kinds made by editing a clean frame, written as Parquet; the others are built as bytes (`_file_bytes`).
_EDITS: dict[str, Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame]] = {
    "extra_columns": _extra_columns,
    "wrong_dtypes": _wrong_dtypes,
    "missing_column": lambda df, rng: df.drop(columns=["amount"]),
    "renamed_column": lambda df, rng: df.rename(columns={"merchant_category": "merchantCategory"}),
    "all_null_column": _all_null,
    "nan_inf_storm": _nan_inf,
    "out_of_range_rows": _out_of_range_rows,
    "out_of_range_storm": _out_of_range_storm,
    "unseen_categories": _unseen_categories,
    "duplicate_keys": _duplicate_keys,
    "huge_single_row": _huge_row,
}


def _file_bytes(kind: str, clean: pd.DataFrame, rng: np.random.Generator) -> bytes:
    """The kinds that are broken as files, not as data: empty, truncated, corrupt, not Parquet, badly encoded."""
    if kind == "empty_file":
        return b""
    if kind == "zero_rows":
        return _parquet(clean.iloc[:0])
    if kind == "truncated_parquet":
        whole = _parquet(clean)
        return whole[: len(whole) // 2]
    if kind == "corrupt_parquet":
        flipped = bytearray(_parquet(clean))
        start = len(flipped) // 3  # inside the column chunks: the header magic and the footer stay intact
        flipped[start : start + 200] = bytes(b ^ 0xFF for b in flipped[start : start + 200])
        return bytes(flipped)
    if kind == "csv_named_parquet":
        return clean.to_csv(index=False).encode()
    if kind == "random_bytes":
        return rng.bytes(64 * 1024)
    if kind == "wrong_encoding":
        return _wrong_encoding(clean)
    raise AssertionError(kind)  # pragma: no cover - DESCRIPTIONS and this module disagree


def corpus(rows: int = 400, seed: int = 7) -> list[BadBatch]:
    """Every kind of bad batch, deterministic per `(rows, seed)`; in `DESCRIPTIONS` order.

    Each kind starts from its own clean batch (seed `seed * 100 + i`), so transaction ids and time ranges do not
    collide across kinds and the curated ones can be trained on together. `rows` must leave the row-level kinds
    under the shipped `max_invalid_share` (20 %) and hold the fixed row positions used: at least 400.
    """
    if rows < 400:
        raise ValueError(f"rows must be at least 400, got {rows}")
    assert list(_EXPECTATIONS) == list(DESCRIPTIONS)
    out: list[BadBatch] = []
    good = b""
    for i, kind in enumerate(DESCRIPTIONS):
        rng = np.random.default_rng([seed, i])
        clean = _clean(rows, seed * 100 + i)
        if kind == "good":
            data = good = _parquet(clean)
        elif kind == "redelivered":
            data = good
        elif kind in _EDITS:
            data = _parquet(_EDITS[kind](clean, rng))
        else:
            data = _file_bytes(kind, clean, rng)
        expect, reason = _EXPECTATIONS[kind]
        out.append(BadBatch(kind, f"bad-{kind}.parquet", data, expect, reason))
    log.debug("bad-batch corpus: %d kinds, %d bytes", len(out), sum(len(b.data) for b in out))
    return out


def markdown_table(batches: list[BadBatch], results: Mapping[str, str]) -> str:
    """The corpus as a Markdown table (kind | what it is | expected handling | result) for the reliability docs.

    Args:
        batches: The corpus (for its order and expectations).
        results: kind → what a run actually did, e.g. `validate exit 1 · DAG: rejected`; a kind missing from it
            shows `not run`, so a table never claims a result nobody observed.
    """
    lines = ["| kind | what it is | expected handling | result |", "|---|---|---|---|"]
    for b in batches:
        what, handling = DESCRIPTIONS[b.kind]
        cell = results.get(b.kind, "not run").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{b.kind}` | {what} | **{b.expect}**: {handling} | {cell} |")
    return "\n".join(lines) + "\n"
