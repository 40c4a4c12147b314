"""Energy baselines of public buildings, their anomalies, and the décret tertiaire trajectory.

Pure functions on pandas, one row per Europe/Paris day (index: naive dates), so the job
(`analytics/jobs/energy.py`), the tests and the scored simulation share them.

The baseline of a building is a linear model of its daily energy (gas + electricity, kWh)
with one intercept and one heating-degree-day slope per kind of day:

    E = a + a_unocc·U + a_closed·C + (b + b_unocc·U + b_closed·C)·HDD

U: the building is not used that day (no occupant counted), C: it is closed for school
holidays (a school in a holiday of `calendar_fr`: frost protection rather than setback).
HDD = max(0, 18 °C − daily mean outdoor temperature) within the heating season (1 October to
15 May, the communal heating period), 0 outside it. The fit is ordinary least squares,
trimmed twice of days beyond 3 σ so that a past fault does not bend the baseline.

Fit quality follows ASHRAE Guideline 14-2014: CV(RMSE) = sqrt(Σr²/(n−p)) / ȳ and
NMBE = Σr / ((n−p)·ȳ) with r = y − ŷ and p the model's parameters. A calibrated model has
|NMBE| ≤ 5 % and CV(RMSE) ≤ 15 % on monthly data, ≤ 10 % and ≤ 30 % on hourly data;
Guideline 14 gives no daily bound, daily models are usually held to the hourly ones
(`DAILY_CVRMSE_MAX`, `DAILY_NMBE_MAX`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest

from devices.simulators.calendar_fr import SchoolCalendar

HEATING_BASE_C = 18.0
HEATING_SEASON = ((10, 1), (5, 15))  # (month, day) first and last day of the heating period
DAILY_CVRMSE_MAX = 0.30
DAILY_NMBE_MAX = 0.10
# Décret tertiaire (décret n° 2019-771): final energy reduction relative to the reference year.
DECRET_TARGETS = {2030: 0.40, 2040: 0.50, 2050: 0.60}
DECRET_FIRST_REFERENCE = 2010  # the reference year may not be earlier than 2010

OVER = "surconsommation"  # standardised residual beyond k σ for n days
DRIFT = "derive"  # CUSUM of the residuals: a lasting over- (or under-) consumption
FREEZE = "index_fige"  # the indexes stop moving while the building should consume
PROFILE = "profil_atypique"  # IsolationForest on the daily profile features
KINDS = (OVER, DRIFT, FREEZE, PROFILE)


@dataclass(frozen=True, slots=True)
class EnergySettings:
    """Detection thresholds; built from any mapping (a building's `energy` metadata)."""

    k_sigma: float = 3.0  # a day beyond k σ of the baseline…
    n_days: int = 1  # …for n days in a row
    cusum_k: float = 0.5  # allowance, in σ a day
    cusum_h: float = 5.0  # decision interval, in σ
    freeze_days: int = 1  # days of unmoving indexes while consumption is expected
    isolation_contamination: float = 0.02
    isolation_min_days: int = 60  # the forest needs history to learn a profile
    reference_year: int | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, object] | None,
                     base: EnergySettings | None = None) -> EnergySettings:
        base = base or cls()
        known = {k: v for k, v in (values or {}).items() if k in cls.__dataclass_fields__}
        merged = {k: getattr(base, k) for k in cls.__dataclass_fields__} | known
        return cls(**merged)  # type: ignore[arg-type]


# --- inputs ----------------------------------------------------------------------------------
def in_heating_season(days: pd.DatetimeIndex) -> np.ndarray:
    (m0, d0), (m1, d1) = HEATING_SEASON
    key = days.month * 100 + days.day
    return np.asarray((key >= m0 * 100 + d0) | (key <= m1 * 100 + d1))


def degree_days(outdoor_c: pd.Series, base_c: float = HEATING_BASE_C) -> pd.Series:
    """Heating degree days of each day from its mean outdoor temperature, 0 out of season."""
    hdd = (base_c - outdoor_c).clip(lower=0.0)
    return hdd.where(in_heating_season(pd.DatetimeIndex(outdoor_c.index)), 0.0)


