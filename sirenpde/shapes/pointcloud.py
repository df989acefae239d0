"""Oriented point clouds: read, validate, normalise, write and sample them.

Shape reconstruction starts here. A file (``.xyz``: ``x y z nx ny nz`` per line, or ``.ply`` /
``.pcd`` through open3d) becomes a :class:`PointCloud` of finite points and unit normals, and a
:class:`Normalization` maps it into ``[-0.9, 0.9]^3`` for fitting and maps meshes back to the
file's own coordinates afterwards.
"""
from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from sirenpde.io.atomic import atomic_open
from sirenpde.io.inputs import input_file
from sirenpde.shapes.arrays import as_points
from sirenpde.shapes.normals import estimate_like_neighbours, estimate_normals

SUPPORTED_EXTENSIONS = (".xyz", ".ply", ".pcd")
NORMAL_POLICIES = ("error", "drop", "estimate")
# A normal shorter than this has no usable direction (files round normals to ~1e-6).
MIN_NORMAL_LENGTH = 1e-8
_SHOWN = 5  # offending line numbers listed in a message
_AXES = ("x", "y", "z", "nx", "ny", "nz")


@dataclass(frozen=True, eq=False)
class PointCloud:
    """Points with unit normals.

    Attributes
    ----------
    points : (n, 3) float64, finite, n >= 1
    normals : (n, 3) float64, unit length (normalised when built; zero or non-finite raises)
    source : str
        Where the cloud came from (a path, or a description).
    """

    points: np.ndarray
    normals: np.ndarray
    source: str = ""

    def __post_init__(self):
        where = f" from {self.source}" if self.source else ""
        points = as_points(self.points, f"PointCloud{where}: points")
        normals = np.asarray(self.normals, dtype=np.float64)
        if normals.shape != points.shape:
            raise ValueError(f"PointCloud{where}: normals must have the shape of points {points.shape}, "
                             f"got {normals.shape}")
        if len(points) == 0:
            raise ValueError(f"PointCloud{where}: no points")
        bad = np.flatnonzero(~np.isfinite(points).all(axis=1))
        if len(bad):
            raise ValueError(f"PointCloud{where}: {len(bad)} points have non-finite coordinates "
                             f"(indices {_list(bad)})")
        length = np.linalg.norm(normals, axis=1)
        bad = np.flatnonzero(~(length >= MIN_NORMAL_LENGTH))  # NaN fails the comparison too
        if len(bad):
            raise ValueError(f"PointCloud{where}: {len(bad)} normals are zero-length or non-finite "
                             f"(indices {_list(bad)})")
        object.__setattr__(self, "points", np.ascontiguousarray(points))
        object.__setattr__(self, "normals", np.ascontiguousarray(normals / length[:, None]))
        object.__setattr__(self, "source", str(self.source))

    def __len__(self) -> int:
        return len(self.points)


def _list(indices, shown: int = _SHOWN) -> str:
    text = ", ".join(str(int(i)) for i in indices[:shown])
    return text + (", ..." if len(indices) > shown else "")


# ----------------------------------------------------------------------------- reading


def read_point_cloud(path, normals: str = "error", estimate_missing: bool = True, *,
                     knn: int = 30) -> PointCloud:
    """Read an oriented point cloud from ``.xyz``, ``.ply`` or ``.pcd``.

    Parameters
    ----------
    path : str or Path
        ``.xyz``: ``x y z nx ny nz`` (or ``x y z``) per line; blank lines and ``#`` comments are
        skipped. ``.ply`` / ``.pcd``: read with open3d.
    normals : {"error", "drop", "estimate"}
        What to do with points whose normal is zero-length or non-finite: raise, remove them
        (with a warning), or re-estimate them from their neighbours (with a warning).
    estimate_missing : bool
        For files without normals: estimate and orient them (with a warning), else raise.
    knn : int
        Neighbours used for normal estimation and orientation.

    Returns
    -------
    PointCloud
        Normals scaled to unit length.
    """
    if normals not in NORMAL_POLICIES:
        raise ValueError(f"normals must be one of {NORMAL_POLICIES}, got {normals!r}")
    path = input_file(path, SUPPORTED_EXTENSIONS, "point cloud")
    ext = path.suffix.lower()
    if ext == ".xyz":
        points, raw_normals, where = _read_xyz(path)
    else:
        points, raw_normals, where = _read_open3d(path)

    if raw_normals is None:
        if not estimate_missing:
            raise ValueError(f"{path}: the file has no normals (x y z only); "
                             "pass estimate_missing=True to estimate them")
        warnings.warn(f"{path}: the file has no normals; estimated them from {knn} neighbours and "
                      "oriented them consistently and outward from the centroid. The orientation "
                      "may be wrong for open scans or shapes with deep concavities.", stacklevel=2)
        return PointCloud(points, estimate_normals(points, knn=knn), str(path))
    points, raw_normals = _repair_normals(points, raw_normals, normals, where, path, knn)
    return PointCloud(points, raw_normals, str(path))


