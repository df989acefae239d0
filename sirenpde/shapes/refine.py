"""Detail where the data is: move a fitted mesh's vertices onto the point cloud's local surface.

A SIREN fitted in a few hundred steps is smoother than a clean, dense scan: its zero level cuts the
corners of fine detail by a fraction of the point spacing. After meshing, each vertex is projected
onto the surface the nearby points and their normals describe, a moving-least-squares estimate
(the implicit MLS of Kolluri 2005 and Öztireli et al. 2009): with Gaussian weights ``w_i`` over
the ``k`` nearest points, the signed distance of vertex ``v`` to the data's surface is

    d(v) = sum_i w_i (v - p_i) . n_i / sum_i w_i

and the vertex moves by ``-d(v) n(v)`` along the weighted mean normal, a few times. Each vertex
moves at most ``limit`` times the local point spacing in all (so a gap in the data is never bridged
by vertices pulled across it), and a vertex farther than ``reach`` spacings from every point stays
where the network put it (no data there to follow).

Two settings (``MODES``), chosen by :func:`~sirenpde.shapes.recipe.choose_recipe` from the cloud:

- ``detail`` (narrow weights over 8 points, two steps) where the data is the surface, a dense and
  clean cloud: the vertices move onto it and the detail the network smoothed away comes back. On a
  noisy cloud it would follow the noise, so it is never chosen there.
- ``smooth`` (wide weights, 1.5 spacings over 24 points, one step) on a dense noisy cloud: the
  weighted plane averages the scatter of some twenty points, a surface closer to the truth than the
  network's in a few hundred steps. On a sparse cloud 24 points span too much of the shape (the
  projection shrinks it), so it is not chosen there either.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

# ``detail`` was chosen on the clean 50k bunny (a 4x256 fit meshed at 256^3; exact Chamfer-L1 4.2e-4 before): k 6, 8,
# 12, 20 at width 1 gave 1.8e-4, 2.0e-4, 2.3e-4, 2.5e-4; narrower weights paid: width 0.5 with k 8
# gave 1.15e-4 (0.6, k 8: 1.3e-4; 0.4, k 6: 1.06e-4 but normal consistency 0.989 against 0.990);
# two iterations and one differ by 3%. ``smooth`` on the noisy 50k bunny and fandisk: k 24, width 1.5, one
# step took the fast level's sampled Chamfer-L1 from 0.00303 / 0.00310 to 0.00275 / 0.00269 (screened
# Poisson 0.00286 / 0.00278); k 32, width 2 did as well at 4x the time, two steps worse (0.00283);
# on the noisy 5k clouds every setting made it worse (0.00335 -> 0.00443). RESULTS.md has the benchmark.
MODES = {"detail": {"k": 8, "width": 0.5, "iterations": 2}, "smooth": {"k": 24, "width": 1.5, "iterations": 1}}
NEIGHBOURS = 8
LIMIT = 1.0  # spacings a vertex may move in all
REACH = 3.0  # spacings from the nearest point beyond which a vertex is left alone
ITERATIONS = 2
WIDTH = 0.5  # the Gaussian weights' width, in spacings


def local_spacing(tree: cKDTree, points: np.ndarray, k: int = 6) -> np.ndarray:
    """Each point's mean distance to its ``k`` nearest other points."""
    dist, _ = tree.query(points, k=k + 1, workers=-1)
    return dist[:, 1:].mean(axis=1)


