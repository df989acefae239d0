"""-lap u = 1 inside a triangle mesh (an icosphere of radius 1), u = 0 on its surface.

Any watertight .obj/.stl/.ply works the same way (``MeshDomain("part.stl")``); the icosphere makes
the answer known: (1 - r^2) / 6 for the exact ball, which the mesh approximates to ~0.2% in volume.

    python examples/pde_in_mesh.py [--mesh part.stl]
"""
import sys
import tempfile
from pathlib import Path

import torch

import sirenpde as sp
from sirenpde.geometry import MeshDomain

from _common import parse, report


def exact(x):
    return (1 - x.square().sum(dim=1)) / 6


def main(argv=None):
    args = parse(__doc__.splitlines()[0], argv)
    import trimesh

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sphere.obj"
        trimesh.creation.icosphere(subdivisions=4, radius=1.0).export(path)
        domain = MeshDomain(path)
        problem = sp.PDE(domain, lambda u: u.laplacian + 1.0, conditions=[sp.Dirichlet(domain.boundary, 0.0)],
                         name="poisson-in-mesh")
        result = sp.fit(problem, problem.make_model("siren"), steps=args.steps, progress=not args.quiet)
        x = domain.sample_interior(10_000, torch.Generator().manual_seed(1))
    with torch.no_grad():
        error = float((result.model(x)[:, 0] - exact(x)).norm() / exact(x).norm())
    report("poisson-in-mesh", problem, result, error, args.out)
    return error


if __name__ == "__main__":
    main(sys.argv[1:])
