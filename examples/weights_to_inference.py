"""Train a small network, program its weights into simulated arrays, infer with the reads."""

import hilctl

model = hilctl.train("model", dataset="digits", mode="voltage", hidden=8, epochs=10)
run = hilctl.program("sim://?rows=32&cols=32&seed=1&preset=hfox-1r", weights=model,
                     protocol="write-verify", out="runs/weights")
print(run, "on arrays shaped", run.conductance.shape)

report = hilctl.infer(run)
for key in ("accuracy_software", "accuracy_ideal", "accuracy_measured"):
    print(f"{key}: {report[key]:.2%}")
