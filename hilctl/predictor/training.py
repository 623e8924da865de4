"""Training a pulse predictor on a pulse-response table, and choosing its fixed settings."""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from hilctl.drivers import ConfigError, DataError, Polarity
from hilctl.drivers.pulse_table import PulseTable

from .inverse import landing_score
from .model import (
    KNOBS,
    MIN_ROWS_PER_POLARITY,
    POLARITY_NAMES,
    Predictor,
    PredictorSpec,
    QuantileNet,
    Scaling,
    _n_inputs,
    _one_thread,
)
from .quantiles import QUANTILES


def check_table(table: PulseTable, knob: str, polarities: tuple[str, ...]) -> bool:
    """Raise ``DataError`` if ``table`` cannot train a ``knob`` predictor; return has-gate."""
    if knob not in KNOBS:
        raise DataError(f"knob {knob!r} is unknown; expected one of {', '.join(KNOBS)}")
    table.validate()
    gate_given = np.isfinite(table.gate)
    if gate_given.any() and not gate_given.all():
        raise DataError(f"pulse table: gate_V is given on {int(gate_given.sum())} of "
                        f"{len(table)} rows; give it on every row or on none")
    for name in polarities:
        pol = Polarity[name]
        rows = table.polarity == pol
        if rows.sum() < MIN_ROWS_PER_POLARITY:
            raise DataError(
                f"pulse table has {int(rows.sum())} {name} rows; a {knob} predictor needs at "
                f"least {MIN_ROWS_PER_POLARITY} per polarity (characterize longer, or train "
                f"with polarities={tuple(p for p in polarities if p != name)!r} to plan "
                f"{'RESET' if name == 'SET' else 'SET'} pulses only)")
        values = table.width[rows] if knob == "width" else table.amplitude[rows]
        spread = values.max() / values.min() if knob == "width" else values.max() - values.min()
        if np.unique(values).size < 5 or spread < (2.0 if knob == "width" else 0.05):
            raise DataError(
                f"pulse table: the {name} rows barely vary the {knob} "
                f"({np.unique(values).size} distinct values from {values.min():.3e} to "
                f"{values.max():.3e}); to plan the {knob} the table must vary it (trains of "
                f"identical pulses cannot teach it)")
    return bool(gate_given.all())


def train_predictor(table: PulseTable, knob: str = "width", *, epochs: int | None = None,
                    seed: int = 0, hidden: tuple[int, ...] = (64, 64, 64),
                    polarities: tuple[str, ...] = ("SET", "RESET"),
                    fixed: dict[str, float] | None = None, gate_V: float | None = None,
                    source: str = "") -> Predictor:
    """Train a predictor on a pulse-response table.

    Parameters
    ----------
    table : PulseTable
        Simulated or measured; rows of polarities not in ``polarities`` are ignored.
    knob : {"width", "amplitude"}
        What the predictor plans.
    epochs : int, optional
        Passes over the data; by default enough for about 1.5M samples seen (a 50k-row table
        trains in seconds on one core).
    seed : int
        Makes initialisation, the validation split and the batch order reproducible.
    fixed : dict, optional
        Fixed non-knob setting per polarity name (amplitude in V or width in s); chosen from
        the data when absent.
    gate_V : float, optional
        Gate voltage to plan with (V); the table's median gate by default (if it has one).
    """
    polarities = tuple(p.upper() for p in polarities)
    if not polarities or any(p not in ("SET", "RESET") for p in polarities):
        raise DataError(f"polarities = {polarities!r}: expected SET and/or RESET")
    has_gate = check_table(table, knob, polarities)
    if epochs is not None and epochs < 1:
        raise ConfigError(f"epochs = {epochs}: expected at least 1")
    table = table.subset(np.isin(table.polarity, [Polarity[p] for p in polarities]))
    started = time.perf_counter()
    scaling = Scaling.fit(table, has_gate)
    net, epochs, val_loss = _train_net(table, scaling, tuple(hidden), epochs, seed)
    lng = np.log(np.concatenate([table.g_before, table.g_after]))
    spec = PredictorSpec(
        knob=knob, polarities=list(polarities), fixed={}, knob_range=_knob_range(table, knob),
        g_range_S=[float(np.exp(lng.min())), float(np.exp(lng.max()))],
        gate_V=(float(np.median(table.gate)) if gate_V is None else float(gate_V))
        if has_gate else None,
        hidden=list(hidden), scaling=scaling,
        training={"rows": len(table), "epochs": epochs, "seed": seed, "source": source,
                  "validation_pinball": val_loss, "quantiles": list(QUANTILES)},
    )
    predictor = Predictor(net, spec)
    spec.fixed = ({p: float(fixed[p]) for p in polarities if p in fixed} if fixed
                  else choose_fixed(predictor, table))
    _check_fixed(spec, table)
    spec.training["seconds"] = round(time.perf_counter() - started, 2)
    return predictor


