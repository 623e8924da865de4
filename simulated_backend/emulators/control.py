"""The control channel of an emulated rig: JSON lines on loopback, so that a test or a person
in another process can arm faults and see what the instruments were left doing.

Requests (one JSON object a line), each answered by one JSON line:

- ``{"op": "state"}``: ``{"smu": {"model", "output", "level_V"}, "routed": [row, col] | null,
  "sequence": n cells loaded, "pulses_applied": n, "board_limits": {...}, "fired": [...]}``;
- ``{"op": "arm", "kind": "no_reply", "instrument": "smu" | "board", "match": "hilctl_run",
  "times": 1, "skip": 0}``: ``{"armed": true}``;
- anything else: ``{"error": "..."}``.
"""

from __future__ import annotations

import json

from hilctl.drivers import ConfigError

from .faults import Faults


class RigControl:
    """A ``LineDevice`` for ``LineServer`` that reads and arms an ``EmulatedRig``."""

    def __init__(self, rig) -> None:
        self.rig = rig
        self.faults = Faults()  # the control channel itself is never faulted

    def on_drop(self, line: str) -> None:
        """Nothing to undo."""

    def handle(self, line: str) -> str:
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("expected a JSON object")
            reply = self._answer(request)
        except (ValueError, ConfigError) as exc:  # a JSONDecodeError is a ValueError
            reply = {"error": str(exc)}
        return json.dumps(reply)

    def _answer(self, request: dict) -> dict:
        op = request.get("op")
        if op == "state":
            return self.state()
        if op == "arm":
            return self._arm(request)
        raise ValueError(f"unknown op {op!r}; expected 'state' or 'arm'")

    def _arm(self, request: dict) -> dict:
        devices = {"smu": self.rig.smu, "board": self.rig.board}
        instrument = request.get("instrument", "smu")
        if instrument not in devices:
            raise ValueError(f"instrument {instrument!r}: expected 'smu' or 'board'")
        devices[instrument].faults.arm(str(request.get("kind")), str(request.get("match", "")),
                                       int(request.get("times", 1)), int(request.get("skip", 0)))
        return {"armed": True}

    def state(self) -> dict:
        """What a person at the bench would check: is anything still sourced or routed."""
        rig, array = self.rig, self.rig.array
        hw = rig.board.hw
        return {"smu": {"model": rig.model, "output": bool(rig.smu.output),
                        "level_V": float(rig.smu.level_V)},
                "routed": None if array.selected is None else list(array.selected),
                "sequence": len(array.sequence), "pulses_applied": int(array.pulses_applied),
                "board_limits": {"set_max_V": hw.set_max_V, "reset_max_V": hw.reset_max_V,
                                 "width_min_s": hw.width_min_s, "width_max_s": hw.width_max_s,
                                 "gate_max_V": rig.board.word_line_max_V},
                "fired": [list(f) for f in rig.smu.faults.fired + rig.board.faults.fired]}
