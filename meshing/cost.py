"""What a mesh extraction will cost, estimated before it starts, and the memory it may use.

The estimate is deliberately rough and on the high side: it exists so that a resolution that
cannot fit (``resolution=100000`` asks for 10^15 grid points) is refused in milliseconds with
numbers, instead of growing until the machine swaps. Facts it rests on:

- a surface spanning the box crosses about ``area / h^2`` cells times ~1.5 (cells cut at a
  slant); a sphere filling the box has area pi times a face's, so ``SURFACE_CELLS_PER_N2 = 10``
  surface cells per ``N^2`` (``N`` the largest resolution) leaves room for wrinkled shapes;
- the sparse path evaluates the 27 points of every kept cell of 2 grid cells (8 grid cells),
  shared with neighbours: about 4 points per surface cell, taken as 8 here;
- marching cubes yields about one vertex and two faces per surface cell; with the block
  temporaries and the vertex naming keys (int64) that is well under ``BYTES_PER_SURFACE_CELL``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

SURFACE_CELLS_PER_N2 = 10.0
SPARSE_POINTS_PER_SURFACE_CELL = 8.0
BYTES_PER_SURFACE_CELL = 200.0
BYTES_PER_STORED_POINT = 64.0  # int64 key + float32 value, and the sort/merge temporaries
DENSE_SLAB_COPIES = 16.0  # the float32 slab plus marching cubes' masks and weights over it
CPU_FLOPS = 2e10  # float32 matmul rate of a few CPU cores (DESIGN.md: 25-30 GFLOP/s here)
CALLABLE_POINTS_PER_S = 1e7  # a numpy expression such as an analytic SDF


@dataclass(frozen=True)
class MeshCost:
    """Estimated cost of one :func:`~sirenpde.meshing.extract_mesh` call.

    Attributes
    ----------
    evaluations : int
        SDF points the extraction will evaluate (all grid points for ``"dense"``).
    peak_bytes : int
        Peak memory of the extraction itself (grid values, marching cubes, the mesh).
    seconds : float
        Rough time for the evaluations at ``points_per_s``.
    points_per_s : float
        The evaluation rate assumed.
    """

    evaluations: int
    peak_bytes: int
    seconds: float
    points_per_s: float

    def describe(self) -> str:
        return (f"about {self.evaluations:.3g} sdf evaluations and {_bytes(self.peak_bytes)} of memory, "
                f"roughly {_duration(self.seconds)} at {self.points_per_s:.3g} points/s")


def estimate_cost(resolution, method: str = "sparse", chunk_size: int = 64, batch_size: int = 16384,
                  sdf=None, points_per_s: float | None = None) -> MeshCost:
    """Estimate evaluations, peak memory and time of meshing at ``resolution``.

    Parameters
    ----------
    resolution : int or (3,) int
        Grid points per axis, as for ``extract_mesh``.
    method : {"sparse", "dense"}
    chunk_size : int
        Cells per block edge.
    batch_size : int
        Points per sdf call; a network's activations for one batch count towards the peak.
    sdf : torch.nn.Module, callable or None
        Used only to guess the evaluation rate and the batch's activation memory: for a Module,
        two flops per parameter per point at ``CPU_FLOPS``.
    points_per_s : float, optional
        Evaluation rate to assume instead of the guess (e.g. measured on a GPU).

    Returns
    -------
    MeshCost
    """
    from sirenpde.meshing.grid import parse_resolution

    shape = np.array(parse_resolution(resolution), dtype=np.float64)
    n_max = float(shape.max())
    surface = SURFACE_CELLS_PER_N2 * n_max**2
    mesh_bytes = BYTES_PER_SURFACE_CELL * surface
    block = (min(chunk_size, n_max) + 1.0) ** 3 * 4.0 * DENSE_SLAB_COPIES
    if method == "dense":
        evaluations = float(np.prod(shape))
        slab = (chunk_size + 1.0) * float(np.prod(np.sort(shape)[1:])) * 4.0 * DENSE_SLAB_COPIES
        peak = slab + mesh_bytes
    else:
        evaluations = min(float(np.prod(shape)), SPARSE_POINTS_PER_SURFACE_CELL * surface)
        peak = BYTES_PER_STORED_POINT * evaluations + block + mesh_bytes
    params, width = _network_size(sdf)
    peak += batch_size * (3 * 8 + 4 * 4 * width)  # points in, and a few copies of the activations
    if points_per_s is None:
        points_per_s = CPU_FLOPS / (2.0 * params) if params else CALLABLE_POINTS_PER_S
    return MeshCost(int(evaluations), int(peak), evaluations / points_per_s, float(points_per_s))


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation: ``MemAvailable`` from /proc/meminfo on
    Linux, else free physical pages from ``os.sysconf``; None when neither is known."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass  # not Linux: fall through to sysconf
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def check_cost(cost: MeshCost, resolution, method: str, limit: int | None = None) -> None:
    """Raise :class:`MeshTooLargeError` when ``cost.peak_bytes`` exceeds ``limit`` (default: the
    memory available now). Does nothing when the limit is unknown."""
    limit = available_memory() if limit is None else limit
    if limit is not None and cost.peak_bytes > limit:
        raise MeshTooLargeError(
            f"meshing at resolution {resolution} ({method}) would need {cost.describe()}; "
            f"only {_bytes(limit)} of memory is available. Use a lower resolution"
            + (" or method='sparse'" if method == "dense" else ""))


class MeshTooLargeError(ValueError):
    """The estimated peak memory of an extraction exceeds the memory available."""


def _network_size(sdf) -> tuple[int, int]:
    """(parameter count, widest layer) of a torch Module; (0, 0) for anything else."""
    import torch

    if not isinstance(sdf, torch.nn.Module):
        return 0, 0
    params = sum(p.numel() for p in sdf.parameters())
    widths = [m.out_features for m in sdf.modules() if isinstance(m, torch.nn.Linear)]
    return int(params), int(max(widths, default=0))


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1024 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1024.0
    return f"{n:.3g} PB"


def _duration(s: float) -> str:
    if s < 120:
        return f"{s:.2g} s"
    if s < 7200:
        return f"{s / 60:.2g} min"
    if s < 2 * 86400:
        return f"{s / 3600:.2g} h"
    return f"{s / 86400:.3g} days"
