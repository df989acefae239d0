"""Compare a reconstructed mesh with a reference mesh.

Conventions (DESIGN.md, "Numbers to keep in mind"): both meshes are scaled by the same
transform, taken from the reference, that maps the reference's bounding box into the unit cube
(longest side 1). Chamfer-L1 is half the sum of the mean nearest-neighbour distances in both
directions, unsquared, between 100k samples on each mesh. Normal consistency uses the absolute
dot product. The F-score threshold is 1% of the unit cube.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sirenpde.io.inputs import input_file
from sirenpde.shapes.pointcloud import sample_surface

MESH_EXTENSIONS = (".obj", ".ply", ".off", ".stl")


def load_mesh(path):
    """Read a triangle mesh (.obj, .ply, .off, .stl) with trimesh.

    Returns
    -------
    trimesh.Trimesh
        With at least one face and finite vertices.
    """
    import trimesh

    path = input_file(path, MESH_EXTENSIONS, "mesh")
    ext = path.suffix.lower()
    try:
        # process=False: trimesh's own processing silently drops non-finite vertices (and
        # their faces) and merges vertices with an absolute 1e-8 tolerance, which collapses a
        # valid mesh at 1e-9 scale to a point; both are done here, checked and scale-relative
        mesh = trimesh.load(path, file_type=ext[1:], force="mesh", process=False)
    except Exception as err:  # trimesh raises many types for malformed files; keep the cause
        raise ValueError(f"{path}: could not be read as a {ext} mesh: {err}") from err
    if isinstance(mesh, trimesh.Trimesh) and len(mesh.vertices):
        bad = np.flatnonzero(~np.isfinite(mesh.vertices).all(axis=1))
        if len(bad):
            line = _vertex_line(path, ext, int(bad[0]))
            where = f"line {line[0]}: {line[1]!r}" if line else f"coordinates {mesh.vertices[bad[0]].tolist()}"
            raise ValueError(f"{path}: vertex {int(bad[0])} ({where}) is not finite; "
                             f"{len(bad)} vertices have NaN or infinite coordinates")
        mesh = _process_scaled(mesh)
    return _check_mesh(mesh, str(path))


def _process_scaled(mesh):
    """trimesh's standard processing (merging duplicate vertices) done on the mesh scaled to
    the unit cube, so its absolute tolerances act relative to the mesh's size."""
    import trimesh

    low, high = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
    center, side = (low + high) / 2, float((high - low).max())
    if not side > 0:
        return mesh
    unit = trimesh.Trimesh((mesh.vertices - center) / side, mesh.faces, process=True)
    return trimesh.Trimesh(unit.vertices * side + center, unit.faces, process=False)


def _vertex_line(path: Path, ext: str, index: int):
    """``(line number, text)`` of vertex ``index`` in a text .obj, .off or ASCII .ply file,
    or None when the file is binary or its layout is not the plain one."""
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("ascii").splitlines()
    except (OSError, UnicodeDecodeError):
        return None  # binary formats: the caller names the vertex by index and value
    if ext == ".obj":
        numbers = [n for n, text in enumerate(lines, 1) if text.split()[:1] == ["v"]]
    elif ext == ".ply":
        try:
            end = lines.index("end_header")
        except ValueError:
            return None
        elements = [t.split() for t in lines[:end] if t.startswith("element ")]
        if "format ascii 1.0" not in lines[:end] or not elements or elements[0][1] != "vertex":
            return None
        numbers = list(range(end + 2, len(lines) + 1))
    elif ext == ".off":
        body = [n for n, text in enumerate(lines, 1) if text.strip() and not text.lstrip().startswith("#")]
        counts_at = 1 if lines[body[0] - 1].strip() == "OFF" else 0  # counts may follow "OFF" on its line
        numbers = body[counts_at + 1:]
    else:
        return None
    if index >= len(numbers):
        return None
    text = lines[numbers[index] - 1].strip()
    # a reader may reorder vertices (an .obj with texture indices): name the line only if it
    # really holds a non-finite coordinate
    values = []
    for token in text.split()[1 if ext == ".obj" else 0:][:3]:
        try:
            values.append(float(token))
        except ValueError:
            return None
    return (numbers[index], text) if not np.all(np.isfinite(values)) else None


