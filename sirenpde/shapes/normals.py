"""Normals for point clouds without them (or with bad ones): open3d's local plane fits,
oriented consistently over a neighbour graph and outward."""
from __future__ import annotations

import numpy as np

from sirenpde.shapes.arrays import as_points


def estimate_like_neighbours(points, normals, bad, knn: int) -> np.ndarray:
    """Unoriented open3d normals for the ``bad`` points, flipped to agree with nearby given normals."""
    from scipy.spatial import cKDTree

    _, fresh = _unoriented_normals(points, knn)
    fresh = fresh[bad]
    good = ~bad
    k = min(knn, int(good.sum()))
    _, nearest = cKDTree(points[good]).query(points[bad], k=k, workers=-1)
    given = normals[good] / np.linalg.norm(normals[good], axis=1, keepdims=True)
    vote = given[nearest.reshape(len(fresh), k)].sum(axis=1)
    agree = np.einsum("ij,ij->i", fresh, vote)
    # Where the neighbours cancel out there is no local evidence: fall back to outward.
    outward = np.einsum("ij,ij->i", fresh, points[bad] - points.mean(axis=0))
    sign = np.where(np.abs(agree) > 1e-6, np.sign(agree), np.where(outward < 0, -1.0, 1.0))
    return fresh * sign[:, None]


def _search_radius(points: np.ndarray, knn: int) -> float:
    """Twice the median distance to the knn-th neighbour: scales with the cloud and its density."""
    from scipy.spatial import cKDTree

    probe = points[np.random.default_rng(0).permutation(len(points))[:2000]]
    k = min(knn, len(points) - 1) + 1
    dist, _ = cKDTree(points).query(probe, k=k, workers=-1)
    radius = 2.0 * float(np.median(dist[:, -1]))
    if not radius > 0:
        raise ValueError("cannot estimate normals: the points coincide")
    return radius


def _unoriented_normals(points: np.ndarray, knn: int):
    import open3d as o3d

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    cloud.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=_search_radius(points, knn),
                                                                max_nn=knn))
    return cloud, np.asarray(cloud.normals, dtype=np.float64).copy()


def estimate_normals(points, knn: int = 30) -> np.ndarray:
    """Estimate unit normals from neighbours and orient them consistently and outward.

    open3d fits a plane to at most ``knn`` neighbours within a radius scaled to the cloud's point
    spacing, propagates one orientation over a neighbour graph, then flips all normals if most
    point towards the centroid. Right for closed scans; may be wrong for open ones.

    Parameters
    ----------
    points : (n, 3) float, n >= 4
    knn : int

    Returns
    -------
    normals : (n, 3) float64, unit
    """

    points = as_points(points, "points")
    if len(points) < 4:
        raise ValueError(f"need at least 4 points to estimate normals, got {len(points)}")
    if knn < 3:
        raise ValueError(f"knn must be at least 3, got {knn}")
    knn = min(knn, len(points) - 1)
    cloud, normals = _unoriented_normals(points, knn)
    try:
        cloud.orient_normals_consistent_tangent_plane(knn)
    except RuntimeError as err:
        if "QH" not in str(err):
            raise
        # open3d builds its graph with a Qhull Delaunay, which fails on exactly cospherical input
        # (synthetic spheres). Orientation only flips signs, so a jittered copy gives the answer.
        import open3d as o3d

        extent = float(np.ptp(points, axis=0).max())
        jitter = np.random.default_rng(0).normal(scale=1e-6 * extent, size=points.shape)
        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points + jitter))
        cloud.normals = o3d.utility.Vector3dVector(normals)
        cloud.orient_normals_consistent_tangent_plane(knn)
    normals = np.asarray(cloud.normals, dtype=np.float64).copy()
    outward = np.einsum("ij,ij->i", normals, points - points.mean(axis=0)) > 0
    if outward.sum() < len(points) / 2:
        normals = -normals
    return normals / np.linalg.norm(normals, axis=1, keepdims=True)
