"""Where every weight of a trained network sits on the arrays, and its conductance targets.

Each layer (augmented with its bias row, see ``model_files``) becomes device pairs: weight
(i, j) of a tile sits on array row ``row0 + i'`` and columns ``col0 + 2 j'`` (G+) and
``col0 + 2 j' + 1`` (G-). A layer larger than one array is cut into tiles, each at most the
array's rows by half its columns; tiles are packed as a staircase on each array so no two
tiles share a physical row or column, and each tile is evaluated in its own phase (its rows
driven, its columns read). Output currents of the row tiles of a layer add up.

Biases: the always-on input row of each layer (the last row of the augmented matrix) holds
them, so biases are conductances like every other weight.

Current mode: each tile row is its own divider (the row's input current is copied into each
column tile), and every other device on that physical row takes a share of the current. Those
"ballast" cells get the target ``g_lo`` and count in S_i, at mapping and at inference.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from hilctl.drivers import DataError
from hilctl.simulated_backend import DeviceParams

from . import modes as cm
from .model_files import TrainedModel

LAYOUT_VERSION = 1


def usable_window(params: DeviceParams | None = None, read_V: float = 0.2,
                  margin: float = 0.1) -> tuple[float, float]:
    """(g_lo, g_hi) in S as read at ``read_V``: the nominal range shrunk by ``margin`` each side."""
    p = params or DeviceParams()
    factor = p.read_factor(read_V)
    return p.g_min_S * factor * (1 + margin), p.g_max_S * factor * (1 - margin)


def device_range(params: DeviceParams | None = None, read_V: float = 0.2) -> tuple[float, float]:
    """Nominal (G_min, G_max) in S as read at ``read_V``: where stuck devices sit."""
    p = params or DeviceParams()
    factor = p.read_factor(read_V)
    return p.g_min_S * factor, p.g_max_S * factor


@dataclass(frozen=True)
class Tile:
    """A block of one layer on one array: layer rows [in_start, in_stop), outputs
    [out_start, out_stop), top-left device at (row0, col0)."""

    layer: int
    array: int
    row0: int
    col0: int
    in_start: int
    in_stop: int
    out_start: int
    out_stop: int

    @property
    def n_rows(self) -> int:
        return self.in_stop - self.in_start

    @property
    def n_cols(self) -> int:
        return 2 * (self.out_stop - self.out_start)

    def block(self, arrays: np.ndarray) -> np.ndarray:
        """The tile's (rows, 2 * outputs) block of ``arrays`` (n_arrays, rows, cols); a view."""
        return arrays[self.array, self.row0:self.row0 + self.n_rows,
                      self.col0:self.col0 + self.n_cols]

    def ballast(self, arrays: np.ndarray) -> np.ndarray:
        """Per tile row, the summed values of the row's cells outside the tile, shape (rows, 1)."""
        rows = arrays[self.array, self.row0:self.row0 + self.n_rows]
        return (np.nansum(rows, axis=1) - np.nansum(self.block(arrays), axis=1))[:, None]


