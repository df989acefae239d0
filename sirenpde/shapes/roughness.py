"""How noisy a point cloud looks: the scatter of its points off their local planes.

``fit_sdf(noise="auto")`` compares :func:`roughness` with :data:`NOISY_ROUGHNESS` to pick its
on-surface weight; the CLI prints both.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

# Roughness above which a cloud looks noisy (``fit_sdf(noise="auto")`` then fits it as noisy). Measured on
# the bunny (benchmarks/sdf.py inputs): 0.06 for 50k clean points, 0.13 for 5k clean points, 0.34
# and 0.50 for 5k and 50k points with positional noise of 0.5% of the bounding box.
NOISY_ROUGHNESS = 0.2


def roughness(points: np.ndarray, k: int = 8, max_points: int = 20_000, seed: int = 0) -> float:
    """How far the points scatter off their local tangent planes, relative to their spacing.

    For each point (a random subset of ``max_points``), the smallest principal standard deviation
    of it and its ``k`` nearest neighbours (the scatter across the best-fitting plane); the
    median of that over the median nearest-neighbour distance. A smooth, clean sampling gives a
    small number (curvature alone: ~0.05 for dense points); positional noise comparable to the
    spacing gives 0.3 and more. Scale-free: it does not depend on the cloud's units.
    """
    points = np.asarray(points, dtype=np.float64)
    if len(points) <= k:
        raise ValueError(f"roughness needs more than k={k} points, got {len(points)}")
    tree = cKDTree(points)
    pick = np.random.default_rng(seed).permutation(len(points))[:max_points]
    dist, idx = tree.query(points[pick], k=k + 1, workers=-1)
    nb = points[idx]
    centred = nb - nb.mean(axis=1, keepdims=True)
    cov = np.einsum("nki,nkj->nij", centred, centred) / (k + 1)
    scatter = np.sqrt(np.clip(np.linalg.eigvalsh(cov)[:, 0], 0, None))
    spacing = float(np.median(dist[:, 1]))
    if spacing == 0:
        raise ValueError("roughness: the points' median nearest-neighbour distance is 0 (duplicated points)")
    return float(np.median(scatter)) / spacing
