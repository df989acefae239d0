"""Sparse extraction: evaluate near the surface only, then mesh exactly as the dense path does.

1. Coarse to fine. Cells of ``s = 2**L`` grid cells are sampled once, at a grid point ``p`` near
   their centre. A cell can hold the surface only if ``|f(p) - level| <= safety * R``, where ``R``
   is the distance from ``p`` to the cell's farthest corner; for a function whose Lipschitz
   constant is at most ``safety`` this test never discards a cell that the surface crosses.
   Kept cells split into their (up to) 8 children, down to cells of 2 grid cells, whose 27 grid
   points are then all evaluated.
2. Closure. Each block of ``chunk`` cells that holds evaluated points is assembled from the
   evaluated samples; unevaluated points take the value of the nearest evaluated one (they lie
   in cells with no sign change, so only their side of the level matters). A cell that has a
   sign change and an unevaluated corner gets its corners evaluated and its blocks are
   revisited. This follows the surface out of any cell where the test above was too tight, so
   a surface component that is found at all is found completely.
3. Each block with a sign change is meshed by :func:`~sirenpde.meshing.marching.mesh_block`,
   which sees the same values in every cell that has a sign change as the dense path does,
   and so returns the same triangles.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from tqdm.auto import tqdm

from sirenpde.meshing.dense import block_counts
from sirenpde.meshing.grid import Grid, SdfEvaluator, unique_sorted
from sirenpde.meshing.marching import CORNERS, MeshParts, classify, corner_view, mesh_block

_OFFSETS8 = np.array(CORNERS, dtype=np.int64)
_OFFSETS27 = np.stack(np.meshgrid(*[np.arange(3)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
_CELL_CHUNK = 1 << 17  # cells expanded at once, to bound temporary memory


class PointStore:
    """Evaluated grid points: sorted linear indices with their float32 values."""

    def __init__(self, evaluate: SdfEvaluator):
        self.evaluate = evaluate
        self.keys = np.empty(0, dtype=np.int64)
        self.values = np.empty(0, dtype=np.float32)

    def lookup(self, lin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """lin : (n,) int64 -> values (n,) float32 (0 where unknown), found (n,) bool."""
        if len(self.keys) == 0:
            return np.zeros(len(lin), dtype=np.float32), np.zeros(len(lin), dtype=bool)
        pos = np.minimum(np.searchsorted(self.keys, lin), len(self.keys) - 1)
        found = self.keys[pos] == lin
        return np.where(found, self.values[pos], np.float32(0)), found

    def ensure(self, lin: np.ndarray) -> np.ndarray:
        """Evaluate whichever of ``lin`` are not stored yet; returns those (sorted, unique)."""
        lin = unique_sorted(lin)
        new = lin[~self.lookup(lin)[1]]
        if len(new):
            values = self.evaluate(new)
            at = np.searchsorted(self.keys, new)
            self.keys = np.insert(self.keys, at, new)
            self.values = np.insert(self.values, at, values)
        return new

    def get(self, lin: np.ndarray) -> np.ndarray:
        """Values of points that must already be stored (evaluating any that are not)."""
        self.ensure(lin)
        return self.lookup(lin)[0]


def coarsest_level(grid: Grid) -> int:
    """Start with roughly 4 to 8 cells along the longest axis (at least cells of 2)."""
    return max(1, int(np.floor(np.log2(grid.cells.max()))) - 2)


def refine(grid: Grid, store: PointStore, level: float, safety: float, bar) -> np.ndarray:
    """Coarse-to-fine search; returns the kept cells of size 2 as (m, 3) int64 cell indices."""
    cells_max = grid.cells
    top = coarsest_level(grid)
    s = 2 ** top
    axes = [np.arange(-(-c // s)) for c in cells_max]
    cells = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    for L in range(top, 0, -1):
        s = 2 ** L
        start = cells * s
        end = np.minimum(start + s, cells_max)
        p = start + (end - start) // 2
        f = store.get(grid.lin(p)).astype(np.float64)
        reach = np.maximum(p - start, end - p) * grid.spacing
        keep = np.abs(f - level) <= safety * np.sqrt((reach ** 2).sum(axis=1))
        cells = cells[keep]
        bar.update()
        if L == 1:
            break
        kids = (cells[:, None, :] * 2 + _OFFSETS8[None]).reshape(-1, 3)
        cells = kids[np.all(kids * (s // 2) < cells_max, axis=1)]
    return cells


def seed_points(grid: Grid, cells2: np.ndarray) -> np.ndarray:
    """All grid points of the given size-2 cells (27 each, clipped to the grid) -> unique lin."""
    out = []
    for i in range(0, len(cells2), _CELL_CHUNK):
        pts = (cells2[i:i + _CELL_CHUNK, None, :] * 2 + _OFFSETS27[None]).reshape(-1, 3)
        out.append(unique_sorted(grid.lin(pts[np.all(pts <= grid.cells, axis=1)])))
    return unique_sorted(np.concatenate(out)) if out else np.empty(0, dtype=np.int64)


def blocks_of_points(grid: Grid, lin: np.ndarray, chunk: int, nb: np.ndarray) -> np.ndarray:
    """Linear ids of every block whose samples include one of the points (shared planes count twice)."""
    found = []
    for i in range(0, len(lin), _CELL_CHUNK * 8):
        idx = grid.unravel(lin[i:i + _CELL_CHUNK * 8])
        main = np.minimum(idx // chunk, nb - 1)
        # a point on a plane shared by two blocks belongs to both
        alt = np.where((idx % chunk == 0) & (idx > 0), idx // chunk - 1, main)
        for o in _OFFSETS8:
            b = np.where(o == 1, alt, main)
            found.append(unique_sorted((b[:, 0] * nb[1] + b[:, 1]) * nb[2] + b[:, 2]))
    return unique_sorted(np.concatenate(found)) if found else np.empty(0, dtype=np.int64)


def gather_block(grid: Grid, store: PointStore, b: int, chunk: int, nb: np.ndarray):
    """-> origin (3,), values (n0, n1, n2) float32, found (n0, n1, n2) bool for block ``b``."""
    bidx = np.array([b // (nb[1] * nb[2]), (b // nb[2]) % nb[1], b % nb[2]], dtype=np.int64)
    origin = bidx * chunk
    stop = np.minimum(origin + chunk, grid.cells)
    axes = [np.arange(origin[a], stop[a] + 1) for a in range(3)]
    lin = ((axes[0][:, None, None] * grid.shape[1] + axes[1][None, :, None]) * grid.shape[2]
           + axes[2][None, None, :])
    values, found = store.lookup(lin.ravel())
    shape = lin.shape
    return origin, values.reshape(shape), found.reshape(shape)


def fill_unknown(values: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Give each unevaluated point the value of its nearest evaluated point."""
    if found.all():
        return values
    nearest = ndimage.distance_transform_edt(~found, return_distances=False, return_indices=True)
    return values[tuple(nearest)]


