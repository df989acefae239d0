"""What an oriented point cloud says about its surface's SDF away from the points.

``DistanceGuide`` tabulates the distance to the nearest point and the generalised winding number on a grid, which
:class:`~sirenpde.problems.sdf.SDF` turns into a lower bound on |f| and a side for its sign.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree


class DistanceGuide:
    """What the cloud says about the SDF away from it, tabulated once on a grid over [-1, 1]^3.

    * ``distance``: the distance to the nearest cloud point. It is 1-Lipschitz, so at any x the
      largest ``distance(corner) - |x - corner|`` over the 8 corners of x's cell is a valid lower
      bound of it (no interpolation error can make the bound wrong).
    * ``winding``: the generalised winding number of the oriented points (Barill et al. 2018),
      ``w(x) = sum_j a_j n_j . (p_j - x) / (4 pi |p_j - x|^3)`` with ``a_j`` the area each point
      stands for (from its 8th neighbour's distance) and ``|p_j - x|`` floored at the point's own
      radius. It is about 1 inside a closed surface and 0 outside; trilinear values above
      ``1 - confidence`` or below ``confidence`` give the sign of the SDF, others give none.

    Parameters
    ----------
    points, normals : (n, 3) float, normalised coordinates, unit normals
    resolution : int, grid points per axis
    max_points : int, points used for the winding number (a random subset beyond this)
    """

    def __init__(self, points: np.ndarray, normals: np.ndarray, resolution: int = 32,
                 max_points: int = 2000, confidence: float = 0.25, seed: int = 0):
        self.resolution, self.confidence = int(resolution), float(confidence)
        axis = np.linspace(-1.0, 1.0, self.resolution)
        grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
        distance = cKDTree(points).query(grid, workers=-1)[0]
        pick = np.random.default_rng(seed).permutation(len(points))[:max_points]
        p, nrm = points[pick], normals[pick]
        k = min(8, len(p) - 1)
        radius = cKDTree(p).query(p, k=k + 1)[0][:, -1] if k > 0 else np.ones(len(p))
        area = np.pi * radius ** 2 / max(k, 1)
        shape = (self.resolution,) * 3
        self.distance = torch.as_tensor(distance.reshape(shape), dtype=torch.float32)
        self.winding = torch.as_tensor(winding_numbers(grid, p, nrm, area, np.sqrt(area / np.pi)).reshape(shape),
                                       dtype=torch.float32)

    def lookup(self, x: torch.Tensor):
        """``(distance lower bound (n,), sign (n,) in {-1, 0, +1})`` at points ``x (n, 3)``."""
        g = self.resolution - 1
        u = ((x.clamp(-1, 1) + 1) * (g / 2)).clamp(0, g - 1e-4)
        low = u.floor().long()
        frac = u - low
        lower = torch.full((len(x),), -float("inf"))
        winding = torch.zeros(len(x))
        for corner in range(8):
            bits = torch.tensor([(corner >> 2) & 1, (corner >> 1) & 1, corner & 1])
            idx = low + bits
            i, j, k = idx.unbind(1)
            gap = (u - idx).norm(dim=1) * (2 / g)
            lower = torch.maximum(lower, self.distance[i, j, k] - gap)
            weight = torch.where(bits.bool(), frac, 1 - frac).prod(dim=1)
            winding = winding + weight * self.winding[i, j, k]
        outside = torch.where(winding < self.confidence, 1.0, 0.0)
        sign = torch.where(winding > 1 - self.confidence, -1.0, outside)
        return lower.clamp(min=0), sign


def winding_numbers(x, p, n, area, floor, chunk: int = 2048) -> np.ndarray:
    """Generalised winding number at ``x (q, 3)`` of points ``p`` with normals ``n`` and areas."""
    pt, nt = torch.as_tensor(p, dtype=torch.float32), torch.as_tensor(n, dtype=torch.float32)
    at = torch.as_tensor(area / (4 * np.pi), dtype=torch.float32)
    f2 = torch.as_tensor(floor, dtype=torch.float32).square()
    pn, p2 = (pt * nt).sum(1), pt.square().sum(1)
    out = []
    for xs in torch.as_tensor(x, dtype=torch.float32).split(chunk):
        # (p - x) . n and |p - x|^2 through matrix products: no (q, m, 3) intermediate
        dot = pn - xs @ nt.T
        d2 = torch.maximum(xs.square().sum(1, keepdim=True) - 2 * xs @ pt.T + p2, f2)
        out.append((dot * d2.rsqrt() / d2) @ at)
    return torch.cat(out).double().numpy()
