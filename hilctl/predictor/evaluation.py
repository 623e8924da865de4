"""An honest evaluation of a predictor on a held-out pulse-response table.

Two things make a plain predicted-vs-measured figure flatter a predictor. Rows whose pulse did
nothing (below threshold, or a gate at which the cell does not switch) are trivially right
when G after = G before, so every figure is reported separately for rows that switched
(|ln G_after/G_before| beyond ``switch_threshold``, the read noise) and rows that did not.
And a good forward fit does not say the planned pulse lands, so the report also gives the
implied one-shot success for a grid of targets: per state bin (``lookup.SettingGroups``) and
target, the share of held-out pulses of the planned setting that land within ±10/20/50 % of
the target, averaged over bins by their rows. Three planners are scored on the same
held-out outcomes:

- ``neural``: per tolerance, the setting of the table with the largest chance of landing in
  the band that the predictor's quantiles give, near-ties to the median nearest the target
  (the in-band aim of ``inverse.plan_in_band``, over the settings the table holds);
- ``lookup``: the lookup planner built from the training table (``lookup.LookupTable``);
- ``hindsight``: the best single setting per (bin, target) chosen on the held-out rows
  themselves, a ceiling no planner that picks one setting per target can beat on this table.
"""

from __future__ import annotations

import numpy as np

from hilctl.drivers import DataError, Polarity
from hilctl.drivers.pulse_table import PulseTable

from .knobs import settings_of
from .landing import in_band_probability, most_likely_in_band
from .lookup import LookupTable, SettingGroups
from .model import Predictor
from .quantiles import MEDIAN, QUANTILES

TOLERANCES = (0.10, 0.20, 0.50)
_MIN_ROWS = 5


def evaluate(predictor: Predictor, table: PulseTable, lookup: LookupTable | None = None,
             targets: np.ndarray | None = None, switch_threshold: float = 0.05) -> dict:
    """JSON-ready figures: fit per row group and implied one-shot success per planner."""
    table.validate()
    trained = np.isin(table.polarity, [Polarity[p] for p in predictor.spec.polarities])
    if not trained.any():
        raise DataError(f"evaluation table has no {'/'.join(predictor.spec.polarities)} rows")
    if predictor.has_gate and not np.isfinite(table.gate).all():
        raise DataError("the predictor was trained with a gate; the evaluation table must give "
                        "gate_V on every row")
    t = table.subset(trained)
    switched = np.abs(np.log(t.g_after / t.g_before)) > switch_threshold
    fit = _fit_figures(predictor, t)
    groups = {name: _summary(fit, rows) for name, rows in
              (("all", np.ones(len(t), bool)), ("switched", switched),
               ("unswitched", ~switched))}
    if targets is None:
        targets = _default_targets(t, switched)
    return {"rows": len(t), "knob": predictor.knob, "switch_threshold": switch_threshold,
            "knob_error_unit": _error_unit(predictor), **groups,
            "one_shot": one_shot(predictor, t, lookup, np.asarray(targets, float))}


def _fit_figures(predictor: Predictor, t: PulseTable) -> dict[str, np.ndarray]:
    """Per row: relative G error of the median, inside the 10-90 % interval, knob error."""
    settings = settings_of(t.amplitude, t.width, t.gate if predictor.has_gate else None)
    q = predictor.quantiles(t.g_before, t.polarity, t.amplitude, t.width, settings.get("gate_V"))
    u_pred, inside = predictor.invert(t.g_before, t.g_after, t.polarity, settings)
    scale = np.where(t.polarity > 0, _scale(predictor, "SET"), _scale(predictor, "RESET"))
    error = (u_pred - predictor.knob_coordinate(t.polarity, settings)) / scale
    return {"rel": np.abs(q[:, MEDIAN] - t.g_after) / t.g_after,
            "covered": (t.g_after >= q[:, 0]) & (t.g_after <= q[:, -1]),
            "knob_error": np.where(inside, error, np.nan)}


def _scale(predictor: Predictor, name: str) -> float:
    return predictor.knob_of(name).error_scale if name in predictor.spec.polarities else 1.0


def _error_unit(predictor: Predictor) -> str:
    return "/".join(sorted({predictor.knob_of(n).error_unit for n in predictor.spec.polarities}))


def _summary(fit: dict[str, np.ndarray], rows: np.ndarray) -> dict:
    rel, error = fit["rel"][rows], fit["knob_error"][rows]
    error = error[np.isfinite(error)]
    return {"rows": int(rows.sum()),
            "g_rel_error_median": _stat(np.median, rel),
            "g_rel_error_p90": _stat(lambda e: np.percentile(e, 90), rel),
            "g_within_10pct": _stat(np.mean, rel <= 0.10),
            "interval_80_coverage": _stat(np.mean, fit["covered"][rows]),
            "knob_rows": int(error.size),
            "knob_error_median": _stat(np.median, np.abs(error)),
            "knob_error_p90": _stat(lambda e: np.percentile(e, 90), np.abs(error)),
            "knob_bias": _stat(np.median, error)}


def _stat(function, values: np.ndarray) -> float | None:
    return float(function(values)) if np.size(values) else None


def _default_targets(t: PulseTable, switched: np.ndarray, count: int = 7) -> np.ndarray:
    """Targets spread over where switched pulses landed (10th to 90th percentile, log)."""
    landed = t.g_after[switched] if switched.any() else t.g_after
    low, high = np.percentile(landed, [10, 90])
    return np.geomspace(low, high, count)


