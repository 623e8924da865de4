"""How far one shot can go: the neural planner against the oracle as device-to-device spread
shrinks.

Before its first pulse nothing reveals a device's own switching rate, so a planner that knows
the device type but not the device is limited by the device-to-device spread of rates and
thresholds; the oracle, which knows each device, is limited only by cycle-to-cycle noise. This
bench scales every device-to-device spread of the default preset (rates, thresholds, slopes,
window exponents; the conductance-bound spread stays) and reports one-shot success of both,
and planned write-verify at 2 %, on a fresh array (seed B) with a predictor trained on another
(seed A). Relative difference: |G - G_target| / G_target from the verify read.

    python bench/bench_variability.py [--size 64] [--scales 1,0.5,0.25,0]
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from hilctl.assemble import Job
from hilctl.config import build_config
from hilctl.drivers import Cells
from hilctl.predictor.planner import NeuralPlanner
from hilctl.protocols import OneShot, PlannedWriteVerify, StopRules, Tolerance, program
from hilctl.run.compare import figures
from hilctl.run.sibling_predictor import train_on_sibling_array
from hilctl.simulated_backend import DeviceParams, OraclePlanner, SimulatedCrossbar
from hilctl.simulated_backend.device_model import ParametricDevice
from hilctl.targets import nominal_window, pattern_targets

SPREADS = ("rate_spread", "threshold_spread_V", "slope_spread", "window_spread")


def run(config, params, protocol_for, tolerance):
    crossbar = SimulatedCrossbar((config.array.rows, config.array.cols), params,
                                 config.limits_in_force(), seed=config.array.seed)
    window = nominal_window(ParametricDevice(params), crossbar.limits.read_V)
    targets = pattern_targets("random", crossbar.shape, window, seed=0).ravel()
    result = program(protocol_for(crossbar), crossbar, Cells.all(crossbar.shape), targets,
                     StopRules(Tolerance(tolerance)), Job(config).cost_model(crossbar))
    return figures(result, tolerance)


def measure(scale: float, size: int) -> dict:
    base = DeviceParams()
    params = base.replace(**{name: getattr(base, name) * scale for name in SPREADS})
    device = {name: getattr(params, name) for name in SPREADS}
    config = build_config({"array": {"rows": size, "cols": size, "seed": 2}, "device": device})
    predictor, _ = train_on_sibling_array(Job(config), say=lambda text: None)
    out = {"scale": scale}
    for label, make in (("neural", lambda xb: NeuralPlanner(predictor, xb.shape)),
                        ("oracle", OraclePlanner)):
        one = run(config, params, lambda xb, make=make: OneShot(make(xb)), 0.05)
        wv = run(config, params, lambda xb, make=make: PlannedWriteVerify(make(xb)), 0.02)
        out[label] = {"one_10": one["success_1pulse_10pct"], "one_50": one["success_1pulse_50pct"],
                      "wv_pulses": wv["pulses_mean"], "wv_success": wv["success_final"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--scales", default="1,0.5,0.25,0")
    args = parser.parse_args()
    table = Table(title="one shot and planned write-verify vs device-to-device spread "
                        "(predictor trained on array A, used on array B)")
    for column in ("spread x", "neural 1p<=10%", "oracle 1p<=10%", "ratio", "neural 1p<=50%",
                   "oracle 1p<=50%", "wv2% pulses neural", "oracle", "ratio", "success n/o"):
        table.add_column(column, justify="right")
    for scale in map(float, args.scales.split(",")):
        m = measure(scale, args.size)
        n, o = m["neural"], m["oracle"]
        table.add_row(f"{scale:g}", f"{n['one_10']:.3f}", f"{o['one_10']:.3f}",
                      f"{n['one_10'] / o['one_10']:.2f}", f"{n['one_50']:.3f}",
                      f"{o['one_50']:.3f}", f"{n['wv_pulses']:.2f}", f"{o['wv_pulses']:.2f}",
                      f"{n['wv_pulses'] / o['wv_pulses']:.2f}",
                      f"{n['wv_success']:.3f}/{o['wv_success']:.3f}")
    Console(width=160).print(table)
    print(f"spreads scaled: {', '.join(SPREADS)}; default preset values "
          f"{[getattr(DeviceParams(), s) for s in SPREADS]}")


if __name__ == "__main__":
    main()
