"""Inverting the predictor's forward model: from (present G, target G) to the knob.

The median response F(g, u) of the forward model is monotone in the knob coordinate u (ln width,
amplitude or gate; ``hilctl.predictor.knobs``) for each polarity. Per polarity and fixed
settings it is tabulated once on a grid of present conductance x knob, made monotone, and
inverted row by row onto a grid of target conductances; a plan is then a bilinear look-up in
(ln present, ln target), so planning 262k cells costs milliseconds. The grid (160 x 256 in
ln G over the trained range, 256 knob points) keeps the interpolation error far below the
device noise.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from hilctl.drivers import ConfigError, DataError, Polarity
from hilctl.protocols.objective import Objective

from .landing import in_band_log_cdf, most_likely_in_band
from .quantiles import MEDIAN, QUANTILES, PredictorRangeWarning

_G_POINTS, _U_POINTS, _T_POINTS = 160, 256, 256
_CHOICES = 7  # fixed settings a priced objective may choose among, besides the default


@dataclass(frozen=True)
class KnobPlan:
    """One planned pulse per cell (SI units).

    ``u`` is the knob coordinate before any per-device shift (of each pulse's polarity's knob);
    ``clamped`` marks pulses at the strongest end of the safe range, targets beyond what the
    strongest pulse reaches, and cells outside the trained range (``out_of_range`` marks the
    latter alone): the pulses a stall rule may judge. A knob clipped at its weakest end is not
    marked: a device that does not answer the weakest pulse says nothing of being stuck
    (hfox-1t1r: 111 healthy cells that overshot by 8 % were failed after five RESETs below
    their onset, each planned a little stronger).
    """

    polarity: np.ndarray
    amplitude: np.ndarray
    width: np.ndarray
    gate: np.ndarray | None
    u: np.ndarray
    clamped: np.ndarray
    out_of_range: np.ndarray


@dataclass(frozen=True)
class InverseTable:
    """Knob coordinate ``u[i, j]`` taking ln G ``lng[i]`` to ln G ``lnt[j]``; ``reach`` holds
    the ln G the weakest and strongest pulse reach from each ``lng[i]`` (low, high)."""

    lng: np.ndarray
    lnt: np.ndarray
    u: np.ndarray
    reach_low: np.ndarray
    reach_high: np.ndarray

    def lookup(self, lng: np.ndarray, lnt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(u, beyond) for each pair; ``beyond`` where one pulse cannot reach the target."""
        i, a = _cell_of(self.lng, lng)
        j, b = _cell_of(self.lnt, lnt)
        u = ((1 - a) * ((1 - b) * self.u[i, j] + b * self.u[i, j + 1])
             + a * ((1 - b) * self.u[i + 1, j] + b * self.u[i + 1, j + 1]))
        low = np.interp(lng, self.lng, self.reach_low)
        high = np.interp(lng, self.lng, self.reach_high)
        return u, (lnt < low) | (lnt > high)

    def beyond_strongest(self, lng: np.ndarray, lnt: np.ndarray, sign: int) -> np.ndarray:
        """Where the target lies beyond what the strongest pulse of polarity ``sign`` reaches
        (not where even the weakest one overshoots it)."""
        if sign > 0:
            return lnt > np.interp(lng, self.lng, self.reach_high)
        return lnt < np.interp(lng, self.lng, self.reach_low)