def project(vertices: np.ndarray, points: np.ndarray, normals: np.ndarray, *, k: int = NEIGHBOURS,
            limit: float = LIMIT, reach: float = REACH, iterations: int = ITERATIONS, width: float = WIDTH,
            tree: cKDTree | None = None, spacing: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """Vertices moved onto the MLS surface of the oriented ``points``; returns ``(moved, stats)``.

    Parameters
    ----------
    vertices : (m, 3) positions, in the points' coordinates
    points, normals : (n, 3) the cloud (unit normals)
    k : neighbours per vertex (at most the cloud's size)
    limit : the farthest a vertex may move in all, in local point spacings
    reach : a vertex farther than this many spacings from its nearest point is not moved
    iterations : projection steps (each one re-finds the neighbours)
    width : the Gaussian weights' width, in local spacings

    ``stats``: ``moved`` (vertices moved), ``held`` (left alone: no data within ``reach``),
    ``clamped`` (stopped at ``limit``), ``mean_move`` and ``max_move`` (in the points' units),
    ``max_move_spacings`` (the largest move over its own spacing limit's unit).
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    points = np.asarray(points, dtype=np.float64)
    normals = np.asarray(normals, dtype=np.float64)
    if len(points) < 2:
        raise ValueError("refine: the cloud needs at least 2 points")
    if not (limit >= 0 and reach > 0 and iterations >= 1 and width > 0):
        raise ValueError(f"refine: limit must be >= 0, reach > 0 and iterations >= 1; got {limit}, {reach}, {iterations}")
    k = int(min(k, len(points)))
    tree = cKDTree(points) if tree is None else tree
    spacing = local_spacing(tree, points, min(6, len(points) - 1)) if spacing is None else spacing
    dist, idx = tree.query(vertices, k=1, workers=-1)
    h = np.maximum(spacing[idx], 1e-12)  # each vertex's own scale: the spacing at its nearest point
    active = dist <= reach * h
    start = vertices[active]
    current = start.copy()
    scale = h[active]
    bound = limit * scale
    for _ in range(iterations):
        d_nb, i_nb = tree.query(current, k=k, workers=-1)
        d_nb, i_nb = d_nb.reshape(len(current), k), i_nb.reshape(len(current), k)
        w = np.exp(-(d_nb / (width * scale[:, None])) ** 2)
        w /= np.maximum(w.sum(axis=1, keepdims=True), 1e-300)
        p, n = points[i_nb], normals[i_nb]
        signed = np.einsum("mk,mkj,mkj->m", w, current[:, None, :] - p, n)
        direction = np.einsum("mk,mkj->mj", w, n)
        direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-12)
        current = current - signed[:, None] * direction
        offset = current - start  # clamp the total move to the limit
        length = np.linalg.norm(offset, axis=1)
        over = length > bound
        current[over] = start[over] + offset[over] * (bound[over] / length[over])[:, None]
    moved = vertices.copy()
    moved[active] = current
    move = np.linalg.norm(current - start, axis=1)
    stats = {"moved": int(active.sum()), "held": int((~active).sum()),
             "clamped": int((move >= bound * (1 - 1e-9)).sum() if limit > 0 else 0),
             "mean_move": float(move.mean()) if len(move) else 0.0,
             "max_move": float(move.max()) if len(move) else 0.0,
             "max_move_spacings": float((move / scale).max()) if len(move) else 0.0,
             "k": k, "limit": float(limit), "reach": float(reach), "iterations": int(iterations),
             "width": float(width)}
    return moved, stats


def refine_mesh(mesh, cloud, mode: str = "detail", **options):
    """A copy of the trimesh ``mesh`` with its vertices projected onto ``cloud`` (a
    :class:`~sirenpde.shapes.pointcloud.PointCloud` in the mesh's coordinates) by :func:`project`
    with the settings of ``mode`` (``"detail"`` or ``"smooth"``, see ``MODES``), which ``options``
    override; returns ``(mesh, stats)``. The faces are kept as they are."""
    import trimesh

    if mode not in MODES:
        raise ValueError(f"refine: mode must be one of {', '.join(MODES)}, got {mode!r}")
    vertices, stats = project(np.asarray(mesh.vertices), cloud.points, cloud.normals,
                              **{**MODES[mode], **options})
    return trimesh.Trimesh(vertices, np.asarray(mesh.faces), process=False), {"mode": mode, **stats}
