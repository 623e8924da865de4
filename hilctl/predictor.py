"""The neural pulse predictor: which pulse moves a device from its present to its target G.

Why a forward model, inverted, rather than a network that regresses the knob directly: in a
pulse-response table the knob (width or amplitude) is drawn at random and the response is
noisy, so a regression of knob on (g_before, g_after) is pulled towards the mean of the knob's
sampling distribution (regression dilution), and a lab's table with another sampling design
would give another bias. The forward direction has no such problem: the knob is an exact input
and the noise sits on the output, where it belongs. So the network learns

    ln G_after = F(ln G_before, polarity, amplitude, ln width[, gate])

as five conditional quantiles (pinball loss), which also tells how spread the outcome is, and
the planner inverts the median, which is monotone in the knob, through a table tabulated once
per polarity (``hilctl.predictor_inverse``); planning 262k cells is then a bilinear look-up.

Knob ``width`` (default): the width at a fixed amplitude per polarity; knob ``amplitude``: the
amplitude at a fixed width per polarity. The fixed settings are chosen from the data (the one
whose predicted outcomes are tightest, see ``choose_fixed``) unless given. The knob's safe
range is the range seen in training. Weights are saved as npz and everything else as JSON.
"""

from __future__ import annotations

import json
import math
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from drivers import ConfigError, DataError, Polarity
from drivers.atomic_file import atomic_output, check_output_directory, write_atomic
from drivers.pulse_table import PulseTable

FORMAT_VERSION = 1
KNOBS = ("width", "amplitude")
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
MEDIAN = 2
MIN_ROWS_PER_POLARITY = 100
POLARITY_NAMES = {Polarity.SET: "SET", Polarity.RESET: "RESET"}
_WEIGHTS, _META = "weights.npz", "predictor.json"