def _check_mesh(mesh, name: str):
    import trimesh

    if not isinstance(mesh, trimesh.Trimesh):
        raise ValueError(f"{name}: expected a triangle mesh (trimesh.Trimesh), got {type(mesh).__name__}")
    if len(mesh.faces) == 0:
        raise ValueError(f"{name}: the mesh has no triangles (empty, or a point cloud rather than a mesh)")
    bad = np.flatnonzero(~np.isfinite(mesh.vertices).all(axis=1))
    if len(bad):
        raise ValueError(f"{name}: vertex {int(bad[0])} {mesh.vertices[bad[0]].tolist()} is not finite; "
                         f"{len(bad)} vertices have NaN or infinite coordinates")
    # Relative to the bounding box, so that scale alone never decides: a mesh at 1e-9 scale is
    # as valid as at 1. Rounding leaves a flat mesh about 1e-16 diag^2 of area, far below this.
    diagonal = float(np.linalg.norm(np.ptp(mesh.vertices[mesh.faces.ravel()], axis=0)))
    if not mesh.area > 1e-12 * diagonal**2 or diagonal == 0:
        raise ValueError(f"{name}: the mesh has zero surface area (area {mesh.area:.3g} for a "
                         f"bounding-box diagonal of {diagonal:.3g})")
    return mesh


def unit_cube_transform(reference) -> tuple[np.ndarray, float]:
    """``(center, side)`` such that ``(x - center) / side`` puts the reference's bounding box
    in the unit cube: centred at 0 with its longest side 1."""
    low, high = reference.bounds
    side = float((high - low).max())
    if not side > 0:
        raise ValueError("reference mesh has a zero-size bounding box")
    return (low + high) / 2, side


def evaluate_mesh(mesh, reference, n_samples: int = 100_000, seed: int = 0,
                  fscore_threshold: float = 0.01, exact: bool = True) -> dict:
    """Chamfer-L1, normal consistency and F-score of ``mesh`` against ``reference``.

    Parameters
    ----------
    mesh, reference : trimesh.Trimesh or path
        Both are scaled by the reference's unit-cube transform (:func:`unit_cube_transform`),
        so every distance below is in units of the reference's longest bounding-box side.
    n_samples : int
        Points sampled uniformly by area on each mesh.
    seed : int
        Sampling seed; the same seed gives the same numbers.
    fscore_threshold : float
        Distance (unit-cube units) under which a point counts as matched.
    exact : bool
        Also compute ``chamfer_l1_exact`` (point-to-surface distances, open3d).

    Returns
    -------
    dict with float values
        ``chamfer_l1``: half the sum of the mean sample-to-nearest-sample distances both ways.
        For identical meshes this is the sampling floor, about ``0.5 * sqrt(A / n_samples)`` for
        a surface of area A (unit-cube units), not 0.
        ``chamfer_l1_exact``: the same with exact distances from each mesh's samples to the
        other mesh's surface; 0 for identical meshes, and never above ``chamfer_l1``.
        ``normal_consistency``: mean |n_p . n_q| over samples p and their nearest samples q on
        the other mesh (face normals), averaged both ways; in [0, 1].
        ``precision``: share of the mesh's samples within the threshold of the reference's samples.
        ``recall``: share of the reference's samples within the threshold of the mesh's samples.
        ``fscore``: harmonic mean of precision and recall (0 when both are 0).
        Also ``fscore_threshold`` and ``n_samples``.
    """
    from scipy.spatial import cKDTree

    mesh = _as_mesh(mesh, "mesh")
    reference = _as_mesh(reference, "reference")
    if int(n_samples) != n_samples or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if not (np.isfinite(fscore_threshold) and fscore_threshold > 0):
        raise ValueError(f"fscore_threshold must be > 0, got {fscore_threshold!r}")
    import trimesh

    center, side = unit_cube_transform(reference)
    # Scale the meshes before sampling, not the samples after: trimesh's face normals use an
    # absolute threshold and come out zero for a mesh at 1e-9 scale.
    mesh, reference = (trimesh.Trimesh((m.vertices - center) / side, m.faces, process=False)
                       for m in (mesh, reference))
    rng_mesh, rng_ref = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    cloud_mesh = sample_surface(mesh, int(n_samples), seed=rng_mesh)
    cloud_ref = sample_surface(reference, int(n_samples), seed=rng_ref)
    x_mesh, x_ref = cloud_mesh.points, cloud_ref.points

    d_mesh, nearest_in_ref = cKDTree(x_ref).query(x_mesh, workers=-1)
    d_ref, nearest_in_mesh = cKDTree(x_mesh).query(x_ref, workers=-1)
    cos_mesh = np.abs(np.einsum("ij,ij->i", cloud_mesh.normals, cloud_ref.normals[nearest_in_ref]))
    cos_ref = np.abs(np.einsum("ij,ij->i", cloud_ref.normals, cloud_mesh.normals[nearest_in_mesh]))
    precision = float(np.mean(d_mesh < fscore_threshold))
    recall = float(np.mean(d_ref < fscore_threshold))
    result = {
        "chamfer_l1": 0.5 * (float(d_mesh.mean()) + float(d_ref.mean())),
        "normal_consistency": 0.5 * (float(cos_mesh.mean()) + float(cos_ref.mean())),
        "fscore": 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0,
        "precision": precision,
        "recall": recall,
        "fscore_threshold": float(fscore_threshold),
        "n_samples": int(n_samples),
    }
    if exact:
        # The same samples as above, so chamfer_l1_exact <= chamfer_l1 holds sample by sample.
        to_ref = distance_to_mesh(x_mesh, reference.vertices, reference.faces)
        to_mesh = distance_to_mesh(x_ref, mesh.vertices, mesh.faces)
        result["chamfer_l1_exact"] = 0.5 * (float(to_ref.mean()) + float(to_mesh.mean()))
    return result


