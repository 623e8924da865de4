"""The neural pulse predictor: which pulse moves a device from its present to its target G.

Why a forward model, inverted, rather than a network that regresses the knob directly: in a
pulse-response table the knob (width, amplitude or gate) is drawn at random and the response is
noisy, so a regression of knob on (g_before, g_after) is pulled towards the mean of the knob's
sampling distribution (regression dilution), and a lab's table with another sampling design
would give another bias. The forward direction has no such problem: the knob is an exact input
and the noise sits on the output, where it belongs. So the network learns

    ln G_after = F(ln G_before, polarity, amplitude, ln width[, gate])

as five conditional quantiles (pinball loss), which also tells how spread the outcome is, and
the planner inverts the median, which is monotone in the knob, through a table tabulated once
per polarity (``hilctl.predictor.inverse``); planning 262k cells is then a bilinear look-up.

Each polarity plans one knob (``hilctl.predictor.knobs``: width, amplitude or gate) with the
other settings fixed. One fixed setting is chosen from the data (the one whose predicted
outcomes are tightest, see ``choose_fixed``) unless given, the rest sit at the table's median.
The knob's safe range is the range seen in training. Weights are saved as npz and everything
else as JSON.
"""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from hilctl.drivers import DataError, Polarity
from hilctl.drivers.atomic_file import check_output_directory, write_atomic
from hilctl.drivers.checksums import save_npz, verify
from hilctl.drivers.input_files import load_npz
from hilctl.drivers.pulse_table import PulseTable

from .inverse import plan_knob
from .knobs import KNOBS, SETTINGS, Knob, knob_text, parse_knobs
from .quantiles import MEDIAN, QUANTILES

