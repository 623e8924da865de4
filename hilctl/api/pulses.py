"""Every pulse of a run as a table, read round by round from its store.

One row per pulse, and one per starting read (round 0, polarity 0, no pulse settings):
``round``, ``row``, ``col`` (within the array), ``polarity`` (+1 SET, -1 RESET, 0 a read only),
``amplitude_V``, ``gate_V`` (NaN without a gate), ``width_s``, ``g_read_S`` (the verify read
after the pulse) and, on a simulator, ``g_true_S`` (the device's noise-free conductance then).
A weights run adds ``array`` and ``layer`` (-1: a cell holding no weight), and its export writes
the cell-to-weight map of ``layout.json`` beside the pulses. A cell's last row is its entry in
``conductance.npy``.

The simulator's true conductances are rebuilt round by round, by restoring the devices' stored
checkpoints and replaying the stored pulses between them through the physics (which gives the
reads back at full precision where a lean store keeps them as float32), so a reader holds the
array and one round, never the run's whole history.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from hilctl.drivers import Cells, ConfigError, DataError
from hilctl.drivers.atomic_file import atomic_output

from ..assemble import Job
from ..run.checkpoints import replay_pulses
from ..run.runner import STORE_NAME, TARGETS_NAME, arrays_in, load_run_config
from ..run.store import RunStore
from ..run.stored_round import Checkpoint
from ..targets import programmed_cells
from ..weights.layout import Layout

LAYOUT_NAME = "layout.json"
# How each column is written to CSV: conductances exactly (17 digits), pulse knobs in 9.
FORMATS = {"round": "%d", "array": "%d", "layer": "%d", "row": "%d", "col": "%d",
           "polarity": "%d", "amplitude_V": "%.9g", "gate_V": "%.9g", "width_s": "%.9g",
           "g_read_S": "%.17g", "g_true_S": "%.17g"}
WEIGHT_COLUMNS = ("layer", "input", "output", "array", "row", "col_plus", "col_minus")


class _Replay:
    """A simulated array brought, round by round, to the state each stored round left: a
    round with a checkpoint restores it, one between checkpoints replays its stored pulses
    through the physics (which also gives its reads back at full precision)."""

    def __init__(self, run_dir: Path, targets: np.ndarray, flat: np.ndarray) -> None:
        self.crossbar = Job(load_run_config(run_dir)).open_crossbar(arrays_in(targets))
        self.flat = flat

    def after(self, positions: np.ndarray, pulses: dict, checkpoint: Checkpoint | None
              ) -> tuple[np.ndarray, np.ndarray]:
        """(true conductance, read) of the round's cells after it (S)."""
        cells = Cells.from_flat(self.flat[positions], self.crossbar.shape)
        reading = pulses["reading"]
        if checkpoint is not None:
            change = dict(checkpoint.backend)
            if checkpoint.positions is not None:
                change["index"] = self.flat[checkpoint.positions]
            self.crossbar.sim_restore(change)
        elif "polarity" in pulses:
            reading = replay_pulses(self.crossbar, cells, pulses)
        return self.crossbar.sim_true_conductance(cells), reading


def _cell_layers(run_dir: Path, targets: np.ndarray) -> np.ndarray | None:
    """The layer each cell's weight belongs to (-1: none), flat over the stacked arrays."""
    layout = _layout(run_dir, targets)
    if layout is None:
        return None
    layers = np.full(targets.size, -1, dtype=np.int16)
    for layer, cells in enumerate(_weight_cells(layout, targets.shape)):
        layers[cells] = layer
    return layers


def _layout(run_dir: Path, targets: np.ndarray) -> Layout | None:
    path = run_dir / LAYOUT_NAME
    return Layout.from_json(path.read_text(), targets) if path.is_file() else None


def _weight_cells(layout: Layout, shape: tuple[int, ...]) -> Iterator[np.ndarray]:
    rows, cols = shape[-2:]
    for layer in range(len(layout.layer_shapes)):
        cells = layout.cells_of(layer)
        base = (cells["array"] * rows + cells["row"]) * cols
        yield np.concatenate([(base + cells["col_plus"]).ravel(),
                              (base + cells["col_minus"]).ravel()])


def pulse_rounds(run_dir: str | Path) -> Iterator[dict[str, np.ndarray]]:
    """The pulse table of a run, one round's rows at a time (columns as the module says)."""
    run_dir = Path(run_dir)
    targets = np.load(run_dir / TARGETS_NAME, allow_pickle=False)
    flat = programmed_cells(targets)
    rows, cols = targets.shape[-2:]
    layers = _cell_layers(run_dir, targets)
    replay = None
    with RunStore(run_dir / STORE_NAME) as store:
        for number, pulses, checkpoint in store.iter_rounds():
            positions = pulses["index"].astype(np.intp)
            if number == 0 and checkpoint is not None:
                replay = _Replay(run_dir, targets, flat)
            if replay is not None:
                g_true, g_read = replay.after(positions, pulses, checkpoint)
            else:
                g_read = pulses["reading"]
            if number > 0 and "polarity" not in pulses:
                continue  # a retarget: new targets, no pulse and no read
            cells = flat[positions]
            stacked_row, col = np.divmod(cells, cols)
            table = {"round": np.full(cells.size, number, dtype=np.int32)}
            if layers is not None:
                table["array"], table["layer"] = stacked_row // rows, layers[cells]
            table.update(row=stacked_row % rows, col=col, **_pulse_columns(pulses, cells.size),
                         g_read_S=g_read.astype(np.float64))
            if replay is not None:
                table["g_true_S"] = g_true
            yield table