def _read_xyz(path: Path):
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a text .xyz file ({err})") from err
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*input contained no data")
            data = np.loadtxt(io.StringIO(text), dtype=np.float64, comments="#", ndmin=2)
    except ValueError as err:
        _raise_first_bad_line(text, path, err)
    if data.size == 0:
        raise ValueError(f"{path}: no points (the file is empty or holds only blank and comment lines)")
    if data.shape[1] not in (3, 6) or not np.isfinite(data[:, :3]).all():
        _raise_first_bad_line(text, path, None)

    def where(rows):
        lines = _data_line_numbers(text)
        return "lines " + _list(lines[rows])

    return data[:, :3].copy(), (data[:, 3:].copy() if data.shape[1] == 6 else None), where


def _data_rows(text: str):
    """Yield (1-based line number, tokens) for every line that holds data, like np.loadtxt."""
    for lineno, line in enumerate(text.split("\n"), start=1):
        tokens = line.split("#", 1)[0].split()
        if tokens:
            yield lineno, tokens


def _data_line_numbers(text: str) -> np.ndarray:
    return np.array([lineno for lineno, _ in _data_rows(text)], dtype=np.int64)


def _raise_first_bad_line(text: str, path: Path, cause: Exception | None):
    """Walk the lines (slow path, only after the bulk parse failed) and report the first bad one."""
    expected = first = None
    for lineno, tokens in _data_rows(text):
        found = len(tokens)
        if expected is None and found not in (3, 6):
            raise ValueError(f"{path}, line {lineno}: found {found} columns, expected 3 (x y z) or "
                             "6 (x y z nx ny nz); all rows must have the same count")
        if expected is not None and found != expected:
            raise ValueError(f"{path}, line {lineno}: found {found} columns, expected {expected} "
                             f"like line {first} (3 or 6 columns; all rows must have the same count)")
        expected, first = found, first or lineno
        for column, token in enumerate(tokens):
            try:
                value = float(token)
                if "_" in token:  # Python accepts 1_000, numpy does not
                    raise ValueError(token)
            except ValueError:
                raise ValueError(f"{path}, line {lineno}, column {column + 1} ({_AXES[column]}): "
                                 f"{token!r} is not a number") from None
            if column < 3 and not math.isfinite(value):
                raise ValueError(f"{path}, line {lineno}: {_AXES[column]} is {token!r}; "
                                 "coordinates must be finite (no NaN or infinite values)")
    if expected is None:
        raise ValueError(f"{path}: no points (the file is empty or holds only blank and comment lines)")
    raise ValueError(f"{path}: could not parse as rows of 'x y z [nx ny nz]'") from cause


def _read_open3d(path: Path):
    import open3d as o3d

    cloud = o3d.io.read_point_cloud(str(path))
    points = np.asarray(cloud.points, dtype=np.float64).copy()
    if len(points) == 0:
        raise ValueError(f"{path}: no points read (the file is empty, unreadable, or not a "
                         f"{path.suffix} point cloud)")
    bad = np.flatnonzero(~np.isfinite(points).all(axis=1))
    if len(bad):
        raise ValueError(f"{path}: {len(bad)} points have NaN or infinite coordinates "
                         f"(point indices {_list(bad)}, 0-based)")
    normals = np.asarray(cloud.normals, dtype=np.float64).copy() if cloud.has_normals() else None
    return points, normals, lambda rows: f"point indices {_list(rows)}, 0-based"


def _repair_normals(points, normals, policy: str, where: Callable, path: Path, knn: int):
    length = np.linalg.norm(normals, axis=1)
    bad = ~(length >= MIN_NORMAL_LENGTH)
    if not bad.any():
        return points, normals
    rows = np.flatnonzero(bad)
    what = (f"{len(rows)} of {len(points)} points have zero-length or non-finite normals "
            f"({where(rows)})")
    if policy == "error":
        raise ValueError(f"{path}: {what}; pass normals='drop' to remove these points or "
                         "normals='estimate' to re-estimate their normals")
    if policy == "drop":
        if bad.all():
            raise ValueError(f"{path}: {what}; dropping them would leave no points")
        warnings.warn(f"{path}: dropped {what}", stacklevel=3)
        return points[~bad], normals[~bad]
    warnings.warn(f"{path}: re-estimated normals from {knn} neighbours for {what}", stacklevel=3)
    if bad.all():
        return points, estimate_normals(points, knn=knn)
    normals = normals.copy()
    normals[bad] = estimate_like_neighbours(points, normals, bad, knn)
    return points, normals


# ---------------------------------------------------------------------------- normalisation


