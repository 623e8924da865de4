"""One-shot programming with a neural pulse predictor trained on a separate array."""

import hilctl

# Characterize a differently seeded array of the same devices, so the predictor is never
# judged on the devices it learned from.
hilctl.characterize("sim://?rows=32&cols=32&seed=11&preset=hfox-1r", pulses=4000,
                    out="table.csv")
predictor = hilctl.train_predictor("table.csv", out="predictor", epochs=30)

array = hilctl.open_array("sim://?rows=16&cols=16&seed=7&preset=hfox-1r")
one_shot = hilctl.program(array, "random", protocol="one-shot", predictor=predictor,
                          tolerance="10%")
planned = hilctl.program(array, "random", protocol="write-verify-planned",
                         predictor=predictor, tolerance="5%")
for run in (one_shot, planned):
    summary = run.summary()
    print(f"{summary['protocol']}: {summary['success_rate']:.1%} in band "
          f"({summary['tolerance']}), {summary['pulses_mean']:.2f} pulses per cell")