def _train_net(table: PulseTable, scaling: Scaling, hidden: tuple[int, ...],
               epochs: int | None, seed: int) -> tuple[QuantileNet, int, float]:
    """Fit the quantile net on 90 % of the rows; return it, the epochs run and the pinball
    loss on the held-back 10 %."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = QuantileNet(_n_inputs(scaling), hidden)
    x = scaling.features(table.g_before, table.polarity, table.amplitude, table.width,
                         table.gate)
    y = torch.as_tensor(np.log(table.g_after / table.g_before) / scaling.y_scale,
                        dtype=torch.float32)
    order = torch.randperm(len(table), generator=generator)
    n_val = max(len(table) // 10, 1)
    val, train = order[:n_val], order[n_val:]
    epochs = epochs or int(np.clip(1_500_000 // max(train.numel(), 1), 8, 300))
    with _one_thread():
        _fit(net, x[train], y[train], epochs, generator)
        with torch.no_grad():
            val_loss = float(_pinball(net(x[val]), y[val]))
    return net, epochs, val_loss


def _fit(net: QuantileNet, x: torch.Tensor, y: torch.Tensor, epochs: int,
         generator: torch.Generator, batch: int = 512) -> None:
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    steps = epochs * math.ceil(x.shape[0] / batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=3e-3, total_steps=steps)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(x.shape[0], generator=generator)
        for start in range(0, x.shape[0], batch):
            index = order[start:start + batch]
            optimiser.zero_grad()
            _pinball(net(x[index]), y[index]).backward()
            optimiser.step()
            schedule.step()
    net.eval()


def _pinball(predicted: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    q = torch.tensor(QUANTILES, dtype=predicted.dtype)
    error = y[:, None] - predicted
    return torch.maximum(q * error, (q - 1) * error).mean()


def _knob_range(table: PulseTable, knob: str) -> dict[str, list[float]]:
    values = table.width if knob == "width" else table.amplitude
    return {POLARITY_NAMES[Polarity(p)]: [float(values[table.polarity == p].min()),
                                          float(values[table.polarity == p].max())]
            for p in np.unique(table.polarity)}


def _check_fixed(spec: PredictorSpec, table: PulseTable) -> None:
    """The fixed settings must lie inside what the table covered for each polarity."""
    other = table.amplitude if spec.knob == "width" else table.width
    for name in spec.polarities:
        if name not in spec.fixed:
            raise DataError(f"fixed setting for {name} missing (got {sorted(spec.fixed)})")
        seen = other[table.polarity == Polarity[name]]
        value = spec.fixed[name]
        if not seen.min() * (1 - 1e-9) <= value <= seen.max() * (1 + 1e-9):
            raise DataError(f"fixed {name} setting {value:.3e} lies outside the "
                            f"{seen.min():.3e}..{seen.max():.3e} the table covers")


def choose_fixed(predictor: Predictor, table: PulseTable, candidates: int = 9) -> dict:
    """Per polarity, the fixed non-knob setting whose planned pulses land tightest.

    For each candidate over the range the table covers, plan moves of all sizes from the
    table's states and score the predicted probability of landing within a quarter of the
    move (``inverse.landing_score``), counting a pulse whose knob hits its range
    as a miss. Data-driven, so it works for any device type.
    """
    other = table.amplitude if predictor.knob == "width" else table.width
    chosen = {}
    for name in predictor.spec.polarities:
        rows = table.polarity == Polarity[name]
        lo, hi = other[rows].min(), other[rows].max()
        if predictor.knob == "width":  # whole 10 mV steps inside the covered range
            grid = np.linspace(math.ceil(lo * 100) / 100, math.floor(hi * 100) / 100,
                               candidates).round(2)
            grid = np.clip(grid, lo, hi) if grid[0] <= grid[-1] else np.array([lo])
        else:  # three significant digits inside the covered range
            grid = np.clip([float(f"{w:.3g}") for w in np.geomspace(lo, hi, candidates)], lo, hi)
        scores = [landing_score(predictor, name, value, table.subset(rows)) for value in grid]
        chosen[name] = float(grid[int(np.argmax(scores))])
    return chosen
