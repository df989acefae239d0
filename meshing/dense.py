"""Dense extraction: every grid point evaluated, slab by slab, meshed block by block."""
from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from sirenpde.meshing.grid import Grid, SdfEvaluator
from sirenpde.meshing.marching import MeshParts, mesh_block


def block_counts(grid: Grid, chunk: int) -> np.ndarray:
    """(3,) int: blocks per axis for blocks of ``chunk`` cells."""
    return -(-grid.cells // chunk)


def extract_dense(grid: Grid, evaluate: SdfEvaluator, level: float, chunk: int, parts: MeshParts,
                  progress: bool) -> dict:
    """Evaluate the grid in slabs of ``chunk`` cells along axis 0 and mesh each block of the slab.

    Consecutive slabs share one plane of samples, which is carried over rather than evaluated
    twice, so the sdf sees each grid point exactly once. Memory: one slab,
    ``(chunk + 1) * n1 * n2`` float32, plus the mesh.
    """
    cells = grid.cells
    nb = block_counts(grid, chunk)
    n1, n2 = grid.shape[1], grid.shape[2]
    plane = n1 * n2
    carry = None
    meshed = 0
    with tqdm(total=int(np.prod(nb)), desc="mesh (dense)", unit="block", disable=not progress) as bar:
        for b0 in range(nb[0]):
            i0 = b0 * chunk
            i1 = min(i0 + chunk, cells[0])
            slab = np.empty((i1 - i0 + 1, n1, n2), dtype=np.float32)
            first = 0
            if carry is not None:
                slab[0] = carry
                first = 1
            evaluate.evaluate_range((i0 + first) * plane, (i1 + 1) * plane, slab[first:])
            carry = slab[-1].copy()
            for b1 in range(nb[1]):
                j0 = b1 * chunk
                j1 = min(j0 + chunk, cells[1])
                for b2 in range(nb[2]):
                    k0 = b2 * chunk
                    k1 = min(k0 + chunk, cells[2])
                    part = mesh_block(slab[:, j0:j1 + 1, k0:k1 + 1], (i0, j0, k0), grid, level)
                    parts.set(int((b0 * nb[1] + b1) * nb[2] + b2), part)
                    meshed += part is not None
                    bar.update()
    return {"blocks_meshed": meshed, "blocks": int(np.prod(nb))}
