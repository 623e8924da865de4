"""What a spiking network is: its MIF neurons' constants and how it runs (steps, encoding,
readout, scales). Plain data, without torch, so model files and inference stay light; the
neuron is ``mif``, the network and its training ``spiking``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from hilctl.drivers import ConfigError, DataError

STEP_RULES = ("semi-implicit", "explicit")
ENCODINGS = ("alpha-dc", "poisson")
READOUTS = ("mean", "max", "per-step")


@dataclass(frozen=True)
class MIFParams:
    """One MIF neuron's constants (SI units; times in steps).

    Parameters
    ----------
    r_on_ohm, r_off_ohm : float
        Memristor resistances fully on / off, in ohm.
    v_on_V, v_off_V, k_th_V : float
        Switching-on and -off voltages across a memristor and the sigmoid width, in V.
    tau_steps, tau_a_steps : float
        Memristor switching and synaptic alpha time constants, in time steps.
    c_F : float
        Membrane capacitance per time step, in F (charge per volt per step).
    x0 : float
        Memristor state at rest, in [0, 1].
    e1_V, e2_V : float
        Reversal potentials of the two memristor branches, in V.
    step : {"semi-implicit", "explicit"}
        Membrane update rule.
    """

    r_on_ohm: float = 1e3
    r_off_ohm: float = 1e5
    v_on_V: float = 0.110
    v_off_V: float = 0.005
    k_th_V: float = 0.015
    tau_steps: float = 100.0
    tau_a_steps: float = 100.0
    c_F: float = 1e-4
    x0: float = 0.0238
    e1_V: float = 0.0
    e2_V: float = 0.05
    step: str = "semi-implicit"

    def __post_init__(self) -> None:
        if self.step not in STEP_RULES:
            raise ConfigError(f"MIF step {self.step!r}: expected one of {', '.join(STEP_RULES)}")
        positive = ("r_on_ohm", "r_off_ohm", "k_th_V", "tau_steps", "tau_a_steps", "c_F")
        bad = [name for name in positive if not getattr(self, name) > 0]
        if bad or not 0 <= self.x0 <= 1 or not self.r_on_ohm < self.r_off_ohm:
            raise ConfigError(f"MIF parameters {bad or ['x0/r_on_ohm']}: resistances, "
                              "capacitance, times and k_th must be positive, R_on < R_off, "
                              "0 <= x0 <= 1")

    def scaled(self, k: float) -> MIFParams:
        """The same neuron at k times the impedance (drive it with 1/k the current)."""
        return replace(self, r_on_ohm=self.r_on_ohm * k, r_off_ohm=self.r_off_ohm * k,
                       c_F=self.c_F / k)

    @property
    def v_rest_V(self) -> float:
        return 0.5 * (self.e1_V + self.e2_V)


@dataclass(frozen=True)
class SpikingSpec:
    """How a spiking network runs; stored with the model and checked at inference.

    Parameters
    ----------
    steps : int
        Time steps per sample (T).
    encoding, readout : str
        See the module docstring.
    redrive : int
        ``alpha-dc``: steps between two injections of the image current.
    i_ref_A, v_ref_V : float
        Column current per unit weight at full-scale row voltage, and that voltage.
    w_max : float
        Largest |w| a synapse can hold.
    neuron : dict
        ``MIFParams`` fields.
    """

    steps: int = 40
    encoding: str = "alpha-dc"
    readout: str = "mean"
    redrive: int = 10
    i_ref_A: float = 1e-5
    v_ref_V: float = 0.1
    w_max: float = 1.0
    neuron: dict = field(default_factory=lambda: asdict(MIFParams()))

    def __post_init__(self) -> None:
        if self.encoding not in ENCODINGS:
            raise ConfigError(f"encoding {self.encoding!r}: expected one of {', '.join(ENCODINGS)}")
        if self.readout not in READOUTS:
            raise ConfigError(f"readout {self.readout!r}: expected one of {', '.join(READOUTS)}")
        if self.steps < 1 or self.redrive < 1:
            raise ConfigError(f"steps = {self.steps}, redrive = {self.redrive}: expected >= 1")
        if not (self.i_ref_A > 0 and self.v_ref_V > 0 and self.w_max > 0):
            raise ConfigError("i_ref_A, v_ref_V and w_max must be positive")
        MIFParams(**self.neuron)  # validates the neuron's constants

    @property
    def neuron_params(self) -> MIFParams:
        return MIFParams(**self.neuron)

    def check_same_run(self, other: SpikingSpec) -> None:
        """Refuse to evaluate a model with a T or encoding it was not trained with."""
        for name in ("steps", "encoding", "readout", "redrive"):
            if getattr(self, name) != getattr(other, name):
                raise DataError(f"the spiking model was trained with {name} = "
                                f"{getattr(self, name)!r}, not {getattr(other, name)!r}")
