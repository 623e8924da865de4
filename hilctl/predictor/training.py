"""Training a pulse predictor on a pulse-response table, and choosing its fixed settings."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import torch

from hilctl.drivers import ConfigError, DataError, Polarity
from hilctl.drivers.pulse_table import PulseTable

from .inverse import build_inverse
from .knobs import AMPLITUDE, GATE, KNOBS, WIDTH, Knob, parse_knobs, settings_of
from .landing import in_band_probability
from .model import (
    MIN_ROWS_PER_POLARITY,
    Predictor,
    PredictorSpec,
    QuantileNet,
    Scaling,
    _n_inputs,
    _one_thread,
)
from .quantiles import QUANTILES


def check_table(table: PulseTable, knobs: dict[str, str]) -> bool:
    """Raise ``DataError`` if ``table`` cannot train a predictor of ``knobs`` (knob name per
    polarity name); return has-gate."""
    table.validate()
    gate_given = np.isfinite(table.gate)
    if gate_given.any() and not gate_given.all():
        raise DataError(f"pulse table: gate_V is given on {int(gate_given.sum())} of "
                        f"{len(table)} rows; give it on every row or on none")
    if "gate" in knobs.values() and not gate_given.any():
        raise DataError("pulse table has no gate_V values; the gate knob needs a table whose "
                        "pulses vary the gate (characterize with a gate sweep, or train "
                        "--knob width|amplitude)")
    settings = settings_of(table.amplitude, table.width, table.gate)
    for name, knob_name in knobs.items():
        rows = table.polarity == Polarity[name]
        if rows.sum() < MIN_ROWS_PER_POLARITY:
            raise DataError(
                f"pulse table has {int(rows.sum())} {name} rows; a {knob_name} predictor needs "
                f"at least {MIN_ROWS_PER_POLARITY} per polarity (characterize longer, or train "
                f"with polarities={tuple(p for p in knobs if p != name)!r} to plan "
                f"{'RESET' if name == 'SET' else 'SET'} pulses only)")
        _check_varied(KNOBS[knob_name], name, settings[KNOBS[knob_name].setting][rows])
    return bool(gate_given.all())


def default_knob(table: PulseTable) -> str:
    """The knob a table teaches: on a gate sweep (its SET rows vary the gate) the gate for SET
    and, for RESET, the setting its RESET rows vary (the source-line amplitude as labs program
    1T1R cells, else the gate); the width on any other table."""
    settings = settings_of(table.amplitude, table.width, table.gate)
    set_rows, reset_rows = table.polarity == Polarity.SET, table.polarity == Polarity.RESET
    if not (np.isfinite(table.gate).all() and _varies(GATE, settings["gate_V"][set_rows])):
        return WIDTH.name
    for knob in (AMPLITUDE, GATE):
        if _varies(knob, settings[knob.setting][reset_rows]):
            return f"set={GATE.name},reset={knob.name}"
    return GATE.name


def _varies(knob: Knob, values: np.ndarray) -> bool:
    if np.unique(values).size < 5:
        return False
    u = knob.coordinate(values)
    return bool(u.max() - u.min() >= knob.least_spread)


def _check_varied(knob: Knob, name: str, values: np.ndarray) -> None:
    if not _varies(knob, values):
        raise DataError(
            f"pulse table: the {name} rows barely vary the {knob.name} "
            f"({np.unique(values).size} distinct values from {values.min():.3e} to "
            f"{values.max():.3e}); to plan the {knob.name} the table must vary it (trains of "
            f"identical pulses cannot teach it)")


def train_predictor(table: PulseTable, knob: str = "width", *, epochs: int | None = None,
                    seed: int = 0, hidden: tuple[int, ...] = (64, 64, 64),
                    polarities: tuple[str, ...] = ("SET", "RESET"),
                    fixed: dict[str, float] | None = None, source: str = "",
                    on_epoch: Callable[[int, int], None] | None = None) -> Predictor:
    """Train a predictor on a pulse-response table.

    Parameters
    ----------
    table : PulseTable
        Simulated or measured; rows of polarities not in ``polarities`` are ignored.
    knob : str
        What the predictor plans: ``"width"``, ``"amplitude"``, ``"gate"``, or one per
        polarity such as ``"set=gate,reset=amplitude"`` (``hilctl.predictor.knobs``).
    epochs : int, optional
        Passes over the data; by default enough for about 1.5M samples seen (a 50k-row table
        trains in seconds on one core).
    seed : int
        Makes initialisation, the validation split and the batch order reproducible.
    fixed : dict, optional
        Per polarity name, the value of the fixed setting its knob searches (``Knob.searched``:
        the amplitude in V for the width knob, the width in s for the amplitude and gate
        knobs); chosen from the data when absent. Other fixed settings sit at the table's
        median for that polarity.
    on_epoch : callable, optional
        Called with (epochs done, epochs in all) after every epoch (a progress bar).
    """
    polarities = tuple(p.upper() for p in polarities)
    if not polarities or any(p not in ("SET", "RESET") for p in polarities):
        raise DataError(f"polarities = {polarities!r}: expected SET and/or RESET")
    knobs = parse_knobs(knob, polarities)
    has_gate = check_table(table, knobs)
    if epochs is not None and epochs < 1:
        raise ConfigError(f"epochs = {epochs}: expected at least 1")
    table = table.subset(np.isin(table.polarity, [Polarity[p] for p in polarities]))
    started = time.perf_counter()
    scaling = Scaling.fit(table, has_gate)
    net, epochs, val_loss = _train_net(table, scaling, tuple(hidden), epochs, seed, on_epoch)
    lng = np.log(np.concatenate([table.g_before, table.g_after]))
    spec = PredictorSpec(
        knob=knobs, polarities=list(polarities), fixed=_median_settings(table, knobs, has_gate),
        knob_range=_setting_range(table, knobs, "setting"),
        g_range_S=[float(np.exp(lng.min())), float(np.exp(lng.max()))],
        hidden=list(hidden), scaling=scaling,
        training={"rows": len(table), "epochs": epochs, "seed": seed, "source": source,
                  "validation_pinball": val_loss, "quantiles": list(QUANTILES)},
    )
    predictor = Predictor(net, spec)
    if fixed:
        _given_fixed(predictor, fixed)  # the user's setting: a planner keeps to it
    else:
        choose_fixed(predictor, table)
        # What a cost-aware planner may move the chosen setting over.
        spec.training["searched_range"] = _setting_range(table, knobs, "searched")
    _check_fixed(spec, table)
    spec.training["seconds"] = round(time.perf_counter() - started, 2)
    return predictor


def _median_settings(table: PulseTable, knobs: dict[str, str], has_gate: bool) -> dict:
    """Each polarity's fixed settings at the median of its rows (``choose_fixed`` or the
    user then sets the searched one)."""
    settings = settings_of(table.amplitude, table.width, table.gate)
    return {name: {s: float(np.median(settings[s][table.polarity == Polarity[name]]))
                   for s in KNOBS[knob].fixed_settings(has_gate)}
            for name, knob in knobs.items()}


def _given_fixed(predictor: Predictor, fixed: dict[str, float]) -> None:
    for name in predictor.spec.polarities:
        if name not in fixed:
            raise DataError(f"fixed setting for {name} missing (got {sorted(fixed)})")
        predictor.spec.fixed[name][predictor.knob_of(name).searched] = float(fixed[name])


def _train_net(table: PulseTable, scaling: Scaling, hidden: tuple[int, ...],
               epochs: int | None, seed: int,
               on_epoch: Callable[[int, int], None] | None) -> tuple[QuantileNet, int, float]:
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
        _fit(net, x[train], y[train], epochs, generator, on_epoch)
        with torch.no_grad():
            val_loss = float(_pinball(net(x[val]), y[val]))
    return net, epochs, val_loss


def _fit(net: QuantileNet, x: torch.Tensor, y: torch.Tensor, epochs: int,
         generator: torch.Generator, on_epoch: Callable[[int, int], None] | None = None,
         batch: int = 512) -> None:
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    steps = epochs * math.ceil(x.shape[0] / batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=3e-3, total_steps=steps)
    net.train()
    for epoch in range(epochs):
        order = torch.randperm(x.shape[0], generator=generator)
        for start in range(0, x.shape[0], batch):
            index = order[start:start + batch]
            optimiser.zero_grad()
            _pinball(net(x[index]), y[index]).backward()
            optimiser.step()
            schedule.step()
        if on_epoch is not None:
            on_epoch(epoch + 1, epochs)
    net.eval()


def _pinball(predicted: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    q = torch.tensor(QUANTILES, dtype=predicted.dtype)
    error = y[:, None] - predicted
    return torch.maximum(q * error, (q - 1) * error).mean()


def _setting_range(table: PulseTable, knobs: dict[str, str],
                   which: str) -> dict[str, list[float]]:
    """Per polarity, the range the table covers of its knob's ``which`` setting: the knob's
    own (``"setting"``) or the fixed one it searches (``"searched"``)."""
    settings = settings_of(table.amplitude, table.width, table.gate)
    ranges = {}
    for name, knob in knobs.items():
        values = settings[getattr(KNOBS[knob], which)][table.polarity == Polarity[name]]
        ranges[name] = [float(values.min()), float(values.max())]
    return ranges


def _check_fixed(spec: PredictorSpec, table: PulseTable) -> None:
    """The fixed settings must lie inside what the table covered for each polarity."""
    settings = settings_of(table.amplitude, table.width, table.gate)
    for name in spec.polarities:
        for setting, value in spec.fixed[name].items():
            seen = settings[setting][table.polarity == Polarity[name]]
            if not seen.min() * (1 - 1e-9) <= value <= seen.max() * (1 + 1e-9):
                raise DataError(f"fixed {name} {setting} {value:.3e} lies outside the "
                                f"{seen.min():.3e}..{seen.max():.3e} the table covers")


def choose_fixed(predictor: Predictor, table: PulseTable, candidates: int = 9) -> None:
    """Per polarity, set the searched fixed setting (``Knob.searched``) to the candidate whose
    planned pulses land tightest.

    For each round candidate over the range the table covers, plan moves of all sizes from the
    table's states and score the predicted probability of landing within a quarter of the
    move (``landing_score``), counting a pulse whose knob hits its range
    as a miss. Data-driven, so it works for any device type.
    """
    settings = settings_of(table.amplitude, table.width, table.gate)
    for name in predictor.spec.polarities:
        knob, rows = predictor.knob_of(name), table.polarity == Polarity[name]
        seen = settings[knob.searched][rows]
        grid = knob.candidates(knob.searched, seen.min(), seen.max(), candidates)
        fixed = predictor.spec.fixed[name]
        scores = [landing_score(predictor, name, {**fixed, knob.searched: float(value)},
                                table.subset(rows)) for value in grid]
        fixed[knob.searched] = float(grid[int(np.argmax(scores))])


def landing_score(predictor, name: str, fixed: dict[str, float], table: PulseTable,
                  share: float = 0.25, moves: int = 2000) -> float:
    """Mean predicted probability that planned pulses land within ``share`` of their move.

    The moves start from the table's own g_before values of polarity ``name`` and span sizes
    from 2 % to the whole trained range evenly on a log scale, so a setting is judged on the
    small corrections of write-verify as much as on large first moves; ``fixed`` holds the fixed
    settings. Knobs that hit their range count as misses.
    """
    sign = int(Polarity[name])
    rng = np.random.default_rng(0)
    g_lo, g_hi = predictor.spec.g_range_S
    g0 = rng.choice(table.g_before[table.polarity == sign], moves)
    size = np.exp(rng.uniform(np.log(0.02), np.log(np.log(g_hi / g_lo)), moves))
    g1 = g0 * np.exp(sign * size)
    inside = (g1 > g_lo) & (g1 < g_hi) & (g0 > g_lo) & (g0 < g_hi)
    g0, g1 = g0[inside], g1[inside]
    if g0.size == 0:
        return 0.0
    coarse = build_inverse(predictor, name, fixed, points=(48, 96, 96))  # a ranking only
    u, beyond = coarse.lookup(np.log(g0), np.log(g1))
    pulse = predictor.knob_of(name).pulse(u, fixed)
    quantiles = predictor.quantiles(g0, np.full(u.size, sign), pulse["amplitude_V"],
                                    pulse["width_s"], pulse.get("gate_V"))
    band = share * np.abs(g1 - g0)
    p = in_band_probability(quantiles, g1 - band, g1 + band)
    return float(np.where(beyond, 0.0, p).mean())
