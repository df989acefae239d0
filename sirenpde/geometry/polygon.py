"""A simple polygon from its vertices, in either orientation.

Inside by the crossing number; the boundary sampled edge by edge in proportion to length, each
edge with its own outward normal; the distance joins Sukumar & Srivastava's trimmed segment
functions (CMAME 2022, eqs. 8-9) by ``1 / sum(1 / phi_i)`` and takes the sign from the inside test.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from sirenpde.geometry.base import TINY, Geometry, fmt, sqrt_safe

_CHUNK = 1 << 14  # points per block where a (points x edges) array is formed


class Polygon(Geometry):
    """A simple (non-self-intersecting) polygon ``Polygon([(x0, y0), (x1, y1), ...])``.

    The last vertex joins the first; do not repeat it. Raises ``ValueError`` for fewer than three
    vertices, non-finite or repeated consecutive vertices, zero area or crossing edges.
    """

    dim = 2

    def __init__(self, vertices):
        try:
            v = np.asarray(vertices, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"Polygon: vertices must be a list of (x, y) pairs, got {vertices!r}") from None
        if v.ndim != 2 or v.shape[1] != 2 or len(v) < 3:
            raise ValueError(f"Polygon: vertices must be at least 3 (x, y) pairs, got shape {v.shape}")
        if not np.isfinite(v).all():
            raise ValueError("Polygon: vertices must be finite numbers")
        if len(v) > 3 and np.allclose(v[0], v[-1]):
            v = v[:-1]  # a closing vertex repeated by the user
        edges = np.roll(v, -1, axis=0) - v
        length = np.linalg.norm(edges, axis=1)
        if np.any(length == 0):
            i = int(np.argmin(length))
            raise ValueError(f"Polygon: vertices {i} and {(i + 1) % len(v)} coincide at {fmt(v[i])}")
        area2 = float(np.sum(v[:, 0] * np.roll(v[:, 1], -1) - np.roll(v[:, 0], -1) * v[:, 1]))
        if abs(area2) <= 1e-12 * float(length.sum()) ** 2:
            raise ValueError(f"Polygon: the vertices enclose zero area: {v.tolist()}")
        if area2 < 0:  # store counter-clockwise so (dy, -dx) points outwards
            v = v[::-1].copy()
        _check_simple(v)
        self.vertices = v
        self._area = abs(area2) / 2

    def __repr__(self) -> str:
        return f"Polygon({np.round(self.vertices, 6).tolist()})"

    @property
    def _edges(self) -> tuple[np.ndarray, np.ndarray]:
        return self.vertices, np.roll(self.vertices, -1, axis=0)

    @property
    def bbox(self):
        return self.vertices.min(axis=0), self.vertices.max(axis=0)

    @property
    def measure(self) -> float:
        return self._area

    @property
    def boundary_measure(self) -> float:
        a, b = self._edges
        return float(np.linalg.norm(b - a, axis=1).sum())

    def _crossing(self, x: Tensor) -> Tensor:
        """Even-odd rule: ``(n,)`` bool."""
        a, b = (torch.as_tensor(e, dtype=x.dtype, device=x.device) for e in self._edges)
        px, py = x[:, :1], x[:, 1:]
        straddle = (a[:, 1] > py) != (b[:, 1] > py)
        dy = torch.where(straddle, b[:, 1] - a[:, 1], torch.ones_like(b[:, 1]))
        cross_x = a[:, 0] + (py - a[:, 1]) * (b[:, 0] - a[:, 0]) / dy
        return ((straddle & (px < cross_x)).sum(dim=1) % 2) == 1

    def _edge_distance(self, x: Tensor) -> Tensor:
        """Euclidean distance to the nearest edge: ``(n,)``."""
        a, b = (torch.as_tensor(e, dtype=x.dtype, device=x.device) for e in self._edges)
        ab = b - a
        ap = x[:, None, :] - a
        t = ((ap * ab).sum(-1) / (ab * ab).sum(-1)).clamp(0, 1)
        return (ap - t[..., None] * ab).norm(dim=-1).min(dim=1).values

    def _inside(self, x: Tensor, tol: float) -> Tensor:
        out = []
        for xs in x.split(_CHUNK):
            inside = self._crossing(xs)
            if tol != 0:
                near = self._edge_distance(xs) <= abs(tol)
                inside = inside | near if tol > 0 else inside & ~near
            out.append(inside)
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.bool)

    def distance(self, x: Tensor) -> Tensor:
        x = self._check_points(x, "distance")
        a, b = (torch.as_tensor(e, dtype=x.dtype, device=x.device) for e in self._edges)
        ab = b - a
        length = ab.norm(dim=1)
        rel = x[:, None, :] - a
        f = (rel[..., 0] * ab[:, 1] - rel[..., 1] * ab[:, 0]) / length  # distance to the line, < 0 inside
        mid = x[:, None, :] - (a + b) / 2
        t = ((length / 2) ** 2 - (mid ** 2).sum(-1)) / length  # trimming disk: > 0 over the segment
        q = (sqrt_safe(t ** 2 + f ** 4) - t) / 2
        sign = self._side(x.detach(), f.detach(), (f ** 2 + q ** 2).detach())
        # Each edge's phi = sqrt(f^2 + q^2), written as |w| + q^2 / (phi + |w|) with w = -sign * f: its
        # gradient at the edge is then -grad f (the inward normal) instead of sqrt's undefined one.
        w = -sign[:, None] * f
        w_abs = torch.where(w >= 0, w, -w)
        phi = w_abs + q ** 2 / (sqrt_safe(w ** 2 + q ** 2) + w_abs).clamp_min(TINY)
        # join by 1 / sum(1 / phi_i), written phi_k / (1 + phi_k sum_{i != k} 1 / phi_i) around the
        # nearest edge k so that a zero phi_k keeps its gradient
        k = phi.detach().argmin(dim=1, keepdim=True)
        phi_k = phi.gather(1, k)[:, 0]
        others = (1.0 / phi.clamp_min(TINY)).scatter(1, k, 0.0).sum(dim=1)
        return sign * phi_k / (1 + phi_k * others)

    def _side(self, x: Tensor, f: Tensor, phi2: Tensor) -> Tensor:
        """+1 inside, -1 outside; within float noise of an edge, the side of that edge's line, so
        the sign agrees with the edge function the distance is built from."""
        with torch.no_grad():
            sign = torch.where(self._inside(x, 0.0), 1.0, -1.0).to(x.dtype)
            nearest = phi2.argmin(dim=1)
            rows = torch.arange(len(x), device=x.device)
            fk = f[rows, nearest]
            close = (phi2[rows, nearest] < (1e-9 * self._diagonal) ** 2) & (fk != 0)
            return torch.where(close, -torch.sign(fk), sign)

    def _boundary64(self, n, generator):
        a, b = (torch.from_numpy(e) for e in self._edges)
        ab = b - a
        length = ab.norm(dim=1)
        edge = torch.multinomial(length, n, replacement=True, generator=generator) if n else \
            torch.zeros(0, dtype=torch.long)
        s = torch.rand(n, 1, generator=generator, dtype=torch.float64)
        x = a[edge] + s * ab[edge]
        normal = torch.stack([ab[:, 1], -ab[:, 0]], dim=1) / length[:, None]
        return x, normal[edge]


def _check_simple(v: np.ndarray) -> None:
    """Raise ``ValueError`` when two edges of the closed chain ``v`` meet other than at a shared vertex."""
    m = len(v)
    a, b = v, np.roll(v, -1, axis=0)
    i, j = np.triu_indices(m, k=1)
    for lo in range(0, len(i), 1 << 20):
        ii, jj = i[lo:lo + (1 << 20)], j[lo:lo + (1 << 20)]
        adjacent = (jj == ii + 1) | ((ii == 0) & (jj == m - 1))
        d1, d2 = b[ii] - a[ii], b[jj] - a[jj]
        if np.any(adjacent):  # neighbours may only share their vertex: not fold back along each other
            ia, ja = ii[adjacent], jj[adjacent]
            e1, e2 = b[ia] - a[ia], b[ja] - a[ja]
            cross = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
            scale = np.linalg.norm(e1, axis=1) * np.linalg.norm(e2, axis=1)
            folded = (np.abs(cross) <= 1e-12 * scale) & ((e1 * e2).sum(1) < 0)
            if np.any(folded):
                k = int(np.flatnonzero(folded)[0])
                raise ValueError(f"Polygon: edges {ia[k]} and {ja[k]} fold back onto each other "
                                 "(the polygon is not simple)")
        far = ~adjacent
        ii, jj, d1, d2 = ii[far], jj[far], d1[far], d2[far]
        hit = _segments_meet(a[ii], d1, a[jj], d2)
        if np.any(hit):
            k = int(np.flatnonzero(hit)[0])
            raise ValueError(f"Polygon: edges {ii[k]} and {jj[k]} intersect (the polygon is not simple)")


def _segments_meet(p, r, q, s) -> np.ndarray:
    """Whether segments ``p + t r`` and ``q + u s`` (t, u in [0, 1]) share a point, row by row."""
    def cross(u, w):
        return u[:, 0] * w[:, 1] - u[:, 1] * w[:, 0]
    rs, qp = cross(r, s), q - p
    eps = 1e-12 * (np.abs(r).sum(1) + np.abs(s).sum(1)) ** 2
    parallel = np.abs(rs) <= eps
    safe = np.where(parallel, 1.0, rs)
    t, u = cross(qp, s) / safe, cross(qp, r) / safe
    crossing = ~parallel & (t >= 0) & (t <= 1) & (u >= 0) & (u <= 1)
    # collinear overlap: q lies on p's line and the projections overlap
    collinear = parallel & (np.abs(cross(qp, r)) <= eps)
    rr = (r * r).sum(1)
    t0, t1 = (qp * r).sum(1) / rr, ((qp + s) * r).sum(1) / rr
    overlap = collinear & (np.maximum(t0, t1) >= 0) & (np.minimum(t0, t1) <= 1)
    return crossing | overlap