def _cell_of(grid: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    step = grid[1] - grid[0]
    position = np.clip((values - grid[0]) / step, 0.0, grid.size - 1.0)
    index = np.minimum(position.astype(np.int64), grid.size - 2)
    return index, position - index


@dataclass(frozen=True)
class ForwardTable:
    """Median ln G after a pulse, ``response[i, k]``, from ln G ``lng[i]`` at knob ``u[k]``
    (ascending), made monotone in the knob; the per-device adaptation compares each measured
    response with it."""

    lng: np.ndarray
    u: np.ndarray
    response: np.ndarray

    def at(self, lng: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(median ln G after, its slope in u) per pair; ``u`` beyond the grid is clipped to
        it and keeps the slope of the end cell, so a look at the edge still has a direction."""
        i, a = _cell_of(self.lng, lng)
        k, b = _cell_of(self.u, u)
        r = self.response
        left = (1 - a) * r[i, k] + a * r[i + 1, k]
        right = (1 - a) * r[i, k + 1] + a * r[i + 1, k + 1]
        return left + b * (right - left), (right - left) / (self.u[1] - self.u[0])


def build_forward(predictor, name: str, fixed: dict[str, float], quantile: int = MEDIAN,
                  points: tuple[int, int] = (_G_POINTS, _U_POINTS)) -> ForwardTable:
    """Tabulate the ``QUANTILES[quantile]`` response of polarity ``name`` at the ``fixed``
    settings on a grid of ln present G x knob, monotone in the knob (SET up, RESET down)."""
    sign = int(Polarity[name])
    g_lo, g_hi = predictor.spec.g_range_S
    lng = np.linspace(np.log(g_lo), np.log(g_hi), points[0])
    u = np.linspace(*predictor.u_range(name), points[1])
    pulse = predictor.knob_of(name).pulse(np.tile(u, lng.size), fixed)
    grid_g = np.repeat(np.exp(lng), u.size)
    outcome = predictor.quantiles(grid_g, np.full(grid_g.size, sign), pulse["amplitude_V"],
                                  pulse["width_s"], pulse.get("gate_V"))
    response = np.log(outcome[:, quantile]).reshape(lng.size, u.size)
    accumulate = np.maximum if sign > 0 else np.minimum
    return ForwardTable(lng, u, accumulate.accumulate(response, axis=1))


def build_inverse(predictor, name: str, fixed: dict[str, float], quantile: int = MEDIAN,
                  points: tuple[int, int, int] = (_G_POINTS, _U_POINTS, _T_POINTS),
                  ) -> InverseTable:
    """Tabulate and invert the response of polarity ``name`` at the ``fixed`` settings: its
    median, or the ``QUANTILES[quantile]`` outcome."""
    forward = build_forward(predictor, name, fixed, quantile, points[:2])
    lng, u, response = forward.lng, forward.u, forward.response
    if int(Polarity[name]) < 0:
        response, u = response[:, ::-1], u[::-1]
    response = response + 1e-9 * np.arange(u.size)  # strictly increasing for np.interp
    g_lo, g_hi = predictor.spec.g_range_S
    lnt = np.linspace(np.log(g_lo), np.log(g_hi), points[2])
    table = np.stack([np.interp(lnt, row, u) for row in response])
    return InverseTable(lng, lnt, table, response[:, 0], response[:, -1])


def plan_knob(predictor, present, target, shift=0.0, cautious=None,
              overshoot: float = 0.5) -> KnobPlan:
    """Plan one pulse per cell; see ``Predictor.plan``.

    Where ``cautious`` (shape (2, n), row 0 RESET, row 1 SET) is true, the pulse is aimed so
    that the predicted chance of overshooting the target is ``overshoot`` instead of one half.
    """
    present = np.asarray(present, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if present.shape != target.shape or present.ndim != 1:
        raise DataError(f"present {present.shape} and target {target.shape} must be equal 1-D")
    if not (np.isfinite(present).all() and np.isfinite(target).all()) or (target <= 0).any():
        raise DataError("present and target conductances must be finite, targets > 0 S")
    spec = predictor.spec
    g_lo, g_hi = spec.g_range_S
    outside = (present < g_lo) | (present > g_hi) | (target < g_lo) | (target > g_hi)
    if outside.any():
        warnings.warn(f"{int(outside.sum())} of {present.size} cells have a present or target "
                      f"conductance outside the {g_lo:.3e}..{g_hi:.3e} S the predictor was "
                      f"trained on; planned for the nearest trained value and flagged clamped",
                      PredictorRangeWarning, stacklevel=3)
    lng, lnt = np.log(np.clip(present, g_lo, g_hi)), np.log(np.clip(target, g_lo, g_hi))
    polarity = np.where(lnt >= lng, Polarity.SET, Polarity.RESET).astype(np.int8)
    u, u_plan = np.zeros(present.size), np.zeros(present.size)
    clamped = outside.copy()
    shift = np.broadcast_to(np.asarray(shift, dtype=np.float64), (2, present.size))
    for name in ("SET", "RESET"):
        rows = polarity == Polarity[name]
        if not rows.any():
            continue
        side = int(Polarity[name] > 0)
        inverse = predictor_inverse(predictor, name)
        u[rows] = inverse.lookup(lng[rows], lnt[rows])[0]
        beyond = inverse.beyond_strongest(lng[rows], lnt[rows], int(Polarity[name]))
        if cautious is not None and overshoot != 0.5:
            careful = rows & cautious[side]
            u[careful] = predictor_inverse(predictor, name, overshoot).lookup(
                lng[careful], lnt[careful])[0]
        lo, hi = predictor.u_range(name)
        wanted = u[rows] - shift[side, rows]
        u_plan[rows] = np.clip(wanted, lo, hi)
        clamped[rows] |= beyond | (wanted > hi)
    amplitude, width, gate = predictor.settings(polarity, _inside_range(predictor, polarity,
                                                                        u_plan))
    return KnobPlan(polarity, amplitude, width, gate, u, clamped, outside)


def predictor_inverse(predictor, name: str, overshoot: float = 0.5) -> InverseTable:
    """The inverse table of polarity ``name`` at the predictor's fixed setting (cached),
    aimed so that the chance of overshooting is ``overshoot`` (one of the predicted
    quantile levels)."""
    if name not in predictor.spec.polarities:
        raise DataError(f"the predictor was trained for {'/'.join(predictor.spec.polarities)} "
                        f"pulses only; some cells need a {name} pulse")
    level = 1.0 - overshoot if name == "SET" else overshoot
    matches = [i for i, q in enumerate(QUANTILES) if abs(q - level) < 1e-9]
    if not matches:
        raise ConfigError(f"overshoot = {overshoot!r}: expected one of "
                          f"{sorted({min(q, 1 - q) for q in QUANTILES} | {0.5})} or their "
                          f"complements")
    key = (name, matches[0])
    cache = predictor.tables
    if key not in cache:
        cache[key] = build_inverse(predictor, name, predictor.spec.fixed[name], matches[0])
    return cache[key]


def predictor_forward(predictor, name: str, quantile: int = MEDIAN,
                      fixed: dict[str, float] | None = None) -> ForwardTable:
    """The forward table of polarity ``name`` at the ``fixed`` settings (default: the
    predictor's own), of its median or the ``QUANTILES[quantile]`` outcome (cached)."""
    if name not in predictor.spec.polarities:
        raise DataError(f"the predictor was trained for {'/'.join(predictor.spec.polarities)} "
                        f"pulses only; some cells need a {name} pulse")
    fixed = predictor.spec.fixed[name] if fixed is None else fixed
    key = ("forward", name, quantile, tuple(sorted(fixed.items())))
    cache = predictor.tables
    if key not in cache:
        cache[key] = build_forward(predictor, name, fixed, quantile)
    return cache[key]


def fixed_choices(predictor, name: str, count: int = _CHOICES) -> list[dict[str, float]]:
    """The fixed settings polarity ``name`` may be planned at: the predictor's own first, then
    ``count`` round values of the searched one (``Knob.searched``: the amplitude of the width
    knob) over the range its training table covered (none for a predictor that did not record
    it: one trained before, or at a fixed setting the user gave; nor where the table held one
    value)."""
    fixed, knob = predictor.spec.fixed[name], predictor.knob_of(name)
    seen = predictor.spec.training.get("searched_range", {}).get(name)
    if seen is None or seen[0] >= seen[1]:
        return [fixed]
    values = knob.candidates(knob.searched, seen[0], seen[1], count)
    return [fixed, *({**fixed, knob.searched: float(v)} for v in values
                     if not np.isclose(v, fixed[knob.searched], rtol=1e-6))]


def offers_choices(predictor) -> bool:
    """Whether some polarity may be planned at more than its one fixed setting; with one, the
    knob alone sets the landing, so there is no cheaper way to the same landing to choose."""
    return any(len(fixed_choices(predictor, name)) > 1 for name in predictor.spec.polarities)


def plan_in_band(predictor, present, target, half_width, shift=0.0,
                 objective: Objective | None = None,
                 choices: dict[str, list[dict[str, float]]] | None = None) -> KnobPlan:
    """One pulse per cell chosen for the largest predicted chance of landing in its band
    ``target ± half_width`` (S), not for a median on the target; or, with an ``objective``
    that prices settings, for the least expected cost of getting there.

    Near an abrupt, probabilistic threshold (a 1T1R SET) the median outcome says little: a
    gate whose median lands on the target may switch only half the cells, while a slightly
    different one lands fewer cells on the median but more of them inside the band. So the
    predicted quantiles of every knob on the forward grid give P(in band) by the
    piecewise-linear CDF of ``in_band_probability``; the best knob wins, near-ties going to the
    one whose median lies nearest the target (``most_likely_in_band``). ``shift`` is the
    per-device knob shift as in ``plan_knob`` (shape (2, n) or broadcastable).

    ``objective`` (``hilctl.protocols.objective``) weighs each knob of each fixed setting in
    ``choices`` (per polarity name, ``fixed_choices``; default: the predictor's own) by its
    expected cost, E[attempts] x cost of an attempt, priced at the knob the device is sent.
    """
    present, target = np.asarray(present, float), np.asarray(target, float)
    plan = plan_knob(predictor, present, target, shift)  # polarity, range checks, fallbacks
    half = np.broadcast_to(np.asarray(half_width, float), target.shape)
    shift = np.broadcast_to(np.asarray(shift, dtype=np.float64), (2, present.size))
    u_plan, clamped = plan.u - _shift_of(plan.polarity, shift), plan.clamped.copy()
    chosen = np.zeros(present.size, dtype=np.int64)
    choices = choices or {name: [predictor.spec.fixed[name]]
                          for name in predictor.spec.polarities}
    for name in predictor.spec.polarities:
        rows = np.flatnonzero(plan.polarity == Polarity[name])
        if rows.size == 0:
            continue
        side = int(Polarity[name] > 0)
        best, which, planned = _cheapest_in_band(
            predictor, name, _Cells(present[rows], target[rows], half[rows], shift[side, rows]),
            objective, choices[name])
        lo, hi = predictor.u_range(name)
        wanted = best - shift[side, rows]
        u_plan[rows] = np.where(planned, np.clip(wanted, lo, hi), u_plan[rows])
        chosen[rows] = np.where(planned, which, 0)
        clamped[rows] = np.where(planned, plan.out_of_range[rows] | (wanted > hi),
                                 clamped[rows])
    if objective is not None and objective.prices_settings:
        # A cell beyond what its fixed setting reaches keeps that mark wherever it is sent, so
        # that the engine's stall rule still fails a stuck device instead of letting another
        # setting pulse it to the end of its budget (measured: 40 % of the energy and time).
        clamped |= plan.clamped
    u_inside = _inside_range(predictor, plan.polarity,
                             np.clip(u_plan, *_u_limits(predictor, plan.polarity)))
    amplitude, width, gate = _settings_at(predictor, plan.polarity, u_inside, chosen, choices)
    return KnobPlan(plan.polarity, amplitude, width, gate, plan.u, clamped, plan.out_of_range)


@dataclass(frozen=True)
class _Cells:
    """What choosing a pulse needs of each cell: read G and target (S), the band's
    half-width (S) and the device's knob shift."""

    present: np.ndarray
    target: np.ndarray
    half: np.ndarray
    shift: np.ndarray

    def part(self, index: slice) -> _Cells:
        return _Cells(self.present[index], self.target[index], self.half[index],
                      self.shift[index])


def _settings_at(predictor, polarity, u, chosen, choices):
    """(amplitude, width, gate) of each pulse at knob ``u`` and fixed setting
    ``choices[polarity][chosen]``."""
    amplitude, width, gate = predictor.settings(polarity, u)
    for name in predictor.spec.polarities:
        for index, fixed in enumerate(choices[name][1:], start=1):
            rows = (polarity == Polarity[name]) & (chosen == index)
            built = predictor.knob_of(name).pulse(u[rows], fixed)
            amplitude[rows], width[rows] = built["amplitude_V"], built["width_s"]
            if gate is not None:
                gate[rows] = built["gate_V"]
    return amplitude, width, gate


def _shift_of(polarity: np.ndarray, shift: np.ndarray) -> np.ndarray:
    return np.where(polarity > 0, shift[1], shift[0])


def _u_limits(predictor, polarity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.full(polarity.size, -np.inf), np.full(polarity.size, np.inf)
    for name in predictor.spec.polarities:
        rows = polarity == Polarity[name]
        lo[rows], hi[rows] = predictor.u_range(name)
    return lo, hi


_NIL_CHANCE = 1e-6  # a predicted chance of landing in band at or below this is none
_REACH_SLACK = 0.02  # medians within 2 % of G of the furthest one go as far (read noise 1 %)


def _cheapest_in_band(predictor, name: str, cells: _Cells, objective: Objective | None,
                      choices: list[dict[str, float]], chunk: int = 128):
    """(knob coordinate of the average device, index into ``choices``, whether it was chosen
    here) per cell: the largest P(in band), or with a pricing ``objective`` the least expected
    cost, over every knob of the forward grid at every fixed setting. A cell no knob gives a
    chance above nil is left to ``plan_knob`` unless the objective prices settings: then it is
    sent the cheapest pulse that goes as far as any (``_cheapest_furthest``)."""
    tables = [[predictor_forward(predictor, name, k, fixed) for k in range(len(QUANTILES))]
              for fixed in choices]
    lng_grid, u = tables[0][0].lng, tables[0][0].u
    # (choices, G, U, 5): ln G after, per fixed setting, present G and knob
    response = np.stack([np.stack([t.response for t in ts], axis=-1) for ts in tables])
    g_lo, g_hi = predictor.spec.g_range_S
    priced = objective is not None and objective.prices_settings
    n = cells.present.size
    best, which, planned = np.empty(n), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    for start in range(0, n, chunk):
        part = slice(start, start + chunk)
        mine = cells.part(part)
        i, a = _cell_of(lng_grid, np.log(np.clip(mine.present, g_lo, g_hi)))
        weight = a[None, :, None, None]
        q = np.moveaxis((1 - weight) * response[:, i] + weight * response[:, i + 1], 0, 1)
        if priced:
            q = _as_sent(q, u, mine.shift, predictor.u_range(name))
        low = np.maximum(mine.target - mine.half, 1e-300)[:, None, None]
        p = (in_band_log_cdf(q, np.log(mine.target + mine.half)[:, None, None])
             - in_band_log_cdf(q, np.log(low))).reshape(q.shape[0], -1)
        miss = np.abs(q[..., MEDIAN] - np.log(mine.target)[:, None, None]).reshape(p.shape)
        planned[part] = p.max(axis=1) > _NIL_CHANCE
        if priced:
            cost = _attempt_costs(predictor, name, mine, u, choices, objective).reshape(p.shape)
            k = objective.choose(p, cost, miss, axis=1)
            beyond = ~planned[part]
            reach = Polarity[name] * q[..., MEDIAN].reshape(p.shape)[beyond]
            k[beyond] = _cheapest_furthest(reach, cost[beyond])
            planned[part] = True
        else:
            k = most_likely_in_band(p, miss, axis=1)
        which[part], best[part] = np.divmod(k, u.size)
        best[part] = u[best[part].astype(np.int64)]
    return best, which, planned


def _as_sent(q: np.ndarray, u: np.ndarray, shift: np.ndarray,
             u_range: tuple[float, float]) -> np.ndarray:
    """The outcome quantiles ``q`` (cells, choices, knobs, quantiles) of the pulses the devices
    are sent: a device of knob shift ``s`` planned at the average device's ``u`` gets
    ``u - s`` clipped to the safe range, and answers like the average device at that plus
    ``s``. Without this, a device that looked very slow is priced at the clipped pulse but
    credited with the landing of the unclipped one, so every fixed setting seems to land it
    and the cheapest, weakest one wins (the lowest amplitude at the longest width)."""
    effective = np.clip(u[None, :] - shift[:, None], *u_range) + shift[:, None]
    k, b = _cell_of(u, effective)  # (cells, knobs), clipped to the grid
    at = k[:, None, :, None]
    low = np.take_along_axis(q, np.broadcast_to(at, q.shape), axis=2)
    high = np.take_along_axis(q, np.broadcast_to(at + 1, q.shape), axis=2)
    return low + b[:, None, :, None] * (high - low)


def _cheapest_furthest(reach: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Index of the setting to send a cell that no setting lands in its band (a target beyond
    what the device reaches, or a stuck device): the cheapest of those whose median goes
    nearly as far towards the target (``reach``, ln G in the pulse's direction) as the
    furthest, rather than the strongest pulse of the knob. The device stops at its bound
    either way; the strongest pulse (100 us) was 2 % of planned write-verify's pulses on
    hfox-1r and 64 % of its energy."""
    far = reach >= reach.max(axis=1, keepdims=True) - _REACH_SLACK
    return np.argmin(np.where(far, cost, np.inf), axis=1)


def _attempt_costs(predictor, name: str, cells: _Cells, u: np.ndarray,
                   choices: list[dict[str, float]], objective: Objective) -> np.ndarray:
    """Cost of one attempt (cells, choices, knobs), at the knob each device is sent (the
    average device's ``u`` less its shift, inside the safe range)."""
    knob, (lo, hi) = predictor.knob_of(name), predictor.u_range(name)
    sent = np.clip(u[None, :] - cells.shift[:, None], lo, hi)
    costs = []
    for fixed in choices:
        pulse = knob.pulse(sent, fixed)
        costs.append(objective.attempt_cost(cells.present[:, None], pulse["amplitude_V"],
                                            pulse["width_s"]))
    return np.stack(costs, axis=1)


def _inside_range(predictor, polarity, u):
    """Undo float round-off (exp(ln w)) that could step a hair outside the safe range."""
    u = u.copy()
    for name in predictor.spec.polarities:
        rows = polarity == Polarity[name]
        knob, (lo, hi) = predictor.knob_of(name), predictor.spec.knob_range[name]
        u[rows] = knob.coordinate(np.clip(knob.value(u[rows]), lo, hi))
    return u
