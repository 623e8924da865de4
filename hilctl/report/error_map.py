"""A run's ``error_map.png``: per cell |G - G_target| / G_target on a fixed colour scale.

    write_error_map(relative_error, path, title, tolerance=0.05)

``relative_error`` is (rows, cols) or (n_arrays, rows, cols), NaN where a cell has no target.
Each array is one panel, cropped to the cells it programs, so a layer's one bias row is not lost
beside large arrays. An array larger than a panel's pixels is shown block by block, each pixel
the largest error of its block (a single bad cell stays visible), and the title says so. The
scale is fixed at 0-``ERROR_SCALE_PCT`` % so maps of different runs compare at a glance; cells
beyond it are cyan and the title counts them; the tolerance is a white line on the colour bar.

The map is drawn straight into pixels with Pillow, without a plotting library: a run's one
figure costs milliseconds at any array size (a matplotlib figure cost most of a small run).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hilctl.drivers.atomic_file import atomic_output

ERROR_SCALE_PCT = 50.0
# matplotlib's "magma" (Smith & van der Walt, CC0) sampled at 17 points, interpolated between.
MAGMA = ("#000004", "#0a0822", "#1d1147", "#36106b", "#51127c", "#6a1c81", "#832681", "#9c2e7f",
         "#b73779", "#d0416f", "#e75263", "#f56b5c", "#fc8961", "#fea772", "#fec488", "#fde2a3",
         "#fcfdbf")
BEYOND = (0, 255, 255)  # cyan: beyond the scale
NO_TARGET = (208, 208, 208)  # grey: a cell without a target (not programmed)
PANEL_PIXELS = 512  # the longer side of a panel, at most
ALL_PANELS_PIXELS = 1536  # the panels of a many-array map share this height
MIN_SIDE_PIXELS = 96  # a narrow array's shorter side is stretched to at least this
BAR_SIZE = (20, 256)  # colour bar (width, height) in pixels
MARGIN, LINE = 10, 16


def _lut() -> np.ndarray:
    """256 RGB colours from 0 to ``ERROR_SCALE_PCT``."""
    anchors = np.array([[int(h[i:i + 2], 16) for i in (1, 3, 5)] for h in MAGMA], float)
    at = np.linspace(0, 1, 256) * (len(MAGMA) - 1)
    steps = np.arange(len(MAGMA))
    return np.stack([np.interp(at, steps, anchors[:, k]) for k in range(3)], -1).round()\
        .astype(np.uint8)


COLOURS = _lut()


@dataclass(frozen=True)
class Panel:
    """One array's pixels and what they show: the cropped rows and columns, and the block of
    cells each pixel summarises (1: one cell per pixel)."""

    pixels: np.ndarray  # (height, width, 3) uint8
    rows: slice
    cols: slice
    block: int


def colourise(percent: np.ndarray) -> np.ndarray:
    """RGB of each error in percent on the fixed scale; cyan beyond it, grey for NaN."""
    finite = np.isfinite(percent)
    shown = np.clip(np.where(finite, percent, 0.0), 0.0, ERROR_SCALE_PCT)
    rgb = COLOURS[np.rint(shown * (255 / ERROR_SCALE_PCT)).astype(np.intp)]
    rgb[finite & (percent > ERROR_SCALE_PCT)] = BEYOND
    rgb[~finite] = NO_TARGET
    return rgb


def block_max(values: np.ndarray, block: int) -> np.ndarray:
    """The largest finite value of each ``block`` x ``block`` tile (NaN where a tile has none)."""
    if block == 1:
        return values
    rows, cols = (-(-n // block) * block for n in values.shape)
    if (rows, cols) != values.shape:
        padded = np.full((rows, cols), np.nan)
        padded[:values.shape[0], :values.shape[1]] = values
        values = padded
    tiles = values.reshape(rows // block, block, cols // block, block)
    return np.fmax.reduce(np.fmax.reduce(tiles, axis=3), axis=1)


def panel(percent: np.ndarray, side: int = PANEL_PIXELS) -> Panel:
    """One array's panel: cropped to its finite cells, blocks of cells where it is larger than
    ``side`` pixels, whole cells enlarged to fill ``side`` where it is smaller."""
    rows, cols = _used(percent)
    cropped = percent[rows, cols]
    block = -(-max(cropped.shape) // side)
    shown = block_max(cropped, block)
    scale = max(1, side // max(shown.shape))
    tall, wide = (max(scale, -(-MIN_SIDE_PIXELS // n)) for n in shown.shape)
    pixels = np.repeat(np.repeat(colourise(shown), tall, axis=0), wide, axis=1)
    return Panel(pixels, rows, cols, block)


def _used(shown: np.ndarray) -> tuple[slice, slice]:
    """The rows and columns spanning an array's programmed (finite) cells; all if none."""
    finite = np.isfinite(shown)
    if not finite.any():
        return slice(0, shown.shape[0]), slice(0, shown.shape[1])
    r = np.flatnonzero(finite.any(axis=1))
    c = np.flatnonzero(finite.any(axis=0))
    return slice(int(r[0]), int(r[-1]) + 1), slice(int(c[0]), int(c[-1]) + 1)


def clipping(percent: np.ndarray) -> str:
    """What the fixed scale leaves out: how many cells lie beyond it, and the largest error."""
    values = percent[np.isfinite(percent)]
    over = int((values > ERROR_SCALE_PCT).sum())
    if not over:
        return f"scale 0-{ERROR_SCALE_PCT:g} %, no cell beyond it"
    return (f"scale 0-{ERROR_SCALE_PCT:g} %; {over} of {values.size} cells beyond it (cyan), "
            f"largest {values.max():.0f} %")