def seasonal_normal_c(days: pd.DatetimeIndex, mean_c: float = 8.5,
                      amplitude_c: float = 8.0) -> pd.Series:
    """A seasonal normal temperature (coldest mid-January): the fallback when no outdoor
    sensor reports. Crude: it models the season, not the weather of the day."""
    phase = 2 * np.pi * (days.day_of_year - 15) / 365.25
    return pd.Series(mean_c - amplitude_c * np.cos(phase), index=days)


def day_types(days: pd.DatetimeIndex, occupied: pd.Series, *, closes_for_school: bool,
              calendar: SchoolCalendar | None = None) -> pd.DataFrame:
    """Per day: `unoccupied` (no occupant) and `closed` (unoccupied during school holidays,
    for a building that closes then)."""
    calendar = calendar or SchoolCalendar("A")
    occ = occupied.reindex(days).fillna(False).astype(bool)
    holiday = pd.Series([calendar.school_holiday(d.date()) is not None for d in days], index=days)
    unoccupied = ~occ
    closed = unoccupied & holiday if closes_for_school else pd.Series(False, index=days)
    return pd.DataFrame({"unoccupied": unoccupied.astype(float), "closed": closed.astype(float)})


# --- the baseline ----------------------------------------------------------------------------
FEATURES = ("intercept", "unoccupied", "closed", "hdd", "hdd_unoccupied", "hdd_closed")


def design(hdd: pd.Series, types: pd.DataFrame) -> pd.DataFrame:
    u, c = types["unoccupied"], types["closed"]
    return pd.DataFrame({"intercept": 1.0, "unoccupied": u, "closed": c, "hdd": hdd,
                         "hdd_unoccupied": hdd * u, "hdd_closed": hdd * c}, index=hdd.index)


@dataclass(frozen=True, slots=True)
class Baseline:
    coefficients: dict[str, float]
    sigma: float  # residual standard deviation, kWh/day
    cv_rmse: float
    nmbe: float
    n: int
    days_used: int = 0
    excluded: list[pd.Timestamp] = field(default_factory=list)

    @property
    def calibrated(self) -> bool:
        return self.cv_rmse <= DAILY_CVRMSE_MAX and abs(self.nmbe) <= DAILY_NMBE_MAX

    def predict(self, x: pd.DataFrame) -> pd.Series:
        beta = np.array([self.coefficients[f] for f in FEATURES])
        return pd.Series(x[list(FEATURES)].to_numpy() @ beta, index=x.index)

    def heating(self, x: pd.DataFrame) -> pd.Series:
        """The weather-driven part of the prediction (the HDD terms)."""
        terms = ("hdd", "hdd_unoccupied", "hdd_closed")
        return sum((x[t] * self.coefficients[t] for t in terms), pd.Series(0.0, index=x.index))


def cv_rmse(y: np.ndarray, y_hat: np.ndarray, p: int) -> float:
    """ASHRAE Guideline 14 CV(RMSE): sqrt(Σ(y−ŷ)²/(n−p)) / mean(y)."""
    n = len(y)
    return float(np.sqrt(np.sum((y - y_hat) ** 2) / (n - p)) / np.mean(y))


def nmbe(y: np.ndarray, y_hat: np.ndarray, p: int) -> float:
    """ASHRAE Guideline 14 NMBE: Σ(y−ŷ) / ((n−p)·mean(y)) (positive: the model under-predicts)."""
    n = len(y)
    return float(np.sum(y - y_hat) / ((n - p) * np.mean(y)))


def fit_baseline(energy: pd.Series, x: pd.DataFrame, *, trim_sigma: float = 3.0,
                 rounds: int = 2) -> Baseline:
    """Least squares of daily energy on the design `x`, trimming outlying days and refitting."""
    data = x.join(energy.rename("y"), how="inner").dropna()
    return _fit(data[list(FEATURES)].to_numpy(), data["y"].to_numpy(), list(data.index),
                trim_sigma=trim_sigma, rounds=rounds)


