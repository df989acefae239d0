"""Preview pictures of a mesh: a few shaded orthographic views in one PNG.

The triangles themselves are rasterised with a depth buffer (numpy, no display or GPU needed):
every pixel centre inside the silhouette lies in some triangle of a closed mesh, so the picture has
no holes, and the nearest triangle wins, so no far-side surface shows through. The shading is
two-sided Lambert, ``|n . light|``, with the normal interpolated from the vertex normals across each
triangle (Phong's interpolation), so a smooth surface looks smooth at any mesh resolution.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sirenpde.io.plotting import save_figure, subplots

VIEWS = (("front", 0.0, 0.0), ("side", 90.0, 0.0), ("above", 35.0, 35.0))
LIGHT = np.array([0.3, 0.4, 0.866])  # unit direction towards the light, in view coordinates
_CANDIDATES = 4_000_000  # pixel candidates handled at once (memory bound of the rasteriser)


def view_rotation(azimuth: float, elevation: float) -> np.ndarray:
    """``(3, 3)`` rotation: turn by ``azimuth`` degrees about y, then tilt by ``elevation`` about x."""
    a, e = np.radians(azimuth), np.radians(elevation)
    turn = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    tilt = np.array([[1, 0, 0], [0, np.cos(e), -np.sin(e)], [0, np.sin(e), np.cos(e)]])
    return tilt @ turn


def _fragments(px, py, lo_x, lo_y, side: int, size: int):
    """Candidate pixels of triangles whose bounding boxes fit in ``side x side`` pixels:
    ``(triangle, column, row, barycentric (m, 3))`` for the pixel centres inside them."""
    off = np.arange(side)
    cols = (lo_x[:, None, None] + off[None, None, :]).repeat(side, 1)
    rows = (lo_y[:, None, None] + off[None, :, None]).repeat(side, 2)
    tri = np.broadcast_to(np.arange(len(px))[:, None, None], cols.shape)
    cols, rows, tri = cols.ravel(), rows.ravel(), tri.ravel()
    keep = (cols < size) & (rows < size)
    cols, rows, tri = cols[keep], rows[keep], tri[keep]
    x0, y0 = px[tri, 0], py[tri, 0]
    e1x, e1y = px[tri, 1] - x0, py[tri, 1] - y0
    e2x, e2y = px[tri, 2] - x0, py[tri, 2] - y0
    det = e1x * e2y - e2x * e1y
    ok = np.abs(det) > 1e-12
    dx, dy = cols - x0, rows - y0
    with np.errstate(divide="ignore", invalid="ignore"):
        b1 = np.where(ok, (dx * e2y - e2x * dy) / det, -1.0)
        b2 = np.where(ok, (e1x * dy - dx * e1y) / det, -1.0)
    b0 = 1.0 - b1 - b2
    eps = -1e-9  # pixel centres on a shared edge belong to both triangles: no cracks
    inside = (b0 >= eps) & (b1 >= eps) & (b2 >= eps)
    return tri[inside], cols[inside], rows[inside], np.stack([b0, b1, b2], -1)[inside]


def render_mesh(vertices: np.ndarray, faces: np.ndarray, vertex_normals: np.ndarray, rotation: np.ndarray,
                size: int) -> np.ndarray:
    """Orthographic depth-buffered rasterisation of a triangle mesh, shaded ``|n . LIGHT|`` with
    interpolated vertex normals: ``(size, size)`` in [0, 1], NaN where no triangle covers a pixel
    centre. ``vertices`` are expected in [-1, 1]^3 (the image spans that square); the camera looks
    down -z after ``rotation``."""
    v = np.asarray(vertices, dtype=np.float64) @ rotation.T
    n = np.asarray(vertex_normals, dtype=np.float64) @ rotation.T
    faces = np.asarray(faces, dtype=np.int64)
    # pixel (row, col) has its centre at column col and row row of these coordinates
    px = ((v[:, 0] + 1) / 2 * size - 0.5)[faces]
    py = ((1 - v[:, 1]) / 2 * size - 0.5)[faces]
    lo_x, hi_x = np.ceil(px.min(1)).astype(np.int64), np.floor(px.max(1)).astype(np.int64)
    lo_y, hi_y = np.ceil(py.min(1)).astype(np.int64), np.floor(py.max(1)).astype(np.int64)
    lo_x, lo_y = np.maximum(lo_x, 0), np.maximum(lo_y, 0)
    hi_x, hi_y = np.minimum(hi_x, size - 1), np.minimum(hi_y, size - 1)
    extent = np.maximum(hi_x - lo_x, hi_y - lo_y) + 1
    visible = (hi_x >= lo_x) & (hi_y >= lo_y)
    pixels, depths, shades = [], [], []
    side = 1
    while True:  # triangles grouped by the size of their bounding boxes: 1, 2, 4, 8 ... pixels
        group = np.flatnonzero(visible & (extent <= side) & (extent > side // 2))
        step = max(1, _CANDIDATES // (side * side))
        for start in range(0, len(group), step):
            f = group[start:start + step]
            tri, cols, rows, bary = _fragments(px[f], py[f], lo_x[f], lo_y[f], side, size)
            corners = faces[f[tri]]
            depth = np.einsum("mk,mk->m", bary, v[corners, 2])
            normal = np.einsum("mk,mkj->mj", bary, n[corners])
            normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
            pixels.append(rows * size + cols)
            depths.append(depth)
            shades.append(np.abs(normal @ LIGHT))
        if side >= extent.max(initial=1):
            break
        side *= 2
    image = np.full(size * size, np.nan)
    if pixels:
        pixel, depth, shade = np.concatenate(pixels), np.concatenate(depths), np.concatenate(shades)
        order = np.lexsort((-depth, pixel))  # nearest first within each pixel
        first = np.unique(pixel[order], return_index=True)[1]
        image[pixel[order][first]] = shade[order][first]
    return image.reshape(size, size)


def write_preview(mesh, path, size: int = 360, title: str = "") -> Path:
    """Write a PNG with three shaded views of ``mesh`` (front, side, above), atomically."""
    import matplotlib  # for its colour maps; imported here as it is slow to load

    path = Path(path)
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    center = (vertices.max(axis=0) + vertices.min(axis=0)) / 2
    radius = float(np.linalg.norm(vertices - center, axis=1).max()) * 1.05 or 1.0
    pts = (vertices - center) / radius
    normals = np.asarray(mesh.vertex_normals, dtype=np.float64)
    fig, axes = subplots(1, len(VIEWS), figsize=(4 * len(VIEWS), 4.3))
    cmap = matplotlib.colormaps["bone"].with_extremes(bad="white")
    for ax, (name, azimuth, elevation) in zip(axes, VIEWS):
        img = render_mesh(pts, mesh.faces, normals, view_rotation(azimuth, elevation), size)
        ax.imshow(0.15 + 0.8 * img, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(name)
        ax.axis("off")
    fig.suptitle(f"{title}  ({len(mesh.vertices):,} vertices, {len(mesh.faces):,} faces)".strip())
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)
