"""Problems defined in a user's file, for ``sirenpde solve FILE.py:NAME`` (tests/test_pde.py and the
command-line corpus)."""
import math

import torch

import sirenpde as sp
from sirenpde.geometry import Disk, Rectangle

square = Rectangle([0, 0], [1, 1])
# Poisson on the unit square with u = sin(pi x) sin(pi y)
problem = sp.PDE(square, lambda u: u.laplacian + 2 * math.pi ** 2 * torch.sin(math.pi * u.x[:, :1])
                 * torch.sin(math.pi * u.x[:, 1:]), conditions=[sp.Dirichlet(square.boundary, 0.0)],
                 reference=lambda x: torch.sin(math.pi * x[:, 0]) * torch.sin(math.pi * x[:, 1]), name="sine")


def hard(value=1.0):
    """Laplace on a disk, u = value on the circle, imposed exactly."""
    disk = Disk([0, 0], 1.0)
    return sp.PDE(disk, lambda u: u.laplacian, conditions=[sp.Dirichlet(disk.boundary, value, hard=True)],
                  reference=lambda x: torch.full_like(x[:, 0], value), name="hard-disk")


not_a_problem = 3


def not_returning_a_problem():
    return "a string"


if __name__ == "__main__":
    raise SystemExit("run as a module by sirenpde, this line does not run")
