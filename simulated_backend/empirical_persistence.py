"""How much of a measured device's response is its own: the device-to-device share.

A device that landed high in its setting's distribution once tends to land high again (on the
1T1R cells of Le et al., "RADAR", IEEE TED 2021, 87 % of the SET plateau's variance is the
cell's own). The empirical model keeps that with one latent normal z_d per device: a pulse
draws its quantile u = Phi(rho z_d + sqrt(1 - rho^2) e), e ~ N(0, 1) fresh each pulse, so two
responses of a device have rank correlation rho^2 = w, the device's share.

w is estimated per polarity from the table: each row's rank in its own setting's G_before bin
(mid-rank among the bin's quantiles, as a normal score), and the correlation of the scores of
the same cell's successive rows at the same measured setting (as a lab measures it: the same
pulse on two days). Left out are successive rows that share one read (the read noise they
share anti-correlates them whatever the device does) and pairs in which the cell did not move
both times beyond its read noise (below a SET threshold, or already past the level a SET
reaches, a rank is only read noise). A table without such repeats gives w = 0: every pulse a
fresh draw.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

from hilctl.drivers.pulse_table import PulseTable

from .empirical_grid import LEVELS, Bank

MIN_PAIRS = 30
MAX_SHARE = 0.99
MOVED = 0.02  # smallest relative change that counts as a move when there is no read noise


def normal_scores(table: PulseTable, bank: Bank, place: np.ndarray) -> np.ndarray:
    """Each row's rank in its own setting and bin as a normal score (NaN: row at a hole)."""
    setting, bin_ = place
    scores = np.full(len(table), np.nan)
    rows = np.flatnonzero(setting >= 0)
    q = bank.quantiles[setting[rows], bin_[rows]]
    dg = (table.g_after - table.g_before)[rows, None]
    mid_rank = ((q < dg).sum(axis=1) + (q <= dg).sum(axis=1)) / (2 * LEVELS)
    scores[rows] = ndtri(np.clip(mid_rank, 0.5 / LEVELS, 1 - 0.5 / LEVELS))
    return scores


def device_share(table: PulseTable, bank: Bank, place: np.ndarray,
                 read_sigma: np.ndarray) -> dict[int, float]:
    """w per polarity: the correlation of a device's successive normal scores at one setting
    (0 with fewer than ``MIN_PAIRS`` pairs); ``read_sigma`` (S) is each row's read noise, which
    a pulse must exceed to count as a move."""
    scores = normal_scores(table, bank, place)
    setting = place[0]
    order = np.lexsort((np.arange(len(table)), setting, table.cell))
    i, j = order[:-1], order[1:]
    pair = ((table.cell[i] == table.cell[j]) & (setting[i] == setting[j]) & (setting[i] >= 0)
            & (table.g_before[j] != table.g_after[i]))
    moved = np.abs(table.g_after - table.g_before) > np.maximum(3 * read_sigma,
                                                                 MOVED * table.g_before)
    pair &= moved[i] & moved[j]
    share = {}
    for polarity in np.unique(table.polarity):
        mine = pair & (table.polarity[i] == polarity)
        if mine.sum() < MIN_PAIRS:
            share[int(polarity)] = 0.0
            continue
        w = np.corrcoef(scores[i[mine]], scores[j[mine]])[0, 1]
        share[int(polarity)] = float(np.clip(w, 0.0, MAX_SHARE)) if np.isfinite(w) else 0.0
    return share


def draw_quantiles(n: int, share: float, device_z: np.ndarray | None,
                   rng: np.random.Generator) -> np.ndarray:
    """u ~ U(0, 1) of ``n`` pulses; given the devices' latent z, correlated per device."""
    if device_z is None or share <= 0:
        return rng.random(n)
    return ndtr(np.sqrt(share) * device_z + np.sqrt(1 - share) * rng.standard_normal(n))