def one_shot(predictor: Predictor, t: PulseTable, lookup: LookupTable | None,
             targets: np.ndarray) -> dict:
    """Implied one-shot success per planner, tolerance and target (see the module text)."""
    groups = SettingGroups.of(t, edges=None if lookup is None else lookup.groups.edges)
    success, counts = _group_success(groups, t.g_after, targets)
    start = np.array([np.median(t.g_before[groups.state == b]) if (groups.state == b).any()
                      else np.nan for b in range(groups.bins)])
    weight = np.bincount(groups.state, minlength=groups.bins).astype(float)
    occupied = np.flatnonzero(weight > 0)
    present = np.repeat(start[occupied], targets.size)
    wanted = np.tile(targets, occupied.size)
    picks = {"hindsight": None,
             "neural": _neural_picks(predictor, groups, counts, occupied, start[occupied],
                                     targets)}
    if lookup is not None:
        choice, _ = lookup.choose(present, wanted)
        chosen = lookup.groups.settings[choice]
        pick = _snap(groups, counts, occupied, targets, lookup.groups.polarity[choice],
                     settings_of(chosen[:, 0], chosen[:, 1], chosen[:, 2]))
        picks["lookup"] = np.repeat(pick[:, None, :], len(TOLERANCES), axis=1)
    out = {"targets_S": targets.tolist(), "tolerances": list(TOLERANCES)}
    w = weight[occupied] / weight[occupied].sum()
    index = (occupied[:, None, None], np.arange(len(TOLERANCES))[None, :, None],
             np.arange(targets.size)[None, None, :])
    for name, pick in picks.items():
        if pick is None:
            rate = success[occupied].max(axis=1)
        else:
            rate = success[index[0], pick, index[1], index[2]]
        per_target = {f"within_{int(tol * 100)}pct": w @ rate[:, i]
                      for i, tol in enumerate(TOLERANCES)}
        out[name] = {**{k: v.tolist() for k, v in per_target.items()},
                     **{f"mean_{k}": float(v.mean()) for k, v in per_target.items()}}
    return out


def _group_success(groups: SettingGroups, g_after: np.ndarray, targets: np.ndarray):
    """success[bin, setting, tolerance, target]: share of the group's pulses that land within
    the tolerance of the target (0 for groups of fewer than ``_MIN_ROWS`` pulses, and for the
    extra last setting, which stands for "no setting of that polarity in this bin")."""
    k = len(groups.settings)
    success = np.zeros((groups.bins, k + 1, len(TOLERANCES), targets.size))
    counts = np.zeros((groups.bins, k), dtype=int)
    np.add.at(counts, (groups.state, groups.setting), 1)
    tolerance = np.asarray(TOLERANCES)[:, None]
    for b, s in zip(*np.nonzero(counts >= _MIN_ROWS), strict=True):
        landed = g_after[(groups.state == b) & (groups.setting == s)]
        error = np.abs(landed[:, None, None] - targets) / targets
        success[b, s] = (error <= tolerance).mean(axis=0)
    return success, counts


def _neural_picks(predictor: Predictor, groups: SettingGroups, counts, occupied, start,
                  targets):
    """Per (occupied bin, tolerance, target), the table's setting with the largest predicted
    chance of landing within the tolerance from the bin's median state, shape
    (bins, tolerances, targets). The predictor chooses among the settings the table holds (with
    enough rows), as the lookup and hindsight planners do, so all three are scored alike."""
    k, settings = len(groups.settings), groups.settings
    trained = np.isin(groups.polarity, [Polarity[p] for p in predictor.spec.polarities])
    s = np.flatnonzero(trained)
    g0 = np.repeat(start, s.size)
    gate = None if np.isnan(settings[:, 2]).any() else np.tile(settings[s, 2], start.size)
    q = predictor.quantiles(g0, np.tile(groups.polarity[s], start.size),
                            np.tile(settings[s, 0], start.size),
                            np.tile(settings[s, 1], start.size), gate)
    tolerance = np.asarray(TOLERANCES)[:, None]
    shape = (start.size, k, len(TOLERANCES), targets.size)
    p, miss = np.full(shape, -1.0), np.full(shape, np.inf)
    q = q.reshape(start.size, s.size, 1, 1, len(QUANTILES))
    p[:, s] = in_band_probability(q, targets * (1 - tolerance), targets * (1 + tolerance))
    miss[:, s] = np.abs(np.log(q[..., MEDIAN] / targets))
    needed = np.where(targets[None, :] > start[:, None], Polarity.SET, Polarity.RESET)
    usable = (groups.polarity[None, :, None] == needed[:, None, :])
    usable = (usable & (counts[occupied] >= _MIN_ROWS)[:, :, None])[:, :, None, :]
    return most_likely_in_band(np.where(usable, p, -1.0), np.where(usable, miss, np.inf), 1)


def _snap(groups: SettingGroups, counts, occupied, targets, polarity, settings):
    """Per (bin, target), the table's setting nearest a planned one (same polarity, enough
    rows; distance in ln width and volts), shape (bins, targets)."""
    planned = np.column_stack([settings["amplitude_V"], np.log(settings["width_s"]),
                               np.nan_to_num(settings.get("gate_V", np.zeros(polarity.size)))])
    have = np.column_stack([groups.settings[:, 0], np.log(groups.settings[:, 1]),
                            np.nan_to_num(groups.settings[:, 2])])
    distance = np.sqrt(((planned[:, None, :] - have[None, :, :]) ** 2).sum(axis=2))
    state = np.repeat(occupied, targets.size)
    allowed = (groups.polarity[None, :] == polarity[:, None]) & (counts[state] >= _MIN_ROWS)
    distance = np.where(allowed, distance, np.inf)
    pick = np.argmin(distance, axis=1)
    pick[~np.isfinite(distance[np.arange(pick.size), pick])] = len(groups.settings)
    return pick.reshape(occupied.size, targets.size)
