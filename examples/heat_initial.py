"""The heat equation u_t = k u_xx on [0, 1] x [0, 0.5] from u(x, 0) = sin(pi x), zero at both ends.

Its solution is sin(pi x) exp(-k pi^2 t); the example scores the fit on a grid against it.

    python examples/heat_initial.py --out heat.png
"""
import math
import sys

import torch

import sirenpde as sp
from sirenpde.geometry import Interval

from _common import parse, report

K = 0.2


def exact(x):
    return torch.sin(math.pi * x[:, 0]) * torch.exp(-K * math.pi**2 * x[:, 1])


def main(argv=None):
    args = parse(__doc__.splitlines()[0], argv)
    rod = Interval(0.0, 1.0)
    problem = sp.PDE(rod.over(0.0, 0.5), lambda u: u.grad[:, 1:2] - K * u.d2(0),
                     conditions=[sp.Dirichlet(rod.boundary, 0.0), sp.Initial(lambda x: torch.sin(math.pi * x[:, 0]))],
                     reference=exact, name="heat")
    result = sp.fit(problem, problem.make_model("siren"), steps=args.steps, progress=not args.quiet)
    s, t = torch.meshgrid(torch.linspace(0, 1, 101), torch.linspace(0, 0.5, 51), indexing="ij")
    grid = torch.stack([s.reshape(-1), t.reshape(-1)], dim=1)
    with torch.no_grad():
        error = float((result.model(grid)[:, 0] - exact(grid)).norm() / exact(grid).norm())
    report("heat", problem, result, error, args.out)
    return error


if __name__ == "__main__":
    main(sys.argv[1:])
