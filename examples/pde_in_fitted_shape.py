"""Reconstruct a shape from a point cloud, then solve -lap u = 1 inside it with u = 0 on its surface.

The cloud is sampled on a unit sphere so the answer is known, (1 - r^2) / 6; with a scan, pass
its ``.xyz`` to ``fit_sdf`` (or use a ``shape.pt`` from ``sirenpde fit-sdf``) instead.

    python examples/pde_in_fitted_shape.py
"""
import sys

import numpy as np

from sirenpde.geometry import FittedShape
from sirenpde.shapes.fit import fit_sdf
from sirenpde.shapes.pointcloud import PointCloud

from _common import parse, poisson_in_unit_ball


def main(argv=None, shape_steps=300):
    args = parse(__doc__.splitlines()[0], argv)
    normals = np.random.default_rng(0).normal(size=(4000, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    shape, _ = fit_sdf(PointCloud(normals, normals, source="sphere"), shape_steps if args.steps is None else args.steps,
                       hidden_features=64, hidden_layers=2, first_omega_0=15.0, hidden_omega_0=15.0,
                       progress=not args.quiet, seed=0)
    return poisson_in_unit_ball(FittedShape(shape), "poisson-in-fitted-shape", args)


if __name__ == "__main__":
    main(sys.argv[1:])
