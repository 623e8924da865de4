"""``hilctl book show|export|forget``: look into a device book, export it, or clear it."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    import numpy as np

    from ..run.device_book import DeviceBook


_BOOK = click.argument("path", type=click.Path(dir_okay=False))


@click.group()
def book() -> None:
    """The device book of an array: what each device showed in earlier runs."""


def summary_of(book_file: DeviceBook) -> dict:
    """Per polarity: devices with a look, median |shift|, pulses; the book's identity."""
    import numpy as np

    from ..run.device_book import SIDES, describe_identity

    arrays = book_file.arrays()
    seen = arrays["information"] > 0
    out = {"book": str(book_file.path), "array": describe_identity(book_file.meta["identity"]),
           "identity": book_file.meta["identity"], "knobs": book_file.meta.get("knobs"),
           "runs": book_file.run_count()}
    for row, side in enumerate(SIDES):
        shift = arrays["shift"][row][seen[row]]
        updated = arrays["updated_s"][row][seen[row]]
        out[side] = {"devices": int(seen[row].sum()), "pulses": int(arrays["pulses"][row].sum()),
                     "shift_median": float(np.median(shift)) if shift.size else None,
                     "shift_spread": float(np.std(shift)) if shift.size else None,
                     "last_updated": (time.strftime("%Y-%m-%d %H:%M:%S",
                                                    time.localtime(float(updated.max())))
                                      if updated.size else None)}
    return out


@book.command()
@_BOOK
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def show(path, as_json) -> None:
    """What the book holds, per polarity."""
    from ..run.device_book import SIDES, DeviceBook

    with DeviceBook(path) as book_file:
        summary = summary_of(book_file)
    if as_json:
        click.echo(json.dumps(summary))
        return
    click.echo(f"{summary['book']}: {summary['array']}, {summary['runs']} runs absorbed, "
               f"knobs {summary['knobs']} (RESET, SET)")
    for side in SIDES:
        s = summary[side]
        shown = "no look yet" if not s["devices"] else (
            f"shift median {s['shift_median']:+.3f}, spread {s['shift_spread']:.3f}, "
            f"last updated {s['last_updated']}")
        click.echo(f"  {side.upper():5s} {s['devices']} devices seen, {s['pulses']} pulses: "
                   f"{shown}")


@book.command()
@_BOOK
@click.option("--csv", "csv_out", type=click.Path(dir_okay=False),
              help="Per-device table to write (row, col, polarity, shift, information, "
                   "pulses, updated_s).")
@click.option("--png", "png_out", type=click.Path(dir_okay=False),
              help="Map of the learned shift per polarity to write.")
def export(path, csv_out, png_out) -> None:
    """Write the per-device table (CSV) and a map of the learned shift (PNG)."""
    import numpy as np

    from hilctl.drivers import ConfigError
    from hilctl.drivers.atomic_file import write_atomic

    from ..report import plots
    from ..run.device_book import SIDES, DeviceBook

    if not csv_out and not png_out:
        raise ConfigError("book export: nothing to write; give --csv FILE and/or --png FILE")
    with DeviceBook(path) as book_file:
        arrays, shape = book_file.arrays(), tuple(book_file.meta["identity"]["shape"])
        knobs = book_file.meta.get("knobs") or ["?", "?"]
    if csv_out:
        write_atomic(Path(csv_out), device_table(arrays, shape))
    if png_out:
        shift = np.where(arrays["information"] > 0, arrays["shift"], np.nan)
        plots.shift_maps(shift.reshape(2, *shape),
                         tuple(f"{s.upper()} ({k} knob)" for s, k in zip(SIDES, knobs,
                                                                       strict=True)),
                         tuple("ln width" if k == "width" else "V" for k in knobs),
                         Path(png_out))
    click.echo(f"wrote {', '.join(p for p in (csv_out, png_out) if p)}")


def device_table(arrays: dict[str, np.ndarray], shape: tuple[int, int]) -> str:
    """One CSV row per device and polarity."""
    import numpy as np

    from ..run.device_book import SIDES

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["row", "col", "polarity", "shift", "information", "pulses", "updated_s"])
    rows, cols = np.divmod(np.arange(shape[0] * shape[1]), shape[1])
    for side_row, side in enumerate(SIDES):
        for values in zip(rows, cols, *(arrays[k][side_row] for k in
                                        ("shift", "information", "pulses", "updated_s")),
                          strict=True):
            r, c, shift, information, pulses, updated = values
            writer.writerow([r, c, side.upper(), repr(float(shift)), repr(float(information)),
                             int(pulses), "" if np.isnan(updated) else repr(float(updated))])
    return out.getvalue()


@book.command()
@_BOOK
@click.option("--cell", "cells", multiple=True, help="A device to forget, as ROW,COL.")
@click.option("--all", "everything", is_flag=True, help="Forget every device.")
def forget(path, cells, everything) -> None:
    """Drop what the book knows of some devices, or of all (e.g. after re-forming them)."""
    import numpy as np

    from hilctl.drivers import ConfigError

    from ..run.device_book import DeviceBook

    if bool(cells) == everything:
        raise ConfigError("book forget: give --cell ROW,COL (repeatable) or --all")
    with DeviceBook(path) as book_file:
        shape = tuple(book_file.meta["identity"]["shape"])
        flat = None if everything else np.array([_flat_of(text, shape) for text in cells])
        book_file.forget(flat)
    click.echo(f"{path}: forgot {'every device' if everything else f'{len(cells)} devices'}")


def _flat_of(text: str, shape: tuple[int, int]) -> int:
    from hilctl.drivers import ConfigError

    try:
        row, col = (int(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(f"--cell {text!r}: expected ROW,COL (e.g. 3,7)") from None
    if not (0 <= row < shape[0] and 0 <= col < shape[1]):
        raise ConfigError(f"--cell {text!r}: outside the book's {shape[0]}x{shape[1]} array")
    return row * shape[1] + col