def colour_bar(tolerance: float | None) -> np.ndarray:
    """The scale from 0 (bottom) to ``ERROR_SCALE_PCT`` (top) with a white line at
    ``tolerance`` (relative) where it lies on the scale."""
    width, height = BAR_SIZE
    levels = np.linspace(ERROR_SCALE_PCT, 0.0, height)
    bar = np.repeat(colourise(levels)[:, None, :], width, axis=1)
    if tolerance is not None and 0 < 100 * tolerance <= ERROR_SCALE_PCT:
        bar[bar_row(100 * tolerance)] = 255
    return bar


def bar_row(percent: float) -> int:
    """The colour bar's pixel row of an error in percent (row 0 is the top of the scale)."""
    return int(round((1 - percent / ERROR_SCALE_PCT) * (BAR_SIZE[1] - 1)))


def write_error_map(relative_error: np.ndarray, path: Path, title: str,
                    tolerance: float | None = None) -> None:
    """The map as a PNG, written atomically (a killed run never leaves half a figure); its
    text (title, clipping, blocks) is also stored in the PNG's ``Description``."""
    from PIL import Image, ImageDraw, ImageFont
    from PIL.PngImagePlugin import PngInfo

    arrays = relative_error.reshape(-1, *relative_error.shape[-2:]) * 100
    side = min(PANEL_PIXELS, max(MIN_SIDE_PIXELS, ALL_PANELS_PIXELS // len(arrays)))
    panels = [panel(a, side) for a in arrays]
    heading = [title, clipping(arrays), *_blocks(panels)]
    font = ImageFont.load_default(size=12)
    bar_text = _bar_labels(tolerance)
    label_width = max(int(font.getlength(text)) for _, text in bar_text)
    maps_width = max(p.pixels.shape[1] for p in panels)
    width = max(MARGIN + maps_width + 2 * MARGIN + BAR_SIZE[0] + 6 + label_width + MARGIN,
                2 * MARGIN + max(int(font.getlength(text)) for text in heading))
    top = MARGIN + LINE * len(heading) + MARGIN
    maps_height = sum(LINE + p.pixels.shape[0] + MARGIN for p in panels)
    height = top + max(maps_height, 2 * LINE + BAR_SIZE[1] + LINE * 2) + MARGIN
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for k, text in enumerate(heading):
        draw.text((MARGIN, MARGIN + LINE * k), text, fill="black", font=font)
    y = top
    for k, p in enumerate(panels):
        draw.text((MARGIN, y), _panel_label(k, p, len(panels)), fill="black", font=font)
        canvas.paste(Image.fromarray(p.pixels), (MARGIN, y + LINE))
        y += LINE + p.pixels.shape[0] + MARGIN
    _draw_bar(canvas, draw, font, (MARGIN + maps_width + 2 * MARGIN, top + 2 * LINE), bar_text,
              tolerance)
    info = PngInfo()
    info.add_text("Title", title)
    info.add_text("Description", "\n".join(heading[1:]))
    with atomic_output(path, "wb") as fh:
        canvas.save(fh, format="PNG", pnginfo=info)


def _blocks(panels: list[Panel]) -> list[str]:
    """The title's line on downsampling, when a panel shows blocks of cells."""
    block = max(p.block for p in panels)
    if block == 1:
        return []
    return [f"each pixel: the largest error of a block of up to {block}x{block} cells"]


def _panel_label(k: int, p: Panel, n_panels: int) -> str:
    where = (f"{_span('row', p.rows)}, {_span('column', p.cols)}"
             + (f", {p.block}x{p.block} cells per pixel" if p.block > 1 else ""))
    return f"array {k}: {where}" if n_panels > 1 else where


def _span(name: str, indices: slice) -> str:
    if indices.stop - indices.start == 1:
        return f"{name} {indices.start}"
    return f"{name}s {indices.start}-{indices.stop - 1}"


def _bar_labels(tolerance: float | None) -> list[tuple[float, str]]:
    """(percent, text) beside the colour bar: ticks every 10 %, the tolerance, the legend."""
    ticks = [(v, f"{v:g} %") for v in np.arange(0, ERROR_SCALE_PCT + 1e-9, 10.0)]
    if tolerance is not None:
        on_scale = 100 * tolerance <= ERROR_SCALE_PCT
        ticks.append((min(100 * tolerance, ERROR_SCALE_PCT),
                      f"tolerance {100 * tolerance:.3g} %" + ("" if on_scale else " (off scale)")))
    return ticks


def _draw_bar(canvas, draw, font, at: tuple[int, int], labels: list[tuple[float, str]],
              tolerance: float | None) -> None:
    """The colour bar at ``at`` (its top left), the cyan swatch above it, labels beside."""
    from PIL import Image

    x, y = at
    width, height = BAR_SIZE
    draw.rectangle((x, y - LINE - 10, x + width - 1, y - 12), fill=BEYOND, outline="black")
    draw.text((x + width + 6, y - LINE - 12), f"> {ERROR_SCALE_PCT:g} %", fill="black",
              font=font)
    canvas.paste(Image.fromarray(colour_bar(tolerance)), (x, y))
    draw.rectangle((x - 1, y - 1, x + width, y + height), outline="black")
    for percent, text in labels:
        row = y + bar_row(percent)
        draw.line((x + width, row, x + width + 3, row), fill="black")
        draw.text((x + width + 6, row - 7), text, fill="black", font=font)
    legend = y + height + 6
    draw.rectangle((x, legend, x + width - 1, legend + 10), fill=NO_TARGET, outline="black")
    draw.text((x + width + 6, legend - 2), "no target", fill="black", font=font)
