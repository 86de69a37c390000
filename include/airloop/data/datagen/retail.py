"""Retail demand: units sold per store-day, the regression counterpart of the fraud generator.

Demand is a multiplicative function of the drivers a merchandiser would name: store type and size, price
(elasticity -1.6), promotion (+50 %), weekday and holiday, warm weather (up) and rain (down), with
negative-binomial noise, so the error grows with the level as real counts do.

A batch holds `rows` store-days over consecutive days from a seed-dependent start, 20 of the chain's 25 stores per
day (stores reporting late are the missing five). The store table is fixed across seeds, as a real chain's is:
only which stores report, and their daily conditions, vary.

`covariate` drift moves the inputs and keeps the demand function: prices up 15 %, promotions more than twice as
frequent, a hotter, drier climate (+5 °C, rain on 20 % of days instead of 35 %) and a convenience-heavy store mix;
seven of the ten input columns (and of the retail spec's thirteen features) drift clearly, even on 1,000 rows.

`concept` drift keeps the inputs (identical to `none` for the same seed) and changes the demand function: shoppers
grow twice as price-sensitive, promotions and holidays stop lifting sales and the weekend peak turns into a dip
(the big shop moved online), so a model trained before it mispredicts without any input shift.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STORE_TYPES = ["hypermarket", "supermarket", "convenience"]
REGIONS = ["north", "south", "east", "west", "central"]
N_STORES = 25
STORES_PER_DAY = 20
STORE_IDS = [f"S{i + 1:02d}" for i in range(N_STORES)]
# Month-day pairs of the public holidays (fixed dates only: no moving feasts, so the calendar is seed-free).
HOLIDAYS = [(1, 1), (1, 6), (5, 1), (8, 15), (10, 3), (11, 1), (12, 24), (12, 25), (12, 26), (12, 31)]

REF_PRICE = 3.0  # unit price at which the demand function's base level holds
_TYPE_BASE = np.array([420.0, 160.0, 45.0])  # units a store of the reference size sells on a plain day
_TYPE_REF_SQM = np.array([8000.0, 2500.0, 300.0])
_TYPE_MARKUP = np.array([0.95, 1.0, 1.2])  # convenience stores charge more
_REGION_TEMP = np.array([-4.0, 4.0, 0.0, 1.0, -1.0])  # offset from the chain's seasonal mean temperature
_MIX_SHIFT = np.array([0.3, 1.0, 5.0])  # covariate drift: weight of each store type in the daily sample

# The demand function as (before, after) pairs: `concept` drift takes the second of each.
ELASTICITY = (-1.6, -3.2)
PROMO_UPLIFT = (0.50, 0.0)
HOLIDAY_UPLIFT = (0.40, 0.0)
WEEKDAY_FACTOR = (  # Monday = 0; after the concept change, the weekend big shop has moved online
    np.array([0.9, 0.9, 0.95, 1.0, 1.15, 1.35, 1.2]),
    np.array([1.05, 1.05, 1.05, 1.05, 1.0, 0.8, 0.7]),
)
TEMP_EFFECT = 0.01  # per °C above 15 °C, multiplicative: enough to matter, too little to swamp the RMSE by season
RAIN_EFFECT = -0.025  # per mm, multiplicative
NB_SHAPE = 40.0  # negative-binomial dispersion: sd = sqrt(mu + mu²/40)


def _store_table() -> dict[str, np.ndarray]:
    """The chain: 5 hypermarkets, 10 supermarkets, 10 convenience stores, generated once from a fixed seed.

    Every batch sees the same stores with the same attributes, so `store_id` means the same thing across batches;
    `effect` is the part of a store's level its attributes do not explain (location, competition), learnable only
    through `store_id`.
    """
    rng = np.random.default_rng(20_260_101)
    type_idx = np.repeat([0, 1, 2], [5, 10, 10])
    rng.shuffle(type_idx)
    size = np.round(_TYPE_REF_SQM[type_idx] * rng.uniform(0.6, 1.5, size=N_STORES), 0)
    return {
        "type": type_idx,
        "size": size,
        "region": rng.integers(0, len(REGIONS), size=N_STORES),
        "effect": rng.lognormal(0.0, 0.2, size=N_STORES),
    }


STORES = _store_table()


def generate(
    *, rows: int, seed: int, drift: str = "none", labels: bool = True, start: str | None = None
) -> pd.DataFrame:
    """`rows` store-days from `start` (a date; a time of day is dropped) or a seed-dependent day in 2026–2035."""
    rng = np.random.default_rng(seed)
    shifted = drift == "covariate"
    n = rows
    t0 = pd.Timestamp(start) if start else pd.Timestamp("2026-01-01") + pd.Timedelta(days=int(seed) % 3650)
    t0 = (t0.tz_localize("UTC") if t0.tzinfo is None else t0.tz_convert("UTC")).normalize()
    n_days = -(-n // STORES_PER_DAY)
    days = pd.date_range(t0, periods=n_days, freq="D")

    # Which stores report each day: a weighted sample without replacement (Gumbel top-k), sorted by store.
    weights = _MIX_SHIFT[STORES["type"]] if shifted else np.ones(N_STORES)
    keys = np.log(weights)[None, :] + rng.gumbel(size=(n_days, N_STORES))
    chosen = np.sort(np.argsort(-keys, axis=1)[:, :STORES_PER_DAY], axis=1)
    store = chosen.ravel()[:n]
    day = np.repeat(np.arange(n_days), STORES_PER_DAY)[:n]

    date = days[day]
    weekday = days.day_of_week.to_numpy()[day]
    month_day = list(zip(days.month, days.day, strict=True))
    holiday = np.array([md in HOLIDAYS for md in month_day], dtype=bool)[day]
    stype, region = STORES["type"][store], STORES["region"][store]

    promo = rng.random(n) < (0.35 if shifted else 0.15)
    price = REF_PRICE * _TYPE_MARKUP[stype] * rng.lognormal(0.0, 0.12, size=n) * np.where(promo, 0.9, 1.0)
    price = np.round(price * (1.15 if shifted else 1.0), 2)
    season = np.sin(2 * np.pi * (days.day_of_year.to_numpy()[day] - 110) / 365.25)
    temperature = 12.0 + 10.0 * season + _REGION_TEMP[region] + rng.normal(0.0, 2.5, size=n) + (5.0 if shifted else 0)
    rain = np.where(rng.random(n) < (0.2 if shifted else 0.35), rng.gamma(0.8, 8.0, size=n), 0.0)
    rain_missing = rng.random(n) < 0.03  # the weather feed has gaps; the shoppers still got wet

    day_ids = np.char.add("-", days.strftime("%Y%m%d").to_numpy().astype(str))
    df = pd.DataFrame(
        {
            "row_id": pd.array(np.char.add(np.array(STORE_IDS)[store], day_ids[day]), dtype="string"),
            "date": date,
            "store_id": pd.array(np.array(STORE_IDS)[store], dtype="string"),
            "store_type": pd.array(np.array(STORE_TYPES)[stype], dtype="string"),
            "store_size_sqm": STORES["size"][store],
            "region": pd.array(np.array(REGIONS)[region], dtype="string"),
            "price": price,
            "promo": promo,
            "weekday": weekday.astype("int64"),
            "holiday": holiday,
            "temperature_c": np.round(temperature, 1),
            "rain_mm": pd.array(np.where(rain_missing, np.nan, np.round(rain, 1)), dtype="Float64"),
        }
    )
    if labels:
        mu = expected_units(df, rain=np.round(rain, 1), concept=drift == "concept")
        lam = mu * rng.gamma(NB_SHAPE, 1.0 / NB_SHAPE, size=n)
        df["units_sold"] = rng.poisson(lam).astype("int64")
    return df


def expected_units(df: pd.DataFrame, *, rain: np.ndarray | None = None, concept: bool = False) -> np.ndarray:
    """Mean units sold per row: the noise-free demand function, public so tests can check what labels follow.

    `rain` overrides the column, whose gaps hide rain that still fell (the generator passes the true amounts).
    """
    k = 1 if concept else 0
    store = pd.Index(STORE_IDS).get_indexer(df["store_id"].astype(object))
    stype = STORES["type"][store]
    size = df["store_size_sqm"].to_numpy(dtype="float64")
    base = _TYPE_BASE[stype] * np.sqrt(size / _TYPE_REF_SQM[stype]) * STORES["effect"][store]
    if rain is None:
        rain = df["rain_mm"].to_numpy(dtype="float64", na_value=0.0)
    return (
        base
        * (df["price"].to_numpy(dtype="float64") / REF_PRICE) ** ELASTICITY[k]
        * (1.0 + PROMO_UPLIFT[k] * df["promo"].to_numpy(dtype="float64"))
        * (1.0 + HOLIDAY_UPLIFT[k] * df["holiday"].to_numpy(dtype="float64"))
        * WEEKDAY_FACTOR[k][df["weekday"].to_numpy()]
        * np.exp(TEMP_EFFECT * (df["temperature_c"].to_numpy(dtype="float64") - 15.0))
        * np.exp(RAIN_EFFECT * rain)
    )
