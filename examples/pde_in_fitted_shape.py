"""Reconstruct a shape from a point cloud, then solve -lap u = 1 inside it with u = 0 on its surface.

The cloud is sampled on a unit sphere so the answer is known, (1 - r^2) / 6; with a scan, pass
its ``.xyz`` to ``fit_sdf`` (or use a ``shape.pt`` from ``sirenpde fit-sdf``) instead.

    python examples/pde_in_fitted_shape.py
"""
import sys

import numpy as np
import torch

import sirenpde as sp
from sirenpde.geometry import FittedShape
from sirenpde.shapes.fit import fit_sdf
from sirenpde.shapes.pointcloud import PointCloud

from _common import parse, report


def exact(x):
    return (1 - x.square().sum(dim=1)) / 6


def main(argv=None, shape_steps=300):
    args = parse(__doc__.splitlines()[0], argv)
    normals = np.random.default_rng(0).normal(size=(4000, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    shape, _ = fit_sdf(PointCloud(normals, normals, source="sphere"), shape_steps if args.steps is None else args.steps,
                       hidden_features=64, hidden_layers=2, first_omega_0=15.0, hidden_omega_0=15.0,
                       progress=not args.quiet, seed=0)
    domain = FittedShape(shape)
    problem = sp.PDE(domain, lambda u: u.laplacian + 1.0, conditions=[sp.Dirichlet(domain.boundary, 0.0)],
                     name="poisson-in-fitted-shape")
    result = sp.fit(problem, problem.make_model("siren"), steps=args.steps, progress=not args.quiet)
    x = domain.sample_interior(10_000, torch.Generator().manual_seed(1))
    with torch.no_grad():
        error = float((result.model(x)[:, 0] - exact(x)).norm() / exact(x).norm())
    report("poisson-in-fitted-shape", problem, result, error, args.out)
    return error


if __name__ == "__main__":
    main(sys.argv[1:])
