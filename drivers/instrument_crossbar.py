"""An instrument rig (an SMU and a crossbar board) behind the batched ``Crossbar`` interface.

Two paths, chosen by what the SMU can do:

- a batching SMU (2600, TSP): the board is loaded with the batch's cell sequence and the SMU
  runs one pulse-and-read script; the reads it took right after the pulses answer the
  following ``read`` of the same cells, so a programming round costs two round trips;
- a point SMU (2400, SCPI): the board pulses the batch with its own generator (one round
  trip) and the SMU reads each routed cell.

On both paths the board drives the word line of each pulsed cell at the pulse's gate (1T1R
arrays), carried in the same entry that routes or pulses the cell; reads carry none.

Any failure, Ctrl-C or timeout inside a call leaves the rig safe (SMU output off at 0 V, board
disconnected) before the error propagates; so does ``close`` and leaving a ``with`` block.
"""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

import numpy as np

from .board import CrossbarBoard
from .crossbar import Crossbar
from .errors import ConfigError, HilctlError, InstrumentError
from .limits import SafetyLimits
from .vocabulary import Cells, PulseBatch, Reading

log = logging.getLogger("hilctl.instruments")


class SourceMeter(Protocol):
    """What the rig needs of any SMU."""

    model: str
    name: str

    def identify(self) -> str: ...

    def configure(self) -> None: ...

    def measure(self, volts: float) -> tuple[float, bool]: ...

    def drain_errors(self, block: str) -> None: ...

    def make_safe(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class BatchSourceMeter(Protocol):
    """An SMU that runs a whole batch of board-routed points in one round trip."""

    def pulse_and_read(self, volts: np.ndarray, widths: np.ndarray,
                       read_V: float) -> tuple[np.ndarray, np.ndarray]: ...

    def read_batch(self, count: int, read_V: float) -> tuple[np.ndarray, np.ndarray]: ...


class InstrumentCrossbar(Crossbar):
    """A rig as a ``Crossbar``.

    Parameters
    ----------
    smu : SourceMeter
    board : CrossbarBoard
    limits : SafetyLimits
    shape : (rows, cols) or None
        Expected array size; the board's own report is used, and must agree if this is given.
    """

    def __init__(self, smu: SourceMeter, board: CrossbarBoard, limits: SafetyLimits,
                 shape: tuple[int, int] | None = None) -> None:
        board_shape = board.shape()
        if shape is not None and tuple(shape) != board_shape:
            raise ConfigError(f"rig.rows/cols = {shape[0]}x{shape[1]} but the board reports a "
                              f"{board_shape[0]}x{board_shape[1]} array")
        super().__init__(board_shape, limits)
        self.smu = smu
        self.board = board
        _check_generator(limits, _what_the_board_drives(smu, board.hardware_limits()))
        self._fresh: tuple[np.ndarray, Reading] | None = None
        self._closed = False
        self._unsafe_reported = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (f"<InstrumentCrossbar {self.shape[0]}x{self.shape[1]} "
                f"{type(self.smu).__name__} + {type(self.board).__name__}, "
                f"read at {self.limits.read_V:g} V, {state}>")

    def identify(self) -> dict[str, str]:
        """Identity strings of both instruments (nothing is sourced)."""
        return {"smu": self.smu.identify(), "board": self.board.identify(),
                "board_firmware": self.board.firmware()}

    def _apply(self, pulses: PulseBatch) -> None:
        self._safely(self._apply_now, pulses)

    def _read(self, cells: Cells) -> Reading:
        return self._safely(self._read_now, cells)

    def _safely(self, action, argument):
        """Run ``action``; on any failure, Ctrl-C or timeout make the rig safe, then re-raise.
        If the rig cannot be made safe, that is the one error the user sees."""
        try:
            return action(argument)
        except BaseException as exc:
            log.info("rig fault (%s: %s); switching outputs off", type(exc).__name__, exc)
            try:
                self._make_safe()
            except InstrumentError as safe_exc:
                raise InstrumentError(f"{exc}; AND {safe_exc}") from exc
            raise

    def _apply_now(self, pulses: PulseBatch) -> None:
        self._fresh = None
        if isinstance(self.smu, BatchSourceMeter):
            self.board.load_sequence(pulses.cells, pulses.gate)
            current, compliance = self.smu.pulse_and_read(
                pulses.signed_voltage, pulses.width, self.limits.read_V)
            flat = pulses.cells.flat(self.shape)
            if np.unique(flat).size == flat.size:
                self._fresh = (flat, self._reading(pulses.cells, current, compliance))
        else:
            self.board.pulse_batch(pulses)

    def _read_now(self, cells: Cells) -> Reading:
        fresh, self._fresh = self._fresh, None
        if fresh is not None and np.array_equal(fresh[0], cells.flat(self.shape)):
            return fresh[1]
        if isinstance(self.smu, BatchSourceMeter):
            self.board.load_sequence(cells)
            current, compliance = self.smu.read_batch(len(cells), self.limits.read_V)
            return self._reading(cells, current, compliance)
        return self._read_points(cells)

    def _read_points(self, cells: Cells) -> Reading:
        current = np.empty(len(cells))
        compliance = np.empty(len(cells), dtype=bool)
        self.board.mode("READ")
        for i, (row, col) in enumerate(zip(cells.rows.tolist(), cells.cols.tolist(), strict=True)):
            self.board.select(row, col)
            current[i], compliance[i] = self.smu.measure(self.limits.read_V)
        self.smu.make_safe()
        self.smu.drain_errors(f"reading {len(cells)} cells")
        return self._reading(cells, current, compliance)

    def _reading(self, cells: Cells, current: np.ndarray, compliance: np.ndarray) -> Reading:
        """Conductance (S) from current (A) at the read voltage; cells read in compliance are
        flagged (their conductance is only a lower bound) and logged."""
        compliance = np.asarray(compliance, dtype=bool)
        if compliance.any():
            where = ", ".join(cells.describe(i) for i in np.flatnonzero(compliance)[:5])
            log.warning("%s: read in current compliance (%.3e A) at %s", self.smu.name,
                        self.limits.compliance_A, where)
        return Reading(cells, np.asarray(current) / self.limits.read_V, compliance)

    def _make_safe(self) -> None:
        """SMU output off at 0 V, then every board cell disconnected; each device reconnects
        once if its link dropped, and the board is tried even when the SMU failed. Raises one
        ``InstrumentError`` naming what failed, and only once: ``close`` after it stays quiet."""
        self._fresh = None
        failed = []
        for name, device in (("SMU", self.smu), ("board", self.board)):
            try:
                _safe_or_reconnect(name, device)
            except HilctlError as exc:
                failed.append(f"{name}: {exc}")
        if failed and not self._unsafe_reported:
            self._unsafe_reported = True
            raise InstrumentError("the rig could not be made safe -- switch the SMU output off "
                                  "by hand (" + "; ".join(failed) + ")")
        if failed:
            log.warning("rig still not safe: %s", "; ".join(failed))

    def close(self) -> None:
        """Make the rig safe, then release both connections (a second call does nothing)."""
        if self._closed:
            return
        self._closed = True
        try:
            super().close()
        finally:
            self.smu.close()
            self.board.close()


def _what_the_board_drives(smu: SourceMeter, hardware: dict[str, float]) -> dict[str, float]:
    """The board's limits that bind this rig: all of them when its generator pulses; only the
    word line's when a batching SMU sources the pulses (the board still drives the gate)."""
    if isinstance(smu, BatchSourceMeter):
        return {key: value for key, value in hardware.items() if key.startswith("gate_")}
    return hardware


def _check_generator(limits: SafetyLimits, hardware: dict[str, float]) -> None:
    """Pre-flight: the configured limits must lie inside what the board accepts, or a run
    would stop at its first strong pulse (or gate)."""
    for key, board in hardware.items():
        value = getattr(limits, key)
        if (value < board) if key == "width_min_s" else (value > board):
            raise ConfigError(f"rig.limits.{key} = {value:.3e} lies outside the board's own "
                              f"limit {board:.3e}; tighten it in [rig.limits]")


def _safe_or_reconnect(name: str, device) -> None:
    safe = device.off if isinstance(device, CrossbarBoard) else device.make_safe
    try:
        safe()
    except HilctlError as exc:
        log.warning("%s: %s; reconnecting to make it safe", name, exc)
        device.io.reconnect()
        safe()


def open_instrument_crossbar(*, smu_model: str, smu_resource: str, board_url: str,
                             limits: SafetyLimits, visa_library: str = "@py", channel: str = "a",
                             aperture_s: float = 2e-4, baudrate: int = 115200,
                             connect_timeout_s: float = 5.0, margin_s: float = 2.0,
                             factor: float = 2.0, line_frequency_Hz: float = 50.0,
                             shape: tuple[int, int] | None = None) -> InstrumentCrossbar:
    """Connect, identify and configure an SMU and a board; nothing is pulsed."""
    from .keithley2400 import Keithley2400
    from .keithley2600 import Keithley2600

    timing = {"connect_timeout_s": connect_timeout_s, "margin_s": margin_s, "factor": factor}
    if smu_model == "2600":
        smu = Keithley2600.open(smu_resource, limits, visa_library, channel, aperture_s,
                                line_frequency_Hz=line_frequency_Hz, **timing)
    elif smu_model == "2400":
        smu = Keithley2400.open(smu_resource, limits, visa_library, aperture_s,
                                line_frequency_Hz=line_frequency_Hz, **timing)
    else:
        raise ConfigError(f"rig.smu.model = {smu_model!r}: expected '2600' or '2400'")
    try:
        board = CrossbarBoard.open(board_url, limits, baudrate, **timing)
    except BaseException:
        smu.close()
        raise
    try:
        smu.configure()
        board.off()
        return InstrumentCrossbar(smu, board, limits, shape)
    except BaseException:
        smu.close()
        board.close()
        raise
