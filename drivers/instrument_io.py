"""The one I/O seam every instrument driver talks through.

A driver says what to send; ``InstrumentIO`` sends it, logs every message at DEBUG, waits as
long as the operation should take (expected duration x factor + margin), and turns every
transport failure into an ``InstrumentError``/``InstrumentTimeout`` that names the instrument
and the command. A transport is anything with ``write_line``/``read_line``/``close``/``reopen``;
``VisaTransport`` (pyvisa) and ``SerialTransport`` (pyserial) are the two real ones.
"""

from __future__ import annotations

import logging
import math
import socket
from typing import Protocol

import numpy as np

from .errors import HilctlError, InstrumentError, InstrumentTimeout, SafetyLimitError
from .limits import SafetyLimits

log = logging.getLogger("hilctl.instruments")


class Transport(Protocol):
    """A line-oriented connection. ``read_line`` raises ``TimeoutError`` when nothing
    complete arrives in ``timeout_s``, ``OSError`` when the link fails and
    ``UnicodeDecodeError`` when a reply is not ASCII text."""

    def write_line(self, text: str) -> None: ...

    def read_line(self, timeout_s: float) -> str: ...

    def reopen(self) -> None: ...

    def close(self) -> None: ...


def num(value: float) -> str:
    """A number as instruments must receive it: exponent form, never ``%f`` (1e-7 stays 1e-7).

    ``%.6e`` when that is exact, otherwise the fewest more digits that are: a limit such as
    7.68944281405938e-03 A must not become 7.689443e-03 A, a hair above itself.
    """
    value = float(value)
    if not math.isfinite(value):
        raise SafetyLimitError(f"refusing to send the non-finite number {value!r} to an instrument")
    for digits in range(6, 16):
        text = f"{value:.{digits}e}"
        if float(text) == value:
            return text
    return f"{value:.16e}"


def every_step(name: str, steps) -> None:
    """Run every ``(what, call)`` step even when an earlier one failed: a safe state is reached
    by as many of its steps as still work. Raises one ``InstrumentError`` naming each failure."""
    failed = []
    for what, step in steps:
        try:
            step()
        except HilctlError as exc:
            failed.append(f"{what} failed ({exc})")
    if failed:
        raise InstrumentError(f"{name}: " + "; ".join(failed))


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


class InstrumentIO:
    """Write/query for one instrument.

    Parameters
    ----------
    name : str
        How errors name the instrument, e.g. ``"Keithley 2600 at TCPIP0::...::SOCKET"``.
    transport : Transport
    margin_s : float
        Seconds added to every expected duration before a query times out.
    factor : float
        Multiplies the expected duration of an operation (pulse widths, apertures), in seconds.
    """

    def __init__(self, name: str, transport: Transport, margin_s: float = 2.0,
                 factor: float = 2.0) -> None:
        self.name = name
        self.transport = transport
        self.margin_s = margin_s
        self.factor = factor
        self.round_trips = 0
        self._unread: str | None = None

    def write(self, command: str) -> None:
        if self._unread is not None:
            self._resync()
        log.debug("%s <- %s", self.name, _short(command))
        try:
            self.transport.write_line(command)
        except OSError as exc:
            raise InstrumentError(f"{self.name}: sending {_short(command, 60)!r} failed: "
                                  f"{exc}") from None

    def query(self, command: str, expected_s: float = 0.0) -> str:
        """Send ``command`` and return its reply line; waits ``expected_s`` x factor + margin."""
        self.write(command)
        timeout = expected_s * self.factor + self.margin_s
        self.round_trips += 1
        self._unread = command
        try:
            reply = self.transport.read_line(timeout)
        except TimeoutError:
            raise InstrumentTimeout(f"{self.name}: no reply to {_short(command, 60)!r} within "
                                    f"{timeout:.3g} s") from None
        except OSError as exc:
            raise InstrumentError(f"{self.name}: connection failed awaiting the reply to "
                                  f"{_short(command, 60)!r}: {exc}") from None
        except UnicodeDecodeError as exc:
            raise InstrumentError(f"{self.name}: reply to {_short(command, 60)!r} is not ASCII "
                                  f"text: {exc.object[:40]!r}") from None
        self._unread = None
        log.debug("%s -> %s", self.name, _short(reply))
        return reply

    def _resync(self) -> None:
        """A query whose reply was never read (a timeout, a signal) may still be answered
        later; reconnect so that late reply can never be taken for the next query's."""
        log.info("%s: reconnecting before the next command; the reply to %r was never read",
                 self.name, _short(self._unread, 60))
        self._unread = None
        self.reconnect()

    def query_numbers(self, command: str, count: int | None = None, expected_s: float = 0.0,
                      sep: str | None = None) -> np.ndarray:
        """Query and parse a reply of finite numbers (``count`` of them if given)."""
        reply = self.query(command, expected_s)
        return self.parse_numbers(command, reply, count, sep)

    def parse_numbers(self, command: str, reply: str, count: int | None = None,
                      sep: str | None = None) -> np.ndarray:
        try:
            values = np.array([float(x) for x in reply.replace(",", " ").split(sep)])
        except ValueError:
            values = np.array([np.nan])
        if not np.isfinite(values).all() or (count is not None and values.size != count):
            expected = f"{count} numbers" if count is not None else "numbers"
            raise InstrumentError(f"{self.name}: reply to {_short(command, 60)!r} was "
                                  f"{_short(reply, 60)!r}, expected {expected}")
        return values

    def reconnect(self) -> None:
        """Open the link again after a failure; nothing sent before can be answered on it."""
        self._unread = None
        try:
            self.transport.reopen()
        except OSError as exc:
            raise InstrumentError(f"{self.name}: cannot reconnect: {exc}") from None

    def close(self) -> None:
        try:
            self.transport.close()
        except OSError as exc:
            log.warning("%s: closing failed: %s", self.name, exc)