def _pulse_columns(pulses: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    if "polarity" not in pulses:  # the starting read
        nan = np.full(n, np.nan)
        return {"polarity": np.zeros(n, np.int8), "amplitude_V": nan, "gate_V": nan,
                "width_s": nan}
    gate = pulses.get("gate")
    return {"polarity": pulses["polarity"], "amplitude_V": pulses["amplitude"],
            "gate_V": np.full(n, np.nan) if gate is None else gate, "width_s": pulses["width"]}


def pulse_table(run_dir: str | Path):
    """The whole pulse table: a pandas DataFrame if pandas is installed, else a dict of numpy
    columns."""
    chunks = list(pulse_rounds(run_dir))
    if not chunks:
        raise DataError(f"{run_dir}: the run stored no round yet")
    columns = {name: np.concatenate([c[name] for c in chunks]) for name in chunks[0]}
    try:
        import pandas
    except ImportError:
        return columns
    return pandas.DataFrame(columns)


def weight_map(run_dir: str | Path) -> dict[str, np.ndarray] | None:
    """``layout.json``'s map from weights to cells, one row per weight: its layer, input (the
    row of the layer's matrix; the last is the bias) and output, and the array, row and the two
    columns of its pair (G+, G-). None for a run that programmed no weights."""
    run_dir = Path(run_dir)
    targets = np.load(run_dir / TARGETS_NAME, allow_pickle=False)
    layout = _layout(run_dir, targets)
    if layout is None:
        return None
    parts = []
    for layer in range(len(layout.layer_shapes)):
        cells = layout.cells_of(layer)
        inputs, outputs = np.indices(cells["row"].shape)
        parts.append({"layer": np.full(inputs.size, layer), "input": inputs.ravel(),
                      "output": outputs.ravel(), **{k: v.ravel() for k, v in cells.items()}})
    return {name: np.concatenate([p[name] for p in parts]) for name in WEIGHT_COLUMNS}


def export_pulses(run_dir: Path, dest: Path, format: str) -> list[Path]:
    """Write the pulse table to ``dest`` round by round; the files written."""
    if format not in WRITERS:
        raise ConfigError(f"export format {format!r} is unknown; known: {', '.join(WRITERS)}")
    return WRITERS[format](Path(run_dir), Path(dest))


def _write_csv(run_dir: Path, dest: Path) -> list[Path]:
    written = [dest]
    with atomic_output(dest, "w", newline="") as fh:
        header = False
        for table in pulse_rounds(run_dir):
            if not header:
                fh.write(",".join(table) + "\n")
                header = True
            _write_rows(fh, table, ",".join(FORMATS[name] for name in table))
    weights = weight_map(run_dir)
    if weights is not None:
        written.append(dest.with_name(f"{dest.stem}-weights.csv"))
        with atomic_output(written[-1], "w", newline="") as fh:
            fh.write(",".join(WEIGHT_COLUMNS) + "\n")
            _write_rows(fh, weights, ",".join(["%d"] * len(WEIGHT_COLUMNS)))
    return written


# Rows formatted at a time: bounds the Python objects a large round turns into.
_CSV_CHUNK = 65536


def _write_rows(fh, table: dict[str, np.ndarray], fmt: str) -> None:
    """Columns as CSV lines (``numpy.savetxt`` formats numpy scalars one by one, about ten
    times slower than this on Python floats)."""
    n = len(next(iter(table.values())))
    for start in range(0, n, _CSV_CHUNK):
        rows = zip(*(column[start:start + _CSV_CHUNK].tolist() for column in table.values()),
                   strict=True)
        fh.write("".join(fmt % row + "\n" for row in rows))


def _write_hdf5(run_dir: Path, dest: Path) -> list[Path]:
    try:
        import h5py
    except ImportError:
        raise ConfigError("hdf5 export needs h5py: pip install 'hilctl[hdf5]' (or export "
                          "csv)") from None
    with atomic_output(dest, "w+b") as fh, h5py.File(fh, "w") as h5:
        group = h5.create_group("pulses")
        for table in pulse_rounds(run_dir):
            for name, values in table.items():
                if values.size == 0:
                    continue
                if name not in group:
                    group.create_dataset(name, shape=(0,), maxshape=(None,), chunks=(65536,),
                                         dtype=values.dtype, compression="gzip")
                column = group[name]
                column.resize(column.shape[0] + values.size, axis=0)
                column[-values.size:] = values
        h5.attrs["config_toml"] = (run_dir / "config.toml").read_text()
        if (run_dir / "result.json").is_file():
            h5.attrs["result_json"] = (run_dir / "result.json").read_text()
        weights = weight_map(run_dir)
        for name, values in (weights or {}).items():
            h5.create_dataset(f"weights/{name}", data=values)
    return [dest]


WRITERS = {"csv": _write_csv, "hdf5": _write_hdf5}
