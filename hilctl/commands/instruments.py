"""``hilctl instruments list|check`` and ``hilctl emulate``: find, identify and emulate a rig.

``check`` opens the rig of a config, identifies both instruments, shows the limits they
will be held to and measures each instrument's round trip (printing the ``[cost]
round_trip_s`` line to paste into a run config); it configures the SMU (output off at 0 V)
but never applies a pulse.
``emulate`` serves an emulated rig on loopback ports until Ctrl-C, so that ``hilctl program
--config rig.toml`` in another terminal drives the real driver code.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rich.table import Table

    from hilctl.drivers import SafetyLimits


from ..units import Quantity


@click.group()
def instruments() -> None:
    """Find and identify the instruments of a rig."""


@instruments.command("list")
@click.option("--visa-library", default="@py", show_default=True,
              help='pyvisa backend: "@py" (pure Python) or "" for a system VISA library.')
def list_instruments(visa_library: str) -> None:
    """Show VISA resources and serial ports this computer can see."""
    import pyvisa
    from rich.console import Console
    from rich.table import Table
    from serial.tools import list_ports

    from hilctl.drivers import InstrumentError

    table = Table("kind", "address", "description")
    try:
        resources = pyvisa.ResourceManager(visa_library).list_resources()
    except (OSError, ValueError, pyvisa.errors.Error) as exc:
        raise InstrumentError(f"VISA library {visa_library!r} cannot list resources: {exc}") \
            from None
    for resource in resources:
        table.add_row("VISA", resource, "")
    for port in list_ports.comports():
        table.add_row("serial", port.device, port.description or "")
    console = Console()
    console.print(table if table.row_count else "no VISA resources or serial ports found")
    console.print("LAN instruments on raw sockets are not discoverable: use "
                  "TCPIP0::<host>::<port>::SOCKET")


@instruments.command("check")
@click.option("--config", "config_file", required=True, type=click.Path(dir_okay=False),
              help="TOML file with a [rig] table.")
@click.option("--visa-library", default=None,
              help="A system VISA library to load (a config may only name '@py').")
def check(config_file: str, visa_library: str | None) -> None:
    """Identify the SMU and the board of a rig and show its limits; applies no pulse."""
    from rich.console import Console

    from hilctl.drivers import ConfigError
    from hilctl.drivers.toml_file import read_toml

    from ..assemble import open_rig
    from ..rig_config import rig_config_from_table

    data = read_toml(config_file)
    if "rig" not in data:
        raise ConfigError(f"{config_file}: no [rig] table (see `hilctl emulate --write-config`)")
    cfg = rig_config_from_table(data["rig"])
    with open_rig(cfg, visa_library=visa_library) as rig:
        identity = rig.identify()
        hardware = rig.board.hardware_limits()
        shape = rig.shape
        board_s = round_trip_s(rig.board.shape)
        smu_s = round_trip_s(rig.smu.identify)
    console = Console()
    console.print(f"SMU ({cfg.smu.model}) at {cfg.smu.resource}: {identity['smu']}")
    console.print(f"board at {cfg.board.url}: {identity['board']} "
                  f"(firmware {identity['board_firmware']}), {shape[0]}x{shape[1]} array")
    console.print(_limits_table(cfg.limits.build(), hardware))
    console.print(f"round trip (median of {ROUND_TRIPS}): board {board_s * 1e3:.3f} ms, "
                  f"SMU {smu_s * 1e3:.3f} ms; for the modelled time, paste into the run "
                  "config:")
    console.print(f"[cost]\nround_trip_s = {(board_s + smu_s) / 2:.3e}", markup=False,
                  highlight=False)
    console.print("SMU output is off at 0 V; no pulse was applied.")


# Queries timed per instrument to measure its round trip.
ROUND_TRIPS = 20


def round_trip_s(query) -> float:
    """Median wall time of ``ROUND_TRIPS`` calls of ``query`` (a question that sources
    nothing): the host overhead each batch or read a run sends costs on this rig."""
    times = []
    for _ in range(ROUND_TRIPS):
        start = time.perf_counter()
        query()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _limits_table(limits: SafetyLimits, hardware: dict[str, float]) -> Table:
    from rich.table import Table

    table = Table("limit", "rig config", "board generator", title="limits")
    for key, value in vars(limits).items():
        board = hardware.get(key)
        note = "" if board is None else f"{board:.3e}"
        if board is not None and _looser(key, value, board):
            note += " (config is looser: the board refuses beyond this)"
        table.add_row(key, f"{value:.3e}", note)
    return table


def _looser(key: str, config_value: float, board_value: float) -> bool:
    return config_value < board_value if key == "width_min_s" else config_value > board_value


@click.command()
@click.option("--rows", default=32, show_default=True, type=click.IntRange(1, 4096))
@click.option("--cols", default=32, show_default=True, type=click.IntRange(1, 4096))
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0))
@click.option("--preset", default=None, help="Device preset (default: the default preset).")
@click.option("--smu", type=click.Choice(["2600", "2400"]), default="2600", show_default=True)
@click.option("--latency", type=Quantity("s"), default="0s", show_default=True,
              help="Injected round-trip latency per reply, e.g. 2ms.")
@click.option("--write-config", type=click.Path(dir_okay=False),
              help="Write a rig.toml that reaches the emulated rig.")
@click.option("--control-port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="Loopback port of the JSON-lines control channel (0: any free port).")
@click.option("--wire-log", type=click.Path(dir_okay=False),
              help="Append every SMU and board line in and out, timestamped, to this file.")
def emulate(rows, cols, seed, preset, smu, latency, write_config, control_port,
            wire_log) -> None:
    """Serve an emulated SMU and board on loopback until Ctrl-C (or SIGTERM).

    \b
    The control channel (127.0.0.1, address printed at start) takes one JSON object a line:
      {"op": "state"}   SMU output and level (V), routed cell, cells loaded,
                        pulses applied, board limits, faults fired
      {"op": "arm", "kind": "no_reply", "instrument": "smu", "match": "hilctl_run",
       "times": 1, "skip": 0}
                        fault kinds: no_reply, garbage, drop, error, compliance
    e.g.  echo '{"op": "state"}' | nc -q1 127.0.0.1 PORT
    """
    from rich.console import Console

    from hilctl.drivers import ConfigError
    from hilctl.simulated_backend import DEFAULT_PRESET
    from hilctl.simulated_backend import preset as device_preset
    from hilctl.simulated_backend.emulators import EmulatedRig

    name = preset or DEFAULT_PRESET
    try:
        rig = EmulatedRig((rows, cols), seed=seed, smu=smu, latency_s=latency,
                          params=device_preset(name), control_port=control_port,
                          wire_log=wire_log)
    except OSError as exc:
        raise ConfigError(f"--control-port {control_port} / --wire-log {wire_log}: {exc}") from None
    console = Console()
    with rig:
        console.print(f"emulated Keithley {smu}: {rig.smu_resource}")
        console.print(f"emulated board:        {rig.board_url}")
        console.print(f"control channel:       {rig.control_address} (JSON lines, see --help)")
        text = run_config_toml(rig, seed, name)
        if write_config:
            _write(Path(write_config), text)
            console.print(f"wrote {write_config}; in another terminal: "
                          f"hilctl program --config {write_config}")
        else:
            console.print(text, markup=False, highlight=False)
        console.print("serving until Ctrl-C")
        try:
            while True:
                time.sleep(0.5)
        except KeyboardInterrupt:
            console.print("emulator stopped")


def run_config_toml(rig, seed: int, preset: str) -> str:
    """A ``hilctl program`` config for the emulated rig: array size and limits match it."""
    rows, cols = rig.array.shape
    limits = rig.rig_table()["limits"]
    top = [f"[array]\nrows = {rows}\ncols = {cols}\nseed = {seed}\npreset = \"{preset}\"\n",
           "[limits]\n" + "".join(f"{k} = {v!r}\n" for k, v in limits.items())]
    return "\n".join(top) + "\n" + rig.rig_toml()


def _write(path: Path, text: str) -> None:
    from hilctl.drivers import ConfigError

    try:
        path.write_text(text)
    except OSError as exc:
        raise ConfigError(f"--write-config {path}: cannot write ({exc})") from None