def _fit(a: np.ndarray, y: np.ndarray, days: Sequence[pd.Timestamp], *, trim_sigma: float = 3.0,
         rounds: int = 2) -> Baseline:
    """`fit_baseline` on arrays: `a` the design's rows (FEATURES order), `y` their energy."""
    keep = np.ones(len(y), dtype=bool)
    beta = np.zeros(len(FEATURES))
    for i in range(rounds + 1):
        beta, *_ = np.linalg.lstsq(a[keep], y[keep], rcond=None)
        r = y - a @ beta
        sd = float(np.std(r[keep], ddof=1)) if keep.sum() > 2 else 0.0
        if i == rounds or sd == 0:
            break
        keep = np.abs(r) <= trim_sigma * sd
    support = a[keep].any(axis=0)  # columns with data (no closed days: those terms drop out)
    p = max(1, int(np.linalg.matrix_rank(a[keep][:, support])))
    y_hat = a @ beta
    n = int(keep.sum())
    sigma = float(np.sqrt(np.sum((y[keep] - y_hat[keep]) ** 2) / max(1, n - p)))
    return Baseline(coefficients=dict(zip(FEATURES, map(float, beta), strict=True)),
                    sigma=sigma, cv_rmse=cv_rmse(y[keep], y_hat[keep], p),
                    nmbe=nmbe(y[keep], y_hat[keep], p), n=n, days_used=len(y),
                    excluded=[days[j] for j in np.flatnonzero(~keep).tolist()])


# --- anomalies -------------------------------------------------------------------------------
def unreliable_days(deltas: pd.Series, frozen: pd.Series) -> pd.Series:
    """Days whose consumption is not the day's own: missing, frozen, or the catch-up day after
    a gap or freeze (the consumption lands where the meter is read again), and the partial day
    before a freeze."""
    missing = deltas.isna()
    bad = missing | frozen
    after = bad.shift(1, fill_value=False) & ~bad
    before = frozen.shift(-1, fill_value=False) & ~bad
    return bad | after | before


def runs(flags: pd.Series, n: int) -> pd.Series:
    """Days that belong to a run of at least n flagged days in a row."""
    group = (flags != flags.shift()).cumsum()
    length = flags.groupby(group).transform("size")
    return flags & (length >= n)


def residual_flags(z: pd.Series, k: float, n: int) -> pd.Series:
    """Standardised residuals beyond +k σ (over-consumption) for n days in a row."""
    return runs((z > k).fillna(False), n)


def cusum(z: pd.Series, k: float = 0.5, h: float = 5.0) -> pd.DataFrame:
    """Tabular CUSUM of standardised residuals (Page): `high` accumulates over-consumption,
    `low` under-consumption; `alarm` is +1/−1 while a sum is beyond h. Unreliable days (NaN) are skipped."""
    high = low = 0.0
    rows = []
    for value in z.to_numpy():
        if not np.isnan(value):
            # Once signalled, a sum restarts as soon as the residual crosses the baseline:
            # the anomaly is over, and its alert should clear without waiting for the sum to
            # drain at k a day.
            high = 0.0 if high > h and value < 0 else max(0.0, high + value - k)
            low = 0.0 if low > h and value > 0 else max(0.0, low - value - k)
        rows.append((high, low, 1 if high > h else (-1 if low > h else 0)))
    return pd.DataFrame(rows, index=z.index, columns=["high", "low", "alarm"])


def freeze_flags(deltas: pd.DataFrame, expected: pd.Series, occupied: pd.Series, *,
                 min_expected_kwh: float = 1.0, n: int = 1) -> pd.Series:
    """Days when every index reported but none moved although the building was used, or the
    baseline expected consumption (an electricity baseload never stops)."""
    still = (deltas.fillna(np.inf).abs() <= 1e-9).all(axis=1) & deltas.notna().any(axis=1)
    should = occupied.reindex(deltas.index).fillna(False).astype(bool) | (
        expected.reindex(deltas.index).fillna(0.0) > min_expected_kwh)
    return runs(still & should, n)


