"""Write-verify on a simulated 16x16 array from Python: targets as a 2-D map in siemens."""

import numpy as np

import hilctl

array = hilctl.open_array("sim://?rows=16&cols=16&seed=7&preset=hfox-1r")
print(array)

# Targets between 5 and 30 uS (the hfox-1r window is about 1-40 uS), shaped like the array.
targets = np.random.default_rng(0).uniform(5e-6, 30e-6, size=array.shape)
run = hilctl.program(array, targets, protocol="write-verify", tolerance="5%",
                     out="runs/write-verify")
print(run)

error = np.abs(run.conductance - targets) / targets
true_error = np.abs(run.true_conductance - targets) / targets
print(f"verify reads in band: {np.mean(error <= 0.05):.1%}; "
      f"true conductances in band: {np.mean(true_error <= 0.05):.1%}")
print("pulses per cell:", run.summary()["pulses_mean"])
