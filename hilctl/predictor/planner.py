"""The neural planner: the predictor's pulses, corrected per device from how it answered.

The predictor knows the device type, not the device: device-to-device spread of switching
rates means a given pulse moves one device further than another. Per device and polarity the
planner keeps a Gaussian belief about one number, the knob shift ``s``: the device answers a
pulse at knob ``u`` like the average device answers ``u + s`` (for the width knob a device
twice as fast has ``s = ln 2``; for the gate knob a device whose compliance-limited level
sits higher answers like a gate ``s`` volts higher). The next pulse of that polarity is planned
at the average device's knob minus ``s``, so a slow device gets a longer (or stronger) pulse
from its second pulse on.

After each verify read the belief is updated by comparing the measured ln G after the pulse
with the predictor's median response at ``u + s`` (an extended Kalman update, iterated a few
Gauss-Newton steps so that a first look far from the prior still lands right). Working on the
response rather than inverting it matters for the small corrections of write-verify: there the
read noise is comparable to the step, and inverting a noisy tiny step gives a skewed look (a
step that read as zero or backwards has no inverse at all), while the response residual is
plain Gaussian noise. A pulse that saturates the device carries little information because
the response barely depends on the knob there: its slope enters the update's weight, with no
special case. Each update's information is capped by a model floor (the one-number shift does
not capture everything a device does differently), and older information is discounted a
little so the belief follows a device whose behaviour depends on its state. Memory is two
numpy arrays over flat cell indices (information, information-weighted shift), twice: the
run's belief from every look, and the lasting belief a device book keeps, which leaves out
the looks of pulses that did not switch their device (``_moved``).

What limits the second pulse (default preset, 64x64, ``bench/bench_predictor.py``): about half
the devices overshoot their first (SET) pulse, so their second pulse is their first RESET, about
which nothing is known yet (SET and RESET speeds are independent there: a SET look predicts
the RESET need with a correlation of 0.1); they land 72 % within 10 %, the others 84 %. With
the true switching rate of every device given once a polarity has been seen, 79 % would land
within 10 % after two pulses (77 % here), and with the oracle's exact per-device plan 83 %.
(The true rate is no substitute for the learned shift in write-verify, 5.1 pulses per cell
instead of 3.4: the shift a device shows in its own corrections also holds its conductance
window and the predictor's local error there.)
What is left after that is the cycle-to-cycle noise of the looks themselves: on a preset with
rate spread and switching noise only, this planner needs 3.04 pulses per cell at 2 % and one
that knows each device exactly once it has seen it 2.76.
"""

from __future__ import annotations

import numpy as np

from hilctl.drivers import Cells, ConfigError, DataError, Polarity
from hilctl.protocols.objective import Objective
from hilctl.protocols.planner import PlannedPulses, PulsePlanner

from .inverse import (
    ForwardTable,
    fixed_choices,
    plan_in_band,
    plan_knob,
    predictor_forward,
    predictor_inverse,
)
from .knobs import settings_of
from .model import Predictor

_MODEL_FLOOR = 0.25  # fraction of the prior sigma no single look can beat (model error)
_GAUSS_NEWTON_STEPS = 4  # re-linearisations of the response per update
_NO_SWITCH_SIGMAS = 3.0  # a step within this many read-noise sigmas switched nothing
# A device that looks more than this many prior sigmas slower or faster than the average one
# is stuck or broken rather than slow: a planner that prices its pulses sends it the pulse of
# this shift and counts it as at the limit, so the stall rule fails it instead of the belief
# escalating to ever longer (and costlier) pulses (hfox-1r: 34 stuck devices took 127 pulses of
# 100 us, 64 % of planned write-verify's energy).
_PLAUSIBLE_SHIFT = 4.0
# A device the last pulse of a polarity did not move (``_moved``) gets the next pulse of that
# polarity at least this many prior sigmas stronger than that one, as a ramp would: the
# belief alone learns little from a pulse that switched nothing, and crept up by ~1.5 mV of
# gate a pulse on hfox-1t1r at 2 % (a quarter sigma is 4.5 mV there, WL-ISPP steps 5 mV).
_ESCALATION = 0.25


