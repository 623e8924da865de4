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
per polarity (``hilctl.predictor.inverse``); planning 262k cells is then a bilinear look-up.

Knob ``width`` (default): the width at a fixed amplitude per polarity; knob ``amplitude``: the
amplitude at a fixed width per polarity. The fixed settings are chosen from the data (the one
whose predicted outcomes are tightest, see ``choose_fixed``) unless given. The knob's safe
range is the range seen in training. Weights are saved as npz and everything else as JSON.
"""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from hilctl.drivers import DataError, Polarity
from hilctl.drivers.atomic_file import atomic_output, check_output_directory, write_atomic
from hilctl.drivers.pulse_table import PulseTable

from .inverse import plan_knob
from .quantiles import MEDIAN, QUANTILES

FORMAT_VERSION = 1
KNOBS = ("width", "amplitude")
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
        # Look-up tables built from this net (inverse and forward, per polarity), by key.
        self.tables: dict = {}

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
        Returns a ``hilctl.predictor.inverse.KnobPlan``.
        """
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
