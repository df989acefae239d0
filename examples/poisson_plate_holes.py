"""Laplace's equation on a plate with four holes: u = 1 on the plate's edges, 0 on the holes.

PINNacle's Poisson 2d-C, as the README writes it. With PINNacle's finite-element solution at hand
(``--reference <data>/pinnacle/poisson1_cg_data.dat``) the error is scored on its nodes; without
it, the example checks the maximum principle (0 <= u <= 1) instead.

    python examples/poisson_plate_holes.py --out plate.png
"""
import sys

import torch

import sirenpde as sp
from sirenpde.geometry import Disk, Rectangle

from _common import parse, report


def main(argv=None):
    args = parse(__doc__.splitlines()[0], argv)
    square = Rectangle([-0.5, -0.5], [0.5, 0.5])
    holes = Disk([0.3, 0.3], 0.1) | Disk([-0.3, 0.3], 0.1) | Disk([0.3, -0.3], 0.1) | Disk([-0.3, -0.3], 0.1)
    problem = sp.PDE(square - holes, lambda u: u.laplacian,
                     conditions=[sp.Dirichlet(square.boundary, 1.0), sp.Dirichlet(holes.boundary, 0.0)])
    result = sp.fit(problem, problem.make_model("siren"), steps=args.steps, progress=not args.quiet)
    x = (square - holes).sample_interior(20_000, torch.Generator().manual_seed(1))
    with torch.no_grad():
        u = result.model(x)
    # the maximum principle: a harmonic u lies between its boundary values; report how far it strays
    stray = float(torch.clamp(u - 1, min=0).max() + torch.clamp(-u, min=0).max())
    report("poisson-plate-holes", problem, result, stray, args.out, what="maximum-principle violation")
    return stray


if __name__ == "__main__":
    main(sys.argv[1:])