def profile_features(energy: pd.Series, predicted: pd.Series, power_min_w: pd.Series,
                     power_avg_w: pd.Series, hdd: pd.Series) -> pd.DataFrame:
    """Daily features of the profile: night baseload ratio (minimum over mean electric power),
    weekend ratio (the day's energy over the mean of the previous 7 days), degree-day-normalised
    use (energy per degree day + 1) and the ratio to the baseline."""
    trailing = energy.shift(1).rolling(7, min_periods=3).mean()
    return pd.DataFrame({
        "night_ratio": (power_min_w / power_avg_w.replace(0, np.nan)),
        "weekend_ratio": energy / trailing,
        "per_degree_day": energy / (hdd + 1.0),
        "baseline_ratio": energy / predicted.where(predicted > 0),
    }).replace([np.inf, -np.inf], np.nan)


def isolation_flags(train: pd.DataFrame, judge: pd.DataFrame, *, contamination: float,
                    seed: int = 0) -> pd.Series:
    """IsolationForest on the past and judged days' features together; flags the judged days
    scoring below the `contamination` quantile of the past days' scores.

    The forest is fitted on all days, not on the past alone: its splits are drawn within the
    range of the data it learns, so a day beyond every past value in one feature would
    otherwise score like the most extreme past day rather than be isolated."""
    train, rows = train.dropna(), judge.dropna()
    if len(train) < 20 or rows.empty:
        return pd.Series(False, index=judge.index)
    everything = pd.concat([train, rows])
    scaled = (everything - train.mean()) / train.std().replace(0, 1.0)
    forest = IsolationForest(n_estimators=200, random_state=seed).fit(scaled.to_numpy())
    scores = forest.score_samples(scaled.to_numpy())
    threshold = np.quantile(scores[:len(train)], contamination)
    flags = pd.Series(scores[len(train):] < threshold, index=rows.index)
    return flags.reindex(judge.index, fill_value=False)


@dataclass(frozen=True, slots=True)
class Day:
    """The verdict of one day of one building."""

    day: pd.Timestamp
    energy_kwh: float | None
    expected_kwh: float
    z: float | None
    cusum_high: float
    cusum_low: float
    kinds: frozenset[str]


def judge(frame: pd.DataFrame, *, train_until: pd.Timestamp, settings: EnergySettings,
          closes_for_school: bool, calendar: SchoolCalendar | None = None,
          use_isolation: bool = False) -> tuple[Baseline | None, list[Day]]:
    """Fits the baseline on days before `train_until`, judges the days from it on.

    `frame`, indexed by day: `electricity_kwh`, `gas_kwh` (daily deltas, NaN when missing;
    a building without gas has no column), `outdoor_c`, `occupied` (bool), and optionally
    `power_min_w`, `power_avg_w`. `judge_many` judges several buildings at once, the same way.
    """
    frame = frame.sort_index()
    days = pd.DatetimeIndex(frame.index)

    def row(column: str) -> np.ndarray:
        return frame[column].to_numpy(dtype=float, na_value=np.nan)[None, :]

    power = "power_min_w" in frame
    buildings = Buildings(
        electricity_kwh=row("electricity_kwh"),
        gas_kwh=row("gas_kwh") if "gas_kwh" in frame else np.full((1, len(days)), np.nan),
        has_gas=np.array(["gas_kwh" in frame]), outdoor_c=row("outdoor_c"),
        occupied=frame["occupied"].astype(bool).to_numpy()[None, :],
        closes_for_school=np.array([closes_for_school]),
        power_min_w=row("power_min_w") if power else None,
        power_avg_w=row("power_avg_w") if power else None)
    return judge_many(days, buildings, train_until=train_until, settings=[settings],
                      calendar=calendar, use_isolation=use_isolation)[0]


