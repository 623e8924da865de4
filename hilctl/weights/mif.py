"""Memristive integrate-and-fire (MIF) neurons: a capacitor with two memristors toward two
reversal potentials, whose spikes come from the devices' own switching.

    neuron = MIFNeuron(MIFParams())   # the published prototype (spiking_spec), SI units
    state = neuron.rest(batch=32, n=64)
    for u in drive:                              # u: input current this step, (32, 64) A
        state = neuron.step(state, u)            # pure: unrolls under autograd

Per time step (dt folded into the constants, as in the prototype):

    a  <- a - a / tau_a + u                      alpha-shaped synaptic current (a, I)
    I  <- I + (a - I) / tau_a
    v  <- v + (I - G1 (v - E1) - G2 (v - E2)) / C          explicit (forward Euler), or
    v  <- (v + (I + G1 E1 + G2 E2) / C) / (1 + (G1 + G2) / C)   semi-implicit (default)
    xk <- xk + [(1 - xk) s((v - Ek - v_on) / k_th) - xk s((v_off - (v - Ek)) / k_th)] / tau
    Gk  = xk / R_on + (1 - xk) / R_off           (s: logistic sigmoid)

Source of the neuron and its parameters: Zhou, Eshraghian, Choi, Lu, Kang, "MEMprop:
gradient-based neuromorphic learning on dynamical RRAM arrays", IEEE JETCAS 2022, and
"SPICEprop", arXiv 2203.01426 (R_on 1 kOhm, R_off 100 kOhm, v_on 110 mV, v_off 5 mV,
tau = tau_a = 100 steps, k_th 15 mV, C = 1e-4 per step, x(0) = 0.0238, E1 = 0, E2 = +50 mV).

Why semi-implicit: the explicit step multiplies v by 1 - (G1 + G2)/C each step, which leaves
the unit circle once the memristors are partly on (G1 + G2 > 2C); freezing the conductances
within a step and solving the membrane update exactly is stable for any G. The dynamics are
invariant under R -> kR, C -> C/k, I -> I/k, so ``MIFParams.scaled(k)`` gives the same neuron
at another impedance level (e.g. to match an array's microampere currents).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hilctl.drivers import DataError

from .spiking_spec import MIFParams

# |v| beyond this many volts means the membrane update has left the physical range.
_DIVERGED_V = 10.0


@dataclass
class MIFState:
    """Per neuron: alpha current (a, i_A), membrane voltage v_V, memristor states x1, x2."""

    a: torch.Tensor
    i_A: torch.Tensor
    v_V: torch.Tensor
    x1: torch.Tensor
    x2: torch.Tensor


class MIFNeuron:
    """A population of MIF neurons with shared constants; every method is a pure function."""

    def __init__(self, params: MIFParams) -> None:
        self.p = params

    def rest(self, batch: int, n: int, dtype=torch.float32) -> MIFState:
        zeros = torch.zeros(batch, n, dtype=dtype)
        p = self.p
        return MIFState(zeros, zeros, zeros + p.v_rest_V, zeros + p.x0, zeros + p.x0)

    def conductance(self, x: torch.Tensor) -> torch.Tensor:
        return x / self.p.r_on_ohm + (1 - x) / self.p.r_off_ohm

    def step(self, s: MIFState, u: torch.Tensor) -> MIFState:
        """One time step driven by the input current ``u`` (A per step)."""
        p = self.p
        a = s.a - s.a / p.tau_a_steps + u
        i = s.i_A + (a - s.i_A) / p.tau_a_steps
        g1, g2 = self.conductance(s.x1), self.conductance(s.x2)
        if p.step == "semi-implicit":
            v = (s.v_V + (i + g1 * p.e1_V + g2 * p.e2_V) / p.c_F) / (1 + (g1 + g2) / p.c_F)
        else:
            v = s.v_V + (i - g1 * (s.v_V - p.e1_V) - g2 * (s.v_V - p.e2_V)) / p.c_F
        return MIFState(a, i, v, self._switch(s.x1, v - p.e1_V), self._switch(s.x2, v - p.e2_V))

    def _switch(self, x: torch.Tensor, across: torch.Tensor) -> torch.Tensor:
        p = self.p
        on = torch.sigmoid((across - p.v_on_V) / p.k_th_V)
        off = torch.sigmoid((p.v_off_V - across) / p.k_th_V)
        return (x + ((1 - x) * on - x * off) / p.tau_steps).clamp(0.0, 1.0)

    def run(self, drive: torch.Tensor) -> torch.Tensor:
        """Membrane voltage trace (batch, T, n) in V for a drive (batch, T, n) in A.

        Raises ``DataError`` naming the step rule when the membrane update diverges.
        """
        state = self.rest(drive.shape[0], drive.shape[2], drive.dtype)
        trace = []
        for t in range(drive.shape[1]):
            state = self.step(state, drive[:, t])
            trace.append(state.v_V)
        v = torch.stack(trace, dim=1)
        check_finite(v, self.p.step)
        return v


def check_finite(v: torch.Tensor, step: str) -> None:
    """A diverged membrane is a clear error, never a NaN accuracy."""
    bad = ~torch.isfinite(v) | (v.abs() > _DIVERGED_V)
    if bool(bad.any()):
        first = int(bad.any(dim=0).any(dim=-1).nonzero()[0, 0]) if v.dim() == 3 else 0
        fix = ("use the semi-implicit step or a smaller input current" if step == "explicit"
               else "lower the input current scale (i_ref_A) or w_max")
        raise DataError(f"the {step} membrane step diverged at time step {first} (|v| > "
                        f"{_DIVERGED_V:g} V): the drive is too strong for that rule; {fix}")
