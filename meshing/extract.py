"""The front door: :func:`extract_mesh` turns an SDF into a watertight ``trimesh.Trimesh``."""
from __future__ import annotations

import numbers
import sys
import time

import numpy as np
import trimesh

from sirenpde.meshing.cost import check_cost, estimate_cost
from sirenpde.meshing.dense import extract_dense
from sirenpde.meshing.distributed import DistributedSdfEvaluator
from sirenpde.meshing.distributed import active as distributed_active
from sirenpde.meshing.export import remove_small_components
from sirenpde.meshing.grid import Grid, SdfEvaluator, parse_bounds, parse_resolution, prepared_sdf
from sirenpde.meshing.marching import MAX_BLOCK, MeshParts
from sirenpde.meshing.sparse import extract_sparse

METHODS = {"dense": extract_dense, "sparse": extract_sparse}


class NoSurfaceError(ValueError):
    """The field never crosses the level inside the bounds, so there is no mesh."""


def extract_mesh(sdf, bounds, resolution, level: float = 0.0, method: str = "sparse", chunk_size: int = 64,
                 device="auto", progress: bool = True, transform=None, safety: float = 2.0, cleanup=None,
                 *, batch_size: int = 16384, input_type: str = "auto",
                 memory_limit: int | None = None) -> trimesh.Trimesh:
    """Mesh the level set ``sdf(x) = level`` inside ``bounds`` with marching cubes.

    Parameters
    ----------
    sdf : torch.nn.Module or callable
        Maps points ``(n, 3)`` to values ``(n,)`` or ``(n, 1)``, negative inside. Which array it
        receives is set by ``input_type``: with ``"auto"``, a ``torch.nn.Module`` gets a torch
        tensor (dtype of its parameters, float32 if none) on ``device``, is called under
        ``torch.no_grad()`` in eval mode (its mode and device are restored afterwards), and any
        other callable gets a float64 numpy array. It may return numpy or torch.
        Every call gets exactly ``batch_size`` points.
    bounds : ((xmin, ymin, zmin), (xmax, ymax, zmax)) or (2, 3) array
        The box sampled, in the sdf's own coordinates; it must have positive volume.
    resolution : int or (3,) int
        Grid points per axis, each >= 2 (so ``resolution - 1`` cells, points on both faces).
    level : float
        Iso-value to extract.
    method : {"sparse", "dense"}
        ``"dense"`` evaluates every grid point. ``"sparse"`` evaluates a coarse grid and refines
        only cells that can hold the surface; it returns the same mesh as ``"dense"`` whenever
        the sdf's Lipschitz constant is at most ``safety`` (see :mod:`sirenpde.meshing.sparse`).
    chunk_size : int
        Cells per block edge (1 to 256). Blocks share one plane of samples; the result does not
        depend on the block size. Dense memory is one slab, ``(chunk_size + 1) * n1 * n2`` floats.
    device : "auto", str or torch.device
        Where a Module runs: ``"auto"`` keeps its parameters' device (cuda if available when it
        has none); anything else moves it there for the call.
    progress : bool
        Show tqdm progress bars over blocks.
    transform : None, (4, 4) array or object with ``.matrix``
        Affine map from the sdf's coordinates to the caller's, applied to the vertices. With
        ``None``, ``sdf.normalization.matrix`` is used when the sdf has one. A negative
        determinant flips the faces so they stay outward.
    safety : float
        Factor on the half-diagonal in the sparse refinement test (> 0).
    cleanup : None, "largest" or float
        Passed to :func:`remove_small_components` after extraction.
    batch_size : int
        Points per sdf call.
    input_type : {"auto", "torch", "numpy"}
        Array type passed to the sdf (see ``sdf``).
    memory_limit : int, optional
        Bytes the extraction may use; default the memory available now (``MemAvailable``).
        The peak is estimated before anything is evaluated (:func:`estimate_cost`) and a run
        over the limit is refused; with ``progress`` a large run prints its estimate first.

    Returns
    -------
    trimesh.Trimesh
        Outward-oriented triangles, vertices in the caller's coordinates. ``mesh.metadata``
        holds ``evaluations`` (sdf points evaluated), ``wall_time`` (s), ``dense_points``,
        ``method``, ``resolution``, ``bounds``, ``level`` and block statistics.

    Raises
    ------
    ValueError
        For bad arguments, an sdf returning the wrong shape or non-finite values, or a level
        that is never crossed (the message gives the range of values seen).
    MeshTooLargeError
        A ``ValueError``: the estimated peak memory exceeds ``memory_limit``; the message
        gives the estimate and the limit.
    """
    t0 = time.perf_counter()
    lo, hi = parse_bounds(bounds)
    shape = parse_resolution(resolution)
    level = _check_number(level, "level")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {sorted(METHODS)}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, numbers.Integral) \
            or not 1 <= chunk_size <= MAX_BLOCK:
        raise ValueError(f"chunk_size must be an int from 1 to {MAX_BLOCK} (cells per block); "
                         f"got {chunk_size!r}")
    safety = _check_number(safety, "safety")
    if safety <= 0:
        raise ValueError(f"safety must be > 0; got {safety}")
    _check_cleanup(cleanup)
    matrix = resolve_transform(sdf if transform is None else transform, from_sdf=transform is None)
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")
    cost = estimate_cost(shape, method, int(chunk_size), int(batch_size), sdf)
    check_cost(cost, shape, method, memory_limit)
    if progress and (cost.peak_bytes > 2**30 or cost.seconds > 60):
        print(f"meshing at {shape} ({method}): {cost.describe()}", file=sys.stderr)

    grid = Grid(lo, hi, shape)
    parts = MeshParts()
    with prepared_sdf(sdf, device, input_type) as (fn, kind, dev, dtype):
        # under torchrun the evaluations are shared out over the ranks (meshing/distributed.py)
        evaluator = (DistributedSdfEvaluator if distributed_active() else SdfEvaluator)(
            fn, kind, dev, dtype, grid, batch_size)
        if method == "dense":
            stats = extract_dense(grid, evaluator, level, int(chunk_size), parts, progress)
        else:
            stats = extract_sparse(grid, evaluator, level, int(chunk_size), safety, parts, progress)
    vertices, faces, mstats = parts.assemble(grid)
    if len(faces) == 0:
        seen = (f"sdf values seen ranged from {evaluator.vmin:.6g} to {evaluator.vmax:.6g}"
                if evaluator.evaluations else "no values were seen")
        hint = " (sparse search: try method='dense' or a larger safety)" if method == "sparse" else ""
        raise NoSurfaceError(
            f"level {level} was never crossed: {seen} over {evaluator.evaluations} evaluated points "
            f"of a {shape} grid{hint}; no mesh to return"
        )
    vertices, faces = apply_transform(vertices, faces, matrix)
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False)
    if cleanup is not None:
        mesh = remove_small_components(mesh, cleanup)
    mesh.metadata.update(stats)
    mesh.metadata.update(mstats)
    mesh.metadata.update({
        "evaluations": int(evaluator.evaluations),
        "dense_points": int(np.prod(shape)),
        "wall_time": time.perf_counter() - t0,
        "method": method,
        "resolution": shape,
        "bounds": (tuple(lo.tolist()), tuple(hi.tolist())),
        "level": level,
        "sdf_range": (evaluator.vmin, evaluator.vmax),
        "estimated_evaluations": cost.evaluations,
        "estimated_peak_bytes": cost.peak_bytes,
    })
    return mesh