@dataclass(frozen=True, slots=True)
class Buildings:
    """The daily inputs of several buildings over the same days: one row per building, one
    column per day (NaN: missing). A building without gas has `has_gas` False (its gas row is
    ignored); power columns are optional (only the IsolationForest reads them)."""

    electricity_kwh: np.ndarray
    gas_kwh: np.ndarray
    has_gas: np.ndarray  # bool, one per building
    outdoor_c: np.ndarray
    occupied: np.ndarray  # bool
    closes_for_school: np.ndarray  # bool, one per building
    power_min_w: np.ndarray | None = None
    power_avg_w: np.ndarray | None = None


def school_holidays(days: pd.DatetimeIndex, calendar: SchoolCalendar | None = None) -> np.ndarray:
    """Whether each day falls in a school holiday."""
    calendar = calendar or SchoolCalendar("A")
    return np.array([calendar.school_holiday(d.date()) is not None for d in days], dtype=bool)


def _interpolate(values: np.ndarray) -> np.ndarray:
    """Each row's NaNs linearly interpolated, the ends held (pandas' `interpolate(
    limit_direction="both")`); a row without any value stays NaN."""
    out = values.copy()
    positions = np.arange(values.shape[1], dtype=float)
    for i in np.flatnonzero(np.isnan(values).any(axis=1)):
        valid = ~np.isnan(values[i])
        if valid.any():
            out[i, ~valid] = np.interp(positions[~valid], positions[valid], values[i, valid])
    return out


def _shift(flags: np.ndarray, by: int) -> np.ndarray:
    """Each row moved `by` days later (negative: earlier), False where nothing moved in."""
    out = np.zeros_like(flags)
    if by > 0:
        out[:, by:] = flags[:, :-by]
    else:
        out[:, :by] = flags[:, -by:]
    return out


def _runs(flags: np.ndarray, n: np.ndarray) -> np.ndarray:
    """`runs` of each row: days of a run of at least n[row] flagged days in a row."""
    ahead = np.zeros(flags.shape, dtype=np.int64)
    behind = np.zeros(flags.shape, dtype=np.int64)
    count = np.zeros(flags.shape[0], dtype=np.int64)
    for t in range(flags.shape[1]):
        count = np.where(flags[:, t], count + 1, 0)
        behind[:, t] = count
    count[:] = 0
    for t in range(flags.shape[1] - 1, -1, -1):
        count = np.where(flags[:, t], count + 1, 0)
        ahead[:, t] = count
    return flags & (behind + ahead - 1 >= n[:, None])


