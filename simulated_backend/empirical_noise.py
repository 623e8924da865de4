"""Read noise of a measured pulse-response table, told apart from switching noise.

Two reads of a cell with no pulse between them are row i's read after and the same cell's next
row's read before. A lab either reuses one read for both (the values are bit-identical, as in
pulse trains) or reads again (they differ by the read noise: 0.3-1.4 % on the 1T1R cells of
Le et al., "RADAR", IEEE TED 2021).

- **Separate reads** (different values within ``CONSECUTIVE_TOLERANCE`` of each other; a larger
  gap means the cell changed between them; when most pairs differ by more, the rows are not
  in time order and give no estimate) give the noise directly:
  var(d) = 2 sigma(G)^2 for their difference d, with sigma(G)^2 = (r G)^2 + f^2 (relative part
  r, floor f in S) fitted over bins of G by least squares on robust variances. Their
  differences must centre on zero after either polarity: a one-sided gap means a pulse lies
  between the two reads (rows left out of the table, e.g. a held-out half), and then the
  pairs say nothing about the read noise.
- **Shared reads** leave the noise in the responses only: it makes successive responses
  anti-correlated, cov(dG_k, dG_k+1) - cov(dG_k, dG_k+2) = -sigma^2 (the lag-2 term removes what
  a device's persistent speed adds at every lag), which gives a floor f with r = 0.

Fewer than ``MIN_PAIRS`` pairs of either kind: no estimate (0, 0).
"""

from __future__ import annotations

import numpy as np

from hilctl.drivers.pulse_table import PulseTable

CONSECUTIVE_TOLERANCE = 0.05  # relative gap beyond which two reads saw a changed cell
MIN_PAIRS = 30
_NOISE_BINS = 8


def next_rows(table: PulseTable) -> tuple[np.ndarray, np.ndarray]:
    """Rows (i, j): row j is the same cell's next pulse in table order."""
    order = np.argsort(table.cell, kind="stable")
    i, j = order[:-1], order[1:]
    same = table.cell[i] == table.cell[j]
    return i[same], j[same]


def separate_read_noise(table: PulseTable, i: np.ndarray, j: np.ndarray) -> tuple[float, float]:
    """(r, f) from pairs of separate consecutive reads; (0, 0) with too few of them."""
    first, second = table.g_after[i], table.g_before[j]
    mean = (first + second) / 2
    diff = second - first
    keep = (diff != 0) & (np.abs(diff) <= CONSECUTIVE_TOLERANCE * mean)
    if keep.sum() < max(MIN_PAIRS, diff.size / 2):  # rows not in time order
        return 0.0, 0.0
    if not _centred(diff[keep] / mean[keep], table.polarity[i][keep]):
        return 0.0, 0.0
    mean, diff = mean[keep], diff[keep]
    bins = int(np.clip(mean.size // MIN_PAIRS, 1, _NOISE_BINS))
    edges = np.quantile(mean, np.linspace(0, 1, bins + 1)[1:-1])
    which = np.searchsorted(edges, mean)
    g = np.array([np.median(mean[which == k]) for k in range(bins)])
    var = np.array([_mad_var(diff[which == k]) for k in range(bins)]) / 2
    return _fit_relative_and_floor(g, var)


def _centred(relative: np.ndarray, polarity: np.ndarray) -> bool:
    """Whether the differences after each polarity centre on zero (within half a sigma)."""
    for p in np.unique(polarity):
        d = relative[polarity == p]
        if d.size >= MIN_PAIRS and abs(np.median(d)) > 0.5 * np.sqrt(_mad_var(d)):
            return False
    return True


def _mad_var(values: np.ndarray) -> float:
    """Variance from the median absolute deviation (a few changed cells do not decide it)."""
    return float((1.4826 * np.median(np.abs(values - np.median(values)))) ** 2)


def _fit_relative_and_floor(g: np.ndarray, var: np.ndarray) -> tuple[float, float]:
    """Least squares var = r^2 g^2 + f^2 with r^2, f^2 >= 0 (one term alone if the other
    would come out negative)."""
    design = np.stack([g ** 2, np.ones_like(g)], axis=1)
    if g.size >= 2 and np.ptp(g) > 0:
        (r2, f2), *_ = np.linalg.lstsq(design, var, rcond=None)
        if r2 >= 0 and f2 >= 0:
            return float(np.sqrt(r2)), float(np.sqrt(f2))
    relative = float(np.sum(var * g ** 2) / np.sum(g ** 4))
    floor = float(np.mean(var))
    if np.sum((var - relative * g ** 2) ** 2) <= np.sum((var - floor) ** 2):
        return float(np.sqrt(relative)), 0.0
    return 0.0, float(np.sqrt(floor))


def shared_read_noise(table: PulseTable, i: np.ndarray, j: np.ndarray,
                      median_response: np.ndarray) -> float:
    """Floor f (S) from the anti-correlation of responses that share a read; 0 with too few.

    ``median_response`` is the model's median dG of every row (its own setting and G).
    """
    same = table.g_before[j] == table.g_after[i]
    for column in (table.polarity, table.amplitude, table.width):
        same &= column[i] == column[j]
    first, second = i[same], j[same]
    if first.size < MIN_PAIRS:
        return 0.0
    residual = table.g_after - table.g_before - median_response
    following = np.full(len(table), -1)
    following[first] = second
    third = following[second]
    has_third = third >= 0
    lag1 = np.mean(residual[first] * residual[second])
    lag2 = (np.mean(residual[first[has_third]] * residual[third[has_third]])
            if has_third.sum() >= MIN_PAIRS else 0.0)
    return float(np.sqrt(max(lag2 - lag1, 0.0)))


def narrow(quantiles: np.ndarray, centres: np.ndarray, relative: float,
           floor: float) -> np.ndarray:
    """Shrink each bin's dG quantiles towards its median so that their variance loses the
    2 sigma(G)^2 that the read before and the read after put into every measured response
    (to a 10 % floor of the variance). ``centres`` are the bins' ln G (padding +inf)."""
    if relative <= 0 and floor <= 0:
        return quantiles
    last = np.max(np.where(np.isfinite(centres), centres, -np.inf), axis=1, keepdims=True)
    g = np.exp(np.minimum(centres, last))
    read_var = (relative * g) ** 2 + floor ** 2
    levels = quantiles.shape[-1]
    q25, q75 = quantiles[..., levels // 4], quantiles[..., 3 * levels // 4]
    variance = ((q75 - q25) / 1.349) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        keep = np.sqrt(np.maximum(variance - 2 * read_var, 0.1 * variance) / variance)
    keep = np.where(variance > 0, keep, 1.0)
    median = quantiles[..., levels // 2: levels // 2 + 1]
    return median + (quantiles - median) * keep[..., None]