def _as_mesh(mesh, name: str):
    if isinstance(mesh, (str, Path)):
        return load_mesh(mesh)
    return _check_mesh(mesh, name)


def distance_to_mesh(points, vertices, faces, engine: str = "open3d") -> np.ndarray:
    """Unsigned distance from each point to the nearest point of a triangle surface.

    Parameters
    ----------
    points : (n, 3) float
    vertices : (v, 3) float
    faces : (f, 3) int
    engine : {"open3d", "brute"}
        open3d's RaycastingScene (a BVH in float32: absolute error ~1e-7 for coordinates of order
        1, so pass normalised coordinates) is the fast path. "brute" checks every point against
        every face in float64, O(n f): an independent check for small inputs.

    Returns
    -------
    (n,) float64
    """
    points = np.asarray(points, dtype=np.float64)
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points must have shape (n, 3), got {points.shape}")
    if engine == "open3d":
        import open3d as o3d

        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(o3d.core.Tensor(vertices.astype(np.float32)),
                            o3d.core.Tensor(faces.astype(np.uint32)))
        query = o3d.core.Tensor(np.ascontiguousarray(points, dtype=np.float32))
        return scene.compute_distance(query).numpy().astype(np.float64)
    if engine == "brute":
        chunk = max(1, 2_000_000 // max(len(faces), 1))
        return np.concatenate([_brute_distance(points[i:i + chunk], vertices[faces])
                               for i in range(0, len(points), chunk)])
    raise ValueError(f"engine must be 'open3d' or 'brute', got {engine!r}")


def _segment_distance(p, a, b):
    """p : (n, 1, 3); a, b : (f, 3) -> (n, f) distance from p to the segments ab."""
    ab = b - a
    t = np.einsum("nfk,fk->nf", p - a, ab) / np.maximum(np.einsum("fk,fk->f", ab, ab), 1e-300)
    closest = a + np.clip(t, 0, 1)[..., None] * ab
    return np.linalg.norm(p - closest, axis=-1)


def _brute_distance(points, triangles):
    """points : (n, 3); triangles : (f, 3, 3) -> (n,) distance to the nearest triangle.

    The nearest point of a triangle is the foot of the perpendicular when that falls inside it,
    otherwise the nearest point of one of its three edges.
    """
    p = points[:, None, :]
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    edges = np.minimum(np.minimum(_segment_distance(p, a, b), _segment_distance(p, b, c)),
                       _segment_distance(p, c, a))
    normal = np.cross(b - a, c - a)
    length = np.linalg.norm(normal, axis=1)
    proper = length > 0  # degenerate triangles are covered by their edges
    normal = normal / np.where(proper, length, 1.0)[:, None]
    height = np.einsum("nfk,fk->nf", p - a, normal)
    foot = p - height[..., None] * normal
    inside = proper & np.all([np.einsum("nfk,fk->nf", np.cross(v - u, foot - u), normal) >= 0
                              for u, v in ((a, b), (b, c), (c, a))], axis=0)
    return np.where(inside, np.abs(height), edges).min(axis=1)