@contextmanager
def _one_thread():
    """Run torch on one thread: for a net this small, a second thread only adds contention
    (measured 50x slower per step on a busy two-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class PredictorRangeWarning(UserWarning):
    """A present or target conductance lies outside the range the predictor was trained on."""


class QuantileNet(torch.nn.Module):
    """MLP whose five outputs are non-crossing quantiles (median plus softplus offsets)."""

    def __init__(self, n_inputs: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[torch.nn.Module] = []
        width = n_inputs
        for size in hidden:
            layers += [torch.nn.Linear(width, size), torch.nn.SiLU()]
            width = size
        layers.append(torch.nn.Linear(width, len(QUANTILES)))
        self.body = torch.nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        median = out[:, :1]
        up = torch.cumsum(torch.nn.functional.softplus(out[:, 1:3]), dim=1)
        down = torch.cumsum(torch.nn.functional.softplus(out[:, 3:5]), dim=1)
        return torch.cat([median - down[:, 1:2], median - down[:, 0:1], median,
                          median + up[:, 0:1], median + up[:, 1:2]], dim=1)


@dataclass
class Scaling:
    """Affine input and output scaling learned from the training table.

    Amplitude offsets and scales are per polarity (index 0: RESET, 1: SET).
    """

    lng_offset: float
    lng_scale: float
    amp_offset: list[float]
    amp_scale: list[float]
    lnw_offset: float
    lnw_scale: float
    gate_offset: float | None
    gate_scale: float | None
    y_scale: float

    @classmethod
    def fit(cls, table: PulseTable, has_gate: bool) -> Scaling:
        lng = np.log(np.concatenate([table.g_before, table.g_after]))
        lnw = np.log(table.width)
        amp_offset, amp_scale = [], []
        for pol in (Polarity.RESET, Polarity.SET):
            amp = table.amplitude[table.polarity == pol]
            amp_offset.append(float(amp.mean()) if amp.size else 0.0)
            amp_scale.append(_scale(amp))
        y = np.log(table.g_after / table.g_before)
        return cls(float(lng.mean()), _scale(lng), amp_offset, amp_scale, float(lnw.mean()),
                   _scale(lnw), float(np.mean(table.gate)) if has_gate else None,
                   _scale(table.gate) if has_gate else None, max(_scale(y), 1e-3))

    def features(self, g_before, polarity, amplitude, width, gate) -> torch.Tensor:
        """Network inputs, one row per pulse (SI arrays in)."""
        side = (np.asarray(polarity) > 0).astype(np.int64)
        columns = [
            (np.log(g_before) - self.lng_offset) / self.lng_scale,
            np.asarray(polarity, dtype=np.float64),
            (amplitude - np.take(self.amp_offset, side)) / np.take(self.amp_scale, side),
            (np.log(width) - self.lnw_offset) / self.lnw_scale,
        ]
        if self.gate_offset is not None:
            columns.append((gate - self.gate_offset) / self.gate_scale)
        stacked = np.stack(np.broadcast_arrays(*columns), axis=1)
        return torch.as_tensor(stacked, dtype=torch.float32)


def _scale(values: np.ndarray) -> float:
    spread = float(np.std(values)) if np.size(values) else 0.0
    return spread if spread > 1e-12 else 1.0


@dataclass
class PredictorSpec:
    """Everything about a predictor except its weights; saved as JSON.

    ``fixed`` holds, per polarity name, the fixed amplitude (V, knob ``width``) or fixed width
    (s, knob ``amplitude``); ``knob_range`` the knob's safe range per polarity in SI units;
    ``g_range_S`` the conductances seen in training (read conductances, S).
    """

    knob: str
    polarities: list[str]
    fixed: dict[str, float]
    knob_range: dict[str, list[float]]
    g_range_S: list[float]
    gate_V: float | None
    hidden: list[int]
    scaling: Scaling
    training: dict
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str) -> PredictorSpec:
        try:
            raw = json.loads(text)
            version = raw.get("format_version")
            if version != FORMAT_VERSION:
                raise DataError(f"{where}: predictor format version {version!r}; this hilctl "
                                f"reads version {FORMAT_VERSION} (retrain the predictor)")
            raw["scaling"] = Scaling(**raw["scaling"])
            spec = cls(**raw)
        except (json.JSONDecodeError, TypeError, KeyError, AttributeError) as exc:
            raise DataError(f"{where}: not a predictor description ({exc})") from None
        if spec.knob not in KNOBS:
            raise DataError(f"{where}: unknown knob {spec.knob!r}; expected one of {KNOBS}")
        return spec


class Predictor:
    """A trained forward quantile model plus the fixed pulse settings it plans with."""

    def __init__(self, net: QuantileNet, spec: PredictorSpec) -> None:
        self.net = net.eval()
        self.spec = spec
        self._inverse: dict = {}

    @property
    def knob(self) -> str:
        return self.spec.knob

    # -- the forward model -------------------------------------------------------------------
    def quantiles(self, g_before, polarity, amplitude, width, gate=None) -> np.ndarray:
        """Predicted quantiles ``QUANTILES`` of the read G after each pulse, shape (n, 5), in S."""
        g_before = np.asarray(g_before, dtype=np.float64)
        if self.spec.gate_V is not None and gate is None:
            gate = self.spec.gate_V
        x = self.spec.scaling.features(g_before, polarity, amplitude, width, gate)
        out = np.empty((x.shape[0], len(QUANTILES)))
        with torch.no_grad(), _one_thread():
            for start in range(0, x.shape[0], 65536):
                out[start:start + 65536] = self.net(x[start:start + 65536]).double().numpy()
        g0 = np.broadcast_to(g_before, (x.shape[0],))
        return g0[:, None] * np.exp(out * self.spec.scaling.y_scale)

    def median(self, g_before, polarity, amplitude, width, gate=None) -> np.ndarray:
        return self.quantiles(g_before, polarity, amplitude, width, gate)[:, MEDIAN]

    # -- knob coordinates --------------------------------------------------------------------
    def settings(self, polarity: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(amplitude V, width s) for knob coordinates ``u`` (ln width or amplitude)."""
        fixed = np.where(polarity > 0, self.spec.fixed["SET"],
                         self.spec.fixed.get("RESET", np.nan))
        if self.knob == "width":
            return fixed, np.exp(u)
        return u, fixed

    def knob_coordinate(self, amplitude: np.ndarray, width: np.ndarray) -> np.ndarray:
        """The knob in the coordinate the model is inverted in: ln width, or amplitude in V."""
        return np.log(width) if self.knob == "width" else np.asarray(amplitude, dtype=float)

    def u_range(self, polarity_name: str) -> tuple[float, float]:
        lo, hi = self.spec.knob_range[polarity_name]
        return (math.log(lo), math.log(hi)) if self.knob == "width" else (lo, hi)

    def invert(self, g_before, g_after, polarity, other, gate=None, steps: int = 28):
        """Knob coordinate whose median response to ``g_after`` is closest, per row.

        Vectorised bisection over the knob's safe range; ``other`` is the non-knob setting per
        row (amplitude in V for knob ``width``, width in s for knob ``amplitude``). Returns
        (u, inside) where ``inside`` is False where ``g_after`` lies beyond the reachable range.
        """
        polarity = np.asarray(polarity)
        sign = np.where(polarity > 0, 1.0, -1.0)
        lo = np.where(polarity > 0, self._u_bound("SET", 0), self._u_bound("RESET", 0))
        hi = np.where(polarity > 0, self._u_bound("SET", 1), self._u_bound("RESET", 1))
        excess_lo = sign * (self._median_at(g_before, polarity, other, lo, gate) - g_after)
        excess_hi = sign * (self._median_at(g_before, polarity, other, hi, gate) - g_after)
        inside = (excess_lo < 0) & (excess_hi > 0)
        a, b = lo.copy(), hi.copy()
        for _ in range(steps):
            mid = 0.5 * (a + b)
            over = sign * (self._median_at(g_before, polarity, other, mid, gate) - g_after) > 0
            b = np.where(over, mid, b)
            a = np.where(over, a, mid)
        u = np.where(inside, 0.5 * (a + b), np.where(excess_lo >= 0, lo, hi))
        return u, inside

    def _u_bound(self, name: str, end: int) -> float:
        return self.u_range(name)[end] if name in self.spec.knob_range else np.nan

    def _median_at(self, g_before, polarity, other, u, gate) -> np.ndarray:
        if self.knob == "width":
            return self.median(g_before, polarity, other, np.exp(u), gate)
        return self.median(g_before, polarity, u, other, gate)

    # -- planning ----------------------------------------------------------------------------
    def plan(self, present: np.ndarray, target: np.ndarray, shift: np.ndarray | float = 0.0):
        """The pulse per cell that moves ``present`` to ``target`` (read conductances, S).

        ``shift`` is subtracted from each cell's knob coordinate (per-device adaptation: a
        device that answers like a larger knob than it got needs a smaller one): a scalar, one
        value per cell, or shape (2, n) with row 0 for RESET and row 1 for SET pulses.
        Returns a ``hilctl.predictor_inverse.KnobPlan``.
        """
        from hilctl.predictor_inverse import plan_knob

        return plan_knob(self, present, target, shift)

    # -- evaluation --------------------------------------------------------------------------
    def evaluate(self, table: PulseTable) -> dict:
        """Predicted-vs-measured G and knob error on a (held-out) table; JSON-ready numbers.

        G figures compare the predicted median with the measured G after each pulse (relative
        difference) and count how often the measurement falls in the predicted 10-90 %
        interval. The knob error inverts the model on each measured (g_before, g_after) at the
        row's other setting and compares with the knob actually used, over rows whose pulse
        moved the cell by more than 5 % and stayed within the reachable range; ``knob_bias``
        is its signed median (decades of width, or volts).
        """
        table.validate()
        trained = np.isin(table.polarity, [Polarity[p] for p in self.spec.polarities])
        if not trained.any():
            raise DataError(f"evaluation table has no {'/'.join(self.spec.polarities)} rows")
        t = table.subset(trained)
        gate = t.gate if self.spec.gate_V is not None and np.isfinite(t.gate).all() else None
        q = self.quantiles(t.g_before, t.polarity, t.amplitude, t.width, gate)
        rel = np.abs(q[:, MEDIAN] - t.g_after) / t.g_after
        other = t.amplitude if self.knob == "width" else t.width
        u_pred, inside = self.invert(t.g_before, t.g_after, t.polarity, other, gate)
        moved = inside & (np.abs(np.log(t.g_after / t.g_before)) > 0.05)
        unit = np.log(10.0) if self.knob == "width" else 1.0
        error = (u_pred - self.knob_coordinate(t.amplitude, t.width))[moved] / unit
        return {
            "rows": len(t), "knob": self.knob,
            "g_rel_error_median": float(np.median(rel)),
            "g_rel_error_p90": float(np.percentile(rel, 90)),
            "g_within_10pct": float((rel <= 0.10).mean()),
            "interval_80_coverage": float(((t.g_after >= q[:, 0]) & (t.g_after <= q[:, -1]))
                                          .mean()),
            "knob_rows": int(moved.sum()),
            "knob_error_unit": "decades" if self.knob == "width" else "V",
            "knob_error_median": _stat(np.median, np.abs(error)),
            "knob_error_p90": _stat(lambda e: np.percentile(e, 90), np.abs(error)),
            "knob_bias": _stat(np.median, error),
        }

    # -- files -------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write ``weights.npz`` and ``predictor.json`` into ``directory`` (created)."""
        directory = check_output_directory(directory, _META, "predictor")
        arrays = {k: v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}
        with atomic_output(directory / _WEIGHTS, "wb") as fh:
            np.savez(fh, **arrays)
        write_atomic(directory / _META, self.spec.to_json() + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | Path, knob: str | None = None) -> Predictor:
        """Read a predictor directory; ``knob`` (if given) must match the saved one."""
        directory = Path(directory)
        meta, weights = directory / _META, directory / _WEIGHTS
        for path in (meta, weights):
            if not path.is_file():
                raise DataError(f"{directory}: not a predictor directory ({path.name} missing)")
        spec = PredictorSpec.from_json(meta.read_text(), str(meta))
        if knob is not None and knob != spec.knob:
            raise DataError(f"{directory}: predictor plans the {spec.knob} knob, "
                            f"but the {knob} knob was asked for")
        net = QuantileNet(_n_inputs(spec.scaling), tuple(spec.hidden))
        try:
            with np.load(weights, allow_pickle=False) as stored:
                state = {k: torch.as_tensor(stored[k]) for k in stored.files}
        except (ValueError, OSError) as exc:
            raise DataError(f"{weights}: not a weights archive ({exc})") from None
        bad = [k for k, v in state.items() if not torch.isfinite(v).all()]
        if bad:
            raise DataError(f"{weights}: non-finite values in {', '.join(bad)}")
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            raise DataError(f"{weights}: weights do not fit the description ({exc})") from None
        return cls(net, spec)


def _stat(function, values: np.ndarray) -> float | None:
    return float(function(values)) if values.size else None


def _n_inputs(scaling: Scaling) -> int:
    return 4 if scaling.gate_offset is None else 5


# -- training ---------------------------------------------------------------------------------
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
    move (``predictor_inverse.landing_score``), counting a pulse whose knob hits its range
    as a miss. Data-driven, so it works for any device type.
    """
    from hilctl.predictor_inverse import landing_score

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