def judge_many(days: pd.DatetimeIndex, buildings: Buildings, *, train_until: pd.Timestamp,
               settings: Sequence[EnergySettings], calendar: SchoolCalendar | None = None,
               use_isolation: bool = False) -> list[tuple[Baseline | None, list[Day]]]:
    """`judge` of each building (row) of `buildings`, over the sorted `days`, with its own
    settings: the arithmetic is done for every building at once, the fits one by one."""
    el, gas = buildings.electricity_kwh, buildings.gas_kwh
    has_gas = buildings.has_gas[:, None]
    count = len(settings)
    # The day's energy: every carrier must have reported (pandas' sum with min_count).
    total = np.where(has_gas, el + gas, el)
    still = (np.abs(el) <= 1e-9) & np.where(has_gas, np.abs(gas) <= 1e-9, True)
    occupied = buildings.occupied.astype(bool)
    outdoor = _interpolate(buildings.outdoor_c)
    hdd = np.where(in_heating_season(days)[None, :], np.clip(HEATING_BASE_C - outdoor, 0.0, None),
                   0.0)
    unoccupied = (~occupied).astype(float)
    closed = (~occupied & school_holidays(days, calendar)[None, :]
              & buildings.closes_for_school[:, None]).astype(float)
    x = np.stack([np.ones_like(hdd), unoccupied, closed, hdd, hdd * unoccupied, hdd * closed],
                 axis=-1)
    # Unreliable days: missing, frozen, the catch-up day after them, the day before a freeze.
    bad = np.isnan(total) | still
    bad = bad | (_shift(bad, 1) & ~bad) | (_shift(still, -1) & ~bad)
    energy = np.where(bad, np.nan, total)
    train = np.asarray(days < train_until)
    judged = ~train
    stamps = list(days)
    fits: list[Baseline | None] = [None] * count
    expected = np.full(energy.shape, np.nan)
    for i in range(count):
        if np.count_nonzero(~np.isnan(energy[i, train])) < 21:
            continue
        rows = train & ~np.isnan(energy[i]) & ~np.isnan(x[i]).any(axis=1)
        fitted = _fit(x[i, rows], energy[i, rows],
                      [stamps[j] for j in np.flatnonzero(rows).tolist()])
        expected[i] = x[i] @ np.array([fitted.coefficients[f] for f in FEATURES])
        fits[i] = fitted
    sigma = np.array([max(f.sigma, 1e-6) if f is not None else 1.0 for f in fits])
    z = (energy - expected) / sigma[:, None]
    k_sigma = np.array([s.k_sigma for s in settings])
    over = _runs(judged[None, :] & (z > k_sigma[:, None]), np.array([s.n_days for s in settings]))
    frozen = _runs(still & (occupied | (expected > 1.0)),
                   np.array([s.freeze_days for s in settings]))
    # Tabular CUSUM over the judged days (the training days leave both sums at 0).
    k = np.array([s.cusum_k for s in settings])
    h = np.array([s.cusum_h for s in settings])
    high, low, alarm = (np.zeros(energy.shape) for _ in range(3))
    sum_high, sum_low = np.zeros(count), np.zeros(count)
    for t in np.flatnonzero(judged):
        value = z[:, t]
        known = ~np.isnan(value)
        # Once signalled, a sum restarts as soon as the residual crosses the baseline: the
        # anomaly is over, and its alert should clear without waiting for the sum to drain.
        new_high = np.where((sum_high > h) & (value < 0), 0.0,
                            np.maximum(0.0, sum_high + value - k))
        new_low = np.where((sum_low > h) & (value > 0), 0.0,
                           np.maximum(0.0, sum_low - value - k))
        sum_high = np.where(known, new_high, sum_high)
        sum_low = np.where(known, new_low, sum_low)
        high[:, t], low[:, t] = sum_high, sum_low
        alarm[:, t] = np.where(sum_high > h, 1, np.where(sum_low > h, -1, 0))
    results: list[tuple[Baseline | None, list[Day]]] = []
    judged_at = np.flatnonzero(judged)
    for i, baseline in enumerate(fits):
        if baseline is None:
            results.append((None, []))
            continue
        profile = np.zeros(len(days), dtype=bool)
        if (use_isolation and buildings.power_min_w is not None
                and buildings.power_avg_w is not None
                and train.sum() >= settings[i].isolation_min_days):
            series = {name: pd.Series(values[i], index=days) for name, values in (
                ("energy", energy), ("expected", expected), ("power_min", buildings.power_min_w),
                ("power_avg", buildings.power_avg_w), ("hdd", hdd))}
            features = profile_features(series["energy"], series["expected"], series["power_min"],
                                        series["power_avg"], series["hdd"])
            profile = isolation_flags(features[train], features[judged],
                                      contamination=settings[i].isolation_contamination
                                      ).reindex(days, fill_value=False).to_numpy()
        verdicts = []
        # Plain Python values of the judged days (indexing numpy arrays one by one is slow).
        rows_of = [values[i, judged_at].tolist() for values in (over, alarm, frozen, energy, z,
                                                                expected, high, low)]
        for t, o, a, f, e, zz, ex, hi, lo in zip(judged_at.tolist(), *rows_of, strict=True):
            kinds = {kind for kind, flag in ((OVER, o), (DRIFT, a != 0), (FREEZE, f),
                                             (PROFILE, profile[t])) if flag}
            verdicts.append(Day(stamps[t], None if np.isnan(e) else e, ex,
                                None if np.isnan(zz) else zz, hi, lo, frozenset(kinds)))
        results.append((baseline, verdicts))
    return results