def open_cells(values: np.ndarray, found: np.ndarray, level: float) -> np.ndarray:
    """(k, 3) local indices of cells with a sign change and at least one unevaluated corner."""
    above = classify(values, level)
    va = [corner_view(above, c) for c in CORNERS]
    complete = np.logical_and.reduce([corner_view(found, c) for c in CORNERS])
    mixed = np.logical_or.reduce(va) & ~np.logical_and.reduce(va)
    return np.argwhere(mixed & ~complete)


def extract_sparse(grid: Grid, evaluate: SdfEvaluator, level: float, chunk: int, safety: float,
                   parts: MeshParts, progress: bool) -> dict:
    """Coarse-to-fine evaluation, closure and blockwise meshing (see the module docstring)."""
    store = PointStore(evaluate)
    nb = block_counts(grid, chunk)
    with tqdm(total=coarsest_level(grid), desc="refine (sparse)", unit="level", disable=not progress) as bar:
        cells2 = refine(grid, store, level, safety, bar)
    seeds = seed_points(grid, cells2)
    store.ensure(seeds)
    todo = blocks_of_points(grid, seeds, chunk, nb)
    rounds = 0
    while len(todo):
        rounds += 1
        missing = []
        desc = "mesh (sparse)" if rounds == 1 else f"mesh (sparse, closure {rounds - 1})"
        for b in tqdm(todo.tolist(), desc=desc, unit="block", disable=not progress):
            origin, values, found = gather_block(grid, store, b, chunk, nb)
            if not found.any():
                parts.set(b, None)
                continue
            values = fill_unknown(values, found)
            gaps = open_cells(values, found, level)
            if len(gaps):
                corners = (gaps[:, None, :] + origin + _OFFSETS8[None]).reshape(-1, 3)
                missing.append(grid.lin(corners))
                parts.set(b, None)
                continue
            parts.set(b, mesh_block(values, origin, grid, level))
        new = store.ensure(np.concatenate(missing)) if missing else np.empty(0, dtype=np.int64)
        todo = blocks_of_points(grid, new, chunk, nb)
    return {
        "blocks_meshed": len(parts.parts),
        "blocks": int(np.prod(nb)),
        "closure_rounds": rounds - 1 if rounds else 0,
        "cells_kept": int(len(cells2)),
    }
