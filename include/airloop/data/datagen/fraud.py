"""Card transactions with a hidden fraud rule (~1–3 % positives).

`covariate` drift shifts the inputs (bigger amounts, more online and foreign spending, more night-time activity);
`concept` drift keeps the inputs but changes who commits fraud (card-present travel and fuel fraud near home),
so a model trained before it loses precision without any input shift.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CATEGORIES = [
    "grocery",
    "restaurants",
    "fuel",
    "travel",
    "electronics",
    "online_retail",
    "entertainment",
    "health",
    "jewelry",
    "gaming",
]
COUNTRIES = ["US", "GB", "DE", "FR", "ES", "IT", "NL", "BR", "IN", "NG", "MX", "CN"]
_CAT_P = np.array([0.22, 0.16, 0.12, 0.06, 0.08, 0.14, 0.07, 0.07, 0.03, 0.05])
_CAT_P_SHIFT = np.array([0.12, 0.10, 0.08, 0.10, 0.12, 0.22, 0.07, 0.05, 0.06, 0.08])
_COUNTRY_P = np.array([0.55, 0.08, 0.07, 0.06, 0.04, 0.04, 0.03, 0.03, 0.03, 0.02, 0.03, 0.02])
_COUNTRY_P_SHIFT = np.array([0.35, 0.08, 0.07, 0.06, 0.05, 0.05, 0.04, 0.06, 0.07, 0.06, 0.06, 0.05])
_RISKY_CATS = np.isin(CATEGORIES, ["electronics", "online_retail", "jewelry", "gaming"])
_RISKY_COUNTRIES = np.isin(COUNTRIES, ["NG", "BR", "CN", "MX"])
# Chosen so that positives are ~2 % and a good model reaches a PR-AUC well above the base rate.
SHARPNESS = 3.0
INTERCEPT = -14.2
CONCEPT_INTERCEPT = -14.5


def generate(
    *, rows: int, seed: int, drift: str = "none", labels: bool = True, start: str | None = None
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    shifted = drift == "covariate"
    n = rows
    t0 = pd.Timestamp(start) if start else pd.Timestamp("2026-01-01") + pd.Timedelta(days=int(seed) % 3650)
    if t0.tzinfo is None:
        t0 = t0.tz_localize("UTC")
    hour_p = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 4, 4.5, 5, 5.5, 5, 4.5, 4.5, 5, 5.5, 6, 6, 5, 4, 3, 2])
    if shifted:
        hour_p[:6] *= 3.0
    hour = rng.choice(24, size=n, p=hour_p / hour_p.sum())
    seconds = hour * 3600 + rng.integers(0, 3600, size=n)
    event_time = t0 + pd.to_timedelta(np.sort(seconds), unit="s")
    hour = event_time.hour.to_numpy()  # clock hour, also when `start` is not midnight

    cat_idx = rng.choice(len(CATEGORIES), size=n, p=_CAT_P_SHIFT if shifted else _CAT_P)
    country_idx = rng.choice(len(COUNTRIES), size=n, p=_COUNTRY_P_SHIFT if shifted else _COUNTRY_P)
    amount = np.round(rng.lognormal(mean=3.6 + (0.5 if shifted else 0.0), sigma=1.1, size=n), 2)
    amount = np.minimum(amount, 49_999.0)
    online = np.isin(np.array(CATEGORIES)[cat_idx], ["online_retail", "gaming"])
    card_present = ~online & (rng.random(n) < (0.80 if shifted else 0.88))
    customer_age = np.clip(rng.normal(44, 15, size=n).round(), 18, 95).astype("int64")
    distance = rng.exponential(8.0, size=n) + np.where(
        _RISKY_COUNTRIES[country_idx] | (country_idx > 0), rng.exponential(900.0, size=n), 0.0
    )
    distance = np.round(distance, 1)
    distance_missing = rng.random(n) < 0.02  # location sometimes unavailable
    txn_count = rng.poisson(3.0 + (1.5 if shifted else 0.0), size=n).astype("int64")
    account_age = rng.integers(1, 6000, size=n).astype("int64")

    df = pd.DataFrame(
        {
            "transaction_id": pd.array([f"t{seed}-{i:08d}" for i in range(n)], dtype="string"),
            "event_time": event_time,
            "amount": amount,
            "merchant_category": pd.array(np.array(CATEGORIES)[cat_idx], dtype="string"),
            "country": pd.array(np.array(COUNTRIES)[country_idx], dtype="string"),
            "hour": hour.astype("int64"),
            "card_present": card_present,
            "customer_age": customer_age,
            "distance_from_home_km": pd.array(np.where(distance_missing, np.nan, distance), dtype="Float64"),
            "txn_count_24h": txn_count,
            "account_age_days": account_age,
        }
    )
    if labels:
        df["is_fraud"] = _label(rng, df, cat_idx, country_idx, concept=drift == "concept")
    return df


def _label(rng, df: pd.DataFrame, cat_idx, country_idx, *, concept: bool) -> np.ndarray:
    amount = df["amount"].to_numpy()
    night = df["hour"].to_numpy() < 6
    present = df["card_present"].to_numpy()
    dist = np.nan_to_num(df["distance_from_home_km"].to_numpy(dtype="float64", na_value=0.0))
    velocity = df["txn_count_24h"].to_numpy()
    young_account = df["account_age_days"].to_numpy() < 90
    if not concept:
        signal = (
            0.55 * np.log1p(amount / 100)
            + 1.4 * _RISKY_CATS[cat_idx]
            + 1.1 * ~present
            + 0.9 * night
            + 0.5 * np.log1p(dist / 500)
            + 0.9 * _RISKY_COUNTRIES[country_idx]
            + 0.18 * velocity
            + 0.8 * young_account
        )
        z = INTERCEPT + SHARPNESS * signal
    else:
        travel_fuel = np.isin(np.array(CATEGORIES)[cat_idx], ["travel", "fuel", "restaurants"])
        signal = (
            0.4 * np.log1p(amount / 100)
            + 1.8 * travel_fuel
            + 1.0 * present
            - 0.6 * np.log1p(dist / 500)
            + 0.7 * ~night
            + 0.12 * velocity
            - 0.5 * _RISKY_COUNTRIES[country_idx]
        )
        z = CONCEPT_INTERCEPT + SHARPNESS * signal
    z = z + rng.normal(0, 0.3, size=len(z))  # label noise: the rule is learnable, not perfectly
    return (rng.random(len(z)) < 1 / (1 + np.exp(-z))).astype("int64")