FORMAT_VERSION = 2
MIN_ROWS_PER_POLARITY = 100
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

    ``knob`` names the knob strategy per polarity name (``hilctl.predictor.knobs``);
    ``fixed`` holds, per polarity name, the settings that knob keeps fixed (by
    ``knobs.SETTINGS`` name, SI units); ``knob_range`` the knob's safe range per polarity in
    SI units; ``g_range_S`` the conductances seen in training (read conductances, S).
    """

    knob: dict[str, str]
    polarities: list[str]
    fixed: dict[str, dict[str, float]]
    knob_range: dict[str, list[float]]
    g_range_S: list[float]
    hidden: list[int]
    scaling: Scaling
    training: dict
    format_version: int = FORMAT_VERSION
    weights_sha256: str | None = None  # of the weights file saved with it; None before checksums

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str) -> PredictorSpec:
        try:
            raw = _upgraded(json.loads(text), where)
            raw["scaling"] = Scaling(**raw["scaling"])
            spec = cls(**raw)
        except (json.JSONDecodeError, TypeError, KeyError, AttributeError) as exc:
            raise DataError(f"{where}: not a predictor description ({exc})") from None
        unknown = sorted(set(spec.knob.values()) - set(KNOBS))
        if unknown or set(spec.knob) != set(spec.polarities):
            raise DataError(f"{where}: knob {spec.knob!r} is not one of {', '.join(KNOBS)} "
                            f"for each of {spec.polarities}")
        _check_numbers(spec, where)
        return spec


def _check_numbers(spec: PredictorSpec, where: str) -> None:
    """Every number a description holds is a finite one of the right sign and order; a
    hand-edited or corrupt file fails here, by name, instead of deep inside planning."""
    s = spec.scaling
    scales = {"scaling.lng_scale": s.lng_scale, "scaling.lnw_scale": s.lnw_scale,
              "scaling.y_scale": s.y_scale, "scaling.gate_scale": s.gate_scale,
              **{f"scaling.amp_scale[{i}]": v for i, v in enumerate(s.amp_scale)}}
    offsets = {"scaling.lng_offset": s.lng_offset, "scaling.lnw_offset": s.lnw_offset,
               "scaling.gate_offset": s.gate_offset,
               **{f"scaling.amp_offset[{i}]": v for i, v in enumerate(s.amp_offset)},
               **{f"fixed.{p}.{k}": v for p, values in spec.fixed.items()
                  for k, v in values.items()}}
    for name, value in {**scales, **offsets}.items():
        optional = name in ("scaling.gate_scale", "scaling.gate_offset") and value is None
        if not optional and not (_is_finite_number(value) and (name not in scales or value > 0)):
            need = "a positive finite number" if name in scales else "a finite number"
            raise DataError(f"{where}: {name} = {value!r}; expected {need}")
    ranges = {"g_range_S": spec.g_range_S,
              **{f"knob_range.{p}": r for p, r in spec.knob_range.items()}}
    for name, pair in ranges.items():
        if not (isinstance(pair, list) and len(pair) == 2 and all(map(_is_finite_number, pair))
                and 0 <= pair[0] < pair[1]):
            raise DataError(f"{where}: {name} = {pair!r}; expected [low, high] with "
                            "0 <= low < high")
    if not all(type(n) is int and n > 0 for n in spec.hidden):
        raise DataError(f"{where}: hidden = {spec.hidden!r}; expected positive whole numbers")


def _is_finite_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _upgraded(raw: dict, where: str) -> dict:
    """A version-1 description in today's shape: its one knob for every polarity, its one
    fixed value under the setting that knob kept fixed, and its gate among the fixed ones."""
    version = raw.get("format_version")
    if version == 1:
        knob = KNOBS[raw["knob"]]
        other = "amplitude_V" if knob.setting == "width_s" else "width_s"
        gate = raw.pop("gate_V")
        raw["knob"] = {name: knob.name for name in raw["polarities"]}
        raw["fixed"] = {name: {other: value, **({} if gate is None else {"gate_V": gate})}
                        for name, value in raw["fixed"].items()}
        raw["format_version"] = version = FORMAT_VERSION
    if version != FORMAT_VERSION:
        raise DataError(f"{where}: predictor format version {version!r}; this hilctl "
                        f"reads versions 1 and {FORMAT_VERSION} (retrain the predictor)")
    return raw


class Predictor:
    """A trained forward quantile model plus the fixed pulse settings it plans with."""

    def __init__(self, net: QuantileNet, spec: PredictorSpec) -> None:
        self.net = net.eval()
        self.spec = spec
        # Look-up tables built from this net (inverse and forward, per polarity), by key.
        self.tables: dict = {}

    # -- the forward model -------------------------------------------------------------------
    def quantiles(self, g_before, polarity, amplitude, width, gate=None) -> np.ndarray:
        """Predicted quantiles ``QUANTILES`` of the read G after each pulse, shape (n, 5), in S."""
        g_before = np.asarray(g_before, dtype=np.float64)
        if self.has_gate and gate is None:
            shape = np.broadcast_shapes(np.shape(g_before), np.shape(polarity))
            gate = self._fixed_gate(np.broadcast_to(polarity, shape))
        x = self.spec.scaling.features(g_before, polarity, amplitude, width, gate)
        out = np.empty((x.shape[0], len(QUANTILES)))
        with torch.no_grad(), _one_thread():
            for start in range(0, x.shape[0], 65536):
                out[start:start + 65536] = self.net(x[start:start + 65536]).double().numpy()
        g0 = np.broadcast_to(g_before, (x.shape[0],))
        return g0[:, None] * np.exp(out * self.spec.scaling.y_scale)

    def _fixed_gate(self, polarity: np.ndarray) -> np.ndarray:
        """The gate each pulse is planned with where the gate stays fixed; a polarity whose
        knob is the gate has no default, so its pulses must say their gate."""
        gate = np.full(np.shape(polarity), np.nan)
        for name in self.spec.polarities:
            if "gate_V" in self.spec.fixed[name]:
                gate[np.asarray(polarity) == Polarity[name]] = self.spec.fixed[name]["gate_V"]
        if np.isnan(gate).any():
            raise DataError("the gate is this predictor's knob (or the polarity is not "
                            "trained); give each pulse's gate")
        return gate

    def median(self, g_before, polarity, amplitude, width, gate=None) -> np.ndarray:
        return self.quantiles(g_before, polarity, amplitude, width, gate)[:, MEDIAN]

    # -- knob coordinates --------------------------------------------------------------------
    @property
    def knob(self) -> str:
        """The knob spec as text (``"width"``, or ``"set=gate,reset=amplitude"``)."""
        return knob_text(self.spec.knob)

    def knob_of(self, name: str) -> Knob:
        """The knob strategy of polarity ``name``."""
        return KNOBS[self.spec.knob[name]]

    @property
    def has_gate(self) -> bool:
        return self.spec.scaling.gate_offset is not None

    def pulse_settings(self, polarity: np.ndarray, u: np.ndarray) -> dict[str, np.ndarray]:
        """Every setting (by ``knobs.SETTINGS`` name) of the pulses at knob coordinates ``u``;
        NaN for a polarity the predictor was not trained for."""
        polarity, u = np.asarray(polarity), np.asarray(u, dtype=np.float64)
        names = SETTINGS if self.has_gate else SETTINGS[:2]
        out = {name: np.full(u.shape, np.nan) for name in names}
        for name in self.spec.polarities:
            rows = polarity == Polarity[name]
            built = self.knob_of(name).pulse(u[rows], self.spec.fixed[name])
            for setting in names:
                out[setting][rows] = built[setting]
        return out

    def settings(self, polarity: np.ndarray, u: np.ndarray):
        """(amplitude V, width s, gate V or None) for knob coordinates ``u``."""
        built = self.pulse_settings(polarity, u)
        return built["amplitude_V"], built["width_s"], built.get("gate_V")

    def knob_coordinate(self, polarity: np.ndarray, settings: dict[str, np.ndarray]):
        """Each pulse's knob coordinate ``u`` (its polarity's knob), from its settings."""
        polarity = np.asarray(polarity)
        u = np.full(polarity.shape, np.nan)
        for name in self.spec.polarities:
            rows = polarity == Polarity[name]
            knob = self.knob_of(name)
            u[rows] = knob.coordinate(settings[knob.setting][rows])
        return u

    def at_fixed(self, polarity: np.ndarray, settings: dict[str, np.ndarray]) -> np.ndarray:
        """True for pulses whose non-knob settings are the predictor's fixed ones."""
        polarity = np.asarray(polarity)
        match = np.zeros(polarity.shape, dtype=bool)
        for name in self.spec.polarities:
            rows = polarity == Polarity[name]
            same = rows.copy()
            for setting, value in self.spec.fixed[name].items():
                same &= np.isclose(settings[setting], value, rtol=1e-6)
            match |= same
        return match

    def u_range(self, polarity_name: str) -> tuple[float, float]:
        return self.knob_of(polarity_name).u_range(*self.spec.knob_range[polarity_name])

    def invert(self, g_before, g_after, polarity, settings: dict[str, np.ndarray],
               steps: int = 28):
        """Knob coordinate whose median response to ``g_after`` is closest, per row.

        Vectorised bisection over the knob's safe range; ``settings`` hold each row's pulse
        settings, of which the knob's own is ignored. Returns (u, inside) where ``inside`` is
        False where ``g_after`` lies beyond the reachable range.
        """
        polarity = np.asarray(polarity)
        sign = np.where(polarity > 0, 1.0, -1.0)
        lo = np.where(polarity > 0, self._u_bound("SET", 0), self._u_bound("RESET", 0))
        hi = np.where(polarity > 0, self._u_bound("SET", 1), self._u_bound("RESET", 1))

        def excess(u):
            return sign * (self._median_at(g_before, polarity, settings, u) - g_after)

        inside = (excess(lo) < 0) & (excess(hi) > 0)
        outside_low = excess(lo) >= 0
        a, b = lo.copy(), hi.copy()
        for _ in range(steps):
            mid = 0.5 * (a + b)
            over = excess(mid) > 0
            b = np.where(over, mid, b)
            a = np.where(over, a, mid)
        u = np.where(inside, 0.5 * (a + b), np.where(outside_low, lo, hi))
        return u, inside

    def _u_bound(self, name: str, end: int) -> float:
        return self.u_range(name)[end] if name in self.spec.knob_range else np.nan

    def _median_at(self, g_before, polarity, settings, u) -> np.ndarray:
        moved = dict(settings)
        for name in self.spec.polarities:
            knob = self.knob_of(name)
            rows = polarity == Polarity[name]
            moved[knob.setting] = np.where(rows, knob.value(u), moved[knob.setting])
        return self.median(g_before, polarity, moved["amplitude_V"], moved["width_s"],
                           moved.get("gate_V"))

    # -- planning ----------------------------------------------------------------------------
    def plan(self, present: np.ndarray, target: np.ndarray, shift: np.ndarray | float = 0.0):
        """The pulse per cell that moves ``present`` to ``target`` (read conductances, S).

        ``shift`` is subtracted from each cell's knob coordinate (per-device adaptation: a
        device that answers like a larger knob than it got needs a smaller one): a scalar, one
        value per cell, or shape (2, n) with row 0 for RESET and row 1 for SET pulses.
        Returns a ``hilctl.predictor.inverse.KnobPlan``.
        """
        return plan_knob(self, present, target, shift)

    # -- files -------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write ``weights.npz`` and ``predictor.json`` into ``directory`` (created)."""
        directory = check_output_directory(directory, _META, "predictor")
        arrays = {k: v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}
        spec = replace(self.spec, weights_sha256=save_npz(directory / _WEIGHTS, arrays))
        write_atomic(directory / _META, spec.to_json() + "\n")
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
        if knob is not None and parse_knobs(knob, tuple(spec.polarities)) != spec.knob:
            raise DataError(f"{directory}: predictor plans the {knob_text(spec.knob)} knob, "
                            f"but the {knob} knob was asked for")
        verify(weights, spec.weights_sha256, _META)
        net = QuantileNet(_n_inputs(spec.scaling), tuple(spec.hidden))
        state = {k: torch.as_tensor(v)
                 for k, v in load_npz(weights, None, "predictor weights").items()}
        bad = [k for k, v in state.items() if not torch.isfinite(v).all()]
        if bad:
            raise DataError(f"{weights}: non-finite values in {', '.join(bad)}")
        mismatch = _state_mismatch(net.state_dict(), state)
        if mismatch:
            raise DataError(f"{weights}: weights do not fit the description ({mismatch})")
        net.load_state_dict(state)
        return cls(net, spec)


def _state_mismatch(expected: dict, found: dict) -> str:
    """Missing, extra and wrongly shaped tensors in one line ('' if none): torch's own message
    for a failed ``load_state_dict`` runs over several lines."""
    wrong = [f"{k} {tuple(found[k].shape)} not {tuple(v.shape)}" for k, v in expected.items()
             if k in found and found[k].shape != v.shape]
    parts = [("missing", sorted(set(expected) - set(found))),
             ("unexpected", sorted(set(found) - set(expected))), ("wrong shape", wrong)]
    return "; ".join(f"{what}: {', '.join(names)}" for what, names in parts if names)


def _n_inputs(scaling: Scaling) -> int:
    return 4 if scaling.gate_offset is None else 5