def guard_source(limits: SafetyLimits, instrument: str, volts: np.ndarray,
                 widths: np.ndarray | None = None, compliance_A: float | None = None) -> None:
    """Defence in depth: a driver refuses, before sending, any voltage (V), width (s) or
    compliance (A) outside ``limits``, whatever the layers above already checked."""
    volts = np.atleast_1d(np.asarray(volts, dtype=np.float64))
    top = np.where(volts >= 0, limits.set_max_V, limits.reset_max_V)
    bad = ~np.isfinite(volts) | (np.abs(volts) > top)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SafetyLimitError(f"{instrument}: refusing to source {volts[i]:.6e} V (step {i + 1}):"
                               f" the limit is {top[i]:.6e} V")
    if widths is not None:
        widths = np.atleast_1d(np.asarray(widths, dtype=np.float64))
        bad = ~np.isfinite(widths) | (widths < limits.width_min_s) | (widths > limits.width_max_s)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise SafetyLimitError(
                f"{instrument}: refusing a {widths[i]:.6e} s pulse (step {i + 1}): widths must "
                f"lie in [{limits.width_min_s:.6e}, {limits.width_max_s:.6e}] s")
    if compliance_A is not None and not 0 < compliance_A <= limits.compliance_A:
        raise SafetyLimitError(f"{instrument}: refusing compliance {compliance_A:.6e} A: the "
                               f"limit is {limits.compliance_A:.6e} A")


class VisaTransport:
    """A pyvisa message-based resource with ``\\n`` termination."""

    def __init__(self, resource: str, visa_library: str = "@py",
                 connect_timeout_s: float = 5.0) -> None:
        import pyvisa

        self._pyvisa = pyvisa
        self.resource_name = resource
        self._connect_timeout_s = connect_timeout_s
        try:
            self._rm = pyvisa.ResourceManager(visa_library)
        except (OSError, ValueError) as exc:
            raise InstrumentError(f"VISA library {visa_library!r} cannot be loaded: {exc}; "
                                  "use \"@py\" for the pure-Python backend") from None
        self._res = None
        self.reopen()

    def reopen(self) -> None:
        if self._res is not None:
            self.close()
        try:
            self._res = self._rm.open_resource(
                self.resource_name, open_timeout=int(self._connect_timeout_s * 1000),
                read_termination="\n", write_termination="\n")
        except (self._pyvisa.errors.VisaIOError, OSError, ValueError) as exc:
            raise InstrumentError(f"cannot open VISA resource {self.resource_name!r}: {exc}") \
                from None
        if self.resource_name.upper().endswith("::SOCKET"):
            self._no_delay()

    def _no_delay(self) -> None:
        """Send each command at once: with Nagle's algorithm on, a command followed by a query
        waits out the instrument's delayed ACK (tens of ms per round trip)."""
        try:
            self._res.set_visa_attribute(self._pyvisa.constants.VI_ATTR_TCPIP_NODELAY, True)
        except Exception:  # pyvisa-py's socket session refuses the attribute: set it directly
            session = getattr(self._rm.visalib, "sessions", {}).get(self._res.session)
            sock = getattr(session, "interface", None)
            if isinstance(sock, socket.socket):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def write_line(self, text: str) -> None:
        try:
            self._res.write(text)
        except self._pyvisa.errors.VisaIOError as exc:
            raise ConnectionError(str(exc)) from None

    def read_line(self, timeout_s: float) -> str:
        self._res.timeout = max(1, int(timeout_s * 1000))
        try:
            return self._res.read()
        except self._pyvisa.errors.VisaIOError as exc:
            if exc.error_code == self._pyvisa.constants.StatusCode.error_timeout:
                raise TimeoutError(str(exc)) from None
            raise ConnectionError(str(exc)) from None

    def close(self) -> None:
        if self._res is not None:
            try:
                self._res.close()
            except self._pyvisa.errors.VisaIOError:
                pass
            self._res = None


class SerialTransport:
    """A pyserial port opened by URL: a port name, ``socket://host:port`` or a registered scheme."""

    def __init__(self, url: str, baudrate: int = 115200, connect_timeout_s: float = 5.0) -> None:
        import serial

        self._serial_mod = serial
        self.url = url
        self._baudrate = baudrate
        self._connect_timeout_s = connect_timeout_s
        self._port = None
        self.reopen()

    def reopen(self) -> None:
        if self._port is not None:
            self.close()
        try:
            self._port = self._serial_mod.serial_for_url(
                self.url, baudrate=self._baudrate, timeout=self._connect_timeout_s)
        except (self._serial_mod.SerialException, OSError, ValueError) as exc:
            raise InstrumentError(f"cannot open board port {self.url!r}: {exc}") from None

    def write_line(self, text: str) -> None:
        try:
            self._port.write(text.encode("ascii") + b"\n")
        except self._serial_mod.SerialException as exc:
            raise ConnectionError(str(exc)) from None

    def read_line(self, timeout_s: float) -> str:
        self._port.timeout = timeout_s
        try:
            raw = self._port.read_until(b"\n")
        except self._serial_mod.SerialException as exc:
            raise ConnectionError(str(exc)) from None
        if not raw.endswith(b"\n"):
            raise TimeoutError(f"incomplete line {raw[:40]!r}")
        return raw.decode("ascii").rstrip("\r\n")

    def close(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            except self._serial_mod.SerialException:
                pass
            self._port = None
