"""The pulse-response table of an array and the predictor trained on it.

    table = hilctl.characterize("sim://?rows=32&cols=32&seed=11", pulses=4000, out="t.csv")
    predictor = hilctl.train_predictor("t.csv", out="predictor")

``characterize`` is a stored run like a programming run (``run_dir``; a temporary one by
default), so a killed characterization continues with ``hilctl characterize --resume DIR``.
The ``hilctl characterize`` command is ``characterization`` (the table with its summary) or
``fill_device_book``. torch is imported only when a predictor trains or plans.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from hilctl.drivers import ConfigError
from hilctl.drivers.pulse_table import PulseTable

from ..assemble import Job
from ..config import merge
from ..report.progress import epoch_progress, round_progress
from ..run.characterization import CharacterizationOutcome, new_characterization
from ..units import parse_quantity
from .backends import Array, open_array
from .parameters import SettingError, configure


def characterize(array: Array | str, pulses: int = 50_000, out: str | Path | None = None, *,
                 run_dir: str | Path | None = None, progress: bool = False,
                 **draw) -> PulseTable:
    """Random pulses (polarity, amplitude, log-uniform width, gate over the safe ranges)
    across the array, read before and after: the pulse-response table, also written to
    ``out`` (CSV). ``draw``: keys of a TOML's ``[characterize]`` table (``sampling="grid"``,
    ``start="hrs"``, ``width_s=(1e-6, 1e-6)``, ...). The array's seed seeds the pulses."""
    return characterization(array, pulses, out, run_dir=run_dir, progress=progress,
                            **draw).table


def characterization(array: Array | str, pulses: int, out: str | Path | None = None, *,
                     run_dir: str | Path | None = None, progress: bool = False,
                     **draw) -> CharacterizationOutcome:
    """``characterize``'s table and the summary ``hilctl characterize --json`` prints."""
    array = _with_draw(array, draw)
    with tempfile.TemporaryDirectory(prefix="hilctl-characterize-") as scratch:
        run_dir = Path(run_dir) if run_dir else Path(scratch) / "run"
        with round_progress("characterize", progress) as hook:
            return new_characterization(Job(array.config), run_dir, pulses,
                                        Path(out or Path(scratch) / "table.csv"), hook)


def fill_device_book(array: Array | str, device_book: str | Path, pulses_per_cell: int,
                     out: str | Path, predictor: str | Path, **draw) -> dict:
    """Teach ``device_book`` every device of the array: ``pulses_per_cell`` pulses per
    device towards random targets, planned and learned by the neural planner of
    ``predictor``; the pulses also go to the table ``out``. The summary ``hilctl
    characterize --device-book --json`` prints."""
    from ..run.book_link import characterize_into_book  # torch: import late

    started = time.perf_counter()
    array = _with_draw(array, draw, {
        "device_book": {"path": str(Path(device_book).resolve())},
        "protocol": {"predictor": predictor and str(Path(predictor).resolve())}})
    config = array.config
    table, booked, shape = characterize_into_book(Job(config), pulses_per_cell,
                                                  np.random.default_rng(config.array.seed))
    table.write_csv(out)
    return {**booked, "rows": len(table), "pulses": pulses_per_cell * shape[0] * shape[1],
            "out": str(out), "array": list(shape), "preset": config.array.preset,
            "seconds": round(time.perf_counter() - started, 2)}


def _with_draw(array: Array | str, draw: dict, more: dict | None = None) -> Array:
    """The array with ``draw`` as its ``[characterize]`` settings (and ``more`` settings)."""
    array = array if isinstance(array, Array) else open_array(array)
    if not draw and not more:
        return array
    given = {"characterize": draw, **(more or {})}
    data = merge(array.config.model_dump(mode="json"), given)
    return Array(array.url, configure(data, given, "hilctl.characterize()"))


def train_predictor(table: PulseTable | str | Path, out: str | Path, knob: str | None = None,
                    epochs: int | None = None, seed: int = 0, **options) -> Path:
    """Train the neural pulse predictor on a pulse-response table (or its CSV) and save it
    to ``out``; the path to pass as ``predictor=`` to ``hilctl.program``. ``options``: those
    of ``fit_predictor``."""
    fit_predictor(table, out, knob=knob, epochs=epochs, seed=seed, **options)
    return Path(out)


def fit_predictor(table: PulseTable | str | Path, out: str | Path, *, knob: str | None = None,
                  epochs: int | None = None, seed: int = 0, fixed: dict | str | None = None,
                  polarities: tuple[str, ...] = ("SET", "RESET"), progress: bool = False):
    """The trained ``Predictor``, saved to ``out`` (what ``hilctl predictor train`` runs).

    ``knob``: what it plans, one of width, amplitude, gate for both polarities or one per
    polarity (``"set=gate,reset=amplitude"``) [the gate for SET and the source-line amplitude
    for RESET on a gate sweep, else width]. ``fixed``: the setting held fixed, ``"1.2V"`` for
    both polarities or ``{"SET": "1.1V", "RESET": 1.5}`` [chosen from the data]. ``epochs``
    [about 1.5M samples seen].
    """
    from ..predictor.knobs import KNOBS, parse_knobs  # torch: import late
    from ..predictor.training import default_knob
    from ..predictor.training import train_predictor as train_on

    if knob is not None:
        parse_knobs(knob, polarities)  # a bad knob is refused before the table is read
    source = "pulse table" if isinstance(table, PulseTable) else str(table)
    table = table if isinstance(table, PulseTable) else PulseTable.read_csv(table)
    knob = knob or default_knob(table)
    units = {name: FIXED_UNITS[KNOBS[k].searched]
             for name, k in parse_knobs(knob, polarities).items()}
    with epoch_progress("training the predictor", progress) as on_epoch:
        trained = train_on(table, knob=knob, epochs=epochs, seed=seed, polarities=polarities,
                           fixed=fixed_settings(fixed, units), source=source,
                           on_epoch=on_epoch)
    trained.save(out)
    return trained


# The unit of the setting a knob leaves fixed, by the setting the knob searches.
FIXED_UNITS = {"amplitude_V": "V", "width_s": "s", "gate_V": "V"}


def fixed_settings(fixed: dict | str | float | None, units: dict[str, str]
                   ) -> dict[str, float] | None:
    """``"1.2V"`` for every polarity in ``units``, or one value per polarity (a number in SI
    units or a quantity with its unit)."""
    if fixed is None or fixed == {}:
        return None
    values = fixed if isinstance(fixed, dict) else dict.fromkeys(units, fixed)
    settings = {}
    for polarity, value in values.items():
        name = str(polarity).upper()
        if name not in units:
            raise SettingError("fixed", fixed, "expected a value per polarity of "
                               f"{' and '.join(units)}")
        try:
            settings[name] = (float(value) if not isinstance(value, str)
                              else parse_quantity(value, units[name], "fixed"))
        except (ConfigError, ValueError):
            raise SettingError("fixed", fixed, f"expected a {name} value in "
                               f"{units[name]}, e.g. 1.2{units[name]}") from None
    return settings