@dataclass
class Layout:
    """The placement of a network on arrays of ``array_shape``; JSON-serialisable.

    ``scales`` is w per siemens of each layer (voltage mode). ``rescaled_rows`` lists the
    current-mode tile rows scaled into the row bound, as {layer, array, row, factor}.
    ``stuck_range_S`` is (G_min, G_max) read at the read voltage, where stuck devices sit.
    """

    mode: str
    array_shape: tuple[int, int]
    layer_shapes: list[tuple[int, int]]
    tiles: list[Tile]
    n_arrays: int
    g_lo: float
    g_hi: float
    scales: list[float]
    stuck_range_S: tuple[float, float]
    common_mode: float = 1.0
    rescaled_rows: list[dict] = field(default_factory=list)
    target_array: np.ndarray | None = field(default=None, repr=False)

    def targets(self) -> np.ndarray:
        """Targets in S, shaped (n_arrays, rows, cols), NaN where no device is used."""
        if self.target_array is None:
            raise DataError("this layout was loaded without its targets; pass targets.npy to "
                            "Layout.from_json")
        return self.target_array

    def conductances_to_layers(self, conductance: np.ndarray) -> list[np.ndarray]:
        """Effective weights per layer (augmented, before the periphery gain) from conductances
        (n_arrays, rows, cols) in S, computed the way the array computes them."""
        g = np.asarray(conductance, dtype=np.float64)
        self._check_conductance(g)
        layers = [np.zeros(shape) for shape in self.layer_shapes]
        for t in self.tiles:
            block = t.block(g)
            g_plus, g_minus = block[:, 0::2], block[:, 1::2]
            w = self.weight_mode.weights(g_plus, g_minus, scale=self.scales[t.layer],
                                         ballast=t.ballast(g))
            layers[t.layer][t.in_start:t.in_stop, t.out_start:t.out_stop] = w
        return layers

    @property
    def weight_mode(self) -> cm.VoltageMode | cm.CurrentMode:
        return cm.weight_mode(self.mode, "layout.json")

    def cells_of(self, layer: int) -> dict[str, np.ndarray]:
        """Which cell holds each weight of ``layer``: int arrays 'array', 'row', 'col_plus',
        'col_minus', each shaped like the augmented weight matrix."""
        shape = self.layer_shapes[layer]
        out = {k: np.full(shape, -1, dtype=np.int64)
               for k in ("array", "row", "col_plus", "col_minus")}
        for t in (t for t in self.tiles if t.layer == layer):
            i = np.arange(t.n_rows)[:, None]
            j = np.arange(t.out_stop - t.out_start)[None, :]
            sel = (slice(t.in_start, t.in_stop), slice(t.out_start, t.out_stop))
            out["array"][sel] = t.array
            out["row"][sel] = t.row0 + i
            out["col_plus"][sel] = t.col0 + 2 * j
            out["col_minus"][sel] = t.col0 + 2 * j + 1
        return out

    def tiled_layers(self) -> list[int]:
        """Layers cut across more than one tile."""
        counts = np.bincount([t.layer for t in self.tiles], minlength=len(self.layer_shapes))
        return [int(k) for k in np.flatnonzero(counts > 1)]

    def describe(self) -> str:
        tiled = self.tiled_layers()
        text = (f"{len(self.layer_shapes)} layers, {len(self.tiles)} tiles on {self.n_arrays} "
                f"array(s) of {self.array_shape[0]}x{self.array_shape[1]} ({self.mode} mode)")
        return text + (f"; layers {tiled} tiled" if tiled else "")

    def to_json(self) -> str:
        data = {k: v for k, v in asdict(self).items() if k != "target_array"}
        data["format_version"] = LAYOUT_VERSION
        return json.dumps(data, indent=1)

    @classmethod
    def from_json(cls, text: str, targets: np.ndarray | None = None) -> Layout:
        """A layout from ``to_json`` text; ``targets`` (targets.npy) restores ``targets()``."""
        try:
            data = json.loads(text)
            if data.pop("format_version") != LAYOUT_VERSION:
                raise ValueError(f"format version is not {LAYOUT_VERSION}")
            data["tiles"] = [Tile(**t) for t in data["tiles"]]
            data["array_shape"] = tuple(data["array_shape"])
            data["layer_shapes"] = [tuple(s) for s in data["layer_shapes"]]
            data["stuck_range_S"] = tuple(data["stuck_range_S"])
            layout = cls(**data)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DataError(f"layout.json is not a weight layout ({exc})") from None
        if targets is not None:
            layout._check_conductance(np.asarray(targets, dtype=np.float64), "targets")
            layout.target_array = np.asarray(targets, dtype=np.float64)
        return layout

    def check_model(self, model: TrainedModel) -> None:
        """Raise ``DataError`` if ``model`` is not the network this layout places."""
        shapes = [tuple(w.shape) for w in model.weights]
        if model.mode != self.mode or shapes != [tuple(s) for s in self.layer_shapes]:
            raise DataError(f"the model ({model.mode} mode, layers {shapes}) is not the one the "
                            f"layout places ({self.mode} mode, layers {self.layer_shapes})")

    def used_mask(self) -> np.ndarray:
        """True at every cell that holds a weight device or current-mode ballast."""
        mask = np.zeros((self.n_arrays, *self.array_shape), dtype=bool)
        for t in self.tiles:
            if self.weight_mode.row_shares_current:  # the whole row divides the current
                mask[t.array, t.row0:t.row0 + t.n_rows, :] = True
            else:
                t.block(mask)[...] = True
        return mask

    def _check_conductance(self, g: np.ndarray, what: str = "conductance") -> None:
        expected = (self.n_arrays, *self.array_shape)
        if g.shape != expected:
            raise DataError(f"{what} has shape {g.shape}, the layout expects {expected}")
        missing = self.used_mask() & ~np.isfinite(g)
        if missing.any():
            a, r, c = (int(v[0]) for v in np.nonzero(missing))
            raise DataError(f"{what}: {int(missing.sum())} used cell(s) hold no finite value "
                            f"(first: array {a}, cell ({r}, {c}))")


