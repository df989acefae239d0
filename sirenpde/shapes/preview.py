"""Preview pictures of a mesh: a few Lambert-shaded orthographic views in one PNG."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sirenpde.io.plotting import save_figure, subplots
from sirenpde.shapes.pointcloud import sample_surface

VIEWS = (("front", 0.0, 0.0), ("side", 90.0, 0.0), ("above", 35.0, 35.0))


def view_rotation(azimuth: float, elevation: float) -> np.ndarray:
    """``(3, 3)`` rotation: turn by ``azimuth`` degrees about y, then tilt by ``elevation`` about x."""
    a, e = np.radians(azimuth), np.radians(elevation)
    turn = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    tilt = np.array([[1, 0, 0], [0, np.cos(e), -np.sin(e)], [0, np.sin(e), np.cos(e)]])
    return tilt @ turn


def render_points(points: np.ndarray, normals: np.ndarray, rotation: np.ndarray, size: int) -> np.ndarray:
    """Orthographic z-buffered splat of oriented points, Lambert-shaded: ``(size, size)`` in [0, 1],
    NaN where nothing was drawn. ``points`` are expected in [-1, 1]^3 (the image spans that square),
    the camera looks down -z after ``rotation``."""
    p = points @ rotation.T
    shade = np.abs(normals @ rotation.T @ np.array([0.3, 0.4, 0.866]))
    col = np.clip(((p[:, 0] + 1) / 2 * size).astype(int), 0, size - 1)
    row = np.clip(((1 - p[:, 1]) / 2 * size).astype(int), 0, size - 1)
    pixel = row * size + col
    # Nearest point per pixel: sort by pixel, then by decreasing depth, keep the first of each pixel.
    order = np.lexsort((-p[:, 2], pixel))
    first = np.unique(pixel[order], return_index=True)[1]
    image = np.full(size * size, np.nan)
    image[pixel[order][first]] = shade[order][first]
    return image.reshape(size, size)


def write_preview(mesh, path, size: int = 360, title: str = "", seed: int = 0) -> Path:
    """Write a PNG with three shaded views of ``mesh`` (front, side, above), atomically."""
    import matplotlib  # for its colour maps; imported here as it is slow to load

    path = Path(path)
    n = 10 * size * size  # about ten points per pixel of the object's silhouette keeps it hole-free
    cloud = sample_surface(mesh, n, seed=seed)
    center = (cloud.points.max(axis=0) + cloud.points.min(axis=0)) / 2
    radius = float(np.linalg.norm(cloud.points - center, axis=1).max()) * 1.05 or 1.0
    pts = (cloud.points - center) / radius
    fig, axes = subplots(1, len(VIEWS), figsize=(4 * len(VIEWS), 4.3))
    cmap = matplotlib.colormaps["bone"].with_extremes(bad="white")
    for ax, (name, azimuth, elevation) in zip(axes, VIEWS):
        img = render_points(pts, cloud.normals, view_rotation(azimuth, elevation), size)
        ax.imshow(0.15 + 0.8 * img, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(name)
        ax.axis("off")
    fig.suptitle(f"{title}  ({len(mesh.vertices):,} vertices, {len(mesh.faces):,} faces)".strip())
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)