def _check_number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    return float(value)


def _check_cleanup(cleanup) -> None:
    if cleanup is None or cleanup == "largest":
        return
    if isinstance(cleanup, bool) or not isinstance(cleanup, numbers.Real) or not 0 < cleanup <= 1:
        raise ValueError(f"cleanup must be None, 'largest' or a face fraction in (0, 1]; got {cleanup!r}")


def resolve_transform(source, from_sdf: bool = False) -> np.ndarray | None:
    """A (4, 4) affine from a matrix or an object with ``.matrix``; None for identity.

    With ``from_sdf``, ``source`` is the sdf and its ``normalization.matrix`` is used if present.
    """
    if from_sdf:
        source = getattr(getattr(source, "normalization", None), "matrix", None)
        if source is None:
            return None
    elif hasattr(source, "matrix"):
        source = source.matrix
    if hasattr(source, "detach"):
        source = source.detach().cpu().numpy()
    m = np.asarray(source, dtype=np.float64)
    if m.shape != (4, 4) or not np.all(np.isfinite(m)):
        raise ValueError(f"transform must be a finite 4x4 affine matrix; got shape {m.shape}")
    if not np.allclose(m[3], [0.0, 0.0, 0.0, 1.0]):
        raise ValueError(f"transform must be affine (last row 0, 0, 0, 1); got last row {m[3].tolist()}")
    if abs(np.linalg.det(m[:3, :3])) < 1e-300:
        raise ValueError("transform is singular (its 3x3 part has zero determinant)")
    return m


def apply_transform(vertices: np.ndarray, faces: np.ndarray, matrix: np.ndarray | None):
    """vertices (v, 3), faces (f, 3) -> mapped vertices, faces flipped if the map mirrors."""
    if matrix is None:
        return vertices, faces
    vertices = vertices @ matrix[:3, :3].T + matrix[:3, 3]
    if np.linalg.det(matrix[:3, :3]) < 0:
        faces = faces[:, [0, 2, 1]]
    return vertices, faces
