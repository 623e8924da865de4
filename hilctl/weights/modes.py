"""How a crossbar turns conductances into weights, in both formulations, and back.

Conventions. A layer is an augmented matrix ``w`` of shape (n_in + 1, n_out): row i is input
row i of the crossbar (the last row is the always-on bias input), column j is output j. Each
weight is a pair of devices (G+, G-). Conductances are those the rig reads at its read voltage
(siemens).

- Voltage mode: inputs are voltages, column currents subtract, w = s (G+ - G-).
- Current mode (current divider): inputs are currents injected into rows; row i's current
  divides among every device on it, so w_ij = (G+_ij - G-_ij) / S_i with
  S_i = sum_k (G+_ik + G-_ik) (+ any other device on the row, the "ballast").

The weight helpers accept numpy arrays and torch tensors alike, so training (autograd) and
mapping (numpy) share one formula. ``VOLTAGE`` and ``CURRENT`` (``weight_mode(name)``) are the
two formulations as objects with the same methods, so callers never branch on the mode's name.
"""

from __future__ import annotations

import numpy as np

from hilctl.drivers import DataError


def _sinh(x):
    """sinh of a numpy array or, keeping autograd, of a torch tensor (without importing torch,
    so that inference stays light)."""
    return x.sinh() if hasattr(x, "sinh") else np.sinh(x)


# -- device I-V ------------------------------------------------------------------------------
def iv_current(g_low_field, volts, v0_V: float):
    """Device current I = G_lf V0 sinh(V / V0) in amperes (G_lf in S, volts in V)."""
    return g_low_field * v0_V * _sinh(volts / v0_V)


def iv_transfer(x, input_V: float, v0_V: float):
    """Normalised current of an input ``x`` in [0, 1] applied as the voltage ``x * input_V``.

    f(x) = sinh(x u) / sinh(u), u = input_V / V0: the current relative to the current at full
    scale, the same for every device since the I-V shape is shared. f(0) = 0 and f(1) = 1
    (the periphery is calibrated at full scale); in between it sags below x, which is what a
    network trained for an ohmic array does not expect.
    """
    u = input_V / v0_V
    return _sinh(x * u) / float(np.sinh(u))


# -- voltage mode ----------------------------------------------------------------------------
def voltage_mode_scale(w: np.ndarray, g_lo: float, g_hi: float) -> float:
    """Weight per siemens s of a layer, so that its largest |w| spans the window [g_lo, g_hi]."""
    check_window(g_lo, g_hi)
    peak = float(np.max(np.abs(w))) if np.size(w) else 0.0
    return peak / (g_hi - g_lo) if peak > 0 else 1.0