def plan_layout(model: TrainedModel, array_shape: tuple[int, int], g_lo: float, g_hi: float,
                common_mode: float = 1.0, rescale: bool = False,
                stuck_range: tuple[float, float] | None = None) -> Layout:
    """Place ``model`` on arrays of ``array_shape`` with targets in [g_lo, g_hi] S.

    Current mode: ``common_mode`` in [0, 1] picks each row's common mode, from the smallest
    row total S_i (0: idle devices at g_lo) to the largest (1, the default; ``[weights]
    common_mode`` in a run configuration). A device that misses its target or is stuck shifts
    every weight of its row by its share of S_i, so the largest S_i is the most forgiving. Small
    devices do not help one-shot programming: near g_lo the additive switching noise, the
    spread of each device's G_min and stuck devices outweigh the smaller multiplicative error.
    bench/bench_weights.py measures it: averaged over array seeds, one-shot accuracy is highest
    at 1 for both planners (for a noise-aware network, within a point of the best on every
    seed), and write-verify is flat from 0.25 to 1, so 1 suits every protocol. A row beyond the
    bound raises ``DataError`` unless ``rescale``.
    """
    rows, cols = (int(n) for n in array_shape)
    if rows < 1 or cols < 2:
        raise DataError(f"array shape {array_shape}: a weight needs at least 1 row and 2 columns")
    cm.check_window(g_lo, g_hi)
    shapes = [tuple(w.shape) for w in model.weights]
    tiles, n_arrays = _place(shapes, rows, cols)
    scales = [model.weight_mode.layer_scale(w, g_lo, g_hi) for w in model.weights]
    layout = Layout(model.mode, (rows, cols), shapes, tiles, n_arrays, float(g_lo), float(g_hi),
                    scales, tuple(stuck_range or device_range()), common_mode)
    targets = np.full((n_arrays, rows, cols), np.nan)
    for t in tiles:
        w = model.weights[t.layer][t.in_start:t.in_stop, t.out_start:t.out_stop]
        _fill_tile(layout, t, w, targets, rescale)
    layout.target_array = targets
    return layout


def _fill_tile(layout: Layout, t: Tile, w: np.ndarray, targets: np.ndarray,
               rescale: bool) -> None:
    mode, ballast = layout.weight_mode, 0.0
    if mode.row_shares_current:
        row_cells = targets[t.array, t.row0:t.row0 + t.n_rows]
        row_cells[...] = layout.g_lo  # ballast; the tile's own cells are overwritten below
        ballast = layout.g_lo * (layout.array_shape[1] - t.n_cols)
    try:
        g_plus, g_minus, factor = mode.conductances(
            w, layout.g_lo, layout.g_hi, scale=layout.scales[t.layer], ballast=ballast,
            common_mode=layout.common_mode, rescale=rescale)
    except DataError as exc:
        raise DataError(f"layer {t.layer} (array {t.array}): {exc}") from None
    layout.rescaled_rows += [
        {"layer": t.layer, "array": t.array, "row": int(t.row0 + i), "factor": float(f)}
        for i, f in enumerate(factor) if f < 1.0]
    block = t.block(targets)
    block[:, 0::2], block[:, 1::2] = g_plus, g_minus


def _place(shapes: list[tuple[int, int]], rows: int, cols: int) -> tuple[list[Tile], int]:
    """Cut layers into tiles and pack them as staircases (first fit) on as few arrays as needed."""
    tiles: list[Tile] = []
    corners: list[tuple[int, int]] = []  # per array: next free (row, col) of its staircase
    per_tile_outputs = cols // 2
    for layer, (n_in, n_out) in enumerate(shapes):
        for i0 in range(0, n_in, rows):
            for j0 in range(0, n_out, per_tile_outputs):
                i1, j1 = min(i0 + rows, n_in), min(j0 + per_tile_outputs, n_out)
                height, width = i1 - i0, 2 * (j1 - j0)
                array = next((a for a, (r, c) in enumerate(corners)
                              if r + height <= rows and c + width <= cols), len(corners))
                if array == len(corners):
                    corners.append((0, 0))
                r, c = corners[array]
                tiles.append(Tile(layer, array, r, c, i0, i1, j0, j1))
                corners[array] = (r + height, c + width)
    return tiles, len(corners)
