"""Marching cubes on one block of samples, with every vertex named by what it lies on.

scikit-image's ``marching_cubes`` (Lewiner et al.) runs on each block; its vertices come back
as float32 positions in block-local index units. Each vertex is then identified *exactly* with
the grid edge (or, for some ambiguous cases, the cell centre) it was computed from: the
candidate positions of every crossed edge and every cell with a sign change are recomputed
here with scikit-image's own arithmetic (weights ``1 / (eps + |v - level|)``, double precision,
rounded to float32), and matched bit for bit. A vertex's name is global (a linear grid index
and a code), and its final position is recomputed from the same two samples in global
coordinates, so two blocks sharing a plane of samples produce the same vertex with the same
coordinates, and a blockwise extraction equals a single pass.

One case cannot be named from float32 positions: a crossing within ``2**-16`` cells of a grid
point (a sample at, or within about 1e-5 relative of, the level) can round onto that point in
scikit-image's output, where several edges may land on the same spot. Such vertices are welded
onto the grid point they touch (moving them by less than ``2**-16`` cells), and faces that
collapse are dropped. The rule depends only on the sample values, never on the block layout.
For a smooth surface the welded vertices around a grid point form a disk and the mesh stays
watertight; where many adjacent samples sit exactly on the level (noise, not a surface) a
weld can leave a non-manifold edge (scikit-image's own output is not watertight there either).
Exact ties can also put the centre vertices of two neighbouring cells on one spot; those are
told apart by the cells their triangles must lie in.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.measure import marching_cubes

from sirenpde.meshing.grid import Grid, first_of_each, unique_sorted

EPS = float(np.spacing(1.0))  # scikit-image's "FLT_EPSILON" (the double epsilon)
MAX_BLOCK = 256
# twice half a float32 ulp below MAX_BLOCK: a crossing further than SNAP from both ends of its
# edge never rounds onto a grid point in block-local float32 coordinates
SNAP = 2.0 ** -16
POINT, CENTRE = 3, 4  # key codes; 0, 1, 2 are edges along that axis
CORNERS = ((0, 0, 0), (0, 0, 1), (0, 1, 1), (0, 1, 0), (1, 0, 0), (1, 0, 1), (1, 1, 1), (1, 1, 0))


@dataclass
class BlockMesh:
    """The triangles of one block, with vertices named by global keys.

    keys : (v,) int64, sorted, ``linear_index * 5 + code``
    positions : (v, 3) float64 vertex positions in global grid-index units
    faces : (f, 3) int64 triangles given by vertex keys
    ambiguous : int, vertices whose name was not unique (expected 0)
    """

    keys: np.ndarray
    positions: np.ndarray
    faces: np.ndarray
    ambiguous: int = 0


def classify(values: np.ndarray, level: float) -> np.ndarray:
    """True where a sample lies above the level, compared in double precision as scikit-image does."""
    return values.astype(np.float64) - level > 0


def mesh_block(values: np.ndarray, origin, grid: Grid, level: float) -> BlockMesh | None:
    """Run marching cubes on one block and name its vertices.

    values : (n0, n1, n2) float32 samples, n_i >= 2
    origin : (3,) int, global grid index of ``values[0, 0, 0]``
    Returns None when the level is not crossed inside the block.
    """
    vol = np.ascontiguousarray(values, dtype=np.float32)
    if max(vol.shape) > MAX_BLOCK + 1:
        raise ValueError(f"blocks are limited to {MAX_BLOCK} cells per axis; got shape {vol.shape}")
    d = vol.astype(np.float64) - level
    above = d > 0
    if above.all() or not above.any():
        return None
    # 'descent' gives outward faces for a function that is negative inside (checked in the tests)
    verts, faces, _, _ = marching_cubes(vol, level, gradient_direction="descent", method="lewiner")
    origin = np.asarray(origin, dtype=np.int64)
    weight = 1.0 / (EPS + np.abs(d))
    parts = [_edge_candidates(above, weight, axis, origin, grid) for axis in range(3)]
    parts.append(_centre_candidates(above, weight, origin, grid))
    keys = np.concatenate([p[0] for p in parts])
    pred = np.concatenate([p[1] for p in parts])
    pos = np.concatenate([p[2] for p in parts])
    vkeys, shared = _match(verts, pred, keys, origin)
    ambiguous = _resolve(vkeys, shared, faces, grid) if shared else 0
    fk = vkeys[faces]
    fk = fk[(fk[:, 0] != fk[:, 1]) & (fk[:, 1] != fk[:, 2]) & (fk[:, 0] != fk[:, 2])]
    if len(fk) == 0:
        return None
    known, first = first_of_each(keys)
    used = unique_sorted(fk)
    return BlockMesh(used, pos[first[np.searchsorted(known, used)]], fk, ambiguous)


def _edge_candidates(above, weight, axis, origin, grid):
    lo, hi = [slice(None)] * 3, [slice(None)] * 3
    lo[axis], hi[axis] = slice(0, -1), slice(1, None)
    lo, hi = tuple(lo), tuple(hi)
    crossed = above[lo] != above[hi]
    idx = np.argwhere(crossed)
    w_lo, w_hi = weight[lo][crossed], weight[hi][crossed]
    t = w_hi / (w_lo + w_hi)  # scikit-image: x + w_hi / (w_lo + w_hi), in double
    pred = idx.astype(np.float32)
    pred[:, axis] = (idx[:, axis] + t).astype(np.float32)
    g = idx + origin
    keys = grid.lin(g) * 5 + axis
    pos = g.astype(np.float64)
    pos[:, axis] += t
    near_lo, near_hi = t < SNAP, t > 1.0 - SNAP
    keys[near_lo] = grid.lin(g[near_lo]) * 5 + POINT
    pos[near_lo] = g[near_lo]
    g_hi = g[near_hi]
    g_hi[:, axis] += 1
    keys[near_hi] = grid.lin(g_hi) * 5 + POINT
    pos[near_hi] = g_hi
    return keys, pred, pos


def corner_view(arr, offset):
    """The ``(n0 - 1, n1 - 1, n2 - 1)`` view of ``arr`` at one cell corner ``offset`` (one of ``CORNERS``)."""
    n0, n1, n2 = arr.shape
    return arr[offset[0]:n0 - 1 + offset[0], offset[1]:n1 - 1 + offset[1], offset[2]:n2 - 1 + offset[2]]


def _centre_candidates(above, weight, origin, grid):
    views = [corner_view(above, c) for c in CORNERS]
    any_above, all_above = np.logical_or.reduce(views), np.logical_and.reduce(views)
    mixed = any_above & ~all_above
    idx = np.argwhere(mixed)
    w = [corner_view(weight, c)[mixed] for c in CORNERS]
    # the same sums, in the same order, as scikit-image's calculate_center_vertex
    f2 = ((w[1] + w[2]) + w[5]) + w[6]
    f1 = ((w[2] + w[3]) + w[6]) + w[7]
    f0 = ((w[4] + w[5]) + w[6]) + w[7]
    ff = w[0]
    for k in range(1, 8):
        ff = ff + w[k]
    frac = np.stack([f0 / ff, f1 / ff, f2 / ff], axis=1)
    pred = (idx + frac).astype(np.float32)
    g = idx + origin
    keys = grid.lin(g) * 5 + CENTRE
    pos = g + frac
    snapped = np.all((frac < SNAP) | (frac > 1.0 - SNAP), axis=1)
    corner = g[snapped] + (frac[snapped] > 0.5)
    keys[snapped] = grid.lin(corner) * 5 + POINT
    pos[snapped] = corner
    return keys, pred, pos


def _match(verts, pred, keys, origin):
    """Name each scikit-image vertex by the candidate with bit-identical float32 position.

    Returns the keys (v,) and, for the rare vertices whose position several candidates share
    (exact ties can put two cell centres on one spot), a dict vertex -> candidate keys.
    """
    n = len(verts)
    rows = np.ascontiguousarray(np.concatenate([np.asarray(verts, dtype=np.float32), pred]))
    _, inv = np.unique(rows.view(np.dtype((np.void, 12))).ravel(), return_inverse=True)
    inv = inv.ravel()
    groups = int(inv.max()) + 1
    lowest = np.full(groups, np.iinfo(np.int64).max, dtype=np.int64)
    highest = np.full(groups, -1, dtype=np.int64)
    np.minimum.at(lowest, inv[n:], keys)
    np.maximum.at(highest, inv[n:], keys)
    vkeys = lowest[inv[:n]]
    lost = highest[inv[:n]] < 0
    if lost.any():
        first = verts[int(np.argmax(lost))]
        raise RuntimeError(
            f"{int(lost.sum())} marching-cubes vertices match no grid edge or cell (first at local "
            f"position {first.tolist()} in the block at {origin.tolist()}); this scikit-image version "
            "computes vertex positions differently from the one sirenpde.meshing was written for"
        )
    shared = np.nonzero(lowest[inv[:n]] != highest[inv[:n]])[0]
    return vkeys, {int(v): unique_sorted(keys[inv[n:] == inv[v]]) for v in shared}


def _cells_of(key: int, grid: Grid) -> set:
    """Grid cells (index triples) that contain the vertex named ``key``."""
    point = grid.unravel(np.array([key // 5]))[0]
    code = key % 5
    if code == CENTRE:
        return {tuple(point)}
    free = [a for a in range(3) if a != code] if code < POINT else [0, 1, 2]
    cells = set()
    for step in np.ndindex(*(2,) * len(free)):
        cell = point.copy()
        for a, d in zip(free, step):
            cell[a] -= d
        if np.all(cell >= 0) and np.all(cell < grid.cells):
            cells.add(tuple(cell))
    return cells


def _resolve(vkeys, shared, faces, grid):
    """Pick, for each shared vertex, the candidate whose cells can hold all of its triangles.

    A triangle lies in one cell, which must contain each of its vertices; the other vertices
    of the triangles around a shared vertex rule out candidates in the wrong cell.
    Returns the number of vertices left ambiguous (named by their smallest candidate).
    """
    unresolved = 0
    for v, candidates in shared.items():
        around = []
        for face in faces[(faces == v).any(axis=1)]:
            others = [_cells_of(int(vkeys[u]), grid) for u in face if u != v and u not in shared]
            if others:
                around.append(set.intersection(*others))
        fits = [k for k in candidates.tolist() if all(_cells_of(k, grid) & cells for cells in around)]
        vkeys[v] = min(fits) if fits else int(candidates.min())
        unresolved += len(fits) != 1
    return unresolved


class MeshParts:
    """Block meshes by block id; :meth:`assemble` merges them by vertex key."""

    def __init__(self):
        self.parts: dict[int, BlockMesh] = {}

    def set(self, block: int, part: BlockMesh | None) -> None:
        if part is None:
            self.parts.pop(block, None)
        else:
            self.parts[block] = part

    def assemble(self, grid: Grid) -> tuple[np.ndarray, np.ndarray, dict]:
        """-> vertices (v, 3) float64 in the grid's coordinates, faces (f, 3) int64, stats.

        Vertices are ordered by key and faces sorted (each rotated to start at its smallest
        index, which keeps its orientation), so the result does not depend on block order.
        """
        if not self.parts:
            return np.empty((0, 3)), np.empty((0, 3), dtype=np.int64), {"ambiguous_vertices": 0}
        parts = [self.parts[b] for b in sorted(self.parts)]
        keys = np.concatenate([p.keys for p in parts])
        pos = np.concatenate([p.positions for p in parts])
        uniq, first = first_of_each(keys)
        faces = np.searchsorted(uniq, np.concatenate([p.faces for p in parts]))
        rot = np.argmin(faces, axis=1)
        rows = np.arange(len(faces))
        faces = np.stack([faces[rows, rot], faces[rows, (rot + 1) % 3], faces[rows, (rot + 2) % 3]], axis=1)
        faces = faces[np.lexsort((faces[:, 2], faces[:, 1], faces[:, 0]))]
        stats = {
            "ambiguous_vertices": int(sum(p.ambiguous for p in parts)),
            "welded_vertices": int(np.count_nonzero(uniq % 5 == POINT)),
        }
        return grid.points(pos[first]), faces, stats