def voltage_mode_conductances(w: np.ndarray, g_lo: float, g_hi: float,
                              scale: float | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """(G+, G-, s) in S for w = s (G+ - G-), the idle device of each pair at ``g_lo``."""
    w = np.asarray(w, dtype=np.float64)
    s = voltage_mode_scale(w, g_lo, g_hi) if scale is None else scale
    delta = w / s
    if np.max(np.abs(delta), initial=0.0) > (g_hi - g_lo) * (1 + 1e-9):
        raise DataError(f"voltage-mode scale {s:.3e} per S puts a weight outside the window "
                        f"[{g_lo:.3e}, {g_hi:.3e}] S")
    return g_lo + np.maximum(delta, 0.0), g_lo + np.maximum(-delta, 0.0), s


def voltage_mode_weights(g_plus, g_minus, scale: float):
    """w = s (G+ - G-)."""
    return scale * (g_plus - g_minus)


# -- current mode ----------------------------------------------------------------------------
def current_mode_weights(g_plus, g_minus, ballast=0.0):
    """w_ij = (G+_ij - G-_ij) / S_i, S_i = sum_k (G+_ik + G-_ik) + ballast_i (S).

    ``ballast`` is the summed conductance of other devices on each row (shape (n_rows, 1) or a
    scalar): they take their share of the row's current without feeding an output.
    """
    total = (g_plus + g_minus).sum(axis=1, keepdims=True) + ballast
    return (g_plus - g_minus) / total


def row_bound(g_lo: float, g_hi: float) -> float:
    """Largest sum_j |w_ij| a current-mode row can reach: (G_max - G_min) / (G_max + G_min)."""
    check_window(g_lo, g_hi)
    return (g_hi - g_lo) / (g_hi + g_lo)


def row_headroom(w: np.ndarray, g_lo: float, g_hi: float, ballast=0.0) -> np.ndarray:
    """Largest factor f_i by which row i could be scaled and still be realisable (f >= 1: ok).

    With n pairs per row, a_i = sum_j |w_ij|, m_i = max_j |w_ij| and ballast b_i, a row is
    realisable iff some S_i meets (2 n g_lo + b)/(1 - a) <= S_i <= (2 n g_hi + b)/(1 + a)
    (the row bound, which reduces to a <= (g_hi - g_lo)/(g_hi + g_lo) without ballast) and
    m S_i <= g_hi - g_lo (no single pair needs more than the window).
    """
    check_window(g_lo, g_hi)
    w = np.asarray(w, dtype=np.float64)
    n = w.shape[1]
    b = np.broadcast_to(np.asarray(ballast, dtype=np.float64), (w.shape[0], 1))[:, 0]
    a = np.abs(w).sum(axis=1)
    m = np.abs(w).max(axis=1)
    span = g_hi - g_lo
    with np.errstate(divide="ignore"):
        by_sum = n * span / (a * (n * (g_lo + g_hi) + b))
        by_pair = span / (m * (2 * n * g_lo + b) + a * span)
    return np.minimum(by_sum, by_pair)


def infeasible_rows(w: np.ndarray, g_lo: float, g_hi: float, ballast=0.0) -> np.ndarray:
    """Indices of the rows of a current-mode matrix that no conductances in the window realise."""
    return np.flatnonzero(row_headroom(w, g_lo, g_hi, ballast) < 1.0)


def current_mode_conductances(w: np.ndarray, g_lo: float, g_hi: float, ballast=0.0,
                              common_mode: float = 0.0, rescale: bool = False,
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(G+, G-, row_factor): current-mode conductances in [g_lo, g_hi] S realising ``w``.

    Each row's common mode is chosen: S_i runs from its smallest feasible value
    (``common_mode`` = 0, the idle device of each pair at ``g_lo``, the widest dynamic range) to
    its largest (1). A row outside the bound raises ``DataError`` unless ``rescale``, which
    scales that row into range (``row_factor`` < 1 says by how much; 1 elsewhere).
    """
    w = np.asarray(w, dtype=np.float64)
    if not 0.0 <= common_mode <= 1.0:
        raise DataError(f"common_mode = {common_mode!r}: expected a value in [0, 1]")
    b = np.broadcast_to(np.asarray(ballast, dtype=np.float64), (w.shape[0], 1)).copy()
    headroom = row_headroom(w, g_lo, g_hi, b)
    factor = np.ones(w.shape[0])
    bad = np.flatnonzero(headroom < 1.0)
    if bad.size and not rescale:
        raise DataError(
            f"{bad.size} current-mode row(s) exceed the row bound for the window "
            f"[{g_lo:.3e}, {g_hi:.3e}] S (rows {_first(bad)}; worst needs scaling by "
            f"{headroom[bad].min():.3f}); rescale them (--rescale) or train for this window"
        )
    factor[bad] = headroom[bad] * (1 - 1e-9)
    w = w * factor[:, None]
    n = w.shape[1]
    a = np.abs(w).sum(axis=1, keepdims=True)
    m = np.abs(w).max(axis=1, keepdims=True)
    s_lo = (2 * n * g_lo + b) / (1 - a)
    with np.errstate(divide="ignore"):
        s_hi = np.minimum((2 * n * g_hi + b) / (1 + a), (g_hi - g_lo) / m)
    total = s_lo + common_mode * (np.maximum(s_hi, s_lo) - s_lo)
    delta = w * total
    pair_lo, pair_hi = 2 * g_lo + np.abs(delta), 2 * g_hi - np.abs(delta)
    room = (pair_hi - pair_lo).sum(axis=1, keepdims=True)
    t = np.clip((total - b - pair_lo.sum(axis=1, keepdims=True)) / np.where(room > 0, room, 1),
                0.0, 1.0)
    pair = pair_lo + t * (pair_hi - pair_lo)
    g_plus = np.clip((pair + delta) / 2, g_lo, g_hi)
    g_minus = np.clip((pair - delta) / 2, g_lo, g_hi)
    return g_plus, g_minus, factor


def check_window(g_lo: float, g_hi: float) -> None:
    """Raise ``DataError`` unless 0 < g_lo < g_hi (S)."""
    if not (np.isfinite(g_lo) and np.isfinite(g_hi) and 0 < g_lo < g_hi):
        raise DataError(f"conductance window [{g_lo!r}, {g_hi!r}] S: expected 0 < g_lo < g_hi")


def _first(index: np.ndarray, k: int = 5) -> str:
    shown = ", ".join(str(int(i)) for i in index[:k])
    return shown + (", ..." if index.size > k else "")


# -- the two formulations as objects -----------------------------------------------------------
class VoltageMode:
    """Inputs are voltages through the device I-V; w = s (G+ - G-) with one scale per layer."""

    name = "voltage"
    # The periphery gain is fixed at 1: the scale lives in the weights.
    learns_gain = False
    # Every device of a driven row carries current into some column, so only the tile's own
    # cells matter.
    row_shares_current = False

    def layer_scale(self, w: np.ndarray, g_lo: float, g_hi: float) -> float:
        return voltage_mode_scale(w, g_lo, g_hi)

    def conductances(self, w, g_lo, g_hi, *, scale, ballast=0.0, common_mode=1.0,
                     rescale=False):
        """(G+, G-, row_factor) realising ``w``; row_factor is all ones here."""
        g_plus, g_minus, _ = voltage_mode_conductances(w, g_lo, g_hi, scale)
        return g_plus, g_minus, np.ones(np.shape(w)[0])

    def weights(self, g_plus, g_minus, *, scale, ballast=0.0):
        return voltage_mode_weights(g_plus, g_minus, scale)

    def input_transfer(self, input_V: float, v0_V: float):
        """The input nonlinearity the array imposes: the device I-V at the input voltage."""
        return lambda a: iv_transfer(a, input_V, v0_V)

    def check_weights(self, weights, where: str) -> None:
        """Any finite voltage-mode matrix is realisable (the scale absorbs its size)."""


class CurrentMode:
    """Inputs are currents into rows; each row divides among its devices, w = (G+ - G-) / S_i."""

    name = "current"
    learns_gain = True
    row_shares_current = True

    def layer_scale(self, w: np.ndarray, g_lo: float, g_hi: float) -> float:
        return 1.0

    def conductances(self, w, g_lo, g_hi, *, scale=1.0, ballast=0.0, common_mode=1.0,
                     rescale=False):
        return current_mode_conductances(w, g_lo, g_hi, ballast, common_mode, rescale)

    def weights(self, g_plus, g_minus, *, scale=1.0, ballast=0.0):
        return current_mode_weights(g_plus, g_minus, ballast)

    def input_transfer(self, input_V: float, v0_V: float):
        """None: a divider splits each row's current in proportion to G whatever the shared I-V."""
        return None

    def check_weights(self, weights, where: str) -> None:
        worst = max(float(np.abs(w).sum(axis=1).max()) for w in weights)
        if worst >= 1.0:
            raise DataError(f"{where}: a current-mode row has sum |w| = {worst:.3f}; "
                            "a current divider cannot exceed 1")


VOLTAGE, CURRENT = VoltageMode(), CurrentMode()
MODES = {mode.name: mode for mode in (VOLTAGE, CURRENT)}


def weight_mode(name: str, where: str = "mode") -> VoltageMode | CurrentMode:
    """The formulation called ``name``; ``DataError`` naming ``where`` for any other."""
    try:
        return MODES[name]
    except (KeyError, TypeError):
        raise DataError(f"{where}: mode {name!r} is unknown; expected voltage or current") from None
