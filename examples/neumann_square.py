"""A pure Neumann problem: -lap u = 2 pi^2 cos(pi x) cos(pi y) on [0, 1]^2, du/dn = 0 on every edge.

The solution, cos(pi x) cos(pi y), is fixed only up to a constant, so the error is measured after
removing the mean (as for the gradient-based Poisson problems).

    python examples/neumann_square.py --out neumann.png
"""
import math
import sys

import torch

import sirenpde as sp
from sirenpde.geometry import Rectangle

from _common import parse, report


def exact(x):
    return torch.cos(math.pi * x[:, 0]) * torch.cos(math.pi * x[:, 1])


def main(argv=None):
    args = parse(__doc__.splitlines()[0], argv)
    square = Rectangle([0.0, 0.0], [1.0, 1.0])
    problem = sp.PDE(square, lambda u: u.laplacian + 2 * math.pi**2 * exact(u.x)[:, None],
                     conditions=[sp.Neumann(square.boundary, 0.0)], name="neumann")
    result = sp.fit(problem, problem.make_model("siren"), steps=args.steps, progress=not args.quiet)
    x = square.sample_interior(20_000, torch.Generator().manual_seed(1))
    with torch.no_grad():
        u = result.model(x)[:, 0]
    u, ref = u - u.mean(), exact(x) - exact(x).mean()
    error = float((u - ref).norm() / ref.norm())
    report("neumann (mean removed)", problem, result, error, args.out)
    return error


if __name__ == "__main__":
    main(sys.argv[1:])
