"""Every pulse of a run as a table: the pulses each cell took, and an export to CSV."""

import hilctl

run = hilctl.program("sim://?rows=8&cols=8&seed=3&preset=hfox-1r", "gradient", out="runs/pulses")
pulses = run.pulses()  # a pandas DataFrame when pandas is installed

if isinstance(pulses, dict):  # without pandas: a dict of numpy columns
    print(f"{pulses['round'].size} rows; columns: {', '.join(pulses)}")
else:
    applied = pulses[pulses.polarity != 0]  # polarity 0: the starting read, no pulse
    print(applied.groupby(["row", "col"]).size().describe())
    last = pulses.groupby(["row", "col"]).g_read_S.last()
    print("last reads equal run.conductance:",
          (last.to_numpy().reshape(run.conductance.shape) == run.conductance).all())
print("written:", run.export("pulses.csv"))