@dataclass(frozen=True, eq=False)
class Normalization:
    """Similarity transform ``normalized = (points - center) / scale``.

    Normals are unchanged by it (uniform scale, no rotation).

    Attributes
    ----------
    center : (3,) float64
    scale : float, > 0
    """

    center: np.ndarray
    scale: float

    def __post_init__(self):
        center = np.asarray(self.center, dtype=np.float64)
        if center.shape != (3,) or not np.isfinite(center).all():
            raise ValueError(f"Normalization center must be 3 finite numbers, got {self.center!r}")
        scale = float(self.scale)
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"Normalization scale must be finite and > 0, got {self.scale!r}")
        object.__setattr__(self, "center", center)
        object.__setattr__(self, "scale", scale)

    @classmethod
    def fit(cls, points, margin: float = 0.9) -> "Normalization":
        """Bounding-box center; the largest half-extent maps to ``margin``.

        With the default 0.9 the points land in ``[-0.9, 0.9]^3``, leaving room to mesh in
        ``[-1, 1]^3``.
        """
        points = as_points(points, "points")
        if len(points) == 0 or not np.isfinite(points).all():
            raise ValueError("points must be non-empty and finite to fit a normalisation")
        if not (math.isfinite(margin) and margin > 0):
            raise ValueError(f"margin must be > 0, got {margin!r}")
        low, high = points.min(axis=0), points.max(axis=0)
        half = float((high - low).max()) / 2
        if not half > 0:
            raise ValueError("all points coincide; cannot fit a normalisation")
        return cls(center=(low + high) / 2, scale=half / margin)

    def apply(self, points) -> np.ndarray:
        """Original -> normalized coordinates; ``points : (n, 3)``."""
        return (as_points(points, "points") - self.center) / self.scale

    def invert(self, points) -> np.ndarray:
        """Normalized -> original coordinates; ``points : (n, 3)``."""
        return as_points(points, "points") * self.scale + self.center

    @property
    def matrix(self) -> np.ndarray:
        """(4, 4) affine matrix mapping normalized to original coordinates (for mesh vertices)."""
        m = np.eye(4)
        m[:3, :3] *= self.scale
        m[:3, 3] = self.center
        return m

    def to_dict(self) -> dict:
        """Plain floats and lists, loadable with ``torch.load(weights_only=True)``."""
        return {"center": [float(c) for c in self.center], "scale": float(self.scale)}

    @classmethod
    def from_dict(cls, d: dict) -> "Normalization":
        missing = {"center", "scale"} - set(d)
        if missing:
            raise ValueError(f"normalization dict lacks {sorted(missing)}; got keys {sorted(d)}")
        return cls(center=np.asarray(d["center"], dtype=np.float64), scale=float(d["scale"]))


# ------------------------------------------------------------------------- writing, sampling


def write_xyz(path, points, normals=None, fmt: str = "%.17g") -> None:
    """Write ``x y z [nx ny nz]`` rows atomically; ``%.17g`` round-trips float64 exactly."""
    points = as_points(points, "points")
    columns = [points]
    if normals is not None:
        normals = as_points(normals, "normals")
        if normals.shape != points.shape:
            raise ValueError(f"normals {normals.shape} must match points {points.shape}")
        columns.append(normals)
    data = np.hstack(columns)
    if not np.isfinite(data).all():
        raise ValueError("points and normals must be finite to be written")
    with atomic_open(path, "w") as f:
        np.savetxt(f, data, fmt=fmt)


def sample_surface(mesh, n: int, seed=None) -> PointCloud:
    """Sample ``n`` points uniformly by area on a triangle mesh, with their face normals.

    Parameters
    ----------
    mesh : trimesh.Trimesh
    n : int, >= 1
    seed : int, numpy Generator or None
        The same seed gives the same points on any trimesh version (sampling is done here).
    """
    import trimesh

    if not isinstance(mesh, trimesh.Trimesh):
        raise TypeError(f"mesh must be a trimesh.Trimesh, got {type(mesh).__name__}")
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    area = np.asarray(mesh.area_faces, dtype=np.float64)
    if len(area) == 0 or not area.sum() > 0:
        raise ValueError("mesh has no faces with positive area to sample")
    rng = np.random.default_rng(seed)
    face = rng.choice(len(area), size=int(n), p=area / area.sum())
    u, v = rng.random((2, int(n)))
    flip = u + v > 1  # reflect the far half of the parallelogram back into the triangle
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    a, b, c = (mesh.vertices[mesh.faces[face, i]] for i in range(3))
    points = a + u[:, None] * (b - a) + v[:, None] * (c - a)
    return PointCloud(points, mesh.face_normals[face], source="sampled from mesh")


def add_noise(cloud: PointCloud, position_sigma: float = 0.0, normal_sigma: float = 0.0,
              seed=None) -> PointCloud:
    """Gaussian noise: absolute std ``position_sigma`` per coordinate; normals perturbed by
    ``normal_sigma`` per component, then renormalised."""
    for name, sigma in (("position_sigma", position_sigma), ("normal_sigma", normal_sigma)):
        if not (math.isfinite(sigma) and sigma >= 0):
            raise ValueError(f"{name} must be finite and >= 0, got {sigma!r}")
    rng = np.random.default_rng(seed)
    points = cloud.points + rng.normal(scale=position_sigma, size=cloud.points.shape)
    normals = cloud.normals + rng.normal(scale=normal_sigma, size=cloud.normals.shape)
    return PointCloud(points, normals, source=f"{cloud.source} + noise" if cloud.source else "noisy")
