"""How much of a measured device's response is its own: the device-to-device share.

A device that landed high in its setting's distribution once tends to land high again (on the
1T1R cells of Le et al., "RADAR", IEEE TED 2021, 87 % of the SET plateau's variance is the
cell's own). The empirical model keeps that with one latent normal z_d per device: a pulse
draws its quantile u = Phi(rho z_d + sqrt(1 - rho^2) e), e ~ N(0, 1) fresh each pulse, so two
responses of a device have rank correlation rho^2 = w, the device's share.

w is estimated per polarity from the table: each row's rank in its own setting's G_before bin
(as a normal score, see ``normal_scores``), and the correlation of the scores of
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

MIN_PAIRS = 30
MAX_SHARE = 0.99
MOVED = 0.02  # smallest relative change that counts as a move when there is no read noise


def normal_scores(table: PulseTable, place: np.ndarray) -> np.ndarray:
    """Each row's rank in its own setting and bin as a normal score (NaN: row at a hole).

    What is ranked is dG less its linear trend in G_before within the bin: a SET that ends at
    the level its gate allows has dG = level - G_before, so a device's rank must not depend on
    where in the bin it started; a small step has no trend and keeps its dG.
    """
    known = place[0] >= 0
    _, group = np.unique(np.where(known, place[0] * (place[1].max() + 1) + place[1], -1),
                         return_inverse=True)
    g, dg = table.g_before, table.g_after - table.g_before
    count = np.bincount(group)

    def centred(values: np.ndarray) -> np.ndarray:
        return values - (np.bincount(group, values) / count)[group]

    var = np.bincount(group, centred(g) ** 2)
    slope = np.divide(np.bincount(group, centred(g) * centred(dg)), var,
                      out=np.zeros_like(var), where=var > 0)
    order = np.lexsort((dg - slope[group] * g, group))
    first = np.r_[0, np.cumsum(count)[:-1]]
    rank = np.empty(len(table))
    rank[order] = np.arange(len(table)) - first[group[order]]
    return np.where(known, ndtri((rank + 0.5) / count[group]), np.nan)


def device_share(table: PulseTable, place: np.ndarray,
                 read_sigma: np.ndarray) -> dict[int, float]:
    """w per polarity: the correlation of a device's successive normal scores at one setting
    (0 with fewer than ``MIN_PAIRS`` pairs); ``read_sigma`` (S) is each row's read noise, which
    a pulse must exceed to count as a move."""
    scores = normal_scores(table, place)
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