def episodes(verdicts: list[Day], kind: str) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Consecutive days flagged with `kind`, as (first, last) days."""
    out: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    for v in verdicts:
        if kind not in v.kinds:
            continue
        if out and (v.day - out[-1][1]).days <= 1:
            out[-1] = (out[-1][0], v.day)
        else:
            out.append((v.day, v.day))
    return out


# --- décret tertiaire ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DecretStatus:
    reference_year: int
    reference_kwh: float  # climate-normalised
    year: int
    current_kwh: float  # climate-normalised
    reduction: float  # achieved, relative to the reference (0.15: −15 %)
    targets_kwh: dict[int, float]
    expected_reduction: float  # on the straight line from the reference year to 2030
    on_track: bool


def yearly(energy: pd.Series, heating: pd.Series, hdd: pd.Series) -> pd.DataFrame:
    """Per calendar year: measured kWh, its heating part (the baseline's HDD terms on the
    measured days), degree days and days measured: the input of `decret_status`."""
    measured = energy.notna()
    frame = pd.DataFrame({"kwh": energy.where(measured, 0.0),
                          "heating_kwh": heating.where(measured, 0.0),
                          "hdd": hdd, "days": measured.astype(int)})
    return frame.groupby(pd.DatetimeIndex(frame.index).year).sum()


def normalise(total_kwh: float, heating_kwh: float, hdd: float, hdd_normal: float) -> float:
    """Climate normalisation: the heating part scaled to normal degree days."""
    return total_kwh - heating_kwh + (heating_kwh * hdd_normal / hdd if hdd > 0 else 0.0)


def reference_year(years: pd.DataFrame, configured: int | None = None) -> int | None:
    """The configured year, else the first complete year (≥ 360 days measured) from 2010 on."""
    if configured is not None:
        return configured
    complete = years[(years["days"] >= 360) & (years.index >= DECRET_FIRST_REFERENCE)]
    return int(complete.index.min()) if not complete.empty else None


def decret_status(years: pd.DataFrame, *, hdd_normal: float | None = None,
                  configured_reference: int | None = None) -> DecretStatus | None:
    """Where a building stands on its décret tertiaire trajectory.

    `years`, indexed by year: `kwh`, `heating_kwh`, `hdd`, `days` (days measured). Both the
    reference and the latest year are normalised to `hdd_normal` (default: the mean of the
    complete years)."""
    ref = reference_year(years, configured_reference)
    if ref is None or ref not in years.index:
        return None
    complete = years[years["days"] >= 360]
    latest = int(complete.index.max()) if not complete.empty else ref
    normal = hdd_normal if hdd_normal is not None else float(complete["hdd"].mean())
    r, c = years.loc[ref], years.loc[latest]
    ref_kwh = normalise(r["kwh"], r["heating_kwh"], r["hdd"], normal)
    cur_kwh = normalise(c["kwh"], c["heating_kwh"], c["hdd"], normal)
    reduction = 1 - cur_kwh / ref_kwh
    first_target = min(DECRET_TARGETS)
    expected = DECRET_TARGETS[first_target] * max(0, latest - ref) / max(1, first_target - ref)
    return DecretStatus(ref, float(ref_kwh), latest, float(cur_kwh), float(reduction),
                        {y: float(ref_kwh * (1 - s)) for y, s in DECRET_TARGETS.items()},
                        float(min(expected, DECRET_TARGETS[first_target])),
                        bool(reduction >= expected - 1e-9))


def closes_for_school(usage: str | None) -> bool:
    """Whether a building of this use closes for school holidays (the simulator's schools)."""
    return usage == "ecole"
