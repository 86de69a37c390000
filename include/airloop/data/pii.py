"""Personal data: a spec's `pii: drop | hash` columns, applied to a validated batch before anything is curated.

Exports `apply` (drop or hash a batch's personal columns), `keyed_hash` (one value), `require_key` (the clear
refusal when a spec hashes and no key was given) and `mask_report` (personal values out of a validation report).

A hash is HMAC-SHA256 of the value's text (an int as its decimal digits), keyed with the deployment's secret, as
64 hex characters: the same value and key always give the same hash, so ids stay joinable across batches, while
without the key nobody can test a guess (an unkeyed hash of an email address is only a lookup away from it). The
key comes from the deployment (`Settings.pii_key`), never from the spec, which is committed with the code.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Any

from airloop.errors import AirloopError

if TYPE_CHECKING:
    import pandas as pd

    from airloop.data.validation import ValidationReport
    from airloop.spec import PipelineSpec

MASK = "<pii>"
KEY_HELP = (
    "set AIRLOOP_PII_KEY in the environment, or the password of the Airflow connection airloop_pii "
    "(the compose stack reads AIRLOOP_PII_KEY from .env; make one with "
    '`python -c "import secrets; print(secrets.token_hex(32))"`)'
)


def pii_columns(spec: PipelineSpec) -> dict[str, str]:
    """`{column: "drop" | "hash"}` for the spec's personal columns, in schema order."""
    return {name: col.pii for name, col in spec.schema_.columns.items() if col.pii is not None}


def require_key(spec: PipelineSpec, key: str | None) -> None:
    """Refuse a spec that hashes personal data when no key was given (nothing is read or written then)."""
    hashed = [name for name, rule in pii_columns(spec).items() if rule == "hash"]
    if hashed and not key:
        raise AirloopError(
            f"pipeline '{spec.name}' hashes personal data ({', '.join(hashed)}: pii: hash) but no key was given: "
            f"{KEY_HELP}. The batch stays in the landing zone and is processed once the key is there."
        )


def keyed_hash(value: Any, key: str) -> str:
    """HMAC-SHA256 of `str(value)` keyed with `key` (both UTF-8), as 64 hex characters."""
    return hmac.digest(key.encode(), str(value).encode(), hashlib.sha256).hex()


def apply(df: pd.DataFrame, spec: PipelineSpec, key: str | None) -> pd.DataFrame:
    """The batch with `drop` columns removed and `hash` columns replaced by keyed hashes (nulls stay null).

    Hashed columns become strings, whatever they were. A spec without personal columns gets `df` back as it is.
    """
    import numpy as np
    import pandas as pd

    rules = pii_columns(spec)
    if not rules:
        return df
    require_key(spec, key)
    hashed = {}
    for name in (n for n, rule in rules.items() if rule == "hash" and n in df.columns):
        s = df[name]
        present = s.notna().to_numpy()
        codes, uniques = pd.factorize(s[present])  # each distinct value hashed once
        digests = np.array([keyed_hash(v, key or "") for v in uniques], dtype=object)  # key: checked above
        out = np.full(len(s), None, dtype=object)
        out[present] = digests[codes]
        hashed[name] = pd.Series(out, index=s.index, dtype=pd.StringDtype())
    dropped = [n for n, rule in rules.items() if rule == "drop" and n in df.columns]
    return df.drop(columns=dropped).assign(**hashed)


def mask_report(report: ValidationReport, spec: PipelineSpec) -> ValidationReport:
    """Replace example values of personal columns in a validation report by `<pii>`, in place; returns it.

    Failures not tied to one column (frame-wide checks) can carry any column's values: they are masked too when
    the spec has personal data. Null examples stay null (a missing value tells nothing about anyone); counts stay.
    """
    rules = pii_columns(spec)
    if not rules:
        return report
    for failure in report.failures:
        if failure.column is None or failure.column in rules:
            failure.examples = [None if v is None else MASK for v in failure.examples]
    return report