class NeuralPlanner(PulsePlanner):
    """Plans with a ``Predictor`` and adapts per device in ``observe``.

    Parameters
    ----------
    predictor : Predictor
    shape : (rows, cols)
        Shape of the array, for the per-device memory (flat row-major index).
    adapt : bool
        Learn a per-device correction from each verify read.
    prior_sigma : float, optional
        Device-to-device spread of the knob coordinate the prior allows (ln width, or volts
        for the amplitude and gate knobs); estimated from the predictor's own outcome spread
        if absent.
    noise_relative : float
        Cycle-to-cycle spread of a pulse's step, relative to the step.
    read_noise_relative : float
        Spread of one read, relative to the conductance read; both the read before and the
        read after a pulse carry it.
    noise_floor_S : float, optional
        Absolute noise of a step in S (additive switching noise and the read floor); 0.3 % of
        the highest trained conductance if absent.
    memory : float
        Weight an old look keeps at each new look of the same device and polarity (0..1].
    first_overshoot : float
        Predicted chance that a device's first pulse of a polarity overshoots its target
        (0.5: aim the median; one of 0.1, 0.25, 0.5, 0.75, 0.9). Aiming short keeps a
        correction in the polarity whose speed was just learned, but on the default preset
        it costs more than it saves: write-verify-planned at 2 % took 3.43 pulses per cell
        at 0.5 and 3.62 at 0.25 (``bench/bench_predictor.py``).
    bands : Tolerance or Bands, optional
        The run's bands (anything with ``half_width(targets)``): each pulse is then the one
        with the largest predicted chance of landing in its cell's band
        (``inverse.plan_in_band``) instead of the one whose median lands on the target.
        Near the abrupt, probabilistic SET of a 1T1R cell the two differ; ``first_overshoot``
        does not apply then.
    objective : Objective, optional
        What a pulse costs (``hilctl.protocols.objective``). One that prices time or energy
        plans, with ``bands``, the knob and fixed setting (``inverse.fixed_choices``: the
        amplitude of the width knob, over its trained range) of least expected cost; the pulse
        count alone (or None) plans as above, at the predictor's fixed setting.
    """

    name = "neural"

    def __init__(self, predictor: Predictor, shape: tuple[int, int], adapt: bool = True,
                 prior_sigma: float | None = None, noise_relative: float = 0.15,
                 read_noise_relative: float = 0.01, noise_floor_S: float | None = None,
                 memory: float = 0.8,
                 first_overshoot: float = 0.5, bands=None,
                 objective: Objective | None = None) -> None:
        if not 0 < memory <= 1:
            raise ConfigError(f"neural planner memory = {memory!r}: expected 0 < memory <= 1")
        priced = objective is not None and objective.prices_settings
        if priced and bands is None:
            raise ConfigError(f"the {objective.name} objective weighs each pulse's chance of "
                              "landing in its band: give the neural planner the run's bands")
        self.predictor, self.shape, self.adapt = predictor, (int(shape[0]), int(shape[1])), adapt
        # One prior per polarity (row 0 RESET, row 1 SET): their knobs may differ in unit.
        self.prior_sigma = (np.full(2, float(prior_sigma)) if prior_sigma
                            else estimate_prior_sigma(predictor))
        if not (self.prior_sigma > 0).all():
            raise ConfigError(f"neural planner prior_sigma = {prior_sigma!r}: expected > 0")
        self.noise_relative, self.read_noise_relative = noise_relative, read_noise_relative
        self.noise_floor_S = noise_floor_S or 0.003 * predictor.spec.g_range_S[1]
        self.memory, self.first_overshoot, self.bands = memory, first_overshoot, bands
        self.objective, self.priced = objective, priced
        # The fixed settings each polarity may be planned at (the predictor's own first).
        self.choices = {name: fixed_choices(predictor, name) if priced
                        else [predictor.spec.fixed[name]] for name in predictor.spec.polarities}
        n = self.shape[0] * self.shape[1]
        # Row 0: RESET, row 1: SET; pooled precision and precision-weighted shift per device:
        # the run's belief from every look, and the lasting one (``_moved`` looks only)
        # that a device book keeps.
        self.precision, self.weighted = np.zeros((2, n)), np.zeros((2, n))
        self.lasting_precision, self.lasting_weighted = np.zeros((2, n)), np.zeros((2, n))
        # Per device and polarity: the knob its last pulse was sent at, and 1 where that
        # pulse did not move it (``_escalate``); NaN: no pulse of that polarity yet.
        self.last_u, self.unmoved = np.full((2, n), np.nan), np.zeros((2, n))

    def _memories(self) -> tuple[tuple[str, np.ndarray], ...]:
        return (("precision", self.precision), ("weighted", self.weighted),
                ("lasting_precision", self.lasting_precision),
                ("lasting_weighted", self.lasting_weighted),
                ("last_u", self.last_u), ("unmoved", self.unmoved))

    def learned(self, cells: Cells) -> dict[str, np.ndarray]:
        flat = cells.flat(self.shape)
        return {f"{name}_{side}": values[row, flat] for name, values in self._memories()
                for row, side in enumerate(("reset", "set"))}

    def restore_learned(self, cells: Cells, learned: dict[str, np.ndarray]) -> None:
        """A run stored before the lasting belief existed restores it as the run's; one stored
        before the planner escalated restores no last pulses (it escalates from the next)."""
        flat = cells.flat(self.shape)
        for name, values in self._memories():
            for row, side in enumerate(("reset", "set")):
                key = f"{name}_{side}"
                earlier = learned.get(key.removeprefix("lasting_"))
                if name in ("last_u", "unmoved"):
                    earlier = np.nan if name == "last_u" else 0.0
                values[row, flat] = learned.get(key, earlier)

    def belief(self, cells: Cells) -> tuple[np.ndarray, np.ndarray]:
        """(shift, information of the looks) per polarity (2, m) of ``cells``: the lasting
        posterior a device book keeps (information 0: no look yet, the shift is the
        prior's 0)."""
        flat = self._flat(cells)
        prior = self.prior_sigma[:, None] ** -2
        information = self.lasting_precision[:, flat].copy()
        return self.lasting_weighted[:, flat] / (prior + information), information

    def seed_belief(self, cells: Cells, shift: np.ndarray, information: np.ndarray,
                    keep: np.ndarray | float = 1.0) -> None:
        """Start ``cells`` from an earlier posterior (2, m), e.g. a device book's, whose looks
        keep the share ``keep`` of their information (age): they join the prior as the
        planner's own looks do, so the first pulse of a polarity is planned for the device."""
        flat = self._flat(cells)
        prior = self.prior_sigma[:, None] ** -2
        for precision, weighted in ((self.precision, self.weighted),
                                    (self.lasting_precision, self.lasting_weighted)):
            precision[:, flat] = keep * information
            weighted[:, flat] = keep * shift * (prior + information)

    def shift(self, flat: np.ndarray | None = None) -> np.ndarray:
        """Per-device knob shift (2, n): how much larger a knob each device answers like."""
        index = slice(None) if flat is None else flat
        prior = self.prior_sigma[:, None] ** -2
        return self.weighted[:, index] / (prior + self.precision[:, index])

    def plan(self, cells: Cells, present: np.ndarray, target: np.ndarray) -> PlannedPulses:
        """Pulses for ``cells`` from ``present`` to ``target`` (read conductances, S)."""
        flat = self._flat(cells)
        if self.bands is None:
            knob = plan_knob(self.predictor, present, target, self.shift(flat),
                             cautious=self.precision[:, flat] == 0,
                             overshoot=self.first_overshoot)
            return self._escalate(flat, knob, knob.clamped)
        shift, capped = self.shift(flat), np.zeros((2, len(flat)), dtype=bool)
        if self.priced:
            limit = _PLAUSIBLE_SHIFT * self.prior_sigma[:, None]
            shift, capped = np.clip(shift, -limit, limit), np.abs(shift) > limit
        knob = plan_in_band(self.predictor, present, target,
                            self.bands.half_width(np.asarray(target)), shift,
                            self.objective, self.choices)
        at_limit = knob.clamped | np.where(knob.polarity > 0, capped[1], capped[0])
        if self.priced:
            return PlannedPulses(knob.polarity, knob.amplitude, knob.width, at_limit, knob.gate)
        return self._escalate(flat, knob, at_limit)

    def observe(self, cells: Cells, pulses: PlannedPulses, before: np.ndarray,
                after: np.ndarray) -> None:
        """Update each pulsed device's shift from its answer (pulses at one of the fixed
        settings it plans at only; others carry no comparable look)."""
        if not self.adapt or len(cells) == 0:
            return
        flat = self._flat(cells)
        before, after = np.asarray(before, float), np.asarray(after, float)
        polarity = np.asarray(pulses.polarity)
        settings = settings_of(pulses.amplitude, pulses.width, pulses.gate)
        if self.predictor.has_gate and pulses.gate is None:
            return  # pulses without a gate are no look at a gate-aware device response
        used = self.predictor.knob_coordinate(polarity, settings)
        valid = np.isfinite(before) & np.isfinite(after) & (before > 0) & (after > 0)
        for name in self.predictor.spec.polarities:
            side = int(Polarity[name] > 0)
            sent = valid & (polarity == Polarity[name])
            self.last_u[side, flat[sent]] = used[sent]
            self.unmoved[side, flat[sent]] = ~self._moved(name, before[sent], after[sent])
            for fixed in self.choices[name]:
                rows = sent & _at(settings, fixed)
                if not rows.any():
                    continue
                forward = predictor_forward(self.predictor, name, fixed=fixed)
                self._learn(name, forward, side, rows, flat, used, before, after,
                            self.precision, self.weighted)
                rows[rows] = self._moved(name, before[rows], after[rows])
                self._learn(name, forward, side, rows, flat, used, before, after,
                            self.lasting_precision, self.lasting_weighted)

    def _escalate(self, flat: np.ndarray, knob, at_limit: np.ndarray) -> PlannedPulses:
        """The planned pulses, those to devices the last pulse of the same polarity did not
        move made at least ``_ESCALATION`` prior sigmas stronger than that one (the knob's
        strongest end, where they then sit, is at the limit)."""
        settings = settings_of(knob.amplitude, knob.width, knob.gate)
        settings = {name: values.copy() for name, values in settings.items()}
        at_limit = at_limit.copy()
        u = self.predictor.knob_coordinate(knob.polarity, settings)
        for name in self.predictor.spec.polarities:
            side = int(Polarity[name] > 0)
            floor = self.last_u[side, flat] + _ESCALATION * self.prior_sigma[side]
            rows = np.flatnonzero((knob.polarity == Polarity[name])
                                  & (self.unmoved[side, flat] > 0) & (u < floor))
            if rows.size == 0:
                continue
            strategy, (_, hi) = self.predictor.knob_of(name), self.predictor.u_range(name)
            low, high = self.predictor.spec.knob_range[name]
            settings[strategy.setting][rows] = np.clip(strategy.value(floor[rows]), low, high)
            at_limit[rows] |= floor[rows] >= hi
        return PlannedPulses(knob.polarity, settings["amplitude_V"], settings["width_s"],
                             at_limit, settings.get("gate_V"))

    def _learn(self, name: str, forward: ForwardTable, side: int, rows: np.ndarray,
               flat: np.ndarray, used: np.ndarray, before: np.ndarray, after: np.ndarray,
               precisions: np.ndarray, weights: np.ndarray) -> None:
        """Add the looks at ``rows`` (pulses of polarity ``name`` at the fixed setting
        ``forward`` answers for) to one belief (``precisions``, ``weights``, in place)."""
        if not rows.any():
            return
        index = flat[rows]
        precision = self.memory * precisions[side, index]
        weighted = self.memory * weights[side, index]
        gain, pull = self._update(name, forward, used[rows], before[rows], after[rows],
                                  precision, weighted)
        precisions[side, index] = precision + gain
        weights[side, index] = weighted + pull

    def _moved(self, name: str, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        """False for a pulse whose reads differ by no more than ``_NO_SWITCH_SIGMAS`` of
        their noise in its direction: it did not switch the device. Such a look steers the
        run (the next pulse is stronger) but the lasting belief drops it: near a threshold
        (an abrupt 1T1R SET whose gate stayed below what the device needed that time) not
        switching is a mode of the response, drawn anew at each pulse, not the Gaussian tail
        of a weak device. Kept, it taught the book much weaker devices (hfox-1t1r: SET
        shifts down to -0.14 V of gate against a device spread of 0.013 V), and a one-shot
        from that book landed fewer cells than one without (``bench/bench_device_book.py``).
        A censored look instead (the shift lies below where the average device stops
        switching) biased the shifts as much: switching near threshold is mostly noise."""
        noise = np.sqrt(2 * self.read_noise_relative ** 2 + (self.noise_floor_S / before) ** 2)
        return Polarity[name] * np.log(after / before) >= _NO_SWITCH_SIGMAS * noise

    def _update(self, name: str, forward: ForwardTable, used: np.ndarray, before: np.ndarray,
                after: np.ndarray, precision: np.ndarray,
                weighted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(information, information-weighted shift) one pulse adds to a device's belief.

        Gauss-Newton on the posterior of the shift: linearise the median response at the
        current estimate, take the Kalman step, repeat. The step's noise is scaled by the
        step the device actually took (its cycle-to-cycle noise multiplies its own step; the
        average device's step at a still poor estimate misjudges it: measured 3.9 instead
        of 3.4 pulses per cell in write-verify at 2 %), plus both reads and the floor.
        """
        g_lo, g_hi = self.predictor.spec.g_range_S
        lng, lnt = np.log(np.clip(before, g_lo, g_hi)), np.log(np.clip(after, g_lo, g_hi))
        lo, hi = self.predictor.u_range(name)
        noise = np.sqrt((self.noise_relative * (after - before)) ** 2
                        + (self.read_noise_relative * before) ** 2
                        + (self.read_noise_relative * after) ** 2
                        + self.noise_floor_S ** 2) / after
        sigma = self.prior_sigma[int(Polarity[name] > 0)]
        floor = (_MODEL_FLOOR * sigma) ** 2
        prior = sigma ** -2 + precision
        mean = weighted / prior

        def look(shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            response, slope = forward.at(lng, used + shift)
            denominator = noise ** 2 + floor * slope ** 2
            gain = slope ** 2 / denominator  # information of this look about the shift
            return gain, gain * shift + slope * (lnt - response) / denominator

        shift = mean
        for _ in range(_GAUSS_NEWTON_STEPS):
            gain, pull = look(shift)
            shift = np.clip((prior * mean + pull) / (prior + gain), lo - used, hi - used)
        return look(shift)

    def _flat(self, cells: Cells) -> np.ndarray:
        rows, cols = self.shape
        if len(cells) and (cells.rows.min() < 0 or cells.rows.max() >= rows
                           or cells.cols.min() < 0 or cells.cols.max() >= cols):
            raise DataError(f"cells outside the {rows}x{cols} array the neural planner was "
                            f"made for")
        return cells.flat(self.shape)


def _at(settings: dict[str, np.ndarray], fixed: dict[str, float]) -> np.ndarray:
    """True for pulses whose settings named in ``fixed`` are those values."""
    match = np.ones(next(iter(settings.values())).shape, dtype=bool)
    for setting, value in fixed.items():
        match &= np.isclose(settings[setting], value, rtol=1e-6)
    return match


def estimate_prior_sigma(predictor: Predictor, pairs: int = 2000) -> np.ndarray:
    """Typical outcome spread of planned pulses in knob units (ln width, or volts of the
    amplitude or gate), per polarity (row 0 RESET, row 1 SET).

    The predicted 25-75 % spread of ln G after a pulse, times how far the knob must move to
    shift the median by that much, over moves larger than 30 % in the trained range. It holds
    device-to-device and cycle-to-cycle spread together, so it is a generous prior for the
    device part alone. Polarities whose knob is the same setting (both the width) pool their
    spreads, so a predictor of one knob has one prior; a gate and an amplitude are both volts
    but not one knob (hfox-1t1r: SET gate 0.038 V, RESET amplitude 0.14 V; pooled, the SET
    prior was 0.046 V and write-verify-planned at 2 % took 27.5 pulses per cell on 32x32
    instead of 25.4).
    """
    rng = np.random.default_rng(0)  # one stream, polarity after polarity
    spreads = {name: _knob_spreads(predictor, name, pairs, rng)
               for name in predictor.spec.polarities}
    sigma = np.ones(2)
    for name in spreads:
        setting = predictor.knob_of(name).setting
        pooled = np.concatenate([v for n, v in spreads.items()
                                 if predictor.knob_of(n).setting == setting])
        if pooled.size == 0:
            raise DataError("cannot estimate the device spread: no move in the trained range "
                            "is reachable with one pulse; pass prior_sigma")
        sigma[int(Polarity[name] > 0)] = float(np.median(pooled))
    return sigma


def _knob_spreads(predictor: Predictor, name: str, pairs: int,
                  rng: np.random.Generator) -> np.ndarray:
    """Per sampled move of polarity ``name``, the outcome spread in knob units."""
    g_lo, g_hi = predictor.spec.g_range_S
    inverse = predictor_inverse(predictor, name)
    lng = rng.uniform(np.log(g_lo), np.log(g_hi), pairs)
    lnt = rng.uniform(np.log(g_lo), np.log(g_hi), pairs)
    keep = (np.sign(lnt - lng) == np.sign(Polarity[name])) & (np.abs(lnt - lng) > 0.3)
    lng, lnt = lng[keep], lnt[keep]
    u, beyond = inverse.lookup(lng, lnt)
    lng, lnt, u = lng[~beyond], lnt[~beyond], u[~beyond]
    slope = (inverse.lookup(lng, lnt + 0.01)[0] - inverse.lookup(lng, lnt - 0.01)[0]) / 0.02
    polarity = np.full(u.size, int(Polarity[name]))
    amplitude, width, gate = predictor.settings(polarity, u)
    q = np.log(predictor.quantiles(np.exp(lng), polarity, amplitude, width, gate))
    return np.abs(slope) * (q[:, 3] - q[:, 1]) / 1.349
